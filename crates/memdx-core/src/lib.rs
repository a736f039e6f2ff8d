//! Shared vocabulary of memdx: where a fact came from ([`SourceRef`]), what went wrong while reading
//! it ([`Diag`]), and what memdx concludes ([`Finding`] with its [`Evidence`]).
//!
//! Invariants: no I/O here (the line reader reads any `BufRead` it is given), no dependencies beyond
//! `serde`, `thiserror` and `memchr`. [`Finding`], [`Evidence`], [`SourceRef`], [`Diag`], [`Report`],
//! [`Table`], [`conclusion::Conclusion`] and [`timeline::Timeline`] are part of the JSON output schema (`docs/json-schema.md`), so renaming a
//! field is a schema change.

pub mod conclusion;
mod finding;
pub mod kver;
pub mod lines;
mod report;
mod source;
pub mod time;
pub mod timeline;
pub mod units;

pub use finding::{Evidence, EvidenceValue, Finding, Severity};
pub use report::{Report, Table};
pub use source::{Diag, DiagLevel, SourceRef};
