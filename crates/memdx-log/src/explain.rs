//! Explanations for memory reports: slab crashes, OOM kills and allocation failures.

use crate::model::*;
use crate::roles::{self, Role};
use memdx_core::units::kib;
use memdx_core::units::SatSum;

/// What a report body says about the object concerned, for the explanation: the slab cache
/// (KASAN `which belongs to the cache kmalloc-128 of size 128`, KFENCE `cache=kmalloc-32`) and
/// facts worth quoting (object size, offset of the access, bad bytes, allocation site). The body
/// parser fills it as it reads the report.
#[derive(Debug, Default)]
pub struct ObjectFacts {
    pub cache: Option<String>,
    pub facts: Vec<Fact>,
}

pub fn explain(r: &Report, body: &ObjectFacts) -> Option<Explanation> {
    match r.kind {
        Kind::Oom => Some(oom(r)),
        Kind::AllocFailure => Some(alloc_failure(r)),
        Kind::Kmemleak => Some(kmemleak(r, body)),
        Kind::HungTask => hung_task(r),
        Kind::Unknown => headerless_sleeper(r).or_else(|| slab(r, body)),
        Kind::Kasan => match non_slab_kasan(r) {
            Some(e) => Some(e),
            None => slab(r, body),
        },
        _ => slab(r, body),
    }
}

/// A blocked task: what it waits for and what it was doing ([`crate::hung`]).
fn hung_task(r: &Report) -> Option<Explanation> {
    let (summary, facts) =
        crate::hung::explain(&r.header, r.comm.as_deref(), &r.frames, crate::hung::Sleeper::Hung)?;
    Some(Explanation {
        class: Kind::HungTask.name().into(),
        summary,
        cache: None,
        facts,
        next_steps: vec![
            "echo w > /proc/sysrq-trigger  # the stacks of every blocked task: the holder of the lock or the I/O it waits on is among them".into(),
            "cat /proc/PID/stack; grep -E 'State|wchan' /proc/PID/status  # whether the task is still blocked, and where".into(),
        ],
    })
}

/// A stack cut from its report whose innermost frame is the scheduler's: what the task waits for.
fn headerless_sleeper(r: &Report) -> Option<Explanation> {
    let (summary, facts) =
        crate::hung::explain(&r.header, r.comm.as_deref(), &r.frames, crate::hung::Sleeper::Headerless)?;
    Some(Explanation {
        class: "sleeping_task".into(),
        summary,
        cache: None,
        facts,
        next_steps: vec![
            "the full log: the lines above this stack (`INFO: task ... blocked`, a sysrq-w dump, a soft lockup) say which task it is".into(),
            "echo w > /proc/sysrq-trigger  # the stacks of every blocked task now".into(),
        ],
    })
}

/// The first frames of a stack that are not allocator/reporting internals: `a < b < c`.
fn stack_summary(frames: &[Frame]) -> String {
    let v: Vec<&str> = frames
        .iter()
        .filter(|f| f.reliable && !roles::has_any(&f.func, roles::NEVER_GUILTY))
        .take(3)
        .map(|f| f.func.as_str())
        .collect();
    v.join(" < ")
}

/// KASAN bug types that are not about a slab object (`global-out-of-bounds`, `stack-out-of-bounds`,
/// `vmalloc-out-of-bounds`, `use-after-scope`, `wild-memory-access`, `null-ptr-deref`, ...).
fn non_slab_kasan(r: &Report) -> Option<Explanation> {
    let t = r.header.strip_prefix("BUG: KASAN: ")?.split(" in ").next()?.trim();
    const NON_SLAB: &[&str] =
        &["global-", "stack-", "alloca-", "vmalloc-", "use-after-scope", "wild-", "null-ptr", "user-memory"];
    if !NON_SLAB.iter().any(|p| t.starts_with(p)) {
        return None;
    }
    let class = format!("memory.{}", t.replace('-', "_"));
    let summary = format!(
        "KASAN found a {t} access in {}: the memory is not a slab object (a global, a stack variable, vmalloc space or a wild pointer).",
        r.guilty_frame.as_deref().unwrap_or("?")
    );
    let mut facts = Vec::new();
    if let Some(pc) = &r.pc {
        facts.push(fact("access in", pc.clone()));
    }
    Some(Explanation {
        class,
        summary,
        cache: None,
        facts,
        next_steps: vec!["read the faulting function at the reported offset (addr2line / faddr2line on vmlinux) and check the bounds of the buffer it indexes".to_string()],
    })
}

fn kmemleak(r: &Report, body: &ObjectFacts) -> Explanation {
    let size = body.facts.iter().find(|f| f.label == "object size").map(|f| f.value.as_str());
    let mut summary = match size {
        Some(s) => format!("kmemleak found an unreferenced object of {s} allocated"),
        None => "kmemleak found an unreferenced object allocated".to_string(),
    };
    if let Some(c) = &r.comm {
        summary.push_str(&format!(" by {c}"));
        if let Some(p) = r.pid {
            summary.push_str(&format!(" (pid {p})"));
        }
    }
    summary.push_str(&format!(
        " in {}: no pointer to it was found in memory, so it is probably leaked (or referenced only from places kmemleak does not scan).",
        r.guilty_frame.as_deref().unwrap_or("?")
    ));
    let mut facts = body.facts.clone();
    let stack = stack_summary(&r.frames);
    if !stack.is_empty() {
        facts.push(fact("allocated at", stack));
    }
    Explanation {
        class: "leak.kmemleak".into(),
        summary,
        cache: None,
        facts,
        next_steps: vec![
            "echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak: a leak reported again after more scans is real".to_string(),
            "check the error and teardown paths of the allocating function for a missing kfree()/kmem_cache_free()".to_string(),
        ],
    }
}

fn fact(label: &str, value: impl Into<String>) -> Fact {
    Fact { label: label.to_string(), value: value.into() }
}

fn slab(r: &Report, body: &ObjectFacts) -> Option<Explanation> {
    let pc_func = r.pc.as_deref().map(|p| p.split('+').next().unwrap_or(p)).unwrap_or("");
    let top: Vec<&str> = r.frames.iter().filter(|f| f.reliable).take(8).map(|f| f.func.as_str()).collect();
    let in_free = roles::is(pc_func, Role::Free) || top.iter().take(4).any(|f| roles::is(f, Role::Free));
    let in_alloc = roles::is(pc_func, Role::Alloc) || top.iter().take(4).any(|f| roles::is(f, Role::Alloc));
    let header = r.header.as_str();
    let lower = header.to_ascii_lowercase();
    let freed_stack = r.aux_stacks.iter().any(|a| a.label.to_ascii_lowercase().starts_with("freed "));
    let (class, what) = if r.kind == Kind::SlubDebug || r.kind == Kind::Kasan || r.kind == Kind::Kfence {
        if r.kind == Kind::Kfence && lower.contains("invalid free") && !freed_stack {
            (
                "slab.invalid_free",
                "an invalid free: a pointer that is not the start of a live object was freed",
            )
        } else if r.kind == Kind::Kfence && lower.contains("memory corruption") {
            ("slab.out_of_bounds", "an out-of-bounds write: bytes next to the object (on the side without a guard page) were overwritten, found when the object was freed")
        } else if r.kind == Kind::Kfence
            && (lower.contains("invalid read") || lower.contains("invalid write"))
        {
            ("slab.invalid_access", "an access to a KFENCE guard page with no object next to it: a wild or far out-of-bounds pointer")
        } else if lower.contains("already free")
            || lower.contains("invalid free")
            || lower.contains("double-free")
            || lower.contains("double free")
            || lower.contains("invalid-free")
        {
            ("slab.double_free", "a double free: the object was freed while already free")
        } else if lower.contains("poison overwritten") || lower.contains("use-after-free") {
            ("slab.use_after_free", "a use-after-free: the object was used after it was freed")
        } else if lower.contains("redzone") || lower.contains("out-of-bounds") {
            ("slab.out_of_bounds", "an out-of-bounds access past the end (or before the start) of the object")
        } else if lower.contains("freepointer corrupt") || lower.contains("freelist") {
            ("slab.freelist_corruption", "a corrupted free-list pointer: a write to a freed object (use-after-free) or an overflow from its neighbour")
        } else if lower.contains("wrong slab cache") {
            ("slab.wrong_cache", "an object freed to a cache it was not allocated from")
        } else {
            ("slab.corruption", "slab memory corruption")
        }
    } else if in_free
        && matches!(r.kind, Kind::Oops | Kind::Unknown | Kind::CrashBt | Kind::KernelBug | Kind::Bug)
    {
        ("slab.double_free", "a probable double free: the free path crashed reading the slab metadata of the object's page (page->slab_cache was NULL or garbage), which happens when the object, and then its whole slab page, was already freed; a free of a pointer that never came from this cache gives the same crash")
    } else if in_alloc && matches!(r.kind, Kind::Oops | Kind::Unknown | Kind::CrashBt) {
        ("slab.freelist_corruption", "a corrupted slab free list: the allocator followed a free pointer that had been overwritten, typically by a use-after-free write to an object that was already freed")
    } else if lower.contains("wrong slab cache") {
        ("slab.wrong_cache", "an object freed to a cache it was not allocated from")
    } else {
        return None;
    };
    // The cache: from the slub_debug header, or from the free callback that called the allocator.
    let mut cache = None;
    let mut via = None;
    if r.kind == Kind::SlubDebug {
        if let Some(rest) = header.strip_prefix("BUG ") {
            cache = rest.split(' ').next().map(|c| c.trim_end_matches(':').to_string());
        }
    }
    if cache.is_none() {
        cache = body.cache.clone();
    }
    if cache.is_none() {
        for f in r.frames.iter().filter(|f| f.reliable) {
            if let Some(c) = roles::cache_of_callback(&f.func) {
                cache = Some(c.to_string());
                via = Some(f.func.clone());
                break;
            }
        }
    }
    let mut facts = Vec::new();
    if !pc_func.is_empty() {
        facts.push(fact("crashed in", r.pc.clone().unwrap_or_default()));
    }
    if let Some(v) = &via {
        facts.push(fact("freed by", format!("{v} (frees to {})", cache.as_deref().unwrap_or("?"))));
    }
    facts.extend(body.facts.iter().cloned());
    for a in &r.aux_stacks {
        let s = stack_summary(&a.frames);
        if !s.is_empty() {
            facts.push(fact(&a.label, s));
        }
    }
    let rcu = r.frames.iter().any(|f| {
        f.func.starts_with("rcu_do_batch")
            || f.func.starts_with("rcu_process_callbacks")
            || f.func.starts_with("rcu_core")
    });
    if rcu {
        facts.push(fact("context", "RCU callback (softirq): the free was queued by call_rcu() earlier, so the caller that queued it is not on this stack"));
    }
    let mut summary = format!("Slab crash classified as {what}.");
    if let Some(c) = &cache {
        summary.push_str(&format!(" The object belongs to the `{c}` cache"));
        if let Some(v) = &via {
            summary.push_str(&format!(" (`{v}` frees to `{c}`)"));
        }
        summary.push('.');
    }
    let target = cache.clone().unwrap_or_else(|| "<cache>".to_string());
    let mut next = vec![format!("boot with slub_debug=FZPU,{target} to catch the first bad free or write with both stacks (add T to trace every alloc/free)")];
    if rcu {
        next.push("the second free is queued through call_rcu(): look for paths that free the same object twice (e.g. an inode evicted twice), and review recent fixes to the filesystem or driver that owns the cache".to_string());
    }
    next.push("if it reproduces, a KASAN kernel (CONFIG_KASAN=y) reports the allocation and free stacks of the object".to_string());
    Some(Explanation { class: class.to_string(), summary, cache, facts, next_steps: next })
}

fn pages_kb(pages: u64, page_kb: u64) -> String {
    kib(pages.saturating_mul(page_kb))
}

/// Zones in kernel index order (`enum zone_type`, include/linux/mmzone.h); which of them exist
/// depends on the architecture and the config.
const ZONE_ORDER: &[&str] = &["DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"];

fn zone_rank(name: &str) -> Option<usize> {
    ZONE_ORDER.iter().position(|z| *z == name)
}

/// The highest zone a request may use, as `gfp_zone()` picks it from the decoded GFP flags.
fn request_zone(flags: &[String]) -> Option<&'static str> {
    if flags.is_empty() {
        return None;
    }
    let has = |f: &str| flags.iter().any(|x| x == f);
    Some(if has("GFP_DMA") || has("__GFP_DMA") {
        "DMA"
    } else if has("GFP_DMA32") || has("__GFP_DMA32") {
        "DMA32"
    } else if has("GFP_HIGHUSER_MOVABLE")
        || has("GFP_TRANSHUGE")
        || has("GFP_TRANSHUGE_LIGHT")
        || has("__GFP_HIGHMEM") && has("__GFP_MOVABLE")
    {
        "Movable"
    } else if has("GFP_HIGHUSER") || has("__GFP_HIGHMEM") {
        "HighMem"
    } else {
        "Normal"
    })
}

/// Pages of zone `z` held back from a request whose highest zone is `req`:
/// `z->lowmem_reserve[zone index of req]`. The array is indexed by zone index, which is not
/// printed: above the highest zone the node prints (the highest populated one) the reserve stops
/// growing, so the last entry applies; below it the index comes from the zone layout (64-bit:
/// DMA, DMA32, Normal, Movable, Device; 32-bit: DMA, Normal, HighMem, Movable, Device), keeping
/// only layouts whose length matches the array. None when it cannot be told.
fn reserve_pages(z: &ZoneState, zones: &[ZoneState], req: &str) -> Option<u64> {
    let rz = zone_rank(&z.zone)?;
    let rq = zone_rank(req)?;
    if rq <= rz {
        return Some(0);
    }
    let last = *z.lowmem_reserve.last()?;
    let top = zones.iter().filter(|o| o.node == z.node).filter_map(|o| zone_rank(&o.zone)).max()?;
    if rq > top {
        return Some(last);
    }
    let printed = |n: &str| zones.iter().any(|o| o.zone == n);
    let highmem = printed("HighMem");
    let mut layout: Vec<&str> = ZONE_ORDER
        .iter()
        .copied()
        .filter(|n| match *n {
            "HighMem" => highmem,
            "DMA32" => !highmem,
            _ => true,
        })
        .collect();
    for optional in ["Device", "DMA", "DMA32"] {
        if layout.len() > z.lowmem_reserve.len() && !printed(optional) {
            layout.retain(|n| *n != optional);
        }
    }
    if layout.len() != z.lowmem_reserve.len() {
        return None;
    }
    let i = layout.iter().position(|n| *n == req)?;
    z.lowmem_reserve.get(i).copied()
}

/// `free` and a watermark it is compared with, exact in KiB when rounding would print them equal
/// (`5.2 MiB below min 5.2 MiB` reads as a contradiction).
fn kib_pair(free: u64, mark: u64) -> (String, String) {
    let (f, m) = (kib(free), kib(mark));
    if f == m && free != mark {
        (format!("{free} KiB"), format!("{mark} KiB"))
    } else {
        (f, m)
    }
}

/// `, lowmem reserve 724 KiB for Movable requests, watermark boost 3.6 MiB included`.
fn reserve_and_boost(reserve_kb: u64, req: Option<&str>, boost_kb: Option<u64>) -> String {
    let mut s = String::new();
    if reserve_kb > 0 {
        s.push_str(&format!(", lowmem reserve {} for {} requests", kib(reserve_kb), req.unwrap_or("?")));
    }
    if let Some(b) = boost_kb.filter(|b| *b > 0) {
        s.push_str(&format!(", watermark boost {} included", kib(b)));
    }
    s
}

fn oom(r: &Report) -> Explanation {
    let empty = MemReport::default();
    let m = r.mem.as_ref().unwrap_or(&empty);
    // The builder decided the scope from the report's lines and stack (`MemReport::oom_scope`).
    let memcg = m.oom_scope == Some(OomScope::Memcg);
    let unknown = m.oom_scope == Some(OomScope::Unknown);
    let mut facts = Vec::new();
    let mut summary = String::new();
    let mut next = Vec::new();
    if let Some(o) = m.order {
        facts.push(fact("order", o.to_string()));
    }
    if !m.gfp_flags.is_empty() || m.gfp_mask.is_some() {
        facts.push(fact("gfp", format!("{} {}", m.gfp_mask.as_deref().unwrap_or(""), m.gfp_flags.join("|"))));
    }
    if memcg {
        let cg = m.oom_memcg.as_deref().unwrap_or("the cgroup");
        match &m.oom_memcg {
            Some(cg) => summary.push_str(&format!("Memory cgroup OOM: `{cg}` reached its limit")),
            None => summary
                .push_str("Memory cgroup OOM: a memory cgroup (not named in the excerpt) reached its limit"),
        }
        if let (Some(u), Some(l)) = (m.memcg_usage_kb, m.memcg_limit_kb) {
            summary.push_str(&format!(" (usage {} of limit {}", kib(u), kib(l)));
            if let Some(f) = m.memcg_failcnt {
                summary.push_str(&format!(", limit hit {f} times"));
            }
            summary.push(')');
            facts.push(fact("memcg usage", kib(u)));
            facts.push(fact("memcg limit", kib(l)));
        }
        summary.push_str("; the rest of the machine was not short of memory. ");
        if let Some((rss, cache)) = m.memcg_charged() {
            summary.push_str(&format!(
                "Charged: {} anonymous, {} page cache. ",
                memdx_core::units::bytes(rss),
                memdx_core::units::bytes(cache)
            ));
            facts.push(fact("memcg anon", memdx_core::units::bytes(rss)));
            facts.push(fact("memcg page cache", memdx_core::units::bytes(cache)));
        }
        next.push(format!("raise the limit of {cg} or find why its tasks grew (memory.stat, memory.max_usage_in_bytes / memory.peak)"));
    } else if unknown {
        summary.push_str(
            "OOM kill of unknown scope: the excerpt ends before the lines that say whether a memory cgroup \
             reached its limit or the whole machine ran out (the stack through mem_cgroup_out_of_memory, \
             `Task in /x killed as a result of limit of /y` before 4.19, `oom-kill:constraint=` since 4.19, \
             or the per-zone free memory of a global OOM). ",
        );
        next.push(
            "the whole report: dmesg | grep -A80 'invoked oom-killer' (the constraint line, the memcg or \
             per-zone lines and the kill)"
                .to_string(),
        );
    } else {
        summary.push_str("Global OOM: the whole machine ran out of reclaimable memory. ");
        let page_kb = m.zones.iter().find_map(|z| z.page_kb).unwrap_or(4);
        let req = request_zone(&m.gfp_flags);
        // Which zone was below which watermark, counting the lowmem reserve the zone keeps from
        // requests that may use higher zones (the allocator's check is free > mark + reserve).
        for z in &m.zones {
            let (Some(free), Some(min)) = (z.free_kb, z.min_kb) else { continue };
            if z.managed_kb == Some(0) {
                continue;
            }
            let reserve_kb =
                req.and_then(|q| reserve_pages(z, &m.zones, q)).unwrap_or(0).saturating_mul(page_kb);
            let below = |mark: u64| free < mark.saturating_add(reserve_kb);
            let mark = if below(min) {
                Some("min")
            } else if z.low_kb.is_some_and(below) {
                Some("low")
            } else if z.high_kb.is_some_and(below) {
                Some("high")
            } else {
                None
            };
            let plus = if reserve_kb > 0 { " + lowmem reserve" } else { "" };
            let level = match mark {
                Some(w) => format!("below {w}{plus}"),
                None => format!("above high{plus}"),
            };
            let (free_s, min_s) = kib_pair(free, min.saturating_add(reserve_kb));
            let (free_s, min_s) = if reserve_kb > 0 { (free_s, kib(min)) } else { (free_s, min_s) };
            facts.push(fact(
                &format!("Node {} {}", z.node, z.zone),
                format!(
                    "free {free_s} {level} (min {min_s}, low {}, high {}{})",
                    z.low_kb.map(kib).unwrap_or_default(),
                    z.high_kb.map(kib).unwrap_or_default(),
                    reserve_and_boost(reserve_kb, req, z.boost_kb)
                ),
            ));
            if let Some(w) = mark {
                let wm = match w {
                    "min" => Some(min),
                    "low" => z.low_kb,
                    _ => z.high_kb,
                }
                .unwrap_or(min);
                if reserve_kb > 0 {
                    summary.push_str(&format!(
                        "Node {} {} had {} free, below its {w} watermark {} plus the {} it keeps from {} requests. ",
                        z.node,
                        z.zone,
                        kib(free),
                        kib(wm),
                        kib(reserve_kb),
                        req.unwrap_or("?")
                    ));
                } else {
                    let (f, w_s) = kib_pair(free, wm);
                    summary.push_str(&format!(
                        "Node {} {} had {f} free, below its {w} watermark ({w_s}). ",
                        z.node, z.zone
                    ));
                }
            }
        }
        if let Some(o) = m.order.filter(|o| *o > 0) {
            let any_block = m.zones.iter().any(|z| z.free_blocks.iter().skip(o as usize).any(|n| *n > 0));
            let free_ok = m.zones.iter().any(|z| z.free_kb.zip(z.high_kb).is_some_and(|(f, h)| f > h));
            if !any_block && free_ok {
                summary.push_str(&format!("No free block of order >= {o} in any zone although free memory was above the high watermark: the failure is fragmentation, not lack of memory. "));
                next.push("fragmentation: check /proc/buddyinfo and /sys/kernel/debug/extfrag; trigger compaction (echo 1 > /proc/sys/vm/compact_memory) or make the caller use order-0/vmalloc".to_string());
            } else if !any_block {
                summary.push_str(&format!("No free block of order >= {o} was left. "));
            }
        }
        let anon =
            m.meminfo("active_anon").unwrap_or(0).saturating_add(m.meminfo("inactive_anon").unwrap_or(0));
        let file =
            m.meminfo("active_file").unwrap_or(0).saturating_add(m.meminfo("inactive_file").unwrap_or(0));
        let unrec = m.meminfo("slab_unreclaimable").unwrap_or(0);
        let shmem = m.meminfo("shmem").unwrap_or(0);
        if anon.saturating_add(unrec) > 0 {
            facts.push(fact("anon", pages_kb(anon, page_kb)));
            facts.push(fact("page cache", pages_kb(file, page_kb)));
            facts.push(fact("slab unreclaimable", pages_kb(unrec, page_kb)));
            facts.push(fact("shmem", pages_kb(shmem, page_kb)));
            if unrec > anon {
                summary.push_str(&format!("Unreclaimable slab ({}) exceeds user (anon) memory ({}): a kernel leak is the likely cause, not a user task. ", pages_kb(unrec, page_kb), pages_kb(anon, page_kb)));
                next.push(
                    "find the growing cache: slabtop -o -s c, /proc/slabinfo; memdx diagnose on a snapshot"
                        .to_string(),
                );
            } else {
                summary.push_str(&format!(
                    "User memory dominates: anon {}, unreclaimable slab {}. ",
                    pages_kb(anon, page_kb),
                    pages_kb(unrec, page_kb)
                ));
            }
        }
        if m.swap_total_kb == Some(0) {
            summary.push_str("No swap, so anonymous memory could not be reclaimed. ");
            facts.push(fact("swap", "none"));
        }
    }
    if let Some(v) = &m.victim {
        let rss = m.victim_anon_rss_kb.map(|a| format!(", anon-rss {}", kib(a))).unwrap_or_default();
        summary.push_str(&format!(
            "Killed {v} (pid {}{rss}).",
            m.victim_pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
        ));
        facts.push(fact("victim", format!("{v} pid {}", m.victim_pid.unwrap_or(0))));
    }
    if let Some(t) = &m.task_memcg {
        facts.push(fact("victim's cgroup", t.clone()));
    }
    facts.extend(oom_not_in_excerpt(m, memcg));
    let mut tasks: Vec<&OomTask> = m.tasks.iter().collect();
    tasks.sort_by(|a, b| b.rss_pages.cmp(&a.rss_pages).then(a.pid.cmp(&b.pid)));
    let page_kb = m.zones.iter().find_map(|z| z.page_kb).unwrap_or(4);
    for t in tasks.iter().take(3) {
        facts.push(fact(
            "largest task",
            format!("{} pid {} rss {}", t.name, t.pid, pages_kb(t.rss_pages, page_kb)),
        ));
    }
    next.push(if m.tasks.is_empty() {
        // The excerpt has no task table (`oom_not_in_excerpt` says so): nothing above to point at.
        "check which task grew: ps -eo pid,rss,comm --sort=-rss on the live system, then the largest one's /proc/<pid>/smaps_rollup"
            .to_string()
    } else {
        "check which task grew: the largest tasks above, and their /proc/<pid>/smaps_rollup on the live system"
            .to_string()
    });
    Explanation {
        class: if memcg {
            "oom.memcg".into()
        } else if unknown {
            "oom.unknown".into()
        } else {
            "oom.global".into()
        },
        summary: summary.trim().to_string(),
        cache: None,
        facts,
        next_steps: next,
    }
}

/// The parts of an OOM report missing from the excerpt, and what they would have told: a lone
/// `oom-kill:` or `Killed process` line is evidence, but not of the machine's state.
fn oom_not_in_excerpt(m: &MemReport, memcg: bool) -> Option<Fact> {
    let mut missing = Vec::new();
    if m.gfp_mask.is_none() && m.order.is_none() {
        missing.push("the `invoked oom-killer` line (which task allocated, gfp mask, order)");
    }
    if memcg {
        if m.oom_memcg.is_none() {
            missing.push("the `oom-kill:` line (which cgroup hit its limit)");
        }
        if m.memcg_usage_kb.is_none() {
            missing.push("the `memory: usage ..., limit ...` line (the limit and how often it was hit)");
        }
        if m.memcg_stats.is_empty() {
            missing.push("the cgroup's stats (anonymous memory vs page cache)");
        }
    } else if m.zones.is_empty() && m.meminfo.is_empty() {
        missing.push(
            "Mem-Info (zone free pages and watermarks: whether a zone was below min, and what held memory)",
        );
    }
    if m.tasks.is_empty() {
        missing.push("the task table (which tasks held memory)");
    }
    if m.victim.is_none() {
        missing.push("the kill line (which task was killed)");
    }
    (!missing.is_empty()).then(|| fact("not in the excerpt", missing.join("; ")))
}

/// What the common GFP flags mean for the allocation (include/linux/gfp_types.h).
const GFP_MEANING: &[(&str, &str)] = &[
    ("GFP_KERNEL", "normal kernel allocation: may sleep, reclaim and do I/O"),
    ("GFP_ATOMIC", "atomic context: cannot sleep or reclaim, may dip into reserves"),
    ("GFP_NOWAIT", "cannot sleep or reclaim directly"),
    ("GFP_NOIO", "may reclaim but not start I/O"),
    ("GFP_NOFS", "may reclaim but not call into filesystems"),
    ("GFP_USER", "user-space allocation, may reclaim"),
    ("GFP_HIGHUSER", "user page, may use highmem"),
    ("GFP_HIGHUSER_MOVABLE", "movable user page (page cache, anon)"),
    ("GFP_TRANSHUGE", "transparent huge page allocation"),
    ("GFP_TRANSHUGE_LIGHT", "transparent huge page, no reclaim"),
    ("GFP_DMA", "must come from ZONE_DMA"),
    ("GFP_DMA32", "must come from ZONE_DMA32"),
    ("__GFP_COMP", "compound (multi-page) allocation"),
    ("__GFP_NOWARN", "failure should not warn"),
    ("__GFP_NORETRY", "gives up quickly, no OOM kill"),
    ("__GFP_RETRY_MAYFAIL", "retries hard but may fail, no OOM kill"),
    ("__GFP_NOFAIL", "must not fail"),
    ("__GFP_ZERO", "zeroed memory"),
    ("__GFP_HIGHMEM", "may use highmem"),
    ("__GFP_MOVABLE", "movable"),
    ("__GFP_RECLAIMABLE", "reclaimable"),
    ("__GFP_ACCOUNT", "charged to the memory cgroup"),
    ("__GFP_HIGH", "may use emergency reserves"),
    ("__GFP_MEMALLOC", "may use all reserves"),
    ("__GFP_NOMEMALLOC", "must not use reserves"),
    ("__GFP_THISNODE", "only this NUMA node"),
    ("__GFP_DIRECT_RECLAIM", "may reclaim directly"),
    ("__GFP_KSWAPD_RECLAIM", "wakes kswapd"),
];

/// KiB of 2^order 4 KiB pages, saturating for orders no kernel has.
fn pages_kib(order: u32) -> u64 {
    1u64.checked_shl(order).map_or(u64::MAX, |p| p.saturating_mul(4))
}

fn alloc_failure(r: &Report) -> Explanation {
    let empty = MemReport::default();
    let m = r.mem.as_ref().unwrap_or(&empty);
    let order = m.order.unwrap_or(0);
    let mut facts = vec![fact("order", format!("{order} ({} contiguous)", kib(pages_kib(order))))];
    let mut summary =
        format!("{} failed to allocate 2^{order} contiguous pages", r.comm.as_deref().unwrap_or("a task"));
    if m.gfp_flags.is_empty() {
        summary.push_str(&format!(" with mode {} (flags not decoded: kernels before 4.6 print only the hex mask, whose bits differ between versions)", m.gfp_mask.as_deref().unwrap_or("?")));
    } else {
        let meanings: Vec<String> = m
            .gfp_flags
            .iter()
            .map(|f| match GFP_MEANING.iter().find(|(n, _)| n == f) {
                Some((_, d)) => format!("{f} ({d})"),
                None => f.clone(),
            })
            .collect();
        summary.push_str(&format!(" with {}", meanings.join(", ")));
        facts.push(fact("gfp", format!("{} {}", m.gfp_mask.as_deref().unwrap_or(""), m.gfp_flags.join("|"))));
    }
    summary.push_str(". ");
    let atomic = m.gfp_flags.iter().any(|f| f == "GFP_ATOMIC" || f == "GFP_NOWAIT");
    let req = request_zone(&m.gfp_flags);
    let page_kb = m.zones.iter().find_map(|z| z.page_kb).unwrap_or(4);
    let mut frag = false;
    for z in &m.zones {
        if z.free_blocks.is_empty() && z.free_kb.is_none() {
            continue;
        }
        let big: u64 = z.free_blocks.iter().skip(order as usize).sat_sum();
        let lists: Vec<String> = z.free_blocks.iter().enumerate().map(|(o, n)| format!("{o}:{n}")).collect();
        facts.push(fact(&format!("Node {} {} free blocks by order", z.node, z.zone), lists.join(" ")));
        if let (Some(free), Some(min)) = (z.free_kb, z.min_kb) {
            let reserve_kb =
                req.and_then(|q| reserve_pages(z, &m.zones, q)).unwrap_or(0).saturating_mul(page_kb);
            facts.push(fact(
                &format!("Node {} {} free", z.node, z.zone),
                format!("{} (min {}{})", kib(free), kib(min), reserve_and_boost(reserve_kb, req, z.boost_kb)),
            ));
            if order > 0 && big == 0 && free > min.saturating_add(reserve_kb) {
                frag = true;
            }
        }
    }
    if frag {
        summary.push_str(&format!("Free memory was above the min watermark but no block of order >= {order} was free: the failure is fragmentation. "));
    } else if atomic {
        summary.push_str("An atomic allocation cannot wait for reclaim, so it fails as soon as free memory is below the watermark. ");
    }
    let mut missing = Vec::new();
    if m.zones.is_empty() {
        missing.push("Mem-Info and the free lists per order (whether this was fragmentation or a shortage)");
    }
    if r.frames.is_empty() {
        missing.push("the call trace (which code allocated)");
    }
    if !missing.is_empty() {
        facts.push(fact("not in the excerpt", missing.join("; ")));
    }
    let mut next = Vec::new();
    if frag || order > 0 {
        next.push("watch /proc/buddyinfo and /proc/pagetypeinfo; compaction (vm.compact_memory, vm.extfrag_threshold) or a driver change to order-0 pages / kvmalloc avoids high-order failures".to_string());
    }
    if atomic {
        next.push("raise vm.min_free_kbytes to keep more reserve for atomic allocations".to_string());
    }
    Explanation {
        class: if frag { "alloc.fragmentation".into() } else { "alloc.failure".into() },
        summary: summary.trim().to_string(),
        cache: None,
        facts,
        next_steps: next,
    }
}
