//! The inputs of `memdx memcg pins`: the live memory cgroup tree with each directory's inode,
//! `memory.stat` and `cgroup.stat`; one rate-limited sequential pass over `proc/kpagecgroup` and
//! `proc/kpageflags` under a root; the page frames of files' cached pages ([`crate::filemap`]).
//! The join is pure (memdx-analyze `pins`).

use crate::memcg::{hierarchy, Hierarchy, MAX_DIRS};
use memdx_analyze::pins::{CgroupNode, FileCharges, MemcgTree};
use memdx_core::SourceRef;
use memdx_parse::cgroups::ProcCgroups;
use memdx_parse::kpage::Tally;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest cgroup file read (memory.stat is about 1.5 KiB).
const MAX_STAT: u64 = 64 * 1024;

fn read_small(p: &Path) -> Option<String> {
    let mut s = String::new();
    std::fs::File::open(p).ok()?.take(MAX_STAT).read_to_string(&mut s).ok()?;
    Some(s)
}

fn cgroup_stat_dying(text: &str) -> Option<u64> {
    let get = |k: &str| {
        text.lines().find_map(|l| {
            let (key, v) = l.split_once(' ')?;
            (key == k).then(|| v.trim().parse::<u64>().ok()).flatten()
        })
    };
    get("nr_dying_subsys_memory").or_else(|| get("nr_dying_descendants"))
}

/// Walks the memory hierarchy under `root` (v1 `sys/fs/cgroup/memory`, v2 `sys/fs/cgroup` with the
/// memory controller). `cgroups` is the parsed `/proc/cgroups` of the same root (the v1 dying count).
/// `None` when no memory controller is mounted.
pub fn read_tree(root: &Path, cgroups: Option<&ProcCgroups>) -> Option<MemcgTree> {
    let (hier, base, _) = hierarchy(root)?;
    let display = format!("/{}", base.strip_prefix(root).unwrap_or(&base).display());
    let mut nodes: Vec<CgroupNode> = Vec::new();
    let mut dirs: Vec<(PathBuf, Option<usize>)> = vec![(base.clone(), None)];
    let mut truncated = false;
    let mut i = 0;
    while i < dirs.len() {
        let (d, parent) = dirs[i].clone();
        i += 1;
        let Ok(meta) = std::fs::symlink_metadata(&d) else { continue };
        let rel = d.strip_prefix(&base).map(|r| format!("/{}", r.display())).unwrap_or_else(|_| "/".into());
        let src = SourceRef::new(format!(
            "{}{}/memory.stat",
            display.trim_end_matches('/'),
            rel.trim_end_matches('/')
        ));
        let stat = read_small(&d.join("memory.stat"))
            .and_then(|t| memdx_parse::memcg_stat::parse(&t, &src).ok())
            .map(|p| p.value);
        let dying_below = match hier {
            Hierarchy::V2 => read_small(&d.join("cgroup.stat")).and_then(|t| cgroup_stat_dying(&t)),
            Hierarchy::V1 => None,
        };
        let me = nodes.len();
        nodes.push(CgroupNode { path: rel, ino: meta.ino(), parent, stat, dying_below });
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(Result::ok) {
            // file_type() does not follow symlinks: a link is never walked.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if dirs.len() >= MAX_DIRS {
                    truncated = true;
                    break;
                }
                dirs.push((e.path(), Some(me)));
            }
        }
    }
    let live = nodes.len() as u64;
    let total_dying = match hier {
        Hierarchy::V1 => cgroups.and_then(|c| c.get("memory")).map(|c| c.num_cgroups.saturating_sub(live)),
        Hierarchy::V2 => nodes.first().and_then(|n| n.dying_below),
    };
    let hierarchy = match hier {
        Hierarchy::V1 => "v1",
        Hierarchy::V2 => "v2",
    };
    Some(MemcgTree { hierarchy, base: display, nodes, total_dying, truncated, removed: Vec::new() })
}

/// The tree's directories as [`crate::cgroup_names`] remembers them.
pub fn seen(tree: &MemcgTree) -> Vec<crate::cgroup_names::Seen> {
    tree.nodes
        .iter()
        .map(|n| crate::cgroup_names::Seen {
            ino: n.ino,
            parent_ino: n.parent.and_then(|p| tree.nodes.get(p)).map_or(0, |p| p.ino),
            path: n.path.clone(),
        })
        .collect()
}

/// Why the kpage pass cannot run.
#[derive(Debug, thiserror::Error)]
pub enum KpageError {
    #[error(
        "{0} does not exist: the kernel has no CONFIG_MEMCG, or is older than 4.3 (which added /proc/kpagecgroup)"
    )]
    NoKpagecgroup(String),
    #[error(
        "{0} does not exist: the kernel has no CONFIG_PROC_PAGE_MONITOR (/proc/kpageflags exists since 2.6.25)"
    )]
    NoKpageflags(String),
    #[error("{0}: permission denied: /proc/kpagecgroup and /proc/kpageflags are readable by root only; run as root")]
    Permission(String),
    /// The cause is in the message, not a `source()`: printed once.
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
}

fn open_kpage(path: &Path, missing: fn(String) -> KpageError) -> Result<std::fs::File, KpageError> {
    std::fs::File::open(path).map_err(|e| {
        let p = path.display().to_string();
        match e.kind() {
            std::io::ErrorKind::NotFound => missing(p),
            std::io::ErrorKind::PermissionDenied => KpageError::Permission(p),
            _ => KpageError::Io { path: p, err: e },
        }
    })
}

/// How the kpage pass reads.
#[derive(Debug, Clone, Copy)]
pub struct KpageOptions {
    /// Most page frames read per second (each costs 16 bytes of reading and a page lookup in the
    /// kernel); 0 = no limit.
    pub rate: u64,
    /// Page frames per read (8 bytes each, from each file).
    pub chunk: usize,
    /// Stop after this many page frames (a bound on hostile `--root` trees; 2^36 frames = 256 TiB).
    pub max_pfns: u64,
}

impl Default for KpageOptions {
    fn default() -> Self {
        KpageOptions { rate: 4 << 20, chunk: 64 << 10, max_pfns: 1 << 36 }
    }
}

/// One sequential pass over `proc/kpagecgroup` and `proc/kpageflags` under `root`, reading both at the
/// same offsets in chunks, sleeping to stay under `opts.rate`. `wanted` are PFNs to look up, with an
/// owner index (files). `progress` gets the PFNs done after each chunk.
pub fn scan_kpages(
    root: &Path,
    wanted: Vec<(u64, u32)>,
    opts: KpageOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Tally, KpageError> {
    let cg_path = root.join("proc/kpagecgroup");
    let fl_path = root.join("proc/kpageflags");
    let cg = open_kpage(&cg_path, KpageError::NoKpagecgroup)?;
    let fl = open_kpage(&fl_path, KpageError::NoKpageflags)?;
    let chunk = opts.chunk.clamp(1, 1 << 20);
    let mut cbuf = vec![0u8; chunk * 8];
    let mut fbuf = vec![0u8; chunk * 8];
    let mut tally = Tally::new(wanted);
    let start = Instant::now();
    let mut pfn = 0u64;
    let io = |p: &Path, e: std::io::Error| KpageError::Io { path: p.display().to_string(), err: e };
    while pfn < opts.max_pfns {
        let off = pfn.saturating_mul(8);
        let nc = read_full(&cg, &mut cbuf, off).map_err(|e| io(&cg_path, e))?;
        let nf = read_full(&fl, &mut fbuf, off).map_err(|e| io(&fl_path, e))?;
        let n = tally.add_chunk(pfn, &cbuf[..nc], &fbuf[..nf]);
        if n == 0 {
            break;
        }
        pfn += n;
        progress(pfn);
        if opts.rate > 0 {
            let due = Duration::from_secs_f64(pfn as f64 / opts.rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if n < chunk as u64 {
            break;
        }
    }
    Ok(tally)
}

/// Reads until `buf` is full or the end of the file, retrying interrupted reads.
fn read_full(f: &std::fs::File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Most files examined, and most cached pages looked up (2^21 pages = 8 GiB of cache, 32 MiB here).
pub const MAX_FILES: usize = 200_000;
pub const MAX_FILE_PFNS: usize = 1 << 21;

/// The cached pages of the regular files under `dirs` (each walked without following symlinks and
/// without leaving its filesystem), mapped read-only one window at a time.
#[derive(Debug, Default)]
pub struct FilePages {
    pub files: Vec<(String, u64)>,
    /// (PFN, index into `files`).
    pub wanted: Vec<(u64, u32)>,
    /// What could not be examined, and why.
    pub skipped: Vec<(String, String)>,
    /// The caps stopped the walk.
    pub truncated: bool,
}

/// Finds the page frames of the cached pages of every regular file under `dirs`. Needs the live
/// machine: `pagemap` is this process's `proc/self/pagemap` under `root`.
pub fn file_pages(root: &Path, dirs: &[PathBuf]) -> Result<FilePages, KpageError> {
    let pm_path = root.join("proc/self/pagemap");
    let pagemap = open_kpage(&pm_path, |p| KpageError::Io {
        path: p,
        err: std::io::Error::new(std::io::ErrorKind::NotFound, "no pagemap (CONFIG_PROC_PAGE_MONITOR)"),
    })?;
    let mut out = FilePages::default();
    for dir in dirs {
        let Ok(top) = std::fs::symlink_metadata(dir) else {
            out.skipped.push((dir.display().to_string(), "does not exist".into()));
            continue;
        };
        let dev = top.dev();
        let mut stack = vec![dir.clone()];
        while let Some(p) = stack.pop() {
            let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
            if meta.dev() != dev {
                continue;
            }
            if meta.is_dir() {
                if let Ok(rd) = std::fs::read_dir(&p) {
                    let mut names: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
                    names.sort();
                    stack.extend(names.into_iter().rev());
                }
                continue;
            }
            if !meta.is_file() || meta.len() == 0 {
                continue;
            }
            if out.files.len() >= MAX_FILES || out.wanted.len() >= MAX_FILE_PFNS {
                out.truncated = true;
                return Ok(out);
            }
            let idx = out.files.len() as u32;
            let room = MAX_FILE_PFNS - out.wanted.len();
            match crate::filemap::resident_pfns(&p, &pagemap, room) {
                Ok(r) => {
                    if r.pfns.len() >= room {
                        out.truncated = true;
                    }
                    out.wanted.extend(r.pfns.iter().map(|&pfn| (pfn, idx)));
                    out.files.push((p.display().to_string(), r.resident));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && out.files.is_empty() => {
                    return Err(KpageError::Io {
                        path: p.display().to_string(),
                        err: std::io::Error::other(
                            "madvise(MADV_POPULATE_READ) failed: --files needs Linux 5.14 or later",
                        ),
                    })
                }
                Err(e) => out.skipped.push((p.display().to_string(), e.to_string())),
            }
        }
    }
    Ok(out)
}

/// Per file, the memcg inode of its cached pages from a finished pass.
pub fn file_charges(files: &FilePages, tally: &Tally) -> Vec<FileCharges> {
    let mut by_file: Vec<Vec<(u64, u64)>> = vec![Vec::new(); files.files.len()];
    for (&(owner, ino), &pages) in &tally.found {
        if let Some(v) = by_file.get_mut(owner as usize) {
            v.push((ino, pages));
        }
    }
    files
        .files
        .iter()
        .zip(by_file)
        .map(|((path, resident), mut by_ino)| {
            by_ino.sort_unstable();
            FileCharges { path: path.clone(), resident: *resident, by_ino }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_and_pass_over_a_root_tree() {
        let root = std::env::temp_dir().join(format!("memdx-pins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let m = root.join("sys/fs/cgroup/memory");
        std::fs::create_dir_all(m.join("a/b")).unwrap();
        std::fs::write(m.join("memory.usage_in_bytes"), "0\n").unwrap();
        std::fs::write(m.join("a/memory.stat"), "cache 0\nrss 0\ntotal_cache 8192\ntotal_rss 0\n").unwrap();
        std::fs::create_dir_all(root.join("proc")).unwrap();
        let cg = memdx_parse::cgroups::parse(
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t5\t1\n",
            &SourceRef::new("cgroups"),
        )
        .unwrap()
        .value;
        let t = read_tree(&root, Some(&cg)).unwrap();
        assert_eq!(t.hierarchy, "v1");
        assert_eq!(t.base, "/sys/fs/cgroup/memory");
        let paths: Vec<_> = t.nodes.iter().map(|n| (n.path.as_str(), n.parent)).collect();
        assert_eq!(paths, vec![("/", None), ("/a", Some(0)), ("/a/b", Some(1))]);
        assert_eq!(t.total_dying, Some(2));
        assert!(t.nodes[1].stat.is_some() && t.nodes[2].stat.is_none());
        let ino_a = t.nodes[1].ino;
        assert_eq!(ino_a, std::fs::metadata(m.join("a")).unwrap().ino());

        assert!(matches!(
            scan_kpages(&root, vec![], KpageOptions::default(), &mut |_| {}),
            Err(KpageError::NoKpagecgroup(_))
        ));
        // 3 frames: two charged to /a (page cache, anon), one hole; read 2 frames per chunk.
        let words = |v: &[u64]| v.iter().flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>();
        std::fs::write(root.join("proc/kpagecgroup"), words(&[ino_a, ino_a, 0])).unwrap();
        assert!(matches!(
            scan_kpages(&root, vec![], KpageOptions::default(), &mut |_| {}),
            Err(KpageError::NoKpageflags(_))
        ));
        std::fs::write(root.join("proc/kpageflags"), words(&[1 << 5, 1 << 12, 1 << 20])).unwrap();
        let mut seen = Vec::new();
        let opts = KpageOptions { rate: 0, chunk: 2, max_pfns: 1 << 36 };
        let tally = scan_kpages(&root, vec![(1, 0)], opts, &mut |p| seen.push(p)).unwrap();
        assert_eq!(tally.pfns, 3);
        assert_eq!(tally.by_ino[&ino_a].total(), 2);
        assert_eq!(tally.found.get(&(0, ino_a)), Some(&1));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn v2_tree_counts_dying_memory_csses() {
        let root = std::env::temp_dir().join(format!("memdx-pins-v2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let v2 = root.join("sys/fs/cgroup");
        std::fs::create_dir_all(v2.join("system.slice/a.service")).unwrap();
        std::fs::write(v2.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        // 6.11+ cgroup.stat: nr_dying_subsys_memory is preferred over nr_dying_descendants.
        std::fs::write(
            v2.join("cgroup.stat"),
            "nr_descendants 2\nnr_dying_descendants 5\nnr_subsys_memory 3\nnr_dying_subsys_memory 4\n",
        )
        .unwrap();
        // Before 6.11: only nr_dying_descendants.
        std::fs::write(v2.join("system.slice/cgroup.stat"), "nr_descendants 1\nnr_dying_descendants 4\n")
            .unwrap();
        std::fs::write(v2.join("system.slice/memory.stat"), "anon 0\nfile 8192\n").unwrap();
        let t = read_tree(&root, None).unwrap();
        assert_eq!((t.hierarchy, t.base.as_str(), t.total_dying), ("v2", "/sys/fs/cgroup", Some(4)));
        let got: Vec<_> =
            t.nodes.iter().map(|n| (n.path.as_str(), n.dying_below, n.stat.is_some())).collect();
        assert_eq!(
            got,
            vec![
                ("/", Some(4), false),
                ("/system.slice", Some(4), true),
                ("/system.slice/a.service", None, false)
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
