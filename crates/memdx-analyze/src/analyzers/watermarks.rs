//! Analyzer: zone watermarks. Per zone `min`/`low`/`high` as `/proc/zoneinfo` prints them, the same
//! values recomputed from `vm.min_free_kbytes`, `vm.watermark_scale_factor` and the managed pages with
//! the kernel's own formula (`__setup_per_zone_wmarks` in mm/page_alloc.c), free pages against them and
//! against the lowmem reserve (`protection`), and what the kernel does at each threshold.
//!
//! The formula, as the kernel source has it:
//! - `pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)`, shared among the lowmem zones in proportion to
//!   managed pages: `tmp = pages_min * managed / lowmem_managed`. Lowmem excludes `HighMem`, and on
//!   recent kernels `Movable` too; those zones get `min = clamp(managed / 1024, 32, 128)`.
//! - Since 4.6 (commit 795ae7a0de6b): `scale = max(tmp / 4, managed * watermark_scale_factor / 10000)`,
//!   `low = min + scale`, `high = low + scale`, and on 6.x `promo = high + scale`. Note `tmp`, not `min`:
//!   for HighMem/Movable the distance comes from the proportional share, not from the clamp.
//! - Before 4.6: `low = min + tmp / 4`, `high = min + tmp / 2`.
//! - Since 5.0 `watermark_boost` is added to every watermark while a fragmentation event's boost lasts,
//!   and zoneinfo prints the boosted values.
//!
//! When the Movable zone became capped like HighMem is not pinned down here, so for a populated Movable
//! zone on a 5.x kernel both models are tried and the table says which one the kernel's numbers fit.
//! With no zoneinfo (a crash dump's `kmem -i`, a meminfo) the sums over all zones are estimated as if
//! there were one lowmem zone: exact up to rounding, because every zone has the same min/managed ratio.

use crate::case::Case;
use memdx_core::kver::KernelVersion;
use memdx_core::units::kib;
use memdx_core::units::SatSum;
use memdx_core::{Evidence, Finding, Severity, SourceRef};
use memdx_core::{Report, Table};
use memdx_parse::zoneinfo::{Zone, Zoneinfo};

/// `SWAP_CLUSTER_MAX`, the lower clamp of a HighMem zone's min.
const SWAP_CLUSTER_MAX: u64 = 32;
const DEFAULT_WSF: u64 = 10;
const DEFAULT_BOOST_FACTOR: u64 = 15000;

/// Which distance between the watermarks the kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// Before 4.6: `low = min + tmp/4`, `high = min + tmp/2`.
    Fixed,
    /// Since 4.6: the distance is `max(tmp/4, managed * watermark_scale_factor / 10000)`.
    Scaled,
}

impl Formula {
    /// The formula of a kernel version; `None` (unknown version) gives the current one.
    pub fn for_version(v: Option<KernelVersion>) -> Formula {
        match v {
            Some(v) if !v.at_least(4, 6) => Formula::Fixed,
            _ => Formula::Scaled,
        }
    }
}

/// The parameters of one `__setup_per_zone_wmarks` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WmarkParams {
    pub min_free_kbytes: u64,
    pub page_kb: u64,
    pub watermark_scale_factor: u64,
    pub formula: Formula,
    /// ZONE_MOVABLE capped like ZONE_HIGHMEM and left out of lowmem (recent kernels).
    pub movable_like_highmem: bool,
}

/// Watermarks of one zone, in pages, without boost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wmarks {
    pub min: u64,
    pub low: u64,
    pub high: u64,
    /// `high + scale` (zoneinfo prints it since 6.1 as `promo`).
    pub promo: u64,
}

fn capped_like_highmem(name: &str, p: &WmarkParams) -> bool {
    name == "HighMem" || (p.movable_like_highmem && name == "Movable")
}

/// Recomputes the watermarks of every zone of the machine (`zones` = (name, managed pages), all nodes)
/// as `__setup_per_zone_wmarks` does. `None` when no zone is lowmem (nothing to share `pages_min` by).
pub fn setup_per_zone_wmarks(p: &WmarkParams, zones: &[(&str, u64)]) -> Option<Vec<Wmarks>> {
    let page_shift_kb = p.page_kb.max(1);
    let pages_min = p.min_free_kbytes / page_shift_kb;
    let lowmem: u64 = zones.iter().filter(|(n, _)| !capped_like_highmem(n, p)).map(|(_, m)| *m).sat_sum();
    if lowmem == 0 {
        return None;
    }
    let out = zones
        .iter()
        .map(|&(name, managed)| {
            let tmp = (pages_min as u128 * managed as u128 / lowmem as u128) as u64;
            let min = if capped_like_highmem(name, p) {
                (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
            } else {
                tmp
            };
            match p.formula {
                Formula::Scaled => {
                    let scale =
                        (tmp >> 2).max((managed as u128 * p.watermark_scale_factor as u128 / 10000) as u64);
                    Wmarks {
                        min,
                        low: min.saturating_add(scale),
                        high: min.saturating_add(scale.saturating_mul(2)),
                        promo: min.saturating_add(scale.saturating_mul(3)),
                    }
                }
                Formula::Fixed => Wmarks {
                    min,
                    low: min.saturating_add(tmp >> 2),
                    high: min.saturating_add(tmp >> 1),
                    promo: min.saturating_add(tmp >> 1),
                },
            }
        })
        .collect();
    Some(out)
}

/// Where free pages stand against a zone's watermarks (`zone_watermark_ok` wants `free > mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    BelowMin,
    BelowLow,
    BelowHigh,
    AboveHigh,
}

impl Level {
    pub fn of(free: u64, min: u64, low: u64, high: u64) -> Level {
        if free <= min {
            Level::BelowMin
        } else if free <= low {
            Level::BelowLow
        } else if free <= high {
            Level::BelowHigh
        } else {
            Level::AboveHigh
        }
    }
    fn short(self) -> &'static str {
        match self {
            Level::BelowMin => "below min",
            Level::BelowLow => "below low",
            Level::BelowHigh => "low..high",
            Level::AboveHigh => "above high",
        }
    }
}

/// What the kernel does at each threshold, for explanations.
const THRESHOLDS: &str = "At or below low, an allocation wakes kswapd, which reclaims in the background until \
free pages exceed high (plus any boost). At or below min, ordinary allocations cannot take pages from the zone: \
the allocating task does direct reclaim and compaction itself, and after MAX_RECLAIM_RETRIES (16) rounds without \
progress the OOM killer runs. Only __GFP_HIGH/atomic and PF_MEMALLOC allocations may dip below min.";

fn params_from(case: &Case, notes: &mut Vec<String>) -> Option<(WmarkParams, Option<SourceRef>)> {
    let s = case.sysctl.as_ref()?;
    let mfk = s.int("vm.min_free_kbytes").filter(|v| *v >= 0)? as u64;
    let formula = Formula::for_version(case.version());
    let wsf = match s.int("vm.watermark_scale_factor").filter(|v| *v >= 0) {
        Some(v) => v as u64,
        None => {
            if formula == Formula::Scaled {
                notes.push(format!(
                    "vm.watermark_scale_factor not given: the default {DEFAULT_WSF} (0.1% of the zone) is assumed"
                ));
            }
            DEFAULT_WSF
        }
    };
    match case.version() {
        None => notes.push(
            "kernel version unknown: the 4.6+ formula is used first (give `uname -r` to pin it)".into(),
        ),
        Some(v) if formula == Formula::Fixed => {
            notes.push(format!("kernel {v} is older than 4.6: low = min + min/4, high = min + min/2"))
        }
        Some(_) => {}
    }
    let movable_like_highmem = !matches!(case.version(), Some(v) if !v.at_least(6, 0));
    Some((
        WmarkParams {
            min_free_kbytes: mfk,
            page_kb: case.page_kb(),
            watermark_scale_factor: wsf,
            formula,
            movable_like_highmem,
        },
        s.at("vm.min_free_kbytes"),
    ))
}

/// Managed pages of a zone (present pages on kernels before 3.8, which lack `managed`).
fn managed(z: &Zone) -> u64 {
    z.managed.or(z.present).unwrap_or(0)
}

/// The kernel's watermarks of `z` without boost.
fn printed(z: &Zone) -> Option<Wmarks> {
    let b = z.boost.unwrap_or(0);
    Some(Wmarks {
        min: z.min?.saturating_sub(b),
        low: z.low?.saturating_sub(b),
        high: z.high?.saturating_sub(b),
        promo: z.promo.map(|p| p.saturating_sub(b)).unwrap_or(0),
    })
}

fn fits(z: &Zone, w: &Wmarks) -> bool {
    printed(z).is_some_and(|p| {
        p.min == w.min && p.low == w.low && p.high == w.high && (z.promo.is_none() || p.promo == w.promo)
    })
}

/// The recomputation that fits the kernel's numbers, trying the version's model first and, where the
/// version leaves it open, the alternatives. Returns (params used, per-zone values, every zone fits).
fn recompute(
    zi: &Zoneinfo,
    base: WmarkParams,
    version_known: bool,
) -> Option<(WmarkParams, Vec<Wmarks>, bool)> {
    let zones: Vec<(&str, u64)> = zi.zones.iter().map(|z| (z.name.as_str(), managed(z))).collect();
    let populated_movable =
        zi.zones.iter().any(|z| z.name == "Movable" && (managed(z) > 0 || z.min.is_some_and(|m| m > 0)));
    let mut candidates = vec![base];
    if populated_movable {
        candidates.push(WmarkParams { movable_like_highmem: !base.movable_like_highmem, ..base });
    }
    if !version_known {
        let other = if base.formula == Formula::Scaled { Formula::Fixed } else { Formula::Scaled };
        let more: Vec<WmarkParams> =
            candidates.iter().map(|c| WmarkParams { formula: other, ..*c }).collect();
        candidates.extend(more);
    }
    let mut first = None;
    for c in candidates {
        let Some(w) = setup_per_zone_wmarks(&c, &zones) else { continue };
        let ok = zi.zones.iter().zip(&w).all(|(z, w)| z.min.is_none() || fits(z, w));
        if ok {
            return Some((c, w, true));
        }
        first.get_or_insert((c, w, false));
    }
    first
}

pub fn run(case: &Case, out: &mut Report) {
    let mut notes = Vec::new();
    let params = params_from(case, &mut notes);
    match &case.zoneinfo {
        Some(zi) => per_zone(case, zi, params, notes, out),
        None => {
            if let Some((p, src)) = params {
                system_wide(case, p, src, notes, out);
            }
        }
    }
}

fn src_of(zi: &Zoneinfo, z: &Zone, key: &str) -> Option<SourceRef> {
    z.line_of(key).map(|l| zi.source.at(l as usize))
}

fn per_zone(
    case: &Case,
    zi: &Zoneinfo,
    params: Option<(WmarkParams, Option<SourceRef>)>,
    mut notes: Vec<String>,
    out: &mut Report,
) {
    let page_kb = case.page_kb();
    let recomputed = params.as_ref().and_then(|(p, _)| recompute(zi, *p, case.version().is_some()));
    if params.is_none() {
        notes.push("not recomputed: vm.min_free_kbytes not given (sysctl -a, or /proc/sys/vm)".into());
    }
    let has_promo = zi.zones.iter().any(|z| z.promo.is_some());
    let mut columns = vec!["zone", "free", "min", "low", "high"];
    if has_promo {
        columns.push("promo");
    }
    columns.extend(["boost", "managed", "max protection", "state", "as fallback", "recomputed min/low/high"]);
    let mut rows = Vec::new();
    let mut mismatched = Vec::new();
    for (i, z) in zi.zones.iter().enumerate() {
        let (Some(free), Some(min), Some(low), Some(high)) = (z.free, z.min, z.low, z.high) else { continue };
        let m = managed(z);
        let prot = z.protection.iter().copied().max().unwrap_or(0);
        let level = Level::of(free, min, low, high);
        let fallback =
            Level::of(free, min.saturating_add(prot), low.saturating_add(prot), high.saturating_add(prot));
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let mut row = vec![
            format!("{} {}", z.node, z.name),
            free.to_string(),
            min.to_string(),
            low.to_string(),
            high.to_string(),
        ];
        if has_promo {
            row.push(opt(z.promo));
        }
        let re = recomputed.as_ref().and_then(|(_, w, _)| w.get(i));
        let re_text = match re {
            Some(w) if fits(z, w) => "same".to_string(),
            Some(w) => {
                if m > 0 || z.min != Some(0) {
                    mismatched.push((z, *w));
                }
                format!("{}/{}/{}", w.min, w.low, w.high)
            }
            None => "-".into(),
        };
        row.extend([
            opt(z.boost),
            if z.managed.is_some() { m.to_string() } else { format!("{} (present)", opt(z.present)) },
            prot.to_string(),
            if m == 0 { "empty".into() } else { level.short().into() },
            if m == 0 || prot == 0 { "-".into() } else { fallback.short().into() },
            re_text,
        ]);
        rows.push(row);
    }
    notes.push(format!(
        "pages of {page_kb} KiB{}; min/low/high as zoneinfo prints them (boost included since 5.0)",
        if case.page_size_assumed() { " (assumed)" } else { "" }
    ));
    notes.push("as fallback = free against watermark + max protection (lowmem_reserve): what an allocation preferring a higher zone sees here".into());
    if let Some((p, _, _)) = &recomputed {
        let f = match p.formula {
            Formula::Scaled => "low = min + s, high = min + 2s, s = max(share/4, managed x wsf/10000)",
            Formula::Fixed => "low = min + share/4, high = min + share/2",
        };
        let wsf = match p.formula {
            Formula::Scaled => format!(" and watermark_scale_factor {}", p.watermark_scale_factor),
            Formula::Fixed => String::new(),
        };
        notes.push(format!(
            "recomputed from min_free_kbytes {}{wsf}: min = share of {} pages by managed pages; {f}",
            p.min_free_kbytes,
            p.min_free_kbytes / page_kb
        ));
        if zi.zones.iter().any(|z| z.name == "Movable" && managed(z) > 0) {
            notes.push(format!(
                "Movable zone {} like HighMem (min clamped to 32..128 pages, not part of the lowmem share)",
                if p.movable_like_highmem { "treated" } else { "not treated" }
            ));
        }
    }
    if let Some((p, _)) = &params {
        if let Some(n) = thp_min_free_note(case, zi, p) {
            notes.push(n);
        }
    }
    out.tables.push(Table {
        id: "watermarks.zones".into(),
        title: format!("Zone watermarks ({})", zi.source.file),
        columns: columns.into_iter().map(String::from).collect(),
        rows,
        notes,
    });

    zone_levels(zi, out);
    boost(case, zi, out);
    if let (Some((p, mfk_src)), false) = (&params, mismatched.is_empty()) {
        mismatch(case, zi, p, mfk_src.clone(), &mismatched, out);
    }
}

/// Findings for zones at or below min or low.
fn zone_levels(zi: &Zoneinfo, out: &mut Report) {
    for z in &zi.zones {
        let (Some(free), Some(min), Some(low), Some(high)) = (z.free, z.min, z.low, z.high) else { continue };
        if managed(z) == 0 {
            continue;
        }
        let level = Level::of(free, min, low, high);
        let (id, sev, what) = match level {
            Level::BelowMin => {
                ("watermarks.zone_below_min", Severity::Critical, "at or below its min watermark")
            }
            Level::BelowLow => ("watermarks.zone_below_low", Severity::Warning, "below its low watermark"),
            _ => continue,
        };
        let name = format!("Node {}, zone {}", z.node, z.name);
        let kb = |p: u64| kib(p.saturating_mul(4));
        let mut f = Finding::new(
            id,
            sev,
            format!("{name} is {what}: {free} free pages, min {min}, low {low}"),
        )
        .explain(format!(
            "{name} has {free} free pages ({}) against min {min}, low {low}, high {high}. {THRESHOLDS} A snapshot \
             shows one moment: if this repeats, the zone is under sustained pressure.",
            kb(free)
        ))
        .evidence(Evidence::int(format!("{} pages free", z.name), free as i64, Some("pages"), src_of(zi, z, "free")))
        .evidence(Evidence::int(format!("{} min", z.name), min as i64, Some("pages"), src_of(zi, z, "min")))
        .evidence(Evidence::int(format!("{} low", z.name), low as i64, Some("pages"), src_of(zi, z, "low")))
        .evidence(Evidence::int(format!("{} high", z.name), high as i64, Some("pages"), src_of(zi, z, "high")));
        if let Some(m) = z.managed {
            f = f.evidence(Evidence::int(
                format!("{} managed", z.name),
                m as i64,
                Some("pages"),
                src_of(zi, z, "managed"),
            ));
        }
        let deficit = low.saturating_sub(free);
        out.findings.push(
            f.next("grep -E 'allocstall|pgscan_direct|pgsteal_direct|compact_stall|compact_fail|oom_kill' /proc/vmstat  # twice, 10 s apart: direct reclaim and OOM activity")
                .next("cat /proc/pressure/memory  # how long tasks stall on memory")
                .next("dmesg | grep -iE 'page allocation failure|invoked oom-killer'")
                .score(deficit as f64),
        );
    }
}

/// An Info finding when a boost is in effect: a recent fragmentation event raised every watermark.
fn boost(case: &Case, zi: &Zoneinfo, out: &mut Report) {
    let factor = case
        .sysctl
        .as_ref()
        .and_then(|s| s.int("vm.watermark_boost_factor"))
        .map(|v| v.max(0) as u64)
        .unwrap_or(DEFAULT_BOOST_FACTOR);
    for z in &zi.zones {
        let Some(b) = z.boost.filter(|b| *b > 0) else { continue };
        let high = z.high.unwrap_or(0).saturating_sub(b);
        let pageblock = case.pagetypeinfo.as_ref().and_then(|p| p.pages_per_block).unwrap_or(512);
        let cap = (high as u128 * factor as u128 / 10000) as u64;
        let cap = cap.max(pageblock);
        out.findings.push(
            Finding::new(
                "watermarks.boosted",
                Severity::Info,
                format!("Node {}, zone {}: watermarks boosted by {b} pages", z.node, z.name),
            )
            .explain(format!(
                "zoneinfo shows boost {b}: a recent allocation fell back to a pageblock of another migratetype \
                 (external fragmentation), so the kernel raised every watermark of the zone by the boost (at most \
                 max(high x watermark_boost_factor / 10000, one pageblock) = {cap} pages with factor {factor}) and \
                 woke kswapd to reclaim and compact until free pages exceed the boosted high. The printed min/low/high \
                 include it; the recomputation compares them without it. Frequent boosts cost reclaim of page cache; \
                 vm.watermark_boost_factor = 0 disables them."
            ))
            .evidence(Evidence::int(format!("{} boost", z.name), b as i64, Some("pages"), src_of(zi, z, "boost")))
            .next("grep -E 'compact_stall|compact_success|kswapd_|pageoutrun' /proc/vmstat")
            .next("cat /proc/pagetypeinfo  # which migratetypes hold the free high-order blocks")
            .score(b as f64),
        );
    }
}

/// Explains a disagreement between zoneinfo and the recomputation instead of hiding it.
fn mismatch(
    case: &Case,
    zi: &Zoneinfo,
    p: &WmarkParams,
    mfk_src: Option<SourceRef>,
    zones: &[(&Zone, Wmarks)],
    out: &mut Report,
) {
    let page_kb = case.page_kb();
    // min_free_kbytes implied by zoneinfo: the lowmem zones' min values add up to pages_min minus rounding.
    let implied: u64 = zi
        .zones
        .iter()
        .filter(|z| !capped_like_highmem(&z.name, p))
        .filter_map(|z| printed(z).map(|w| w.min))
        .fold(0u64, u64::saturating_add)
        .saturating_mul(page_kb);
    let lowmem_zones =
        zi.zones.iter().filter(|z| !capped_like_highmem(&z.name, p) && managed(z) > 0).count() as u64;
    let implied_matches = implied <= p.min_free_kbytes
        && p.min_free_kbytes < implied.saturating_add((lowmem_zones + 1) * page_kb);
    let list: Vec<String> = zones
        .iter()
        .map(|(z, w)| {
            let b = z.boost.unwrap_or(0);
            format!(
                "{} {}: zoneinfo {}/{}/{}{}, recomputed {}/{}/{}",
                z.node,
                z.name,
                z.min.unwrap_or(0),
                z.low.unwrap_or(0),
                z.high.unwrap_or(0),
                if b > 0 { format!(" (boost {b})") } else { String::new() },
                w.min,
                w.low,
                w.high
            )
        })
        .collect();
    let mut why = Vec::new();
    if !implied_matches {
        why.push(format!(
            "the lowmem zones' min values add up to about {implied} kB, not the {} kB of vm.min_free_kbytes: the sysctl \
             values and zoneinfo were not read at the same time or on the same machine (writing min_free_kbytes \
             recomputes every watermark at once)",
            p.min_free_kbytes
        ));
    } else {
        why.push(
            "min_free_kbytes agrees with the min values, so managed pages changed since the watermarks were last \
             computed (memory hotplug, balloon or virtio-mem, deferred struct page init, memory freed after boot), \
             or watermark_scale_factor differs from the value given"
                .into(),
        );
    }
    if case.version().is_none() {
        why.push("the kernel version is unknown, so the formula may not be this kernel's".into());
    }
    if case.page_size_assumed() {
        why.push(format!("the page size was assumed to be {page_kb} KiB"));
    }
    let mut f = Finding::new(
        "watermarks.mismatch",
        Severity::Info,
        format!("zoneinfo watermarks differ from the kernel formula in {} zone(s)", zones.len()),
    )
    .explain(format!(
        "Recomputing __setup_per_zone_wmarks from min_free_kbytes {} and watermark_scale_factor {} does not give \
         the kernel's numbers (min/low/high, pages): {}. Likely: {}.",
        p.min_free_kbytes,
        p.watermark_scale_factor,
        list.join("; "),
        why.join("; ")
    ))
    .evidence(Evidence::int("vm.min_free_kbytes", p.min_free_kbytes as i64, Some("kB"), mfk_src))
    .evidence(Evidence::int("min_free_kbytes implied by zoneinfo", implied as i64, Some("kB"), None));
    if let Some((z, _)) = zones.first() {
        f = f.evidence(Evidence::int(
            format!("{} min", z.name),
            z.min.unwrap_or(0) as i64,
            Some("pages"),
            src_of(zi, z, "min"),
        ));
    }
    out.findings.push(
        f.next("cat /proc/sys/vm/min_free_kbytes /proc/sys/vm/watermark_scale_factor; grep -E 'zone|min|low|high|managed' /proc/zoneinfo  # read together")
            .score(zones.len() as f64),
    );
}

/// When `min_free_kbytes` equals what khugepaged sets for THP (`set_recommended_min_free_kbytes`:
/// 2 + MIGRATE_PCPTYPES^2 = 11 pageblocks per populated zone up to Normal), say so: that explains a value
/// far above the `sqrt(16 x lowmem kB)` default.
fn thp_min_free_note(case: &Case, zi: &Zoneinfo, p: &WmarkParams) -> Option<String> {
    let pageblock = case.pagetypeinfo.as_ref().and_then(|t| t.pages_per_block).unwrap_or(512);
    let zones = zi
        .zones
        .iter()
        .filter(|z| matches!(z.name.as_str(), "DMA" | "DMA32" | "Normal") && managed(z) > 0)
        .count() as u64;
    let recommended = pageblock.saturating_mul(zones).saturating_mul(2 + 3 * 3).saturating_mul(p.page_kb);
    (zones > 0 && recommended == p.min_free_kbytes).then(|| {
        format!(
            "min_free_kbytes {} = 11 pageblocks x {zones} zones: the value khugepaged sets when THP is enabled",
            p.min_free_kbytes
        )
    })
}

/// No zoneinfo: the sums over all zones from min_free_kbytes, total and free memory.
fn system_wide(
    case: &Case,
    p: WmarkParams,
    mfk_src: Option<SourceRef>,
    mut notes: Vec<String>,
    out: &mut Report,
) {
    let page_kb = case.page_kb();
    // (total pages, free pages, their sources)
    let from_meminfo = case.meminfo.as_ref().and_then(|m| {
        Some((m.kb("MemTotal")? / page_kb, m.kb("MemFree")? / page_kb, m.at("MemTotal"), m.at("MemFree")))
    });
    let from_kmem = case
        .kmem
        .as_ref()
        .and_then(|k| Some((k.pages("TOTAL MEM")?, k.pages("FREE")?, k.at("TOTAL MEM"), k.at("FREE"))));
    let Some((total, free, total_src, free_src)) = from_meminfo.or(from_kmem) else { return };
    let Some(w) = setup_per_zone_wmarks(&p, &[("Normal", total)]).and_then(|v| v.first().copied()) else {
        return;
    };
    let level = Level::of(free, w.min, w.low, w.high);
    let mb = |pages: u64| kib(pages.saturating_mul(page_kb));
    let rows = vec![
        vec!["free".into(), free.to_string(), mb(free), "".into()],
        vec!["min".into(), w.min.to_string(), mb(w.min), "min_free_kbytes / page size".into()],
        vec!["low".into(), w.low.to_string(), mb(w.low), low_rule(&p).into()],
        vec!["high".into(), w.high.to_string(), mb(w.high), high_rule(&p).into()],
        vec!["state".into(), level.short().into(), "".into(), state_text(level).into()],
    ];
    notes.push(format!(
        "sums over all zones estimated from min_free_kbytes {} and {} total pages (no /proc/zoneinfo); one zone can be \
         below its own watermark while the sums look fine",
        p.min_free_kbytes, total
    ));
    notes.push("high is min + 2 x the distance, not 1.5 x low (and 1.5 x min only before 4.6)".into());
    if case.page_size_assumed() {
        notes.push(format!("page size assumed {page_kb} KiB"));
    }
    out.tables.push(Table {
        id: "watermarks.estimate".into(),
        title: "Watermarks, whole machine (estimated)".into(),
        columns: vec!["".into(), "pages".into(), "size".into(), "rule".into()],
        rows,
        notes,
    });
    let (id, sev) = match level {
        Level::BelowMin => ("watermarks.below_min_estimated", Severity::Critical),
        Level::BelowLow => ("watermarks.below_low_estimated", Severity::Warning),
        _ => return,
    };
    out.findings.push(
        Finding::new(id, sev, format!("free memory {} is {} (estimated {} min, {} low)", mb(free), level.short(), mb(w.min), mb(w.low)))
            .explain(format!(
                "With min_free_kbytes {} the zones' min watermarks add up to {} and low to {}; free memory is {}. {THRESHOLDS}",
                p.min_free_kbytes,
                mb(w.min),
                mb(w.low),
                mb(free)
            ))
            .evidence(Evidence::int("free", free as i64, Some("pages"), free_src))
            .evidence(Evidence::int("total", total as i64, Some("pages"), total_src))
            .evidence(Evidence::int("vm.min_free_kbytes", p.min_free_kbytes as i64, Some("kB"), mfk_src))
            .next("cat /proc/zoneinfo  # per-zone watermarks: memdx diagnose reads it")
            .score(w.low.saturating_sub(free) as f64),
    );
}

fn low_rule(p: &WmarkParams) -> &'static str {
    match p.formula {
        Formula::Scaled => "min + max(min/4, total x watermark_scale_factor/10000)",
        Formula::Fixed => "min + min/4 (before 4.6)",
    }
}

fn high_rule(p: &WmarkParams) -> &'static str {
    match p.formula {
        Formula::Scaled => "min + 2 x max(min/4, total x watermark_scale_factor/10000)",
        Formula::Fixed => "min + min/2 (before 4.6)",
    }
}

fn state_text(l: Level) -> &'static str {
    match l {
        Level::BelowMin => "allocations do direct reclaim/compaction; OOM after 16 retries without progress",
        Level::BelowLow => "kswapd woken, reclaiming until above high",
        Level::BelowHigh => "kswapd, if awake, reclaims until above high",
        Level::AboveHigh => "kswapd idle (unless a single zone is low)",
    }
}

/// The tests' one golden mechanism (compare, or rewrite under `MEMDX_UPDATE_GOLDENS=1`).
#[cfg(test)]
#[path = "../../../../tests/common/golden.rs"]
mod golden_file;

#[cfg(test)]
pub(crate) mod golden {
    //! The one `check()` of the watermarks, fragmentation and overcommit analyzers: a directory of real
    //! (or documented crafted) inputs under testdata/analyze/, ingested into a [`Case`] by content, the
    //! analyzer run, and its tables and findings compared with `<dir>/<analyzer>.golden.json`.
    //! `MEMDX_UPDATE_GOLDENS=1` rewrites the goldens. Files named `README*`, `*.golden.json` or `*.kernel`
    //! (the kernel's own outputs, for comparisons) are not inputs.
    use crate::case::Case;
    use memdx_core::Report;
    use std::path::{Path, PathBuf};

    pub fn dir(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/analyze").join(case)
    }

    pub fn load(case: &str) -> Case {
        let d = dir(case);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                !(n.starts_with("README") || n.ends_with(".golden.json") || n.ends_with(".kernel"))
            })
            .collect();
        names.sort();
        let mut c = Case::new();
        for p in names {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let found = c.ingest(&name, &text, None);
            assert!(!found.is_empty(), "{}: not recognised: {:?}", p.display(), c.skipped);
        }
        c.finish();
        c
    }

    pub fn check(case: &str, analyzer: &str, run: fn(&Case, &mut Report)) -> Report {
        let c = load(case);
        let mut out = Report::default();
        run(&c, &mut out);
        let got = serde_json::json!({ "tables": out.tables, "findings": out.findings });
        let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
        let golden = dir(case).join(format!("{analyzer}.golden.json"));
        super::golden_file::check_golden(&golden, &text);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::golden::check;
    use super::*;

    fn params(mfk: u64, wsf: u64, formula: Formula) -> WmarkParams {
        WmarkParams {
            min_free_kbytes: mfk,
            page_kb: 4,
            watermark_scale_factor: wsf,
            formula,
            movable_like_highmem: true,
        }
    }

    #[test]
    fn formula_matches_618_zoneinfo() {
        // The 6.18 fixture: DMA 3840, DMA32 772919, Normal 196608, Movable 0, Device 0 managed pages.
        let zones = [("DMA", 3840), ("DMA32", 772919), ("Normal", 196608), ("Movable", 0), ("Device", 0)];
        let w = setup_per_zone_wmarks(&params(67584, 10, Formula::Scaled), &zones).unwrap();
        assert_eq!((w[0].min, w[0].low, w[0].high, w[0].promo), (66, 82, 98, 114));
        assert_eq!((w[1].min, w[1].low, w[1].high, w[1].promo), (13416, 16770, 20124, 23478));
        assert_eq!((w[2].min, w[2].low, w[2].high, w[2].promo), (3412, 4265, 5118, 5971));
        assert_eq!((w[3].min, w[3].low, w[3].high), (32, 32, 32));
        assert_eq!((w[4].min, w[4].low), (0, 0));
    }

    #[test]
    fn before_4_6_and_highmem() {
        // 32-bit style: HighMem gets a clamp, but its low/high distance comes from the share.
        let zones = [("Normal", 200000), ("HighMem", 800000)];
        let w = setup_per_zone_wmarks(&params(4096, 10, Formula::Fixed), &zones).unwrap();
        assert_eq!((w[0].min, w[0].low, w[0].high), (1024, 1280, 1536));
        // share = 1024 * 800000 / 200000 = 4096: min = clamp(781, 32, 128) = 128.
        assert_eq!((w[1].min, w[1].low, w[1].high), (128, 128 + 1024, 128 + 2048));
        assert_eq!(Formula::for_version(KernelVersion::parse("3.10.0-1160.el7.x86_64")), Formula::Fixed);
        assert_eq!(Formula::for_version(KernelVersion::parse("4.19.0")), Formula::Scaled);
        assert!(setup_per_zone_wmarks(&params(4096, 10, Formula::Scaled), &[("HighMem", 10)]).is_none());
    }

    #[test]
    fn live_618_snapshot() {
        let out = check("live-6.18-snapshot", "watermarks", run);
        let t = &out.tables[0];
        assert!(
            t.rows
                .iter()
                .filter(|r| r[0] != "0 Device")
                .all(|r| r.last().map(String::as_str) == Some("same")),
            "{:?}",
            t.rows
        );
        assert!(t.notes.iter().any(|n| n.contains("khugepaged")));
        assert!(out.findings.is_empty(), "{:?}", out.findings);
    }

    #[test]
    fn seed_004_estimate() {
        // min_free_kbytes 67584 and kmem -i (TOTAL MEM 3967057, FREE 28799 pages) of a 4.19 arm64 box.
        let out = check("seed-004", "watermarks", run);
        let rows = &out.tables[0].rows;
        assert_eq!(rows[1][1], "16896"); // min: 66 MiB
        assert_eq!(rows[2][1], "21120"); // low: 82.5 MiB
        assert_eq!(rows[3][1], "25344"); // high: 99 MiB, not 123.75 MiB (1.5 x low) as the notes say
        assert_eq!(rows[4][1], "above high");
    }

    #[test]
    fn el7_3_10_below_min() {
        // The watermarks 3.10's __setup_per_zone_wmarks (mm/page_alloc.c) gives, worked by hand:
        // pages_min = 67584 kB >> 2 = 16896; lowmem = 3976 + 765000 + 1290000 = 2058976 managed pages;
        // tmp = 16896 * managed / lowmem, min = tmp, low = min + (tmp >> 2), high = min + (tmp >> 1):
        //   DMA     67178496 / 2058976 = 32     -> 32, 32 + 8 = 40, 32 + 16 = 48
        //   DMA32   12925440000 / 2058976 = 6277 -> 6277, 6277 + 1569 = 7846, 6277 + 3138 = 9415
        //   Normal  21795840000 / 2058976 = 10585 -> 10585, 10585 + 2646 = 13231, 10585 + 5292 = 15877
        let zones = [("DMA", 3976), ("DMA32", 765000), ("Normal", 1290000)];
        let w = setup_per_zone_wmarks(&params(67584, 10, Formula::Fixed), &zones).unwrap();
        let got: Vec<_> = w.iter().map(|w| (w.min, w.low, w.high)).collect();
        assert_eq!(got, vec![(32, 40, 48), (6277, 7846, 9415), (10585, 13231, 15877)]);
        // The fixture's zoneinfo prints those numbers, and the analyzer says so for every zone.
        let out = check("el7-3.10-pressure", "watermarks", run);
        assert_eq!(out.findings[0].id, "watermarks.zone_below_min");
        let rows: Vec<_> =
            out.tables[0].rows.iter().map(|r| (r[2].as_str(), r[3].as_str(), r[4].as_str())).collect();
        assert_eq!(rows, vec![("32", "40", "48"), ("6277", "7846", "9415"), ("10585", "13231", "15877")]);
        assert!(out.tables[0].rows.iter().all(|r| r.last().map(String::as_str) == Some("same")));
    }

    #[test]
    fn v5_10_boost_and_stale_sysctl() {
        let out = check("5.10-boost", "watermarks", run);
        let ids: Vec<&str> = out.findings.iter().map(|f| f.id.as_str()).collect();
        assert!(ids.contains(&"watermarks.zone_below_low"), "{ids:?}");
        assert!(ids.contains(&"watermarks.mismatch"), "{ids:?}");
    }
}
