//! The per-CPU per-second reclaim table of a trace file, as `memdx trace reclaim --table-only`
//! prints it (used by bench/reclaim_table.sh; builds without the rest of the workspace).

use std::io::Write;

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: reclaim_table TRACE");
        return std::process::ExitCode::from(2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let res = memdx_trace::table_only(file, |row| {
        let _ = writeln!(out, "{}{}", row.c_tabulator_line(), if row.last { "  (last)" } else { "" });
    });
    let _ = out.flush();
    match res {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
