//! Rule `alloc.high_order_failure`: the high-order page allocation failures of one call path,
//! joined across every log given (each copy with its task and file), with the free lists of the
//! time (the report's own Mem-Info, or a buddyinfo given beside it) and what the GFP mode allows.
//!
//! The kernel behaviour it encodes:
//! - an allocation of order N needs one free block of 2^N contiguous pages; free memory in smaller
//!   blocks does not serve it (fragmentation), and only reclaim and compaction can make one;
//! - a request without direct reclaim (GFP_ATOMIC, GFP_NOWAIT: interrupt and softirq context, or
//!   under a spinlock) can neither reclaim nor compact, so it fails as soon as no block of its
//!   order lies above the reserve; on kernels before 4.6 the mode is printed as a bare hex mask,
//!   and a mask with neither `__GFP_WAIT` (0x10, before 4.4) nor `__GFP_DIRECT_RECLAIM` (0x400000,
//!   4.4 and 4.5) cannot reclaim under either layout;
//! - the same stack failing in several unrelated tasks (the idle task `swapper`, `kswapd0`,
//!   `ksoftirqd`) runs in interrupt context on whatever task it interrupted: the cause is the call
//!   path, not the task.
//!
//! Fires when a call path fails more than once or the free lists of the time are known; one
//! failure with neither is the log finding alone.

use super::{Conclusion, Confidence, Facts};
use memdx_core::units::{kib, SatSum};
use memdx_core::Severity;
use memdx_log::{Kind, Report};

pub const NAME: &str = "alloc.high_order_failure";

/// Tasks in which an allocation runs only as the interrupted context: the idle task, and the
/// softirq daemon (which runs the softirqs deferred from interrupts).
const INTERRUPTED: &[&str] = &["swapper", "ksoftirqd"];

/// GFP flag names (decoded, 4.6+) that include direct reclaim.
const RECLAIMING: &[&str] = &[
    "__GFP_DIRECT_RECLAIM",
    "GFP_KERNEL",
    "GFP_KERNEL_ACCOUNT",
    "GFP_USER",
    "GFP_HIGHUSER",
    "GFP_HIGHUSER_MOVABLE",
    "GFP_NOFS",
    "GFP_NOIO",
    "GFP_TRANSHUGE",
];

/// Whether the mode allows direct reclaim: `Some(false)` when it certainly does not.
fn can_reclaim(r: &Report) -> Option<bool> {
    let m = r.mem.as_ref()?;
    if !m.gfp_flags.is_empty() {
        return Some(m.gfp_flags.iter().any(|f| RECLAIMING.contains(&f.as_str())));
    }
    let hex = m.gfp_mask.as_deref()?.trim().trim_start_matches("0x");
    let mask = u64::from_str_radix(hex.split(|c: char| !c.is_ascii_hexdigit()).next()?, 16).ok()?;
    // Bare masks are printed before 4.6: __GFP_WAIT 0x10 (up to 4.3), __GFP_DIRECT_RECLAIM 0x400000
    // (4.4, 4.5). Without either bit the request cannot reclaim in either layout.
    if mask & 0x10 == 0 && mask & 0x40_0000 == 0 {
        Some(false)
    } else {
        None
    }
}

fn interrupted(comm: &str) -> bool {
    INTERRUPTED.iter().any(|p| comm.starts_with(p))
}

/// One copy of a failure: the report, the file it was read from.
struct Seen<'a> {
    r: &'a Report,
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let case = facts.case;
    // Every copy in every log, grouped by signature (order and call path).
    let mut groups: Vec<(String, Vec<Seen>)> = Vec::new();
    for log in &case.logs {
        for r in log.reports.iter().filter(|r| r.kind == Kind::AllocFailure) {
            if r.mem.as_ref().and_then(|m| m.order).unwrap_or(0) == 0 {
                continue;
            }
            match groups.iter_mut().find(|(s, _)| *s == r.signature) {
                Some((_, v)) => v.push(Seen { r }),
                None => groups.push((r.signature.clone(), vec![Seen { r }])),
            }
        }
    }
    for (sig, copies) in groups {
        let key = format!("report:{sig}");
        if super::covered(out, std::slice::from_ref(&key)) {
            continue;
        }
        let first = copies[0].r;
        let order = first.mem.as_ref().and_then(|m| m.order).unwrap_or(0);
        let block_kb = 1u64.checked_shl(order).map_or(u64::MAX, |p| p.saturating_mul(4));
        let total: u64 = copies.iter().map(|c| c.r.count.max(1)).sat_sum();
        let mut tasks: Vec<&str> = Vec::new();
        for c in &copies {
            if let Some(t) = c.r.comm.as_deref() {
                if !tasks.contains(&t) {
                    tasks.push(t);
                }
            }
        }
        let files: Vec<&str> = {
            let mut v: Vec<&str> = Vec::new();
            for c in &copies {
                if !v.contains(&&*c.r.source.file) {
                    v.push(&c.r.source.file);
                }
            }
            v
        };
        // The free lists of the time: a report's Mem-Info first, else a buddyinfo given beside it.
        let zones = copies.iter().find_map(|c| {
            c.r.mem.as_ref().filter(|m| m.zones.iter().any(|z| !z.free_blocks.is_empty())).map(|m| (c.r, m))
        });
        let buddy = case.buddyinfo.as_ref();
        if total < 2 && zones.is_none() && buddy.is_none() {
            continue;
        }
        // The stack from the guilty frame down (the frames above it are the allocator's reporting).
        let start = first
            .guilty_frame
            .as_ref()
            .and_then(|g| first.frames.iter().position(|f| &f.func == g))
            .unwrap_or(0);
        let stack: Vec<&str> =
            first.frames.iter().skip(start).filter(|f| f.reliable).map(|f| f.func.as_str()).take(4).collect();
        let path = if stack.is_empty() { first.title.clone() } else { stack.join(" <- ") };
        let reclaim = copies.iter().find_map(|c| can_reclaim(c.r));
        // In the idle task (or ksoftirqd) only interrupt work allocates; an atomic request on one stack
        // in several unrelated tasks is the same code run wherever it lands.
        let irq = tasks.iter().any(|t| interrupted(t));
        let shared = !irq && tasks.len() > 1 && reclaim == Some(false);
        let mut c = Conclusion::new(NAME, Severity::Warning, String::new());
        let mut cause = format!(
            "Order-{order} allocations ({} physically contiguous) in {path} fail{}",
            kib(block_kb),
            if total > 1 {
                format!(
                    " again and again: {total} reports{}{}",
                    if files.len() > 1 { format!(" in {} inputs", files.len()) } else { String::new() },
                    if tasks.is_empty() { String::new() } else { format!(", in {}", tasks.join(" and ")) }
                )
            } else {
                String::new()
            }
        );
        cause.push('.');
        for cp in &copies {
            let r = cp.r;
            c.link(
                format!(
                    "{}: {}{}{}",
                    super::when(r),
                    r.header.trim(),
                    r.comm.as_deref().map(|t| format!(" (task {t})")).unwrap_or_default(),
                    if r.count > 1 { format!(", {} times", r.count) } else { String::new() }
                ),
                Some(&format!(
                    "log.{}",
                    r.explanation.as_ref().map_or("alloc.failure", |e| e.class.as_str())
                )),
                Some(r.source.clone()),
            );
        }
        if shared {
            cause.push_str(&format!(
                " The same stack fails in {}: the allocating code runs in whichever task reaches it; the task is \
                 not the cause, the call path is.",
                tasks.join(" and ")
            ));
        }
        if irq {
            cause.push_str(&format!(
                " It fails in {}: {} is the idle task (or the softirq daemon), so the allocation runs in interrupt \
                 or softirq context on whatever task it interrupted; the task is not the cause, the call path is.",
                tasks.join(" and "),
                tasks.iter().find(|t| interrupted(t)).copied().unwrap_or("swapper")
            ));
        }
        match reclaim {
            Some(false) => {
                let mode = first.mem.as_ref().and_then(|m| m.gfp_mask.clone()).unwrap_or_default();
                cause.push_str(&format!(
                    " Its mode {mode} has no direct reclaim (atomic): it can neither reclaim nor compact, so it fails \
                     as soon as no free block of order {order} lies above the reserve."
                ));
                c.link(
                    format!("mode {mode}: no __GFP_WAIT / __GFP_DIRECT_RECLAIM bit, an atomic request"),
                    Some("log.alloc.failure"),
                    Some(first.source.clone()),
                );
            }
            Some(true) => {
                cause.push_str(" Its mode allows reclaim and compaction, and they did not produce a block.")
            }
            None => {}
        }
        // Fragmentation or shortage, from the free lists of the time.
        let mut state = None;
        if let Some((r, m)) = zones {
            let frag: Vec<String> = m
                .zones
                .iter()
                .filter(|z| !z.free_blocks.is_empty())
                .map(|z| {
                    let big: u64 = z.free_blocks.iter().skip(order as usize).sat_sum();
                    let free_kb = z.free_kb.unwrap_or(0);
                    format!("zone {} {} free, {big} blocks of order {order} or above", z.zone, kib(free_kb))
                })
                .collect();
            let none_big = m
                .zones
                .iter()
                .filter(|z| !z.free_blocks.is_empty())
                .all(|z| z.free_blocks.iter().skip(order as usize).sat_sum() == 0);
            let free: u64 = m.zones.iter().filter_map(|z| z.free_kb).sat_sum();
            c.link(
                format!("the report's free lists: {}", frag.join("; ")),
                Some("log.alloc.failure"),
                Some(r.source.clone()),
            );
            state = Some((none_big, free, "the report's Mem-Info"));
        } else if let Some(b) = buddy {
            let page_kb = case.page_kb();
            let big: u64 = b.zones.iter().map(|z| z.free.iter().skip(order as usize).sat_sum()).sat_sum();
            let free: u64 = b.zones.iter().map(|z| z.free_pages()).sat_sum().saturating_mul(page_kb);
            c.link(
                format!(
                    "buddyinfo given (capture time not known): {} free, {big} blocks of order {order} or above",
                    kib(free)
                ),
                Some("buddyinfo"),
                Some(b.source.clone()),
            );
            state = Some((big == 0, free, "the buddyinfo given (taken at a time not known)"));
        }
        match state {
            Some((true, free, from)) if free > 0 => {
                cause.push_str(&format!(
                    " {} shows {} free but no block of order {order} or above: fragmentation, not a shortage of \
                     memory.",
                    capital(from),
                    kib(free)
                ));
                c.ruled_out.push(super::RuledOut {
                    what: "a shortage of memory".into(),
                    because: format!(
                        "{} free in {from}, only in blocks smaller than order {order}",
                        kib(free)
                    ),
                    source: None,
                });
            }
            Some((false, free, from)) => cause.push_str(&format!(
                " {} shows {} free with blocks of order {order} or above: the request failed on the reserve \
                 (watermark), not for want of a block.",
                capital(from),
                kib(free)
            )),
            _ => c.unknown(
                "whether free memory was fragmented or short when it failed (free blocks per order)",
                "cat /proc/buddyinfo while it happens, or the Mem-Info lines after the report (dmesg)",
            ),
        }
        cause.push_str(&format!(
            " Fix the call path: allocate order-0 pages (smaller buffers, kvmalloc, page fragments) instead of {}-blocks\
             {}.",
            kib(block_kb),
            if reclaim == Some(false) {
                ", or keep a larger atomic reserve (vm.min_free_kbytes) so such requests find a block"
            } else {
                ", or let compaction keep up (vm.compaction_proactiveness, vm.extfrag_threshold)"
            }
        ));
        c.cause = cause;
        let joined = total > 1 && (irq || shared || reclaim == Some(false) || state.is_some());
        // Free lists from the report itself are of the moment it failed; a buddyinfo given beside it is not.
        let of_the_moment = zones.is_some() && state.is_some_and(|s| s.0);
        c.confidence = if joined || of_the_moment { Confidence::High } else { Confidence::Medium };
        c.confidence_why = match (total > 1, state.is_some(), zones.is_some()) {
            (true, true, _) => "the same call path fails repeatedly and free lists are given".into(),
            (true, false, _) => {
                "the same call path fails repeatedly; the free lists of the time are not in the inputs".into()
            }
            (false, _, true) => "one failure, with the free lists the report printed at that moment".into(),
            (false, _, false) => "one failure, and a buddyinfo taken at a time not known".into(),
        };
        for s in copies.iter().flat_map(|c| c.r.explanation.iter().flat_map(|e| e.next_steps.iter())) {
            if !c.next_steps.contains(s) {
                c.next_steps.push(s.clone());
            }
        }
        c.covers = vec![key];
        c.score = 1e3 + total as f64;
        out.push(c);
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
