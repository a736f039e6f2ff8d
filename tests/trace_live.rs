//! Live test of `memdx trace reclaim --cgroup`: needs root, a cgroup v1 memory controller and
//! tracefs; skips with a printed reason otherwise. Creates a memcg with a 100 MiB limit, writes
//! 1000 MiB with dd inside it while memdx traces, and removes the cgroup, the file and (through
//! memdx) the tracefs instance afterwards.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
mod common;

struct Cleanup {
    cgroup: PathBuf,
    file: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        for _ in 0..50 {
            if std::fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// The tracefs mounts of memdx process `pid` (its private mount points are named after it). Other
/// tracefs mounts and instances are not looked at: other tests and other users' runs may make
/// and remove theirs meanwhile.
fn tracefs_mounts_of(pid: u32) -> usize {
    std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines()
                .filter(|l| l.contains(" tracefs ") && l.contains(&format!("/memdx-tracefs-{pid}-")))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn live_memcg_reclaim_of_dd() {
    if !common::is_root() {
        common::skip("needs root");
        return;
    }
    let memcg = Path::new("/sys/fs/cgroup/memory");
    if !memcg.join("memory.limit_in_bytes").exists() {
        common::skip(&format!("no cgroup v1 memory controller at {}", memcg.display()));
        return;
    }
    if !Path::new("/sys/kernel/tracing").exists() {
        common::skip("kernel without tracefs");
        return;
    }
    let id = std::process::id();
    let cg = memcg.join(format!("memdx-live-test-{id}"));
    let file = std::env::temp_dir().join(format!("memdx-live-test-{id}.img"));
    std::fs::create_dir(&cg).expect("mkdir memcg");
    let _cleanup = Cleanup { cgroup: cg.clone(), file: file.clone() };
    std::fs::write(cg.join("memory.limit_in_bytes"), (100u64 << 20).to_string()).expect("set limit");

    let mut memdx = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["trace", "reclaim", "--json", "--duration", "8s", "--cgroup"])
        .arg(&cg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start memdx");
    // wait until the instance is armed
    let stderr = memdx.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut armed = false;
    for l in lines.by_ref() {
        let l = l.expect("stderr line");
        if l.contains("tracing reclaim") {
            armed = true;
            break;
        }
        eprintln!("memdx: {l}");
    }
    assert!(armed, "memdx did not start tracing");
    let pid = memdx.id();
    let dd = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec dd if=/dev/zero of={} bs=1M count=1000",
            cg.display(),
            file.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("dd");
    assert!(dd.success());
    let _ = std::fs::remove_file(&file);
    let out = memdx.wait_with_output().expect("memdx output");
    for l in lines.map_while(Result::ok) {
        eprintln!("memdx: {l}");
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("memdx JSON");
    let r = &json["report"];
    let memcg_kind = r["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .find(|k| k["kind"] == "memcg")
        .expect("memcg kind")
        .clone();
    let complete = memcg_kind["complete"].as_u64().unwrap_or(0);
    assert!(complete > 0, "no memcg reclaim episode: {memcg_kind}");
    let tasks = r["tasks"].as_array().expect("tasks");
    let dd_task = tasks.iter().find(|t| t["comm"] == "dd").expect("dd among the tasks");
    assert!(dd_task["max_ns"].as_u64().unwrap_or(0) > 0 && dd_task["p99_ns"].as_u64().unwrap_or(0) > 0);
    assert!(
        tasks.iter().all(|t| t["comm"] == "dd" || t["comm"] == "sh"),
        "only the cgroup's tasks: {tasks:?}"
    );
    assert_eq!(r["anon"]["scanned"].as_u64(), Some(0), "file-only reclaim");
    assert!(r["file"]["scanned"].as_u64().unwrap_or(0) > 0);
    assert!(r["context"]["window"]["vmstat"]["pgscan_file"].as_i64().unwrap_or(0) > 0);
    // memdx removed its instance and any mount it made
    // Only tracefs mounts that exist are looked into: touching debugfs/tracing would automount one.
    let left: Vec<String> = memdx_source::tracefs::locate(std::path::Path::new("/"))
        .and_then(|d| std::fs::read_dir(d.join("instances")).ok())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("memdx-reclaim-{pid}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "instances left behind: {left:?}");
    assert_eq!(tracefs_mounts_of(pid), 0, "its private tracefs mount is left");
}
