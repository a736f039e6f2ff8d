//! Scans one log file and prints counts; used by bench/log_bench.sh (`cargo run --release -p
//! memdx-log --example log_scan -- FILE`).

use std::io::BufReader;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: log_scan FILE");
        std::process::exit(2);
    };
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let s = memdx_log::scan(BufReader::with_capacity(1 << 16, f), &path);
    let occ: u64 = s.reports.iter().map(|r| r.count).sum();
    println!(
        "lines={} kernel_lines={} signatures={} occurrences={} slub_trace={} diags={}",
        s.lines,
        s.kernel_lines,
        s.reports.len(),
        occ,
        s.slub_trace_records,
        s.diags.len()
    );
}
