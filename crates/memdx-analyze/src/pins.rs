//! What pins the dying memory cgroups: the join of the memcg tree (directories with their inode,
//! `memory.stat` and v2 `cgroup.stat`), one pass over `/proc/kpagecgroup` + `/proc/kpageflags`
//! ([`memdx_parse::kpage::Tally`]) and the memcg of the cached pages of files.
//!
//! The kernel reports a page charged to a dying memcg at its closest live ancestor (see
//! [`memdx_parse::kpage`]), so the pages pinning dying memcgs are found per live parent:
//! - cgroup v1: `memory.stat` keeps the parent's own counters (`cache`, `rss`) beside the hierarchical
//!   ones (`total_cache`, `total_rss`); the dying descendants' pages are
//!   `total_X(P) - X(P) - sum of total_X(C)` over the live children C. Exact, from the kernel's counters.
//! - cgroup v2: `memory.stat` is hierarchical only; `X(P) - sum of X(C)` is the parent's own pages plus
//!   its dying descendants'. A parent with children has no processes of its own (no internal processes
//!   with the memory controller), so this is mostly dying pages; the report says it is an upper bound.
//!   `cgroup.stat` counts the dying descendants (`nr_dying_subsys_memory` since 6.11, else
//!   `nr_dying_descendants` since 4.14).
//!
//! Pure: no I/O; the source layer reads the inputs.

use memdx_parse::kpage::{Kinds, Tally};
use memdx_parse::memcg_stat::MemcgStat;
use std::collections::HashMap;

/// One live memory cgroup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupNode {
    /// Path below the hierarchy root: `/` for the root, `/system.slice/foo.service`.
    pub path: String,
    /// Inode number of the directory (what `/proc/kpagecgroup` reports).
    pub ino: u64,
    /// Index of the parent node (`None` for the root).
    pub parent: Option<usize>,
    pub stat: Option<MemcgStat>,
    /// v2 `cgroup.stat`: dying descendants with the memory controller (`nr_dying_subsys_memory`,
    /// 6.11+) or of any kind (`nr_dying_descendants`).
    pub dying_below: Option<u64>,
}

/// The live memory cgroup tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgTree {
    /// `v1` or `v2`.
    pub hierarchy: &'static str,
    /// Where the hierarchy is mounted, as shown to the user (`/sys/fs/cgroup/memory`).
    pub base: String,
    /// Root first; parents before children.
    pub nodes: Vec<CgroupNode>,
    /// Dying memcgs on the whole machine (v1 `/proc/cgroups` num_cgroups minus live directories; v2
    /// the root's `cgroup.stat`).
    pub total_dying: Option<u64>,
    /// The walk stopped at its cap of directories.
    pub truncated: bool,
    /// Cgroups memdx saw alive in earlier runs and no longer finds (its state directory; empty when
    /// none was kept).
    pub removed: Vec<RemovedCgroup>,
}

/// A cgroup memdx saw alive earlier and no longer finds: removed after `last_seen`, at or before
/// `gone_at`. The kernel keeps no name for a removed cgroup; this is memdx's own record of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedCgroup {
    /// Path below the hierarchy root when it was seen.
    pub path: String,
    /// Inode number of its directory then.
    pub ino: u64,
    /// Inode number of its parent directory then.
    pub parent_ino: u64,
    /// When memdx last saw it (unix seconds).
    pub last_seen: i64,
    /// When memdx first found it gone (unix seconds).
    pub gone_at: i64,
}

impl RemovedCgroup {
    /// `/path (removed; last seen at YYYY-MM-DD HH:MM:SS UTC)`.
    pub fn name(&self) -> String {
        format!("{} (removed; last seen at {} UTC)", self.path, memdx_core::time::fmt_utc(self.last_seen))
    }
}

/// Where removed cgroups' memcgs are reported: their closest live ancestors. The indexes are built
/// once for all the removed cgroups (a machine that churns cgroups leaves thousands).
pub struct Ancestry<'a> {
    tree: &'a MemcgTree,
    live: HashMap<u64, usize>,
    gone: HashMap<u64, &'a RemovedCgroup>,
    paths: HashMap<&'a str, usize>,
}

impl<'a> Ancestry<'a> {
    pub fn new(tree: &'a MemcgTree, removed: &'a [RemovedCgroup]) -> Self {
        Ancestry {
            tree,
            live: tree.nodes.iter().enumerate().map(|(i, n)| (n.ino, i)).collect(),
            gone: removed.iter().map(|g| (g.ino, g)).collect(),
            paths: tree.nodes.iter().enumerate().map(|(i, n)| (n.path.as_str(), i)).collect(),
        }
    }

    /// The live node a removed cgroup's memcg is reported at: its closest live ancestor, followed by
    /// the parent inodes memdx recorded (through the other removed cgroups), else by its path.
    pub fn closest_live(&self, r: &RemovedCgroup) -> Option<usize> {
        let mut ino = r.parent_ino;
        for _ in 0..256 {
            if let Some(&i) = self.live.get(&ino) {
                return Some(i);
            }
            match self.gone.get(&ino) {
                Some(g) => ino = g.parent_ino,
                None => break,
            }
        }
        let mut path = r.path.as_str();
        while let Some((up, _)) = path.rsplit_once('/') {
            let up = if up.is_empty() { "/" } else { up };
            if let Some(&i) = self.paths.get(up) {
                return Some(i);
            }
            if up == "/" {
                break;
            }
            path = up;
        }
        None
    }

    /// Whether the kernel's counts say a removed cgroup's memcg is freed: no dying memcg below its
    /// closest live ancestor (cgroup v2 `cgroup.stat` counts them per subtree), or none on the machine.
    pub fn known_freed(&self, r: &RemovedCgroup) -> bool {
        self.tree.total_dying == Some(0)
            || self.tree.hierarchy == "v2"
                && self.closest_live(r).is_some_and(|i| self.tree.nodes[i].dying_below == Some(0))
    }
}

/// The inodes of the `removed` cgroups whose memcgs the kernel's counts say are freed
/// ([`Ancestry::known_freed`]).
pub fn freed_inos(tree: &MemcgTree, removed: &[RemovedCgroup]) -> std::collections::HashSet<u64> {
    let a = Ancestry::new(tree, removed);
    removed.iter().filter(|r| a.known_freed(r)).map(|r| r.ino).collect()
}

/// The cached pages of one file and the memcg each is charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCharges {
    pub path: String,
    /// Pages of the file in the page cache.
    pub resident: u64,
    /// (memcg inode as reported by kpagecgroup, pages); inode 0 = not charged.
    pub by_ino: Vec<(u64, u64)>,
}

/// One kind of memory in the pinned pages, from `memory.stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatKind {
    pub name: &'static str,
    pub pages: u64,
}

/// A file whose cached pages are reported at a parent pinning dying memcgs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePin {
    pub path: String,
    pub pages: u64,
    pub resident: u64,
}

/// A live memcg with dying descendants pinned by pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentPins {
    pub path: String,
    pub ino: u64,
    /// Dying memcgs whose closest live ancestor is this one (v2 `cgroup.stat`; `None` on v1, which
    /// only counts them machine-wide).
    pub dying: Option<u64>,
    /// Pages of dying descendants (v1, exact) or of the parent itself and its dying descendants (v2).
    pub pinned: u64,
    /// True when `pinned` may include the parent's own pages (v2).
    pub upper_bound: bool,
    /// `pinned` by kind, from `memory.stat` (kinds with pages only).
    pub kinds: Vec<StatKind>,
    /// The parent's own pages (v1 `cache` + `rss`).
    pub own: Option<u64>,
    /// Page cache and anon pages of the parent's whole subtree (v1 `total_cache` + `total_rss`, v2
    /// `file` + `anon`): what a reclaim of the parent reaches.
    pub subtree: Option<u64>,
    /// What `/proc/kpagecgroup` reports at this inode (own pages and dying descendants'), by kind.
    pub reported: Option<Kinds>,
    /// Files with cached pages reported here, largest first.
    pub files: Vec<FilePin>,
    /// Cgroups memdx saw alive below this parent and no longer finds (this is their closest live
    /// ancestor), most recently seen first: the names of its dying memcgs as far as memdx knows them.
    pub removed: Vec<RemovedCgroup>,
    /// Commands that free the pinned pages, most precise first.
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinsReport {
    pub hierarchy: &'static str,
    pub base: String,
    pub live: u64,
    pub total_dying: Option<u64>,
    pub truncated: bool,
    /// Parents with pinned pages or dying descendants, most pinned first.
    pub parents: Vec<ParentPins>,
    /// Charged pages whose inode matches no live directory (a cgroup removed during the pass, or one
    /// outside this hierarchy's view), by inode, largest first.
    pub unmatched: Vec<(u64, Kinds)>,
    /// Pages examined by the kpage pass (`None` when it did not run).
    pub pfns: Option<u64>,
    /// Files examined and their cached pages.
    pub files_examined: usize,
    pub files_resident: u64,
}

/// (name, v1 own key, v1 hierarchical key, v2 key). The first two make `pinned`; dirty, writeback
/// and shmem are parts of the page cache; swap entries keep their memcg's id and pin it too.
const KINDS: &[(&str, &str, &str, &str)] = &[
    ("page cache", "cache", "total_cache", "file"),
    ("anon", "rss", "total_rss", "anon"),
    ("shmem", "shmem", "total_shmem", "shmem"),
    ("dirty", "dirty", "total_dirty", "file_dirty"),
    ("writeback", "writeback", "total_writeback", "file_writeback"),
    ("swap cache", "", "", "swapcached"),
    ("swap", "swap", "total_swap", ""),
    ("slab", "", "", "slab"),
];

fn bytes_of(stat: &MemcgStat, key: &str) -> Option<u64> {
    if key.is_empty() {
        None
    } else {
        stat.counters.get(key)
    }
}

/// Pages of a kind pinned below `node`: v1 `total(P) - own(P) - sum total(C)`, v2 `X(P) - sum X(C)`.
fn pinned_kind(tree: &MemcgTree, i: usize, children: &[usize], k: usize, page: u64) -> Option<u64> {
    let (_, own, total, v2) = KINDS[k];
    let stat = tree.nodes[i].stat.as_ref()?;
    let sum = |key: &str| -> Option<u64> {
        children.iter().try_fold(0u64, |a, &c| {
            Some(a.saturating_add(bytes_of(tree.nodes[c].stat.as_ref()?, key).unwrap_or(0)))
        })
    };
    let b = if tree.hierarchy == "v1" {
        bytes_of(stat, total)?.saturating_sub(bytes_of(stat, own)?).saturating_sub(sum(total)?)
    } else {
        bytes_of(stat, v2)?.saturating_sub(sum(v2)?)
    };
    Some(b / page.max(1))
}

/// Joins the tree, the kpage pass and the files into the report.
pub fn join(tree: &MemcgTree, tally: Option<&Tally>, files: &[FileCharges], page_size: u64) -> PinsReport {
    let n = tree.nodes.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in tree.nodes.iter().enumerate() {
        if let Some(p) = node.parent.filter(|&p| p < n) {
            children[p].push(i);
        }
    }
    let by_ino: std::collections::HashMap<u64, usize> =
        tree.nodes.iter().enumerate().map(|(i, node)| (node.ino, i)).collect();
    let v1 = tree.hierarchy == "v1";
    let mut removed_below: Vec<Vec<RemovedCgroup>> = vec![Vec::new(); n];
    let ancestry = Ancestry::new(tree, &tree.removed);
    for r in &tree.removed {
        if let Some(i) = ancestry.closest_live(r) {
            removed_below[i].push(r.clone());
        }
    }
    for v in &mut removed_below {
        v.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.path.cmp(&b.path)));
    }
    let mut parents = Vec::new();
    for (i, node) in tree.nodes.iter().enumerate() {
        let kinds: Vec<StatKind> = (0..KINDS.len())
            .filter_map(|k| {
                let pages = pinned_kind(tree, i, &children[i], k, page_size)?;
                (pages > 0).then_some(StatKind { name: KINDS[k].0, pages })
            })
            .collect();
        let pinned =
            kinds.iter().filter(|k| k.name == "page cache" || k.name == "anon").map(|k| k.pages).sum::<u64>();
        let dying = node.dying_below.map(|d| {
            d.saturating_sub(children[i].iter().filter_map(|&c| tree.nodes[c].dying_below).sum::<u64>())
        });
        // A v2 parent without dying descendants only holds its own pages: nothing is pinned there.
        if pinned == 0 && dying.unwrap_or(0) == 0 || (!v1 && dying == Some(0)) {
            continue;
        }
        let own = if v1 {
            node.stat
                .as_ref()
                .and_then(|s| Some((s.counters.get("cache")? + s.counters.get("rss")?) / page_size.max(1)))
        } else {
            None
        };
        let mut pins: Vec<FilePin> = files
            .iter()
            .filter_map(|f| {
                let pages: u64 = f.by_ino.iter().filter(|(ino, _)| *ino == node.ino).map(|(_, p)| p).sum();
                (pages > 0).then(|| FilePin { path: f.path.clone(), pages, resident: f.resident })
            })
            .collect();
        pins.sort_by(|a, b| b.pages.cmp(&a.pages).then_with(|| a.path.cmp(&b.path)));
        let subtree = node.stat.as_ref().and_then(|s| {
            let (c, a) = if v1 { ("total_cache", "total_rss") } else { ("file", "anon") };
            Some((s.counters.get(c)? + s.counters.get(a)?) / page_size.max(1))
        });
        let mut p = ParentPins {
            path: node.path.clone(),
            ino: node.ino,
            dying,
            pinned,
            upper_bound: !v1,
            kinds,
            own,
            subtree,
            reported: tally.map(|t| t.by_ino.get(&node.ino).copied().unwrap_or_default()),
            files: pins,
            removed: removed_below[i].clone(),
            steps: Vec::new(),
        };
        p.steps = steps(tree, &p, page_size);
        parents.push(p);
    }
    parents.sort_by(|a, b| b.pinned.cmp(&a.pinned).then_with(|| a.path.cmp(&b.path)));
    let mut unmatched: Vec<(u64, Kinds)> = tally
        .map(|t| {
            t.by_ino.iter().filter(|(ino, _)| !by_ino.contains_key(ino)).map(|(&i, &k)| (i, k)).collect()
        })
        .unwrap_or_default();
    unmatched.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    PinsReport {
        hierarchy: tree.hierarchy,
        base: tree.base.clone(),
        live: n as u64,
        total_dying: tree.total_dying,
        truncated: tree.truncated,
        parents,
        unmatched,
        pfns: tally.map(|t| t.pfns),
        files_examined: files.len(),
        files_resident: files.iter().map(|f| f.resident).sum(),
    }
}

/// Most files named as freeing steps; the report lists them all.
const STEP_FILES: usize = 5;

fn steps(tree: &MemcgTree, p: &ParentPins, page_size: u64) -> Vec<String> {
    let mut out = Vec::new();
    let dir = format!("{}{}", tree.base.trim_end_matches('/'), if p.path == "/" { "" } else { &p.path });
    for f in p.files.iter().take(STEP_FILES) {
        out.push(format!(
            "sync {q} && dd if={q} iflag=nocache count=0 status=none  # fadvise(DONTNEED): drops its {} cached pages",
            f.pages,
            q = shell_quote(&f.path)
        ));
    }
    let kind = |n: &str| p.kinds.iter().find(|k| k.name == n).map(|k| k.pages).unwrap_or(0);
    let cache = kind("page cache");
    // The page cache the file steps leave: pages of files outside the directories examined, and the
    // block device's own cache (directories, inode tables and other metadata read on the removed
    // cgroup's behalf), which no file names. A reclaim of the parent then frees the rest.
    let in_files: u64 = p.files.iter().take(STEP_FILES).map(|f| f.pages).sum();
    let rest = if p.files.is_empty() { cache } else { cache.saturating_sub(in_files) };
    let then = if p.files.is_empty() {
        String::new()
    } else {
        format!(
            "then the {rest} pinned pages outside the files above (other files, and the block device's cache of \
             directories and inode tables read by the removed cgroup): "
        )
    };
    // What else a reclaim of the parent reaches: the live cgroups' memory below it.
    let live = match p.subtree.map(|t| t.saturating_sub(p.pinned)) {
        Some(l) if l > 0 => format!(", live cgroups included ({} pages of theirs)", l),
        _ => String::new(),
    };
    if rest > 0 && p.path != "/" {
        if tree.hierarchy == "v2" {
            out.push(format!(
                "echo {} > {dir}/memory.reclaim  # 5.19+: {then}reclaims that much from {} and below{live}",
                rest.saturating_mul(page_size),
                p.path
            ));
        } else {
            out.push(format!(
                "echo 0 > {dir}/memory.force_empty  # {then}reclaims all of {} and below{live}",
                p.path
            ));
        }
    } else if cache > 0 && p.files.is_empty() {
        out.push(
            "memdx memcg pins --files DIR...  # the root cannot be reclaimed alone: find the files first"
                .into(),
        );
    }
    if kind("anon") > 0 {
        out.push(
            "anonymous pages stay charged to the cgroup a process left (v1 does not move charges): restarting the \
             processes that came from the removed cgroups frees them"
                .into(),
        );
    }
    if kind("swap") > 0 {
        out.push(
            "swapped-out pages keep their memcg: they go when the owning processes exit or on swapoff".into(),
        );
    }
    out
}

/// Quotes a path for a POSIX shell when it holds anything beyond a safe set.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memdx_core::SourceRef;
    use memdx_parse::kpage::PageKind;

    fn stat(text: &str) -> Option<MemcgStat> {
        Some(memdx_parse::memcg_stat::parse(text, &SourceRef::new("memory.stat")).unwrap().value)
    }

    fn node(path: &str, ino: u64, parent: Option<usize>, st: &str, dying: Option<u64>) -> CgroupNode {
        CgroupNode { path: path.into(), ino, parent, stat: stat(st), dying_below: dying }
    }

    /// memory.stat of /pt on the 6.18 machine after a child that read a 16 MiB file was removed
    /// (cache 0, total_cache 16777216), its root and a live sibling with 1 MiB of its own.
    #[test]
    fn v1_pinned_pages_are_total_minus_own_minus_live_children() {
        let tree = MemcgTree {
            hierarchy: "v1",
            base: "/sys/fs/cgroup/memory".into(),
            nodes: vec![
                node("/", 1, None, "cache 9314304\nrss 0\ntotal_cache 1046831104\ntotal_rss 8192\n", None),
                node(
                    "/pt",
                    70358,
                    Some(0),
                    "cache 0\nrss 0\ndirty 0\ntotal_cache 17825792\ntotal_rss 0\ntotal_dirty 4096\n",
                    None,
                ),
                node(
                    "/pt/live",
                    70400,
                    Some(1),
                    "cache 1048576\nrss 0\ntotal_cache 1048576\ntotal_rss 0\n",
                    None,
                ),
            ],
            total_dying: Some(1),
            truncated: false,
            removed: vec![],
        };
        let mut tally = Tally::new(Vec::new());
        let cg: Vec<u8> = [70358u64; 4097].iter().flat_map(|w| w.to_ne_bytes()).collect();
        let fl: Vec<u8> = [1u64 << 5; 4097].iter().flat_map(|w| w.to_ne_bytes()).collect();
        tally.add_chunk(0, &cg, &fl);
        let files =
            vec![FileCharges { path: "/var/tmp/f".into(), resident: 4096, by_ino: vec![(70358, 4096)] }];
        let r = join(&tree, Some(&tally), &files, 4096);
        let pt = r.parents.iter().find(|p| p.path == "/pt").unwrap();
        // (17825792 - 0 - 1048576) / 4096 = 4096 pages of page cache; one of them dirty.
        assert_eq!(pt.pinned, 4096);
        assert_eq!(
            pt.kinds,
            vec![StatKind { name: "page cache", pages: 4096 }, StatKind { name: "dirty", pages: 1 }]
        );
        assert_eq!(pt.own, Some(0));
        assert_eq!(pt.reported.unwrap().get(PageKind::PageCache), 4097);
        assert_eq!(pt.files, vec![FilePin { path: "/var/tmp/f".into(), pages: 4096, resident: 4096 }]);
        assert!(pt.steps[0].starts_with("sync /var/tmp/f && dd if=/var/tmp/f iflag=nocache count=0"));
        // The file holds all 4096 pinned pages: dropping it frees them, no reclaim of /pt is needed.
        assert_eq!(pt.steps.len(), 1, "{:?}", pt.steps);
        // The root: (1046831104 - 9314304 - 17825792) / 4096 = 248948 pages, minus the 8192 bytes of anon
        // in total_rss counted apart: 2 anon pages.
        let root = r.parents.iter().find(|p| p.path == "/").unwrap();
        assert_eq!(root.kinds[0], StatKind { name: "page cache", pages: 248948 });
        assert_eq!(root.kinds[1], StatKind { name: "anon", pages: 2 });
        assert!(r.unmatched.is_empty());
        assert_eq!(r.parents.iter().filter(|p| p.path == "/pt/live").count(), 0);
    }

    #[test]
    fn v2_residual_is_an_upper_bound_and_dying_counts_are_per_parent() {
        let tree = MemcgTree {
            hierarchy: "v2",
            base: "/sys/fs/cgroup".into(),
            nodes: vec![
                node("/", 1, None, "anon 0\nfile 0\n", Some(3)),
                node("/a", 10, Some(0), "anon 8192\nfile 4194304\nfile_dirty 0\n", Some(3)),
                node("/a/b", 11, Some(1), "anon 8192\nfile 1048576\n", Some(1)),
                node("/c", 12, Some(0), "anon 0\nfile 4096\n", Some(0)),
            ],
            total_dying: Some(3),
            truncated: false,
            removed: vec![],
        };
        let r = join(&tree, None, &[], 4096);
        let paths: Vec<_> = r.parents.iter().map(|p| (p.path.as_str(), p.dying, p.pinned)).collect();
        // /a: 2 dying directly below it (3 - 1 of /a/b), (4194304 - 1048576) / 4096 = 768 pages; /a/b:
        // 1 dying, 256 pages of cache and 2 of anon; / has no dying of its own (3 - 3); /c none.
        assert_eq!(paths, vec![("/a", Some(2), 768), ("/a/b", Some(1), 258)]);
        assert!(r.parents[0].upper_bound);
        // /a holds (4194304 + 8192) / 4096 = 1026 pages in all, 768 of them pinned: 258 live.
        assert_eq!(r.parents[0].steps, vec!["echo 3145728 > /sys/fs/cgroup/a/memory.reclaim  # 5.19+: reclaims that much from /a and below, live cgroups included (258 pages of theirs)"]);
        assert_eq!(r.pfns, None);
        // A file holding 766 of /a's 768 pinned pages (as in the cgroup v2 VM test, where the removed
        // cgroup had also read the directory and inode table blocks of the disk): its step first, then
        // a reclaim of the 2 pages left.
        let files = vec![FileCharges { path: "/mnt/f".into(), resident: 766, by_ino: vec![(10, 766)] }];
        let r = join(&tree, None, &files, 4096);
        assert_eq!(r.parents[0].steps.len(), 2);
        assert!(r.parents[0].steps[0].starts_with("sync /mnt/f && dd if=/mnt/f iflag=nocache"));
        assert!(
            r.parents[0].steps[1].starts_with(
                "echo 8192 > /sys/fs/cgroup/a/memory.reclaim  # 5.19+: then the 2 pinned pages outside the files above"
            ),
            "{}",
            r.parents[0].steps[1]
        );
    }

    /// Removed cgroups memdx saw are named at their closest live ancestor: by the parent inode they
    /// had (through a removed parent), else by path; those below a parent with no dying memcg are freed.
    #[test]
    fn removed_cgroups_are_named_below_their_closest_live_ancestor() {
        let gone = |path: &str, ino, parent_ino, last_seen| RemovedCgroup {
            path: path.into(),
            ino,
            parent_ino,
            last_seen,
            gone_at: last_seen + 10,
        };
        let removed = vec![
            gone("/a/job", 20, 10, 1_800_000_000),
            gone("/a/b/x", 21, 11, 1_800_000_100),
            gone("/a/old", 22, 10, 1_800_000_050),
            gone("/a/old/y", 23, 22, 1_800_000_050),
            gone("/c/done", 24, 12, 1_800_000_000),
            gone("/a/b/z", 25, 99, 1_800_000_000),
        ];
        let tree = MemcgTree {
            hierarchy: "v2",
            base: "/sys/fs/cgroup".into(),
            nodes: vec![
                node("/", 1, None, "anon 0\nfile 0\n", Some(6)),
                node("/a", 10, Some(0), "anon 0\nfile 4194304\n", Some(6)),
                node("/a/b", 11, Some(1), "anon 0\nfile 1048576\n", Some(2)),
                node("/c", 12, Some(0), "anon 0\nfile 0\n", Some(0)),
            ],
            total_dying: Some(6),
            truncated: false,
            removed: removed.clone(),
        };
        let a = Ancestry::new(&tree, &removed);
        let at: Vec<Option<&str>> =
            removed.iter().map(|r| a.closest_live(r).map(|i| tree.nodes[i].path.as_str())).collect();
        assert_eq!(at, [Some("/a"), Some("/a/b"), Some("/a"), Some("/a"), Some("/c"), Some("/a/b")]);
        assert_eq!(freed_inos(&tree, &removed), [24].into_iter().collect());
        let r = join(&tree, None, &[], 4096);
        let names = |p: &str| -> Vec<String> {
            r.parents.iter().find(|x| x.path == p).unwrap().removed.iter().map(|r| r.path.clone()).collect()
        };
        // Most recently seen first.
        assert_eq!(names("/a"), ["/a/old", "/a/old/y", "/a/job"]);
        assert_eq!(names("/a/b"), ["/a/b/x", "/a/b/z"]);
        assert_eq!(removed[0].name(), "/a/job (removed; last seen at 2027-01-15 08:00:00 UTC)");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b.txt"), "/a/b.txt");
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }
}
