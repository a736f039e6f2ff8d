//! Analyzer: slab caches ranked by memory, merged aliases named, growth between snapshots.

use crate::case::Case;
use memdx_core::units::{kib, pct};
use memdx_core::{Evidence, Finding, Severity, SourceRef};
use memdx_core::{Report, Table};
use memdx_parse::slabinfo::{SlabCache, SlabFormat, SlabTable};

/// What a large cache usually means, and where to look. Matched by exact name or `prefix*`.
const KNOWN: &[(&str, &str, &str)] = &[
    ("kernfs_node_cache", "one object per sysfs/cgroupfs file and directory: grows with cgroup creation (systemd units, containers) and dying memcgs", "cat /proc/cgroups; find /sys/fs/cgroup -maxdepth 3 -type d | wc -l"),
    ("names_cache", "4 KiB path-name buffers (getname/putname) that are normally freed at once; many live objects mean a getname leak or audit holding names", "auditctl -s; auditctl -l  # audit keeps names of audited syscalls"),
    ("dentry", "directory entries, often negative dentries from lookups of files that do not exist; reclaimable under pressure", "cat /proc/sys/fs/dentry-state"),
    ("inode_cache", "in-memory inodes (pseudo filesystems); reclaimable when their dentries go", "cat /proc/sys/fs/inode-nr"),
    ("ext4_inode_cache", "ext4 in-memory inodes; reclaimable with their dentries", "cat /proc/sys/fs/inode-nr"),
    ("xfs_inode", "XFS in-memory inodes", "cat /proc/sys/fs/inode-nr"),
    ("radix_tree_node", "page cache and swap cache index nodes; follows page cache size", "grep -E 'Cached|Shmem' /proc/meminfo"),
    ("xarray_node", "page cache index nodes; follows page cache size", "grep -E 'Cached|Shmem' /proc/meminfo"),
    ("buffer_head", "block buffer heads for metadata and page cache", "grep Buffers /proc/meminfo"),
    ("mem_cgroup", "one per memory cgroup, alive or dying: many mean cgroup churn or dying memcgs pinned by page cache", "cat /proc/cgroups; cat /sys/fs/cgroup/cgroup.stat"),
    ("mem_cgroup_per_node", "one per memory cgroup per NUMA node", "cat /proc/cgroups"),
    ("filp", "open files: grows with leaked file descriptors", "cat /proc/sys/fs/file-nr; ls /proc/*/fd | wc -l"),
    ("task_struct", "one per thread", "ps -eLf | wc -l"),
    ("vm_area_struct", "one per memory mapping", "wc -l /proc/*/maps | sort -n | tail"),
    ("sock_inode_cache", "sockets", "ss -s"),
    ("skbuff_head_cache", "network buffers in flight", "ss -tmi; nstat -az | grep -i drop"),
    ("kmalloc-", "generic kmalloc of this size: any kernel code", "memdx trace allocs --min-size <size>; or boot slub_debug=U,<cache> and read /sys/kernel/slab/<cache>/alloc_calls"),
    ("kmalloc-cg-", "generic kmalloc charged to a memcg (5.14+)", "memdx trace allocs --min-size <size>"),
];

/// Caches the kernel creates with SLAB_RECLAIM_ACCOUNT (counted in SReclaimable): shrinkers free
/// them under memory pressure, and they follow the page cache and the file working set, so their
/// size alone is not a problem.
pub const RECLAIMABLE: &[&str] = &[
    "dentry",
    "inode_cache",
    "ext4_inode_cache",
    "xfs_inode",
    "radix_tree_node",
    "xarray_node",
    "buffer_head",
];

fn known(name: &str) -> Option<(&'static str, &'static str)> {
    KNOWN
        .iter()
        .filter(|(k, _, _)| if k.ends_with('-') { name.starts_with(k) } else { name == *k })
        .max_by_key(|(k, _, _)| k.len())
        .map(|(_, what, next)| (*what, *next))
}

const TOP: usize = 15;

fn cache_src(t: &SlabTable, c: &SlabCache) -> SourceRef {
    t.source.at(c.line as usize)
}

pub fn run(case: &Case, out: &mut Report) {
    let Some(t) = case.slab() else { return };
    let page_kb = case.page_kb();
    let mut caches: Vec<&SlabCache> = t.caches.iter().collect();
    caches.sort_by_key(|c| std::cmp::Reverse(c.memory_kb(page_kb)));
    let table_kb: u64 = caches.iter().map(|c| c.memory_kb(page_kb)).fold(0, u64::saturating_add);
    // The share of all slab: meminfo's Slab when known (a slabtop excerpt lists only the top caches).
    let slab_meminfo = case.meminfo.as_ref().and_then(|m| m.kb("Slab"));
    let total_kb = slab_meminfo.unwrap_or(table_kb).max(1);

    let mut rows = Vec::new();
    for c in caches.iter().take(TOP) {
        let mem = c.memory_kb(page_kb);
        let used = c.active_objs.saturating_mul(c.objsize) / 1024;
        let merged = case.slab_aliases.merged_with(&c.name);
        rows.push(vec![
            c.name.clone(),
            kib(mem),
            format!("{}/{}", c.active_objs, c.num_objs),
            format!("{:.0}%", c.active_pct()),
            c.objsize.to_string(),
            kib(mem.saturating_sub(used)),
            if merged.is_empty() { String::new() } else { merged.join(" ") },
        ]);
    }
    let mut notes = vec![format!("total {} in {} caches listed", kib(table_kb), t.caches.len())];
    if let Some(s) = slab_meminfo {
        notes.push(format!("shares are of meminfo Slab {}", kib(s)));
    }
    if t.format == SlabFormat::Slabtop {
        notes.push("from slabtop: object sizes are rounded to 10 bytes".into());
    } else if case.page_size_assumed() {
        notes.push("memory = slabs x pages per slab x 4 KiB (page size assumed)".into());
    }
    notes.push("waste = memory - active objects x object size (free objects, slab metadata, padding)".into());
    if case.slab_aliases.groups.is_empty() && t.format == SlabFormat::Slabinfo {
        notes.push("merged caches unknown: /sys/kernel/slab not given (memdx snapshot collects it)".into());
    }
    out.tables.push(Table {
        id: "slab.top".into(),
        title: format!("Top slab caches by memory ({})", t.source.file),
        columns: ["cache", "memory", "active/total objs", "active", "obj size", "waste", "merged with"]
            .map(String::from)
            .to_vec(),
        rows,
        notes,
    });

    for c in caches.iter().take(5) {
        let mem = c.memory_kb(page_kb);
        let share = pct(mem, total_kb);
        if mem < 100 * 1024 || share < 10.0 {
            continue;
        }
        let reclaimable = RECLAIMABLE.contains(&c.name.as_str());
        let sev = if reclaimable {
            Severity::Info
        } else if mem >= 1024 * 1024 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let merged = case.slab_aliases.merged_with(&c.name);
        let mut explanation = format!(
            "{} holds {} objects of {} bytes ({:.0}% in use), {} or {share:.0}% of all slab.",
            c.name,
            c.num_objs,
            c.objsize,
            c.active_pct(),
            kib(mem)
        );
        if !merged.is_empty() {
            explanation.push_str(&format!(
                " slabinfo shows merged caches under one name: {} shares this cache with {}, so the count includes theirs.",
                c.name,
                merged.join(", ")
            ));
        }
        let mut f = Finding::new(
            "slab.large_cache",
            sev,
            format!("{} holds {} ({share:.0}% of slab)", c.name, kib(mem)),
        )
        .evidence(Evidence::int(format!("{} memory", c.name), mem as i64, Some("kB"), Some(cache_src(t, c))))
        .evidence(Evidence::int(
            format!("{} objects", c.name),
            c.num_objs as i64,
            None,
            Some(cache_src(t, c)),
        ))
        .evidence(Evidence::float("active objects", c.active_pct(), Some("%"), None));
        if reclaimable {
            explanation.push_str(
                " It is reclaimable (SLAB_RECLAIM_ACCOUNT, in SReclaimable): the kernel shrinks it under memory \
                 pressure, so its size alone is not a problem; a leak shows as growth that survives pressure.",
            );
        }
        if let Some((what, next)) = known(&c.name) {
            explanation.push_str(&format!(" This cache holds {what}."));
            f = f.next(next.to_string());
        }
        f = f.next(format!("memdx trace slab {} --duration 60s  # allocation stacks not freed", c.name));
        out.findings.push(f.explain(explanation).score(mem as f64));
    }
    growth(case, out);
}

/// Growth between the first and last snapshots (when at least two are present).
fn growth(case: &Case, out: &mut Report) {
    let series = case.slab_series();
    let (Some(first), Some(last)) = (series.first().copied(), series.last().copied()) else { return };
    if series.len() < 2 {
        return;
    }
    let page_kb = case.page_kb();
    let hours = match (first.time, last.time) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 3600.0),
        _ => None,
    };
    let mut deltas: Vec<(&SlabCache, i64, i64)> = last
        .table
        .caches
        .iter()
        .filter_map(|c| {
            let old = first.table.get(&c.name)?;
            let d_objs = (c.active_objs as i64).saturating_sub(old.active_objs as i64);
            let d_kb = (c.memory_kb(page_kb) as i64).saturating_sub(old.memory_kb(page_kb) as i64);
            Some((c, d_objs, d_kb))
        })
        .collect();
    deltas.sort_by_key(|(_, _, kb)| std::cmp::Reverse(*kb));
    let span = match hours {
        Some(h) => format!("over {}", human_hours(h)),
        None => format!("between {} snapshots (capture times unknown)", series.len()),
    };
    let monotonic = |name: &str| {
        let objs: Vec<u64> = series.iter().filter_map(|s| s.table.get(name).map(|c| c.active_objs)).collect();
        objs.len() == series.len() && objs.windows(2).all(|w| w[1] >= w[0])
    };
    let rows = deltas
        .iter()
        .take(TOP)
        .map(|(c, d_objs, d_kb)| {
            vec![
                c.name.clone(),
                format!("{d_objs:+}"),
                format!("{}{}", if *d_kb < 0 { "-" } else { "+" }, kib(d_kb.unsigned_abs())),
                hours.map(|h| format!("{:+.0}", *d_objs as f64 / h)).unwrap_or_default(),
                if monotonic(&c.name) { "yes".into() } else { "no".into() },
            ]
        })
        .collect();
    out.tables.push(Table {
        id: "slab.growth".into(),
        title: format!("Slab growth {span}, {} -> {}", first.table.source.file, last.table.source.file),
        columns: ["cache", "active objs", "memory", "objs/hour", "grew every snapshot"]
            .map(String::from)
            .to_vec(),
        rows,
        notes: vec![],
    });
    for (c, d_objs, d_kb) in deltas.iter().take(3) {
        // A cache that grew by >= 16 MiB, or by >= 50% and 4 MiB, every snapshot along the way.
        let old_kb = first.table.get(&c.name).map(|o| o.memory_kb(page_kb)).unwrap_or(0) as i64;
        let big = *d_kb >= 16 * 1024 || (*d_kb >= 4 * 1024 && d_kb.saturating_mul(2) >= old_kb);
        if !big || !monotonic(&c.name) {
            continue;
        }
        let rate = hours.map(|h| format!(", {:+.0} objects/hour", *d_objs as f64 / h)).unwrap_or_default();
        let mut f = Finding::new(
            "slab.growth",
            Severity::Warning,
            format!("{} grew by {} ({d_objs:+} objects{rate}) {span}", c.name, kib(*d_kb as u64)),
        )
        .explain(format!(
            "{} grew in every one of {} snapshots. Steady growth is the shape of a leak or of something it tracks that keeps \
             accumulating; churn goes up and down.",
            c.name,
            series.len()
        ))
        .evidence(Evidence::int(format!("{} active objects, first", c.name), (c.active_objs as i64).saturating_sub(*d_objs), None, first.table.get(&c.name).map(|o| cache_src(&first.table, o))))
        .evidence(Evidence::int(format!("{} active objects, last", c.name), c.active_objs as i64, None, Some(cache_src(&last.table, c))));
        if let Some(h) = hours {
            f = f.evidence(Evidence::float("objects per hour", *d_objs as f64 / h, Some("objects/h"), None));
        }
        if let Some((_, next)) = known(&c.name) {
            f = f.next(next.to_string());
        }
        out.findings.push(f.next(format!("memdx trace slab {} --duration 60s", c.name)).score(*d_kb as f64));
    }
}

fn human_hours(h: f64) -> String {
    if h < 1.0 / 60.0 {
        format!("{:.0} s", h * 3600.0)
    } else if h < 1.0 {
        format!("{:.0} min", h * 60.0)
    } else {
        format!("{h:.1} h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLABTOP: &str = "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME                   \n 55251  52846  95%    4.44K   7893        7    252576K names_cache            \n229119 223856  97%    0.48K   6943       33    111088K kernfs_node_cache      \n141850 137390  96%    0.62K   5674       25     90784K kmalloc-128            \n 13776  12659  91%    4.50K   1968        7     62976K kmalloc-4096           \n104670  87963  84%    0.53K   3489       30     55824K dentry                 \n";

    #[test]
    fn names_top_caches() {
        let mut c = Case::new();
        c.ingest("slabtop.txt", SLABTOP, None);
        let mut out = Report::default();
        run(&c, &mut out);
        let titles: Vec<&str> = out.findings.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(titles[0], "names_cache holds 246.7 MiB (44% of slab)");
        assert!(titles[1].starts_with("kernfs_node_cache holds 108.5 MiB"));
        assert_eq!(out.tables[0].rows[0][0], "names_cache");
    }

    #[test]
    fn growth_with_times() {
        let mut c = Case::new();
        let a = "slabinfo - version: 2.1\nkernfs_node_cache  17209  17400    136   30    1 : tunables 0 0 0 : slabdata 580 580 0\n";
        let b = "slabinfo - version: 2.1\nkernfs_node_cache  217209  217400    136   30    1 : tunables 0 0 0 : slabdata 7247 7247 0\n";
        c.ingest("a", a, Some(0));
        c.ingest("b", b, Some(7200));
        c.finish();
        let mut out = Report::default();
        run(&c, &mut out);
        let g = out.findings.iter().find(|f| f.id == "slab.growth").unwrap();
        assert!(g.title.contains("+200000 objects, +100000 objects/hour"), "{}", g.title);
    }
}
