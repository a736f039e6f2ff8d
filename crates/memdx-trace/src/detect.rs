//! Findings from a [`ReclaimReport`]: thrashing, reclaim storm or healthy reclaim, told apart by
//! the kernel's own measures (scan efficiency, the priority episodes reached, time in reclaim,
//! refaults and PSI over the window), then shrinker-dominated reclaim, file-only reclaim (no
//! swap), writeback throttling. Pure.

use crate::event::EpisodeKind;
use crate::report::ReclaimReport;
use memdx_core::units::SatSum;
use memdx_core::{Evidence, Finding, Severity, SourceRef};

/// A storm needs at least this many foreground episodes.
const STORM_MIN_EPISODES: u64 = 20;

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The findings memdx draws from one reclaim trace.
pub fn findings(r: &ReclaimReport) -> Vec<Finding> {
    let src = Some(SourceRef::new(r.source.as_str()));
    let mut out = Vec::new();
    let fg: Vec<_> = r.foreground().filter(|k| k.complete > 0).collect();
    let episodes: u64 = fg.iter().map(|k| k.complete).sat_sum();
    let under: u64 = fg.iter().map(|k| k.under_32).sat_sum();
    let le8: u64 = fg.iter().map(|k| k.priority_le_8).sat_sum();
    let total_ns: u64 = fg.iter().map(|k| k.total_ns).sat_sum();
    let p99 = fg.iter().map(|k| k.p99_ns).max().unwrap_or(0);
    let max = fg.iter().map(|k| k.max_ns).max().unwrap_or(0);
    let main_kind = fg.iter().max_by_key(|k| k.complete).map_or(EpisodeKind::Direct, |k| k.kind);

    // 1. Thrashing, storm or healthy reclaim: one verdict, with its numbers.
    let m = Measures::of(r, total_ns);
    let who = m.who(r, main_kind);
    let low_share = if episodes > 0 { under as f64 / episodes as f64 } else { 0.0 };
    let prio_share = if episodes > 0 { le8 as f64 / episodes as f64 } else { 0.0 };
    let long = p99 >= 100_000_000;
    let stalled = m.time_share >= 0.1 || m.psi_some.is_some_and(|p| p >= 0.1);
    let thrashing = episodes >= STORM_MIN_EPISODES
        && stalled
        && m.refaults.zip(m.reclaimed).is_some_and(|(rf, rc)| rf >= 1000 && rf * 2 >= rc);
    let inefficient = m.efficiency.is_some_and(|e| e < 0.25) && prio_share >= 0.5;
    let storm = !thrashing && episodes >= STORM_MIN_EPISODES && (low_share >= 0.5 || inefficient);
    if thrashing {
        let (rf, rc) = (m.refaults.unwrap_or(0), m.reclaimed.unwrap_or(0));
        let sev = if m.time_share >= 0.25 || m.psi_full.is_some_and(|p| p >= 0.05) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut f = Finding::new(
            "reclaim.thrashing",
            sev,
            format!(
                "{who} thrashing: {rf} pages read back of {rc} reclaimed in {:.1} s, {:.0}% of the time in reclaim",
                m.window_s,
                m.time_share * 100.0
            ),
        )
        .explain(format!(
            "The kernel counted {rf} refaults (workingset_refault: pages read back soon after reclaim evicted them) \
             against {rc} pages reclaimed: what reclaim frees is needed again at once, so the work done is I/O and \
             CPU for nothing. {} {}{}",
            m.describe(episodes, le8),
            m.psi_text(),
            if r.context.swap_total_kb == Some(0) && r.anon.scanned == 0 {
                " There is no swap, so only page cache can go: the anonymous memory of the group leaves too little \
                 room for the files it reads."
            } else {
                ""
            }
        ))
        .score(rf as f64);
        f = m.evidence(f, r, episodes, le8, &src);
        out.push(
            f.next("give the group room for its working set: raise its memory limit (memory.max / memory.limit_in_bytes) or shrink its anonymous memory")
                .next("add swap (and memory.swappiness / memory.swap.max) so cold anonymous pages can make room for the hot files")
                .next("watch it: memdx trace reclaim --duration 30s; grep -E 'workingset_refault|pgsteal' /proc/vmstat"),
        );
    } else if storm {
        let sev = if prio_share >= 0.1 || long { Severity::Critical } else { Severity::Warning };
        let title = if low_share >= 0.5 {
            format!("{who} reclaim storm: {under} of {episodes} episodes reclaimed fewer than 32 pages")
        } else {
            format!(
                "{who} reclaim storm: {:.1}% scan efficiency, {:.0}% of {episodes} episodes at priority 8 or below",
                m.efficiency.unwrap_or(0.0) * 100.0,
                prio_share * 100.0
            )
        };
        let mut f = Finding::new("reclaim.storm", sev, title)
            .explain(format!(
                "Each reclaim episode aims for 32 pages (SWAP_CLUSTER_MAX). {} Tasks spend their time walking LRUs \
                 and shrinkers that give back almost nothing: the reclaimable memory is pinned (dirty, referenced, \
                 or anon with no swap).{}",
                m.describe(episodes, le8),
                if m.refaults.is_none() { " Refaults are unknown here (a saved trace): a live capture reads them." } else { "" }
            ))
            .evidence(Evidence::int("episodes under 32 pages", under as i64, None, src.clone()))
            .evidence(Evidence::float("episode p99", ms(p99), Some("ms"), src.clone()))
            .evidence(Evidence::float("slowest episode", ms(max), Some("ms"), src.clone()))
            .next("memdx trace reclaim --duration 30s  (per-CPU table and per-task latency during the storm)")
            .next("add swap and set memory.swappiness per cgroup so anon memory can be reclaimed")
            .next("raise the memory limit of the cgroups that reclaim, or reduce their page cache")
            .score(episodes as f64);
        f = m.evidence(f, r, episodes, le8, &src);
        out.push(f);
    } else if episodes > 0
        && m.efficiency.is_some_and(|e| e >= 0.5)
        // Not the priority: a small memcg's LRU is scanned in small slices, so its reclaim reaches
        // low priorities while freeing everything it scans.
        && m.time_share < 0.05
        && m.refaults.zip(m.reclaimed).is_none_or(|(rf, rc)| rf * 5 < rc.max(1))
    {
        let mut f = Finding::new(
            "reclaim.healthy",
            Severity::Info,
            format!(
                "{who} reclaim kept up: {:.0}% scan efficiency, {:.1}% of the time in reclaim",
                m.efficiency.unwrap_or(0.0) * 100.0,
                m.time_share * 100.0
            ),
        )
        .explain(format!(
            "{} Reclaim frees most of what it scans, takes little of the tasks' time, and the pages it frees are not \
             needed again: this is the kernel making room, not a problem.",
            m.describe(episodes, le8)
        ))
        .score(0.0);
        f = m.evidence(f, r, episodes, le8, &src);
        out.push(f);
    }

    // 2. Shrinker-dominated reclaim.
    if let Some(share) = r.slab_share {
        if share >= 0.5 && total_ns >= 100_000_000 {
            let top = r.shrinkers.iter().max_by_key(|s| s.in_episode_ns);
            let mut f = Finding::new(
                "reclaim.shrinker_dominated",
                if share >= 0.75 { Severity::Critical } else { Severity::Warning },
                format!("shrink_slab takes {:.0}% of reclaim time", share * 100.0),
            )
            .explain(
                "Most of the time tasks spend in reclaim goes to walking shrinkers, not LRU pages. With many \
                 memory cgroups each reclaim walks every memcg's shrinkers; on kernels before 6.7 with \
                 cgroup.memory=nokmem, stale shrinker bits make every memcg reclaim call them all (the 4.18 arm64 Kubernetes memcg reclaim storm).",
            )
            .evidence(Evidence::float("shrink_slab share", share * 100.0, Some("%"), src.clone()))
            .next("count memory cgroups: grep memory /proc/cgroups; remove dying cgroups")
            .next("on kernels < 6.7 with cgroup.memory=nokmem, backport 307bececcd12 (shrinker_info secondary array)")
            .score(share * 100.0);
            if let Some(t) = top {
                f = f.evidence(Evidence::text(
                    "slowest shrinker",
                    format!("{} ({} calls, {:.1} ms)", t.shrinker, t.calls, ms(t.ns)),
                    src.clone(),
                ));
            }
            out.push(f);
        }
    }

    // 3. File-only reclaim (thrashing already says there is no swap: one finding per fact).
    let anon_scanned = r.anon.scanned;
    if episodes >= STORM_MIN_EPISODES && anon_scanned == 0 && r.file.scanned > 0 && !thrashing {
        let no_swap = r.context.swap_total_kb == Some(0);
        let sev = if no_swap && storm { Severity::Warning } else { Severity::Info };
        let why = match r.context.swap_total_kb {
            Some(0) => "there is no swap (SwapTotal 0), so anonymous memory cannot be reclaimed".to_string(),
            Some(kb) => {
                format!("swap exists ({kb} KiB) but swappiness is 0 or anon pages are not reclaimable")
            }
            None => "either there is no swap or memory.swappiness is 0 (check SwapTotal in /proc/meminfo)"
                .to_string(),
        };
        out.push(
            Finding::new("reclaim.file_only", sev, "reclaim scans only file pages")
                .explain(format!(
                    "Not one anonymous page was scanned in {} episodes; {}. Reclaim can only drop page \
                     cache, and when the cache left is dirty or hot it fails to make progress.",
                    episodes, why
                ))
                .evidence(Evidence::int("file pages scanned", r.file.scanned as i64, Some("pages"), src.clone()))
                .evidence(Evidence::int("file pages reclaimed", r.file.reclaimed as i64, Some("pages"), src.clone()))
                .evidence(Evidence::int("anon pages scanned", 0, Some("pages"), src.clone()))
                .next("swapon a swap device or file; set memory.swappiness (v1) or memory.swap.max (v2) per cgroup")
                .score(r.file.scanned as f64),
        );
    }

    // 4. Writeback throttling.
    let wb = r.throttle.iter().find(|t| t.reason.contains("WRITEBACK"));
    if let Some(t) = wb {
        let share = if total_ns > 0 { t.delayed_us as f64 * 1000.0 / total_ns as f64 } else { 0.0 };
        if t.events >= 10 && (share >= 0.1 || t.delayed_us >= 100_000) {
            let dirty_share =
                if r.file.scanned > 0 { r.nr_dirty as f64 / r.file.scanned as f64 } else { 0.0 };
            // Few dirty pages met: reclaim waited on writeback elsewhere on the node, not on a writer
            // of this workload.
            let writer = dirty_share >= 0.05;
            let cause = if writer {
                "A writer fills its cgroup with dirty page cache faster than it is written back."
            } else {
                "So few dirty pages point at no writer here: reclaim that makes little progress waits on \
                 writeback anywhere on the node; the cause is what makes reclaim fail."
            };
            out.push(
                Finding::new(
                    "reclaim.writeback_throttled",
                    if writer { Severity::Warning } else { Severity::Info },
                    format!(
                        "reclaim throttled on writeback {} times ({:.1} ms)",
                        t.events,
                        t.delayed_us as f64 / 1000.0
                    ),
                )
                .explain(format!(
                    "Reclaim slept waiting for writeback (VMSCAN_THROTTLE_WRITEBACK). {:.1}% of the scanned \
                     file pages were dirty. {cause}",
                    dirty_share * 100.0
                ))
                .evidence(Evidence::int("throttle events", t.events as i64, None, src.clone()))
                .evidence(Evidence::float(
                    "throttled time",
                    t.delayed_us as f64 / 1000.0,
                    Some("ms"),
                    src.clone(),
                ))
                .evidence(Evidence::int("dirty pages met", r.nr_dirty as i64, Some("pages"), src.clone()))
                .next("lower vm.dirty_background_bytes / vm.dirty_bytes so writeback starts earlier")
                .next("give the writer more memory, or use O_DIRECT / fadvise(DONTNEED) for streaming writes")
                .score(t.delayed_us as f64 / 1000.0),
            );
        }
    }

    // 5. Lost events make every number a lower bound.
    if r.scan.lost_events > 0 {
        out.push(
            Finding::new(
                "trace.lost_events",
                Severity::Info,
                format!("the ring buffer lost {} events", r.scan.lost_events),
            )
            .explain("Counts and episodes are lower bounds; some episodes may be missing their begin or end.")
            .evidence(Evidence::int("lost events", r.scan.lost_events as i64, None, src.clone()))
            .next("capture again with a larger --buffer-kb or a shorter --duration"),
        );
    }
    out
}

/// The kernel's own measures of one capture, each `None` when the capture cannot tell.
struct Measures {
    /// Pages reclaimed / scanned on the LRUs (mm_vmscan_lru_shrink_inactive).
    efficiency: Option<f64>,
    /// Task time in foreground reclaim per second of the window (can exceed 1 with many CPUs).
    time_share: f64,
    reclaim_s: f64,
    window_s: f64,
    /// workingset_refault_* and pgsteal_* deltas of a live window (anon + file).
    refaults: Option<u64>,
    reclaimed: Option<u64>,
    /// PSI memory some/full stall time per second of the window.
    psi_some: Option<f64>,
    psi_full: Option<f64>,
}

impl Measures {
    fn of(r: &ReclaimReport, total_ns: u64) -> Measures {
        let w = r.context.window.as_ref();
        let window_s = w.map(|w| w.seconds).filter(|s| *s > 0.0).unwrap_or(r.span_ns as f64 / 1e9);
        let delta = |k: &str| w.and_then(|w| w.vmstat.get(k).copied()).map(|v| v.max(0) as u64);
        let pair = |a: &str, b: &str| match (delta(a), delta(b)) {
            (None, None) => None,
            (x, y) => Some(x.unwrap_or(0) + y.unwrap_or(0)),
        };
        // Before 5.9 one workingset_refault counter (file pages only).
        let refaults =
            pair("workingset_refault_file", "workingset_refault_anon").or(delta("workingset_refault"));
        let psi = |us: Option<u64>| us.filter(|_| window_s > 0.0).map(|u| u as f64 / 1e6 / window_s);
        Measures {
            efficiency: r.efficiency,
            time_share: if window_s > 0.0 { total_ns as f64 / 1e9 / window_s } else { 0.0 },
            reclaim_s: total_ns as f64 / 1e9,
            window_s,
            refaults,
            reclaimed: pair("pgsteal_file", "pgsteal_anon"),
            psi_some: psi(w.and_then(|w| w.psi_some_us)),
            psi_full: psi(w.and_then(|w| w.psi_full_us)),
        }
    }

    /// "memcg /path" when the memcg was named from the events, else the kind of reclaim.
    fn who(&self, r: &ReclaimReport, kind: EpisodeKind) -> String {
        match (r.context.memcgs.first(), &r.context.cgroup) {
            (_, Some(c)) => format!("memcg {c}"),
            (Some(m), None) if kind == EpisodeKind::Memcg => format!("memcg {}", m.path),
            _ => kind.label().to_string(),
        }
    }

    fn describe(&self, episodes: u64, le8: u64) -> String {
        let mut s = format!(
            "{episodes} foreground episodes took {:.2} s of task time in {:.1} s ({:.0}%); {:.0}% of them lowered the \
             scan priority to 8 or below.",
            self.reclaim_s,
            self.window_s,
            self.time_share * 100.0,
            if episodes > 0 { le8 as f64 * 100.0 / episodes as f64 } else { 0.0 }
        );
        if let Some(e) = self.efficiency {
            s.push_str(&format!(" Scan efficiency (reclaimed / scanned) {:.1}%.", e * 100.0));
        }
        s
    }

    fn psi_text(&self) -> String {
        match (self.psi_some, self.psi_full) {
            (Some(a), Some(b)) => format!(
                " PSI memory: some task stalled {:.0}% of the window, all tasks {:.0}%.",
                a * 100.0,
                b * 100.0
            ),
            _ => String::new(),
        }
    }

    fn evidence(
        &self,
        mut f: Finding,
        r: &ReclaimReport,
        episodes: u64,
        le8: u64,
        src: &Option<SourceRef>,
    ) -> Finding {
        f = f
            .evidence(Evidence::int("episodes", episodes as i64, None, src.clone()))
            .evidence(Evidence::int("episodes reaching priority <= 8", le8 as i64, None, src.clone()))
            .evidence(Evidence::float("time in reclaim", self.reclaim_s, Some("s"), src.clone()))
            .evidence(Evidence::float("window", self.window_s, Some("s"), src.clone()));
        if let Some(e) = self.efficiency {
            f = f.evidence(Evidence::float("scan efficiency", e * 100.0, Some("%"), src.clone()));
        }
        if let Some(rf) = self.refaults {
            f = f.evidence(Evidence::int("refaults (workingset_refault)", rf as i64, Some("pages"), None));
        }
        if let Some(rc) = self.reclaimed {
            f = f.evidence(Evidence::int("reclaimed (pgsteal)", rc as i64, Some("pages"), None));
        }
        if let Some(p) = self.psi_some {
            f = f.evidence(Evidence::float("PSI memory some", p * 100.0, Some("%"), None));
        }
        if let Some(p) = self.psi_full {
            f = f.evidence(Evidence::float("PSI memory full", p * 100.0, Some("%"), None));
        }
        if let Some(t) = r.tasks.first() {
            f = f.evidence(Evidence::text(
                "most time in reclaim",
                format!(
                    "{} ({} episodes, {:.2} s, p99 {:.1} ms)",
                    t.comm,
                    t.episodes,
                    t.total_ns as f64 / 1e9,
                    ms(t.p99_ns)
                ),
                src.clone(),
            ));
        }
        if let Some(m) = r.context.memcgs.first() {
            f = f.evidence(Evidence::text(
                "memcg reclaiming",
                format!("{} ({} episodes, {} tasks)", m.path, m.episodes, m.pids),
                src.clone(),
            ));
        }
        f
    }
}
