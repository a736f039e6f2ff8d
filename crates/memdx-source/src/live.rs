//! The live machine, or a captured root tree (`--root DIR`): fixed kernel paths under a root.

use crate::gather::{apply_structural, structural};
use memdx_analyze::case::Missing;
use memdx_analyze::{Case, InputInfo};
use std::io::ErrorKind;
use std::path::Path;

/// Files read by `diagnose` on a root, and by `snapshot`. Paths are relative to the root.
pub const FILES: &[&str] = &[
    "proc/sys/kernel/osrelease",
    "proc/meminfo",
    "proc/slabinfo",
    "proc/buddyinfo",
    "proc/pagetypeinfo",
    "proc/zoneinfo",
    "proc/vmstat",
    "proc/cmdline",
    "proc/cgroups",
    "proc/pressure/memory",
];

/// Directories whose every file is one value (read as sysctl).
pub const SYSCTL_DIRS: &[&str] = &["proc/sys/vm"];

/// Knobs of those directories that are actions, not values: reading `stat_refresh` flushes the
/// vmstat counters of every CPU (the kernel runs the refresh on read as on write), so a reading
/// every scrape would disturb the machine it watches; `drop_caches` and `compact_memory` are
/// write-only triggers.
const ACTION_KNOBS: &[&str] = &["stat_refresh", "drop_caches", "compact_memory"];

/// The root cgroup's memory.stat: v1 hierarchy first, then v2.
pub const MEMCG_STAT: &[&str] = &["sys/fs/cgroup/memory/memory.stat", "sys/fs/cgroup/memory.stat"];

pub const SLAB_DIR: &str = "sys/kernel/slab";

fn why(e: &std::io::Error, rel: &str) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied if rel == "proc/slabinfo" => {
            "permission denied: /proc/slabinfo is mode 0400 (run as root)".into()
        }
        ErrorKind::PermissionDenied if rel == "proc/pagetypeinfo" => {
            "permission denied: /proc/pagetypeinfo is mode 0400 since 5.6 (run as root)".into()
        }
        ErrorKind::PermissionDenied => "permission denied (run as root)".into(),
        ErrorKind::NotFound if rel.starts_with("proc/pressure") => {
            "not present: PSI needs 4.20+ and CONFIG_PSI (psi=1 on some distributions)".into()
        }
        ErrorKind::NotFound => "not present on this kernel".into(),
        _ => e.to_string(),
    }
}

/// Most live memory cgroups whose `memory.stat` a reading of the root walks to find the pages pinning
/// dying memcgs (`memdx memcg pins` reads any number on demand).
const PIN_TREE_MAX: u64 = 20_000;

/// What [`read_root_with`] reads besides the fixed files.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The kernel log from `/dev/kmsg` (only on `/`): `diagnose` and `snapshot` want it, the
    /// recorder does not.
    pub kernel_log: bool,
    /// How many of the largest memory cgroups to list with their limits.
    pub top_memcgs: usize,
    /// The state directory where memdx remembers the live cgroups it sees, to name them once removed
    /// ([`crate::cgroup_names`]); only on `/` with a reading time.
    pub cgroup_names: Option<std::path::PathBuf>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { kernel_log: true, top_memcgs: 10, cgroup_names: None }
    }
}

/// Reads the fixed kernel paths under `root` into `case`. `time` is the capture time.
pub fn read_root(root: &Path, case: &mut Case, time: Option<i64>) {
    read_root_with(root, case, time, &ReadOptions::default())
}

/// [`read_root`] with options.
pub fn read_root_with(root: &Path, case: &mut Case, time: Option<i64>, opts: &ReadOptions) {
    let name = |rel: &str| {
        if root == Path::new("/") {
            format!("/{rel}")
        } else {
            root.join(rel).display().to_string()
        }
    };
    for rel in FILES {
        let path = root.join(rel);
        // Inside the tree only, regular files only, capped: a captured tree is untrusted input.
        match crate::rooted::read_in(root, &path, crate::MAX_TEXT_FILE) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                match structural(&path) {
                    Some(s) => apply_structural(case, &name(rel), &text, s, time),
                    None => {
                        case.ingest(&name(rel), &text, time);
                    }
                }
            }
            Err(crate::rooted::Refused::Io(e)) => {
                case.missing.push(Missing { what: name(rel), why: why(&e, rel) })
            }
            Err(r) => case.missing.push(Missing { what: name(rel), why: r.to_string() }),
        }
    }
    for dir in SYSCTL_DIRS {
        let d = root.join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else {
            case.missing.push(Missing { what: name(dir), why: "cannot list".into() });
            continue;
        };
        let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if ACTION_KNOBS.iter().any(|k| e.file_name() == *k) {
                continue;
            }
            let p = e.path();
            // Write-only knobs (compact_memory, drop_caches) fail to read: they hold no value.
            let read = crate::rooted::read_in(root, &p, 64 * 1024).ok();
            if let (Some(bytes), Some(s)) = (read, structural(&p)) {
                let text = String::from_utf8_lossy(&bytes);
                apply_structural(
                    case,
                    &name(&format!("{dir}/{}", e.file_name().to_string_lossy())),
                    &text,
                    s,
                    time,
                );
            }
        }
    }
    if let Some(rel) = MEMCG_STAT.iter().find(|r| root.join(r).exists()) {
        if let Ok(bytes) = crate::rooted::read_in(root, &root.join(rel), crate::MAX_TEXT_FILE) {
            case.ingest(&name(rel), &String::from_utf8_lossy(&bytes), time);
        }
    }
    read_slab_aliases(&root.join(SLAB_DIR), &name(SLAB_DIR), case);
    // The kernel log of the running machine (a captured tree has its logs as files: give them as inputs).
    if opts.kernel_log && root == Path::new("/") {
        match read_kmsg(root) {
            Ok(bytes) if !bytes.is_empty() => {
                let scan = memdx_log::scan(&bytes[..], "/dev/kmsg");
                case.add_log("/dev/kmsg", scan);
            }
            Ok(_) => {}
            Err(why) => case.missing.push(Missing { what: "/dev/kmsg (kernel log)".into(), why }),
        }
    }
    if let Some((m, seen)) = crate::memcg::scan_seen(root, opts.top_memcgs, case.cgroups.as_ref()) {
        let (hierarchy, total_dying) = (m.hierarchy.label(), m.dying);
        let dir = match m.hierarchy {
            crate::memcg::Hierarchy::V1 => "sys/fs/cgroup/memory",
            crate::memcg::Hierarchy::V2 => "sys/fs/cgroup",
        };
        case.memcgs = Some(crate::memcg::to_case(m, memdx_core::SourceRef::new(name(dir))));
        // Where the dying memcgs' pages are charged: one more walk, reading memory.stat, only when
        // there are dying memcgs to explain and the tree is small enough to read on every reading
        // (each memory.stat read flushes the cgroup's statistics).
        let (dying, live) = case.memcgs.as_ref().map(|m| (m.dying.unwrap_or(0), m.live)).unwrap_or((0, 0));
        if dying > 0 && live <= PIN_TREE_MAX {
            case.memcg_tree = crate::pins::read_tree(root, case.cgroups.as_ref());
        } else if dying > 0 {
            case.missing.push(Missing {
                what: "memory.stat of every memory cgroup (pages pinning dying memcgs)".into(),
                why: format!(
                    "{live} cgroups, more than {PIN_TREE_MAX} read on every reading: run memdx memcg pins"
                ),
            });
        }
        if let (Some(state), Some(now), true) = (&opts.cgroup_names, time, root == Path::new("/")) {
            let tree = case.memcg_tree.as_ref();
            // Removed cgroups whose memcgs the kernel's counts say are freed are forgotten: per
            // parent when the tree was read, else only when no memcg is dying at all.
            let freed = |all: &[memdx_analyze::pins::RemovedCgroup]| match tree {
                Some(t) => memdx_analyze::pins::freed_inos(t, all),
                None if total_dying == Some(0) => all.iter().map(|r| r.ino).collect(),
                None => Default::default(),
            };
            let (removed, err) = crate::cgroup_names::learn(state, root, hierarchy, &seen, now, &freed);
            if let Some(t) = case.memcg_tree.as_mut() {
                t.removed = removed;
            }
            if let Some(why) = err {
                case.missing.push(Missing { what: "names of removed cgroups (memdx state)".into(), why });
            }
        }
    }
    case.finish();
}

/// Reads the `/sys/kernel/slab` symlinks: each alias points at the real merged cache.
pub fn read_slab_aliases(dir: &Path, display: &str, case: &mut Case) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            case.missing.push(Missing {
                what: display.into(),
                why: format!("{} (SLUB sysfs; merged caches cannot be named)", why(&e, "")),
            });
            return;
        }
    };
    let mut n = 0;
    for e in rd.filter_map(Result::ok) {
        if let Ok(t) = std::fs::read_link(e.path()) {
            case.slab_aliases.insert(&e.file_name().to_string_lossy(), &t.to_string_lossy());
            n += 1;
        }
    }
    if n > 0 {
        case.slab_aliases.source = Some(memdx_core::SourceRef::new(display));
        case.inputs.push(InputInfo { file: display.into(), format: "slab aliases".into(), diagnostics: 0 });
    }
}

/// The kernel ring buffer as `/dev/kmsg` records (`prio,seq,usec,flags;message` plus continuation
/// lines), read without blocking until the end of what is buffered. `Err` names why it could not be
/// read (non-root with `kernel.dmesg_restrict=1`, no /dev/kmsg in a container).
pub fn read_kmsg(root: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join("dev/kmsg");
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).map_err(
        |e| match e.kind() {
            ErrorKind::PermissionDenied => {
                "permission denied (kernel.dmesg_restrict=1: run as root)".to_string()
            }
            _ => e.to_string(),
        },
    )?;
    // Each read returns one record; the buffer holds the longest (the kernel limits them to 8 KiB).
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            // EPIPE: records were overwritten while reading; the next read resumes at the oldest one.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        // The ring buffer is bounded (log_buf_len), but a flood of new messages must not keep us here.
        if out.len() > 64 * 1024 * 1024 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 item 7: a live reading never reads `stat_refresh` (reading it flushes every CPU's
    /// vmstat), while the value knobs beside it are read.
    #[test]
    fn action_knobs_are_not_read() {
        let root = std::env::temp_dir().join(format!("memdx-live-knobs-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc/sys/vm")).unwrap();
        std::fs::write(root.join("proc/sys/vm/min_free_kbytes"), "67584\n").unwrap();
        // As a plain file here, so that reading it would show as a `vm.stat_refresh` sysctl.
        std::fs::write(root.join("proc/sys/vm/stat_refresh"), "0\n").unwrap();
        let mut case = Case::new();
        let opts = ReadOptions { kernel_log: false, top_memcgs: 0, cgroup_names: None };
        read_root_with(&root, &mut case, None, &opts);
        let sys = case.sysctl.as_ref().expect("sysctls read");
        assert_eq!(sys.int("vm.min_free_kbytes"), Some(67584));
        assert!(sys.get("vm.stat_refresh").is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
