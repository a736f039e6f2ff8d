//! The `--root` reader on a hostile tree: the input is cut into the fixed kernel files of a root
//! (meminfo, slabinfo, zoneinfo, ...), with a symlink out of the tree, a FIFO and a device among
//! them, and read with `read_root` and `gather`, then analysed. Nothing may panic, hang or read
//! outside the tree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fn tree() -> PathBuf {
    let d = std::env::temp_dir().join(format!("memdx-fuzz-root-{}", std::process::id()));
    if !d.join("root/proc/fifo").exists() {
        let _ = std::fs::create_dir_all(d.join("root/proc/sys/vm"));
        let _ = std::fs::create_dir_all(d.join("root/proc/pressure"));
        let _ = std::os::unix::fs::symlink("/etc/shadow", d.join("root/proc/cmdline"));
        let _ = std::os::unix::fs::symlink("/dev/zero", d.join("root/proc/cgroups"));
        let _ = std::process::Command::new("mkfifo").arg(d.join("root/proc/fifo")).status();
    }
    d.join("root")
}

fuzz_target!(|data: &[u8]| {
    let root = tree();
    let files = memdx_source::live::FILES.iter().filter(|f| !f.ends_with("cmdline") && !f.ends_with("cgroups"));
    let mut parts = data.split(|&b| b == 0);
    for rel in files.chain(["proc/sys/vm/min_free_kbytes", "proc/pressure/memory"].iter()) {
        let _ = std::fs::write(root.join(rel), parts.next().unwrap_or(b""));
    }
    let mut case = memdx_analyze::Case::new();
    memdx_source::live::read_root(&root, &mut case, None);
    let _ = memdx_analyze::analyze(&case);
    let mut case = memdx_analyze::Case::new();
    let _ = memdx_source::gather(&[root.clone()], &mut case, &memdx_source::GatherOptions::default());
    let _ = memdx_analyze::analyze(&case);
});
