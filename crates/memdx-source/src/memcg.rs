//! Memory cgroups under a root: how many are live and dying, and the largest by usage.
//!
//! cgroup v1 (`sys/fs/cgroup/memory`): live = directories of the hierarchy (the root included, as
//! `/proc/cgroups` counts it); dying = `num_cgroups` of the memory controller minus live, since
//! `num_cgroups` still counts removed cgroups that are not freed. cgroup v2 (`sys/fs/cgroup` with
//! the memory controller): the root `cgroup.stat` gives `nr_descendants` and `nr_dying_descendants`.

use memdx_parse::cgroups::ProcCgroups;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgScan {
    pub hierarchy: Hierarchy,
    pub live: u64,
    /// None when it cannot be told (v1 without /proc/cgroups).
    pub dying: Option<u64>,
    /// (path relative to the hierarchy root, usage in bytes), largest first. Usage is hierarchical:
    /// a parent includes its children.
    pub top: Vec<(String, u64)>,
    /// Limits of the `top` cgroups, in the same order.
    pub limits: Vec<MemcgLimits>,
    /// Deepest level below the hierarchy root (0 = only the root).
    pub max_depth: u32,
}

/// What bounds one memory cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgLimits {
    pub path: String,
    pub usage: u64,
    /// v1 `memory.limit_in_bytes`, v2 `memory.max`; `None` when unlimited.
    pub limit: Option<u64>,
    /// v1 `memory.swappiness` (per cgroup; v2 has none).
    pub swappiness: Option<u64>,
    /// v2 `memory.swap.max` as written (`max` or bytes).
    pub swap_max: Option<String>,
}

/// Values at or above this are "no limit" (v1 prints PAGE_COUNTER_MAX pages in bytes).
const UNLIMITED: u64 = 1 << 60;

fn limits(hier: Hierarchy, dir: &Path, path: &str, usage: u64) -> MemcgLimits {
    let text = |f: &str| std::fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_string());
    let (limit, swappiness, swap_max) = match hier {
        Hierarchy::V1 => {
            (read_u64(&dir.join("memory.limit_in_bytes")), read_u64(&dir.join("memory.swappiness")), None)
        }
        Hierarchy::V2 => (read_u64(&dir.join("memory.max")), None, text("memory.swap.max")),
    };
    MemcgLimits {
        path: path.to_string(),
        usage,
        limit: limit.filter(|&l| l < UNLIMITED),
        swappiness,
        swap_max,
    }
}

/// Most cgroup directories walked: a machine leaking cgroups can have hundreds of thousands.
const MAX_DIRS: usize = 200_000;

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Walks the memory hierarchy under `root`. `cgroups` is the parsed `/proc/cgroups` of the same
/// root (for the v1 dying count). None when there is no memory controller mounted.
pub fn scan(root: &Path, top: usize, cgroups: Option<&ProcCgroups>) -> Option<MemcgScan> {
    let v1 = root.join("sys/fs/cgroup/memory");
    let v2 = root.join("sys/fs/cgroup");
    let (hier, base, usage_file) = if v1.join("memory.usage_in_bytes").exists() {
        (Hierarchy::V1, v1, "memory.usage_in_bytes")
    } else if std::fs::read_to_string(v2.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
    {
        (Hierarchy::V2, v2, "memory.current")
    } else {
        return None;
    };
    let mut dirs: Vec<PathBuf> = vec![base.clone()];
    let mut usage = Vec::new();
    let mut i = 0;
    while i < dirs.len() && dirs.len() < MAX_DIRS {
        let d = dirs[i].clone();
        i += 1;
        if d != base {
            if let Some(u) = read_u64(&d.join(usage_file)) {
                let rel = d.strip_prefix(&base).map(|r| format!("/{}", r.display())).unwrap_or_default();
                usage.push((rel, u));
            }
        }
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(Result::ok) {
            // file_type() does not follow symlinks: a link is never walked.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
    }
    usage.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    usage.truncate(top);
    let lims =
        usage.iter().map(|(p, u)| limits(hier, &base.join(p.trim_start_matches('/')), p, *u)).collect();
    let max_depth = dirs
        .iter()
        .filter_map(|d| d.strip_prefix(&base).ok())
        .map(|r| r.components().count() as u32)
        .max()
        .unwrap_or(0);
    let (live, dying) = match hier {
        Hierarchy::V1 => {
            let live = dirs.len() as u64;
            let num = cgroups.and_then(|c| c.get("memory")).map(|c| c.num_cgroups);
            (live, num.map(|n| n.saturating_sub(live)))
        }
        Hierarchy::V2 => {
            let stat = std::fs::read_to_string(base.join("cgroup.stat")).unwrap_or_default();
            let get = |k: &str| {
                stat.lines().find_map(|l| l.strip_prefix(k).and_then(|v| v.trim().parse::<u64>().ok()))
            };
            // Every cgroup of the unified hierarchy has the memory controller when the root lists it
            // in cgroup.subtree_control; nr_descendants counts them all.
            let live = get("nr_descendants ").map(|n| n + 1).unwrap_or(dirs.len() as u64);
            (live, get("nr_dying_descendants "))
        }
    };
    Some(MemcgScan { hierarchy: hier, live, dying, top: usage, limits: lims, max_depth })
}

#[cfg(test)]
mod tests {
    use super::*;
    use memdx_core::SourceRef;

    #[test]
    fn v1_and_v2_trees() {
        let root = std::env::temp_dir().join(format!("memdx-memcg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let m = root.join("sys/fs/cgroup/memory");
        for (d, u) in [("", 1000u64), ("a", 600), ("a/b", 500), ("c", 50)] {
            std::fs::create_dir_all(m.join(d)).unwrap();
            std::fs::write(m.join(d).join("memory.usage_in_bytes"), format!("{u}\n")).unwrap();
        }
        let cg = memdx_parse::cgroups::parse(
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t10\t1\n",
            &SourceRef::new("cgroups"),
        )
        .unwrap()
        .value;
        let s = scan(&root, 2, Some(&cg)).unwrap();
        assert_eq!((s.hierarchy, s.live, s.dying), (Hierarchy::V1, 4, Some(6)));
        assert_eq!(s.top, vec![("/a".to_string(), 600), ("/a/b".to_string(), 500)]);
        std::fs::remove_dir_all(&root).unwrap();

        let v2 = root.join("sys/fs/cgroup");
        std::fs::create_dir_all(v2.join("x")).unwrap();
        std::fs::write(v2.join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
        std::fs::write(v2.join("cgroup.stat"), "nr_descendants 1\nnr_dying_descendants 42\n").unwrap();
        std::fs::write(v2.join("x/memory.current"), "4096\n").unwrap();
        let s = scan(&root, 5, None).unwrap();
        assert_eq!((s.hierarchy, s.live, s.dying), (Hierarchy::V2, 2, Some(42)));
        assert_eq!(s.top, vec![("/x".to_string(), 4096)]);
        std::fs::remove_dir_all(&root).unwrap();
        assert!(scan(&root, 5, None).is_none());
    }
}
