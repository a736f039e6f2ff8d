//! Golden tests on real kernel logs in testdata/log/. `MEMDX_UPDATE_GOLDENS=1` rewrites the goldens.

use memdx_log::{scan_with, Report, Sink, SlubTrace};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Default)]
struct Collect {
    traces: Vec<SlubTrace>,
    occurrences: usize,
}
impl Sink for Collect {
    fn slub_trace(&mut self, rec: &SlubTrace) {
        self.traces.push(rec.clone());
    }
    fn report(&mut self, _rep: &Report) {
        self.occurrences += 1;
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/log")
}

fn render(name: &str) -> Value {
    let path = dir().join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sink = Collect::default();
    let s = scan_with(&data[..], name, &mut sink);
    let traces: Vec<Value> = sink
        .traces
        .iter()
        .map(|t| {
            json!({"cache": t.cache, "alloc": t.alloc, "ptr": format!("{:#x}", t.ptr), "inuse": t.inuse,
                   "fp": t.fp.map(|f| format!("{f:#x}")), "cpu": t.cpu, "pid": t.pid, "comm": t.comm,
                   "frames": t.frames.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                   "line": t.source.line})
        })
        .collect();
    json!({
        "sniff": memdx_log::sniff(&data[..data.len().min(8192)]),
        "lines": s.lines,
        "kernel_lines": s.kernel_lines,
        "kernel": s.kernel,
        "taint": s.taint,
        "framings": s.framings.iter().map(|(f, n)| format!("{}={n}", f.name())).collect::<Vec<_>>(),
        "occurrences": sink.occurrences,
        "slub_traces": traces,
        "reports": serde_json::to_value(&s.reports).expect("serialize"),
        "crash": serde_json::to_value(&s.crash).expect("serialize"),
        "diags": s.diags.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

fn check(name: &str) -> Value {
    let got = render(name);
    let golden = dir().join(format!("{name}.golden.json"));
    let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
    if std::env::var_os("MEMDX_UPDATE_GOLDENS").is_some() {
        std::fs::write(&golden, &text).expect("write golden");
        return got;
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with MEMDX_UPDATE_GOLDENS=1)", golden.display()));
    assert_eq!(text, want, "{name}: output differs from {}", golden.display());
    got
}

fn titles(v: &Value) -> Vec<String> {
    v["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn seed000_slub_trace() {
    let v = check("seed000_slub_trace.kern.log");
    let t = v["slub_traces"].as_array().expect("traces");
    assert_eq!(t.len(), 2);
    assert_eq!(t[0]["cache"], "kernfs_node_cache");
    assert_eq!(t[0]["comm"], "systemd");
    assert_eq!(t[1]["alloc"], false);
    assert_eq!(v["kernel"], "4.19.0-arm64-desktop-tyy-5819-ext4-slub-debug-kmemleak");
    assert!(titles(&v).is_empty());
}

#[test]
fn seed004_warning_and_oops() {
    let v = check("seed004_warning_oops.dmesg");
    assert_eq!(
        titles(&v),
        vec![
            "WARNING in dentry_free",
            "BUG: unable to handle kernel NULL pointer dereference in ext4_i_callback"
        ]
    );
    let oops = &v["reports"][1];
    assert_eq!(oops["explanation"]["class"], "slab.double_free");
    assert_eq!(oops["explanation"]["cache"], "ext4_inode_cache");
    assert_eq!(oops["pc"], "kmem_cache_free+0xfc/0x1c8");
    assert_eq!(oops["comm"], "Isolated Web Co");
    assert_eq!(oops["corrupted"], Value::Null);
}

#[test]
fn seed004_crash_session() {
    let v = check("seed004_crash_session.txt");
    assert_eq!(titles(&v), vec!["crash: exception in ext4_i_callback"]);
    assert!(v["crash"]["summary"].as_str().unwrap_or("").contains("373% of COMMIT LIMIT"));
    assert!(v["crash"]["summary"].as_str().unwrap_or("").contains("no swap"));
}

#[test]
fn seed003_crash_bt() {
    let v = check("seed003_crash_bt.txt");
    assert_eq!(titles(&v), vec!["crash: exception in oom_evaluate_task"]);
}

#[test]
fn live618_memcg_oom() {
    let v = check("live618_memcg_oom.dmesg");
    assert_eq!(titles(&v), vec!["Memory cgroup out of memory in /memdx-test"]);
    let r = &v["reports"][0];
    assert_eq!(r["explanation"]["class"], "oom.memcg");
    assert_eq!(r["mem"]["victim"], "python3");
    assert_eq!(r["corrupted"], Value::Null);
}

#[test]
fn live618_tail_dmesg_t() {
    // `dmesg -T` tail: the OOM report is cut at the top, so it is kept and marked corrupted.
    let v = check("live618_memcg_oom_tail.dmesg-T");
    assert_eq!(v["reports"][0]["kind"], "oom");
    assert!(v["reports"][0]["corrupted"].is_string());
}

#[test]
fn interleaved_is_marked() {
    let v = check("seed004_interleaved.dmesg");
    assert_eq!(titles(&v), vec!["WARNING in dentry_free"]);
    assert!(v["reports"][0]["corrupted"].as_str().unwrap_or("").contains("interleaved"));
    assert_eq!(v["reports"][0]["frames"].as_array().map(Vec::len), Some(12));
}

#[test]
fn truncated_is_marked() {
    let v = check("seed004_oops_truncated.dmesg");
    assert_eq!(v["reports"][0]["kind"], "oops");
    assert!(v["reports"][0]["corrupted"].is_string());
    let v = check("seed004_warning_head_lost.dmesg");
    assert_eq!(v["reports"][0]["kind"], "unknown");
    assert!(v["reports"][0]["corrupted"].is_string());
}

/// One memcg OOM made on the 6.18 host (64 MiB v1 memory cgroup `/memdx-logperf`, python3
/// allocating 200 MiB), captured in five framings: the report must read the same in each.
#[test]
fn live618_oom64m_every_framing() {
    let cases = [
        ("live618_memcg_oom64m.dmesg", "dmesg"),
        ("live618_memcg_oom64m.dmesg-T", "dmesg -T"),
        ("live618_memcg_oom64m.dmesg-x", "dmesg -x"),
        ("live618_memcg_oom64m.dmesg-r", "dmesg -r"),
        ("live618_memcg_oom64m.kmsg", "/dev/kmsg"),
    ];
    for (name, framing) in cases {
        let v = check(name);
        assert_eq!(v["sniff"], true, "{name}");
        assert_eq!(v["framings"], json!([format!("{framing}=80")]), "{name}");
        assert_eq!(titles(&v), vec!["Memory cgroup out of memory in /memdx-logperf"], "{name}");
        let r = &v["reports"][0];
        assert_eq!(r["corrupted"], Value::Null, "{name}");
        assert_eq!(r["pid"], 8300, "{name}");
        assert_eq!(r["kernel"], "6.18.44-fc-v657", "{name}");
        assert_eq!(r["mem"]["victim"], "python3", "{name}");
        assert_eq!(r["mem"]["victim_pid"], 8300, "{name}");
        assert_eq!(r["mem"]["memcg_limit_kb"], 65536, "{name}");
        assert_eq!(r["mem"]["tasks"].as_array().map(Vec::len), Some(1), "{name}");
        assert_eq!(r["frames"].as_array().map(Vec::len), Some(16), "{name}");
        assert_eq!(r["explanation"]["class"], "oom.memcg", "{name}");
        // Only the time differs between framings.
        let strip = |mut r: Value| {
            for k in ["time", "first_seen", "last_seen", "source"] {
                r[k] = Value::Null;
            }
            r
        };
        assert_eq!(strip(r.clone()), strip(check(cases[0].0)["reports"][0].clone()), "{name}");
    }
}

/// The boot log of the 6.18 host (machine-specific init arguments removed): real kernel lines with
/// no report, including `Speculative Return Stack Overflow: WARNING: ...`, must give no report.
#[test]
fn live618_boot_has_no_report() {
    let v = check("live618_boot.dmesg");
    assert_eq!(v["sniff"], true);
    assert!(titles(&v).is_empty(), "{:?}", titles(&v));
    assert_eq!(v["kernel"], "6.18.44-fc-v657");
    assert_eq!(v["diags"], json!([]));
}
