//! Files and directories memdx creates, safe against a local user who plants symlinks or files in
//! shared places such as /tmp (memdx often runs as root):
//!
//! - [`create_new`]: a file that must not exist yet, opened `O_CREAT|O_EXCL|O_NOFOLLOW` with mode
//!   0600 (output files the user names: `--save`, snapshot bundles, HTML reports);
//! - [`anonymous_temp`]: an unnamed temporary file (`O_TMPFILE`), or, where the filesystem lacks it,
//!   a file created the same way in a fresh private directory and unlinked at once;
//! - [`private_dir`]: a new directory of a fresh name, mode 0700 (`mkdir` fails rather than reuse
//!   anything that exists), e.g. the private tracefs mount point.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Creates `path`, which must not exist (not even as a dangling symlink): mode 0600.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    "already exists; memdx does not overwrite files: remove it or choose another name",
                )
            } else {
                e
            }
        })
}

/// A fresh name under `parent`: `<prefix>-<pid>-<nanoseconds>-<n>`.
fn fresh_name(prefix: &str, n: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos:08x}-{n}", std::process::id())
}

/// Creates a new directory `<parent>/<prefix>-...` with mode 0700 and returns its path. A name that
/// exists (planted or not) is never used: another is tried.
pub fn private_dir(parent: &Path, prefix: &str) -> io::Result<PathBuf> {
    let mut last = None;
    for n in 0..16 {
        let p = parent.join(fresh_name(prefix, n));
        match std::fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no fresh directory name")))
}

/// An unnamed read-write temporary file in the temporary directory, gone when closed.
pub fn anonymous_temp() -> io::Result<File> {
    let dir = std::env::temp_dir();
    match OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(&dir)
    {
        Ok(f) => Ok(f),
        // Filesystems without O_TMPFILE (EOPNOTSUPP, EISDIR on old kernels, EINVAL).
        Err(_) => {
            let d = private_dir(&dir, "memdx")?;
            let p = d.join("capture");
            let f = create_new(&p);
            let _ = std::fs::remove_file(&p);
            let _ = std::fs::remove_dir(&d);
            f
        }
    }
}

/// Where a live capture's raw text goes: the user's `--save` file ([`create_new`]) or an
/// [`anonymous_temp`] file that disappears with the process.
pub struct CaptureFile {
    pub file: File,
    /// The `--save` path; `None` for an anonymous file.
    pub saved: Option<PathBuf>,
}

impl CaptureFile {
    pub fn create(save: Option<&Path>) -> io::Result<CaptureFile> {
        Ok(match save {
            Some(p) => CaptureFile { file: create_new(p)?, saved: Some(p.to_path_buf()) },
            None => CaptureFile { file: anonymous_temp()?, saved: None },
        })
    }

    /// The file again from its start, for reading back what was written.
    pub fn read_back(&self) -> io::Result<File> {
        let mut f = self.file.try_clone()?;
        f.rewind()?;
        Ok(f)
    }

    /// The name to show in reports: the `--save` path, or `what` for an anonymous capture.
    pub fn name(&self, what: &str) -> String {
        match &self.saved {
            Some(p) => p.display().to_string(),
            None => format!("live capture ({what})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;

    /// The attack of issue 15 item 2: a symlink planted at the output path is not followed, an
    /// existing file is not overwritten, and new files are 0600, directories 0700.
    #[test]
    fn planted_symlinks_are_not_followed() {
        let base = std::env::temp_dir().join(format!("memdx-files-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let victim = base.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = base.join("out.trace");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_new(&link).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let dangling = base.join("dangling");
        std::os::unix::fs::symlink(base.join("nowhere"), &dangling).unwrap();
        assert!(create_new(&dangling).is_err());
        assert!(!base.join("nowhere").exists());
        assert!(create_new(&victim).is_err(), "an existing file is not overwritten");
        let fresh = base.join("fresh");
        drop(create_new(&fresh).unwrap());
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
        let d = private_dir(&base, "memdx-tracefs").unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn anonymous_capture_reads_back() {
        let mut c = CaptureFile::create(None).unwrap();
        c.file.write_all(b"line\n").unwrap();
        let mut s = String::new();
        c.read_back().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "line\n");
        assert!(c.saved.is_none());
    }
}
