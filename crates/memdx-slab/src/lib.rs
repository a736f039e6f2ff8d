//! memdx-slab: slab leak investigation, from "Slab is 900 MB" to the unit and the stack that cause
//! it (issue 4, seed 000). Pure: every function takes text (or records) and returns typed evidence
//! and [`memdx_core::Finding`]s; the binary and the source layer do the I/O.
//!
//! - [`pairing`]: slub_debug `TRACE` records ([`SlubPairing`] is a [`memdx_log::Sink`]) and kmem
//!   tracepoint events paired by `(cache, pointer)`: per-cache counts and rates, outstanding objects
//!   by allocation path, frees by path, double frees and frees of objects allocated before the window.
//! - [`stack`]: one stack model for every source; [`tools`]: bcc `trace`/`memleak`/`stackcount`,
//!   bpftrace maps and `perf script` outputs into it.
//! - [`kmem`]: ftrace text of `kmem:*` and `cgroup:*` events with `<stack trace>` entries (the live
//!   `memdx trace slab` / `trace allocs` captures).
//! - [`journal`]: systemd and dbus failures per unit in syslog/journal text, with the period.
//! - [`cgroup`]: cgroup counts, dying cgroups, memcg-related cache growth, merged-cache resolution.
//! - [`correlate`]: the findings, including `slab.leak.cgroup_churn` tying them together.

pub mod cgroup;
pub mod correlate;
pub mod journal;
pub mod kmem;
pub mod pairing;
pub mod stack;
pub mod tools;

pub use correlate::{findings, SlabEvidence};
pub use journal::{parse_journal, JournalReport};
pub use kmem::{parse_kmem, KmemOptions, KmemReport};
pub use pairing::{CacheActivity, PairingReport, SlubPairing};
pub use stack::{Frame, Stack};
pub use tools::{StackSample, ToolFormat, ToolStacks};
