//! Benchmark driver: scans a kernel log with the log engine and pairs its slub_debug TRACE records,
//! then prints throughput, the pairing summary and the peak RSS (VmHWM).
//!
//! usage: slab_scan KERN_LOG

use std::io::BufReader;
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: slab_scan KERN_LOG");
        std::process::exit(2);
    };
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let t0 = Instant::now();
    let mut p = memdx_slab::SlubPairing::new();
    // MEMDX_BENCH_NO_PAIRING=1 measures the log engine alone (the pairing's share is the difference).
    let scan = if std::env::var_os("MEMDX_BENCH_NO_PAIRING").is_some() {
        memdx_log::scan(BufReader::with_capacity(1 << 20, f), &path)
    } else {
        memdx_log::scan_with(BufReader::with_capacity(1 << 20, f), &path, &mut p)
    };
    let outstanding = p.pairing.outstanding();
    let r = p.finish();
    let secs = t0.elapsed().as_secs_f64();
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    println!(
        "{:.1} MB in {secs:.2} s = {:.0} MB/s; {} TRACE records; peak RSS {hwm}; outstanding objects at end {outstanding}",
        size as f64 / 1e6,
        size as f64 / 1e6 / secs,
        scan.slub_trace_records
    );
    for c in r.caches.iter().take(3) {
        println!(
            "  {}: {} allocs {} frees, {} outstanding, top path {}",
            c.cache,
            c.allocs,
            c.frees,
            c.outstanding,
            c.top_outstanding().map(|t| t.short(6)).unwrap_or_default()
        );
    }
}
