//! Analyzer: the memory cgroup audit (seed 001). How many memcgs, how many dying, and the
//! combination that turns every reclaim into a walk of every memcg's shrinkers: many memcgs, no swap,
//! `cgroup.memory=nokmem`, on a kernel before the shrinker_info rework (6.7, commit 307bececcd12).

use crate::case::Case;
use memdx_core::kver::KernelVersion;
use memdx_core::units::bytes;
use memdx_core::{Evidence, Finding, Severity};
use memdx_core::{Report, Table};

/// Memcg counts at which reclaim cost and kmem accounting start to show (seed 001 had thousands).
pub(crate) const MANY: u64 = 500;
pub(crate) const DYING_WARN: u64 = 100;

pub fn run(case: &Case, out: &mut Report) {
    let proc_cg =
        case.cgroups.as_ref().and_then(|c| c.get("memory").map(|m| (m, c.source.at(m.line as usize))));
    let walked = case.memcgs.as_ref();
    // Total memcgs the kernel tracks: /proc/cgroups counts live and dying (v1; v2 counts hierarchy).
    let total = proc_cg
        .as_ref()
        .map(|(m, _)| m.num_cgroups)
        .or_else(|| walked.map(|w| w.live + w.dying.unwrap_or(0)));
    let Some(total) = total else { return };
    let nokmem = case
        .cmdline
        .as_ref()
        .and_then(|c| c.get("cgroup.memory"))
        .flatten()
        .is_some_and(|v| v.split(',').any(|x| x == "nokmem"));
    let swap_kb = case.meminfo.as_ref().and_then(|m| m.kb("SwapTotal"));
    let version = case.version();

    if let Some(w) = walked {
        let mut rows = vec![
            vec!["hierarchy".into(), w.hierarchy.to_string()],
            vec!["live memcgs (directories)".into(), w.live.to_string()],
            vec!["dying memcgs".into(), w.dying.map(|d| d.to_string()).unwrap_or_else(|| "unknown".into())],
        ];
        rows.push(vec!["deepest level".into(), w.max_depth.to_string()]);
        for l in &w.limits {
            let limit = match l.limit {
                Some(lim) => format!(
                    "{} of {} ({:.0}%)",
                    bytes(l.usage),
                    bytes(lim),
                    memdx_core::units::pct(l.usage, lim)
                ),
                None => format!("{} (no limit)", bytes(l.usage)),
            };
            let swap = match (&l.swappiness, &l.swap_max) {
                (Some(sw), _) => format!(", swappiness {sw}"),
                (None, Some(m)) => format!(", swap.max {m}"),
                _ => String::new(),
            };
            rows.push(vec![format!("usage {}", l.path), format!("{limit}{swap}")]);
        }
        out.tables.push(Table {
            id: "memcg.audit".into(),
            title: format!("Memory cgroups ({})", w.source.file),
            columns: vec!["what".into(), "value".into()],
            rows,
            notes: vec![],
        });
        let at_limit: Vec<&crate::case::MemcgLimit> = w
            .limits
            .iter()
            .filter(|l| {
                l.limit.is_some_and(|lim| lim > 0 && l.usage.saturating_mul(100) >= lim.saturating_mul(95))
            })
            .collect();
        if !at_limit.is_empty() {
            let mut f = Finding::new(
                "memcg.at_limit",
                Severity::Info,
                format!("{} memory cgroup(s) at 95% or more of their limit", at_limit.len()),
            )
            .explain(
                "A cgroup at its limit reclaims on every charge: its tasks stall in memcg reclaim (memdx trace reclaim \
                 --cgroup shows how long), and with no swap only its page cache can go. That is the limit working, \
                 unless the stalls hurt: then raise the limit or shrink the workload.",
            );
            for l in at_limit.iter().take(5) {
                f = f.evidence(Evidence::text(
                    format!("usage {}", l.path),
                    format!("{} of {}", bytes(l.usage), bytes(l.limit.unwrap_or(0))),
                    Some(w.source.clone()),
                ));
            }
            out.findings.push(
                f.next("memdx trace reclaim --cgroup <dir> --duration 30s").score(at_limit.len() as f64),
            );
        }
        if let Some(d) = w.dying {
            if d >= DYING_WARN && d * 5 >= w.live {
                out.findings.push(
                    Finding::new("memcg.dying", Severity::Warning, format!("{d} dying memory cgroups ({} live)", w.live))
                        .explain(format!(
                            "A removed memory cgroup stays allocated (dying) while page cache or kernel memory charged to it \
                             remains. {d} of them hold their mem_cgroup structures, per-cpu data and kmem, and every memcg \
                             reclaim and shrinker walk still visits them. Typical cause: a service manager creating and removing \
                             cgroups (restart loops, cron, containers) while the files they touched stay cached."
                        ))
                        .evidence(Evidence::int("dying memcgs", d as i64, None, Some(w.source.clone())))
                        .evidence(Evidence::int("live memcgs", w.live as i64, None, Some(w.source.clone())))
                        .next("journalctl --since -1h | grep -c 'Started\\|Scheduled restart'  # who creates cgroups")
                        .next("memdx memcg pins --files /var/log /var/lib  # which parents and files hold their pages, and the step that frees them")
                        .score(d as f64),
                );
            }
        }
    }

    let before_fix = version.map(|v| v < KernelVersion::new(6, 7, 0));
    let no_swap = swap_kb == Some(0);
    let walk_combo = no_swap && nokmem && before_fix != Some(false);
    // Many because many are dying: that fact is `memcg.dying` (one finding per fact), unless the
    // shrinker-walk combination makes every one of them, dying or not, a cost of each reclaim.
    let mostly_dying = walked.is_some_and(|w| w.live < MANY && w.dying.is_some_and(|d| d >= DYING_WARN));
    if total >= MANY && (walk_combo || !mostly_dying) {
        let mut f = Finding::new(
            "memcg.many",
            Severity::Warning,
            format!(
                "{total} memory cgroups{}",
                if no_swap && nokmem { ", no swap and cgroup.memory=nokmem" } else { "" }
            ),
        );
        let mut explanation = format!(
            "The kernel tracks {total} memory cgroups. Every memcg reclaim and kswapd pass iterates over them, and the shrinkers \
             of each are called."
        );
        if walk_combo {
            f.severity = Severity::Critical;
            f.id = "memcg.shrinker_walk".into();
            explanation.push_str(
                " With cgroup.memory=nokmem on a kernel before 6.7, the slab shrinkers are skipped for each memcg without \
                 clearing their bits in shrinker_info, so every reclaim walks every memcg's shrinkers (commit 307bececcd12 \
                 reworked this in 6.7). With no swap, anonymous memory cannot be reclaimed at all, so reclaim scans the \
                 file LRU at falling priority and frees less than 32 pages per attempt: the reclaim storm of the 4.18 arm64 Kubernetes nodes \
                 (load in the hundreds, sys CPU in shrink_slab / down_read_trylock).",
            );
            if before_fix.is_none() {
                explanation.push_str(" The kernel version is not known: give uname -r to confirm.");
            }
        }
        if let Some((m, src)) = &proc_cg {
            f = f.evidence(Evidence::int(
                "memory num_cgroups",
                m.num_cgroups as i64,
                None,
                Some(src.clone()),
            ));
        }
        if let Some(s) = swap_kb {
            f = f.evidence(Evidence::int(
                "SwapTotal",
                s as i64,
                Some("kB"),
                case.meminfo.as_ref().and_then(|m| m.at("SwapTotal")),
            ));
        }
        if let Some(c) = &case.cmdline {
            f = f.evidence(Evidence::text(
                "cmdline cgroup.memory",
                if nokmem { "nokmem" } else { "not set" },
                Some(c.source.clone()),
            ));
        }
        if let (Some(v), Some(k)) = (version, &case.kernel) {
            f = f.evidence(Evidence::text(
                "kernel",
                format!("{v}{}", if v < KernelVersion::new(6, 7, 0) { " (before 6.7)" } else { "" }),
                Some(k.source.clone()),
            ));
        }
        f = f
            .explain(explanation)
            .next("memdx trace reclaim --duration 30s  # measure episodes, priority and shrink_slab time")
            .next("add swap and set memory.swappiness per cgroup (v1) / memory.swap.max (v2) so anon can be reclaimed")
            .next("on kernels < 6.7 backport 307bececcd12 (shrinker_info rework) or drop cgroup.memory=nokmem")
            .next("raise memory limits of cgroups that reclaim constantly; remove idle cgroups")
            .score(total as f64);
        out.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_001_combination() {
        let mut c = Case::new();
        c.ingest("cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t3800\t1\n", None);
        c.ingest(
            "cmdline",
            "BOOT_IMAGE=/vmlinuz-4.18.0-147.el8.aarch64 root=/dev/sda2 ro cgroup.memory=nokmem\n",
            None,
        );
        c.ingest("meminfo", "MemTotal: 100 kB\nSwapTotal: 0 kB\nSlab: 1 kB\n", None);
        c.ingest("uname", "4.18.0-147.el8.aarch64\n", None);
        let mut out = Report::default();
        run(&c, &mut out);
        let f = &out.findings[0];
        assert_eq!((f.id.as_str(), f.severity), ("memcg.shrinker_walk", Severity::Critical));
        assert_eq!(f.title, "3800 memory cgroups, no swap and cgroup.memory=nokmem");
    }
}
