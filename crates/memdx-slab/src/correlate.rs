//! Findings from slab-leak evidence, and the one that ties them together: a unit failing in a loop
//! -> systemd creating and removing a cgroup each time -> a memcg-related cache growing along a
//! `cgroup_mkdir` call path (seed 000).
//!
//! Pure: takes the reports built by the other modules.

use crate::cgroup::{is_memcg_cache, Hierarchy};
use crate::journal::{FailureKind, JournalReport, UnitFailures};
use crate::kmem::KmemReport;
use crate::pairing::{CacheActivity, PairingReport, PathCount};
use crate::tools::ToolStacks;
use memdx_core::kver::KernelVersion;
use memdx_core::units::kib;
use memdx_core::{Evidence, Finding, Severity, SourceRef};
use memdx_parse::slabinfo::SlabTable;

/// Everything the slab-leak findings use; absent parts are skipped.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlabEvidence<'a> {
    /// slub_debug `TRACE` pairing from kernel logs.
    pub pairing: Option<&'a PairingReport>,
    /// A kmem tracepoint capture (`memdx trace slab --save`).
    pub kmem: Option<&'a KmemReport>,
    /// Stacks from bcc/bpftrace/perf outputs.
    pub tools: &'a [ToolStacks],
    pub journals: &'a [JournalReport],
    /// The latest slab table (slabinfo or slabtop).
    pub slab: Option<&'a SlabTable>,
    /// `/proc/meminfo` SUnreclaim, KiB, with its source.
    pub sunreclaim_kb: Option<(u64, &'a SourceRef)>,
    pub kernel: Option<KernelVersion>,
    pub hierarchies: &'a [Hierarchy],
}

/// A unit fails in a loop when it has many events at a short, regular period.
pub fn looping_units(journals: &[JournalReport]) -> Vec<&UnitFailures> {
    let mut v: Vec<&UnitFailures> = journals
        .iter()
        .flat_map(|j| j.units.iter())
        .filter(|u| u.events >= 20 && u.period_s.is_some_and(|p| p > 0.0 && p <= 600.0))
        .collect();
    v.sort_by_key(|u| std::cmp::Reverse(u.events));
    v
}

fn fmt_period(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn fmt_span(s: f64) -> String {
    let h = (s / 3600.0).floor();
    let m = ((s - h * 3600.0) / 60.0).round();
    if h >= 48.0 {
        format!("{:.1} days", s / 86400.0)
    } else {
        format!("{h} h {m} min")
    }
}

fn cgroup_path(p: &PathCount) -> bool {
    p.path.iter().any(|f| {
        f == "cgroup_mkdir" || f == "memcg_create_kmem_cache" || f == "css_create" || f == "cgroup_create"
    })
}

fn activities<'a>(ev: &SlabEvidence<'a>) -> Vec<(&'a CacheActivity, &'static str)> {
    let mut v = Vec::new();
    if let Some(p) = ev.pairing {
        v.extend(p.caches.iter().map(|c| (c, "slub_debug TRACE")));
    }
    if let Some(k) = ev.kmem {
        v.extend(k.slab.caches.iter().map(|c| (c, "kmem tracepoints")));
    }
    v
}

/// Tool stacks that go through cgroup creation, with the comms that took them.
fn tool_cgroup_stacks(tools: &[ToolStacks]) -> Vec<(String, u64, SourceRef)> {
    let mut out: Vec<(String, u64, SourceRef)> = Vec::new();
    for t in tools {
        for s in &t.samples {
            let names: Vec<&str> = s.stack.frames.iter().map(|f| f.name()).collect();
            let hit = names
                .iter()
                .find(|n| matches!(**n, "cgroup_mkdir" | "memcg_create_kmem_cache" | "cgroup_rmdir"));
            if let Some(h) = hit {
                let label = format!("{h} from {}", s.comm.as_deref().unwrap_or("?"));
                match out.iter_mut().find(|(l, _, _)| *l == label) {
                    Some(e) => e.1 += s.count,
                    None => out.push((label, s.count, s.source.clone())),
                }
            }
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.1));
    out
}

/// All slab-leak findings.
pub fn findings(ev: &SlabEvidence<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let loops = looping_units(ev.journals);
    let tool_cg = tool_cgroup_stacks(ev.tools);
    let mut correlated = false;
    for (c, how) in activities(ev) {
        if c.double_frees > 0 {
            let mut f = Finding::new(
                "slab.trace.double_free",
                Severity::Critical,
                format!("{}: {} objects freed twice in the traced window", c.cache, c.double_frees),
            )
            .explain(format!(
                "The same object pointer of {} was freed again without an allocation in between ({how}). \
                 This is memory corruption in the making; the free stacks show who.",
                c.cache
            ))
            .score(c.double_frees as f64);
            for s in &c.double_free_examples {
                f = f.evidence(Evidence::text("second free", c.cache.clone(), Some(s.clone())));
            }
            out.push(f.next(
                "boot with slub_debug=FZPU,".to_string() + &c.cache + " to catch it at the second free",
            ));
        }
        if c.net <= 0 || c.allocs < 10 {
            continue;
        }
        let share = c.net as f64 / c.allocs as f64;
        if share < 0.05 {
            continue;
        }
        let top = c.top_outstanding();
        let span = c.span_s.unwrap_or(0.0);
        let rate = if span > 0.0 {
            format!(" (+{:.0} objects/min)", c.net as f64 / span * 60.0)
        } else {
            String::new()
        };
        let mut explanation = format!(
            "In {:.0} s of {how}, {} allocations vs {} frees of {}: {} more objects{rate}; {} objects allocated \
             in the window were still not freed at its end.",
            span, c.allocs, c.frees, c.cache, c.net, c.outstanding
        );
        if let Some(t) = top {
            explanation.push_str(&format!(
                " {} of them were allocated on one path: {}{}.",
                t.count,
                t.short(8),
                t.comm.as_deref().map(|c| format!("  comm {c}")).unwrap_or_default()
            ));
        }
        let slab_row = ev.slab.and_then(|s| s.get(&c.cache).map(|r| (s, r)));
        if let Some((s, r)) = slab_row {
            explanation.push_str(&format!(
                " The cache holds {} objects of {} bytes ({}).",
                r.active_objs,
                r.objsize,
                kib(r.active_objs * r.objsize / 1024)
            ));
            let _ = s;
        }
        let driver_cg =
            top.is_some_and(cgroup_path) || c.drivers.first().is_some_and(|d| d.driver == "cgroup_mkdir");
        let unit = loops.first().copied();
        let memcg = is_memcg_cache(&c.cache);
        if (driver_cg || memcg && !tool_cg.is_empty()) && unit.is_some() {
            correlated = true;
        }
        let id = if driver_cg || memcg && !tool_cg.is_empty() {
            "slab.leak.cgroup_churn"
        } else {
            "slab.leak.trace"
        };
        let sev = if c.net as f64 / span.max(1.0) * 3600.0 > 10000.0 || share > 0.2 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let title = if id == "slab.leak.cgroup_churn" {
            format!("slab leak driven by cgroup churn: {}", c.cache)
        } else {
            format!("{} grows: {} allocations vs {} frees", c.cache, c.allocs, c.frees)
        };
        let mut f = Finding::new(id, sev, title).score(c.net as f64);
        f = f
            .evidence(Evidence::int("allocations", c.allocs as i64, None, c.first_source.clone()))
            .evidence(Evidence::int("frees", c.frees as i64, None, c.first_source.clone()))
            .evidence(Evidence::int(
                "outstanding objects",
                c.outstanding as i64,
                None,
                c.first_source.clone(),
            ));
        if let Some(r) = c.net_per_hour {
            f = f.evidence(Evidence::float("growth", r, Some("objects/h"), c.first_source.clone()));
        }
        if let Some(t) = top {
            f = f.evidence(Evidence::text("top outstanding path", t.short(8), t.example.clone()));
            if let Some(cm) = &t.comm {
                f = f.evidence(Evidence::text("allocating task", cm.clone(), t.example.clone()));
            }
        }
        if let Some((s, r)) = slab_row {
            f = f.evidence(Evidence::int(
                "objects in cache",
                r.active_objs as i64,
                None,
                Some(s.source.at(r.line as usize)),
            ));
        }
        for (label, n, src) in tool_cg.iter().take(3) {
            f = f.evidence(Evidence::int(
                format!("tool stacks: {label}"),
                *n as i64,
                None,
                Some(src.clone()),
            ));
        }
        if let (true, Some(u)) = (id == "slab.leak.cgroup_churn", unit) {
            let period = u.period_s.unwrap_or(0.0);
            explanation.push_str(&format!(
                " Driver: {}: {} every {} ({} times in {}, {}); each attempt makes systemd create and \
                 remove a cgroup, and every cgroup directory allocates kernfs nodes (and memcg structures).",
                u.unit,
                u.kind.label(),
                fmt_period(period),
                u.events,
                fmt_span(u.span_s),
                u.first_source
            ));
            f = f
                .evidence(Evidence::text("failing unit", u.unit.clone(), Some(u.first_source.clone())))
                .evidence(Evidence::float("failure period", period, Some("s"), Some(u.first_source.clone())))
                .evidence(Evidence::int("failures", u.events as i64, None, Some(u.first_source.clone())));
            f = f.next(remedy_for(u));
        } else if id == "slab.leak.cgroup_churn" {
            f = f.next(
                "find who creates cgroups: memdx trace slab ".to_string()
                    + &c.cache
                    + " (cgroup_mkdir by comm), or journalctl -b | grep -E 'Failed|restart counter'",
            );
        } else {
            f = f.next(format!(
                "confirm live without reboot: memdx trace slab {} --duration 60s; the top path names the caller",
                c.cache
            ));
        }
        if id == "slab.leak.cgroup_churn" {
            match ev.kernel {
                Some(k) if !k.at_least(5, 9) => {
                    explanation.push_str(&format!(
                        " On this kernel ({k}, before 5.9) every memcg also gets its own copy of each kmem cache it \
                         allocates from (memcg_create_kmem_cache), with sysfs entries per copy: per-memcg kmem \
                         accounting amplifies the churn."
                    ));
                    f = f.next("on kernels < 5.9: boot with cgroup.memory=nokmem, or move to 5.9+ (shared per-object accounting)");
                }
                Some(_) => {}
                None => {
                    f = f.next("if the kernel is older than 5.9, per-memcg kmem caches amplify this: cgroup.memory=nokmem or a newer kernel");
                }
            }
            f = f.next("watch dying memcgs: grep memory /proc/cgroups (num_cgroups) vs find /sys/fs/cgroup/memory -type d | wc -l");
        }
        out.push(f.explain(explanation));
    }
    // Tool stacks alone (no pairing): name the cgroup creators.
    if activities(ev).is_empty() && !tool_cg.is_empty() {
        let (label, n, src) = &tool_cg[0];
        let mut f = Finding::new("slab.stacks.cgroup_creation", Severity::Info, format!("traced stacks create cgroups: {label}"))
            .explain(format!("{n} traced stacks go through cgroup creation ({label}); cgroup churn fills kernfs_node_cache and memcg caches."))
            .evidence(Evidence::int(label.clone(), *n as i64, None, Some(src.clone())))
            .score(*n as f64);
        if let Some(u) = loops.first() {
            f = f.next(remedy_for(u));
        }
        out.push(f);
    }
    // Looping units not already tied to a cache.
    for u in loops.iter().skip(usize::from(correlated)).take(5) {
        let period = u.period_s.unwrap_or(0.0);
        let sev = if period <= 60.0 && u.events >= 1000 { Severity::Warning } else { Severity::Info };
        let mut f = Finding::new(
            "systemd.unit.failure_loop",
            sev,
            format!("{} fails every {} ({} times)", u.unit, fmt_period(period), u.events),
        )
        .explain(format!(
            "{} reports '{}' for {} {} times from {} to {} ({}), at a median interval of {} ({:.0}% of intervals within 10%). \
             Every start attempt of a unit creates and removes its cgroup.",
            u.reporter,
            u.kind.label(),
            u.unit,
            u.events,
            u.first,
            u.last,
            fmt_span(u.span_s),
            fmt_period(period),
            u.regularity.unwrap_or(0.0) * 100.0
        ))
        .evidence(Evidence::int("events", u.events as i64, None, Some(u.first_source.clone())))
        .evidence(Evidence::float("period", period, Some("s"), Some(u.first_source.clone())))
        .score(u.events as f64);
        if let Some(n) = u.max_restart_counter {
            f = f.evidence(Evidence::int("restart counter", n as i64, None, Some(u.first_source.clone())));
        }
        out.push(f.next(remedy_for(u)));
    }
    for h in ev.hierarchies {
        let Some(d) = h.dying else { continue };
        if d < 100 || d * 2 < h.present.unwrap_or(0) {
            continue;
        }
        out.push(
            Finding::new("cgroup.dying", if d > 10000 { Severity::Warning } else { Severity::Info }, format!("{d} dying {} cgroups", h.controller))
                .explain(format!(
                    "/proc/cgroups counts {} {} cgroups but only {} directories exist: {d} were removed and are still \
                     pinned (page cache or kernel memory charged to them). Each holds its mem_cgroup and per-cpu data.",
                    h.num_cgroups,
                    h.controller,
                    h.present.unwrap_or(0)
                ))
                .evidence(Evidence::int("dying", d as i64, None, None))
                .next("drop the pinning page cache: echo 1 > /proc/sys/vm/drop_caches (test hosts), or find the churn: memdx trace slab mem_cgroup")
                .score(d as f64),
        );
    }
    out
}

fn remedy_for(u: &UnitFailures) -> String {
    if u.kind == FailureKind::DbusActivationFailed {
        format!(
            "{} is a D-Bus activation name: systemctl cat {} (its Alias= or the service it names is missing); \
             reinstall the package providing it, or mask it: systemctl mask {}",
            u.unit, u.unit, u.unit
        )
    } else {
        format!(
            "systemctl status {}; journalctl -u {} -b; fix the unit or stop the loop: systemctl mask {} (or set \
             Restart=no / StartLimitIntervalSec)",
            u.unit, u.unit, u.unit
        )
    }
}
