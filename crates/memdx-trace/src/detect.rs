//! Findings from a [`ReclaimReport`]: reclaim storm, shrinker-dominated reclaim, file-only reclaim
//! (no swap), writeback throttling. Pure.

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

    // 1. Reclaim storm.
    if episodes >= STORM_MIN_EPISODES {
        let low_share = under as f64 / episodes as f64;
        let prio_share = le8 as f64 / episodes as f64;
        let long = p99 >= 100_000_000;
        if low_share >= 0.5 {
            let sev = if prio_share >= 0.1 || long { Severity::Critical } else { Severity::Warning };
            let mut f = Finding::new(
                "reclaim.storm",
                sev,
                format!(
                    "{} reclaim storm: {} of {} episodes reclaimed fewer than 32 pages",
                    main_kind.label(),
                    under,
                    episodes
                ),
            )
            .explain(format!(
                "Each reclaim episode aims for 32 pages (SWAP_CLUSTER_MAX). Here {:.0}% of the episodes fell short, \
                 {:.0}% had to lower the scan priority to 8 or below, and the slowest 1% took {:.1} ms or more \
                 (max {:.1} ms). Tasks spend their time walking LRUs and shrinkers that give back almost nothing: \
                 the reclaimable memory is pinned (dirty, referenced, or anon with no swap).",
                low_share * 100.0,
                prio_share * 100.0,
                ms(p99),
                ms(max)
            ))
            .evidence(Evidence::int("episodes", episodes as i64, None, src.clone()))
            .evidence(Evidence::int("episodes under 32 pages", under as i64, None, src.clone()))
            .evidence(Evidence::int("episodes reaching priority <= 8", le8 as i64, None, src.clone()))
            .evidence(Evidence::float("episode p99", ms(p99), Some("ms"), src.clone()))
            .evidence(Evidence::float("time in reclaim", ms(total_ns), Some("ms"), src.clone()))
            .next("memdx trace reclaim --duration 30s  (per-CPU table and per-task latency during the storm)")
            .next("add swap and set memory.swappiness per cgroup so anon memory can be reclaimed")
            .next("raise the memory limit of the cgroups that reclaim, or reduce their page cache")
            .score(under as f64);
            if let Some(t) = r.tasks.first() {
                f = f.evidence(Evidence::text(
                    "most time in reclaim",
                    format!("{} ({} episodes, p99 {:.1} ms)", t.comm, t.episodes, ms(t.p99_ns)),
                    src.clone(),
                ));
            }
            out.push(f);
        }
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

    // 3. File-only reclaim.
    let anon_scanned = r.anon.scanned;
    if episodes >= STORM_MIN_EPISODES && anon_scanned == 0 && r.file.scanned > 0 {
        let no_swap = r.context.swap_total_kb == Some(0);
        let storm = out.iter().any(|f| f.id == "reclaim.storm");
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
            out.push(
                Finding::new(
                    "reclaim.writeback_throttled",
                    Severity::Warning,
                    format!(
                        "reclaim throttled on writeback {} times ({:.1} ms)",
                        t.events,
                        t.delayed_us as f64 / 1000.0
                    ),
                )
                .explain(format!(
                    "Reclaim met dirty or writeback pages and slept waiting for writeback \
                     (VMSCAN_THROTTLE_WRITEBACK). {:.0}% of the scanned file pages were dirty. A writer \
                     fills its cgroup with dirty page cache faster than it is written back.",
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
