//! One analyzer per file. Each is `pub fn run(case: &Case, out: &mut Report)`: it reads the evidence
//! it needs from the [`Case`](crate::Case), returns early when that is absent, and pushes findings
//! and tables. [`ANALYZERS`] is the registry.

use crate::case::Case;
use memdx_core::Report;

pub mod accounting;
pub mod fragmentation;
pub mod hugetlb;
pub mod kernel_log;
pub mod mem_samples;
pub mod memcg;
pub mod memcg_files;
pub mod memcg_pins;
pub mod memcg_stats;
pub mod messages;
pub mod numa;
pub mod overcommit;
pub mod pressure;
pub mod processes;
pub mod reclaim;
pub mod slab;
pub mod slab_leak;
pub mod slub_traces;
pub mod thp;
pub mod vmalloc;
pub mod watermarks;
pub mod zfs_arc;

pub struct Analyzer {
    pub name: &'static str,
    pub run: fn(&Case, &mut Report),
}

/// Every analyzer, in the order their tables are shown.
pub static ANALYZERS: &[Analyzer] = &[
    Analyzer { name: "kernel_log", run: kernel_log::run },
    Analyzer { name: "accounting", run: accounting::run },
    Analyzer { name: "slab", run: slab::run },
    Analyzer { name: "slab_leak", run: slab_leak::run },
    Analyzer { name: "watermarks", run: watermarks::run },
    Analyzer { name: "fragmentation", run: fragmentation::run },
    Analyzer { name: "overcommit", run: overcommit::run },
    Analyzer { name: "reclaim", run: reclaim::run },
    Analyzer { name: "memcg", run: memcg::run },
    Analyzer { name: "memcg_pins", run: memcg_pins::run },
    Analyzer { name: "memcg_files", run: memcg_files::run },
    Analyzer { name: "memcg_stats", run: memcg_stats::run },
    Analyzer { name: "pressure", run: pressure::run },
    Analyzer { name: "hugetlb", run: hugetlb::run },
    Analyzer { name: "zfs_arc", run: zfs_arc::run },
    Analyzer { name: "slub_traces", run: slub_traces::run },
    Analyzer { name: "messages", run: messages::run },
    Analyzer { name: "processes", run: processes::run },
    Analyzer { name: "mem_samples", run: mem_samples::run },
    Analyzer { name: "vmalloc", run: vmalloc::run },
    Analyzer { name: "numa", run: numa::run },
    Analyzer { name: "thp", run: thp::run },
];
