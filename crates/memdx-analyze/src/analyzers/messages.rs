//! Analyzer: memory messages pasted outside kernel reports: a module's own leak counters and
//! programs that ran out of memory (`ENOMEM` from a system call, runtime out-of-memory errors). The
//! hugetlb shortfall messages are judged by the hugetlb analyzer.

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::Report;
use memdx_core::{Evidence, Finding, Severity};
use memdx_parse::messages::MessageKind;

fn count(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{n} ({:.1} million)", n as f64 / 1e6)
    } else {
        n.to_string()
    }
}

pub fn run(case: &Case, out: &mut Report) {
    for (src, m) in &case.messages {
        let MessageKind::LeakCounts { header, items } = &m.kind else { continue };
        let total: u64 = items.iter().map(|(_, n)| *n).sum();
        let list: Vec<String> = items.iter().map(|(name, n)| format!("{name}: {}", count(*n))).collect();
        let (name0, n0) = items.iter().max_by_key(|(_, n)| *n).cloned().unwrap_or_default();
        let mut f = Finding::new(
            "leak.counted",
            if total > 0 { Severity::Warning } else { Severity::Info },
            format!("memory leak counted by its owner: {} {name0} objects never freed", count(n0)),
        )
        .explain(format!(
            "`{header}` lists objects its code allocated and never freed: {}. Allocation trackers like this one \
             (in a module or subsystem) print at unload or shutdown what is still allocated, so the leak is in the code \
             that owns these objects, on a path that drops them without freeing them.",
            list.join(", ")
        ))
        .evidence(Evidence::text("message", header.clone(), Some(src.clone())));
        for (i, (name, n)) in items.iter().enumerate().take(8) {
            f = f.evidence(Evidence::int(
                name.clone(),
                *n as i64,
                Some("objects"),
                Some(src.at(src.line.unwrap_or(0) as usize + i + 1)),
            ));
        }
        f = f
            .next(format!("find where {name0} objects are freed and the paths that drop one without freeing it (error paths, queues that overflow)"))
            .next("watch the count grow with the workload before unloading: the rate is the leak")
            .score(total as f64);
        out.findings.push(f);
    }
    slub_oom(case, out);
    let oom: Vec<_> = case
        .messages
        .iter()
        .filter(|(_, m)| matches!(m.kind, MessageKind::RuntimeOom | MessageKind::SyscallEnomem { .. }))
        .collect();
    if let Some((src, first)) = oom.first() {
        let what = match &first.kind {
            MessageKind::SyscallEnomem { call, size: Some(s) } => {
                format!("{call}() of {s} bytes ({}) failed with ENOMEM", memdx_core::units::bytes(*s))
            }
            MessageKind::SyscallEnomem { call, size: None } => format!("{call}() failed with ENOMEM"),
            _ => "a program reported running out of memory".into(),
        };
        let mut f = Finding::new("userspace.enomem", Severity::Info, format!("user space out of memory: {what}"))
            .explain(
                "An allocation in user space was refused. Without a kernel OOM report this is the kernel declining the \
                 request (overcommit policy, a memory cgroup or RLIMIT_AS/RLIMIT_DATA, or address space), not the OOM \
                 killer: check vm.overcommit_memory and CommitLimit against Committed_AS, the cgroup's memory.max and \
                 the process limits.",
            );
        for (s, m) in oom.iter().take(5) {
            f = f.evidence(Evidence::text("message", m.text.clone(), Some(s.clone())));
        }
        let _ = src;
        f = f.next("grep -E 'Commit|MemAvailable' /proc/meminfo; sysctl vm.overcommit_memory vm.overcommit_ratio; ulimit -a");
        out.findings.push(f);
    }
}

/// One `SLUB: Unable to allocate` message and where it was read.
type SlubMsg<'a> = (&'a memdx_core::SourceRef, &'a memdx_parse::messages::SlubOom);

/// `SLUB: Unable to allocate memory on node N`: one finding per cache, repeats counted.
fn slub_oom(case: &Case, out: &mut Report) {
    let mut groups: Vec<(Option<&str>, Vec<SlubMsg>)> = Vec::new();
    for (src, m) in &case.messages {
        let MessageKind::SlubOom(o) = &m.kind else { continue };
        match groups.iter_mut().find(|(c, _)| *c == o.cache.as_deref()) {
            Some((_, v)) => v.push((src, o)),
            None => groups.push((o.cache.as_deref(), vec![(src, o)])),
        }
    }
    for (cache, v) in groups {
        let (src, o) = v[0];
        let name = cache.unwrap_or("a cache (its `cache:` line is not in the excerpt)");
        let n = v.len();
        let gfp = o.gfp.as_deref().unwrap_or("?");
        let atomic = gfp.contains("GFP_ATOMIC") || gfp.contains("GFP_NOWAIT");
        let mut title = format!("SLUB could not allocate a new slab for {name}");
        if n > 1 {
            title.push_str(&format!(" ({n} times)"));
        }
        let mut expl = format!(
            "SLUB needed a new slab for {name} (gfp {gfp}{}) and the page allocator refused it",
            o.node.filter(|n| *n >= 0).map(|n| format!(", node {n}")).unwrap_or_default()
        );
        if let Some(order) = o.default_order {
            expl.push_str(&format!(": an order-{order} block ({} contiguous)", kib(4u64 << order.min(20))));
        }
        expl.push('.');
        let (objs, free): (u64, u64) =
            o.nodes.iter().fold((0, 0), |(a, b), x| (a.saturating_add(x.2), b.saturating_add(x.3)));
        if objs > 0 {
            expl.push_str(&format!(
                " The cache had {objs} objects in {} slabs, {free} free{}.",
                o.nodes.iter().map(|x| x.1).fold(0u64, u64::saturating_add),
                if free == 0 { ": every object in use, so each allocation needed a new slab" } else { "" }
            ));
        }
        if let Some(m) = &o.memcg {
            expl.push_str(&format!(
                " The cache is the per-memory-cgroup copy of kmem accounting (3.x-4.x) for cgroup {m}: a cgroup at its                  kmem or memory limit makes these allocations fail while the machine has memory."
            ));
        } else if atomic {
            expl.push_str(" The allocation was atomic: it cannot reclaim, so it fails whenever free memory is under the min watermark for a moment.");
        }
        let mut f = Finding::new("slab.alloc_failed", Severity::Warning, title)
            .explain(expl)
            .evidence(Evidence::text("message", format!("gfp {gfp}"), Some(src.clone())));
        if let Some(m) = &o.memcg {
            f = f.evidence(Evidence::text("memory cgroup", m.clone(), None));
        }
        if objs > 0 {
            f = f.evidence(Evidence::int("objects", objs as i64, None, None));
        }
        f = f.next(if o.memcg.is_some() {
            "memory.kmem.limit_in_bytes and memory.kmem.usage_in_bytes of the cgroup; cgroup.memory=nokmem avoids per-memcg caches on these kernels"
        } else {
            "grep -E 'MemFree|MemAvailable' /proc/meminfo and /proc/buddyinfo at the time; raise vm.min_free_kbytes for atomic allocations"
        });
        out.findings.push(f.score(n as f64));
    }
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn slub_unable_to_allocate() {
        // mm/slub.c slab_out_of_memory() of a 4.x kernel with kmem accounting, as dmesg prints it.
        let t = "[ 5120.331201] SLUB: Unable to allocate memory on node -1, gfp=0x8020(GFP_ATOMIC|__GFP_ZERO)\n[ 5120.331205]   cache: kmalloc-64(5:docker-3f2a), object size: 64, buffer size: 64, default order: 0, min order: 0\n[ 5120.331207]   node 0: slabs: 1026, objs: 65664, free: 0\n[ 5121.000001] SLUB: Unable to allocate memory on node -1, gfp=0x8020(GFP_ATOMIC|__GFP_ZERO)\n[ 5121.000003]   cache: kmalloc-64(5:docker-3f2a), object size: 64, buffer size: 64, default order: 0, min order: 0\n[ 5121.000005]   node 0: slabs: 1026, objs: 65664, free: 0\n";
        let mut c = Case::new();
        c.ingest("dmesg.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "slab.alloc_failed").expect("finding");
        assert_eq!(f.title, "SLUB could not allocate a new slab for kmalloc-64 (2 times)");
        assert!(f.explanation.contains("65664 objects in 1026 slabs, 0 free"), "{}", f.explanation);
        assert!(f.explanation.contains("cgroup 5:docker-3f2a"), "{}", f.explanation);
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(1));
    }

    #[test]
    fn leak_counts() {
        // NICMx/Jool#410, as posted (`dmesg -T`).
        let t = "[Fri Sep 15 14:11:25 2023] NAT64 Jool v4.1.10.3 module removed.\n[Fri Sep 15 14:11:26 2023] Jool: Memory leaks:\n[Fri Sep 15 14:11:26 2023] - joold session: 18223133\n[Fri Sep 15 14:11:26 2023] ------------[ cut here ]------------\n[Fri Sep 15 14:11:26 2023] Total leaks: 1\n";
        let mut c = Case::new();
        c.read_document("dmesg.txt", t.as_bytes(), None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "leak.counted").expect("finding");
        assert!(f.title.contains("18223133 (18.2 million) joold session"), "{}", f.title);
        assert_eq!(f.evidence[1].source.as_ref().and_then(|s| s.line), Some(3));
    }
}
