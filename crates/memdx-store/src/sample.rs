//! One recorded moment as named numbers, built from what the source layer read. Pure.

use memdx_analyze::Case;

/// Series kinds. A series is (kind, name); units are fixed per kind.
pub mod kind {
    /// `/proc/meminfo` fields, in kB (or counts for HugePages_*).
    pub const MEMINFO: &str = "meminfo";
    /// `/proc/vmstat` counters and gauges as the kernel prints them.
    pub const VMSTAT: &str = "vmstat";
    /// Slab cache memory in KiB, per cache name.
    pub const SLAB_KB: &str = "slab.kb";
    /// Slab cache active objects, per cache name.
    pub const SLAB_OBJS: &str = "slab.objs";
    /// Free blocks per order: name `node<N>/<zone>/<order>`.
    pub const BUDDY: &str = "buddy";
    /// PSI: name `<resource>.<some|full>.<avg10|avg60|avg300|total>`.
    pub const PSI: &str = "psi";
    /// `/proc/cgroups` num_cgroups, per controller.
    pub const CGROUPS: &str = "cgroups";
    /// Memory cgroups: names `live` and `dying`.
    pub const MEMCG: &str = "memcg";
    /// Memory usage in bytes of the largest memory cgroups, per cgroup path.
    pub const MEMCG_USAGE: &str = "memcg.usage";
    /// Bytes of pages charged to dying memcgs, per closest live parent (cgroup path): recorded when
    /// memcgs are dying.
    pub const MEMCG_PINNED: &str = "memcg.pinned";
    /// Dying memory cgroups per closest live parent (cgroup path; cgroup v2 `cgroup.stat`, which v1
    /// does not have): recorded when memcgs are dying.
    pub const MEMCG_DYING_BY_PARENT: &str = "memcg.dying_by_parent";
    /// Resident set size in KiB of the largest processes: name `comm[pid]`.
    pub const PROC_RSS: &str = "proc.rss";
}

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub kind: &'static str,
    pub name: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// Unix seconds.
    pub time: i64,
    pub points: Vec<Point>,
}

/// Memory cgroup counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemcgCounts {
    pub live: u64,
    /// Removed but not yet freed (None when the hierarchy does not tell).
    pub dying: Option<u64>,
}

/// What the source layer read beside the [`Case`].
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub memcg: Option<MemcgCounts>,
    /// (cgroup path, usage bytes), largest first.
    pub top_memcgs: Vec<(String, u64)>,
    /// (`comm[pid]`, RSS KiB), largest first.
    pub top_procs: Vec<(String, u64)>,
}

/// Most parents recorded with the pages pinning their dying descendants.
const PINNED_PARENTS: usize = 20;

/// Builds the sample for time `time` from a case read from a root and the extra scans.
pub fn from_case(time: i64, case: &Case, extras: &Extras) -> Sample {
    let mut pts = Vec::new();
    let mut push = |kind: &'static str, name: String, value: f64| pts.push(Point { kind, name, value });
    if let Some(m) = &case.meminfo {
        for e in &m.entries {
            push(kind::MEMINFO, e.key.clone(), e.value as f64);
        }
    }
    if let Some(v) = &case.vmstat {
        for e in &v.entries {
            push(kind::VMSTAT, e.key.clone(), e.value as f64);
        }
    }
    if let Some(t) = case.slab() {
        let page_kb = case.page_kb();
        // Several rows may share a name (SLAB per-node caches on old kernels): add them up.
        let mut seen: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
        for c in &t.caches {
            let e = seen.entry(c.name.as_str()).or_default();
            e.0 = e.0.saturating_add(c.memory_kb(page_kb));
            e.1 = e.1.saturating_add(c.active_objs);
        }
        for (name, (kb, objs)) in seen {
            push(kind::SLAB_KB, name.to_string(), kb as f64);
            push(kind::SLAB_OBJS, name.to_string(), objs as f64);
        }
    }
    if let Some(b) = &case.buddyinfo {
        for z in &b.zones {
            for (order, n) in z.free.iter().enumerate() {
                push(kind::BUDDY, format!("node{}/{}/{}", z.node, z.zone, order), *n as f64);
            }
        }
    }
    for p in &case.psi {
        let res = p.resource.as_deref().unwrap_or("memory");
        for (which, line) in [("some", &p.some), ("full", &p.full)] {
            if let Some(l) = line {
                push(kind::PSI, format!("{res}.{which}.avg10"), l.avg10);
                push(kind::PSI, format!("{res}.{which}.avg60"), l.avg60);
                push(kind::PSI, format!("{res}.{which}.avg300"), l.avg300);
                push(kind::PSI, format!("{res}.{which}.total"), l.total_us as f64);
            }
        }
    }
    if let Some(c) = &case.cgroups {
        for ctl in &c.controllers {
            push(kind::CGROUPS, ctl.name.clone(), ctl.num_cgroups as f64);
        }
    }
    if let Some(m) = extras.memcg {
        push(kind::MEMCG, "live".into(), m.live as f64);
        if let Some(d) = m.dying {
            push(kind::MEMCG, "dying".into(), d as f64);
        }
    }
    for (path, bytes) in &extras.top_memcgs {
        push(kind::MEMCG_USAGE, path.clone(), *bytes as f64);
    }
    if let Some(tree) = &case.memcg_tree {
        let page = case.page_kb() * 1024;
        for p in memdx_analyze::pins::join(tree, None, &[], page).parents.iter().take(PINNED_PARENTS) {
            push(kind::MEMCG_PINNED, p.path.clone(), (p.pinned * page) as f64);
            if let Some(d) = p.dying {
                push(kind::MEMCG_DYING_BY_PARENT, p.path.clone(), d as f64);
            }
        }
    }
    for (name, kb) in &extras.top_procs {
        push(kind::PROC_RSS, name.clone(), *kb as f64);
    }
    // PSI may list a resource twice (a tree and a dump): keep the last value of each name.
    let mut dedup: std::collections::HashMap<(&'static str, String), usize> = Default::default();
    let mut out: Vec<Point> = Vec::with_capacity(pts.len());
    for p in pts {
        match dedup.get(&(p.kind, p.name.clone())) {
            Some(&i) => out[i] = p,
            None => {
                dedup.insert((p.kind, p.name.clone()), out.len());
                out.push(p);
            }
        }
    }
    Sample { time, points: out }
}
