//! Analyzer: memory over time from `vmstat N` and `sar -r`. Swapping in the sampled intervals (vmstat
//! `si`/`so`, KiB/s) means the machine was short of memory while it was watched; free memory
//! falling from the first to the last sample is the trend; sar's `%commit` above 100 means more was
//! promised than RAM plus swap.

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::{Evidence, Finding, Report, Severity};
use memdx_parse::mem_samples::{MemSamples, Tool};

fn name(t: Tool) -> &'static str {
    match t {
        Tool::Vmstat => "vmstat",
        Tool::Sar => "sar -r",
    }
}

pub fn run(case: &Case, out: &mut Report) {
    for s in &case.mem_samples {
        swapping(s, out);
        trend(case, s, out);
        commit(s, out);
    }
}

fn swapping(s: &MemSamples, out: &mut Report) {
    let iv = s.interval();
    let active: Vec<_> = iv.iter().filter(|x| x.si.unwrap_or(0) > 0 || x.so.unwrap_or(0) > 0).collect();
    let Some(peak) = active.iter().max_by_key(|x| x.si.unwrap_or(0).saturating_add(x.so.unwrap_or(0))) else {
        return;
    };
    let (si, so) = (peak.si.unwrap_or(0), peak.so.unwrap_or(0));
    let blocked = iv.iter().filter_map(|x| x.b).max().unwrap_or(0);
    let mut expl = format!(
        "{} of the {} sampled intervals swapped (peak {si} KiB/s in, {so} KiB/s out). Swapping while the machine is \
         watched means its anonymous memory does not fit: pages go out to make room and come back when touched.",
        active.len(),
        iv.len()
    );
    if si > 0 {
        expl.push_str(" Swap-in means tasks wait for pages they need now (the cost users feel).");
    }
    if blocked > 0 {
        expl.push_str(&format!(" Up to {blocked} tasks were blocked (vmstat `b`)."));
    }
    let sev = if active.len() * 2 >= iv.len() { Severity::Warning } else { Severity::Info };
    out.findings.push(
        Finding::new(
            "samples.swapping",
            sev,
            format!("{}: swapping in {} of {} intervals (peak si {si} / so {so} KiB/s)", name(s.tool), active.len(), iv.len()),
        )
        .explain(expl)
        .evidence(Evidence::text("peak", format!("si {si} KiB/s, so {so} KiB/s"), Some(s.source.at(peak.line as usize))))
        .next("find what grew: ps aux --sort=-rss | head, and /proc/meminfo (AnonPages, Shmem) over the same time")
        .next("cat /proc/pressure/memory: the share of time tasks stalled on memory")
        .score(si.saturating_add(so) as f64),
    );
}

fn trend(case: &Case, s: &MemSamples, out: &mut Report) {
    let iv = s.interval();
    let (Some(first), Some(last)) = (iv.first(), iv.last()) else { return };
    if iv.len() < 2 {
        return;
    }
    let key = |x: &memdx_parse::mem_samples::Sample| x.avail_kb.or(x.free_kb);
    let label = if first.avail_kb.is_some() { "available" } else { "free" };
    let (Some(a), Some(b)) = (key(first), key(last)) else { return };
    let min = iv.iter().filter_map(key).min().unwrap_or(b);
    let total = case.meminfo.as_ref().and_then(|m| m.kb("MemTotal"));
    let fell = a.saturating_sub(b);
    let mut expl = format!(
        "{} memory went from {} ({}) to {} ({}) over {} samples; lowest {}.",
        label,
        kib(a),
        first.time.as_deref().unwrap_or("first sample"),
        kib(b),
        last.time.as_deref().unwrap_or("last sample"),
        iv.len(),
        kib(min)
    );
    if label == "free" {
        expl.push_str(" Free memory alone is not what is left: page cache is reclaimable (vmstat `cache`, sar `kbcached`).");
    }
    let share = total.map(|t| memdx_core::units::pct(fell, t));
    if let Some(p) = share {
        expl.push_str(&format!(" The fall is {p:.0}% of MemTotal."));
    }
    let sev = if share.is_some_and(|p| p >= 10.0) && label == "available" {
        Severity::Warning
    } else {
        Severity::Info
    };
    out.findings.push(
        Finding::new(
            "samples.memory_trend",
            sev,
            format!("{}: {label} memory {} -> {} over {} samples", name(s.tool), kib(a), kib(b), iv.len()),
        )
        .explain(expl)
        .evidence(Evidence::float(
            format!("{label} first"),
            a as f64 / 1024.0,
            Some("MiB"),
            Some(s.source.at(first.line as usize)),
        ))
        .evidence(Evidence::float(
            format!("{label} last"),
            b as f64 / 1024.0,
            Some("MiB"),
            Some(s.source.at(last.line as usize)),
        ))
        .score(fell as f64),
    );
}

fn commit(s: &MemSamples, out: &mut Report) {
    let Some(peak) = s
        .samples
        .iter()
        .filter(|x| x.commit_pct.is_some_and(|c| c > 100.0))
        .max_by(|a, b| a.commit_pct.unwrap_or(0.0).total_cmp(&b.commit_pct.unwrap_or(0.0)))
    else {
        return;
    };
    let c = peak.commit_pct.unwrap_or(0.0);
    out.findings.push(
        Finding::new("samples.overcommitted", Severity::Warning, format!("sar -r: {c:.0}% of RAM + swap committed"))
            .explain(format!(
                "sar's %commit is Committed_AS against RAM plus swap: at {c:.0}% the kernel has promised more memory than \
                 exists. It works while processes do not touch all they reserved; when they do, the machine reclaims, swaps \
                 and finally OOM-kills."
            ))
            .evidence(Evidence::float("%commit", c, Some("%"), Some(s.source.at(peak.line as usize))))
            .next("sysctl vm.overcommit_memory vm.overcommit_ratio; grep Commit /proc/meminfo")
            .score(c),
    );
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn vmstat_swapping_and_sar() {
        // vmstat(8)'s own example layout, with swapping in two of three intervals.
        let t = "$ vmstat 5 4\nprocs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----\n r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st\n 1  0 102400  51200   1000  20000    5   10   100   100  100  100  5  5 90  0  0\n 2  3 204800  40960   1000  18000  800 2400  3000   900  900  900 10 20 20 50  0\n 1  1 307200  30720   1000  16000  300 1200  1000   400  500  500  8 12 50 30  0\n 1  0 307200  30720   1000  16000    0    0     0     0  100  100  5  5 90  0  0\n";
        let mut c = Case::new();
        c.ingest("vm.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "samples.swapping").expect("swapping");
        assert!(
            f.title.contains("swapping in 2 of 3 intervals (peak si 800 / so 2400 KiB/s)"),
            "{}",
            f.title
        );
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(5));
        assert_eq!(f.severity, memdx_core::Severity::Warning);
        // The real `sar -r 1 3` of the 6.18 machine: kbavail 22682236 -> 22823132.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats");
        let mut c = Case::new();
        c.ingest("sar.txt", &std::fs::read_to_string(dir.join("sar_r_1_3.txt")).unwrap(), None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "samples.memory_trend").expect("trend");
        assert!(f.title.contains("available memory 21.6 GiB -> 21.8 GiB over 3 samples"), "{}", f.title);
        assert!(!r.findings.iter().any(|f| f.id == "samples.swapping" || f.id == "samples.overcommitted"));
    }
}
