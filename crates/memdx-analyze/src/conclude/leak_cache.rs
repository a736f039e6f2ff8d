//! Rule `leak.kmemleak_cache`: kmemleak's unreferenced objects joined with the slab cache they live
//! in, as a slab table given beside them (slabinfo, slabtop) shows it. kmemleak prints the size of
//! the object as the slab allocator registered it (`s->object_size`): a `kmalloc()` object is in
//! the kmalloc cache of that size (`kmalloc-128`, `kmalloc-cg-128`, `kmalloc-1k`; `size-128` under
//! SLAB), an object of a named cache (`kmem_cache_alloc`) in the one cache of that object size.
//! When that cache is among the largest the table holds (or grows between two tables), the leak
//! is what fills it: one fact, where the reader otherwise sees a leak report and a big cache apart.

use super::{funcs, task, when, Conclusion, Confidence, Facts, Rep};
use memdx_core::units::{kib, SatSum};
use memdx_core::Severity;
use memdx_log::Kind;
use memdx_parse::slabinfo::{SlabCache, SlabTable};

pub const NAME: &str = "leak.kmemleak_cache";

/// A cache is "among the largest" when it ranks in the first few by memory and holds at least this
/// much (a cache of a few hundred KiB is not what a leak report's reader is chasing).
const TOP: usize = 5;
const MIN_KB: u64 = 1024;

/// Allocator entry points of `kmalloc()` (the object is in a kmalloc cache of its size).
const KMALLOC_FRAMES: &[&str] = &[
    "__kmalloc",
    "__kmalloc_node",
    "__kmalloc_track_caller",
    "__kmalloc_node_track_caller",
    "__kmalloc_noprof",
    "__kmalloc_node_noprof",
    "__kmalloc_cache_noprof",
    "__kmalloc_cache_node_noprof",
    "kmalloc_trace",
    "kmalloc_trace_noprof",
    "kmalloc_node_trace",
    "kmem_cache_alloc_trace",
    "kmem_cache_alloc_node_trace",
    "kmalloc_order_trace",
];
/// Entry points of a named cache's allocation.
const CACHE_FRAMES: &[&str] =
    &["kmem_cache_alloc", "kmem_cache_alloc_node", "kmem_cache_alloc_lru", "kmem_cache_alloc_noprof"];

/// The object size kmemleak printed.
fn object_size(r: &memdx_log::Report) -> Option<u64> {
    let e = r.explanation.as_ref()?;
    let f = e.facts.iter().find(|f| f.label == "object size")?;
    f.value.trim_end_matches(" bytes").trim().parse().ok()
}

/// Names of the kmalloc caches of one size across kernels and variants.
fn kmalloc_names(size: u64) -> Vec<String> {
    let mut bases = vec![size.to_string()];
    if size >= 1024 && size.is_multiple_of(1024) {
        bases.push(format!("{}k", size / 1024));
    }
    let mut v = Vec::new();
    for b in &bases {
        for p in ["kmalloc-", "kmalloc-cg-", "kmalloc-rcl-", "dma-kmalloc-", "size-"] {
            v.push(format!("{p}{b}"));
        }
    }
    v
}

/// The cache the leaked object is in, when the allocation path and the table tell it.
fn cache_of<'t>(r: &memdx_log::Report, size: u64, t: &'t SlabTable) -> Option<&'t SlabCache> {
    let all: Vec<&str> = r.frames.iter().map(|f| f.func.as_str()).collect();
    let kmalloc = all.iter().any(|f| KMALLOC_FRAMES.contains(f) || f.starts_with("kmalloc"));
    let named = all.iter().any(|f| CACHE_FRAMES.contains(f));
    if kmalloc || !named {
        // `kmalloc-N` and its accounted/reclaimable variants: the one holding the most.
        let names = kmalloc_names(size);
        if let Some(c) = t.caches.iter().filter(|c| names.contains(&c.name)).max_by_key(|c| c.memory_kb(4)) {
            return Some(c);
        }
    }
    if named && !kmalloc {
        // A named cache: the one cache of that exact object size (slabinfo sizes are exact).
        let mut same = t.caches.iter().filter(|c| c.objsize == size && !c.name.contains("kmalloc"));
        let one = same.next()?;
        return same.next().is_none().then_some(one);
    }
    None
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let page_kb = facts.case.page_kb();
    let leaks: Vec<&Rep> = facts.reports.iter().filter(|r| r.r.kind == Kind::Kmemleak).collect();
    // Leaks grouped by the cache they land in (one conclusion per cache).
    let mut by_cache: Vec<(String, Vec<(&Rep, u64)>)> = Vec::new();
    for rep in &leaks {
        let Some(size) = object_size(rep.r) else { continue };
        let Some(table) = facts.case.slabs.last().map(|s| &s.table) else { return };
        let Some(c) = cache_of(rep.r, size, table) else { continue };
        match by_cache.iter_mut().find(|(n, _)| *n == c.name) {
            Some((_, v)) => v.push((rep, size)),
            None => by_cache.push((c.name.clone(), vec![(rep, size)])),
        }
    }
    for (name, reps) in by_cache {
        let snaps = &facts.case.slabs;
        let Some(last) = snaps.last() else { return };
        let Some(cache) = last.table.get(&name) else { continue };
        let kb = cache.memory_kb(page_kb);
        let mut sizes: Vec<u64> = last.table.caches.iter().map(|c| c.memory_kb(page_kb)).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let rank = sizes.iter().position(|&s| s == kb).map_or(usize::MAX, |p| p + 1);
        // Growth between the first and the last table that hold the cache.
        let first = snaps.iter().filter(|s| !std::ptr::eq(*s, last)).find_map(|s| s.table.get(&name));
        let grew = first.filter(|f| cache.active_objs > f.active_objs);
        let large = rank <= TOP && kb >= MIN_KB;
        if !large && grew.is_none() {
            continue;
        }
        let leaked: u64 = reps.iter().map(|(r, _)| r.r.count.max(1)).sat_sum();
        let size = reps[0].1;
        let mut sites: Vec<String> = Vec::new();
        for (r, _) in &reps {
            let t = r.r.title.trim_start_matches("memory leak in ").to_string();
            if !sites.contains(&t) {
                sites.push(t);
            }
        }
        let whose: Vec<String> = reps.iter().filter_map(|(r, _)| r.r.comm.clone()).collect::<Vec<_>>();
        let mut comms: Vec<String> = Vec::new();
        for c in whose {
            if !comms.contains(&c) {
                comms.push(c);
            }
        }
        let rank_phrase = match (large, snaps.len(), last.table.caches.len()) {
            (true, _, 1) => "the cache the slab table given shows".to_string(),
            (true, _, n) if rank == 1 => format!("the largest of {n} caches given"),
            (true, _, n) => format!("the {} largest of {n} caches given", ordinal(rank)),
            (false, _, _) => "not among the largest caches".to_string(),
        };
        let growth = grew
            .map(|f| format!(", up from {} active objects in the earlier table", f.active_objs))
            .unwrap_or_default();
        let cause = format!(
            "Memory leak: kmemleak reports {} unreferenced {size}-byte object{} allocated in {}{}, and {name}, the \
             cache such objects come from, holds {} active objects in {} ({rank_phrase}){growth}: the leak in {} is \
             what fills {name}. Fix the missing free (or reference drop) on that path; the cache shrinks only after \
             the fix and a reboot (or module reload).",
            leaked,
            if leaked == 1 { "" } else { "s" },
            sites.join(", "),
            if comms.is_empty() { String::new() } else { format!(" by {}", comms.join(", ")) },
            cache.active_objs,
            kib(kb),
            sites[0],
        );
        let mut c = Conclusion::new(NAME, Severity::Warning, cause);
        for (rep, _) in &reps {
            let r = rep.r;
            let stack: Vec<&str> = funcs(r).take(4).collect();
            c.link(
                format!(
                    "{}: unreferenced object of {size} bytes{}{}",
                    when(r),
                    task(r).map(|t| format!(" allocated by {t}")).unwrap_or_default(),
                    if stack.is_empty() { String::new() } else { format!(" in {}", stack.join(" <- ")) }
                ),
                Some(&rep.finding_id()),
                Some(r.source.clone()),
            );
        }
        c.link(
            format!(
                "{name}: {} active of {} objects, {} slabs, {} (object size {} bytes{})",
                cache.active_objs,
                cache.num_objs,
                cache.num_slabs,
                kib(kb),
                cache.objsize,
                if cache.objsize > size {
                    ": larger than the object, slub_debug red zones and tracking"
                } else {
                    ""
                }
            ),
            Some("slab.top"),
            Some(last.table.source.at(cache.line as usize)),
        );
        if let Some(f) = grew {
            c.link(
                format!("{name} in the earlier table: {} active objects", f.active_objs),
                Some("slab.growth"),
                snaps.first().map(|s| s.table.source.at(f.line as usize)),
            );
        }
        c.confidence = if grew.is_some() || reps.len() > 1 || leaked > 1 {
            Confidence::High
        } else {
            Confidence::Medium
        };
        c.confidence_why = match (grew.is_some(), leaked > 1) {
            (true, _) => "kmemleak names the allocation site and the cache grows between the tables".into(),
            (false, true) => "kmemleak reports several objects from the same site, in the cache that holds the most".into(),
            (false, false) => {
                "one kmemleak record names the allocation site; the cache's growth over time is not in the inputs"
                    .into()
            }
        };
        if grew.is_none() {
            c.unknown(
                format!("whether {name} keeps growing"),
                format!("grep '^{name} ' /proc/slabinfo, twice some minutes apart (or memdx history)"),
            );
        }
        c.next_steps.push(
            "echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak: objects reported again after more \
             scans are real leaks"
                .into(),
        );
        c.next_steps.push(format!(
            "read the error and release paths of {} for a missing kfree()/kmem_cache_free() or reference put",
            sites[0]
        ));
        c.covers = reps.iter().map(|(r, _)| r.key()).collect();
        c.covers.extend(["slab.top".to_string(), "slab.large_cache".to_string(), "slab.growth".to_string()]);
        c.score = 1e3 + kb as f64 / 1e6;
        out.push(c);
    }
}

fn ordinal(n: usize) -> String {
    match n {
        2 => "2nd".into(),
        3 => "3rd".into(),
        n => format!("{n}th"),
    }
}
