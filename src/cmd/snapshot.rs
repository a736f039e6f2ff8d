//! `memdx snapshot`: capture the live sources into a bundle `diagnose` reads back.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// Capture what `memdx diagnose` reads on this machine into one .tar.zst bundle.
///
/// The bundle holds /proc/meminfo, slabinfo, buddyinfo, pagetypeinfo, zoneinfo, vmstat, cmdline,
/// cgroups, pressure/memory, /proc/sys/vm/*, the root memory.stat, the /sys/kernel/slab alias
/// symlinks, the kernel release and the capture time. Attach it to a bug report; anyone can then run
/// `memdx diagnose bundle.tar.zst` and get the findings this machine would give.
///
/// Run as root: /proc/slabinfo and /proc/pagetypeinfo are readable by root only.
///
/// Example:
///   sudo memdx snapshot /tmp/$(hostname)-$(date +%s).tar.zst
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Where to write the bundle (.tar.zst).
    pub out: PathBuf,
    /// Capture from a root tree other than / (for tests and chroots).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

pub fn run(args: Args) -> Result<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let release = std::fs::read_to_string(args.root.join("proc/sys/kernel/osrelease"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let sum = memdx_source::snapshot::write(&args.root, &args.out, now, &release)
        .with_context(|| format!("writing snapshot {}", args.out.display()))?;
    eprintln!("memdx: wrote {} ({} files, {} slab aliases)", args.out.display(), sum.files, sum.aliases);
    for (what, why) in &sum.unreadable {
        eprintln!("memdx: not captured: {what}: {why}");
    }
    Ok(super::EXIT_OK)
}
