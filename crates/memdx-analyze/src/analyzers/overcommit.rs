//! Analyzer: the overcommit policy and what it lets one allocation reach (`__vm_enough_memory` in
//! mm/util.c, as the kernel source has it per version):
//! - mode 1 (always): every request succeeds; memory exhaustion is left to the OOM killer.
//! - mode 0 (heuristic), since 5.2 (commit 8c7829b04c52): a request fails only when it alone exceeds
//!   `totalram + total swap` pages. Up to 5.1: when it exceeds free + file pages - shmem + free swap +
//!   reclaimable slab (+ other reclaimable kernel memory since 4.20) - `totalreserve_pages` - the admin
//!   reserve (for non-root).
//! - mode 2 (never): `Committed_AS` (including the request) must stay below `CommitLimit` minus the admin
//!   reserve (non-root) and `min(total_vm / 32, user_reserve_kbytes)` of the process.
//!   `CommitLimit = (totalram - hugetlb) x overcommit_ratio / 100 + swap`, or `overcommit_kbytes + swap`.
//!
//! `Committed_AS > CommitLimit` means nothing by itself in modes 0 and 1, where the limit is not enforced.
//! Figures come from `/proc/meminfo`, or `crash> kmem -i` (COMMIT LIMIT / COMMITTED) from a vmcore.

use crate::case::Case;
use memdx_core::kver::KernelVersion;
use memdx_core::units::{kib, pct};
use memdx_core::{Evidence, Finding, Severity, SourceRef};
use memdx_core::{Report, Table};

/// A size in kB and where it was read.
#[derive(Debug, Clone, PartialEq)]
struct Fig {
    kb: u64,
    src: Option<SourceRef>,
}

/// The figures the policy needs, in kB, from meminfo or `kmem -i`.
#[derive(Debug, Default)]
struct Figures {
    limit: Option<Fig>,
    committed: Option<Fig>,
    total: Option<Fig>,
    swap_total: Option<Fig>,
    swap_free: Option<Fig>,
    hugetlb: Option<Fig>,
    free: Option<Fig>,
    /// NR_FILE_PAGES: Cached + Buffers + SwapCached.
    file: Option<Fig>,
    shmem: Option<Fig>,
    /// Reclaimable kernel memory the pre-5.2 heuristic counts (KReclaimable, else SReclaimable).
    reclaimable: Option<Fig>,
    /// All slab when only that is known (kmem -i): an upper bound for the reclaimable part.
    slab: Option<Fig>,
    from: String,
}

fn figures(case: &Case) -> Option<Figures> {
    if let Some(m) = &case.meminfo {
        if m.kb("Committed_AS").is_some() || m.kb("CommitLimit").is_some() {
            let f = |k: &str| m.kb(k).map(|kb| Fig { kb, src: m.at(k) });
            let hugetlb = f("Hugetlb").or_else(|| {
                let n = m.kb("HugePages_Total")?;
                Some(Fig { kb: n.saturating_mul(m.kb("Hugepagesize")?), src: m.at("HugePages_Total") })
            });
            let file = match (m.kb("Cached"), m.kb("Buffers")) {
                (None, None) => None,
                (c, b) => Some(Fig {
                    kb: c
                        .unwrap_or(0)
                        .saturating_add(b.unwrap_or(0))
                        .saturating_add(m.kb("SwapCached").unwrap_or(0)),
                    src: m.at("Cached"),
                }),
            };
            return Some(Figures {
                limit: f("CommitLimit"),
                committed: f("Committed_AS"),
                total: f("MemTotal"),
                swap_total: f("SwapTotal"),
                swap_free: f("SwapFree"),
                hugetlb,
                free: f("MemFree"),
                file,
                shmem: f("Shmem"),
                reclaimable: f("KReclaimable").or_else(|| f("SReclaimable")),
                slab: f("Slab"),
                from: m.source.file.to_string(),
            });
        }
    }
    let k = case.kmem.as_ref()?;
    let page_kb = case.page_kb();
    let f = |l: &str| k.pages(l).map(|p| Fig { kb: p.saturating_mul(page_kb), src: k.at(l) });
    let file = match (k.pages("CACHED"), k.pages("BUFFERS")) {
        (None, None) => None,
        (c, b) => Some(Fig {
            kb: c.unwrap_or(0).saturating_add(b.unwrap_or(0)).saturating_mul(page_kb),
            src: k.at("CACHED"),
        }),
    };
    Some(Figures {
        limit: f("COMMIT LIMIT"),
        committed: f("COMMITTED"),
        total: f("TOTAL MEM"),
        swap_total: f("TOTAL SWAP"),
        swap_free: f("SWAP FREE"),
        hugetlb: f("TOTAL HUGE"),
        free: f("FREE"),
        file,
        shmem: None,
        reclaimable: None,
        slab: f("SLAB"),
        from: k.source.file.to_string(),
    })
}

struct Policy {
    mode: Option<i64>,
    mode_src: Option<SourceRef>,
    ratio: i64,
    ratio_given: bool,
    kbytes: u64,
    admin_reserve: u64,
    user_reserve: Option<u64>,
}

fn policy(case: &Case) -> Policy {
    let s = case.sysctl.as_ref();
    let int = |n: &str| s.and_then(|s| s.int(n));
    Policy {
        mode: int("vm.overcommit_memory").filter(|m| (0..=2).contains(m)),
        mode_src: s.and_then(|s| s.at("vm.overcommit_memory")),
        ratio: int("vm.overcommit_ratio").unwrap_or(50),
        ratio_given: int("vm.overcommit_ratio").is_some(),
        kbytes: int("vm.overcommit_kbytes").unwrap_or(0).max(0) as u64,
        // Defaults: admin min(3% of free, 8 MiB), user min(3% of the process, 128 MiB).
        admin_reserve: int("vm.admin_reserve_kbytes").unwrap_or(8192).max(0) as u64,
        user_reserve: int("vm.user_reserve_kbytes").map(|v| v.max(0) as u64),
    }
}

fn mode_name(m: i64) -> &'static str {
    match m {
        0 => "0 (heuristic)",
        1 => "1 (always overcommit)",
        _ => "2 (never overcommit: CommitLimit enforced)",
    }
}

/// `totalreserve_pages` in kB: per zone min(managed, high + max lowmem_reserve), from zoneinfo.
fn totalreserve_kb(case: &Case) -> Option<u64> {
    let zi = case.zoneinfo.as_ref()?;
    let pages: u64 = zi
        .zones
        .iter()
        .map(|z| {
            let r = z.high.unwrap_or(0).saturating_add(z.protection.iter().copied().max().unwrap_or(0));
            r.min(z.managed.or(z.present).unwrap_or(0))
        })
        .fold(0u64, u64::saturating_add);
    Some(pages.saturating_mul(case.page_kb()))
}

pub fn run(case: &Case, out: &mut Report) {
    let pol = policy(case);
    let figs = figures(case);
    if pol.mode.is_none() && !matches!(&figs, Some(f) if f.committed.is_some()) {
        return;
    }
    let figs = figs.unwrap_or_default();
    let version = case.version();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let row = |a: &str, b: String, c: String| vec![a.to_string(), b, c];

    rows.push(row(
        "policy (vm.overcommit_memory)",
        pol.mode.map(mode_name).unwrap_or("unknown").into(),
        if pol.mode.is_none() { "not given: sysctl vm.overcommit_memory".into() } else { String::new() },
    ));
    let used_pct = match (&figs.committed, &figs.limit) {
        (Some(c), Some(l)) if l.kb > 0 => Some(pct(c.kb, l.kb)),
        _ => None,
    };
    if let Some(l) = &figs.limit {
        rows.push(row("CommitLimit", kib(l.kb), "enforced only in mode 2".into()));
    }
    // The limit as the kernel computes it, to check the inputs against each other.
    let recomputed = figs.total.as_ref().map(|t| {
        let swap = figs.swap_total.as_ref().map(|s| s.kb).unwrap_or(0);
        let huge = figs.hugetlb.as_ref().map(|h| h.kb).unwrap_or(0);
        if pol.kbytes > 0 {
            pol.kbytes.saturating_add(swap)
        } else {
            ((t.kb.saturating_sub(huge) as u128 * pol.ratio.max(0) as u128 / 100) as u64).saturating_add(swap)
        }
    });
    if let Some(r) = recomputed {
        let rule = if pol.kbytes > 0 {
            "overcommit_kbytes + swap".to_string()
        } else {
            format!(
                "(RAM - hugetlb) x {}% + swap{}",
                pol.ratio,
                if pol.ratio_given { "" } else { " (overcommit_ratio default 50 assumed)" }
            )
        };
        let agree = figs.limit.as_ref().map(|l| l.kb.abs_diff(r) <= 4 * case.page_kb());
        rows.push(row(
            "CommitLimit recomputed",
            kib(r),
            format!(
                "{rule}{}",
                match agree {
                    Some(true) => ": same",
                    Some(false) => ": differs (sysctls from another time, or hugetlb/swap changed)",
                    None => "",
                }
            ),
        ));
    }
    if let Some(c) = &figs.committed {
        rows.push(row(
            "Committed_AS",
            kib(c.kb),
            used_pct.map(|p| format!("{p:.0}% of CommitLimit")).unwrap_or_default(),
        ));
    }
    let single = largest_request(case, &pol, &figs, version, &mut notes);
    rows.push(row("largest single request allowed", single.0, single.1));
    rows.push(row(
        "admin_reserve_kbytes",
        kib(pol.admin_reserve),
        "kept for root in modes 2 (and 0 before 5.2)".into(),
    ));
    if let Some(u) = pol.user_reserve {
        rows.push(row(
            "user_reserve_kbytes",
            kib(u),
            "mode 2: min(process size / 32, this) kept per process".into(),
        ));
    }
    let needed = ratio_needed(&figs);
    if let (Some(n), Some(m)) = (needed, pol.mode) {
        if m != 2 || pol.kbytes == 0 {
            rows.push(row(
                "overcommit_ratio mode 2 would need",
                format!("{n}%"),
                "for today's Committed_AS to fit under CommitLimit".into(),
            ));
        }
    }
    if version.is_none() {
        notes.push("kernel version unknown: the mode 0 rule changed in 5.2 (give `uname -r`)".into());
    }
    out.tables.push(Table {
        id: "overcommit".into(),
        title: if figs.from.is_empty() { "Overcommit".into() } else { format!("Overcommit ({})", figs.from) },
        columns: vec!["".into(), "value".into(), "meaning".into()],
        rows,
        notes,
    });

    findings(case, &pol, &figs, used_pct, needed, out);
}

/// The overcommit_ratio that would make CommitLimit cover today's Committed_AS.
fn ratio_needed(f: &Figures) -> Option<u64> {
    let c = f.committed.as_ref()?.kb;
    let t = f.total.as_ref()?.kb.saturating_sub(f.hugetlb.as_ref().map(|h| h.kb).unwrap_or(0));
    let swap = f.swap_total.as_ref().map(|s| s.kb).unwrap_or(0);
    (t > 0).then(|| (c.saturating_sub(swap) as u128 * 100).div_ceil(t as u128) as u64)
}

/// (value, rule) for the largest single request the policy admits on this kernel version.
fn largest_request(
    case: &Case,
    pol: &Policy,
    f: &Figures,
    version: Option<KernelVersion>,
    notes: &mut Vec<String>,
) -> (String, String) {
    let kb = |o: &Option<Fig>| o.as_ref().map(|x| x.kb);
    match pol.mode {
        Some(1) => ("no limit".into(), "mode 1: every request succeeds".into()),
        Some(2) => match (kb(&f.limit), kb(&f.committed)) {
            (Some(l), Some(c)) => {
                let room = l.saturating_sub(c).saturating_sub(pol.admin_reserve);
                (
                    kib(room),
                    format!(
                        "mode 2, non-root: CommitLimit - Committed_AS - admin reserve{}; root also gets the admin reserve",
                        if pol.user_reserve.is_some() { " - min(process/32, user reserve)" } else { "" }
                    ),
                )
            }
            _ => ("unknown".into(), "needs CommitLimit and Committed_AS (meminfo)".into()),
        },
        mode => {
            let modern = version.map(|v| v.at_least(5, 2));
            let new_rule = match (kb(&f.total), modern) {
                (Some(t), Some(true) | None) => {
                    let swap = kb(&f.swap_total).unwrap_or(0);
                    Some((
                        kib(t.saturating_add(swap)),
                        "mode 0 since 5.2: fails only a single request above RAM + total swap".to_string(),
                    ))
                }
                _ => None,
            };
            let old_rule = if modern == Some(true) { None } else { old_heuristic(case, pol, f, notes) };
            let prefix = if mode.is_none() { "if mode 0: " } else { "" };
            match (new_rule, old_rule, modern) {
                (Some((v, r)), _, Some(true)) => (v, format!("{prefix}{r}")),
                (_, Some((v, r)), Some(false)) => (v, format!("{prefix}{r}")),
                (Some((v1, r1)), Some((v2, r2)), None) => {
                    (format!("{v1} (5.2+) or {v2} (before)"), format!("{prefix}{r1}; before 5.2: {r2}"))
                }
                (Some((v, r)), None, None) => {
                    (v, format!("{prefix}{r}; the rule before 5.2 needs free/cache/slab figures"))
                }
                _ => ("unknown".into(), "needs MemTotal and the kernel version".into()),
            }
        }
    }
}

/// The mode 0 heuristic up to 5.1.
fn old_heuristic(
    case: &Case,
    pol: &Policy,
    f: &Figures,
    notes: &mut Vec<String>,
) -> Option<(String, String)> {
    let free = f.free.as_ref()?.kb;
    let file = f.file.as_ref().map(|x| x.kb).unwrap_or(0);
    let swap_free = f.swap_free.as_ref().map(|x| x.kb).unwrap_or(0);
    let mut upper_bound = false;
    let shmem = match &f.shmem {
        Some(s) => s.kb,
        None => {
            upper_bound = true;
            0
        }
    };
    let reclaimable = match (&f.reclaimable, &f.slab) {
        (Some(r), _) => r.kb,
        (None, Some(s)) => {
            upper_bound = true;
            s.kb
        }
        (None, None) => 0,
    };
    let reserve = match totalreserve_kb(case) {
        Some(r) => r,
        None => {
            // Without zoneinfo: the high watermarks estimated from min_free_kbytes (lowmem_reserve left out).
            let est = case.sysctl.as_ref().and_then(|s| s.int("vm.min_free_kbytes")).and_then(|mfk| {
                let p = super::watermarks::WmarkParams {
                    min_free_kbytes: mfk.max(0) as u64,
                    page_kb: case.page_kb(),
                    watermark_scale_factor: case
                        .sysctl
                        .as_ref()
                        .and_then(|s| s.int("vm.watermark_scale_factor"))
                        .unwrap_or(10)
                        .max(0) as u64,
                    formula: super::watermarks::Formula::for_version(case.version()),
                    movable_like_highmem: true,
                };
                let total = f.total.as_ref()?.kb / case.page_kb();
                let w = super::watermarks::setup_per_zone_wmarks(&p, &[("Normal", total)])?;
                Some(w.first()?.high.saturating_mul(case.page_kb()))
            });
            notes.push(match est {
                Some(_) => "totalreserve_pages estimated as the sum of high watermarks (no zoneinfo: lowmem_reserve unknown)".into(),
                None => "totalreserve_pages unknown (needs /proc/zoneinfo or vm.min_free_kbytes): not subtracted".into(),
            });
            upper_bound |= est.is_none();
            est.unwrap_or(0)
        }
    };
    let v = free
        .saturating_add(file)
        .saturating_add(swap_free)
        .saturating_add(reclaimable)
        .saturating_sub(shmem)
        .saturating_sub(reserve)
        .saturating_sub(pol.admin_reserve);
    if upper_bound {
        notes.push(
            "pre-5.2 heuristic is an upper bound: kmem -i does not separate shmem and reclaimable slab (meminfo Shmem, \
             SReclaimable would)"
                .into(),
        );
    }
    Some((
        format!("{}{}", if upper_bound { "at most " } else { "" }, kib(v)),
        "mode 0 up to 5.1: free + file pages - shmem + free swap + reclaimable slab - totalreserve - admin reserve"
            .into(),
    ))
}

fn findings(
    case: &Case,
    pol: &Policy,
    f: &Figures,
    used_pct: Option<f64>,
    needed: Option<u64>,
    out: &mut Report,
) {
    let (Some(c), Some(l)) = (&f.committed, &f.limit) else {
        mode1_oom(case, pol, out);
        return;
    };
    let ev_c = Evidence::int("Committed_AS", c.kb as i64, Some("kB"), c.src.clone());
    let ev_l = Evidence::int("CommitLimit", l.kb as i64, Some("kB"), l.src.clone());
    let p = used_pct.unwrap_or(0.0);
    match pol.mode {
        Some(2) => {
            let allowed = l.kb.saturating_sub(pol.admin_reserve);
            let (id, sev, what) = if c.kb >= allowed {
                ("overcommit.strict_limit_reached", Severity::Critical, "reached")
            } else if c.kb as u128 * 10 >= l.kb as u128 * 9 {
                ("overcommit.strict_limit_near", Severity::Warning, "nearly reached")
            } else {
                return;
            };
            out.findings.push(
                Finding::new(id, sev, format!("strict overcommit: CommitLimit {what} (Committed_AS {p:.0}% of {})", kib(l.kb)))
                    .explain(format!(
                        "vm.overcommit_memory is 2, so the kernel refuses any mmap, brk, fork or stack growth of private \
                         writable memory that would take Committed_AS ({}) past CommitLimit ({}) less the admin reserve \
                         ({}) for non-root processes. Such requests fail with ENOMEM even while RAM is free: programs \
                         report `Cannot allocate memory`, fork fails.",
                        kib(c.kb),
                        kib(l.kb),
                        kib(pol.admin_reserve)
                    ))
                    .evidence(ev_c)
                    .evidence(ev_l)
                    .evidence(Evidence::int("vm.overcommit_memory", 2, None, pol.mode_src.clone()))
                    .next("ps -eo pid,comm,vsz --sort=-vsz | head  # who commits the most")
                    .next(format!(
                        "sysctl vm.overcommit_ratio={}  # or add swap: raises CommitLimit",
                        needed.map(|n| n.saturating_add(10)).unwrap_or(80)
                    ))
                    .next("grep -i commit /proc/meminfo  # watch it")
                    .score(p),
            );
        }
        mode if c.kb > l.kb => {
            let (title, policy_text) = match mode {
                Some(m) => (
                    format!("Committed_AS is {p:.0}% of CommitLimit, which mode {m} does not enforce"),
                    format!("vm.overcommit_memory is {m}, so CommitLimit is not enforced and this means nothing by itself."),
                ),
                None => (
                    format!("Committed_AS is {p:.0}% of CommitLimit; whether it matters depends on the unknown overcommit policy"),
                    "vm.overcommit_memory is not known: in modes 0 and 1 (0 is the default) this means nothing by itself; \
                     in mode 2 new allocations would be failing. Give `sysctl vm.overcommit_memory`."
                        .to_string(),
                ),
            };
            let mut f2 = Finding::new("overcommit.limit_not_enforced", Severity::Info, title)
                .explain(format!(
                    "Committed_AS ({}) is the address space processes have reserved (private writable mappings), not \
                     memory in use; it exceeds CommitLimit ({}). {policy_text} Memory pressure shows in free memory, \
                     reclaim and swap, not in this ratio. Switching to mode 2 now would make every new private mapping, \
                     brk and fork fail{}.",
                    kib(c.kb),
                    kib(l.kb),
                    needed.map(|n| format!(" unless CommitLimit is raised above Committed_AS (overcommit_ratio >= {n}% without more swap)")).unwrap_or_default()
                ))
                .evidence(ev_c)
                .evidence(ev_l);
            if let Some(m) = mode {
                f2 = f2.evidence(Evidence::int("vm.overcommit_memory", m, None, pol.mode_src.clone()));
            }
            out.findings.push(
                f2.next("grep -E 'MemAvailable|MemFree|SwapFree' /proc/meminfo  # actual headroom")
                    .next("sysctl vm.overcommit_memory vm.overcommit_ratio")
                    .score(p),
            );
            mode1_oom(case, pol, out);
        }
        _ => mode1_oom(case, pol, out),
    }
}

/// Mode 1 on a machine that OOM-kills: allocations never fail early, so exhaustion is left to the OOM killer.
fn mode1_oom(case: &Case, pol: &Policy, out: &mut Report) {
    if pol.mode != Some(1) {
        return;
    }
    let Some(v) = &case.vmstat else { return };
    let Some(e) = v.entries.iter().find(|e| e.key == "oom_kill").filter(|e| e.value > 0) else { return };
    out.findings.push(
        Finding::new(
            "overcommit.always_with_oom_kills",
            Severity::Warning,
            format!("overcommit mode 1 (always) on a machine with {} OOM kills", e.value),
        )
        .explain(
            "vm.overcommit_memory is 1: the kernel never refuses an allocation up front, so a program that asks for more \
             than the machine has gets it, and the shortage surfaces later as an OOM kill of whatever process scores \
             highest. Mode 0 refuses absurd single requests; mode 2 refuses past CommitLimit. Unless a workload needs \
             mode 1 (sparse mappings, some databases), mode 0 turns some of these kills into ENOMEM errors.",
        )
        .evidence(Evidence::int("oom_kill", e.value as i64, None, v.source_of("oom_kill")))
        .evidence(Evidence::int("vm.overcommit_memory", 1, None, pol.mode_src.clone()))
        .next("dmesg | grep -A30 'invoked oom-killer'  # who was killed, who asked")
        .next("sysctl vm.overcommit_memory=0")
        .score(e.value as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::super::watermarks::golden::check;
    use super::*;

    #[test]
    fn seed_004_over_limit_is_not_alarming() {
        let out = check("seed-004", "overcommit", run);
        let f = &out.findings[0];
        assert_eq!(f.id, "overcommit.limit_not_enforced");
        assert_eq!(f.severity, Severity::Info);
        assert!(f.title.contains("373%"), "{}", f.title);
        let rows = &out.tables[0].rows;
        let get = |k: &str| rows.iter().find(|r| r[0] == k).map(|r| r[1].clone()).unwrap_or_default();
        // (3967057 pages x 4 KiB) x 50% = 1983528 pages, the COMMIT LIMIT crash printed.
        assert!(
            rows.iter().any(|r| r[0] == "CommitLimit recomputed" && r[2].ends_with(": same")),
            "{rows:?}"
        );
        assert_eq!(get("overcommit_ratio mode 2 would need"), "187%");
        assert!(get("largest single request allowed").starts_with("at most "));
    }

    #[test]
    fn live_618_nothing_to_say() {
        let out = check("live-6.18-snapshot", "overcommit", run);
        assert!(out.findings.is_empty());
        let rows = &out.tables[0].rows;
        assert!(rows.iter().any(|r| r[0] == "largest single request allowed" && r[2].contains("since 5.2")));
    }

    #[test]
    fn el7_strict_mode_near_limit() {
        let out = check("el7-3.10-pressure", "overcommit", run);
        assert_eq!(out.findings[0].id, "overcommit.strict_limit_reached");
        assert_eq!(out.findings[0].severity, Severity::Critical);
    }

    #[test]
    fn unknown_policy_says_what_is_missing() {
        let mut c = Case::new();
        c.ingest(
            "meminfo",
            "MemTotal: 1000000 kB\nMemFree: 10000 kB\nCommitLimit: 500000 kB\nCommitted_AS: 900000 kB\n",
            None,
        );
        let mut out = Report::default();
        run(&c, &mut out);
        assert_eq!(out.tables[0].rows[0][1], "unknown");
        assert!(out.findings[0].title.contains("unknown overcommit policy"));
    }
}
