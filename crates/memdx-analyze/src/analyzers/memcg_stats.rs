//! Analyzer: a memory cgroup's statistics pasted on their own: `Memory cgroup stats for /x:` cut from
//! a memcg OOM report (with or without the kernel log framing, with the `memory: usage ..., limit
//! ...` line before it or not), or a `memory.stat` file. What is charged (anonymous memory, page
//! cache) against which limit says whether the cgroup was at its limit and what filled it; what the
//! excerpt does not hold (the OOM report's header, its kill line) is said, not guessed. A complete
//! OOM report is judged by the kernel_log analyzer, so its stats are not repeated here.

use crate::case::Case;
use memdx_core::units::{bytes, kib};
use memdx_core::{Evidence, Finding, Report, Severity, SourceRef};
use memdx_parse::messages::MessageKind;

/// Usage at this share of the limit is at the limit (the kernel reclaims on every charge).
const AT_LIMIT_PCT: f64 = 95.0;

struct Stats<'a> {
    cgroup: Option<&'a str>,
    anon: Option<u64>,
    file: Option<u64>,
    /// v1 `hierarchical_memory_limit`, bytes (unlimited left out).
    limit: Option<u64>,
    /// `memory: usage NkB, limit NkB, failcnt N`, in KiB.
    usage: Option<(u64, u64, Option<u64>)>,
    src: SourceRef,
    usage_src: Option<SourceRef>,
}

/// Cgroups whose stats a complete OOM report in the logs already printed.
fn reported(case: &Case) -> Vec<&str> {
    case.logs
        .iter()
        .flat_map(|l| l.reports.iter())
        .filter_map(|r| r.mem.as_ref())
        .filter(|m| !m.memcg_stats.is_empty())
        .filter_map(|m| m.oom_memcg.as_deref().or(m.task_memcg.as_deref()))
        .collect()
}

fn collect(case: &Case) -> Vec<Stats<'_>> {
    let mut v = Vec::new();
    for s in &case.memcg_stats {
        let Some(src) = s.counters.source.clone() else { continue };
        let line = s.cgroup.as_ref().map(|c| c.1).or(s.counters.entries.first().map(|e| e.line)).unwrap_or(0);
        v.push(Stats {
            cgroup: s.cgroup.as_ref().map(|c| c.0.as_str()),
            anon: s.anon(),
            file: s.file(),
            limit: s.limit(),
            usage: s.usage.map(|u| (u.usage_kb, u.limit_kb, u.failcnt)),
            usage_src: s.usage.map(|u| src.at(u.line as usize)),
            src: src.at(line as usize),
        });
    }
    for (src, m) in &case.messages {
        let MessageKind::MemcgStats { cgroup, usage, items } = &m.kind else { continue };
        let get = |k: &str| items.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        v.push(Stats {
            cgroup: Some(cgroup.as_str()),
            anon: get("rss").or(get("anon")),
            file: get("cache").or(get("file")),
            limit: get("hierarchical_memory_limit").filter(|l| *l < 1 << 62),
            usage: *usage,
            usage_src: None,
            src: src.clone(),
        });
    }
    v
}

pub fn run(case: &Case, out: &mut Report) {
    let done = reported(case);
    for s in collect(case) {
        if s.cgroup.is_some_and(|c| done.contains(&c)) {
            continue;
        }
        finding(case, &s, out);
    }
}

fn finding(case: &Case, s: &Stats, out: &mut Report) {
    let name = s.cgroup.map(|c| format!("memory cgroup {c}")).unwrap_or_else(|| "memory cgroup".to_string());
    let charged = s.anon.unwrap_or(0).saturating_add(s.file.unwrap_or(0));
    // The usage line is what the kernel compared with the limit; the stats are its split.
    let (used, limit) = match (s.usage, s.limit) {
        (Some((u, l, _)), _) => {
            (u.saturating_mul(1024), Some(l.saturating_mul(1024)).filter(|l| *l < 1 << 62))
        }
        (None, l) => (charged, l),
    };
    let share = limit.filter(|l| *l > 0).map(|l| used as f64 * 100.0 / l as f64);
    let at_limit = share.is_some_and(|p| p >= AT_LIMIT_PCT);
    let mut title = format!("{name}: {} charged", bytes(used));
    if let (Some(a), Some(f)) = (s.anon, s.file) {
        title.push_str(&format!(" ({} anonymous, {} page cache)", bytes(a), bytes(f)));
    }
    match limit {
        Some(l) if at_limit => title.push_str(&format!(", at its {} limit", bytes(l))),
        Some(l) => title.push_str(&format!(" of its {} limit", bytes(l))),
        None => {}
    }
    let mut expl = format!("The statistics of {name} show {} charged", bytes(used));
    if let (Some(a), Some(f)) = (s.anon, s.file) {
        expl.push_str(&format!(": {} anonymous memory and {} page cache", bytes(a), bytes(f)));
    }
    expl.push('.');
    if let Some((u, l, fc)) = s.usage {
        expl.push_str(&format!(" The kernel's counter line says usage {} of limit {}", kib(u), kib(l)));
        if let Some(f) = fc {
            expl.push_str(&format!(", the limit was hit {f} times"));
        }
        expl.push('.');
    }
    if at_limit {
        let anon_heavy = s.anon.zip(s.file).is_some_and(|(a, f)| a > f.saturating_mul(4));
        expl.push_str(" The cgroup is at its limit: every new charge must reclaim first, and when reclaim cannot free enough the kernel OOM-kills a task inside it.");
        if anon_heavy {
            expl.push_str(" Anonymous memory fills it: the tasks' own memory, which only swap or a kill frees; page cache would have been reclaimed first.");
        }
    } else if limit.is_none() {
        expl.push_str(" The limit is not in the excerpt (v2 keeps it in memory.max).");
    }
    let oom_in_logs = case.logs.iter().flat_map(|l| l.reports.iter()).any(|r| r.kind == memdx_log::Kind::Oom);
    if !oom_in_logs && s.cgroup.is_some() {
        expl.push_str(" Not in the excerpt: the OOM report's header and kill line, so whether the kernel killed a task here, and which, is not shown.");
    }
    let mut f = Finding::new("memcg.stats", if at_limit { Severity::Warning } else { Severity::Info }, title)
        .explain(expl)
        .evidence(Evidence::float("charged", used as f64 / 1048576.0, Some("MiB"), Some(s.src.clone())));
    if let Some(l) = limit {
        f = f.evidence(Evidence::float(
            "limit",
            l as f64 / 1048576.0,
            Some("MiB"),
            s.usage_src.clone().or(Some(s.src.clone())),
        ));
    }
    if let Some(a) = s.anon {
        f = f.evidence(Evidence::float("anonymous", a as f64 / 1048576.0, Some("MiB"), None));
    }
    if let Some(fl) = s.file {
        f = f.evidence(Evidence::float("page cache", fl as f64 / 1048576.0, Some("MiB"), None));
    }
    f = f.next(format!(
        "raise the limit of {} if the workload needs it, or find which task grew (ps -o pid,rss,cmd in the cgroup, its memory.stat over time)",
        s.cgroup.unwrap_or("the cgroup")
    ));
    out.findings.push(f.score(used as f64));
}

#[cfg(test)]
mod tests {
    use crate::Case;

    /// The stats of a real memcg OOM on 6.18 (testdata/log/live618_memcg_oom.dmesg, lines 51-98) cut
    /// from the report: `memory: usage 102400kB, limit 102400kB, failcnt 117`, rss 104452096 bytes
    /// (99.6 MiB), cache 0. With the dmesg framing, the excerpt is a kernel log and those lines are
    /// printed only inside a memcg OOM report (`mem_cgroup_print_oom_meminfo`): the log engine reads
    /// it as a report cut before its start, with the counters and the stats, and this analyzer does
    /// not repeat them. Without the framing it is a `memory.stat`-like paste, this analyzer's case.
    #[test]
    fn oom_report_excerpt() {
        let log = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata/log/live618_memcg_oom.dmesg"),
        )
        .unwrap();
        let start = log.lines().position(|l| l.contains("memory: usage")).unwrap();
        let end = log.lines().position(|l| l.contains("Tasks state")).unwrap();
        let framed: Vec<&str> = log.lines().skip(start).take(end - start).collect();
        let bare: Vec<String> =
            framed.iter().map(|l| l.split_once("] ").map_or(*l, |(_, r)| r).to_string()).collect();

        let mut c = Case::new();
        c.ingest("excerpt.txt", &framed.join("\n"), None);
        let r = crate::analyze(&c);
        assert!(!r.findings.iter().any(|f| f.id == "memcg.stats"));
        let f = r.findings.iter().find(|f| f.id == "log.oom.memcg").expect("the log engine's memcg OOM");
        let ev = |label: &str| f.evidence.iter().find(|e| e.label == label).map(|e| e.value.to_string());
        assert_eq!(ev("memcg limit").as_deref(), Some("100.0 MiB"));
        assert_eq!(ev("memcg anon").as_deref(), Some("99.6 MiB"));
        assert!(f.explanation.contains("limit hit 117 times"), "{}", f.explanation);
        let missing = ev("not in the excerpt").unwrap_or_default();
        assert!(missing.contains("kill line") && !missing.contains("memory: usage"), "{missing}");

        let mut c = Case::new();
        c.ingest("excerpt.txt", &bare.join("\n"), None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "memcg.stats").expect("memcg.stats");
        assert_eq!(
            f.title,
            "memory cgroup /memdx-test: 100.0 MiB charged (99.6 MiB anonymous, 0 B page cache), at its 100.0 MiB limit"
        );
        assert!(f.explanation.contains("hit 117 times"), "{}", f.explanation);
        assert!(f.explanation.contains("Not in the excerpt"), "{}", f.explanation);
    }

    /// `memory.stat` of a v1 cgroup pasted alone (no OOM report): the analyzer's own case.
    #[test]
    fn memory_stat_file_alone() {
        let text = "$ cat /sys/fs/cgroup/memory/app/memory.stat\ncache 1048576\nrss 52428800\nhierarchical_memory_limit 67108864\n";
        let mut c = Case::new();
        c.ingest("memory.stat", text, None);
        let r = crate::analyze(&c);
        let f =
            r.findings.iter().find(|f| f.id == "memcg.stats").unwrap_or_else(|| panic!("{:?}", r.findings));
        assert!(f.title.contains("50.0 MiB anonymous"), "{}", f.title);
    }
}
