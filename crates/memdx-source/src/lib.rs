//! memdx-source: the only crate that touches the system.
//!
//! - [`gather`] reads any mix of files, directories and archives into a [`Case`], recognising each
//!   file by content (the parsers' sniffers), and lists what it skipped and why.
//! - [`live`] reads a root tree (`/` on the live machine, or a captured `--root DIR`) at the fixed
//!   kernel paths, and records what it could not read (e.g. `/proc/slabinfo` as non-root).
//! - [`snapshot`] writes the same live sources into a `.tar.zst` bundle that [`gather`] reads back.
//! - [`pins`] reads what `memdx memcg pins` joins: the memcg tree with inodes, one pass over
//!   `/proc/kpagecgroup` + `/proc/kpageflags`, and the page frames of files' cached pages.
//! - [`tracefs`] manages private tracefs instances with a restore guard.
//! - [`files`] creates files and directories safely (`O_EXCL|O_NOFOLLOW`, 0600/0700, anonymous
//!   temporary files).
//!
//! Invariant: every reader takes a root directory or a path; nothing here hard-codes `/proc`.

mod archive;
pub mod cgroup_names;
mod filemap;
pub mod files;
mod gather;
pub mod live;
pub mod memcg;
pub mod pins;
pub mod procs;
pub mod rooted;
pub mod snapshot;
pub mod tracefs;

pub use gather::{gather, GatherOptions, UnpackLimits, RUN_FACTOR};

/// Opens a file for streaming, decompressing gzip, xz or zstd (recognised by magic bytes); `-` is
/// standard input. For commands that read one log or trace at a time.
pub fn open_stream(path: &std::path::Path) -> std::io::Result<Box<dyn std::io::BufRead>> {
    use std::io::{BufRead, BufReader};
    let mut r: Box<dyn BufRead> = if path == std::path::Path::new("-") {
        Box::new(BufReader::with_capacity(256 * 1024, std::io::stdin()))
    } else {
        Box::new(BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?))
    };
    let c = archive::compression(r.fill_buf()?);
    archive::decoder(r, c)
}

/// Largest file memdx reads whole for a /proc-style format. Larger inputs are either streamed (logs,
/// traces) or skipped with a reason.
pub const MAX_TEXT_FILE: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}
