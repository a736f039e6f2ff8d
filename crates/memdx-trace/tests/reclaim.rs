//! Data-driven tests on real traces in testdata/trace/ (see its README). Goldens in
//! testdata/trace/expected/; `MEMDX_UPDATE_GOLDENS=1` rewrites them.

use memdx_core::SourceRef;
use memdx_render::schema::Json;
use memdx_trace::{
    findings, parse, parse_with, table_only, CpuSecondRow, EpisodeKind, Formats, Lru, Options, ReclaimReport,
};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

#[path = "../../../tests/common/golden.rs"]
mod golden;
#[path = "../../../tests/common/skip.rs"]
mod skip;
use skip::skip;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/trace")
}

fn read(rel: &str) -> Vec<u8> {
    let p = testdata().join(rel);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gunzip");
        out
    } else {
        raw
    }
}

fn report(rel: &str) -> ReclaimReport {
    parse(BufReader::new(&read(rel)[..]), rel).reclaim
}

/// The golden view of a report: its totals and findings, not every row.
fn summary(r: &ReclaimReport) -> serde_json::Value {
    let f: Vec<_> = findings(r)
        .into_iter()
        .map(|f| serde_json::json!({"id": f.id, "severity": f.severity, "title": f.title}))
        .collect();
    serde_json::json!({
        "scan": Json(&r.scan),
        "diags": Json(&r.diags),
        "kinds": Json(&r.kinds.iter().filter(|k| k.begins + k.ends > 0).collect::<Vec<_>>()),
        "tasks": Json(&r.tasks),
        "anon": Json(&r.anon), "file": Json(&r.file), "reclaim_pages": Json(&r.reclaim_pages),
        "isolate": Json(&r.isolate),
        "nr_dirty": r.nr_dirty, "nr_writeback": r.nr_writeback, "nr_immediate": r.nr_immediate,
        "efficiency": r.efficiency.map(|e| (e * 1e4).round() / 1e4),
        "slab_share": r.slab_share.map(|e| (e * 1e4).round() / 1e4),
        "shrinkers": Json(&r.shrinkers),
        "throttle": Json(&r.throttle),
        "oom_victims": Json(&r.oom_victims),
        "cgroup_mkdir": r.cgroup_mkdir, "cgroup_rmdir": r.cgroup_rmdir,
        "cpu_seconds": r.cpu_seconds.len(),
        "first_episodes": Json(&r.first_episodes[..r.first_episodes.len().min(3)]),
        "longest_episodes": Json(&r.longest_episodes[..r.longest_episodes.len().min(3)]),
        "findings": f,
    })
}

/// Compares `r`'s summary with `expected/<name>.json`.
fn check(name: &str, r: &ReclaimReport) {
    let got = serde_json::to_string_pretty(&summary(r)).expect("json") + "\n";
    let path = testdata().join("expected").join(format!("{name}.json"));
    golden::check_golden(&path, &got);
}

const RUNS: [&str; 4] = ["default_swappiness60", "swappiness0", "swappiness100", "anon_oom_swappiness100"];

#[test]
fn reclaim_runs_goldens() {
    for run in RUNS {
        let r = report(&format!("reclaim-6.18/{run}/trace.txt.gz"));
        check(&format!("reclaim-6.18-{run}"), &r);
    }
}

#[test]
fn episode_counts_equal_begin_end_counts() {
    for run in RUNS {
        let r = report(&format!("reclaim-6.18/{run}/trace.txt.gz"));
        let begins = r.scan.per_event["mm_vmscan_memcg_reclaim_begin"];
        let ends = r.scan.per_event["mm_vmscan_memcg_reclaim_end"];
        let k = r.kind(EpisodeKind::Memcg).expect("memcg stats");
        assert_eq!((k.begins, k.ends, k.complete), (begins, ends, begins), "{run}");
        assert_eq!((k.open_at_end, k.superseded, k.unmatched_end), (0, 0, 0), "{run}");
        assert_eq!(r.scan.damaged_lines + r.scan.unmatched_payloads, 0, "{run}: {:?}", r.diags);
        assert_eq!(r.anon.scanned, 0, "{run}: file-only reclaim");
        if run != "anon_oom_swappiness100" {
            // dd: every isolation is from inactive_file, with large folios (nr_taken > nr_requested)
            assert_eq!(r.isolate.len(), 1, "{run}: {:?}", r.isolate);
            assert_eq!(r.isolate[0].lru, Some(Lru::InactiveFile));
            assert!(r.isolate[0].taken_over_requested > 0);
            assert!(findings(&r).iter().any(|f| f.id == "reclaim.file_only"), "{run}");
        } else {
            assert_eq!(r.oom_victims.len(), 1);
            assert!(r.isolate.iter().any(|i| i.lru == Some(Lru::ActiveFile)));
        }
    }
}

#[test]
fn format_files_give_the_same_report_as_builtins() {
    let text = String::from_utf8(read("formats/event_formats-6.18.txt")).expect("utf8");
    let mut formats = Formats::builtin();
    let (added, diags) = formats.add_format_files(&text, &SourceRef::new("event_formats-6.18.txt"));
    assert!(added >= 30, "{added}");
    assert!(diags.is_empty(), "{diags:?}");
    for run in RUNS {
        let rel = format!("reclaim-6.18/{run}/trace.txt.gz");
        let a = report(&rel);
        let b =
            parse_with(BufReader::new(&read(&rel)[..]), &rel, formats.clone(), Options::default()).reclaim;
        assert_eq!(summary(&a), summary(&b), "{run}");
    }
}

#[test]
fn layouts_agree() {
    let base = report("layouts-6.18/default.txt.gz");
    let memcg = base.kind(EpisodeKind::Memcg).expect("memcg").clone();
    assert!(memcg.complete > 10);
    for l in ["noirq", "tgid", "latency", "latency_verbose"] {
        let r = report(&format!("layouts-6.18/{l}.txt.gz"));
        let k = r.kind(EpisodeKind::Memcg).expect("memcg");
        assert_eq!(r.scan.damaged_lines, 0, "{l}: {:?}", r.diags);
        assert_eq!((k.complete, k.reclaimed, k.file), (memcg.complete, memcg.reclaimed, memcg.file), "{l}");
        assert_eq!(r.shrinkers.len(), base.shrinkers.len(), "{l}");
    }
    // perf script of `perf record -e vmscan:...` (with mm_shrink_slab_end). Expected values counted
    // with awk over the text (testdata/trace/README.md): 74 memcg_reclaim_begin/end pairs reclaiming
    // 18900 pages in 503476000 ns, 138 super_cache_scan start/end pairs lasting 419000 ns in all.
    let p = report("layouts-6.18/perf.txt.gz");
    let k = p.kind(EpisodeKind::Memcg).expect("memcg");
    assert_eq!(p.scan.damaged_lines, 0, "{:?}", p.diags);
    assert_eq!((k.complete, k.begins, k.ends, k.reclaimed), (74, 74, 74, 18900));
    let s = p.shrinkers.iter().find(|s| s.shrinker == "super_cache_scan").expect("super_cache_scan");
    assert_eq!((s.calls, s.ns), (138, 419_000), "{:?}", p.shrinkers);
    check("layouts-6.18-default", &base);
    check("layouts-6.18-perf", &p);
}

#[test]
fn seed_001_episodes() {
    // 4.18.0-372: one memcg episode of ~1 s that reaches priority 8 and reclaims 33 pages.
    let r = report("seed001/el8_372_memcg_episode.txt");
    let k = r.kind(EpisodeKind::Memcg).expect("memcg");
    assert_eq!((k.complete, k.reclaimed, k.lowest_priority), (1, 33, Some(8)));
    assert_eq!(k.max_ns, 1_043_374_000);
    assert_eq!(r.scan.unmatched_payloads, 0, "{:?}", r.diags);
    // 4.18.0-147 (nr_activate, may_writepage): the same work in 78 ms.
    let r = report("seed001/el8_147_memcg_episode.txt");
    let k = r.kind(EpisodeKind::Memcg).expect("memcg");
    assert_eq!((k.complete, k.reclaimed, k.lowest_priority), (1, 32, Some(8)));
    assert_eq!(k.max_ns, 78_404_000);
    assert_eq!(r.scan.unmatched_payloads, 0, "{:?}", r.diags);
    assert!(r.isolate.iter().any(|i| i.lru == Some(Lru::ActiveFile)));
}

#[test]
fn table_only_matches_full_analysis() {
    for run in RUNS {
        let rel = format!("reclaim-6.18/{run}/trace.txt.gz");
        let r = report(&rel);
        let mut rows: Vec<CpuSecondRow> = Vec::new();
        let stats = table_only(&read(&rel)[..], |row| rows.push(row)).expect("read");
        assert_eq!(stats.damaged, 0);
        let mut a = r.cpu_seconds.clone();
        a.sort_by_key(|x| (x.kind, x.cpu, x.second, x.last));
        rows.sort_by_key(|x| (x.kind, x.cpu, x.second, x.last));
        assert_eq!(a, rows, "{run}");
    }
}

/// Builds the seed's C program; `None` (with the reason printed) when there is no C compiler.
fn build_seed_program(dir: &Path) -> Option<PathBuf> {
    let src = testdata().join("seed001/reclaim_table.c");
    let exe = dir.join("reclaim_table");
    match std::process::Command::new("cc").args(["-O2", "-w", "-o"]).arg(&exe).arg(&src).status() {
        Ok(s) if s.success() => Some(exe),
        Ok(s) => panic!("cc failed on {}: {s}", src.display()),
        Err(e) => {
            skip(&format!("no C compiler (cc: {e})"));
            None
        }
    }
}

#[test]
fn per_cpu_second_table_equals_seed_c_program() {
    let dir = std::env::temp_dir().join(format!("memdx-trace-seedc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let Some(exe) = build_seed_program(&dir) else {
        return;
    };
    // Within one run every CPU's episodes end in a single second, so the C program prints nothing
    // for a run alone; the four runs one after the other (seconds 261, 277, 280, 303) give it rows.
    let all: Vec<u8> = RUNS.iter().flat_map(|r| read(&format!("reclaim-6.18/{r}/trace.txt.gz"))).collect();
    let mut cases: Vec<(String, Vec<u8>)> =
        RUNS.iter().map(|r| (r.to_string(), read(&format!("reclaim-6.18/{r}/trace.txt.gz")))).collect();
    cases.push(("all runs".into(), all));
    for (run, text) in cases {
        std::fs::write(dir.join("trace.log"), &text).expect("write trace.log");
        let out = std::process::Command::new(&exe)
            .current_dir(&dir)
            .env("TZ", "UTC")
            .output()
            .expect("run C program");
        let c = String::from_utf8(out.stdout).expect("utf8");
        // Drop the C program's `time[...]` column: it depends on its hard-coded epoch and the zone.
        let c_lines: Vec<String> = c
            .lines()
            .map(|l| match (l.find(" time["), l.find("] average")) {
                (Some(a), Some(b)) => format!("{}{}", &l[..a], &l[b + 1..]),
                _ => l.to_string(),
            })
            .collect();
        let r = parse(BufReader::new(&text[..]), &run).reclaim;
        // The C program prints a CPU's second when the CPU moves to the next one, so it never
        // prints each CPU's last second; memdx keeps those rows, marked `last`.
        let ours: Vec<String> = r
            .cpu_seconds
            .iter()
            .filter(|row| row.kind == EpisodeKind::Memcg && !row.last)
            .map(|row| row.c_tabulator_line())
            .collect();
        if run == "all runs" {
            assert_eq!(ours.len(), 6, "{ours:?}");
        }
        assert_eq!(ours, c_lines, "{run}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_input_never_panics_and_is_named() {
    let text = "# tracer: nop\n\
        dd-1 [000] ..... 1.000000: mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_KERNEL\n\
        garbage without structure\n\
        dd-1 [000] ..... 1.000100: mm_vmscan_lru_isolate: classzone=4 order=0 nr_requested=x nr_scanned=1 nr_skipped=0 nr_taken=1 lru=inactive_file\n\
        dd-1 [000] ..... 1.000200: mm_vmscan_memcg_reclaim_end: nr_reclaimed=\n\
        dd-1 [000] ..... 1.000300: mm_vmscan_memcg_reclaim_end: nr_reclaimed=4\n\
        CPU:0 [LOST 7 EVENTS]\n\
        \u{fffd}\u{1}-- [9] 1.1: \n";
    let r = parse(BufReader::new(text.as_bytes()), "t.txt").reclaim;
    let k = r.kind(EpisodeKind::Memcg).expect("memcg");
    assert_eq!((k.complete, k.reclaimed), (1, 4));
    assert_eq!(r.scan.lost_events, 7);
    assert!(r.diags.iter().any(|d| d.source.line == Some(3)), "{:?}", r.diags);
    assert!(r.diags.iter().any(|d| d.source.line == Some(4)), "{:?}", r.diags);
    assert!(memdx_trace::sniff(text.as_bytes()));
    assert!(!memdx_trace::sniff(b"MemTotal:       24574472 kB\nMemFree: 1 kB\n"));
}

/// The window a live capture measured around itself (vmstat and PSI deltas read from the kernel
/// right before and after tracing), as recorded in `window.json`.
fn window(rel: &str) -> memdx_trace::WindowDelta {
    let v: serde_json::Value = serde_json::from_slice(&read(rel)).expect("window json");
    memdx_trace::WindowDelta {
        seconds: v["seconds"].as_f64().expect("seconds"),
        vmstat: v["vmstat"]
            .as_object()
            .expect("vmstat")
            .iter()
            .map(|(k, n)| (k.clone(), n.as_i64().expect("count")))
            .collect(),
        psi_some_us: v["psi_some_us"].as_u64(),
        psi_full_us: v["psi_full_us"].as_u64(),
    }
}

/// Issue 14: 185 MB of anon memory in a 200 MB memcg (v1, no swap) and a 512 MB file read through
/// it in a loop; 2 s of `memdx trace reclaim --save` on 6.18 with its window. The kernel's numbers:
/// 3676 memcg episodes (perf stat counted 27969 begins in a 20 s run of the same workload, memdx
/// 27873 in its 20 s capture), 231141 file refaults for 243436 pages reclaimed, PSI some 0.81 s
/// of 2.01 s. It used to be only INFO "reclaim scans only file pages".
#[test]
fn memcg_thrashing_is_called_thrashing() {
    let mut r = report("thrash-6.18/trace.txt.gz");
    r.context.window = Some(window("thrash-6.18/window.json"));
    r.context.swap_total_kb = Some(0);
    let k = r.kind(EpisodeKind::Memcg).expect("memcg episodes");
    assert_eq!(k.complete, 3676);
    assert_eq!(r.scan.per_event["mm_vmscan_memcg_reclaim_begin"], k.begins);
    let fs = findings(&r);
    let ids: Vec<&str> = fs.iter().map(|f| f.id.as_str()).collect();
    // One verdict (not also storm or file-only); writeback throttling is another fact the events show.
    assert_eq!(ids, ["reclaim.thrashing", "reclaim.writeback_throttled"], "{ids:?}");
    let f = &fs[0];
    assert_eq!(f.severity, memdx_core::Severity::Critical);
    assert!(
        f.title.starts_with("memcg thrashing: 231141 pages read back of 243436 reclaimed"),
        "{}",
        f.title
    );
    for needle in [
        "Scan efficiency (reclaimed / scanned) 6.1%",
        "52% of them lowered",
        "PSI memory: some task stalled 40%",
    ] {
        assert!(f.explanation.contains(needle), "{needle}: {}", f.explanation);
    }
}

/// The same memcg with nothing in it but a 512 MB file read once (fresh file, no shadow entries):
/// reclaim drops clean cache at 100% efficiency, 1 refault. Healthy, said with its numbers.
#[test]
fn healthy_reclaim_is_called_healthy() {
    let mut r = report("healthy-6.18/trace.txt.gz");
    r.context.window = Some(window("healthy-6.18/window.json"));
    let fs = findings(&r);
    let ids: Vec<(&str, memdx_core::Severity)> = fs.iter().map(|f| (f.id.as_str(), f.severity)).collect();
    assert_eq!(ids, [("reclaim.healthy", memdx_core::Severity::Info)]);
    assert!(fs[0].title.contains("100% scan efficiency"), "{}", fs[0].title);
}
