//! Analyzer: slab leak investigation (seed 000). Ties slub_debug TRACE pairing, kmem tracepoint
//! captures, tool stacks (bcc, bpftrace, perf), systemd unit failure loops and cgroup counts to the
//! slab tables, through the correlation rules of `memdx-slab`.

use crate::case::Case;
use memdx_core::Report;

pub fn run(case: &Case, out: &mut Report) {
    let hierarchies = match &case.cgroups {
        Some(pc) => {
            // Directories actually present are known only from a walked tree (live or --root).
            let present: Vec<(&str, u64)> = case.memcgs.iter().map(|m| ("memory", m.live)).collect();
            memdx_slab::cgroup::hierarchies(pc, &present)
        }
        None => Vec::new(),
    };
    let sunreclaim = case.meminfo.as_ref().and_then(|m| Some((m.kb("SUnreclaim")?, &m.source)));
    let kernel = case.version();
    let slab = case.slab();
    let have_any = !case.slab_pairing.is_empty()
        || !case.kmem_traces.is_empty()
        || !case.tool_stacks.is_empty()
        || !case.journals.is_empty()
        || !hierarchies.is_empty();
    if !have_any {
        return;
    }
    // One evidence set per pairing/kmem capture (usually one); the journals, tools and tables are shared.
    let pairings: Vec<Option<&memdx_slab::PairingReport>> =
        if case.slab_pairing.is_empty() { vec![None] } else { case.slab_pairing.iter().map(Some).collect() };
    let kmems: Vec<Option<&memdx_slab::KmemReport>> =
        if case.kmem_traces.is_empty() { vec![None] } else { case.kmem_traces.iter().map(Some).collect() };
    let mut seen = std::collections::HashSet::new();
    for pairing in &pairings {
        for kmem in &kmems {
            let ev = memdx_slab::SlabEvidence {
                pairing: *pairing,
                kmem: *kmem,
                tools: &case.tool_stacks,
                journals: &case.journals,
                slab,
                sunreclaim_kb: sunreclaim,
                kernel,
                hierarchies: &hierarchies,
            };
            for f in memdx_slab::findings(&ev) {
                // The shared parts (journals, tools) would repeat their findings per capture.
                if seen.insert((f.id.clone(), f.title.clone())) {
                    out.findings.push(f);
                }
            }
        }
    }
}
