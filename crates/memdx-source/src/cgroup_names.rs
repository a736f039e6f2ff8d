//! The names of removed cgroups. The kernel keeps no name for a removed cgroup: `/proc/kpagecgroup`
//! reports a dying memcg's pages at its closest live ancestor and no file lists dying cgroups. So
//! memdx remembers the memory cgroups it sees alive (inode, parent inode, path, when last seen) in a
//! small file of its state directory, learned on every live `diagnose`, `record` sample and
//! `memcg pins` run; a cgroup it saw and no longer finds was removed after it was last seen, and is
//! named beside the parent that holds the dying memcgs.
//!
//! The file (`cgroup-names` in [`state_dir`]) is bounded ([`MAX_LIVE`] live and [`MAX_GONE`] removed
//! entries, removed ones forgotten after [`GONE_TTL`] or once the kernel's counts say they are freed),
//! tied to one boot (inode numbers restart at boot: a map of another boot is dropped), read with a
//! cap and `O_NOFOLLOW`, and replaced atomically (a fresh `O_CREAT|O_EXCL|O_NOFOLLOW` 0600 file renamed
//! over it) in a directory memdx creates 0700 and refuses when it is a symlink, belongs to another user
//! or is writable by others. It is rewritten when the set of cgroups changed or its last write is
//! older than [`REFRESH`], so "last seen" is exact to that interval (or to the recorder's).

use memdx_analyze::pins::RemovedCgroup;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// File name in the state directory.
pub const FILE: &str = "cgroup-names";
/// Most live cgroups remembered (a machine leaking cgroups can have hundreds of thousands; the
/// walk's breadth-first order keeps the shallower ones, where services live).
pub const MAX_LIVE: usize = 50_000;
/// Most removed cgroups remembered (the most recently removed are kept).
pub const MAX_GONE: usize = 10_000;
/// Removed cgroups are forgotten this long after memdx found them gone (seconds).
pub const GONE_TTL: i64 = 30 * 86400;
/// An unchanged map is rewritten (to move "last seen") at most this often (seconds).
pub const REFRESH: i64 = 60;
/// Largest file read.
const MAX_BYTES: u64 = 16 << 20;
const HEADER: &str = "# memdx cgroup names 1";

/// A live cgroup directory as the walk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub ino: u64,
    /// Inode of the parent directory (0 for the hierarchy's root).
    pub parent_ino: u64,
    /// Path below the hierarchy root (`/` for the root).
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    ino: u64,
    parent_ino: u64,
    path: String,
    last_seen: i64,
    /// When memdx first found it gone (`None`: alive at the last write).
    gone_at: Option<i64>,
}

/// The remembered cgroups of one boot and hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    boot_id: String,
    hierarchy: String,
    written: i64,
    entries: Vec<Entry>,
    changed: bool,
}

/// Where memdx keeps its state: `$MEMDX_STATE_DIR`, else `/var/lib/memdx` for root, else
/// `$XDG_STATE_HOME/memdx` or `~/.local/state/memdx`. `None` when none can be told.
pub fn state_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = env("MEMDX_STATE_DIR") {
        return Some(d);
    }
    if euid() == Some(0) {
        return Some(PathBuf::from("/var/lib/memdx"));
    }
    env("XDG_STATE_HOME")
        .map(|d| d.join("memdx"))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/memdx")))
}

/// This process's effective user id: the owner of `/proc/self`.
fn euid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Creates the state directory 0700 when missing (its parents as usual), and refuses one that is a
/// symlink, not a directory, another user's, or writable by group or others.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    if std::fs::symlink_metadata(dir).is_err() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(named)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(named(e)),
        }
    }
    let m = std::fs::symlink_metadata(dir).map_err(named)?;
    let me = euid().unwrap_or(u32::MAX);
    let bad = if m.file_type().is_symlink() {
        Some("is a symlink")
    } else if !m.is_dir() {
        Some("is not a directory")
    } else if m.uid() != me {
        Some("belongs to another user")
    } else if m.mode() & 0o022 != 0 {
        Some("is writable by group or others")
    } else {
        None
    };
    match bad {
        Some(why) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{}: {why}: memdx keeps no state there", dir.display()),
        )),
        None => Ok(()),
    }
}

/// This boot's id (`proc/sys/kernel/random/boot_id` under `root`), empty when unreadable.
pub fn boot_id(root: &Path) -> String {
    std::fs::read_to_string(root.join("proc/sys/kernel/random/boot_id"))
        .map(|s| s.trim().chars().take(64).collect())
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c => o.push(c),
        }
    }
    o
}

fn unescape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            o.push(c);
            continue;
        }
        match it.next() {
            Some('t') => o.push('\t'),
            Some('n') => o.push('\n'),
            Some('r') => o.push('\r'),
            Some(c) => o.push(c),
            None => {}
        }
    }
    o
}

impl NameMap {
    /// Parses the file's text; a map of another boot or hierarchy, or an unknown header, is empty.
    /// Damaged lines are skipped.
    pub fn parse(text: &str, boot_id: &str, hierarchy: &str) -> NameMap {
        let mut map = NameMap { boot_id: boot_id.into(), hierarchy: hierarchy.into(), ..Default::default() };
        let mut lines = text.lines();
        let Some(head) = lines.next().and_then(|h| h.strip_prefix(HEADER)) else { return map };
        let field = |k: &str| head.split_whitespace().find_map(|w| w.strip_prefix(k)?.strip_prefix('='));
        if boot_id.is_empty() || field("boot") != Some(boot_id) || field("hierarchy") != Some(hierarchy) {
            return map;
        }
        map.written = field("written").and_then(|w| w.parse().ok()).unwrap_or(0);
        for l in lines {
            let mut f = l.splitn(5, '\t');
            let (Some(ino), Some(parent), Some(seen), Some(gone), Some(path)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (Ok(ino), Ok(parent_ino), Ok(last_seen)) = (ino.parse(), parent.parse(), seen.parse()) else {
                continue;
            };
            let gone_at = if gone == "-" {
                None
            } else {
                match gone.parse() {
                    Ok(g) => Some(g),
                    Err(_) => continue,
                }
            };
            map.entries.push(Entry { ino, parent_ino, path: unescape(path), last_seen, gone_at });
        }
        map
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s =
            format!("{HEADER} boot={} hierarchy={} written={}\n", self.boot_id, self.hierarchy, self.written);
        for e in &self.entries {
            let gone = e.gone_at.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
            s.push_str(&format!(
                "{}\t{}\t{}\t{gone}\t{}\n",
                e.ino,
                e.parent_ino,
                e.last_seen,
                escape(&e.path)
            ));
        }
        s
    }

    /// Takes in the cgroups alive at `now`: they are (again) live; remembered live ones not among them
    /// are gone since now. Bounds the map.
    pub fn observe(&mut self, live: &[Seen], now: i64) {
        let alive: std::collections::HashMap<u64, &Seen> = live.iter().map(|s| (s.ino, s)).collect();
        let mut known = std::collections::HashSet::new();
        for e in &mut self.entries {
            match alive.get(&e.ino) {
                Some(s) if s.path == e.path => {
                    if e.gone_at.is_some() {
                        // An inode number reused by a new cgroup of the same path: alive again.
                        self.changed = true;
                    }
                    e.last_seen = now;
                    e.gone_at = None;
                    e.parent_ino = s.parent_ino;
                    known.insert(e.ino);
                }
                Some(_) if e.gone_at.is_none() => {
                    // Same inode, other path: the directory was renamed (v1) or the number reused.
                    e.gone_at = Some(now);
                    self.changed = true;
                }
                Some(_) => {}
                None if e.gone_at.is_none() => {
                    e.gone_at = Some(now);
                    self.changed = true;
                }
                None => {}
            }
        }
        // Past the cap, new cgroups are not remembered (and do not make the map rewritten each time).
        let mut room = MAX_LIVE.saturating_sub(self.entries.iter().filter(|e| e.gone_at.is_none()).count());
        for s in live.iter().filter(|s| !known.contains(&s.ino)) {
            if room == 0 {
                break;
            }
            room -= 1;
            self.entries.push(Entry {
                ino: s.ino,
                parent_ino: s.parent_ino,
                path: s.path.clone(),
                last_seen: now,
                gone_at: None,
            });
            self.changed = true;
        }
        self.bound(now);
    }

    fn bound(&mut self, now: i64) {
        let before = self.entries.len();
        self.entries.retain(|e| e.gone_at.is_none_or(|g| now.saturating_sub(g) <= GONE_TTL));
        let (mut live, mut gone): (Vec<Entry>, Vec<Entry>) =
            std::mem::take(&mut self.entries).into_iter().partition(|e| e.gone_at.is_none());
        live.truncate(MAX_LIVE);
        gone.sort_by(|a, b| b.gone_at.cmp(&a.gone_at).then(b.last_seen.cmp(&a.last_seen)));
        gone.truncate(MAX_GONE);
        live.append(&mut gone);
        self.entries = live;
        if self.entries.len() != before {
            self.changed = true;
        }
    }

    /// The remembered cgroups that are gone.
    pub fn removed(&self) -> Vec<RemovedCgroup> {
        self.entries
            .iter()
            .filter_map(|e| {
                Some(RemovedCgroup {
                    path: e.path.clone(),
                    ino: e.ino,
                    parent_ino: e.parent_ino,
                    last_seen: e.last_seen,
                    gone_at: e.gone_at?,
                })
            })
            .collect()
    }

    /// Forgets removed cgroups (their memcgs are known to be freed).
    pub fn forget(&mut self, inos: &std::collections::HashSet<u64>) {
        let before = self.entries.len();
        self.entries.retain(|e| e.gone_at.is_none() || !inos.contains(&e.ino));
        if self.entries.len() != before {
            self.changed = true;
        }
    }

    /// Whether the file needs writing at `now`.
    pub fn due(&self, now: i64) -> bool {
        self.changed || now.saturating_sub(self.written) >= REFRESH
    }
}

/// Reads the map of `dir` for this boot and hierarchy (empty when missing, unreadable or of another
/// boot).
pub fn load(dir: &Path, boot_id: &str, hierarchy: &str) -> NameMap {
    let text = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(dir.join(FILE))
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
        .and_then(|f| {
            let mut buf = Vec::new();
            f.take(MAX_BYTES).read_to_end(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf).into_owned())
        })
        .unwrap_or_default();
    let mut map = NameMap::parse(&text, boot_id, hierarchy);
    if text.is_empty() || map.written == 0 {
        map.changed = true;
    }
    map
}

/// Writes the map to `dir` atomically: a fresh file (`O_CREAT|O_EXCL|O_NOFOLLOW`, 0600) renamed over
/// the old one.
pub fn save(dir: &Path, map: &mut NameMap, now: i64) -> std::io::Result<()> {
    ensure_dir(dir)?;
    map.written = now;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{FILE}.{}.{nanos:08x}", std::process::id()));
    let mut f = crate::files::create_new(&tmp)?;
    let res = f.write_all(map.to_text().as_bytes()).and_then(|()| f.sync_data());
    drop(f);
    if let Err(e) = res.and_then(|()| std::fs::rename(&tmp, dir.join(FILE))) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    map.changed = false;
    Ok(())
}

/// One learning step of a live run: loads the map of `dir`, takes in the `live` cgroups at `now`,
/// forgets the removed ones `freed` says are gone for good, writes it back when due, and returns the
/// removed cgroups still remembered. A state directory that cannot be used is reported once in the
/// error and learning skipped.
pub fn learn(
    dir: &Path,
    root: &Path,
    hierarchy: &str,
    live: &[Seen],
    now: i64,
    freed: &dyn Fn(&[RemovedCgroup]) -> std::collections::HashSet<u64>,
) -> (Vec<RemovedCgroup>, Option<String>) {
    if let Err(e) = ensure_dir(dir) {
        return (Vec::new(), Some(e.to_string()));
    }
    let mut map = load(dir, &boot_id(root), hierarchy);
    map.observe(live, now);
    map.forget(&freed(&map.removed()));
    let err = if map.due(now) {
        save(dir, &mut map, now).err().map(|e| format!("{}: {e}", dir.join(FILE).display()))
    } else {
        None
    };
    (map.removed(), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ino: u64, parent_ino: u64, path: &str) -> Seen {
        Seen { ino, parent_ino, path: path.into() }
    }

    #[test]
    fn removed_cgroups_keep_their_last_sighting() {
        let mut m = NameMap::parse("", "b1", "v1");
        m.observe(&[seen(1, 0, "/"), seen(10, 1, "/p"), seen(11, 10, "/p/job\twith tab")], 100);
        assert!(m.removed().is_empty());
        m.observe(&[seen(1, 0, "/"), seen(10, 1, "/p")], 160);
        let r = m.removed();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].path.as_str(), r[0].ino, r[0].parent_ino, r[0].last_seen, r[0].gone_at),
            ("/p/job\twith tab", 11, 10, 100, 160)
        );
        // A second run of the same boot reads it back; another boot or hierarchy starts empty.
        let text = m.to_text();
        assert_eq!(NameMap::parse(&text, "b1", "v1").removed(), r);
        assert!(NameMap::parse(&text, "b2", "v1").removed().is_empty());
        assert!(NameMap::parse(&text, "b1", "v2").removed().is_empty());
        assert!(NameMap::parse(&text, "", "v1").removed().is_empty());
        // Still gone later: the first sighting of its absence stays.
        m.observe(&[seen(1, 0, "/"), seen(10, 1, "/p")], 220);
        assert_eq!(m.removed()[0].gone_at, 160);
        // Freed ones are forgotten; the map stays bounded in age.
        m.forget(&[11].into_iter().collect());
        assert!(m.removed().is_empty());
        m.observe(&[seen(1, 0, "/")], 300);
        assert_eq!(m.removed().len(), 1);
        m.observe(&[seen(1, 0, "/")], 300 + GONE_TTL + 1);
        assert!(m.removed().is_empty());
    }

    #[test]
    fn the_map_is_bounded_and_not_rewritten_for_what_it_cannot_hold() {
        let live: Vec<Seen> = (0..MAX_LIVE as u64 + 10).map(|i| seen(i + 1, 1, &format!("/c{i}"))).collect();
        let mut m = NameMap::parse("", "b", "v1");
        m.observe(&live, 100);
        assert_eq!(m.entries.len(), MAX_LIVE);
        // As if written at 100.
        m.changed = false;
        m.written = 100;
        m.observe(&live, 110);
        assert!(!m.changed && !m.due(110), "the same cgroups again: nothing to write");
        // Removed ones beyond MAX_GONE: the most recently removed are kept.
        let mut m = NameMap::parse("", "b", "v1");
        let many: Vec<Seen> = (0..MAX_GONE as u64 + 5).map(|i| seen(i + 1, 0, &format!("/g{i}"))).collect();
        m.observe(&many, 100);
        m.observe(&[seen(1, 0, "/g0")], 200);
        assert_eq!(m.removed().len(), MAX_GONE);
    }

    #[test]
    fn damaged_lines_are_skipped() {
        let text = format!(
            "{HEADER} boot=b hierarchy=v2 written=5\n7\t1\t5\t9\t/a\nnot a line\n8\tx\t5\t-\t/b\n9\t1\t5\t-\t/c\n"
        );
        let m = NameMap::parse(&text, "b", "v2");
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.removed()[0].path, "/a");
        assert!(!m.due(6) && m.due(5 + REFRESH));
    }

    #[test]
    fn state_is_private_and_replaced_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("memdx-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("state");
        let (r, err) = learn(&dir, Path::new("/"), "v1", &[seen(1, 0, "/"), seen(5, 1, "/x")], 10, &|_| {
            Default::default()
        });
        assert!(r.is_empty() && err.is_none(), "{err:?}");
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(dir.join(FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        let (r, _) = learn(&dir, Path::new("/"), "v1", &[seen(1, 0, "/")], 20, &|_| Default::default());
        assert_eq!(r.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/x"]);
        // Only the map is left in the directory: no temporary file.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A symlinked state directory is refused.
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let (_, err) = learn(&link, Path::new("/"), "v1", &[seen(1, 0, "/")], 30, &|_| Default::default());
        assert!(err.unwrap().contains("symlink"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
