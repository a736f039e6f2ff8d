//! The engineer's conclusion: findings joined across every input into ranked root-cause statements.
//!
//! Correlation rules are data: [`RULES`] names each rule, says what it joins and why the join is
//! sound, and points at the function that applies it (one file per rule under `conclude/`). Primary
//! rules turn findings and kernel reports into [`Conclusion`]s, most specific first; a report or
//! finding that a conclusion already covers is not concluded on again. Context rules then add to
//! every conclusion what is known about the machine at that time (memory state, what it rules out).
//!
//! Pure: reads the [`Case`] and the analyzers' findings, no I/O.

mod alloc_failure;
mod cache_as_used;
mod cgroup_churn;
mod crash_exception;
mod double_free;
mod enomem;
mod frag_samples;
mod leak_cache;
mod memory_state;
mod oom_limits;
mod oom_sigkill;
mod reclaim_storm;
mod single_report;
mod storm_oom;

use crate::case::Case;
use memdx_core::Finding;
use memdx_log::{Kind, Report};

pub use double_free::{ObjectPath, OBJECT_PATHS};
pub use memdx_core::conclusion::{Conclusion, Confidence, Link, RuledOut, Unknown};

/// Whether a rule draws conclusions or adds context to the ones drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Primary,
    Context,
}

/// A correlation rule: its name, what it joins, why the join holds, and the code that applies it.
pub struct Rule {
    pub name: &'static str,
    pub stage: Stage,
    /// The inputs and findings it joins.
    pub joins: &'static str,
    /// Why the join is sound (the kernel mechanism).
    pub why: &'static str,
    pub run: fn(&Facts, &mut Vec<Conclusion>),
}

/// Every rule, in the order applied: the most specific primary rules first.
pub static RULES: &[Rule] = &[
    Rule {
        name: double_free::NAME,
        stage: Stage::Primary,
        joins: "a slab free-path crash (probable double free, use-after-free, invalid free) and other reports on the \
                same object path (the same cache or the same teardown functions) within a few seconds",
        why: "an object freed twice trips every path that still holds it: the teardown that found it already \
              dead warns, and the second free crashes on the slab metadata of a page that is no longer a slab",
        run: double_free::run,
    },
    Rule {
        name: crash_exception::NAME,
        stage: Stage::Primary,
        joins: "a crash session's exception frame, its `dis -l` instruction, register values and `struct` \
                layouts and dumps",
        why: "a load through a register holding 0 at offset N is a NULL dereference of the member at offset N; the \
              instruction that loaded the register names the member that was NULL",
        run: crash_exception::run,
    },
    Rule {
        name: oom_limits::NAME,
        stage: Stage::Primary,
        joins: "OOM kills and allocation failures in the logs with the memory cgroup limits and meminfo given \
                beside them",
        why: "a memcg OOM means the cgroup reached its own limit; a global OOM below a container's limit means \
              the host ran out first, and no container limit protects against that",
        run: oom_limits::run,
    },
    Rule {
        name: cgroup_churn::NAME,
        stage: Stage::Primary,
        joins: "a unit failing in a loop (journal), slab growth on the cgroup creation path (slub_debug TRACE, kmem \
                events, tool stacks), the cache's size, dying memory cgroups and the kernel version",
        why: "every start of a unit creates and removes its cgroup; each cgroup allocates kernfs nodes and memcg \
              structures (and before 5.9 per-memcg kmem caches) that outlive it while charged pages pin it",
        run: cgroup_churn::run,
    },
    Rule {
        name: reclaim_storm::NAME,
        stage: Stage::Primary,
        joins: "reclaim failing to make progress (a trace's storm, thrashing or shrinker-dominated reclaim, a \
                foreground episode of half a second, memory PSI) with the swap, the memory cgroup count, \
                cgroup.memory=nokmem on the command line and the kernel version",
        why: "with no swap only page cache can be reclaimed; every reclaim iterates over every memcg below its \
              target, scanning LRUs and calling shrinkers; with nokmem before 6.7 the skipped slab shrinkers keep \
              their shrinker_info bits, so every reclaim walks all of them for nothing",
        run: reclaim_storm::run,
    },
    Rule {
        name: leak_cache::NAME,
        stage: Stage::Primary,
        joins: "kmemleak's unreferenced objects (size, allocating function, task) with the slab table given beside \
                them (slabinfo, slabtop): the kmalloc cache of the object's size, or the one named cache of that \
                object size; its rank by memory and its growth between tables",
        why: "kmemleak prints the object size the slab allocator registered, so a kmalloc() object lives in the \
              kmalloc cache of that size; leaked objects are never freed, so a leak on a hot path is what makes \
              that cache large and growing",
        run: leak_cache::run,
    },
    Rule {
        name: storm_oom::NAME,
        stage: Stage::Primary,
        joins: "a reclaim storm seen in a trace (the `reclaim.memcg_storm` conclusion) and a memcg OOM in a log (the \
                `oom.against_limits` conclusion) when the trace shows the task that invoked the OOM killer, or its \
                victim, at that time",
        why: "a charge over the limit reclaims in the cgroup and retries (MAX_RECLAIM_RETRIES) before it declares the \
              OOM: futile memcg reclaim by the same task right before is how the cgroup reached its OOM",
        run: storm_oom::run,
    },
    Rule {
        name: enomem::NAME,
        stage: Stage::Primary,
        joins: "a program's ENOMEM (strace, its error message) with meminfo (MemTotal, SwapTotal, MemAvailable, \
                Committed_AS, CommitLimit), vm.overcommit_memory, the free lists and the kernel version, when no \
                kernel OOM or allocation failure report is given",
        why: "mmap/brk requests are charged to commit accounting: the heuristic policy refuses one request larger \
              than RAM + swap (since 5.2), mode 2 anything past CommitLimit; any other ENOMEM with most of memory \
              available is a refused contiguous allocation or a limit, not a shortage",
        run: enomem::run,
    },
    Rule {
        name: alloc_failure::NAME,
        stage: Stage::Primary,
        joins: "the high-order page allocation failures of one call path in every log given (each copy with its task \
                and file) with the free lists of the time (the report's Mem-Info, or a buddyinfo given) and the GFP \
                mode (decoded, or the bare hex mask of kernels before 4.6)",
        why: "an order-N request needs one free block of 2^N pages: free memory in smaller blocks is fragmentation, \
              not a shortage; a request without direct reclaim cannot compact, and one stack failing in the idle \
              task or in unrelated tasks runs in interrupt context, so the call path is the cause",
        run: alloc_failure::run,
    },
    Rule {
        name: frag_samples::NAME,
        stage: Stage::Primary,
        joins: "a zone with no free block of a high order (`fragmentation.high_order_unavailable`, judged on the most \
                fragmented buddyinfo given) with the other buddyinfo samples of the same zone",
        why: "free memory that was in large blocks in one sample and is in small blocks in another, while still \
              free, was cut up by allocations pinned across it: external fragmentation, which compaction must undo \
              before any high-order allocation succeeds",
        run: frag_samples::run,
    },
    Rule {
        name: cache_as_used::NAME,
        stage: Stage::Primary,
        joins: "the ZFS ARC's size (arcstats) with the `used` figure of `free` given beside it, when the ARC is a \
                quarter or more of it (the `zfs.arc` finding's warning)",
        why: "ZFS allocates the ARC as kernel memory, so `free` counts it as used (not buff/cache) and MemAvailable \
              leaves it out, although ZFS shrinks it under pressure: a machine that looks full is not short",
        run: cache_as_used::run,
    },
    Rule {
        name: single_report::NAME,
        stage: Stage::Primary,
        joins: "one critical kernel report (oops, BUG, KASAN, panic, OOM) not joined by a rule above",
        why: "a crash report names its own cause site; it is the conclusion when nothing else explains it",
        run: single_report::run,
    },
    Rule {
        name: memory_state::NAME,
        stage: Stage::Context,
        joins: "a crash with the memory state at that time (crash `kmem -i`, the report's Mem-Info, meminfo) and the \
                overcommit policy",
        why: "memory that was short explains why reclaim ran when the crash happened; the commit ratio only \
              matters when vm.overcommit_memory is 2",
        run: memory_state::run,
    },
    Rule {
        name: oom_sigkill::NAME,
        stage: Stage::Context,
        joins: "a program's output saying it was ended by SIGKILL (exit status 137, `signal: killed`, `OOMKilled`) \
                with the OOM kill in the logs whose victim it names, or the only OOM kill when it names none",
        why: "the OOM killer ends its victim with SIGKILL, so a program that exits with 128 + 9 when the kernel \
              killed it for memory did not fail on its own",
        run: oom_sigkill::run,
    },
];

/// A kernel report folded across logs, with the file it was read from.
pub struct Rep<'a> {
    pub r: &'a Report,
    /// Index of the log in `Case::logs`.
    pub log: usize,
}

impl Rep<'_> {
    pub fn key(&self) -> String {
        format!("report:{}", self.r.signature)
    }
    pub fn finding_id(&self) -> String {
        let class =
            self.r.explanation.as_ref().map(|e| e.class.clone()).unwrap_or_else(|| self.r.kind.name().into());
        format!("log.{class}")
    }
    pub fn mono(&self) -> Option<f64> {
        self.r.first_seen.monotonic.or(self.r.time.monotonic)
    }
    pub fn class(&self) -> Option<&str> {
        self.r.explanation.as_ref().map(|e| e.class.as_str())
    }
    pub fn is_crash(&self) -> bool {
        matches!(self.r.kind, Kind::Oops | Kind::KernelBug | Kind::Panic | Kind::CrashBt)
    }
}

/// What the rules read: the case, the analyzers' findings, and the kernel reports of every log.
pub struct Facts<'a> {
    pub case: &'a Case,
    pub findings: &'a [Finding],
    pub reports: Vec<Rep<'a>>,
}

impl<'a> Facts<'a> {
    pub fn new(case: &'a Case, findings: &'a [Finding]) -> Self {
        let mut reports: Vec<Rep<'a>> = Vec::new();
        for (i, log) in case.logs.iter().enumerate() {
            for r in &log.reports {
                // The same report in several files of one bug report: keep the first copy.
                if !reports.iter().any(|x| x.r.signature == r.signature) {
                    reports.push(Rep { r, log: i });
                }
            }
        }
        Facts { case, findings, reports }
    }

    pub fn finding(&self, id: &str) -> Option<&'a Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// The `crash> bt` report of the same crash as `rep` (same task), when a crash session is given.
    pub fn crash_bt_of(&self, rep: &Report) -> Option<&'a Report> {
        self.reports
            .iter()
            .map(|x| x.r)
            .find(|b| b.kind == Kind::CrashBt && b.pid.is_some() && b.pid == rep.pid && b.comm == rep.comm)
    }
}

/// The frame names of a report's main stack.
pub fn funcs(r: &Report) -> impl Iterator<Item = &str> {
    r.frames.iter().filter(|f| f.reliable).map(|f| f.func.as_str())
}

/// Functions that mean memory reclaim drives the stack.
const RECLAIM_FRAMES: &[&str] = &[
    "kswapd",
    "shrink_slab",
    "do_shrink_slab",
    "shrink_node",
    "try_to_free_pages",
    "try_to_free_mem_cgroup_pages",
    "balance_pgdat",
    "drop_slab",
];

pub fn reclaim_driven(r: &Report) -> bool {
    funcs(r).any(|f| RECLAIM_FRAMES.contains(&f))
        || r.comm.as_deref().is_some_and(|c| c.starts_with("kswapd"))
}

/// A report's time as a phrase.
pub fn when(r: &Report) -> String {
    match (&r.first_seen.wall, r.first_seen.monotonic.or(r.time.monotonic)) {
        (Some(w), _) => w.clone(),
        (None, Some(m)) => format!("{m:.6} s after boot"),
        (None, None) => "time unknown".into(),
    }
}

/// A report's task as a phrase.
pub fn task(r: &Report) -> Option<String> {
    let c = r.comm.as_deref()?;
    Some(match r.pid {
        Some(p) => format!("{c} (pid {p})"),
        None => c.to_string(),
    })
}

/// Conclusions for a case, ranked (severity, then score).
pub fn conclude(case: &Case, findings: &[Finding]) -> Vec<Conclusion> {
    let facts = Facts::new(case, findings);
    let mut out: Vec<Conclusion> = Vec::new();
    for r in RULES.iter().filter(|r| r.stage == Stage::Primary) {
        (r.run)(&facts, &mut out);
    }
    for r in RULES.iter().filter(|r| r.stage == Stage::Context) {
        (r.run)(&facts, &mut out);
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.score.total_cmp(&a.score)));
    out
}

/// True when a conclusion drawn so far already covers any of `keys`.
pub fn covered(out: &[Conclusion], keys: &[String]) -> bool {
    out.iter().any(|c| c.covers_any(keys))
}

#[cfg(test)]
pub(crate) mod tests;
