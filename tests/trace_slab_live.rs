//! Live test of `memdx trace slab kernfs_node_cache` (needs root, tracefs and the cgroup v1 memory
//! controller; skips with a reason otherwise). While memdx traces, a thread named `memdx-churn`
//! creates 2000 memory cgroups and removes 1000 of them; memdx must name `cgroup_mkdir` from
//! `memdx-churn` as the top allocation driver, its alloc - free must agree with the
//! /proc/slabinfo delta within 5%, and nothing of memdx may remain in tracefs afterwards. The
//! test removes every cgroup it made, also when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
mod common;

const MEMCG: &str = "/sys/fs/cgroup/memory";

/// tracefs as mounted now (debugfs/tracing is not probed: touching it automounts tracefs).
fn tracefs_dirs() -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.get(2).copied() {
                Some("tracefs") => Some(PathBuf::from(f[1])),
                _ => None,
            }
        })
        .filter(|p| p.join("instances").is_dir())
        .collect()
}

fn memdx_instances() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in tracefs_dirs() {
        if let Ok(rd) = std::fs::read_dir(d.join("instances")) {
            v.extend(
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("memdx-"))
                    .map(|e| e.path()),
            );
        }
    }
    v
}

/// Removes the test's cgroups on drop.
struct Cgroups {
    base: PathBuf,
    n: usize,
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for i in 0..self.n {
            let _ = std::fs::remove_dir(self.base.join(format!("c{i}")));
        }
        let _ = std::fs::remove_dir(&self.base);
    }
}

#[test]
fn trace_slab_kernfs_cgroup_churn() {
    if !common::is_root() {
        common::skip("needs root");
        return;
    }
    if !Path::new(MEMCG).join("memory.limit_in_bytes").exists() {
        common::skip(&format!("no cgroup v1 memory controller at {MEMCG}"));
        return;
    }
    if !Path::new("/sys/kernel/slab/kernfs_node_cache").exists() {
        common::skip("no /sys/kernel/slab/kernfs_node_cache (not SLUB?)");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["trace", "slab", "kernfs_node_cache", "--duration", "120s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn memdx");
    // `memdx-slab-<pid>-<start time>`: the owner's PID and start time.
    let inst_prefix = format!("memdx-slab-{}-", child.id());
    let ours = |p: &Path| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&inst_prefix));
    // Wait until the instance is armed (tracing_on written last).
    let t0 = Instant::now();
    let armed = loop {
        let found = memdx_instances().into_iter().find(|p| ours(p) && p.is_dir());
        if let Some(p) = found {
            if std::fs::read_to_string(p.join("tracing_on")).is_ok_and(|s| s.trim() == "1") {
                break true;
            }
        }
        if child.try_wait().ok().flatten().is_some() || t0.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !armed {
        let _ = child.kill();
        let out = child.wait_with_output().expect("memdx output");
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("tracefs") || err.contains("No such file") {
            common::skip(&format!("tracefs not usable: {err}"));
            return;
        }
        panic!("memdx did not arm its instance: {err}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let base = PathBuf::from(MEMCG).join(format!("memdx-live-{}", std::process::id()));
    let guard = Cgroups { base: base.clone(), n: 2000 };
    let b = base.clone();
    std::thread::Builder::new()
        .name("memdx-churn".into())
        .spawn(move || {
            std::fs::create_dir(&b).expect("create base cgroup");
            for i in 0..2000 {
                std::fs::create_dir(b.join(format!("c{i}"))).expect("mkdir cgroup");
            }
            for i in 0..1000 {
                std::fs::remove_dir(b.join(format!("c{i}"))).expect("rmdir cgroup");
            }
        })
        .expect("spawn churn thread")
        .join()
        .expect("churn thread");
    // Let RCU-deferred frees of the removed cgroups' kernfs nodes land inside the window.
    std::thread::sleep(Duration::from_secs(3));
    // SIGINT: memdx stops early, cleans up and reports.
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(st.success());
    let out = child.wait_with_output().expect("memdx output");
    drop(guard);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("memdx JSON: {e}\nstderr: {stderr}\nstdout: {}", String::from_utf8_lossy(&out.stdout))
    });

    // Nothing of memdx remains in tracefs.
    // (Only this run's instance: other memdx runs on the machine may be tracing right now.)
    let left: Vec<PathBuf> = memdx_instances().into_iter().filter(|p| ours(p)).collect();
    assert!(left.is_empty(), "memdx left its instance behind: {left:?}");
    for d in tracefs_dirs() {
        for ev in ["kmem/kmem_cache_alloc", "kmem/kmem_cache_free"] {
            let trig = std::fs::read_to_string(d.join("events").join(ev).join("trigger")).unwrap_or_default();
            assert!(
                !trig.lines().any(|l| !l.starts_with('#') && l.contains("stacktrace")),
                "{ev} trigger left: {trig}"
            );
        }
    }

    let caches = v["report"]["slab"]["caches"].as_array().expect("caches");
    let c = caches.iter().find(|c| c["cache"] == "kernfs_node_cache").expect("kernfs_node_cache traced");
    let top = &c["drivers"][0];
    assert_eq!(top["driver"], "cgroup_mkdir", "drivers: {}", c["drivers"]);
    assert_eq!(top["comm"], "memdx-churn", "drivers: {}", c["drivers"]);
    let w = &v["window"];
    println!(
        "allocs {} frees {} traced net {} slabinfo delta {} disagreement {} lost {}",
        c["allocs"], c["frees"], w["traced_net"], w["slabinfo_delta"], w["disagreement"], w["lost_events"]
    );
    assert_eq!(w["lost_events"], 0, "ring buffer dropped events");
    let dis = w["disagreement"].as_f64().expect("slabinfo readable");
    assert!(
        dis <= 0.05,
        "traced alloc - free {} vs slabinfo delta {}: {:.1}% apart",
        w["traced_net"],
        w["slabinfo_delta"],
        dis * 100.0
    );
    assert!(w["interrupted"].as_bool().unwrap_or(false), "SIGINT not seen");
}
