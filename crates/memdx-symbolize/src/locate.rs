//! Finding debug files (vmlinux, modules, separate debug files) and source files, and the kernel
//! release a log was printed by. Every path is taken under a root directory.

use crate::elf::ElfObject;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The kernel release a log line names: `Linux version 6.1.0-18-amd64 (...)` or the
/// `CPU: 3 PID: 1 Comm: x Tainted: G W 6.1.0-18-amd64 #1` header of every oops and warning.
pub fn log_release(line: &str) -> Option<&str> {
    if let Some(p) = line.find("Linux version ") {
        return line[p + "Linux version ".len()..].split_whitespace().next();
    }
    if !line.contains("CPU: ") || !line.contains(" Comm: ") {
        return None;
    }
    let rest = match line.find("Not tainted ") {
        Some(p) => &line[p + "Not tainted ".len()..],
        None => &line[line.find("Tainted: ")? + "Tainted: ".len()..],
    };
    rest.split_whitespace()
        .take_while(|t| !t.starts_with('#'))
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()) && t.contains('.'))
}

/// Where a vmlinux with debug info for `release` (default: `<root>/proc/sys/kernel/osrelease`) is
/// looked for, in order: `/usr/lib/debug/boot/vmlinux-<release>`,
/// `/usr/lib/debug/lib/modules/<release>/vmlinux`, `/boot/vmlinux-<release>`,
/// `/lib/modules/<release>/build/vmlinux`, the running kernel's build-id under
/// `/usr/lib/debug/.build-id/`, then any `/usr/lib/debug/boot/vmlinux-*` and `/boot/vmlinux-*`.
pub fn vmlinux_candidates(root: &Path, release: Option<&str>) -> Vec<PathBuf> {
    let running =
        std::fs::read_to_string(root.join("proc/sys/kernel/osrelease")).ok().map(|s| s.trim().to_string());
    let release = release.map(str::to_string).or(running.clone());
    let mut out = Vec::new();
    if let Some(rel) = &release {
        out.push(root.join("usr/lib/debug/boot").join(format!("vmlinux-{rel}")));
        out.push(root.join("usr/lib/debug/lib/modules").join(rel).join("vmlinux"));
        out.push(root.join("boot").join(format!("vmlinux-{rel}")));
        out.push(root.join("lib/modules").join(rel).join("build/vmlinux"));
    }
    // The build-id note of the running kernel is only meaningful for the running release.
    if release == running {
        if let Some(id) =
            std::fs::read(root.join("sys/kernel/notes")).ok().and_then(|n| build_id_from_notes(&n))
        {
            out.push(build_id_path(root, &id));
        }
    }
    for dir in ["usr/lib/debug/boot", "boot"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            let mut found: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinux-")))
                .filter(|p| !out.contains(p))
                .collect();
            found.sort();
            out.extend(found);
        }
    }
    out
}

fn build_id_path(root: &Path, id: &[u8]) -> PathBuf {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let (head, tail) = hex.split_at(2.min(hex.len()));
    root.join("usr/lib/debug/.build-id").join(head).join(format!("{tail}.debug"))
}

/// The GNU build-id from a raw ELF note list (`/sys/kernel/notes`, native byte order).
fn build_id_from_notes(notes: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0usize;
    let word = |p: usize| -> Option<usize> {
        let b: [u8; 4] = notes.get(p..p + 4)?.try_into().ok()?;
        usize::try_from(u32::from_ne_bytes(b)).ok()
    };
    while pos + 12 <= notes.len() {
        let namesz = word(pos)?;
        let descsz = word(pos + 4)?;
        let ty = word(pos + 8)?;
        let name_start = pos + 12;
        let desc_start = name_start.checked_add(namesz.checked_add(3)? & !3)?;
        let desc_end = desc_start.checked_add(descsz)?;
        let name = notes.get(name_start..name_start + namesz)?;
        if ty == 3 && name.starts_with(b"GNU") {
            return notes.get(desc_start..desc_end).map(<[u8]>::to_vec);
        }
        pos = desc_start.checked_add(descsz.checked_add(3)? & !3)?;
    }
    None
}

/// A separate debug file for a stripped object: by build-id under `<root>/usr/lib/debug/.build-id/`,
/// then by `.gnu_debuglink` name next to the file, in its `.debug/` directory, and under
/// `<root>/usr/lib/debug/<dir of the file>/`.
pub(crate) fn separate_debug(root: &Path, obj: &ElfObject) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(id) = &obj.build_id {
        candidates.push(build_id_path(root, id));
    }
    if let Some(link) = &obj.debuglink {
        let dir = obj.path.parent().unwrap_or(Path::new(""));
        candidates.push(dir.join(link));
        candidates.push(dir.join(".debug").join(link));
        let rel = dir.strip_prefix(root).unwrap_or(dir);
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        candidates.push(root.join("usr/lib/debug").join(rel).join(link));
    }
    candidates.into_iter().find(|p| p.is_file() && p != &obj.path)
}

/// Module files under `dirs`, by module name with `-` written `_`: `*.ko`, `*.ko.xz`, `*.ko.zst`,
/// `*.ko.gz`, `*.ko.debug`. Earlier directories come first; within one, uncompressed first.
pub(crate) fn index_modules(dirs: &[PathBuf]) -> HashMap<String, Vec<PathBuf>> {
    let mut index: HashMap<String, Vec<(usize, u8, PathBuf)>> = HashMap::new();
    for (rank, dir) in dirs.iter().enumerate() {
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let Ok(ft) = e.file_type() else { continue };
                let p = e.path();
                if ft.is_dir() {
                    // `build` and `source` point back into the kernel tree: not modules.
                    if !matches!(e.file_name().to_str(), Some("build") | Some("source")) {
                        stack.push(p);
                    }
                    continue;
                }
                let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
                let (stem, pref) = if let Some(s) = name.strip_suffix(".ko") {
                    (s, 0)
                } else if let Some(s) = name.strip_suffix(".ko.debug") {
                    (s, 0)
                } else if let Some(s) = name.strip_suffix(".ko.zst") {
                    (s, 1)
                } else if let Some(s) = name.strip_suffix(".ko.xz") {
                    (s, 1)
                } else if let Some(s) = name.strip_suffix(".ko.gz") {
                    (s, 1)
                } else {
                    continue;
                };
                index.entry(stem.replace('-', "_")).or_default().push((rank, pref, p));
            }
        }
    }
    index
        .into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v.into_iter().map(|(_, _, p)| p).collect())
        })
        .collect()
}

/// Source files of a kernel tree, read on demand and kept for the next line.
pub struct SourceTree {
    dir: PathBuf,
    files: HashMap<String, Option<Vec<String>>>,
}

impl SourceTree {
    pub fn new(dir: &Path) -> SourceTree {
        SourceTree { dir: dir.to_path_buf(), files: HashMap::new() }
    }

    /// Line `line` (1-based) of `file` (relative to the tree, or absolute), without its newline.
    pub fn line(&mut self, file: &str, line: u32) -> Option<&str> {
        let dir = &self.dir;
        let lines = self.files.entry(file.to_string()).or_insert_with(|| {
            let p = Path::new(file);
            let path = if p.is_absolute() && !p.starts_with(dir) {
                dir.join(p.strip_prefix("/").unwrap_or(p))
            } else {
                dir.join(p)
            };
            let text = std::fs::read(&path).or_else(|_| std::fs::read(p)).ok()?;
            Some(String::from_utf8_lossy(&text).lines().map(str::to_string).collect())
        });
        lines.as_ref()?.get(usize::try_from(line).ok()?.checked_sub(1)?).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases() {
        assert_eq!(
            log_release(
                "[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12)"
            ),
            Some("6.1.0-18-amd64")
        );
        assert_eq!(
            log_release("[  203.1] CPU: 2 PID: 57 Comm: kswapd0 Tainted: G        W  OE     4.19.90-23.8.v2101.ky10.aarch64 #1"),
            Some("4.19.90-23.8.v2101.ky10.aarch64")
        );
        assert_eq!(
            log_release("CPU: 0 UID: 0 PID: 1 Comm: init Not tainted 6.18.0 #1 PREEMPT(voluntary)"),
            Some("6.18.0")
        );
        assert_eq!(log_release("CPU: 0 PID: 1 Comm: x Tainted: G W #1"), None);
        assert_eq!(log_release("nothing"), None);
    }

    #[test]
    fn notes() {
        let mut n = Vec::new();
        n.extend_from_slice(&4u32.to_ne_bytes());
        n.extend_from_slice(&3u32.to_ne_bytes());
        n.extend_from_slice(&3u32.to_ne_bytes());
        n.extend_from_slice(b"GNU\0");
        n.extend_from_slice(&[0xab, 0xcd, 0xef, 0]);
        assert_eq!(build_id_from_notes(&n), Some(vec![0xab, 0xcd, 0xef]));
        assert_eq!(build_id_from_notes(&n[..10]), None);
        assert_eq!(
            build_id_path(Path::new("/r"), &[0xab, 0xcd, 0xef]),
            PathBuf::from("/r/usr/lib/debug/.build-id/ab/cdef.debug")
        );
    }
}
