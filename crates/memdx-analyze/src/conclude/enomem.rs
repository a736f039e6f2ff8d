//! Rule `enomem.against_memory`: a program's ENOMEM (strace, its own error message) joined with the
//! machine's memory and the overcommit policy, to tell a refusal from a shortage.
//!
//! The kernel behaviour it encodes:
//! - address space requests (mmap, mremap, brk) are charged to commit accounting
//!   (`__vm_enough_memory`): under the default heuristic policy (vm.overcommit_memory 0), since 5.2
//!   (commit 8c7829b04c52, "mm: fix false-positive OVERCOMMIT_GUESS failures") one request is refused
//!   when it is larger than total RAM + swap, however little is in use; in mode 2 when Committed_AS
//!   plus the request exceeds CommitLimit; mode 1 never refuses;
//! - any other ENOMEM with most of memory available is not a shortage: the kernel refused a
//!   physically contiguous (high-order) allocation on fragmented memory, or a limit (memory cgroup,
//!   RLIMIT) was reached.

use super::{Conclusion, Confidence, Facts, RuledOut};
use memdx_core::kver::KernelVersion;
use memdx_core::units::{bytes, kib};
use memdx_core::{Severity, SourceRef};
use memdx_parse::messages::MessageKind;

pub const NAME: &str = "enomem.against_memory";

/// Calls whose ENOMEM comes from commit accounting or the address space.
const ADDRESS_SPACE: &[&str] = &["mmap", "mmap2", "mremap", "brk"];
/// Available memory above this share of RAM is not a shortage.
const NOT_SHORT_PCT: f64 = 10.0;

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let case = facts.case;
    let Some(enomem) = facts.finding("userspace.enomem") else { return };
    // A kernel OOM or allocation failure report says more than the program's error: other rules
    // conclude on it.
    if facts.reports.iter().any(|r| matches!(r.r.kind, memdx_log::Kind::Oom | memdx_log::Kind::AllocFailure))
    {
        return;
    }
    let msgs: Vec<(&SourceRef, &MessageKind)> = case
        .messages
        .iter()
        .filter(|(_, m)| matches!(m.kind, MessageKind::SyscallEnomem { .. } | MessageKind::RuntimeOom))
        .map(|(s, m)| (s, &m.kind))
        .collect();
    let Some(&(src, first)) = msgs.first() else { return };
    let sized = msgs.iter().find_map(|(s, k)| match k {
        MessageKind::SyscallEnomem { call, size: Some(sz) } if ADDRESS_SPACE.contains(&call.as_str()) => {
            Some((*s, call.as_str(), *sz))
        }
        _ => None,
    });
    let m = case.meminfo.as_ref();
    let sysctl = case.sysctl.as_ref();
    let mode = sysctl.and_then(|s| s.int("vm.overcommit_memory"));
    let mode_src = sysctl.and_then(|s| s.at("vm.overcommit_memory"));
    let version = case.version();
    let mut c = Conclusion::new(NAME, Severity::Warning, String::new());
    let call_text = |k: &MessageKind| match k {
        MessageKind::SyscallEnomem { call, size: Some(s) } => {
            format!("{call}() of {} failed with ENOMEM", bytes(*s))
        }
        MessageKind::SyscallEnomem { call, size: None } => format!("{call}() failed with ENOMEM"),
        _ => "the program reported that memory could not be allocated".into(),
    };

    if let Some((s, call, size)) = sized {
        c.link(
            call_text(&MessageKind::SyscallEnomem { call: call.into(), size: Some(size) }),
            Some(&enomem.id),
            Some(s.clone()),
        );
        let ram_swap =
            m.and_then(|m| Some((m.kb("MemTotal")?, m.kb("SwapTotal").unwrap_or(0), m.at("MemTotal"))));
        let heuristic_ram_swap = version.is_none_or(|v| v >= KernelVersion::new(5, 2, 0));
        if let (Some(k), Some(v)) = (&case.kernel, version) {
            c.link(
                format!(
                    "kernel {v}: {}",
                    if heuristic_ram_swap {
                        "the heuristic overcommit check refuses one request larger than total RAM + swap (since 5.2)"
                    } else {
                        "before 5.2 the heuristic check counts free memory, page cache and swap, not total RAM"
                    }
                ),
                Some("kernel"),
                Some(k.source.clone()),
            );
        }
        match mode {
            Some(1) => {
                c.ruled_out.push(RuledOut {
                    what: "the overcommit policy".into(),
                    because: "vm.overcommit_memory = 1 (always): commit accounting never refuses".into(),
                    source: mode_src.clone(),
                });
                c.cause = format!(
                    "{call}() of {} was refused although overcommit never refuses here: the process hit RLIMIT_AS or \
                     RLIMIT_DATA, a memory cgroup limit, or its address space has no hole that large.",
                    bytes(size)
                );
                c.confidence = Confidence::Low;
                c.confidence_why =
                    "the policy rules the commit check out; what did refuse is not in the inputs".into();
                c.unknown("the process limits", "ulimit -a (prlimit --pid PID)");
            }
            Some(2) => {
                let commit =
                    m.and_then(|m| Some((m.kb("Committed_AS")?, m.kb("CommitLimit")?, m.at("CommitLimit"))));
                c.cause = match commit {
                    Some((used, limit, _)) => format!(
                        "Strict overcommit (vm.overcommit_memory = 2) refused {call}() of {}: Committed_AS {} plus the \
                         request exceeds CommitLimit {}. Raise vm.overcommit_ratio (or add swap), or reserve address \
                         space with PROT_NONE and commit it in smaller pieces.",
                        bytes(size),
                        kib(used),
                        kib(limit)
                    ),
                    None => format!(
                        "Strict overcommit (vm.overcommit_memory = 2) refused {call}() of {}: the request does not fit \
                         under CommitLimit.",
                        bytes(size)
                    ),
                };
                let known = commit.is_some();
                if let Some((used, limit, s)) = commit {
                    c.link(
                        format!("Committed_AS {} of CommitLimit {}", kib(used), kib(limit)),
                        Some("meminfo"),
                        s,
                    );
                } else {
                    c.unknown("Committed_AS and CommitLimit", "grep -i commit /proc/meminfo");
                }
                c.confidence = if known { Confidence::High } else { Confidence::Medium };
                c.confidence_why = "the policy enforces CommitLimit, and the request is charged to it".into();
            }
            _ => {
                let policy = match mode {
                    Some(m) => format!("vm.overcommit_memory = {m} (heuristic)"),
                    None => {
                        "the default heuristic overcommit policy (vm.overcommit_memory 0; not given)".into()
                    }
                };
                if let Some(p) = &mode_src {
                    c.link(policy.clone(), Some("sysctl"), Some(p.clone()));
                }
                match ram_swap {
                    Some((ram, swap, s)) if heuristic_ram_swap && size / 1024 > ram.saturating_add(swap) => {
                        c.link(
                            format!(
                                "RAM {} + swap {} = {}, less than the request",
                                kib(ram),
                                kib(swap),
                                kib(ram.saturating_add(swap))
                            ),
                            Some("meminfo"),
                            s,
                        );
                        c.cause = format!(
                            "{call}() of {} was refused by {policy}: one request larger than total RAM + swap ({}) \
                             fails at once, however little memory is in use. Reserve the range with PROT_NONE (or \
                             MAP_NORESERVE) and commit it in smaller pieces, or ask for less.",
                            bytes(size),
                            kib(ram.saturating_add(swap))
                        );
                        c.confidence = if mode.is_some() { Confidence::High } else { Confidence::Medium };
                        c.confidence_why = if mode.is_some() {
                            "the request, the machine's RAM + swap and the policy are all given".into()
                        } else {
                            "the request is larger than RAM + swap; the policy is assumed to be the default"
                                .into()
                        };
                    }
                    Some((ram, swap, s)) if heuristic_ram_swap => {
                        c.ruled_out.push(RuledOut {
                            what: "the heuristic overcommit check".into(),
                            because: format!(
                                "the request ({}) is smaller than RAM + swap ({})",
                                bytes(size),
                                kib(ram.saturating_add(swap))
                            ),
                            source: s,
                        });
                        c.cause = format!(
                            "{call}() of {} fits under RAM + swap, so the heuristic overcommit check did not refuse it: \
                             the process hit RLIMIT_AS or RLIMIT_DATA, a memory cgroup limit, or its address space has \
                             no hole that large.",
                            bytes(size)
                        );
                        c.confidence = Confidence::Low;
                        c.confidence_why =
                            "the commit check is ruled out; what did refuse is not in the inputs".into();
                        c.unknown("the process limits", "ulimit -a (prlimit --pid PID)");
                    }
                    _ => {
                        c.cause = format!(
                            "{call}() of {} failed with ENOMEM under {policy}: the kernel refuses one request larger \
                             than total RAM + swap at once, so on a machine with less than {} of RAM + swap this \
                             request can never succeed. Reserve the range with PROT_NONE (or MAP_NORESERVE) and commit \
                             it in smaller pieces.",
                            bytes(size),
                            bytes(size)
                        );
                        c.confidence = Confidence::Low;
                        c.confidence_why =
                            "the machine's RAM and swap are not given to compare with the request".into();
                        c.unknown("the machine's RAM and swap", "grep -E 'MemTotal|SwapTotal' /proc/meminfo");
                    }
                }
                if mode.is_none() {
                    c.unknown("the overcommit policy", "sysctl vm.overcommit_memory vm.overcommit_ratio");
                }
            }
        }
    } else {
        // Not an address space request: compare with what was available.
        let Some(m) = m else { return };
        let (Some(total), Some(avail)) = (m.kb("MemTotal"), m.kb("MemAvailable")) else { return };
        let pct = memdx_core::units::pct(avail, total);
        c.link(call_text(first), Some(&enomem.id), Some(src.clone()));
        c.link(
            format!("MemAvailable {} of MemTotal {} ({pct:.0}%)", kib(avail), kib(total)),
            Some("meminfo"),
            m.at("MemAvailable"),
        );
        if pct < NOT_SHORT_PCT {
            c.cause = format!(
                "Memory was short when the program got ENOMEM: only {} ({pct:.0}%) was available. Find what holds the \
                 memory (the largest processes, slab, page cache that cannot be dropped).",
                kib(avail)
            );
            c.confidence = Confidence::Medium;
            c.confidence_why = "the meminfo may not be of the moment of the error".into();
        } else {
            let frag: Vec<_> =
                facts.findings.iter().filter(|f| f.id == "fragmentation.high_order_unavailable").collect();
            for f in &frag {
                c.link(f.title.clone(), Some(&f.id), f.evidence.iter().find_map(|e| e.source.clone()));
            }
            c.cause = format!(
                "The kernel refused an allocation while {} ({pct:.0}% of RAM) was available: not a shortage of memory. \
                 With that much available, ENOMEM comes from an allocation that needs physically contiguous pages (a \
                 high-order kmalloc or page allocation failing on fragmented memory){}, or from a limit (memory cgroup, \
                 RLIMIT). Look for the kernel's `page allocation failure: order:N` line to tell which.",
                kib(avail),
                if frag.is_empty() { "" } else { ", which the free lists show" }
            );
            c.confidence = if frag.is_empty() { Confidence::Medium } else { Confidence::High };
            c.confidence_why = if frag.is_empty() {
                "plenty was available, so the refusal is not a shortage; which allocation failed is not in the inputs"
                    .into()
            } else {
                "plenty was available and the free lists hold no large contiguous blocks".into()
            };
            if frag.is_empty() {
                c.unknown("whether memory was fragmented (free blocks per order)", "cat /proc/buddyinfo");
            }
            c.unknown(
                "the kernel allocation that failed and its order",
                "dmesg | grep -A20 'page allocation failure'",
            );
            if let Some(o) = facts.finding("overcommit.limit_not_enforced") {
                c.ruled_out.push(RuledOut {
                    what: format!("overcommit: {}", o.title.split(';').next().unwrap_or(&o.title)),
                    because: "CommitLimit is enforced only in mode 2, and only address space requests are charged to it"
                        .into(),
                    source: o.evidence.iter().find_map(|e| e.source.clone()),
                });
            }
        }
    }
    c.next_steps.extend(enomem.next_steps.iter().cloned());
    c.covers = vec![enomem.id.clone()];
    c.score = 1e4;
    out.push(c);
}
