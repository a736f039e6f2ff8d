//! Findings from slab-leak evidence: a cache growing along a `cgroup_mkdir` call path
//! (`slab.leak.cgroup_churn`), other traced growth, units failing in a loop, dying cgroups. The join
//! of these into one story (a unit failing in a loop -> systemd creating and removing a cgroup each
//! time -> the memcg-related cache growing, seed 000) is the conclusion rule `slab.cgroup_churn` in
//! memdx-analyze (`conclude/cgroup_churn.rs`).
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

/// "systemd reports 'failed' for avahi-daemon.service 143146 times from T0 to T1": one unit's loop
/// as the finding and the conclusion both state it.
pub fn loop_summary(u: &UnitFailures) -> String {
    format!(
        "{} reports '{}' for {} {} times from {} to {}",
        u.reporter,
        u.kind.label(),
        u.unit,
        u.events,
        u.first,
        u.last
    )
}

pub fn fmt_period(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

pub fn fmt_span(s: f64) -> String {
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
    for (c, how) in activities(ev) {
        if c.repeated_frees > 0 {
            out.push(repeated_free_finding(c, how, ev.kmem));
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
        let memcg = is_memcg_cache(&c.cache);
        let unit = loops.first().copied();
        let id = if driver_cg || memcg && !tool_cg.is_empty() {
            "slab.leak.cgroup_churn"
        } else {
            "slab.leak.trace"
        };
        // A looping unit is the sustained evidence (hours of failures) for a cgroup-churn leak; a
        // trace alone must show growth over a long enough window, in most of its minutes.
        let unit_evidence = id == "slab.leak.cgroup_churn" && unit.is_some();
        if !unit_evidence {
            if let Some(f) = growth_not_leak(c, how, ev.kmem) {
                out.push(f);
                continue;
            }
        }
        let reclaimable = ev.kmem.is_some_and(|k| k.reclaimable_caches.contains(&c.cache));
        let sev = if reclaimable {
            // Reclaimable caches grow with use and shrink under pressure: never more than a warning.
            Severity::Warning
        } else if c.net as f64 / span.max(1.0) * 3600.0 > 10000.0 || share > 0.2 {
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
        if id == "slab.leak.cgroup_churn" {
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
    // Units failing in a loop (the conclusion rule `slab.cgroup_churn` ties one to a growing cache).
    for u in loops.iter().take(5) {
        let period = u.period_s.unwrap_or(0.0);
        let sev = if period <= 60.0 && u.events >= 1000 { Severity::Warning } else { Severity::Info };
        let mut f = Finding::new(
            "systemd.unit.failure_loop",
            sev,
            format!("{} fails every {} ({} times)", u.unit, fmt_period(period), u.events),
        )
        .explain(format!(
            "{} ({}), at a median interval of {} ({:.0}% of intervals within 10%). \
             Every start attempt of a unit creates and removes its cgroup.",
            loop_summary(u),
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
    // The memory controller's dying cgroups are memdx-analyze's `memcg.dying` (one finding per fact).
    for h in ev.hierarchies.iter().filter(|h| h.controller != "memory") {
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

/// The shortest trace window in which steady net growth is called a leak, seconds.
pub const MIN_LEAK_SPAN_S: f64 = 600.0;
/// Share of the full growth windows that must grow for the growth to be sustained.
const SUSTAINED_SHARE: f64 = 0.75;

/// The run length to suggest after a window of `span` seconds.
fn suggested_duration(span: f64) -> &'static str {
    if span < MIN_LEAK_SPAN_S / 2.0 {
        "10m"
    } else {
        "30m"
    }
}

/// An INFO finding when `c` grew but the window does not support a leak verdict: shorter than
/// [`MIN_LEAK_SPAN_S`], or growth not sustained over its minutes. `None` when it does.
fn growth_not_leak(c: &CacheActivity, how: &str, kmem: Option<&KmemReport>) -> Option<Finding> {
    let span = c.span_s.unwrap_or(0.0);
    let full = (span / crate::pairing::GROWTH_BUCKET_S).floor() as usize;
    let windows = &c.net_by_window[..full.min(c.net_by_window.len())];
    let growing = windows.iter().filter(|n| **n > 0).count();
    let sustained = !windows.is_empty() && growing as f64 >= SUSTAINED_SHARE * windows.len() as f64;
    if span >= MIN_LEAK_SPAN_S && sustained {
        return None;
    }
    let reclaimable = kmem.is_some_and(|k| k.reclaimable_caches.contains(&c.cache));
    let run = suggested_duration(span);
    let (title, why) = if span < MIN_LEAK_SPAN_S {
        (
            format!("{} grew {} objects in {}; too short to call a leak", c.cache, c.net, fmt_period(span)),
            format!(
                "{how} cover {} ({} allocations, {} frees): caches grow in bursts with the workload and are freed \
                 later (RCU, shrinkers, the task's exit), so growth over less than {} is no evidence of a leak.",
                fmt_period(span),
                c.allocs,
                c.frees,
                fmt_period(MIN_LEAK_SPAN_S)
            ),
        )
    } else {
        (
            format!("{} grew {} objects in {}, not steadily; not a leak", c.cache, c.net, fmt_period(span)),
            format!(
                "{how} cover {}: net growth in {growing} of {} full minutes; a leak grows in most of them.",
                fmt_period(span),
                windows.len()
            ),
        )
    };
    let mut why = why;
    if reclaimable {
        why.push_str(&format!(
            " {} is reclaimable (SLAB_RECLAIM_ACCOUNT): it follows file activity and shrinks under memory pressure.",
            c.cache
        ));
    }
    Some(
        Finding::new("slab.growth.short", Severity::Info, title)
            .explain(why)
            .evidence(Evidence::int("net growth", c.net, None, c.first_source.clone()))
            .evidence(Evidence::float("window", span, Some("s"), c.first_source.clone()))
            .evidence(Evidence::int(
                "outstanding objects",
                c.outstanding as i64,
                None,
                c.first_source.clone(),
            ))
            .next(format!("trace longer: memdx trace slab {} --duration {run}", c.cache))
            .score(c.net as f64),
    )
}

/// Frees of a pointer already freed with no allocation between. slub_debug `TRACE` records every
/// allocation and free of the cache, so there it is a double free; kmem tracepoints miss
/// allocations (and lost events hide them), so there it is a count to check, not a verdict.
fn repeated_free_finding(c: &CacheActivity, how: &str, kmem: Option<&KmemReport>) -> Finding {
    let complete = how == "slub_debug TRACE";
    let mut f = if complete {
        Finding::new(
            "slab.trace.double_free",
            Severity::Critical,
            format!("{}: {} objects freed twice in the traced window", c.cache, c.repeated_frees),
        )
        .explain(format!(
            "slub_debug TRACE logs every allocation and free of {}; the same object was freed again without an \
             allocation in between. This is memory corruption in the making; the free stacks show who.",
            c.cache
        ))
    } else {
        let mut why = format!(
            "The same pointer of {} was freed again with no allocation of it traced in between ({how}). The kmem \
             tracepoints do not see every allocation (bpftrace on the same tracepoints shows such pairs on healthy \
             machines)",
            c.cache
        );
        if let Some(k) = kmem.filter(|k| k.lost > 0) {
            why.push_str(&format!(", and the ring buffer dropped {} events in this capture", k.lost));
        }
        why.push_str(": this is not evidence of a double free. A real one is caught by the kernel itself with slub_debug.");
        if kmem.is_some_and(|k| k.typesafe_rcu_caches.contains(&c.cache)) {
            why.push_str(&format!(
                " {} is SLAB_TYPESAFE_BY_RCU: its objects are reused at once, so one address is freed and allocated \
                 again often.",
                c.cache
            ));
        }
        Finding::new(
            "slab.trace.repeated_free",
            Severity::Info,
            format!("{}: {} repeated frees without a traced allocation between", c.cache, c.repeated_frees),
        )
        .explain(why)
    }
    .score(c.repeated_frees as f64);
    for s in &c.repeated_free_examples {
        f = f.evidence(Evidence::text(
            if complete { "second free" } else { "repeated free" },
            c.cache.clone(),
            Some(s.clone()),
        ));
    }
    f.next("boot with slub_debug=FZPU,".to_string() + &c.cache + " to catch a double free at the second free")
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
