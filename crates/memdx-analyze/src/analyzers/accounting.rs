//! Analyzer: where RAM went, from `/proc/meminfo` (or `crash kmem -i` when that is all there is).
//!
//! The categories are disjoint as the kernel counts them: `Cached` includes `Shmem`; `AnonPages`
//! excludes shmem; `KReclaimable` (4.20+) includes `SReclaimable`, so only the latter is used. What no
//! category explains is memory taken straight from the page allocator (drivers, GPU, balloon, page
//! tables of other mm, leaks in `alloc_pages` users).

use crate::case::Case;
use memdx_core::units::{kib, pct};
use memdx_core::{Evidence, Finding, Severity};
use memdx_core::{Report, Table};
use memdx_parse::meminfo::Meminfo;

const MIB: u64 = 1024;
const GIB: u64 = 1024 * 1024;

/// (label, meminfo keys summed) in display order.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("free", &["MemFree"]),
    ("anonymous (AnonPages)", &["AnonPages"]),
    ("page cache, not shmem (Buffers + Cached - Shmem)", &["Buffers", "Cached"]),
    ("shmem/tmpfs (Shmem)", &["Shmem"]),
    ("swap cache (SwapCached)", &["SwapCached"]),
    ("slab reclaimable (SReclaimable)", &["SReclaimable"]),
    ("slab unreclaimable (SUnreclaim)", &["SUnreclaim"]),
    ("kernel stacks (KernelStack)", &["KernelStack"]),
    ("page tables (PageTables + SecPageTables)", &["PageTables", "SecPageTables"]),
    ("percpu (Percpu, 4.16+)", &["Percpu"]),
    ("vmalloc (VmallocUsed)", &["VmallocUsed"]),
    ("hugetlb (Hugetlb, or HugePages_Total x Hugepagesize)", &[]),
];

fn hugetlb_kb(m: &Meminfo) -> u64 {
    m.kb("Hugetlb").unwrap_or_else(|| {
        m.kb("HugePages_Total").unwrap_or(0).saturating_mul(m.kb("Hugepagesize").unwrap_or(0))
    })
}

/// Sizes per category in kB; `None` when the file lacks every key of the category.
fn categories(m: &Meminfo, total: u64) -> Vec<(&'static str, Option<u64>)> {
    CATEGORIES
        .iter()
        .map(|(label, keys)| {
            let v = match *label {
                l if l.starts_with("page cache") => match (m.kb("Buffers"), m.kb("Cached")) {
                    (None, None) => None,
                    (b, c) => Some(
                        (b.unwrap_or(0).saturating_add(c.unwrap_or(0)))
                            .saturating_sub(m.kb("Shmem").unwrap_or(0)),
                    ),
                },
                l if l.starts_with("hugetlb") => Some(hugetlb_kb(m)),
                // Before 4.x VmallocUsed was address space, not pages, and can exceed RAM.
                l if l.starts_with("vmalloc") => m.kb("VmallocUsed").filter(|&v| v < total),
                _ => {
                    let vals: Vec<u64> = keys.iter().filter_map(|k| m.kb(k)).collect();
                    (!vals.is_empty()).then(|| vals.iter().fold(0u64, |a, b| a.saturating_add(*b)))
                }
            };
            (*label, v)
        })
        .collect()
}

/// Where RAM went from a crash dump's `kmem -i` (the memory at the crash). Its rows are not all
/// disjoint: SHARED overlaps the others and is left out; USED less page cache, buffers and slab is
/// anonymous memory plus the rest of the kernel, which kmem -i does not split.
fn kmem_breakdown(case: &Case, out: &mut Report) {
    let Some(k) = &case.kmem else { return };
    let page = case.page_kb();
    let kb = |l: &str| k.pages(l).map(|p| p.saturating_mul(page));
    let (Some(total), Some(free)) = (kb("TOTAL MEM"), kb("FREE")) else { return };
    let parts = [
        ("page cache (CACHED)", kb("CACHED")),
        ("buffers (BUFFERS)", kb("BUFFERS")),
        ("slab (SLAB)", kb("SLAB")),
    ];
    let named: u64 = parts.iter().filter_map(|p| p.1).fold(0, u64::saturating_add);
    let mut rows = vec![vec!["free (FREE)".to_string(), kib(free), format!("{:.1}%", pct(free, total))]];
    for (l, v) in parts {
        if let Some(v) = v {
            rows.push(vec![l.to_string(), kib(v), format!("{:.1}%", pct(v, total))]);
        }
    }
    let rest = total.saturating_sub(free).saturating_sub(named);
    rows.push(vec![
        "anonymous and other kernel use (the rest of USED)".into(),
        kib(rest),
        format!("{:.1}%", pct(rest, total)),
    ]);
    let mut notes = vec!["kmem -i does not split anonymous memory from other kernel use; SHARED overlaps the rows and is left out".into()];
    match kb("TOTAL SWAP") {
        Some(0) => notes.push("no swap: TOTAL SWAP is 0, so anonymous memory could not be reclaimed".into()),
        Some(s) => notes.push(format!("swap {} (SWAP USED {})", kib(s), kib(kb("SWAP USED").unwrap_or(0)))),
        None => {}
    }
    out.tables.push(Table {
        id: "memory.breakdown".into(),
        title: format!("Where RAM went at the crash (kmem -i TOTAL MEM {}, {})", kib(total), k.source.file),
        columns: vec!["category".into(), "size".into(), "of RAM".into()],
        rows,
        notes,
    });
}

pub fn run(case: &Case, out: &mut Report) {
    let Some(m) = &case.meminfo else { return kmem_breakdown(case, out) };
    let total = m.kb("MemTotal");
    if let Some(total) = total {
        let cats = categories(m, total);
        let explained: u64 = cats.iter().filter_map(|(_, v)| *v).fold(0u64, u64::saturating_add);
        let unexplained = total.saturating_sub(explained);
        let mut rows: Vec<Vec<String>> = cats
            .iter()
            .filter_map(|(l, v)| v.map(|v| vec![l.to_string(), kib(v), format!("{:.1}%", pct(v, total))]))
            .collect();
        rows.push(vec![
            "not in any category above".into(),
            kib(unexplained),
            format!("{:.1}%", pct(unexplained, total)),
        ]);
        out.tables.push(Table {
            id: "memory.breakdown".into(),
            title: format!("Where RAM went (MemTotal {}, {})", kib(total), m.source.file),
            columns: vec!["category".into(), "size".into(), "of RAM".into()],
            rows,
            notes: vec![],
        });
        if unexplained >= GIB && pct(unexplained, total) >= 10.0 {
            out.findings.push(
                Finding::new("memory.unexplained", Severity::Warning, format!("{} of RAM is in no meminfo category", kib(unexplained)))
                    .explain(format!(
                        "MemTotal minus free, anonymous, page cache, shmem, slab, kernel stacks, page tables, percpu, vmalloc \
                         and hugetlb leaves {} ({:.0}% of RAM). Such memory was taken straight from the page allocator: \
                         drivers (GPU, RDMA, network rings), a balloon driver, or a leak in an alloc_pages() user.",
                        kib(unexplained),
                        pct(unexplained, total)
                    ))
                    .evidence(Evidence::int("MemTotal", total as i64, Some("kB"), m.at("MemTotal")))
                    .evidence(Evidence::int("explained", explained as i64, Some("kB"), None))
                    .next("cat /proc/vmallocinfo | sort -k2 -n | tail  # large vmalloc users")
                    .next("boot with page_owner=on, then: cat /sys/kernel/debug/page_owner > owner.txt; tools/mm/page_owner_sort owner.txt sorted.txt")
                    .score(unexplained as f64),
            );
        }
        if let Some(avail) = m.kb("MemAvailable") {
            let p = pct(avail, total);
            if p < 5.0 {
                let sev = if p < 2.0 { Severity::Critical } else { Severity::Warning };
                out.findings.push(
                    Finding::new("memory.low_available", sev, format!("only {} available ({p:.1}% of RAM)", kib(avail)))
                        .explain("MemAvailable is the kernel's estimate of what can be allocated without swapping: free pages above the watermarks plus the reclaimable part of page cache and slab. Below a few percent, allocations enter direct reclaim and the OOM killer is close.")
                        .evidence(Evidence::int("MemAvailable", avail as i64, Some("kB"), m.at("MemAvailable")))
                        .evidence(Evidence::int("MemTotal", total as i64, Some("kB"), m.at("MemTotal")))
                        .next("memdx diagnose --verbose  # see the breakdown table for what holds the memory")
                        .next("ps -eo pid,comm,rss --sort=-rss | head")
                        .score((100.0 - p) * 1000.0),
                );
            }
        }
    }
    unreclaimable_slab(m, total, out);
}

fn unreclaimable_slab(m: &Meminfo, total: Option<u64>, out: &mut Report) {
    let Some(sun) = m.kb("SUnreclaim") else { return };
    let slab = m.kb("Slab").or_else(|| m.kb("SReclaimable").map(|r| r.saturating_add(sun)));
    let of_slab = slab.map(|s| pct(sun, s));
    let of_ram = total.map(|t| pct(sun, t));
    // Large in absolute terms (>= 512 MiB) and relative ones: >= 5% of RAM, or, when RAM is not known
    // (a `grep Slab -A2` excerpt), >= 70% of all slab.
    let relative = match (of_ram, of_slab) {
        (Some(r), _) => r >= 5.0,
        (None, Some(s)) => s >= 70.0,
        (None, None) => false,
    };
    if sun < 512 * MIB || !relative {
        return;
    }
    let sev = if of_ram.is_some_and(|r| r >= 20.0) { Severity::Critical } else { Severity::Warning };
    let mut rel = Vec::new();
    if let Some(s) = of_slab {
        rel.push(format!("{s:.0}% of slab"));
    }
    if let Some(r) = of_ram {
        rel.push(format!("{r:.1}% of RAM"));
    }
    let mut f = Finding::new("memory.unreclaimable_slab", sev, format!("unreclaimable slab is {} ({})", kib(sun), rel.join(", ")))
        .explain(format!(
            "SUnreclaim {sun} kB is kernel objects that no shrinker can free: they go away only when their owner frees \
             them. At this size a cache is usually leaking or growing with something it tracks (cgroups, sockets, \
             files). The slab table shows which caches hold it."
        ))
        .evidence(Evidence::int("SUnreclaim", sun as i64, Some("kB"), m.at("SUnreclaim")));
    if let Some(s) = slab {
        f = f.evidence(Evidence::int("Slab", s as i64, Some("kB"), m.at("Slab")));
    }
    if let Some(r) = m.kb("SReclaimable") {
        f = f.evidence(Evidence::int("SReclaimable", r as i64, Some("kB"), m.at("SReclaimable")));
    }
    if let Some(s) = of_slab {
        f = f.evidence(Evidence::float("SUnreclaim share of slab", s, Some("%"), None));
    }
    if let (Some(t), Some(r)) = (total, of_ram) {
        f = f.evidence(Evidence::float("SUnreclaim share of RAM", r, Some("%"), m.at("MemTotal")));
        let _ = t;
    }
    out.findings.push(
        f.next("slabtop -s c -o | head -20  # or give memdx /proc/slabinfo")
            .next("memdx trace slab <cache> --duration 60s  # who allocates without freeing")
            .score(sun as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_000_excerpt_flags_sunreclaim() {
        let mut c = Case::new();
        c.ingest(
            "meminfo.txt",
            "Slab:             913952 kB\nSReclaimable:     175568 kB\nSUnreclaim:       738384 kB\n",
            None,
        );
        let mut out = Report::default();
        run(&c, &mut out);
        let f = &out.findings[0];
        assert_eq!(f.id, "memory.unreclaimable_slab");
        assert_eq!(f.title, "unreclaimable slab is 721.1 MiB (81% of slab)");
        assert_eq!(f.severity, Severity::Warning);
    }

    /// Seed 004's `kmem -i` (testdata/analyze/seed-004/crash_kmem_i.txt): FREE 28799 pages = 112.5
    /// MiB; the rest of USED is 3967057 - 28799 - 1387497 - 102855 - 199579 = 2248327 pages = 8.6 GiB;
    /// TOTAL SWAP 0.
    #[test]
    fn kmem_i_where_ram_went() {
        let mut c = Case::new();
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/analyze/seed-004/crash_kmem_i.txt");
        c.ingest("kmem.txt", &std::fs::read_to_string(p).expect("kmem -i"), None);
        let mut out = Report::default();
        run(&c, &mut out);
        let t = out.tables.iter().find(|t| t.id == "memory.breakdown").expect("breakdown from kmem -i");
        assert_eq!(t.rows[0], vec!["free (FREE)", "112.5 MiB", "0.7%"]);
        assert_eq!(t.rows.last().map(|r| r[1].as_str()), Some("8.6 GiB"));
        assert!(t.notes.iter().any(|n| n.starts_with("no swap")), "{:?}", t.notes);
    }

    #[test]
    fn breakdown_sums_to_total() {
        let mut c = Case::new();
        let t = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 300 kB\nShmem: 50 kB\nAnonPages: 200 kB\nSReclaimable: 40 kB\nSUnreclaim: 60 kB\nKernelStack: 10 kB\nPageTables: 20 kB\n";
        c.ingest("m", t, None);
        let mut out = Report::default();
        run(&c, &mut out);
        let rows = &out.tables[0].rows;
        assert_eq!(rows.last().unwrap()[1], "260 KiB");
    }
}
