//! History-aware findings: which slab caches, processes and memcg counts grew steadily over the
//! recorded window, and whether fragmentation got worse. Pure: a [`History`] in, findings and
//! tables out.

use crate::sample::kind;
use crate::trend::{fit, verdict, Fit, Verdict};
use crate::{History, Series};
use memdx_analyze::analyzers::fragmentation::unusable_index;
use memdx_core::units::kib;
use memdx_core::{Evidence, Finding, Report, Severity, SourceRef, Table};
use std::collections::BTreeMap;

/// Net growth under which a slab cache is flat (KiB).
pub const SLAB_MIN_GROWTH_KB: f64 = 8.0 * 1024.0;
/// Net growth under which a process RSS is flat (KiB).
pub const RSS_MIN_GROWTH_KB: f64 = 64.0 * 1024.0;
/// Growth in dying memcgs worth naming.
pub const DYING_MIN_GROWTH: f64 = 100.0;
/// Order checked for the fragmentation trend: PAGE_ALLOC_COSTLY_ORDER, the largest order the
/// allocator retries hard for (kernel stacks, network buffers, slab pages of large objects).
pub const FRAG_ORDER: usize = 3;
/// The series kinds [`analyze`] reads (what `memdx history` and `diagnose --db` load).
pub const KINDS: &[&str] = &[
    kind::SLAB_KB,
    kind::SLAB_OBJS,
    kind::PROC_RSS,
    kind::MEMCG,
    kind::MEMCG_PINNED,
    kind::MEMCG_DYING_BY_PARENT,
    kind::BUDDY,
    kind::MEMINFO,
];

fn hours(s: i64) -> String {
    if s >= 2 * 86400 {
        format!("{:.1} d", s as f64 / 86400.0)
    } else if s >= 7200 {
        format!("{:.1} h", s as f64 / 3600.0)
    } else if s >= 120 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

fn rate_kb(f: &Fit) -> String {
    let h = f.per_hour();
    if h.abs() >= 1024.0 {
        format!("{:+.1} MiB/h", h / 1024.0)
    } else {
        format!("{h:+.0} KiB/h")
    }
}

fn signed_kib(v: f64) -> String {
    if v < 0.0 {
        format!("-{}", kib((-v) as u64))
    } else {
        format!("+{}", kib(v as u64))
    }
}

/// One series' fit and verdict.
pub struct Trend<'a> {
    pub series: &'a Series,
    pub fit: Fit,
    pub verdict: Verdict,
}

/// Fits every series of `k` and sorts by net growth, largest first.
pub fn trends<'a>(h: &'a History, k: &str, min_growth: f64) -> Vec<Trend<'a>> {
    let mut v: Vec<Trend> = h
        .series
        .iter()
        .filter(|s| s.kind == k)
        .filter_map(|s| fit(&s.points).map(|f| Trend { series: s, verdict: verdict(&f, min_growth), fit: f }))
        .collect();
    v.sort_by(|a, b| b.fit.growth().total_cmp(&a.fit.growth()).then(a.series.name.cmp(&b.series.name)));
    v
}

/// Unusable free space index at [`FRAG_ORDER`] over time, per zone (`node0/Normal`).
pub fn fragmentation_series(h: &History) -> BTreeMap<String, Vec<(i64, f64)>> {
    // zone -> time -> free blocks per order
    let mut per: BTreeMap<String, BTreeMap<i64, Vec<u64>>> = BTreeMap::new();
    for s in h.of_kind(kind::BUDDY) {
        let Some((zone, order)) = s.name.rsplit_once('/') else { continue };
        let Ok(order) = order.parse::<usize>() else { continue };
        if order > 20 {
            continue;
        }
        let z = per.entry(zone.to_string()).or_default();
        for &(t, v) in &s.points {
            let row = z.entry(t).or_default();
            if row.len() <= order {
                row.resize(order + 1, 0);
            }
            row[order] = v.max(0.0) as u64;
        }
    }
    per.into_iter()
        .map(|(zone, rows)| {
            let pts =
                rows.into_iter().map(|(t, free)| (t, unusable_index(&free, FRAG_ORDER) as f64)).collect();
            (zone, pts)
        })
        .collect()
}

/// Analyzes a loaded history. `mem_total_kb` (from the latest meminfo when known) scales severities.
pub fn analyze(h: &History) -> Report {
    let mut out = Report::default();
    let src = SourceRef::new(h.source.as_str());
    let window = hours(h.span());
    let mem_total_kb = h.get(kind::MEMINFO, "MemTotal").and_then(Series::last);

    // Too little history for any trend: say so, and what is needed.
    let samples = h.series.iter().map(|s| s.points.len()).max().unwrap_or(0);
    if samples < crate::trend::MIN_POINTS || h.span() < crate::trend::MIN_SPAN_S {
        out.findings.push(
            Finding::new(
                "history.too_short",
                Severity::Info,
                format!("{samples} samples over {window}: too few to call any trend"),
            )
            .explain(format!(
                "A trend verdict needs at least {} samples over at least {}; this history has {samples} over \
                 {window}, so no series is called growing, flat or leaking.",
                crate::trend::MIN_POINTS,
                hours(crate::trend::MIN_SPAN_S)
            ))
            .evidence(Evidence::int("samples", samples as i64, None, Some(src.clone())))
            .evidence(Evidence::int("span", h.span(), Some("s"), Some(src.clone())))
            .next("keep recording: memdx record --interval 10s (or the memdx-record systemd unit), then memdx history"),
        );
    }

    // Slab caches.
    let slabs = trends(h, kind::SLAB_KB, SLAB_MIN_GROWTH_KB);
    let mut rows = Vec::new();
    for t in slabs.iter().filter(|t| t.fit.growth() > 0.0).take(15) {
        rows.push(vec![
            t.series.name.clone(),
            kib(t.fit.first as u64),
            kib(t.fit.last as u64),
            signed_kib(t.fit.growth()),
            rate_kb(&t.fit),
            format!("{:.2}", t.fit.r2),
            t.verdict.as_str().into(),
        ]);
    }
    if !rows.is_empty() {
        out.tables.push(Table {
            id: "history.slab".into(),
            title: format!("Slab caches that grew over {window}"),
            columns: ["cache", "first", "last", "growth", "rate", "fit r2", "verdict"]
                .map(String::from)
                .to_vec(),
            rows,
            notes: vec![
                "steady growth: r2 >= 0.8 and at least 60% of steps not down; churn: net growth with swings"
                    .into(),
            ],
        });
    }
    for t in slabs.iter().filter(|t| t.verdict == Verdict::SteadyGrowth) {
        let growth = t.fit.growth();
        let big = growth >= 1024.0 * 1024.0 || mem_total_kb.is_some_and(|m| growth >= m * 0.1);
        let reclaimable = memdx_analyze::analyzers::slab::RECLAIMABLE.contains(&t.series.name.as_str());
        let objs = h.get(kind::SLAB_OBJS, &t.series.name).and_then(|s| fit(&s.points));
        let sev = if reclaimable || growth < SLAB_MIN_GROWTH_KB {
            Severity::Info
        } else if big {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let pct = if t.fit.first > 0.0 {
            format!(" (+{:.0}%)", growth / t.fit.first * 100.0)
        } else {
            String::new()
        };
        let title = if reclaimable {
            format!(
                "Slab cache {} grew by {}{pct} over {window}; reclaimable, follows the page cache",
                t.series.name,
                kib(growth as u64)
            )
        } else {
            format!("Slab cache {} grew steadily by {}{pct} over {window}", t.series.name, kib(growth as u64))
        };
        let mut explanation = format!(
            "{} went from {} to {} at {} with a straight-line fit of r2 {:.2} over {} samples; {:.0}% of the steps \
             between samples did not go down.",
            t.series.name,
            kib(t.fit.first as u64),
            kib(t.fit.last as u64),
            rate_kb(&t.fit),
            t.fit.r2,
            t.fit.n,
            t.fit.rising_steps * 100.0
        );
        explanation.push_str(if reclaimable {
            " It is reclaimable (SLAB_RECLAIM_ACCOUNT): it grows with the page cache and the files in use and \
             the kernel shrinks it under memory pressure, so steady growth here is not leak-like."
        } else {
            " Steady growth with few drops is what a leak looks like; a cache that is only busy rises and falls."
        });
        let mut f = Finding::new("history.slab.steady_growth", sev, title)
            .explain(explanation)
            .evidence(Evidence::int("first", t.fit.first as i64, Some("KiB"), Some(src.clone())))
            .evidence(Evidence::int("last", t.fit.last as i64, Some("KiB"), Some(src.clone())))
            .evidence(Evidence::float("rate", t.fit.per_hour(), Some("KiB/h"), Some(src.clone())))
            .evidence(Evidence::float("fit r2", t.fit.r2, None, Some(src.clone())))
            .evidence(Evidence::int("samples", t.fit.n as i64, None, Some(src.clone())));
        if let Some(o) = objs {
            f = f.evidence(Evidence::float("objects per hour", o.per_hour(), None, Some(src.clone())));
        }
        f = f
            .next(format!("memdx history --cache {} (the series sample by sample)", t.series.name))
            .next(format!(
                "memdx trace slab {} --duration 10m to catch the allocating call sites (or slub_debug=U,{} and \
                 /sys/kernel/slab/{}/alloc_calls)",
                t.series.name, t.series.name, t.series.name
            ))
            .score(growth);
        out.findings.push(f);
    }

    // Processes.
    let procs = trends(h, kind::PROC_RSS, RSS_MIN_GROWTH_KB);
    let rows: Vec<Vec<String>> = procs
        .iter()
        .filter(|t| t.fit.growth() > 0.0)
        .take(10)
        .map(|t| {
            vec![
                t.series.name.clone(),
                kib(t.fit.first as u64),
                kib(t.fit.last as u64),
                signed_kib(t.fit.growth()),
                rate_kb(&t.fit),
                t.verdict.as_str().into(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.tables.push(Table {
            id: "history.process".into(),
            title: format!("Processes whose RSS grew over {window}"),
            columns: ["process", "first", "last", "growth", "rate", "verdict"].map(String::from).to_vec(),
            rows,
            notes: vec!["only processes among the largest at each sample are recorded".into()],
        });
    }
    for t in procs.iter().filter(|t| t.verdict == Verdict::SteadyGrowth) {
        out.findings.push(
            Finding::new(
                "history.process.rss_growth",
                Severity::Warning,
                format!("{} grew steadily by {} over {}", t.series.name, kib(t.fit.growth() as u64), hours(t.fit.span_s)),
            )
            .explain(format!(
                "Its resident set went from {} to {} ({}, fit r2 {:.2}). A process that only grows \
                 holds on to memory it no longer uses (a userspace leak), or caches without bound.",
                kib(t.fit.first as u64),
                kib(t.fit.last as u64),
                rate_kb(&t.fit),
                t.fit.r2
            ))
            .evidence(Evidence::int("first RSS", t.fit.first as i64, Some("KiB"), Some(src.clone())))
            .evidence(Evidence::int("last RSS", t.fit.last as i64, Some("KiB"), Some(src.clone())))
            .evidence(Evidence::float("rate", t.fit.per_hour(), Some("KiB/h"), Some(src.clone())))
            .next("restart the service when possible and report the growth to its maintainers with this history")
            .next("grep -E 'Rss|Pss' /proc/<pid>/smaps_rollup; heaptrack or valgrind --tool=massif to find the allocation site")
            .score(t.fit.growth()),
        );
    }

    // Memory cgroups.
    let live = h.get(kind::MEMCG, "live").and_then(|s| fit(&s.points));
    let dying = h.get(kind::MEMCG, "dying").and_then(|s| fit(&s.points));
    if live.is_some() || dying.is_some() {
        let mut rows = Vec::new();
        for (name, f) in [("live", live), ("dying", dying)] {
            if let Some(f) = f {
                rows.push(vec![
                    name.into(),
                    format!("{:.0}", f.first),
                    format!("{:.0}", f.last),
                    format!("{:.0}", f.min),
                    format!("{:.0}", f.max),
                    format!("{:+.1}/h", f.per_hour()),
                ]);
            }
        }
        out.tables.push(Table {
            id: "history.memcg".into(),
            title: format!("Memory cgroups over {window}"),
            columns: ["memcgs", "first", "last", "min", "max", "trend"].map(String::from).to_vec(),
            rows,
            notes: vec![],
        });
    }
    if let Some(d) = dying.filter(|d| verdict(d, DYING_MIN_GROWTH) == Verdict::SteadyGrowth) {
        out.findings.push(
            Finding::new(
                "history.memcg.dying_growth",
                if d.last >= 10_000.0 { Severity::Critical } else { Severity::Warning },
                format!("Dying memory cgroups rose steadily from {:.0} to {:.0}", d.first, d.last),
            )
            .explain(format!(
                "Removed memory cgroups stay allocated (dying) while page cache or kernel memory is \
                 still charged to them. Their number rose at {:+.0} per hour (fit r2 {:.2}); each holds \
                 per-CPU and per-node structures, so memory and the cost of walking memcgs grow with it.",
                d.per_hour(),
                d.r2
            ))
            .evidence(Evidence::int("first", d.first as i64, None, Some(src.clone())))
            .evidence(Evidence::int("last", d.last as i64, None, Some(src.clone())))
            .evidence(Evidence::float("per hour", d.per_hour(), None, Some(src.clone())))
            .next("find the service that creates and removes cgroups (systemd transient units, container runtimes)")
            .next("echo 1 > /proc/sys/vm/drop_caches releases dying memcgs held only by page cache (test, not a fix)")
            .score(d.last),
        );
    }

    if let Some(t) = pinned_table(h) {
        out.tables.push(t);
    }

    // Fragmentation.
    let frag = fragmentation_series(h);
    let mut rows = Vec::new();
    for (zone, pts) in &frag {
        let Some(f) = fit(pts) else { continue };
        let v = verdict(&f, 100.0);
        rows.push(vec![
            zone.clone(),
            format!("{:.0}", f.first),
            format!("{:.0}", f.last),
            format!("{:.0}", f.max),
            format!("{:+.1}/h", f.per_hour()),
            v.as_str().into(),
        ]);
        if v == Verdict::SteadyGrowth && f.last >= 500.0 {
            out.findings.push(
                Finding::new(
                    "history.fragmentation.rising",
                    Severity::Warning,
                    format!(
                        "Fragmentation of {zone} rose steadily to {:.0}/1000 at order {FRAG_ORDER}",
                        f.last
                    ),
                )
                .explain(format!(
                    "The unusable free space index for order-{FRAG_ORDER} allocations (the share of free \
                     memory in blocks too small for them, mm/vmstat.c) went from {:.0} to {:.0} over {}. \
                     Rising fragmentation leads to compaction stalls and high-order allocation failures.",
                    f.first,
                    f.last,
                    hours(f.span_s)
                ))
                .evidence(Evidence::int("first index", f.first as i64, None, Some(src.clone())))
                .evidence(Evidence::int("last index", f.last as i64, None, Some(src.clone())))
                .next("cat /sys/kernel/debug/extfrag/unusable_index; grep compact_ /proc/vmstat")
                .next("echo 1 > /proc/sys/vm/compact_memory, and consider raising vm.min_free_kbytes")
                .score(f.last),
            );
        }
    }
    if !rows.is_empty() {
        out.tables.push(Table {
            id: "history.fragmentation".into(),
            title: format!("Unusable free space index (order {FRAG_ORDER}) over {window}"),
            columns: ["zone", "first", "last", "max", "trend", "verdict"].map(String::from).to_vec(),
            rows,
            notes: vec!["0: every free page usable for the order; 1000: none".into()],
        });
    }
    out.findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.score.total_cmp(&a.score)));
    out
}

fn utc(t: i64) -> String {
    format!("{} UTC", memdx_core::time::fmt_utc(t))
}

/// Most parents listed in the table of pages pinning dying memcgs.
const PINNED_ROWS: usize = 20;

/// The pages pinning dying memcgs per closest live parent, and the dying count where the hierarchy
/// gives one per parent (cgroup v2), as recorded: the latest, first and largest figures in the window
/// and when the parent was last recorded holding them (a parent is recorded only while it holds pinned
/// pages or dying descendants, so a parent that stops before the last sample was cleared then).
pub fn pinned_table(h: &History) -> Option<Table> {
    let last_sample = *h.times.last()?;
    let mut rows: Vec<(f64, Vec<String>)> = Vec::new();
    for s in h.of_kind(kind::MEMCG_PINNED) {
        let (Some(&(t_first, first)), Some(&(t_last, last))) = (s.points.first(), s.points.last()) else {
            continue;
        };
        let max = s.points.iter().map(|p| p.1).fold(0.0, f64::max);
        let dying = h
            .get(kind::MEMCG_DYING_BY_PARENT, &s.name)
            .and_then(|d| d.points.iter().rev().find(|p| p.0 == t_last))
            .map(|p| format!("{:.0}", p.1))
            .unwrap_or_else(|| "-".into());
        let until = if t_last == last_sample {
            format!("{} (latest sample)", utc(t_last))
        } else {
            format!("{} (not in later samples: cleared)", utc(t_last))
        };
        rows.push((
            if t_last == last_sample { last } else { -1.0 },
            vec![
                s.name.clone(),
                dying,
                kib((last / 1024.0) as u64),
                format!("{} at {}", kib((first / 1024.0) as u64), utc(t_first)),
                kib((max / 1024.0) as u64),
                until,
            ],
        ));
    }
    if rows.is_empty() {
        return None;
    }
    let n = rows.len();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1[0].cmp(&b.1[0])));
    let mut notes = vec![
        "pinned: page cache and anon pages charged to dying memcgs, counted at their closest live parent \
         (cgroup v1: exact from memory.stat; v2: may include the parent's own pages); dying: the parent's \
         dying descendants (cgroup v2 cgroup.stat; '-' on v1, which counts them only machine-wide)"
            .to_string(),
        "memdx memcg pins --files DIR... names the files holding them and the step that frees them".into(),
    ];
    if n > PINNED_ROWS {
        notes.push(format!("the {PINNED_ROWS} parents holding most at the latest sample of {n}"));
    }
    Some(Table {
        id: "history.memcg_pinned".into(),
        title: "Pages pinning dying memory cgroups, by live parent".into(),
        columns: ["parent", "dying", "pinned", "first recorded", "max", "last recorded"]
            .map(String::from)
            .to_vec(),
        rows: rows.into_iter().take(PINNED_ROWS).map(|r| r.1).collect(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(kind: &str, name: &str, points: &[(i64, f64)]) -> Series {
        Series { kind: kind.into(), name: name.into(), points: points.to_vec() }
    }

    /// Three samples a minute apart: /a holds 3072 pages (12 MiB) of one dying memcg throughout, /b
    /// held 256 pages (1 MiB) at the first two samples only, so it was cleared before the third.
    #[test]
    fn pinned_table_gives_latest_first_and_max_per_parent() {
        let t = [1_800_000_000, 1_800_000_060, 1_800_000_120];
        let mib = 1024.0 * 1024.0;
        let h = History {
            source: "h.db".into(),
            times: t.to_vec(),
            series: vec![
                series(
                    kind::MEMCG_PINNED,
                    "/a",
                    &[(t[0], 4.0 * mib), (t[1], 12.0 * mib), (t[2], 12.0 * mib)],
                ),
                series(kind::MEMCG_DYING_BY_PARENT, "/a", &[(t[0], 1.0), (t[1], 1.0), (t[2], 1.0)]),
                series(kind::MEMCG_PINNED, "/b", &[(t[0], mib), (t[1], mib)]),
            ],
        };
        let table = pinned_table(&h).unwrap();
        assert_eq!(table.id, "history.memcg_pinned");
        assert_eq!(
            table.rows,
            vec![
                vec![
                    "/a".to_string(),
                    "1".into(),
                    "12.0 MiB".into(),
                    "4.0 MiB at 2027-01-15 08:00:00 UTC".into(),
                    "12.0 MiB".into(),
                    "2027-01-15 08:02:00 UTC (latest sample)".into()
                ],
                vec![
                    "/b".to_string(),
                    "-".into(),
                    "1.0 MiB".into(),
                    "1.0 MiB at 2027-01-15 08:00:00 UTC".into(),
                    "1.0 MiB".into(),
                    "2027-01-15 08:01:00 UTC (not in later samples: cleared)".into()
                ],
            ]
        );
        assert!(analyze(&h).tables.iter().any(|t| t.id == "history.memcg_pinned"));
        assert!(pinned_table(&History { series: vec![], ..h }).is_none());
    }
}
