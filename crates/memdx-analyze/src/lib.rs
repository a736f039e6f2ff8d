//! memdx-analyze: everything known about one machine ([`Case`]) and the analyzers that turn it into
//! ranked findings ([`Report`]).
//!
//! Invariants:
//! - Pure: no I/O. The source layer fills a [`Case`] from files, bundles or the live machine; the same
//!   `Case` comes out of `/proc` or a tarball, so every analyzer is tested offline on captured input.
//! - One analyzer per file under `analyzers/`, registered in [`ANALYZERS`]; an analyzer that lacks its
//!   evidence returns nothing (the report lists what was not examined, from [`Case::missing`]).
//! - Every number in a finding carries the `SourceRef` it was read from.

pub mod analyzers;
pub mod case;
pub mod conclude;
mod document;
pub mod pins;
pub mod report;
pub mod timeline;

pub use analyzers::{Analyzer, ANALYZERS};
pub use case::{Case, InputInfo, Skipped};
pub use conclude::{conclude, Conclusion, Confidence};
pub use memdx_core::{Report, Table};
pub use report::analyze;
