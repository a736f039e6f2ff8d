//! Reading files inside an untrusted tree (`--root DIR`, a directory given as input): a captured
//! tree or a bug-report directory may hold symlinks to `/etc/shadow` or `/dev/zero`, FIFOs and
//! devices. A file is read only when its resolved path stays inside the resolved tree (a symlink
//! may point inside the tree, never out of it), it is a regular file (FIFOs, devices, sockets and
//! directories are refused before they are opened), and at most `cap` bytes are read. Refusals
//! name the reason, never the content.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file of a tree was not read.
#[derive(Debug)]
pub enum Refused {
    /// Opening or reading failed (missing, permission denied, ...).
    Io(io::Error),
    /// A symlink leads out of the tree.
    Outside,
    /// Not a regular file: what it is.
    NotRegular(&'static str),
    /// Larger than the cap (bytes).
    TooLarge(u64),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Io(e) => write!(f, "{e}"),
            Refused::Outside => write!(f, "a symlink leading out of the tree: not followed"),
            Refused::NotRegular(what) => write!(f, "{what}, not a regular file: not read"),
            Refused::TooLarge(cap) => write!(f, "larger than {} MiB: not read", cap >> 20),
        }
    }
}

fn kind(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_fifo() {
        Some("a FIFO")
    } else if ft.is_char_device() || ft.is_block_device() {
        Some("a device")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    }
}

/// The resolved path of `path` if it is a regular file inside `root`.
pub fn resolve_in(root: &Path, path: &Path) -> Result<PathBuf, Refused> {
    let croot = std::fs::canonicalize(root).map_err(Refused::Io)?;
    resolve_under(&croot, path)
}

/// [`resolve_in`] for the tree whose resolved path is `croot`.
fn resolve_under(croot: &Path, path: &Path) -> Result<PathBuf, Refused> {
    let real = std::fs::canonicalize(path).map_err(Refused::Io)?;
    if !real.starts_with(croot) {
        return Err(Refused::Outside);
    }
    let meta = std::fs::symlink_metadata(&real).map_err(Refused::Io)?;
    if let Some(k) = kind(meta.file_type()) {
        return Err(Refused::NotRegular(k));
    }
    Ok(real)
}

/// Opens `path`, a file of the tree `root` (see the module documentation).
pub fn open_in(root: &Path, path: &Path) -> Result<File, Refused> {
    open_resolved(&resolve_in(root, path)?)
}

/// [`open_in`] for the tree whose resolved path (`std::fs::canonicalize(root)`) is `croot`: a
/// walk resolves its tree once for all its files.
pub fn open_under(croot: &Path, path: &Path) -> Result<File, Refused> {
    open_resolved(&resolve_under(croot, path)?)
}

/// Opens `real`, a resolved path inside a tree, if it is a regular file.
pub(crate) fn open_resolved(real: &Path) -> Result<File, Refused> {
    // O_NOFOLLOW: a symlink swapped in since resolution is not followed; O_NONBLOCK: a FIFO swapped
    // in does not block the open (it is refused by the check below).
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(real)
        .map_err(Refused::Io)?;
    if let Some(k) = kind(f.metadata().map_err(Refused::Io)?.file_type()) {
        return Err(Refused::NotRegular(k));
    }
    Ok(f)
}

/// Reads `path` whole (at most `cap` bytes), a file of the tree `root`.
pub fn read_in(root: &Path, path: &Path, cap: u64) -> Result<Vec<u8>, Refused> {
    let f = open_in(root, path)?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf).map_err(Refused::Io)?;
    if buf.len() as u64 > cap {
        return Err(Refused::TooLarge(cap));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_fifos_and_devices_are_refused() {
        let base = std::env::temp_dir().join(format!("memdx-rooted-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::write(base.join("secret"), "SECRET-LINE\n").unwrap();
        std::fs::write(root.join("proc/meminfo"), "MemTotal: 1 kB\n").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), root.join("proc/shadow")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("proc/vmstat")).unwrap();
        std::os::unix::fs::symlink("meminfo", root.join("proc/inside")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(root.join("proc/fifo")).status().unwrap().success());
        let cap = 1 << 20;
        assert_eq!(read_in(&root, &root.join("proc/meminfo"), cap).unwrap(), b"MemTotal: 1 kB\n");
        assert_eq!(read_in(&root, &root.join("proc/inside"), cap).unwrap(), b"MemTotal: 1 kB\n");
        assert!(matches!(read_in(&root, &root.join("proc/shadow"), cap), Err(Refused::Outside)));
        assert!(matches!(read_in(&root, &root.join("proc/vmstat"), cap), Err(Refused::Outside)));
        assert!(matches!(read_in(&root, &root.join("proc/fifo"), cap), Err(Refused::NotRegular("a FIFO"))));
        assert!(matches!(read_in(&root, &root.join("proc/meminfo"), 3), Err(Refused::TooLarge(3))));
        // The live root: devices are refused there too.
        assert!(matches!(read_in(Path::new("/"), Path::new("/dev/zero"), cap), Err(Refused::NotRegular(_))));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
