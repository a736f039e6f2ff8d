//! `memdx log FILE...`: every kernel report in the given logs, titled, folded and explained.

use anyhow::Context;
use std::io::BufRead;
use std::path::PathBuf;

/// Every oops, WARNING, BUG, OOM kill and allocation failure in kernel logs, titled.
///
/// List every oops, WARNING, BUG, KASAN, hung task, lockup, OOM kill and allocation failure in
/// kernel logs (dmesg, kern.log, journalctl -k, /dev/kmsg, serial consoles, vmcore-dmesg, crash
/// sessions), grouped by signature, with explanations for memory reports.
#[derive(clap::Args, Default)]
pub struct Args {
    /// Log files (`-` reads standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print JSON (schema: docs/log.md).
    #[arg(long)]
    pub json: bool,
    /// Show every frame, registers and code bytes.
    #[arg(long)]
    pub verbose: bool,
    /// Kernel image with debug info: every frame gains file:line and its inline chain.
    #[arg(long, value_name = "FILE")]
    pub vmlinux: Option<PathBuf>,
    /// Directory of kernel modules (with debug info) for `[module]` frames; with --vmlinux.
    #[arg(long, value_name = "DIR", requires = "vmlinux")]
    pub modules: Option<PathBuf>,
}

fn open(path: &std::path::Path) -> anyhow::Result<Box<dyn BufRead>> {
    memdx_source::open_stream(path).with_context(|| format!("cannot open {}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut scans = Vec::new();
    let mut unreadable = 0;
    for p in &args.files {
        // One input that cannot be opened does not drop the others' results; it makes the exit 2.
        let r = match open(p) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("memdx: error: {e:#}");
                unreadable += 1;
                continue;
            }
        };
        let name = p.display().to_string();
        let s = memdx_log::scan(r, &name);
        scans.push((name, s));
    }
    if let Some(v) = &args.vmlinux {
        let (_, diags) = crate::symbolize_case::symbolize_logs(
            scans.iter_mut().map(|(_, s)| s),
            v,
            args.modules.as_deref(),
        )?;
        for d in diags {
            eprintln!("memdx: {d}");
        }
    }
    let found = scans.iter().any(|(_, s)| !s.reports.is_empty());
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    if args.json {
        memdx_render::log::write_json(&mut w, &scans)?;
    } else {
        memdx_render::log::write_text(&mut w, &scans, args.verbose)?;
    }
    std::io::Write::flush(&mut w)?;
    Ok(if unreadable > 0 {
        super::EXIT_USAGE
    } else if found {
        super::EXIT_FINDINGS
    } else {
        super::EXIT_OK
    })
}
