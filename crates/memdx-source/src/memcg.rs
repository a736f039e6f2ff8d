//! Memory cgroups under a root: how many are live and dying, and the largest by usage.
//!
//! cgroup v1 (`sys/fs/cgroup/memory`): live = directories of the hierarchy (the root included, as
//! `/proc/cgroups` counts it); dying = `num_cgroups` of the memory controller minus live, since
//! `num_cgroups` still counts removed cgroups that are not freed. cgroup v2 (`sys/fs/cgroup` with
//! the memory controller): the root `cgroup.stat` gives `nr_descendants` and `nr_dying_descendants`.

use crate::cgroup_names::Seen;
use memdx_analyze::case::{CgroupExport, CgroupStats};
use memdx_core::SourceRef;
use memdx_parse::cgroups::ProcCgroups;
use memdx_parse::kv::Counters;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    V1,
    V2,
}

impl Hierarchy {
    pub fn label(self) -> &'static str {
        match self {
            Hierarchy::V1 => "v1",
            Hierarchy::V2 => "v2",
        }
    }
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
pub(crate) const MAX_DIRS: usize = 200_000;

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The memory hierarchy under `root`: its kind, base directory and usage file.
pub(crate) fn hierarchy(root: &Path) -> Option<(Hierarchy, PathBuf, &'static str)> {
    let v1 = root.join("sys/fs/cgroup/memory");
    let v2 = root.join("sys/fs/cgroup");
    if v1.join("memory.usage_in_bytes").exists() {
        Some((Hierarchy::V1, v1, "memory.usage_in_bytes"))
    } else if std::fs::read_to_string(v2.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
    {
        Some((Hierarchy::V2, v2, "memory.current"))
    } else {
        None
    }
}

/// Every directory of the hierarchy at `base` (itself first; at most [`MAX_DIRS`]; symlinks are never
/// followed), the usage of each but the base as (path relative to the base, bytes), and each
/// directory's inode with its parent's (what memdx remembers of live cgroups: [`crate::cgroup_names`]).
fn walk(base: &Path, usage_file: &str) -> (Vec<PathBuf>, Vec<(String, u64)>, Vec<Seen>) {
    use std::os::unix::fs::{DirEntryExt, MetadataExt};
    let mut dirs: Vec<PathBuf> = vec![base.to_path_buf()];
    let base_ino = std::fs::symlink_metadata(base).map(|m| m.ino()).unwrap_or(0);
    let mut seen = vec![Seen { ino: base_ino, parent_ino: 0, path: "/".into() }];
    let mut usage = Vec::new();
    let mut i = 0;
    while i < dirs.len() && dirs.len() < MAX_DIRS {
        let d = dirs[i].clone();
        let me = seen[i].ino;
        i += 1;
        if d != base {
            if let Some(u) = read_u64(&d.join(usage_file)) {
                usage.push((rel_path(base, &d), u));
            }
        }
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(Result::ok) {
            // file_type() does not follow symlinks: a link is never walked.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let p = e.path();
                seen.push(Seen { ino: e.ino(), parent_ino: me, path: rel_path(base, &p) });
                dirs.push(p);
            }
        }
    }
    (dirs, usage, seen)
}

fn rel_path(base: &Path, d: &Path) -> String {
    d.strip_prefix(base).map(|r| format!("/{}", r.display())).unwrap_or_default()
}

/// Walks the memory hierarchy under `root`. `cgroups` is the parsed `/proc/cgroups` of the same
/// root (for the v1 dying count). None when there is no memory controller mounted.
pub fn scan(root: &Path, top: usize, cgroups: Option<&ProcCgroups>) -> Option<MemcgScan> {
    scan_seen(root, top, cgroups).map(|(m, _)| m)
}

/// [`scan`], and every directory walked with its inode and its parent's.
pub fn scan_seen(root: &Path, top: usize, cgroups: Option<&ProcCgroups>) -> Option<(MemcgScan, Vec<Seen>)> {
    let (hier, base, usage_file) = hierarchy(root)?;
    let (dirs, mut usage, seen) = walk(&base, usage_file);
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
    Some((MemcgScan { hierarchy: hier, live, dying, top: usage, limits: lims, max_depth }, seen))
}

/// Largest cgroup file read: the files read here are a few lines.
const MAX_FILE: u64 = 64 * 1024;

fn read_small(p: &Path) -> Option<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(p).ok()?.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

fn counters(p: &Path) -> Option<Counters> {
    let text = read_small(p)?;
    memdx_parse::kv::parse_counters(&text, &SourceRef::new(p.display().to_string()), "cgroup")
        .ok()
        .map(|c| c.value)
}

fn stats(hier: Hierarchy, base: &Path, path: &str, usage: u64) -> CgroupStats {
    let dir = base.join(path.trim_start_matches('/'));
    let num = |f: &str| read_small(&dir.join(f)).and_then(|t| t.trim().parse::<u64>().ok());
    match hier {
        Hierarchy::V1 => CgroupStats {
            path: path.to_string(),
            usage,
            limit: num("memory.limit_in_bytes").filter(|&l| l < UNLIMITED),
            swap: num("memory.memsw.usage_in_bytes").map(|m| m.saturating_sub(usage)),
            failcnt: num("memory.failcnt"),
            events: counters(&dir.join("memory.oom_control"))
                .and_then(|c| c.get("oom_kill"))
                .map(|n| vec![("oom_kill".to_string(), n)])
                .unwrap_or_default(),
            dying_descendants: None,
            psi: None,
        },
        Hierarchy::V2 => CgroupStats {
            path: path.to_string(),
            usage,
            limit: num("memory.max").filter(|&l| l < UNLIMITED),
            swap: num("memory.swap.current"),
            failcnt: None,
            events: counters(&dir.join("memory.events"))
                .map(|c| c.entries.into_iter().map(|e| (e.key, e.value)).collect())
                .unwrap_or_default(),
            dying_descendants: dying_descendants(&dir),
            psi: read_small(&dir.join("memory.pressure")).and_then(|t| {
                let src = SourceRef::new(dir.join("memory.pressure").display().to_string());
                memdx_parse::psi::parse(&t, &src).ok()?.value.into_iter().next()
            }),
        },
    }
}

fn dying_descendants(dir: &Path) -> Option<u64> {
    counters(&dir.join("cgroup.stat"))?.get("nr_dying_descendants")
}

/// Per-cgroup memory figures for at most `2 * limit` cgroups: the `limit` largest by usage and, on
/// v2, the `limit` with the most dying descendants (the parents that leak memcgs). Bounds the
/// exporter's series whatever the machine runs. None when there is no memory controller.
pub fn cgroup_stats(root: &Path, limit: usize) -> Option<CgroupExport> {
    let (hier, base, usage_file) = hierarchy(root)?;
    let (_, mut usage, _) = walk(&base, usage_file);
    let total = usage.len();
    let mut chosen: Vec<(String, u64)> = Vec::new();
    if hier == Hierarchy::V2 {
        let mut dying: Vec<(u64, usize)> = usage
            .iter()
            .enumerate()
            .filter_map(|(i, (p, _))| {
                dying_descendants(&base.join(p.trim_start_matches('/'))).filter(|&n| n > 0).map(|n| (n, i))
            })
            .collect();
        dying.sort_by(|a, b| b.0.cmp(&a.0).then(usage[a.1].0.cmp(&usage[b.1].0)));
        chosen.extend(dying.iter().take(limit).map(|&(_, i)| usage[i].clone()));
    }
    usage.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for u in usage.into_iter().take(limit) {
        if !chosen.iter().any(|c| c.0 == u.0) {
            chosen.push(u);
        }
    }
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    let cgroups = chosen.into_iter().map(|(p, u)| stats(hier, &base, &p, u)).collect();
    Some(CgroupExport { hierarchy: hier.label(), cgroups, total })
}

/// The file of a snapshot bundle that keeps the walk (directories cannot be re-counted offline).
pub const BUNDLE_FILE: &str = "memdx-memcg.txt";

/// The walk as text for a snapshot bundle: `key value` lines, then one `top` line per cgroup
/// (`top USAGE LIMIT|max SWAPPINESS|- SWAP_MAX|- PATH`, the path last as it may hold spaces).
pub fn to_text(m: &MemcgScan) -> String {
    let mut s = format!("# memdx memcg walk\nhierarchy {}\nlive {}\n", m.hierarchy.label(), m.live);
    if let Some(d) = m.dying {
        s.push_str(&format!("dying {d}\n"));
    }
    s.push_str(&format!("max_depth {}\n", m.max_depth));
    for l in &m.limits {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "top {} {} {} {} {}\n",
            l.usage,
            l.limit.map_or("max".into(), |v| v.to_string()),
            opt(l.swappiness.map(|v| v.to_string())),
            opt(l.swap_max.clone()),
            l.path
        ));
    }
    s
}

/// Reads [`to_text`] back; `None` when it is not that file.
pub fn from_text(text: &str) -> Option<MemcgScan> {
    let mut m = MemcgScan {
        hierarchy: Hierarchy::V1,
        live: 0,
        dying: None,
        top: Vec::new(),
        limits: Vec::new(),
        max_depth: 0,
    };
    let mut seen = false;
    for line in text.lines().take(1000) {
        let (k, v) = line.split_once(' ')?;
        match k {
            "#" => {}
            "hierarchy" => m.hierarchy = if v == "v2" { Hierarchy::V2 } else { Hierarchy::V1 },
            "live" => {
                m.live = v.parse().ok()?;
                seen = true;
            }
            "dying" => m.dying = v.parse().ok(),
            "max_depth" => m.max_depth = v.parse().ok()?,
            "top" => {
                let f: Vec<&str> = v.splitn(5, ' ').collect();
                let [usage, limit, swappiness, swap_max, path] = f[..] else { continue };
                let usage = usage.parse().ok()?;
                m.top.push((path.to_string(), usage));
                m.limits.push(MemcgLimits {
                    path: path.to_string(),
                    usage,
                    limit: limit.parse().ok(),
                    swappiness: swappiness.parse().ok(),
                    swap_max: (swap_max != "-").then(|| swap_max.to_string()),
                });
            }
            _ => {}
        }
    }
    seen.then_some(m)
}

/// The walk as the Case holds it; `source` names where it was walked.
pub fn to_case(m: MemcgScan, source: memdx_core::SourceRef) -> memdx_analyze::case::MemcgCount {
    memdx_analyze::case::MemcgCount {
        hierarchy: m.hierarchy.label(),
        live: m.live,
        dying: m.dying,
        top: m.top,
        limits: m
            .limits
            .into_iter()
            .map(|l| memdx_analyze::case::MemcgLimit {
                path: l.path,
                usage: l.usage,
                limit: l.limit,
                swappiness: l.swappiness,
                swap_max: l.swap_max,
            })
            .collect(),
        max_depth: m.max_depth,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_text_round_trip() {
        let m = MemcgScan {
            hierarchy: Hierarchy::V1,
            live: 12,
            dying: Some(2988),
            top: vec![("/a b".into(), 4096)],
            limits: vec![MemcgLimits {
                path: "/a b".into(),
                usage: 4096,
                limit: Some(8192),
                swappiness: Some(60),
                swap_max: None,
            }],
            max_depth: 2,
        };
        assert_eq!(from_text(&to_text(&m)), Some(m));
        assert_eq!(from_text("MemTotal: 1 kB\n"), None);
    }

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

#[cfg(test)]
mod stats_tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/serve").join(name)
    }

    /// The real v1 capture: values as the kernel wrote them (testdata/serve/README.md).
    #[test]
    fn v1_capture() {
        let e = cgroup_stats(&fixture("v1-root"), 100).unwrap();
        assert_eq!((e.hierarchy, e.total, e.cgroups.len()), ("v1", 13, 13));
        let get = |p: &str| e.cgroups.iter().find(|c| c.path == p).unwrap();
        let fx = get("/memdx-fixture");
        assert_eq!((fx.failcnt, fx.limit), (Some(81), Some(64 << 20)));
        let b = get("/memdx-fixture/job-b");
        assert_eq!(
            (b.limit, b.swap, b.events.clone()),
            (Some(32 << 20), Some(0), vec![("oom_kill".into(), 1)])
        );
        assert_eq!(get("/memdx-fixture/job-a").limit, None);
        assert!(e.cgroups.iter().all(|c| c.psi.is_none() && c.dying_descendants.is_none()));
        // The bound: the 2 largest only.
        let top = cgroup_stats(&fixture("v1-root"), 2).unwrap();
        assert_eq!((top.total, top.cgroups.len()), (13, 2));
        assert!(top.cgroups.iter().any(|c| c.path == "/process_api"), "{:?}", top.cgroups);
    }

    #[test]
    fn v2_tree() {
        let e = cgroup_stats(&fixture("v2-root"), 1).unwrap();
        // The largest and the one with most dying descendants are both kubepods.slice (34; its tie
        // with pod-b goes by path).
        let paths: Vec<&str> = e.cgroups.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/kubepods.slice"]);
        // 4 by usage (kubepods, pod-b, system.slice, pod-a) and 4 by dying descendants (kubepods 34,
        // pod-b 34, system.slice 3, nginx 3): 5 cgroups.
        let e = cgroup_stats(&fixture("v2-root"), 4).unwrap();
        let paths: Vec<&str> = e.cgroups.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/kubepods.slice",
                "/kubepods.slice/pod-a",
                "/kubepods.slice/pod-b",
                "/system.slice",
                "/system.slice/nginx.service"
            ]
        );
        let a = cgroup_stats(&fixture("v2-root"), 10).unwrap();
        let pod = a.cgroups.iter().find(|c| c.path == "/kubepods.slice/pod-a").unwrap();
        assert_eq!((pod.usage, pod.limit, pod.swap), (536776704, Some(536870912), Some(1048576)));
        assert!(pod.events.contains(&("oom_kill".into(), 3)) && pod.events.contains(&("max".into(), 1532)));
        let psi = pod.psi.as_ref().unwrap();
        assert_eq!((psi.some.unwrap().avg10, psi.full.unwrap().total_us), (12.5, 5050000));
        assert_eq!(a.total, 7);
    }
}
