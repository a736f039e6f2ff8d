//! Rule `slab.cgroup_churn` (seed 000): a unit failing in a loop makes systemd create and remove a
//! cgroup at every attempt; each cgroup allocates kernfs nodes and memcg structures (and, before
//! 5.9, per-memcg copies of kmem caches) that outlive it while charged pages pin it, so a
//! memcg-related cache grows on the `cgroup_mkdir` path and dying memcgs pile up.

use super::{Conclusion, Confidence, Facts};
use memdx_core::{Finding, Severity};
use memdx_slab::correlate::{fmt_period, fmt_span, loop_summary, looping_units};

pub const NAME: &str = "slab.cgroup_churn";

/// Findings that a cache grows on the cgroup creation path (traced allocations or tool stacks).
const GROWTH_ON_CGROUP_PATH: &[&str] = &["slab.leak.cgroup_churn", "slab.stacks.cgroup_creation"];
/// Findings that removed cgroups are still allocated.
const DYING: &[&str] = &["memcg.dying", "cgroup.dying", "memcg.pinned"];

fn evidence<'a>(f: &'a Finding, label: &str) -> Option<&'a memdx_core::Evidence> {
    f.evidence.iter().find(|e| e.label == label)
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let growth = facts.findings.iter().find(|f| GROWTH_ON_CGROUP_PATH.contains(&f.id.as_str()));
    let dying = facts.findings.iter().find(|f| DYING.contains(&f.id.as_str()));
    let loops = looping_units(&facts.case.journals);
    let unit = loops.first().copied();
    // A cache growing on the cgroup path is the slab side; a unit loop or dying memcgs the churn
    // side. One side alone is not this story.
    let Some(g) = growth else { return };
    if unit.is_none() && dying.is_none() && g.id != "slab.leak.cgroup_churn" {
        return;
    }
    let cache = g.title.rsplit(": ").next().unwrap_or("").to_string();
    let cache_named = memdx_slab::cgroup::is_memcg_cache(&cache) || g.id == "slab.leak.cgroup_churn";
    let cache = if cache_named { cache } else { "kernfs_node_cache".into() };
    let rate = evidence(g, "growth").map(|e| format!("+{} objects/h", e.value));
    let held = evidence(g, "objects in cache").map(|e| format!("{} objects", e.value));
    let size = facts
        .findings
        .iter()
        .find(|f| f.id == "slab.large_cache" && f.title.starts_with(&format!("{cache} ")))
        .map(|f| f.title.split(" holds ").nth(1).unwrap_or("").split(" (").next().unwrap_or("").to_string());
    let before_59 = facts.case.version().is_some_and(|v| !v.at_least(5, 9));
    let grows: Vec<String> =
        [rate.clone(), held.clone(), size.clone().filter(|s| !s.is_empty())].into_iter().flatten().collect();
    let grows = if grows.is_empty() { String::new() } else { format!(" ({})", grows.join(", ")) };
    let driver = match unit {
        Some(u) => format!(
            "{} fails in a loop ({} every {}, {} times in {})",
            u.unit,
            u.kind.label(),
            fmt_period(u.period_s.unwrap_or(0.0)),
            u.events,
            fmt_span(u.span_s)
        ),
        None => {
            "cgroups are created and removed in a loop (the unit or program doing it is not in the inputs)"
                .into()
        }
    };
    let cause = format!(
        "{driver}: each attempt makes systemd create and remove a cgroup, and each cgroup allocates kernfs nodes and \
         memcg structures, so {cache} grows on the cgroup_mkdir path{grows}{}. Stop the loop to stop the growth.",
        if before_59 { "; per-memcg kmem caches on this kernel (before 5.9) amplify it" } else { "" }
    );
    let mut c = Conclusion::new(NAME, Severity::Critical.min(g.severity.max(Severity::Warning)), cause);
    if let Some(u) = unit {
        c.link(
            format!("{}, every {}", loop_summary(u), fmt_period(u.period_s.unwrap_or(0.0))),
            Some("systemd.unit.failure_loop"),
            Some(u.first_source.clone()),
        );
    }
    for e in g.evidence.iter().filter(|e| e.label.starts_with("tool stacks: ")) {
        c.link(
            format!("{} ({} stacks)", e.label.trim_start_matches("tool stacks: "), e.value),
            Some(&g.id),
            e.source.clone(),
        );
    }
    let mut trace = Vec::new();
    if let (Some(a), Some(f)) = (evidence(g, "allocations"), evidence(g, "frees")) {
        trace.push(format!("{} allocations vs {} frees", a.value, f.value));
    }
    if let Some(p) = evidence(g, "top outstanding path") {
        trace.push(format!("outstanding objects allocated on {}", p.value));
    }
    if let Some(t) = evidence(g, "allocating task") {
        trace.push(format!("by {}", t.value));
    }
    let src = evidence(g, "allocations").or_else(|| g.evidence.first()).and_then(|e| e.source.clone());
    c.link(
        if trace.is_empty() { g.title.clone() } else { format!("{cache}: {}", trace.join(", ")) },
        Some(&g.id),
        src,
    );
    if let Some(e) = evidence(g, "objects in cache") {
        c.link(
            format!(
                "{cache} holds {} objects{}",
                e.value,
                size.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            ),
            Some("slab.large_cache"),
            e.source.clone(),
        );
    }
    if let Some(d) = dying {
        c.link(d.title.clone(), Some(&d.id), d.evidence.first().and_then(|e| e.source.clone()));
    }
    if let Some(s) = facts.finding("memory.unreclaimable_slab") {
        c.link(s.title.clone(), Some(&s.id), s.evidence.first().and_then(|e| e.source.clone()));
    }
    if let (true, Some(k)) = (before_59, &facts.case.kernel) {
        c.link(
            format!(
                "kernel {} is before 5.9: every memcg gets its own copy of each kmem cache it allocates from",
                k.release
            ),
            Some("kernel"),
            Some(k.source.clone()),
        );
    }
    let sides = usize::from(unit.is_some()) + usize::from(dying.is_some());
    c.confidence = if unit.is_some() && g.id == "slab.leak.cgroup_churn" {
        Confidence::High
    } else if sides > 0 {
        Confidence::Medium
    } else {
        Confidence::Low
    };
    c.confidence_why = match (unit.is_some(), g.id == "slab.leak.cgroup_churn") {
        (true, true) => "the traced allocations that stay outstanding come from cgroup creation, and a unit restarts at a regular period for hours".into(),
        (true, false) => "a unit restarts in a loop and traced stacks create cgroups, but no allocation/free pairing shows the cache's net growth".into(),
        (false, _) => "the cache grows on the cgroup creation path, but what creates the cgroups is not in the inputs".into(),
    };
    if unit.is_none() {
        c.unknown(
            "which unit or program creates the cgroups",
            "journalctl -b | grep -E 'Failed|restart counter|Scheduled restart' (or syslog), or memdx trace slab kernfs_node_cache",
        );
    }
    if dying.is_none() {
        c.unknown(
            "how many removed memcgs are still allocated (dying)",
            "cat /proc/cgroups; memdx snapshot (walks the memcg tree)",
        );
    }
    if let Some(u) = unit {
        c.next_steps.extend(
            facts
                .findings
                .iter()
                .filter(|f| f.id == "systemd.unit.failure_loop" && f.title.starts_with(&u.unit))
                .flat_map(|f| f.next_steps.iter().cloned()),
        );
    }
    c.next_steps.extend(g.next_steps.iter().cloned());
    c.covers = vec![g.id.clone()];
    c.score = 1e5;
    out.push(c);
}
