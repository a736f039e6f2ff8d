//! Prometheus text exposition (version 0.0.4) of one reading of a machine: slab caches (bounded by
//! include/exclude patterns and a top-N), fragmentation indices, watermark headroom, memcg counts,
//! reclaim counters and rates, PSI, and the findings by id and severity. `memdx serve` calls
//! [`write`]; it is pure so the output can be tested and checked with `promtool check metrics`.

use memdx_analyze::analyzers::fragmentation::{extfrag_index, unusable_index};
use memdx_analyze::case::CgroupExport;
use memdx_analyze::{Case, Report};
use memdx_core::units::SatSum;
use memdx_parse::kv::Counters;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Which slab caches are exported: at most `top` by memory, after the patterns.
#[derive(Debug, Clone)]
pub struct SlabSelect {
    pub include: Option<regex::Regex>,
    pub exclude: Option<regex::Regex>,
    pub top: usize,
}

impl Default for SlabSelect {
    fn default() -> Self {
        SlabSelect { include: None, exclude: None, top: 50 }
    }
}

/// Reclaim activity per second between two vmstat readings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReclaimRates {
    pub interval_s: f64,
    pub pgscan: f64,
    pub pgsteal: f64,
    pub allocstall: f64,
    pub compact_stall: f64,
    pub oom_kill: f64,
}

/// Rates from two vmstat readings `dt_s` seconds apart. Counters that went backwards (a reboot
/// between readings) give 0.
pub fn reclaim_rates(prev: &Counters, cur: &Counters, dt_s: f64) -> Option<ReclaimRates> {
    if dt_s <= 0.0 {
        return None;
    }
    let d = |f: &dyn Fn(&Counters) -> u64| cur_minus(f(cur), f(prev)) / dt_s;
    Some(ReclaimRates {
        interval_s: dt_s,
        pgscan: d(&|c| reclaim_pages(c, "pgscan_")),
        pgsteal: d(&|c| reclaim_pages(c, "pgsteal_")),
        allocstall: d(&|c| c.sum_prefix("allocstall")),
        compact_stall: d(&|c| c.get("compact_stall").unwrap_or(0)),
        oom_kill: d(&|c| c.get("oom_kill").unwrap_or(0)),
    })
}

/// Pages scanned or reclaimed (`prefix` `pgscan_`/`pgsteal_`) as /proc/vmstat counts them, each page
/// once. Since 5.8 `_anon` + `_file` count every reclaim, global and memcg-limit; the per-reclaimer
/// lines (`_kswapd`, `_direct`, `_khugepaged`, `_proactive`; per zone before 4.8) count the same
/// pages again but skip memcg-limit reclaim, and are the only total on older kernels.
/// `pgscan_direct_throttle` counts throttling events, not pages. Adding every line counted pages twice.
pub fn reclaim_pages(c: &Counters, prefix: &str) -> u64 {
    let by_type = ["anon", "file"].map(|t| c.get(&format!("{prefix}{t}")));
    if let [Some(a), Some(f)] = by_type {
        return a.saturating_add(f);
    }
    c.entries
        .iter()
        .filter(|e| {
            e.key
                .strip_prefix(prefix)
                .is_some_and(|rest| !matches!(rest, "anon" | "file" | "direct_throttle"))
        })
        .map(|e| e.value)
        .fold(0, u64::saturating_add)
}

fn cur_minus(a: u64, b: u64) -> f64 {
    a.saturating_sub(b) as f64
}

/// What the exporter read besides the [`Case`].
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// (live, dying) memory cgroups.
    pub memcg: Option<(u64, Option<u64>)>,
    pub rates: Option<ReclaimRates>,
    /// Seconds spent reading and analyzing.
    pub collect_seconds: f64,
    /// Per-cgroup memory figures (bounded by the exporter's `--cgroup-top`).
    pub cgroups: Option<CgroupExport>,
}

/// Escapes a label value: backslash, double quote and newline.
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A value of a zone's free-area counts at one order.
type PerOrder = fn(&[u64], usize) -> f64;

/// One metric family being written: HELP and TYPE once, then its samples.
struct Out {
    buf: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.buf, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.buf.push_str(name);
        if !labels.is_empty() {
            self.buf.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                let _ = write!(self.buf, "{k}=\"{}\"", esc(val));
            }
            self.buf.push('}');
        }
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
            let _ = writeln!(self.buf, " {}", v as i64);
        } else if v.is_nan() {
            self.buf.push_str(" NaN\n");
        } else {
            let _ = writeln!(self.buf, " {v}");
        }
    }
}

/// Writes every metric for one reading.
pub fn write<W: Write>(
    mut w: W,
    case: &Case,
    report: &Report,
    version: &str,
    sel: &SlabSelect,
    ex: &Extras,
) -> io::Result<()> {
    w.write_all(render(case, report, version, sel, ex).as_bytes())
}

/// [`write`] into a string.
pub fn render(case: &Case, report: &Report, version: &str, sel: &SlabSelect, ex: &Extras) -> String {
    let mut o = Out { buf: String::with_capacity(32 * 1024) };
    let kernel = case.kernel.as_ref().map(|k| k.release.as_str()).unwrap_or("");
    o.family("memdx_info", "gauge", "memdx version and kernel release (always 1).");
    o.sample("memdx_info", &[("version", version), ("kernel", kernel)], 1.0);

    if let Some(m) = &case.meminfo {
        o.family("memdx_meminfo_bytes", "gauge", "/proc/meminfo fields given in kB, in bytes.");
        for e in m.entries.iter().filter(|e| e.has_unit) {
            o.sample("memdx_meminfo_bytes", &[("field", &e.key)], e.value as f64 * 1024.0);
        }
    }

    if let Some(t) = case.slab() {
        let page_kb = case.page_kb();
        let mut by: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
        for c in &t.caches {
            let e = by.entry(c.name.as_str()).or_default();
            e.0 = e.0.saturating_add(c.memory_kb(page_kb).saturating_mul(1024));
            e.1 = e.1.saturating_add(c.active_objs);
            e.2 = e.2.saturating_add(c.num_objs);
        }
        let total: u64 = by.values().map(|v| v.0).sat_sum();
        let mut chosen: Vec<(&str, (u64, u64, u64))> = by
            .into_iter()
            .filter(|(n, _)| sel.include.as_ref().is_none_or(|r| r.is_match(n)))
            .filter(|(n, _)| sel.exclude.as_ref().is_none_or(|r| !r.is_match(n)))
            .collect();
        let matched = chosen.len();
        chosen.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        chosen.truncate(sel.top);
        o.family("memdx_slab_total_bytes", "gauge", "Memory held by all slab caches.");
        o.sample("memdx_slab_total_bytes", &[], total as f64);
        o.family(
            "memdx_slab_caches_omitted",
            "gauge",
            "Slab caches matching the patterns but left out by the top-N limit.",
        );
        o.sample("memdx_slab_caches_omitted", &[], (matched - chosen.len()) as f64);
        o.family("memdx_slab_cache_bytes", "gauge", "Memory held by a slab cache's slabs.");
        for (n, v) in &chosen {
            o.sample("memdx_slab_cache_bytes", &[("cache", n)], v.0 as f64);
        }
        o.family("memdx_slab_cache_active_objects", "gauge", "Objects in use in a slab cache.");
        for (n, v) in &chosen {
            o.sample("memdx_slab_cache_active_objects", &[("cache", n)], v.1 as f64);
        }
        o.family("memdx_slab_cache_objects", "gauge", "Objects allocated (in use or free) in a slab cache.");
        for (n, v) in &chosen {
            o.sample("memdx_slab_cache_objects", &[("cache", n)], v.2 as f64);
        }
    }

    if let Some(b) = &case.buddyinfo {
        // One family per zone and order: free blocks, then the two fragmentation indexes.
        let per_order: [(&str, &str, PerOrder); 3] = [
            ("memdx_buddy_free_blocks", "Free blocks per zone and order (/proc/buddyinfo).", |free, order| {
                free[order] as f64
            }),
            (
                "memdx_fragmentation_unusable_ratio",
                "Share of free memory in blocks too small for the order (unusable free space index / 1000).",
                |free, order| unusable_index(free, order) as f64 / 1000.0,
            ),
            (
                "memdx_fragmentation_extfrag_index",
                "Extfrag index / 1000: -1 the order can be served, towards 1 a failure would be from fragmentation.",
                |free, order| extfrag_index(free, order) as f64 / 1000.0,
            ),
        ];
        for (name, help, value) in per_order {
            o.family(name, "gauge", help);
            for z in &b.zones {
                let node = z.node.to_string();
                for order in 0..z.free.len() {
                    let ord = order.to_string();
                    o.sample(
                        name,
                        &[("node", &node), ("zone", &z.zone), ("order", &ord)],
                        value(&z.free, order),
                    );
                }
            }
        }
    }

    if let Some(zi) = &case.zoneinfo {
        let page = (case.page_kb() * 1024) as f64;
        let zones: Vec<_> =
            zi.zones.iter().filter(|z| z.managed.unwrap_or(0) > 0 && z.free.is_some()).collect();
        o.family("memdx_zone_free_bytes", "gauge", "Free memory per zone (/proc/zoneinfo).");
        for z in &zones {
            let node = z.node.to_string();
            o.sample(
                "memdx_zone_free_bytes",
                &[("node", &node), ("zone", &z.name)],
                z.free.unwrap_or(0) as f64 * page,
            );
        }
        o.family(
            "memdx_zone_watermark_headroom_bytes",
            "gauge",
            "Free memory above a zone watermark (negative: below it; below low wakes kswapd, below min stalls).",
        );
        for z in &zones {
            let node = z.node.to_string();
            let free = z.free.unwrap_or(0) as f64;
            for (wm, v) in [("min", z.min), ("low", z.low), ("high", z.high)] {
                if let Some(v) = v {
                    o.sample(
                        "memdx_zone_watermark_headroom_bytes",
                        &[("node", &node), ("zone", &z.name), ("watermark", wm)],
                        (free - v as f64) * page,
                    );
                }
            }
        }
    }

    if let Some((live, dying)) = ex.memcg {
        o.family("memdx_memcg_live", "gauge", "Memory cgroups present in the hierarchy.");
        o.sample("memdx_memcg_live", &[], live as f64);
        if let Some(d) = dying {
            o.family("memdx_memcg_dying", "gauge", "Memory cgroups removed but not yet freed (dying).");
            o.sample("memdx_memcg_dying", &[], d as f64);
        }
    } else if let Some(c) = case.cgroups.as_ref().and_then(|c| c.get("memory")) {
        o.family("memdx_memcg_cgroups", "gauge", "num_cgroups of the memory controller in /proc/cgroups.");
        o.sample("memdx_memcg_cgroups", &[], c.num_cgroups as f64);
    }
    memcg_pins_metrics(&mut o, case);

    if let Some(v) = &case.vmstat {
        let counters: [(&str, u64, &str); 7] = [
            (
                "memdx_vmstat_pgscan_total",
                reclaim_pages(v, "pgscan_"),
                "Pages scanned by reclaim, global and memcg: pgscan_anon + pgscan_file (the per-reclaimer sum before 5.8).",
            ),
            (
                "memdx_vmstat_pgsteal_total",
                reclaim_pages(v, "pgsteal_"),
                "Pages reclaimed, global and memcg: pgsteal_anon + pgsteal_file (the per-reclaimer sum before 5.8).",
            ),
            ("memdx_vmstat_allocstall_total", v.sum_prefix("allocstall"), "Direct reclaim entries (all zones)."),
            ("memdx_vmstat_compact_stall_total", v.get("compact_stall").unwrap_or(0), "Direct compaction entries."),
            ("memdx_vmstat_oom_kill_total", v.get("oom_kill").unwrap_or(0), "OOM kills."),
            (
                "memdx_vmstat_workingset_refault_file_total",
                v.get("workingset_refault_file").or(v.get("workingset_refault")).unwrap_or(0),
                "File pages read back soon after reclaim evicted them (workingset_refault_file; workingset_refault before 5.9).",
            ),
            (
                "memdx_vmstat_workingset_refault_anon_total",
                v.get("workingset_refault_anon").unwrap_or(0),
                "Anon pages swapped back in soon after reclaim (workingset_refault_anon, 5.9+).",
            ),
        ];
        for (name, value, help) in counters {
            o.family(name, "counter", help);
            o.sample(name, &[], value as f64);
        }
    }
    if let Some(r) = ex.rates {
        o.family(
            "memdx_reclaim_rate_per_second",
            "gauge",
            "Reclaim activity per second between the last two readings (what: pgscan, pgsteal, allocstall, compact_stall, oom_kill).",
        );
        for (what, val) in [
            ("pgscan", r.pgscan),
            ("pgsteal", r.pgsteal),
            ("allocstall", r.allocstall),
            ("compact_stall", r.compact_stall),
            ("oom_kill", r.oom_kill),
        ] {
            o.sample("memdx_reclaim_rate_per_second", &[("what", what)], val);
        }
        o.family(
            "memdx_reclaim_rate_interval_seconds",
            "gauge",
            "Interval the reclaim rates were measured over.",
        );
        o.sample("memdx_reclaim_rate_interval_seconds", &[], r.interval_s);
    }

    if !case.psi.is_empty() {
        o.family(
            "memdx_psi_avg10_ratio",
            "gauge",
            "Pressure stall share over the last 10 s (PSI avg10 / 100).",
        );
        let mut seen = std::collections::BTreeSet::new();
        let mut totals = Vec::new();
        for p in case.psi.iter().rev() {
            let res = p.resource.as_deref().unwrap_or("memory");
            for (k, l) in [("some", &p.some), ("full", &p.full)] {
                if let Some(l) = l {
                    if seen.insert((res.to_string(), k)) {
                        o.sample("memdx_psi_avg10_ratio", &[("resource", res), ("kind", k)], l.avg10 / 100.0);
                        totals.push((res.to_string(), k, l.total_us));
                    }
                }
            }
        }
        o.family("memdx_psi_stall_seconds_total", "counter", "Total pressure stall time (PSI total).");
        for (res, k, t) in totals {
            o.sample("memdx_psi_stall_seconds_total", &[("resource", &res), ("kind", k)], t as f64 / 1e6);
        }
    }

    if let Some(cg) = &ex.cgroups {
        cgroup_metrics(&mut o, cg);
    }

    o.family("memdx_findings", "gauge", "Findings of memdx's analyzers now, by id and severity.");
    let mut counts: BTreeMap<(&str, String), u64> = BTreeMap::new();
    for f in &report.findings {
        *counts.entry((f.id.as_str(), f.severity.to_string().to_lowercase())).or_default() += 1;
    }
    for ((id, sev), n) in &counts {
        o.sample("memdx_findings", &[("id", id), ("severity", sev)], *n as f64);
    }
    o.family("memdx_findings_by_severity", "gauge", "Number of findings per severity.");
    for sev in ["info", "warning", "critical"] {
        let n: u64 = counts.iter().filter(|((_, s), _)| s == sev).map(|(_, n)| n).sat_sum();
        o.sample("memdx_findings_by_severity", &[("severity", sev)], n as f64);
    }
    o.family("memdx_collect_duration_seconds", "gauge", "Time spent reading and analyzing for this reading.");
    o.sample("memdx_collect_duration_seconds", &[], ex.collect_seconds);
    o.buf
}

/// Per-cgroup families: one series per chosen cgroup (and event or PSI kind), only for the figures the
/// hierarchy has, so a v1 machine exports no empty v2 families.
fn cgroup_metrics(o: &mut Out, cg: &CgroupExport) {
    let hier = cg.hierarchy;
    o.family(
        "memdx_cgroups_exported",
        "gauge",
        "Memory cgroups with per-cgroup series (bounded by --cgroup-top).",
    );
    o.sample("memdx_cgroups_exported", &[("hierarchy", hier)], cg.cgroups.len() as f64);
    o.family(
        "memdx_cgroups_omitted",
        "gauge",
        "Memory cgroups left out of the per-cgroup series by --cgroup-top.",
    );
    o.sample(
        "memdx_cgroups_omitted",
        &[("hierarchy", hier)],
        cg.total.saturating_sub(cg.cgroups.len()) as f64,
    );
    type Get = fn(&memdx_analyze::case::CgroupStats) -> Option<f64>;
    let gauges: [(&str, &str, &str, Get); 5] = [
        (
            "memdx_cgroup_memory_usage_bytes",
            "gauge",
            "Memory charged to the cgroup, children included (v1 memory.usage_in_bytes, v2 memory.current).",
            |c| Some(c.usage as f64),
        ),
        (
            "memdx_cgroup_memory_limit_bytes",
            "gauge",
            "Memory limit of the cgroup (v1 memory.limit_in_bytes, v2 memory.max); absent when unlimited.",
            |c| c.limit.map(|v| v as f64),
        ),
        (
            "memdx_cgroup_swap_usage_bytes",
            "gauge",
            "Swap used by the cgroup (v1 memory.memsw.usage_in_bytes - usage, v2 memory.swap.current).",
            |c| c.swap.map(|v| v as f64),
        ),
        (
            "memdx_cgroup_memory_failcnt_total",
            "counter",
            "Times the cgroup's usage hit its limit (v1 memory.failcnt).",
            |c| c.failcnt.map(|v| v as f64),
        ),
        (
            "memdx_cgroup_dying_descendants",
            "gauge",
            "Removed descendant cgroups not yet freed (v2 cgroup.stat nr_dying_descendants).",
            |c| c.dying_descendants.map(|v| v as f64),
        ),
    ];
    for (name, kind, help, get) in gauges {
        if cg.cgroups.iter().any(|c| get(c).is_some()) {
            o.family(name, kind, help);
            for c in &cg.cgroups {
                if let Some(v) = get(c) {
                    o.sample(name, &[("cgroup", &c.path)], v);
                }
            }
        }
    }
    if cg.cgroups.iter().any(|c| !c.events.is_empty()) {
        o.family(
            "memdx_cgroup_memory_events_total",
            "counter",
            "Memory events of the cgroup (v2 memory.events: low, high, max, oom, oom_kill, ...; v1 oom_kill of memory.oom_control).",
        );
        for c in &cg.cgroups {
            for (ev, n) in &c.events {
                o.sample(
                    "memdx_cgroup_memory_events_total",
                    &[("cgroup", &c.path), ("event", ev)],
                    *n as f64,
                );
            }
        }
    }
    let psi: Vec<(&str, &str, &memdx_parse::psi::PsiLine)> = cg
        .cgroups
        .iter()
        .flat_map(|c| c.psi.iter().map(move |p| (c.path.as_str(), p)))
        .flat_map(|(path, p)| [("some", &p.some), ("full", &p.full)].map(|(k, l)| (path, k, l)))
        .filter_map(|(path, k, l)| l.as_ref().map(|l| (path, k, l)))
        .collect();
    if !psi.is_empty() {
        type Value = fn(&memdx_parse::psi::PsiLine) -> f64;
        let families: [(&str, &str, &str, Value); 2] = [
            (
                "memdx_cgroup_psi_memory_stall_seconds_total",
                "counter",
                "Memory pressure stall time of the cgroup's tasks (v2 memory.pressure total).",
                |l| l.total_us as f64 / 1e6,
            ),
            (
                "memdx_cgroup_psi_memory_avg10_ratio",
                "gauge",
                "Share of the last 10 s the cgroup's tasks stalled on memory (v2 memory.pressure avg10 / 100).",
                |l| l.avg10 / 100.0,
            ),
        ];
        for (name, kind, help, value) in families {
            o.family(name, kind, help);
            for (path, k, l) in &psi {
                o.sample(name, &[("cgroup", path), ("kind", k)], value(l));
            }
        }
    }
}

/// Most parents exported with the pages pinning their dying descendants.
const PIN_PARENTS: usize = 20;

/// Dying memcgs by closest live parent and the pages pinning them (memdx-analyze `pins`, from the
/// cgroups' memory.stat; read only when memcgs are dying).
fn memcg_pins_metrics(o: &mut Out, case: &Case) {
    let Some(tree) = &case.memcg_tree else { return };
    let page = case.page_kb() * 1024;
    let r = memdx_analyze::pins::join(tree, None, &[], page);
    let shown = &r.parents[..r.parents.len().min(PIN_PARENTS)];
    o.family(
        "memdx_memcg_dying_pinned_bytes",
        "gauge",
        "Pages charged to dying memory cgroups, by closest live parent and kind (memory.stat; on cgroup v2 the parent's own pages included).",
    );
    for p in shown {
        for k in &p.kinds {
            let kind = k.name.replace(' ', "_");
            o.sample(
                "memdx_memcg_dying_pinned_bytes",
                &[("parent", &p.path), ("kind", &kind)],
                (k.pages * page) as f64,
            );
        }
    }
    o.family(
        "memdx_memcg_dying_pinned_parents_omitted",
        "gauge",
        "Parents holding dying memcgs' pages left out by the limit.",
    );
    o.sample("memdx_memcg_dying_pinned_parents_omitted", &[], (r.parents.len() - shown.len()) as f64);
    if shown.iter().any(|p| p.dying.is_some()) {
        o.family(
            "memdx_memcg_dying_by_parent",
            "gauge",
            "Dying memory cgroups whose closest live ancestor is the parent (cgroup v2 cgroup.stat).",
        );
        for p in shown {
            if let Some(d) = p.dying {
                o.sample("memdx_memcg_dying_by_parent", &[("parent", &p.path)], d as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_rates() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let src = memdx_core::SourceRef::new("v");
        let a = memdx_parse::kv::parse_counters(
            "pgscan_kswapd 10\npgscan_direct 5\npgscan_anon 3\npgscan_file 12\npgscan_direct_throttle 2\noom_kill 1\n",
            &src,
            "vmstat",
        )
        .unwrap()
        .value;
        let b = memdx_parse::kv::parse_counters(
            "pgscan_kswapd 30\npgscan_direct 15\npgscan_anon 9\npgscan_file 36\npgscan_direct_throttle 4\noom_kill 1\n",
            &src,
            "vmstat",
        )
        .unwrap()
        .value;
        let r = reclaim_rates(&a, &b, 10.0).unwrap();
        assert_eq!((r.pgscan, r.oom_kill), (3.0, 0.0));
        assert_eq!(reclaim_rates(&b, &a, 10.0).unwrap().pgscan, 0.0);
        assert!(reclaim_rates(&a, &b, 0.0).is_none());
    }

    #[test]
    fn dying_memcgs_by_parent() {
        let stat = |t: &str| {
            Some(memdx_parse::memcg_stat::parse(t, &memdx_core::SourceRef::new("memory.stat")).unwrap().value)
        };
        let node = |path: &str, parent, st: &str, dying| memdx_analyze::pins::CgroupNode {
            path: path.into(),
            ino: 0,
            parent,
            stat: stat(st),
            dying_below: Some(dying),
        };
        let mut case = Case::new();
        // v2: /a holds 1 MiB of file pages and 8 KiB of anon beyond its live child /a/b; 2 dying below /a,
        // none below /a/b.
        case.memcg_tree = Some(memdx_analyze::pins::MemcgTree {
            hierarchy: "v2",
            base: "/sys/fs/cgroup".into(),
            nodes: vec![
                node("/", None, "anon 0\nfile 0\n", 2),
                node("/a", Some(0), "anon 8192\nfile 2097152\n", 2),
                node("/a/b", Some(1), "anon 0\nfile 1048576\n", 0),
            ],
            total_dying: Some(2),
            truncated: false,
            removed: vec![],
        });
        let mut o = Out { buf: String::new() };
        memcg_pins_metrics(&mut o, &case);
        let samples: Vec<&str> = o.buf.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            vec![
                "memdx_memcg_dying_pinned_bytes{parent=\"/a\",kind=\"page_cache\"} 1048576",
                "memdx_memcg_dying_pinned_bytes{parent=\"/a\",kind=\"anon\"} 8192",
                "memdx_memcg_dying_pinned_parents_omitted 0",
                "memdx_memcg_dying_by_parent{parent=\"/a\"} 2",
            ]
        );
    }
}
