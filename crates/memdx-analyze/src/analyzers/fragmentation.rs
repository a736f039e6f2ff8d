//! Analyzer: external fragmentation per zone and order, from `/proc/buddyinfo` (or the per-migratetype
//! counts of `/proc/pagetypeinfo` summed when buddyinfo is absent).
//!
//! The two indices are computed exactly as mm/vmstat.c does for debugfs `extfrag/unusable_index` and
//! `extfrag/extfrag_index`, in integer arithmetic on the same buddy counts, and printed the same way
//! (`index / 1000` with three decimals):
//! - `unusable_free_index`: the share of free memory in blocks too small for the order (0 = all usable).
//! - `__fragmentation_index`: -1000 when a free block of the order exists; otherwise near 0 when a
//!   failure would come from lack of memory and near 1000 when it would come from fragmentation.
//!   `vm.extfrag_threshold` (default 500) is the line compaction uses for costly orders (> 3).

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::units::SatSum;
use memdx_core::{Evidence, Finding, Severity, SourceRef};
use memdx_core::{Report, Table};

/// `PAGE_ALLOC_COSTLY_ORDER`: the allocator tries hard (retries, OOM) up to this order.
pub const PAGE_ALLOC_COSTLY_ORDER: usize = 3;
const DEFAULT_EXTFRAG_THRESHOLD: i64 = 500;

/// `struct contig_page_info` of mm/vmstat.c for one zone and target order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContigInfo {
    pub free_pages: u64,
    pub free_blocks_total: u64,
    pub free_blocks_suitable: u64,
}

/// `fill_contig_page_info`: `free[k]` = free blocks of order k.
pub fn contig_info(free: &[u64], order: usize) -> ContigInfo {
    let mut i = ContigInfo { free_pages: 0, free_blocks_total: 0, free_blocks_suitable: 0 };
    for (k, &blocks) in free.iter().enumerate() {
        i.free_blocks_total = i.free_blocks_total.saturating_add(blocks);
        i.free_pages = i.free_pages.saturating_add(blocks.checked_shl(k as u32).unwrap_or(u64::MAX));
        if k >= order {
            let s = blocks.checked_shl((k - order) as u32).unwrap_or(u64::MAX);
            i.free_blocks_suitable = i.free_blocks_suitable.saturating_add(s);
        }
    }
    i
}

/// `unusable_free_index` (x1000): 1000 when nothing is free.
pub fn unusable_free_index(order: usize, i: &ContigInfo) -> i64 {
    if i.free_pages == 0 {
        return 1000;
    }
    let usable = i.free_blocks_suitable.saturating_mul(1u64.checked_shl(order as u32).unwrap_or(u64::MAX));
    (i.free_pages.saturating_sub(usable) as u128 * 1000 / i.free_pages as u128) as i64
}

/// `__fragmentation_index` (x1000): 0 with no free blocks, -1000 when a suitable block exists.
pub fn fragmentation_index(order: usize, i: &ContigInfo) -> i64 {
    if i.free_blocks_total == 0 {
        return 0;
    }
    if i.free_blocks_suitable > 0 {
        return -1000;
    }
    let requested = 1u128 << order.min(63);
    let x = (1000 + i.free_pages as u128 * 1000 / requested) / i.free_blocks_total as u128;
    1000 - x.min(i64::MAX as u128) as i64
}

/// [`unusable_free_index`] of a zone's free block counts per order (x1000, 1000 when nothing is free).
pub fn unusable_index(free: &[u64], order: usize) -> i64 {
    unusable_free_index(order, &contig_info(free, order))
}

/// [`fragmentation_index`] of a zone's free block counts per order (x1000).
pub fn extfrag_index(free: &[u64], order: usize) -> i64 {
    fragmentation_index(order, &contig_info(free, order))
}

/// The kernel's `%d.%03d` of `index / 1000, index % 1000`.
pub fn kernel_fmt(index: i64) -> String {
    format!("{}.{:03}", index / 1000, index % 1000)
}

/// Who needs blocks of an order (4 KiB pages; x86-64 and most arm64).
fn users(order: usize, pageblock_order: usize) -> &'static str {
    match order {
        0 => "single pages",
        1 => "8 KiB: some slab caches, page tables on a few architectures",
        2 => "16 KiB: kernel stacks without VMAP_STACK, fork",
        3 => "32 KiB: SLUB slabs (slub_max_order 3), network drivers, jumbo frames and skb fragments",
        o if o == pageblock_order => "2 MiB: transparent huge pages, runtime hugetlb",
        o if o < pageblock_order => "64 KiB..1 MiB: drivers' DMA buffers, large kmalloc",
        _ => "the largest blocks: CMA and other contiguous allocations",
    }
}

/// One zone's free blocks per order, wherever they came from.
struct ZoneFree {
    node: u32,
    zone: String,
    free: Vec<u64>,
    src: SourceRef,
}

fn zones(case: &Case, notes: &mut Vec<String>) -> Option<(Vec<ZoneFree>, String)> {
    if let Some(b) = &case.buddyinfo {
        let z = b
            .zones
            .iter()
            .map(|z| ZoneFree {
                node: z.node,
                zone: z.zone.clone(),
                free: z.free.clone(),
                src: b.source.at(z.line as usize),
            })
            .collect();
        return Some((z, b.source.file.to_string()));
    }
    let p = case.pagetypeinfo.as_ref()?;
    let mut out: Vec<ZoneFree> = Vec::new();
    for t in &p.free {
        match out.iter_mut().find(|z| z.node == t.node && z.zone == t.zone) {
            Some(z) => {
                if z.free.len() < t.free.len() {
                    z.free.resize(t.free.len(), 0);
                }
                z.free.iter_mut().zip(&t.free).for_each(|(a, b)| *a = a.saturating_add(*b));
            }
            None => out.push(ZoneFree {
                node: t.node,
                zone: t.zone.clone(),
                free: t.free.clone(),
                src: p.source.at(t.line as usize),
            }),
        }
    }
    notes.push("free blocks summed over migratetypes of pagetypeinfo (no buddyinfo given)".into());
    if p.free.iter().any(|t| t.capped) {
        notes.push("pagetypeinfo caps counts at 100000 (`>100000`): those orders count 100000, indices are approximate".into());
    }
    (!out.is_empty()).then(|| (out, p.source.file.to_string()))
}

pub fn run(case: &Case, out: &mut Report) {
    let mut notes = Vec::new();
    let Some((zones, file)) = zones(case, &mut notes) else { return };
    let threshold =
        case.sysctl.as_ref().and_then(|s| s.int("vm.extfrag_threshold")).unwrap_or(DEFAULT_EXTFRAG_THRESHOLD);
    let threshold_src = case.sysctl.as_ref().and_then(|s| s.at("vm.extfrag_threshold"));
    let pageblock_order =
        case.pagetypeinfo.as_ref().and_then(|p| p.pageblock_order).map(|o| o as usize).unwrap_or(9);
    let orders = zones.iter().map(|z| z.free.len()).max().unwrap_or(0);
    let mut columns = vec!["zone".to_string(), "".to_string()];
    columns.extend((0..orders).map(|o| o.to_string()));
    let mut rows = Vec::new();
    for z in &zones {
        let name = format!("{} {}", z.node, z.zone);
        let mut blocks = vec![name.clone(), "free blocks".into()];
        let mut unusable = vec![name.clone(), "unusable".into()];
        let mut extfrag = vec![name, "extfrag".into()];
        for o in 0..orders {
            blocks.push(z.free.get(o).map(|v| v.to_string()).unwrap_or_default());
            let i = contig_info(&z.free, o);
            unusable.push(kernel_fmt(unusable_free_index(o, &i)));
            extfrag.push(kernel_fmt(fragmentation_index(o, &i)));
        }
        rows.extend([blocks, unusable, extfrag]);
    }
    notes.push(
        "unusable = share of free memory in blocks smaller than the order; extfrag = -1.000 when a block of the \
         order is free, else near 0: failure from lack of memory, near 1: from fragmentation (mm/vmstat.c, as debugfs \
         extfrag/ prints them)"
            .into(),
    );
    notes.push(format!(
        "vm.extfrag_threshold {threshold}{}: for orders above 3 compaction runs only when extfrag > {}",
        if threshold_src.is_none() { " (default assumed)" } else { "" },
        kernel_fmt(threshold)
    ));
    out.tables.push(Table {
        id: "fragmentation.index".into(),
        title: format!("Free blocks and fragmentation per zone and order ({file})"),
        columns,
        rows,
        notes,
    });
    migratetypes(case, pageblock_order, out);

    let multi_zone = |node: u32| zones.iter().filter(|z| z.node == node).count() > 1;
    for z in &zones {
        // ZONE_DMA serves only GFP_DMA allocations when other zones exist; its state does not matter here.
        if z.zone == "DMA" && multi_zone(z.node) {
            continue;
        }
        let total = contig_info(&z.free, 0);
        if total.free_pages == 0 {
            continue;
        }
        let Some(fail) = (1..z.free.len()).find(|&o| contig_info(&z.free, o).free_blocks_suitable == 0)
        else {
            continue;
        };
        finding(case, z, fail, threshold, threshold_src.clone(), pageblock_order, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    case: &Case,
    z: &ZoneFree,
    fail: usize,
    threshold: i64,
    threshold_src: Option<SourceRef>,
    pageblock_order: usize,
    out: &mut Report,
) {
    let page_kb = case.page_kb();
    let info = contig_info(&z.free, fail);
    let idx = fragmentation_index(fail, &info);
    let unusable = unusable_free_index(fail, &info);
    let sev = match fail {
        0..=1 => Severity::Critical,
        2..=PAGE_ALLOC_COSTLY_ORDER => Severity::Warning,
        _ => Severity::Info,
    };
    let cause = if idx > threshold {
        "fragmentation: there is free memory, in pieces too small; compaction can assemble larger blocks"
    } else {
        "lack of free memory more than fragmentation: reclaim has to free memory first, compaction alone will not help"
    };
    let at_risk: Vec<String> = (fail..z.free.len())
        .filter(|&o| o <= PAGE_ALLOC_COSTLY_ORDER || o == pageblock_order || o + 1 == z.free.len())
        .map(|o| format!("order {o} ({})", users(o, pageblock_order)))
        .collect();
    let name = format!("Node {}, zone {}", z.node, z.zone);
    let costly = if fail <= PAGE_ALLOC_COSTLY_ORDER {
        format!(
            "Orders up to {PAGE_ALLOC_COSTLY_ORDER} are not costly: the allocator reclaims, compacts and retries, and \
             can end in the OOM killer while free memory remains; atomic allocations (network receive) fail at once \
             with a `page allocation failure: order:{fail}` warning."
        )
    } else {
        format!(
            "Order {fail} and above are costly: the allocator gives up after a round of reclaim and compaction (THP \
             falls back to small pages), so this costs latency and huge-page coverage rather than stability."
        )
    };
    let mut f = Finding::new(
        "fragmentation.high_order_unavailable",
        sev,
        format!(
            "{name}: no free block of order {fail} or above ({} and larger); extfrag index {}",
            kib((1u64 << fail.min(40)).saturating_mul(page_kb)),
            kernel_fmt(idx)
        ),
    )
    .explain(format!(
        "{name} has {} free ({} pages in {} blocks) but none of order {fail} or above, so every allocation of order \
         {fail}+ needs compaction or reclaim first. Index at order {fail}: extfrag {} against extfrag_threshold {}, \
         unusable {}: {cause}. {costly} At risk: {}.",
        kib(info.free_pages.saturating_mul(page_kb)),
        info.free_pages,
        info.free_blocks_total,
        kernel_fmt(idx),
        kernel_fmt(threshold),
        kernel_fmt(unusable),
        at_risk.join("; ")
    ))
    .evidence(Evidence::text(format!("{} free blocks per order", z.zone), join(&z.free), Some(z.src.clone())))
    .evidence(Evidence::int("free pages", info.free_pages as i64, Some("pages"), Some(z.src.clone())))
    .evidence(Evidence::float(format!("extfrag index, order {fail}"), idx as f64 / 1000.0, None, None))
    .evidence(Evidence::int("vm.extfrag_threshold", threshold, None, threshold_src));
    if let Some(p) = &case.pagetypeinfo {
        if let Some(b) = p.blocks.iter().find(|b| b.node == z.node && b.zone == z.zone) {
            let total: u64 = b.counts.iter().map(|(_, n)| n).sat_sum();
            let unmovable: u64 = b
                .counts
                .iter()
                .filter(|(t, _)| t == "Unmovable" || t == "Reclaimable")
                .map(|(_, n)| n)
                .sat_sum();
            f = f.evidence(Evidence::text(
                "pageblocks Unmovable+Reclaimable / all",
                format!("{unmovable} / {total}"),
                Some(p.source.at(b.line as usize)),
            ));
        }
    }
    f = f
        .next("grep -E 'compact_(stall|fail|success)|thp_fault_fallback|pgalloc' /proc/vmstat  # compaction working?")
        .next("dmesg | grep -E 'page allocation failure: order:[1-9]'")
        .next("cat /proc/pagetypeinfo  # Unmovable/Reclaimable pageblocks scattered through the zone block compaction");
    if idx > threshold {
        f = f.next(
            "echo 1 > /proc/sys/vm/compact_memory  # compact now (costs CPU), then re-read /proc/buddyinfo",
        );
        if case.version().is_some_and(|v| v.at_least(5, 9)) {
            f = f.next("sysctl vm.compaction_proactiveness  # background compaction (5.9+), raise from 20 if high orders keep running out");
        }
    } else {
        f = f.next("memdx diagnose  # with meminfo and zoneinfo: see what holds the memory");
    }
    f = f.next("raise vm.min_free_kbytes (e.g. to 1-2% of RAM) to keep more free pageblocks for high-order allocations");
    out.findings.push(f.score((z.free.len() - fail) as f64 * 1000.0 + idx.max(0) as f64));
}

fn join(v: &[u64]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
}

/// Free memory per migratetype, and how much of it sits in high-order blocks, from pagetypeinfo.
fn migratetypes(case: &Case, pageblock_order: usize, out: &mut Report) {
    let Some(p) = &case.pagetypeinfo else { return };
    let page_kb = case.page_kb();
    let mut rows = Vec::new();
    for t in &p.free {
        let all = contig_info(&t.free, 0).free_pages;
        let blocks = p
            .blocks
            .iter()
            .find(|b| b.node == t.node && b.zone == t.zone)
            .and_then(|b| b.counts.iter().find(|(n, _)| *n == t.migratetype))
            .map(|(_, n)| *n);
        if all == 0 && blocks.unwrap_or(0) == 0 {
            continue;
        }
        let at = |o: usize| {
            let i = contig_info(&t.free, o);
            kib(i.free_blocks_suitable.saturating_mul(1 << o.min(63)).saturating_mul(page_kb))
        };
        rows.push(vec![
            format!("{} {}", t.node, t.zone),
            t.migratetype.clone(),
            format!("{}{}", kib(all.saturating_mul(page_kb)), if t.capped { " (capped)" } else { "" }),
            at(PAGE_ALLOC_COSTLY_ORDER),
            at(pageblock_order),
            blocks.map(|b| b.to_string()).unwrap_or_default(),
        ]);
    }
    if rows.is_empty() {
        return;
    }
    out.tables.push(Table {
        id: "fragmentation.migratetype".into(),
        title: format!("Free memory by migratetype ({})", p.source.file),
        columns: vec![
            "zone".into(),
            "migratetype".into(),
            "free".into(),
            format!("in blocks >= order {PAGE_ALLOC_COSTLY_ORDER}"),
            format!("in blocks >= order {pageblock_order}"),
            "pageblocks".into(),
        ],
        rows,
        notes: vec![format!(
            "a pageblock is {} pages; Unmovable and Reclaimable pageblocks mixed through a zone keep compaction from \
             assembling high-order blocks",
            p.pages_per_block.map(|n| n.to_string()).unwrap_or_else(|| (1u64 << pageblock_order).to_string())
        )],
    });
}

#[cfg(test)]
mod tests {
    use super::super::watermarks::golden::{check, dir};
    use super::*;

    #[test]
    fn indices_of_free_lists() {
        // 10 order-0 blocks, nothing larger: order 3 cannot be served from 10 free pages.
        assert_eq!(unusable_index(&[10, 0, 0, 0], 3), 1000);
        assert_eq!(unusable_index(&[0, 0, 0, 2], 3), 0);
        assert_eq!(unusable_index(&[], 0), 1000);
        // free 8 pages as 8 blocks, order 3: 1000 - (1000 + 8*1000/8) / 8 = 750.
        assert_eq!(extfrag_index(&[8, 0, 0, 0], 3), 750);
        assert_eq!(extfrag_index(&[0, 0, 0, 1], 3), -1000);
        assert_eq!(extfrag_index(&[0, 0], 1), 0);
    }

    /// Parses debugfs `extfrag/*` lines (`Node 0, zone Normal 0.000 0.008 ...`) into x1000 integers.
    fn kernel_rows(text: &str) -> Vec<(String, Vec<i64>)> {
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("Node ")?;
                let (_, rest) = rest.split_once(", zone")?;
                let mut it = rest.split_whitespace();
                let zone = it.next()?.to_string();
                let vals = it
                    .map(|v| {
                        let neg = v.starts_with('-');
                        let (a, b) = v.trim_start_matches('-').split_once('.').expect("x.yyy");
                        let x = a.parse::<i64>().expect("int") * 1000 + b.parse::<i64>().expect("frac");
                        if neg {
                            -x
                        } else {
                            x
                        }
                    })
                    .collect();
                Some((zone, vals))
            })
            .collect()
    }

    /// Our indices against the kernel's for the zones in `zones`, from a buddyinfo read at the same moment.
    fn compare(case: &str, zones: &[&str]) {
        let c = super::super::watermarks::golden::load(case);
        let b = c.buddyinfo.as_ref().expect("buddyinfo");
        let read = |n: &str| std::fs::read_to_string(dir(case).join(n)).expect(n);
        let unusable = kernel_rows(&read("debugfs_unusable_index.kernel"));
        let extfrag = kernel_rows(&read("debugfs_extfrag_index.kernel"));
        let mut compared = 0;
        for z in b.zones.iter().filter(|z| zones.contains(&z.zone.as_str())) {
            let ku = &unusable.iter().find(|(n, _)| *n == z.zone).expect("zone in unusable_index").1;
            let ke = &extfrag.iter().find(|(n, _)| *n == z.zone).expect("zone in extfrag_index").1;
            for o in 0..z.free.len() {
                let i = contig_info(&z.free, o);
                assert_eq!(unusable_free_index(o, &i), ku[o], "{case} {} unusable order {o}", z.zone);
                assert_eq!(fragmentation_index(o, &i), ke[o], "{case} {} extfrag order {o}", z.zone);
                compared += 1;
            }
        }
        assert_eq!(compared, zones.len() * 11);
    }

    #[test]
    fn matches_kernel_on_live_capture() {
        // buddyinfo read twice around the debugfs reads, unchanged: the same moment for every zone.
        compare("live-6.18-extfrag", &["DMA", "DMA32", "Normal"]);
    }

    #[test]
    fn matches_kernel_on_fixture_snapshot() {
        // The fixture's debugfs extfrag was read later than its buddyinfo: DMA and DMA32 did not change
        // in between and match; Normal did change (its unusable index differs), so it is left out.
        compare("live-6.18-snapshot", &["DMA", "DMA32"]);
    }

    #[test]
    fn formulas_by_hand() {
        // Only order 0..2 blocks: 100 + 2*50 + 4*10 = 240 pages in 160 blocks.
        let free = [100, 50, 10, 0, 0];
        let i = contig_info(&free, 3);
        assert_eq!((i.free_pages, i.free_blocks_total, i.free_blocks_suitable), (240, 160, 0));
        // 1000 - (1000 + 240*1000/8) / 160 = 1000 - 31000/160 = 1000 - 193 = 807
        assert_eq!(fragmentation_index(3, &i), 807);
        assert_eq!(unusable_free_index(3, &i), 1000);
        assert_eq!(fragmentation_index(2, &contig_info(&free, 2)), -1000);
        // (240 - 10*4) * 1000 / 240 = 833
        assert_eq!(unusable_free_index(2, &contig_info(&free, 2)), 833);
        assert_eq!(fragmentation_index(0, &contig_info(&[0, 0], 0)), 0);
        assert_eq!(unusable_free_index(0, &contig_info(&[0, 0], 0)), 1000);
        assert_eq!(kernel_fmt(-1000), "-1.000");
        assert_eq!(kernel_fmt(66), "0.066");
        // Absurd counts do not overflow.
        let big = contig_info(&[u64::MAX; 20], 19);
        assert_eq!(fragmentation_index(19, &big), -1000);
    }

    #[test]
    fn absurd_numbers_do_not_panic() {
        let mut c = Case::new();
        let big = u64::MAX;
        let orders = format!("{big} {big} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 {big}");
        c.ingest("b", &format!("Node 0, zone Normal {orders}\n"), None);
        c.ingest(
            "z",
            &format!(
                "Node 0, zone Normal\n  pages free {big}\n        boost {big}\n        min {big}\n        low 1\n        \
                 high {big}\n        managed {big}\n        protection: ({big}, {big})\n"
            ),
            None,
        );
        let max = i64::MAX;
        c.ingest(
            "s",
            &format!(
                "vm.min_free_kbytes = {max}\nvm.watermark_scale_factor = {max}\nvm.overcommit_memory = 2\n\
                 vm.overcommit_kbytes = {max}\nvm.extfrag_threshold = {max}\n"
            ),
            None,
        );
        c.ingest(
            "m",
            &format!(
                "MemTotal: {big} kB\nMemFree: {big} kB\nCommitLimit: {big} kB\nCommitted_AS: {big} kB\n\
                 SwapTotal: {big} kB\nHugePages_Total: {big}\nHugepagesize: {big} kB\n"
            ),
            None,
        );
        assert!(c.zoneinfo.is_some() && c.buddyinfo.is_some() && c.sysctl.is_some() && c.meminfo.is_some());
        // Every analyzer (tests/absurd.rs in the binary does the same on real inputs of every kind).
        let report = crate::analyze(&c);
        assert!(report.tables.len() >= 3);
    }

    #[test]
    fn live_618_snapshot() {
        let out = check("live-6.18-snapshot", "fragmentation", run);
        assert!(out.findings.is_empty());
        assert_eq!(out.tables.len(), 2);
    }

    #[test]
    fn el7_fragmented_normal() {
        let out = check("el7-3.10-pressure", "fragmentation", run);
        let f = out.findings.iter().find(|f| f.title.contains("zone Normal")).expect("Normal finding");
        assert_eq!(f.id, "fragmentation.high_order_unavailable");
        assert!(f.title.contains("order 3"), "{}", f.title);
        assert_eq!(f.severity, Severity::Warning);
        // DMA32 still has order-3 blocks: only costly orders are affected there.
        let d = out.findings.iter().find(|f| f.title.contains("zone DMA32")).expect("DMA32 finding");
        assert_eq!(d.severity, Severity::Info);
    }
}
