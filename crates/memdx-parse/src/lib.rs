//! memdx-parse: pure parsers from kernel text to typed evidence. One module per format.
//!
//! Invariants:
//! - No I/O. Every parser takes `&str` (or `BufRead`) and a [`SourceRef`] naming where the text came from.
//! - Never panics on any input. A damaged line is skipped and reported as a [`Diag`] with its line
//!   number; only input that is not the format at all (or an unknown version) is a [`ParseError`].
//! - Values keep their line number so findings can cite `file:line`.
//! - Kernel-version differences are `Option<T>` fields documented with the version that added them.

pub mod arcstats;
pub mod buddyinfo;
pub mod cgroups;
pub mod cmdline;
pub mod crash_kmem;
pub mod document;
pub mod free;
pub mod kernel;
pub mod kpage;
pub mod kv;
pub mod mem_samples;
pub mod memcg_file;
pub mod memcg_stat;
pub mod meminfo;
pub mod messages;
pub mod mm_sysfs;
pub mod numastat;
pub mod pagetypeinfo;
pub mod proc_status;
pub mod process_table;
pub mod psi;
pub mod sections;
pub mod slab_aliases;
pub mod slabinfo;
pub mod slabtop;
pub mod slub_traces;
pub mod smaps_rollup;
pub mod sniff;
pub mod sysctl;
pub mod vmallocinfo;
pub mod zoneinfo;

use memdx_core::{Diag, SourceRef};

/// Why a whole input could not be parsed as the format asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{file}: empty input")]
    Empty { file: SourceRef },
    #[error("{file}: unsupported {format} version {version:?} (memdx reads {supported})")]
    UnsupportedVersion { file: SourceRef, format: &'static str, version: String, supported: &'static str },
    #[error("{file}: not {format}: {reason}")]
    NotThisFormat { file: SourceRef, format: &'static str, reason: String },
}

impl ParseError {
    /// The input is not `format`, for `reason` (said to the user in the skip list).
    pub fn not_this(src: &SourceRef, format: &'static str, reason: impl Into<String>) -> ParseError {
        ParseError::NotThisFormat { file: src.clone(), format, reason: reason.into() }
    }

    /// The message without the file name (for lists already grouped by file), with the line if known.
    pub fn reason(&self) -> String {
        let (file, msg) = match self {
            ParseError::Empty { file } => (file, "empty input".to_string()),
            ParseError::UnsupportedVersion { file, format, version, supported } => {
                (file, format!("unsupported {format} version {version:?} (memdx reads {supported})"))
            }
            ParseError::NotThisFormat { file, format, reason } => (file, format!("not {format}: {reason}")),
        };
        match file.line {
            Some(l) => format!("line {l}: {msg}"),
            None => msg,
        }
    }
}

/// A parsed value with the diagnostics for the parts that were damaged or skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    pub diags: Vec<Diag>,
}

pub type ParseResult<T> = Result<Parsed<T>, ParseError>;

/// Lines of `text` with 1-based numbers; a trailing `\r` is dropped.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// Longest line memdx looks at in a /proc-style file. Longer lines are reported and skipped, so a
/// 1 MB line of junk costs one diagnostic, not a pathological parse.
pub(crate) const MAX_LINE: usize = 64 * 1024;

pub(crate) fn too_long(src: &SourceRef, no: usize, line: &str, diags: &mut Vec<Diag>) -> bool {
    if line.len() > MAX_LINE {
        diags.push(Diag::warning(
            src.at(no),
            format!("line of {} bytes skipped (limit {MAX_LINE})", line.len()),
        ));
        true
    } else {
        false
    }
}

/// Parses an unsigned decimal, tolerating nothing else.
pub(crate) fn uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A size in KiB as top and `sar -h` print it: plain KiB, or with a binary suffix `k`, `m`, `g`, `t`,
/// `p` (either case), possibly fractional (`12.1g`, `1.5G`).
pub(crate) fn suffixed_kb(s: &str) -> Option<u64> {
    let (num, mul) = match s.as_bytes().last()?.to_ascii_lowercase() {
        b'k' => (&s[..s.len() - 1], 1.0),
        b'm' => (&s[..s.len() - 1], 1024.0),
        b'g' => (&s[..s.len() - 1], 1048576.0),
        b't' => (&s[..s.len() - 1], 1073741824.0),
        b'p' => (&s[..s.len() - 1], 1099511627776.0),
        _ => (s, 1.0),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',') {
        return None;
    }
    let v: f64 = num.replace(',', ".").parse().ok()?;
    let kb = v * mul;
    (0.0..1.8e19).contains(&kb).then_some(kb as u64)
}

#[cfg(test)]
pub(crate) mod testutil {
    use memdx_core::SourceRef;
    pub fn src() -> SourceRef {
        SourceRef::new("test")
    }
    /// A real sample from testdata/formats.
    pub fn formats(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats").join(name);
        std::fs::read_to_string(p).expect("testdata/formats sample")
    }
}
