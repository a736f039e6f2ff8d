//! Cgroup churn and dying memcgs: cgroup counts per hierarchy, live versus dying (v2
//! `cgroup.stat` `nr_dying_descendants`; v1 `/proc/cgroups` `num_cgroups` minus the directories
//! present), and the growth of the caches cgroup churn fills (kernfs_node_cache, mem_cgroup,
//! dentry, percpu) between two slab tables.
//!
//! Pure: the caller reads `/proc/cgroups`, `cgroup.stat` and counts directories (see `memdx trace
//! slab`), and passes text and numbers.

use memdx_parse::cgroups::ProcCgroups;
use memdx_parse::slabinfo::SlabTable;

/// Caches that grow with the number of cgroups (alive or dying). Exact names or `prefix*`.
pub const MEMCG_CACHES: &[&str] = &[
    "kernfs_node_cache",
    "kernfs_iattrs_cache",
    "mem_cgroup",
    "mem_cgroup_per_node",
    "dentry",
    "inode_cache",
    "kmalloc-cg-*",
    "pool_workqueue",
];

pub fn is_memcg_cache(name: &str) -> bool {
    MEMCG_CACHES.iter().any(|c| match c.strip_suffix('*') {
        Some(p) => name.starts_with(p),
        None => name == *c,
    })
}

/// One cgroup hierarchy (v1 controller, or the v2 tree).
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    pub controller: String,
    pub hierarchy: u64,
    /// `/proc/cgroups` num_cgroups (counts dying cgroups too).
    pub num_cgroups: u64,
    /// Directories actually present under the controller's mount, when counted.
    pub present: Option<u64>,
    /// num_cgroups - present (v1), or `nr_dying_descendants` (v2).
    pub dying: Option<u64>,
}

/// `cgroup.stat` of a v2 cgroup (since 4.14); `nr_dying_subsys_*` since 6.x are not kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupStat {
    pub nr_descendants: u64,
    pub nr_dying_descendants: u64,
}

pub fn parse_cgroup_stat(text: &str) -> Option<CgroupStat> {
    let mut s = CgroupStat::default();
    let mut seen = false;
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else { continue };
        let Ok(v) = v.parse() else { continue };
        match k {
            "nr_descendants" => {
                s.nr_descendants = v;
                seen = true;
            }
            "nr_dying_descendants" => s.nr_dying_descendants = v,
            _ => {}
        }
    }
    seen.then_some(s)
}

/// Hierarchies from `/proc/cgroups`, with the directory counts the caller found
/// (`(controller, directories)`, the root directory included, as num_cgroups counts it).
pub fn hierarchies(pc: &ProcCgroups, present: &[(&str, u64)]) -> Vec<Hierarchy> {
    pc.controllers
        .iter()
        .filter(|c| c.enabled)
        .map(|c| {
            let p = present.iter().find(|(n, _)| *n == c.name).map(|(_, v)| *v);
            Hierarchy {
                controller: c.name.clone(),
                hierarchy: c.hierarchy,
                num_cgroups: c.num_cgroups,
                present: p,
                dying: p.map(|p| c.num_cgroups.saturating_sub(p)),
            }
        })
        .collect()
}

/// Growth of one cache between two slab tables.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheGrowth {
    pub cache: String,
    pub before: u64,
    pub after: u64,
    pub delta: i64,
    pub objsize: u64,
    /// delta * objsize, KiB.
    pub delta_kb: i64,
    pub per_hour: Option<f64>,
}

/// Active-object growth of every cache present in both tables, largest memory growth first.
/// `only_memcg` keeps [`is_memcg_cache`] ones.
pub fn growth(
    before: &SlabTable,
    after: &SlabTable,
    seconds: Option<f64>,
    only_memcg: bool,
) -> Vec<CacheGrowth> {
    let mut out: Vec<CacheGrowth> = after
        .caches
        .iter()
        .filter(|c| !only_memcg || is_memcg_cache(&c.name))
        .filter_map(|a| {
            let b = before.get(&a.name)?;
            let delta = a.active_objs as i64 - b.active_objs as i64;
            Some(CacheGrowth {
                cache: a.name.clone(),
                before: b.active_objs,
                after: a.active_objs,
                delta,
                objsize: a.objsize,
                delta_kb: delta * a.objsize as i64 / 1024,
                per_hour: seconds.filter(|s| *s > 0.0).map(|s| delta as f64 / s * 3600.0),
            })
        })
        .collect();
    out.sort_by(|a, b| b.delta_kb.cmp(&a.delta_kb).then_with(|| a.cache.cmp(&b.cache)));
    out
}

/// The merged-cache situation of a cache name, from the `/sys/kernel/slab` symlinks: every name
/// pointing at the same `:<flags>-<size>` target shares one kmem_cache, listed in slabinfo and
/// named in tracepoints by its first member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedCache {
    /// The name asked for.
    pub asked: String,
    /// The name the kernel uses for the shared cache (`/proc/slabinfo`, tracepoint `name`).
    pub canonical: String,
    /// Every alias of the shared cache, sorted.
    pub aliases: Vec<String>,
    /// The sysfs target (`:0000136`), when merged.
    pub target: Option<String>,
}

/// Resolves `asked` given `(name, symlink target)` pairs of `/sys/kernel/slab` and the cache names
/// present in `/proc/slabinfo`. `None` when `asked` is not a cache.
pub fn resolve_merged(
    asked: &str,
    links: &[(String, Option<String>)],
    slabinfo_names: &[String],
) -> Option<MergedCache> {
    let (_, target) = links.iter().find(|(n, _)| n == asked)?;
    let Some(target) = target.clone() else {
        return Some(MergedCache {
            asked: asked.into(),
            canonical: asked.into(),
            aliases: vec![asked.into()],
            target: None,
        });
    };
    let mut aliases: Vec<String> =
        links.iter().filter(|(_, t)| t.as_deref() == Some(target.as_str())).map(|(n, _)| n.clone()).collect();
    aliases.sort();
    let canonical = aliases
        .iter()
        .find(|a| slabinfo_names.iter().any(|s| s == *a))
        .cloned()
        .unwrap_or_else(|| asked.to_string());
    Some(MergedCache { asked: asked.into(), canonical, aliases, target: Some(target) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_kernfs() {
        let links = vec![
            ("kernfs_node_cache".to_string(), Some(":0000136".to_string())),
            ("kvm_async_pf".to_string(), Some(":0000136".to_string())),
            ("dentry".to_string(), None),
        ];
        let m =
            resolve_merged("kvm_async_pf", &links, &["kernfs_node_cache".into(), "dentry".into()]).unwrap();
        assert_eq!(m.canonical, "kernfs_node_cache");
        assert_eq!(m.aliases, vec!["kernfs_node_cache", "kvm_async_pf"]);
        assert_eq!(resolve_merged("dentry", &links, &[]).unwrap().target, None);
    }

    #[test]
    fn cgroup_stat() {
        let s = parse_cgroup_stat("nr_descendants 12\nnr_dying_descendants 3\nnr_subsys_memory 9\n").unwrap();
        assert_eq!((s.nr_descendants, s.nr_dying_descendants), (12, 3));
    }
}
