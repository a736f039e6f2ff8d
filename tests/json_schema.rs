//! Every command's `--json` output is one JSON document per input carrying `schema_version`
//! (docs/json-schema.md, docs/log.md).

mod common;

use common::memdx;

/// The JSON documents printed by `memdx ARGS` (several for commands that print one per input).
fn documents(args: &[&str]) -> Vec<serde_json::Value> {
    let out = memdx().args(args).output().expect("run memdx");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"));
    assert!(!docs.is_empty(), "{args:?}: no output");
    docs
}

fn check(args: &[&str], key: &str) {
    for d in documents(args) {
        assert_eq!(d["schema_version"], 1, "{args:?}");
        assert!(d.get(key).is_some(), "{args:?}: no {key:?}");
    }
}

#[test]
fn every_command_has_schema_version() {
    check(&["diagnose", "--json", "testdata/analyze/seed-004/crash_kmem_i.txt"], "findings");
    check(&["log", "--json", "testdata/log/doc612_kasan.txt"], "reports");
    check(
        &["trace", "reclaim", "--json", "testdata/trace/reclaim-6.18/anon_oom_swappiness100/trace.txt.gz"],
        "report",
    );
    check(&["trace", "allocs", "--json", "testdata/slab/live-6.18/allocs_live_2s.trace.gz"], "report");
    check(
        &["trace", "slab", "kernfs_node_cache", "--json", "testdata/slab/live-6.18/kernfs_churn_8s.trace.gz"],
        "cache",
    );

    let dir = std::env::temp_dir().join(format!("memdx-json-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("h.db");
    drop(memdx_store::Store::open(&db).expect("new database"));
    check(&["history", "--json", "--db", db.to_str().unwrap()], "samples");
    let _ = std::fs::remove_dir_all(&dir);

    // The test binary's own DWARF stands in for a vmlinux: `main` is in every Rust executable.
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    check(&["symbolize", "--json", "--vmlinux", exe, "main+0x1"], "frames");
    let log = dir.with_extension("log");
    std::fs::write(&log, "[    1.000000]  main+0x1/0x10\n").unwrap();
    check(&["symbolize", "--json", "--vmlinux", exe, log.to_str().unwrap()], "lines");
    let _ = std::fs::remove_file(&log);
}
