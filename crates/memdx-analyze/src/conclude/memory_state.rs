//! Context rule `context.memory_at_crash`: the memory state at the time of a crash (crash `kmem -i`,
//! the Mem-Info of a report just before it, or meminfo) added to the crash's conclusion, and the
//! overcommit ratio ruled out unless the policy enforces it (seed 004: free 112.5 MB of 15.1 GB, no
//! swap, 5.3 GB page cache; COMMITTED 373% of COMMIT LIMIT under the heuristic policy).

use super::{Conclusion, Facts, RuledOut};
use memdx_core::units::kib;
use memdx_core::SourceRef;

pub const NAME: &str = "context.memory_at_crash";

/// Free memory below this share of RAM is short: kswapd runs below the high watermark, which is
/// well under this on every machine with more than a few hundred MB.
const SHORT_PCT: f64 = 5.0;

/// Memory figures in KiB, with where they were read and whether they are of the crash's moment.
struct State {
    what: String,
    at_crash: bool,
    total_kb: u64,
    free_kb: u64,
    cache_kb: Option<u64>,
    slab_kb: Option<u64>,
    swap_kb: Option<u64>,
    committed: Option<(u64, u64, Option<SourceRef>)>,
    source: Option<SourceRef>,
}

fn from_kmem(facts: &Facts) -> Option<State> {
    let k = facts.case.kmem.as_ref()?;
    let page = facts.case.page_kb();
    let kb = |l: &str| k.pages(l).map(|p| p.saturating_mul(page));
    let committed = match (kb("COMMITTED"), kb("COMMIT LIMIT")) {
        (Some(c), Some(l)) => Some((c, l, k.at("COMMITTED"))),
        _ => None,
    };
    Some(State {
        what: "crash> kmem -i".into(),
        at_crash: true,
        total_kb: kb("TOTAL MEM")?,
        free_kb: kb("FREE")?,
        cache_kb: kb("CACHED"),
        slab_kb: kb("SLAB"),
        swap_kb: kb("TOTAL SWAP"),
        committed,
        source: k.at("FREE").or_else(|| Some(k.source.clone())),
    })
}

fn from_meminfo(facts: &Facts) -> Option<State> {
    let m = facts.case.meminfo.as_ref()?;
    let committed = match (m.kb("Committed_AS"), m.kb("CommitLimit")) {
        (Some(c), Some(l)) => Some((c, l, m.at("Committed_AS"))),
        _ => None,
    };
    Some(State {
        what: "meminfo (capture time not known: may not be the moment of the crash)".into(),
        at_crash: false,
        total_kb: m.kb("MemTotal")?,
        free_kb: m.kb("MemFree")?,
        cache_kb: m.kb("Cached"),
        slab_kb: m.kb("Slab"),
        swap_kb: m.kb("SwapTotal"),
        committed,
        source: m.at("MemFree"),
    })
}

#[allow(clippy::ptr_arg)] // every rule has the signature of `Rule::run`
pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let state = from_kmem(facts).or_else(|| from_meminfo(facts));
    let sysctl = facts.case.sysctl.as_ref();
    let mode = sysctl.and_then(|s| s.int("vm.overcommit_memory"));
    let mode_src = sysctl.and_then(|s| s.at("vm.overcommit_memory"));
    for c in out.iter_mut().filter(|c| c.crash) {
        let Some(s) = &state else {
            c.unknown(
                "the memory state at the crash (free memory, swap, page cache)",
                "crash vmlinux vmcore, then kmem -i (or /proc/meminfo captured at the time)",
            );
            continue;
        };
        let pct = memdx_core::units::pct(s.free_kb, s.total_kb);
        let mut parts = vec![format!("free {} of {} ({pct:.1}%)", kib(s.free_kb), kib(s.total_kb))];
        match s.swap_kb {
            Some(0) => parts.push("no swap".into()),
            Some(k) => parts.push(format!("swap {}", kib(k))),
            None => {}
        }
        if let Some(cache) = s.cache_kb {
            parts.push(format!(
                "page cache {} ({:.0}%)",
                kib(cache),
                memdx_core::units::pct(cache, s.total_kb)
            ));
        }
        if let Some(slab) = s.slab_kb {
            parts.push(format!("slab {}", kib(slab)));
        }
        let mut fact = format!(
            "memory {} ({}): {}",
            if s.at_crash { "at the crash" } else { "state" },
            s.what,
            parts.join(", ")
        );
        if s.at_crash && pct < SHORT_PCT {
            fact.push_str(if c.reclaim_driven {
                ": memory was short, which is why reclaim was running on this path"
            } else {
                ": memory was short"
            });
            if s.swap_kb == Some(0) {
                fact.push_str("; with no swap only page cache and slab could be reclaimed");
            }
        }
        c.link(fact, Some("memory.state"), s.source.clone());
        if let Some((committed, limit, src)) = &s.committed {
            if committed > limit && mode != Some(2) {
                let ratio = memdx_core::units::pct(*committed, *limit);
                let because = match mode {
                    Some(m) => format!(
                        "vm.overcommit_memory = {m} ({}): CommitLimit is enforced only in mode 2, so the ratio neither \
                         failed allocations nor caused reclaim",
                        if m == 0 { "heuristic" } else { "always" }
                    ),
                    None => "vm.overcommit_memory is not given; under the default 0 (heuristic) CommitLimit is not \
                             enforced, so the ratio neither failed allocations nor caused reclaim"
                        .into(),
                };
                c.ruled_out.push(RuledOut {
                    what: format!(
                        "overcommit: committed {} is {ratio:.0}% of the commit limit {}",
                        kib(*committed),
                        kib(*limit)
                    ),
                    because,
                    source: mode_src.clone().or_else(|| src.clone()),
                });
                if mode.is_none() {
                    c.unknown("the overcommit policy", "sysctl vm.overcommit_memory vm.overcommit_ratio");
                }
            }
        }
    }
}
