//! One analyzer per file. Each is `pub fn run(case: &Case, out: &mut Output)`: it reads the evidence
//! it needs from the [`Case`](crate::Case), returns early when that is absent, and pushes findings
//! and tables.

pub mod accounting;
pub mod fragmentation;
pub mod kernel_log;
pub mod memcg;
pub mod overcommit;
pub mod reclaim;
pub mod slab;
pub mod slab_leak;
pub mod watermarks;
