//! Live tests on the machine running the tests. Each skips with a printed reason when it lacks root
//! or a kernel feature, and leaves nothing behind.

use std::path::Path;
mod common;

use common::memdx;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn live_diagnose_reads_this_machine() {
    if !Path::new("/proc/meminfo").exists() {
        common::skip("no /proc/meminfo (not Linux?)");
        return;
    }
    let out = memdx().args(["diagnose", "--json"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["live"], true);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(v["kernel"]["release"].as_str(), Some(release.trim()));
    let formats: Vec<&str> =
        v["inputs"].as_array().unwrap().iter().map(|i| i["format"].as_str().unwrap()).collect();
    for f in ["meminfo", "zoneinfo", "buddyinfo", "vmstat", "sysctl"] {
        assert!(formats.contains(&f), "{f} not read live: {formats:?}");
    }
    if is_root() {
        assert!(formats.contains(&"slabinfo"), "root reads /proc/slabinfo");
        assert!(formats.contains(&"kernel log"), "root reads /dev/kmsg: {formats:?}");
    } else {
        eprintln!("not root: /proc/slabinfo not checked");
    }
}

#[test]
fn live_diagnose_as_non_root_names_what_it_could_not_read() {
    if !is_root() {
        common::skip("needs root to switch to an unprivileged user");
        return;
    }
    let Some(out) = common::memdx_as_nobody(&["diagnose", "--json"]) else {
        common::skip("setpriv (util-linux) not installed");
        return;
    };
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let missing = v["missing"].as_array().unwrap();
    let slab = missing.iter().find(|m| m["what"] == "/proc/slabinfo").expect("slabinfo reported missing");
    assert!(slab["why"].as_str().unwrap().contains("permission denied"), "{slab}");
    // Everything else still works.
    assert!(v["tables"].as_array().unwrap().iter().any(|t| t["id"] == "memory.breakdown"));
}

#[test]
fn live_snapshot_reads_back() {
    if !is_root() {
        common::skip("snapshot of /proc/slabinfo needs root");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("memdx-live-snap-{}.tar.zst", std::process::id()));
    let out = memdx().arg("snapshot").arg(&tmp).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b = json(&memdx().args(["diagnose", "--json"]).arg(&tmp).output().unwrap());
    std::fs::remove_file(&tmp).unwrap();
    let formats: Vec<&str> =
        b["inputs"].as_array().unwrap().iter().map(|i| i["format"].as_str().unwrap()).collect();
    for f in [
        "meminfo",
        "slabinfo",
        "zoneinfo",
        "buddyinfo",
        "pagetypeinfo",
        "vmstat",
        "sysctl",
        "slab aliases",
        "kernel release",
        "kernel log",
    ] {
        assert!(formats.contains(&f), "{f} missing from the bundle: {formats:?}");
    }
    assert!(b["skipped"].as_array().unwrap().is_empty(), "{}", b["skipped"]);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(b["kernel"]["release"].as_str(), Some(release.trim()));
}
