//! Verdicts a user acts on (issue 14), on captures recorded on this project's 6.18 machine:
//! a snapshot keeps the dying-memcg count live `diagnose` sees, one finding per fact, reclaimable
//! caches are not warnings, unreadable input is a usage error, and a closed stdout ends quietly.

mod common;

use common::memdx;
use std::process::Stdio;

const DYING: &str = "testdata/diagnose/live-6.18-dying-memcg/snapshot.tar.zst";

fn findings(args: &[&str]) -> (Vec<serde_json::Value>, i32) {
    let out = memdx().args(["diagnose", "--json"]).args(args).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v["findings"].as_array().cloned().unwrap_or_default(), out.status.code().unwrap_or(-1))
}

/// `memdx snapshot` taken right after 300 memcgs were created, charged 64 KiB of page cache each
/// and removed. The kernel's numbers at that moment: /proc/cgroups memory num_cgroups 326, 12
/// directories under /sys/fs/cgroup/memory, so 314 dying; live `diagnose` said the same.
#[test]
fn snapshot_keeps_dying_memcgs() {
    let (fs, code) = findings(&[DYING]);
    let dying: Vec<&serde_json::Value> =
        fs.iter().filter(|f| f["title"].as_str().unwrap_or("").contains("dying")).collect();
    assert_eq!(dying.len(), 1, "one finding per fact: {dying:?}");
    assert_eq!(dying[0]["id"], "memcg.dying");
    assert_eq!(dying[0]["title"], "314 dying memory cgroups (12 live)");
    assert_eq!(code, 1, "dying memcgs are a warning");
}

/// The same machine's buffer_head (377 MiB, half of slab) and ext4_inode_cache follow the page cache
/// and shrink under pressure: information, not warnings.
#[test]
fn reclaimable_caches_are_not_warnings() {
    let (fs, _) = findings(&[DYING]);
    let large: Vec<(&str, &str)> = fs
        .iter()
        .filter(|f| f["id"] == "slab.large_cache")
        .map(|f| (f["title"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .collect();
    assert!(large.iter().any(|(t, _)| t.starts_with("buffer_head")), "{large:?}");
    assert!(large.iter().all(|(_, s)| *s == "info"), "{large:?}");
}

#[test]
fn unreadable_input_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("memdx-verdicts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"\x00\x01\x02 not text").unwrap();
    let out = memdx().arg("diagnose").arg(&junk).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("nothing memdx checks looks wrong"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("could be read"));
    let out = memdx().args(["diagnose", "/nonexistent/meminfo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `memdx diagnose | head`: the reader goes away before memdx writes.
#[test]
fn closed_stdout_ends_quietly() {
    for args in [
        vec!["diagnose", DYING],
        vec!["trace", "slab", "dentry", "testdata/slab/live-6.18/dentry_10s.trace.gz"],
    ] {
        let mut child = memdx().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// Every `memdx ...` command a finding suggests parses (`--help` after it: clap rejects a bad
/// argument before it reaches the help).
#[test]
fn suggested_commands_are_valid_syntax() {
    let out = memdx()
        .args(["trace", "slab", "dentry", "--json", "testdata/slab/live-6.18/dentry_10s.trace.gz"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut cmds = Vec::new();
    for f in v["findings"].as_array().unwrap() {
        for n in f["next_steps"].as_array().into_iter().flatten() {
            let n = n.as_str().unwrap();
            if let Some(i) = n.find("memdx ") {
                let cmd: Vec<&str> = n[i + 6..].split(';').next().unwrap().split_whitespace().collect();
                cmds.push(cmd.into_iter().map(String::from).collect::<Vec<_>>());
            }
        }
    }
    assert!(!cmds.is_empty(), "no memdx command suggested: {}", v["findings"]);
    for c in cmds {
        let o = memdx().args(&c).arg("--help").output().unwrap();
        assert!(o.status.success(), "memdx {}: {}", c.join(" "), String::from_utf8_lossy(&o.stderr));
    }
}
