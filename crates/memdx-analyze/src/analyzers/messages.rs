//! Analyzer: memory messages pasted outside kernel reports: a module's own leak counters and
//! programs that ran out of memory (`ENOMEM` from a system call, runtime out-of-memory errors). The
//! hugetlb shortfall messages are judged by the hugetlb analyzer.

use crate::case::Case;
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

#[cfg(test)]
mod tests {
    use crate::Case;

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
