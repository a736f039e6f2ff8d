//! Rule `reclaim.memcg_storm` (seeds 001/002: 4.18 arm64 Kubernetes nodes, load in the hundreds,
//! sys CPU in `shrink_slab` / `down_read_trylock`): reclaim that runs all the time and frees almost
//! nothing, joined with what makes each attempt expensive and futile.
//!
//! The kernel behaviour it encodes:
//! - no swap: anonymous pages cannot be reclaimed, so once anonymous memory fills a limit, reclaim
//!   can only scan the file LRU; what is left of it is small, dirty or referenced, so each attempt
//!   frees fewer than its 32 pages (SWAP_CLUSTER_MAX) while the priority falls;
//! - many memory cgroups: every memcg reclaim and every kswapd pass iterates over each memcg below the
//!   reclaim target (`mem_cgroup_iter`), scanning its LRUs and calling its shrinkers;
//! - `cgroup.memory=nokmem` on a kernel before 6.7: `shrink_slab_memcg` skips the slab shrinkers
//!   without clearing their bits in `shrinker_info->map`, and expanding the map sets every old bit,
//!   so every reclaim walks every memcg's shrinkers for nothing (commit 307bececcd12, "mm: shrinker:
//!   add a secondary array for shrinker_info::{map, nr_deferred}", reworked this in 6.7).
//!
//! Fires only when the reclaim itself is seen failing (a trace's storm, thrashing or shrinker
//! findings, a foreground episode lasting half a second, or memory PSI); the amplifiers alone are a
//! risk (`memcg.shrinker_walk`), not an incident.

use super::{Conclusion, Confidence, Facts, RuledOut};
use memdx_core::kver::KernelVersion;
use memdx_core::units::kib;
use memdx_core::{Finding, Severity, SourceRef};

pub const NAME: &str = "reclaim.memcg_storm";

/// Trace findings that reclaim fails to make progress.
const TRACE_STORM: &[&str] = &["reclaim.storm", "reclaim.thrashing", "reclaim.shrinker_dominated"];
/// A foreground episode this long is a stall: reclaiming 32 pages takes microseconds to
/// milliseconds when there is something to reclaim (seed 001: 1043 ms for 33 pages at priority 8).
const SLOW_EPISODE_NS: u64 = 500_000_000;
/// Memory cgroups from which walking them on every reclaim shows (the memcg analyzer's threshold).
const MANY_MEMCGS: u64 = crate::analyzers::memcg::MANY;

fn first_source(f: &Finding) -> Option<SourceRef> {
    f.evidence.iter().find_map(|e| e.source.clone())
}

/// The memory cgroup count with where it was read.
fn memcg_count(facts: &Facts) -> Option<(u64, String, Option<SourceRef>)> {
    let case = facts.case;
    if let Some(c) = &case.cgroups {
        if let Some(m) = c.get("memory") {
            return Some((m.num_cgroups, "/proc/cgroups".into(), Some(c.source.at(m.line as usize))));
        }
    }
    case.memcgs.as_ref().map(|w| {
        let dying = w.dying.unwrap_or(0);
        (
            w.live.saturating_add(dying),
            format!("memcg tree: {} live, {dying} dying", w.live),
            Some(w.source.clone()),
        )
    })
}

/// SwapTotal in KiB with where it was read.
fn swap_total(facts: &Facts) -> Option<(u64, &'static str, Option<SourceRef>)> {
    let case = facts.case;
    if let Some(m) = &case.meminfo {
        if let Some(kb) = m.kb("SwapTotal") {
            return Some((kb, "meminfo SwapTotal", m.at("SwapTotal")));
        }
    }
    if let Some(f) = case.frees.iter().find(|f| f.swap_total.is_some()) {
        let unit = f.unit.unwrap_or(1024);
        let kb = f.swap_total.unwrap_or(0).saturating_mul(unit) / 1024;
        return Some((kb, "free: Swap total", Some(f.source.at(f.line as usize))));
    }
    if let Some(k) = &case.kmem {
        if let Some(p) = k.pages("TOTAL SWAP") {
            return Some((p.saturating_mul(case.page_kb()), "crash> kmem -i TOTAL SWAP", k.at("TOTAL SWAP")));
        }
    }
    None
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let case = facts.case;
    // 1. The storm itself.
    let trace_findings: Vec<&Finding> =
        facts.findings.iter().filter(|f| TRACE_STORM.contains(&f.id.as_str())).collect();
    let slow: Vec<(&memdx_trace::ReclaimReport, &memdx_trace::episode::Episode)> = case
        .traces
        .iter()
        .filter_map(|t| {
            t.longest_episodes
                .iter()
                .filter(|e| {
                    e.kind != memdx_trace::event::EpisodeKind::Kswapd && e.duration_ns >= SLOW_EPISODE_NS
                })
                .max_by_key(|e| e.duration_ns)
                .map(|e| (t, e))
        })
        .collect();
    let psi = facts.finding("pressure.memory");
    if trace_findings.is_empty() && slow.is_empty() && psi.is_none() {
        return;
    }
    // Foreground episodes in a trace tie the stalls PSI measures to reclaim (rather than swap-in or I/O).
    let episodes: Vec<(&memdx_trace::ReclaimReport, &memdx_trace::report::KindStats)> = case
        .traces
        .iter()
        .flat_map(|t| t.foreground().filter(|k| k.complete > 0).map(move |k| (t, k)))
        .collect();
    let traced = !trace_findings.is_empty() || !slow.is_empty() || (psi.is_some() && !episodes.is_empty());
    let severity = trace_findings
        .iter()
        .map(|f| f.severity)
        .chain(psi.map(|f| f.severity))
        .chain((!slow.is_empty()).then_some(Severity::Warning))
        .max()
        .unwrap_or(Severity::Warning)
        .max(Severity::Warning);

    let mut head = Vec::new();
    let mut c = Conclusion::new(NAME, severity, String::new());
    for f in &trace_findings {
        head.push(f.title.clone());
        c.link(f.title.clone(), Some(&f.id), first_source(f));
    }
    for (t, e) in &slow {
        let fact = format!(
            "a {} reclaim episode of {} (pid {}) took {:.0} ms and reclaimed {} pages{}",
            e.kind.label(),
            e.comm,
            e.pid,
            e.duration_ns as f64 / 1e6,
            e.nr_reclaimed.map_or_else(|| "an unknown number of".into(), |n| n.to_string()),
            e.lowest_priority.map(|p| format!(", down to priority {p}")).unwrap_or_default()
        );
        if trace_findings.is_empty() {
            head.push(fact.clone());
        }
        c.link(fact, Some("reclaim.episodes"), Some(SourceRef::new(t.source.as_str())));
    }
    if let Some(p) = psi {
        head.push(p.title.clone());
        c.link(p.title.clone(), Some(&p.id), first_source(p));
        if trace_findings.is_empty() {
            for (t, k) in &episodes {
                c.link(
                    format!(
                        "the trace holds {} {} reclaim episodes ({} pages reclaimed, p99 {:.1} ms{})",
                        k.complete,
                        k.kind.label(),
                        k.reclaimed,
                        k.p99_ns as f64 / 1e6,
                        k.lowest_priority.map(|p| format!(", down to priority {p}")).unwrap_or_default()
                    ),
                    Some("reclaim.episodes"),
                    Some(SourceRef::new(t.source.as_str())),
                );
            }
        }
    }
    // Cgroups stalling at the same time: their workload is the one competing for memory.
    let mut stalled = Vec::new();
    for f in facts.findings.iter().filter(|f| f.id == "pressure.cgroup") {
        c.link(f.title.clone(), Some(&f.id), first_source(f));
        if let Some(cg) = f.title.strip_prefix("cgroup ").and_then(|t| t.split(" under pressure").next()) {
            stalled.push(cg.to_string());
        }
    }
    // The kernel's reclaim counters since boot: how much of what reclaim took was read back at once.
    if let Some(v) = &case.vmstat {
        let scanned = reclaim_total(v, "pgscan");
        let stolen = reclaim_total(v, "pgsteal");
        let refaults =
            v.get("workingset_refault_file").map(|f| f + v.get("workingset_refault_anon").unwrap_or(0));
        let refaults = refaults.or_else(|| v.get("workingset_refault"));
        let stalls = v.sum_prefix("allocstall");
        if scanned > 0 {
            let mut fact = format!(
                "since boot (/proc/vmstat): {stolen} of {scanned} pages scanned were reclaimed ({:.0}%)",
                memdx_core::units::pct(stolen, scanned)
            );
            if let Some(r) = refaults {
                fact.push_str(&format!(", {r} reclaimed pages were read back (workingset_refault)"));
            }
            if stalls > 0 {
                fact.push_str(&format!(", {stalls} direct reclaim stalls (allocstall)"));
            }
            c.link(fact, Some("vmstat"), v.source_of("pgscan_file").or_else(|| v.source_of("pgsteal_file")));
        }
    }
    let file_only = facts.finding("reclaim.file_only");
    if let Some(f) = file_only {
        c.link(
            "not one anonymous page was scanned: reclaim could only drop page cache".to_string(),
            Some(&f.id),
            first_source(f),
        );
    }

    // 2. What makes each attempt futile or expensive.
    let mut why = Vec::new();
    let mut present = 0;
    let mut known = 0;
    match swap_total(facts) {
        Some((0, what, src)) => {
            known += 1;
            present += 1;
            why.push(
                "there is no swap, so anonymous memory cannot be reclaimed and reclaim scans only the page cache left \
                 beside it, at falling priority"
                    .to_string(),
            );
            c.link(format!("{what} 0: no swap"), Some("memory.swap"), src);
        }
        Some((kb, what, src)) => {
            known += 1;
            let anon_idle = file_only.is_some();
            c.ruled_out.push(RuledOut {
                what: "no swap to reclaim anonymous memory into".into(),
                because: format!(
                    "{what} {}{}",
                    kib(kb),
                    if anon_idle {
                        "; yet reclaim scanned no anonymous page: memory.swappiness is 0 (or memory.swap.max 0) \
                         where it ran"
                    } else {
                        ""
                    }
                ),
                source: src,
            });
        }
        None => c.unknown("whether the machine has swap", "grep -i swap /proc/meminfo (or free -m)"),
    }
    match &memcg_count(facts) {
        Some((n, what, src)) if *n >= MANY_MEMCGS => {
            known += 1;
            present += 1;
            why.push(format!(
                "{n} memory cgroups: every reclaim iterates over each one below its target, scanning its LRUs and \
                 calling its shrinkers"
            ));
            c.link(format!("{n} memory cgroups ({what})"), Some("memcg.count"), src.clone());
        }
        Some((n, what, src)) => {
            known += 1;
            c.ruled_out.push(RuledOut {
                what: "a walk over many memory cgroups at each reclaim".into(),
                because: format!("{n} memory cgroups ({what}), fewer than {MANY_MEMCGS}"),
                source: src.clone(),
            });
        }
        None => c.unknown("how many memory cgroups the kernel tracks", "grep memory /proc/cgroups"),
    }
    let version = case.version();
    match &case.cmdline {
        Some(cl) => {
            known += 1;
            let nokmem =
                cl.get("cgroup.memory").flatten().is_some_and(|v| v.split(',').any(|x| x == "nokmem"));
            let before = version.map(|v| v < KernelVersion::new(6, 7, 0));
            match (nokmem, before) {
                (false, _) => c.ruled_out.push(RuledOut {
                    what: "stale shrinker bits of cgroup.memory=nokmem".into(),
                    because: "the kernel command line has no cgroup.memory=nokmem".into(),
                    source: Some(cl.source.clone()),
                }),
                (true, Some(false)) => c.ruled_out.push(RuledOut {
                    what: "stale shrinker bits of cgroup.memory=nokmem".into(),
                    because: format!(
                        "kernel {} has the shrinker_info rework of 6.7 (307bececcd12)",
                        version.map(|v| v.to_string()).unwrap_or_default()
                    ),
                    source: case.kernel.as_ref().map(|k| k.source.clone()),
                }),
                (true, before) => {
                    present += 1;
                    why.push(format!(
                        "cgroup.memory=nokmem on {}: the slab shrinkers are skipped for each memcg without clearing \
                         their shrinker_info bits, so every reclaim walks every memcg's shrinkers for nothing",
                        match (before, version) {
                            (Some(true), Some(v)) => format!("kernel {v} (before 6.7)"),
                            _ => "a kernel whose version is not given (the walk is fixed in 6.7)".into(),
                        }
                    ));
                    c.link(
                        "kernel command line: cgroup.memory=nokmem",
                        Some("cmdline"),
                        Some(cl.source.clone()),
                    );
                    match (&case.kernel, version) {
                        (Some(k), Some(v)) => c.link(
                            format!("kernel {v}: before 6.7, without commit 307bececcd12"),
                            Some("kernel"),
                            Some(k.source.clone()),
                        ),
                        _ => c.unknown("the kernel version (the stale bits are fixed in 6.7)", "uname -r"),
                    }
                }
            }
        }
        None => c.unknown(
            "whether kmem accounting is off (cgroup.memory=nokmem: stale shrinker bits before 6.7)",
            "cat /proc/cmdline; uname -r",
        ),
    }
    if !traced {
        c.unknown(
            "how many pages each reclaim attempt frees, at what priority, and the time in shrink_slab",
            "memdx trace reclaim --duration 30s",
        );
    }

    // 3. The verdict.
    let what = head.first().cloned().unwrap_or_default();
    let mut cause = match (why.is_empty(), known) {
        (false, _) => format!("Tasks stall in reclaim that frees little ({what}) because {}.", join_and(&why)),
        (true, 3) => format!(
            "Tasks stall in reclaim that frees little ({what}); swap exists, the memory cgroups are few and no \
             stale shrinker walk applies: the workload needs more memory than it is given."
        ),
        (true, _) => format!(
            "Tasks stall in reclaim that frees little ({what}); what makes each attempt futile (no swap, many memory \
             cgroups, cgroup.memory=nokmem) is not in the inputs."
        ),
    };
    if !stalled.is_empty() {
        cause.push_str(&format!(
            " Stalling with it: {} (the workload competing for the memory: contain it with a memory limit).",
            stalled.join(", ")
        ));
    }
    let mut remedies = Vec::new();
    if why.iter().any(|w| w.starts_with("there is no swap")) {
        remedies.push(
            "add swap with memory.swappiness per cgroup (v1) or memory.swap.max (v2) so anonymous memory can be reclaimed",
        );
    }
    remedies.push("give the cgroups that reclaim more room (higher limits) or less to hold");
    if why.iter().any(|w| w.starts_with("cgroup.memory=nokmem")) {
        remedies.push("backport 307bececcd12 or boot without cgroup.memory=nokmem");
    }
    let mut remedy = match remedies.as_slice() {
        [rest @ .., last] if !rest.is_empty() => format!("{}, and {last}", rest.join(", ")),
        _ => remedies.concat(),
    };
    let first = remedy[..1].to_uppercase();
    remedy.replace_range(..1, &first);
    cause.push(' ');
    cause.push_str(&remedy);
    cause.push('.');
    c.cause = cause;
    c.confidence = match (traced, present) {
        (true, p) if p >= 2 => Confidence::High,
        (_, p) if p >= 1 => Confidence::Medium,
        _ => Confidence::Low,
    };
    c.confidence_why = match (traced, present, known) {
        (true, p, _) if p >= 2 => {
            "reclaim is measured failing (the trace's episodes, memory pressure), and the \
                                   machine's own files show what makes each attempt futile"
                .into()
        }
        (true, 1, _) => {
            "reclaim is measured failing and one amplifier is shown; the others are absent or not given"
                .into()
        }
        (false, p, _) if p >= 1 => {
            "tasks are seen stalling and an amplifier is shown, but no trace ties the stalls to reclaim"
                .into()
        }
        (_, _, k) if k < 3 => "the amplifiers this rule knows are not in the inputs (see Unknown)".into(),
        _ => "none of the amplifiers this rule knows is present: the cause is the workload's demand".into(),
    };
    for f in trace_findings.iter().copied().chain(psi) {
        for s in &f.next_steps {
            if !c.next_steps.contains(s) {
                c.next_steps.push(s.clone());
            }
        }
    }
    if let Some(m) = facts.finding("memcg.shrinker_walk").or_else(|| facts.finding("memcg.many")) {
        c.covers.push(m.id.clone());
    }
    c.covers.extend(trace_findings.iter().map(|f| f.id.clone()));
    c.covers.extend(psi.map(|f| f.id.clone()));
    c.score = 1e5;
    out.push(c);
}

/// Pages scanned or stolen since boot: by LRU type (`_anon` + `_file`, since 5.8), else by who
/// (kswapd, direct, khugepaged; per zone before 4.8, summed by prefix; `pgscan_direct_throttle`
/// counts throttles, not pages).
fn reclaim_total(v: &memdx_parse::kv::Counters, what: &str) -> u64 {
    let get = |k: &str| v.get(&format!("{what}_{k}"));
    if let (Some(a), Some(f)) = (get("anon"), get("file")) {
        return a.saturating_add(f);
    }
    ["kswapd", "direct", "khugepaged"]
        .iter()
        .map(|w| v.sum_prefix(&format!("{what}_{w}")))
        .fold(0, u64::saturating_add)
        .saturating_sub(v.get(&format!("{what}_direct_throttle")).unwrap_or(0))
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{}; and {last}", rest.join("; ")),
    }
}
