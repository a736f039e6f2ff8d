//! Analyzer: the processes holding the most resident memory, from pasted `ps`/`top` tables,
//! `/proc/<pid>/status` (VmRSS) and `/proc/<pid>/smaps_rollup` (Rss, Pss, Swap). When one process
//! holds most of the machine's memory, that process is what an OOM or a shortage is about.

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::{Evidence, Finding, Report, Severity, SourceRef, Table};

/// Share of memory one process must hold for a warning.
const WARN_PCT: f64 = 50.0;
const ROWS: usize = 10;

struct Row {
    pid: Option<u32>,
    name: String,
    rss_kb: u64,
    src: SourceRef,
    how: &'static str,
}

/// The machine's memory in KiB and where it was read.
fn mem_total(case: &Case) -> Option<(u64, String)> {
    if let Some(t) = case.meminfo.as_ref().and_then(|m| m.kb("MemTotal")) {
        return Some((t, "MemTotal".into()));
    }
    if let Some((t, src)) = case.processes.iter().find_map(|p| p.mem_total_kb.map(|t| (t, &p.source))) {
        return Some((t, format!("top's Mem total ({src})")));
    }
    case.frees.last().map(|f| (f.mem_total / 1024, "free's total".into()))
}

fn short(cmd: &str) -> String {
    // The program and its first argument are enough to recognise it.
    let mut w = cmd.split_whitespace();
    let prog = w.next().unwrap_or_default();
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let s = match w.next() {
        Some(a) => format!("{prog} {a}"),
        None => prog.to_string(),
    };
    s.chars().take(60).collect()
}

pub fn run(case: &Case, out: &mut Report) {
    let mut rows: Vec<Row> = Vec::new();
    for t in &case.processes {
        let how = match t.tool {
            memdx_parse::process_table::Tool::Ps => "ps RSS",
            memdx_parse::process_table::Tool::Top => "top RES",
        };
        for p in &t.procs {
            rows.push(Row {
                pid: Some(p.pid),
                name: short(&p.command),
                rss_kb: p.rss_kb,
                src: t.source.at(p.line as usize),
                how,
            });
        }
    }
    for (src, st) in &case.proc_statuses {
        if let Some(rss) = st.vm_rss_kb {
            rows.push(Row {
                pid: st.pid,
                name: st.name.clone(),
                rss_kb: rss,
                src: src.clone(),
                how: "status VmRSS",
            });
        }
    }
    for (pid, r) in &case.smaps_rollups {
        if let Some(rss) = r.kb("Rss") {
            let line = r.line("Rss").unwrap_or(0) as usize;
            rows.push(Row {
                pid: *pid,
                name: String::new(),
                rss_kb: rss,
                src: r.source.at(line),
                how: "smaps_rollup Rss",
            });
        }
    }
    if rows.is_empty() {
        return;
    }
    // The same process in several inputs (ps and top of one moment): keep its largest figure.
    rows.sort_by_key(|r| std::cmp::Reverse(r.rss_kb));
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| r.pid.is_none() || seen.insert(r.pid));
    let total = mem_total(case);
    let pct = |kb: u64| total.as_ref().filter(|(t, _)| *t > 0).map(|(t, _)| kb as f64 * 100.0 / *t as f64);
    let top = &rows[0];
    let name = if top.name.is_empty() { "(name not in the input)".to_string() } else { top.name.clone() };
    let pid = top.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    let share = pct(top.rss_kb);
    let sum: u64 = rows.iter().map(|r| r.rss_kb).fold(0u64, u64::saturating_add);
    let severity = if share.is_some_and(|p| p >= WARN_PCT) { Severity::Warning } else { Severity::Info };
    let mut title = format!("largest process by resident memory: {name}{pid}, {}", kib(top.rss_kb));
    if let Some(p) = share {
        title.push_str(&format!(" ({p:.0}% of memory)"));
    }
    let mut expl = format!(
        "Of the {} processes listed, {name}{pid} has the largest resident set ({}, {}). The listed processes hold {} \
         together (shared pages are counted in every process that maps them, so the sum can exceed what they use).",
        rows.len(),
        kib(top.rss_kb),
        top.how,
        kib(sum)
    );
    match &total {
        Some((t, from)) => expl.push_str(&format!(" Memory is {} ({from}).", kib(*t))),
        None => expl.push_str(" The machine's memory is not in the inputs, so the share is unknown."),
    }
    if severity == Severity::Warning {
        expl.push_str(" One process holding most of memory is what the kernel's OOM killer picks first, and what to size or fix.");
    }
    let mut f = Finding::new("process.largest_rss", severity, title).explain(expl).evidence(Evidence::float(
        "resident",
        top.rss_kb as f64 / 1024.0,
        Some("MiB"),
        Some(top.src.clone()),
    ));
    for r in rows.iter().skip(1).take(2) {
        f = f.evidence(Evidence::text(
            "next",
            format!(
                "{}{} {}",
                r.name,
                r.pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                kib(r.rss_kb)
            ),
            Some(r.src.clone()),
        ));
    }
    f = f
        .next("cat /proc/<pid>/smaps_rollup of the largest: Anonymous vs file-backed, and Swap")
        .next("watch it over time (ps -o pid,rss,cmd -p <pid>): a resident set that only grows is a leak in that program")
        .score(top.rss_kb as f64);
    out.findings.push(f);
    out.tables.push(Table {
        id: "process.rss".into(),
        title: "Largest processes by resident memory".into(),
        columns: ["pid", "process", "resident", "% of memory", "from"].map(String::from).to_vec(),
        rows: rows
            .iter()
            .take(ROWS)
            .map(|r| {
                vec![
                    r.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                    r.name.clone(),
                    kib(r.rss_kb),
                    pct(r.rss_kb).map(|p| format!("{p:.1}")).unwrap_or_else(|| "?".into()),
                    r.src.to_string(),
                ]
            })
            .collect(),
        notes: vec![format!(
            "{} processes listed; resident sets count shared pages in each process",
            rows.len()
        )],
    });
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn ps_and_top() {
        // `top -b` of the 6.18 machine: cc1 (pid 16944) RES 268416 KiB, of `MiB Mem : 24105.1 total`.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats");
        let mut c = Case::new();
        c.ingest("top.txt", &std::fs::read_to_string(dir.join("top_b.txt")).unwrap(), None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "process.largest_rss").expect("finding");
        assert!(f.title.contains("cc1 (pid 16944), 262.1 MiB (1% of memory)"), "{}", f.title);
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(8));
        // A pasted status file: kernel threads have no VmRSS.
        let mut c = Case::new();
        let doc = "$ cat /proc/812/status\nName:\tfirewalld\nPid:\t812\nVmRSS:\t 9437184 kB\n$ grep MemTotal /proc/meminfo\nMemTotal:       16318820 kB\n";
        c.ingest("doc.txt", doc, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "process.largest_rss").expect("finding");
        assert_eq!(f.severity, memdx_core::Severity::Warning);
        assert!(f.title.contains("firewalld (pid 812), 9.0 GiB (58% of memory)"), "{}", f.title);
    }
}
