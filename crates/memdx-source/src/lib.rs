//! memdx-source: the only crate that touches the system.
//!
//! - [`gather`] reads any mix of files, directories and archives into a [`Case`], recognising each
//!   file by content (the parsers' sniffers), and lists what it skipped and why.
//! - [`live`] reads a root tree (`/` on the live machine, or a captured `--root DIR`) at the fixed
//!   kernel paths, and records what it could not read (e.g. `/proc/slabinfo` as non-root).
//! - [`snapshot`] writes the same live sources into a `.tar.zst` bundle that [`gather`] reads back.
//! - [`tracefs`] manages private tracefs instances with a restore guard.
//!
//! Invariant: every reader takes a root directory or a path; nothing here hard-codes `/proc`.

mod archive;
mod gather;
pub mod live;
pub mod snapshot;
pub mod tracefs;

pub use gather::{gather, GatherOptions};

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
