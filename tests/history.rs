//! `memdx record` and `memdx history`: replayed real captures with goldens, and a recorder killed
//! with SIGKILL at random moments whose database must read back cleanly.
//!
//! Each directory under `testdata/store/` with `steps/` holds real captures (one directory per
//! moment, files carrying `# time=` headers); they are written into a fresh database at their
//! capture times and `memdx history` output is compared with `expected.txt`.
//! `MEMDX_UPDATE_GOLDENS=1 cargo test --test history` rewrites the goldens.

mod common;

use common::golden;
use memdx_analyze::Case;
use memdx_store::{sample, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memdx-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes each step of `dir/steps` as one sample at its capture time; returns the database path.
fn replay(dir: &Path, db: &Path) {
    let mut steps: Vec<PathBuf> = std::fs::read_dir(dir.join("steps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    steps.sort();
    let mut store = Store::open(db).unwrap();
    for step in steps {
        let mut case = Case::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&step).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let mut time = None;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            time = time.or_else(|| memdx_parse::sections::capture_time(&text));
            let rel = f.strip_prefix(manifest()).unwrap().display().to_string();
            case.ingest(&rel, &text, None);
        }
        case.finish();
        let time = time.unwrap_or_else(|| panic!("{}: no `# time=` header", step.display()));
        let s = sample::from_case(time, &case, &sample::Extras::default());
        store.write(&s).unwrap();
    }
    store.integrity_check().unwrap();
}

fn check(dir: &Path) {
    let tmp = tmpdir(&format!("replay-{}", dir.file_name().unwrap().to_string_lossy()));
    let db = tmp.join("h.db");
    replay(dir, &db);
    let out = Command::new(env!("CARGO_BIN_EXE_memdx")).args(["history", "--db"]).arg(&db).output().unwrap();
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).replace(&db.display().to_string(), "DB");
    golden(&dir.join("expected.txt"), &text);
    let one = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["history", "--cache", "kernfs_node_cache", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&one.stdout).replace(&db.display().to_string(), "DB");
    golden(&dir.join("expected_cache.txt"), &text);
    // --json carries the same findings and the cache's points.
    let js = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["history", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(js.status.code(), out.status.code());
    for f in v["findings"].as_array().unwrap() {
        assert!(String::from_utf8_lossy(&out.stdout).contains(f["title"].as_str().unwrap()), "{f}");
    }
    let js = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["history", "--json", "--cache", "kernfs_node_cache", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert!(!v["cache"]["points"].as_array().unwrap().is_empty());
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn replay_goldens() {
    let root = manifest().join("testdata/store");
    let mut n = 0;
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.join("steps").is_dir() {
            check(&p);
            n += 1;
        }
    }
    assert!(n >= 1);
}

/// A small deterministic generator for the kill moments (no dependency for three numbers).
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn recorder_survives_sigkill() {
    let tmp = tmpdir("sigkill");
    let db = tmp.join("h.db");
    let root = manifest().join("testdata/store/root");
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("sigkill seed {seed}");
    let mut last_count = 0;
    for round in 0..6 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["record", "--interval", "1s", "--db"])
            .arg(&db)
            .arg("--root")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Between 50 ms and 1.5 s: before the first sample, during a write, between samples.
        std::thread::sleep(Duration::from_millis(50 + lcg(&mut seed) % 1450));
        // Child::kill sends SIGKILL on Unix.
        child.kill().unwrap();
        child.wait().unwrap();
        let s = Store::open_read_only(&db).unwrap_or_else(|e| panic!("round {round}: {e}"));
        s.integrity_check().unwrap_or_else(|e| panic!("round {round}: {e}"));
        let (count, _, _) = s.summary().unwrap();
        assert!(count >= last_count, "round {round}: samples went from {last_count} to {count}");
        last_count = count;
        // Every sample that exists is whole: the same number of slab caches in each.
        let h = s.load(&memdx_store::Query { kinds: vec!["slab.kb".into()], ..Default::default() }).unwrap();
        for series in &h.series {
            assert_eq!(
                series.points.len(),
                h.times.len(),
                "round {round}: {} has a partial sample",
                series.name
            );
        }
    }
    assert!(last_count >= 1, "no sample in 6 runs");
    // A recorder started again appends to the same database.
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["record", "--once", "--db"])
        .arg(&db)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn bad_arguments_are_clear() {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["record", "--interval", "10x", "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["history", "--db", "/nonexistent/memdx/h.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/memdx/h.db"));
}
