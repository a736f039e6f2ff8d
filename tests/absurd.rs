//! Absurd kernel counters never panic: real inputs of every kind an analyzer reads (meminfo,
//! slabinfo, zoneinfo, buddyinfo, pagetypeinfo, vmstat, sysctl, PSI, cgroups, kernel logs with
//! OOM reports and oopses, crash sessions, slub_debug traces, kmem traces, journals) have every
//! number replaced by extreme values (u64::MAX, 2^63, u32::MAX, 0, alternating), then go through
//! the whole pipeline in process: `gather` -> `analyze()` (all analyzers) -> the text and JSON
//! renderers. Debug builds check arithmetic overflow, so a sum of two huge counters panics here.
//!
//! The second test is the reproduction from issue 10: two SReclaimable/SUnreclaim lines at u64::MAX.

mod common;

use memdx_analyze::Case;
use memdx_source::{gather, GatherOptions};
use std::path::{Path, PathBuf};

/// Real inputs (copied from ../shared fixtures into testdata/), plain text so they can be rewritten.
const INPUTS: &[&str] = &[
    "testdata/diagnose/live618_snapshot/inputs",
    "testdata/diagnose/live618_churn_v1mem/inputs/v1mem_1_after_create.misc.txt",
    "testdata/diagnose/live618_churn_v1mem/inputs/v1mem_1_after_create.slabinfo.txt",
    "testdata/diagnose/seed000_slab/inputs",
    "testdata/diagnose/seed004_crash/inputs",
    "testdata/diagnose/supportconfig_618/inputs/memory.txt",
    "testdata/log/qemu61_global_oom.dmesg",
    "testdata/log/live618_memcg_oom64m.dmesg",
    "testdata/log/live618_hung_task.dmesg",
    "testdata/log/seed000_slub_trace.kern.log",
    "testdata/slab/live-6.18/trigger_stacktrace_kmalloc.trace.txt",
    "testdata/slab/seed000/syslog",
    "testdata/slab/seed000/cgroup_mkdir.log",
    "testdata/analyze/el7-3.10-pressure",
    "testdata/analyze/seed-004/crash_kmem_i.txt",
];

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for rel in INPUTS {
        let p = root.join(rel);
        if p.is_dir() {
            let mut v: Vec<PathBuf> =
                std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p);
        }
    }
    out.retain(|p| !p.extension().is_some_and(|e| e == "gz" || e == "json"));
    out
}

/// Replaces each counter-like number by the next value of `values` (cycling): a run of two or more
/// digits standing alone (after a blank, `=`, `(` or `name:`, before a blank, `,`, `)`, `kB` or the
/// end). Numbers
/// that are structure stay: single digits (node, CPU, order), decimals and timestamps, dates,
/// versions, names such as `kmalloc-128`; lines naming a version are kept whole.
fn rewrite(text: &str, values: &[&str], k: &mut usize) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        if line.contains("version") || line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                let mut j = i;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                let before = if i == 0 { b' ' } else { b[i - 1] };
                let after = if j == b.len() { b' ' } else { b[j] };
                // `free:1234kB` (show_mem) counts too; `12:34:56` does not.
                let named = before == b':' && i >= 2 && b[i - 2].is_ascii_alphabetic();
                let alone = (matches!(before, b' ' | b'\t' | b'=' | b'(') || named)
                    && matches!(after, b' ' | b'\t' | b'\n' | b'\r' | b',' | b')' | b'k');
                if alone && j - i >= 2 {
                    out.push_str(values[*k % values.len()]);
                    *k += 1;
                } else {
                    out.push_str(&line[i..j]);
                }
                i = j;
            } else {
                let c = line[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

fn run_case(dir: &Path) {
    let mut case = Case::new();
    let errors = gather(&[dir.to_path_buf()], &mut case, &GatherOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    case.finish();
    // The absurd numbers reach the analyzers: the formats are still recognised.
    let seen = (
        case.meminfo.is_some(),
        case.zoneinfo.is_some(),
        case.buddyinfo.is_some(),
        case.vmstat.is_some(),
        case.slab().is_some(),
        !case.logs.is_empty(),
        !case.kmem_traces.is_empty() || !case.journals.is_empty(),
    );
    assert_eq!(seen, (true, true, true, true, true, true, true), "{}: {:?}", dir.display(), case.skipped);
    let report = memdx_analyze::analyze(&case);
    let mut sink = Vec::new();
    memdx_render::diagnose::text(
        &mut sink,
        &case,
        &report,
        "test",
        memdx_render::diagnose::TextOptions { style: memdx_render::Style { color: false }, verbose: true },
    )
    .unwrap();
    memdx_render::diagnose::json(&mut sink, &case, &report, "test").unwrap();
    memdx_render::metrics::render(
        &case,
        &report,
        "test",
        &memdx_render::metrics::SlabSelect { include: None, exclude: None, top: 50 },
        &memdx_render::metrics::Extras::default(),
    );
}

#[test]
fn absurd_numbers_through_every_analyzer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inputs = files(root);
    assert!(inputs.len() > 20, "{inputs:?}");
    let max = u64::MAX.to_string();
    let half = (1u64 << 63).to_string();
    let imax = i64::MAX.to_string();
    let u32max = u32::MAX.to_string();
    let patterns: Vec<Vec<&str>> = vec![
        vec![&max],
        vec!["0"],
        vec![&half],
        vec![&u32max],
        vec![&max, "0"],
        vec!["0", &max],
        vec![&max, "1", &half, "0", &imax, "4096", &u32max, "18014398509481984"],
        vec!["1", &max, "0", &imax, &half],
    ];
    let tmp = std::env::temp_dir().join(format!("memdx-absurd-{}", std::process::id()));
    let mut failed = Vec::new();
    for (i, pat) in patterns.iter().enumerate() {
        let dir = tmp.join(format!("p{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut k = 0;
        for (j, f) in inputs.iter().enumerate() {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
            let name = format!("{j:02}_{}", f.file_name().unwrap().to_string_lossy());
            std::fs::write(dir.join(name), rewrite(&text, pat, &mut k)).unwrap();
        }
        if std::panic::catch_unwind(|| run_case(&dir)).is_err() {
            failed.push(format!("pattern {pat:?}: inputs kept in {}", dir.display()));
        } else {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    assert!(failed.is_empty(), "panicked (see the messages above):\n{}", failed.join("\n"));
    let _ = std::fs::remove_dir(&tmp);
}

/// Issue 10: `SReclaimable` + `SUnreclaim` at u64::MAX overflowed in accounting.rs.
#[test]
fn slab_sum_at_u64_max_does_not_panic() {
    let dir = std::env::temp_dir().join(format!("memdx-absurd-m-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = dir.join("m");
    std::fs::write(&m, "SReclaimable: 18446744073709551615 kB\nSUnreclaim: 18446744073709551615 kB\n")
        .unwrap();
    let out = common::memdx().arg("diagnose").arg(&m).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(out.status.code(), Some(0..=2)), "{:?} {stderr}", out.status);
    std::fs::remove_dir_all(&dir).unwrap();
}
