//! Analyzer: the hugetlb pool. Huge pages reserved with `vm.nr_hugepages` (or `hugepages=` at boot)
//! leave normal memory when the pool is sized, so `free` and monitoring count them as used whether
//! or not anything maps them (`HugePages_Total` x `Hugepagesize` in meminfo); `HugePages_Free` of
//! them sit idle. And a pool grown at run time can come up short: each huge page needs one free
//! physically contiguous block (order 9 for 2 MiB pages on 4 KiB base pages), which a fragmented
//! machine does not have.

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::Report;
use memdx_core::{Evidence, Finding, Severity};
use memdx_parse::messages::MessageKind;

/// Idle pool size worth a warning.
const IDLE_WARN_KB: u64 = 1 << 20;

pub fn run(case: &Case, out: &mut Report) {
    pool(case, out);
    shortfall(case, out);
}

fn pool(case: &Case, out: &mut Report) {
    let Some(m) = &case.meminfo else { return };
    let (Some(total), Some(size_kb)) = (m.kb("HugePages_Total"), m.kb("Hugepagesize")) else { return };
    if total == 0 {
        return;
    }
    let free = m.kb("HugePages_Free").unwrap_or(0);
    let rsvd = m.kb("HugePages_Rsvd").unwrap_or(0);
    let pool_kb = total.saturating_mul(size_kb);
    // Reserved pages are promised to mappings that have not touched them yet: not idle.
    let idle = free.saturating_sub(rsvd);
    let idle_kb = idle.saturating_mul(size_kb);
    let mem_total = m.kb("MemTotal");
    let share = mem_total.map(|t| memdx_core::units::pct(pool_kb, t));
    let severity = if idle_kb >= IDLE_WARN_KB && idle.saturating_mul(10) >= total {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut title = format!(
        "hugetlb pool holds {} ({total} HugePages x {size_kb} kB), counted as used memory",
        kib(pool_kb)
    );
    if idle > 0 {
        title.push_str(&format!("; {idle} huge pages ({}) sit free in the pool", kib(idle_kb)));
    }
    let mut f = Finding::new("hugetlb.pool", severity, title)
        .explain(format!(
            "Huge pages of the hugetlb pool are taken out of normal memory when the pool is sized (vm.nr_hugepages, \
             hugepages= at boot), so free, top and monitoring count all of them as used, whether or not a process maps \
             them{}. HugePages_Free pages ({}) are in the pool but unused, and nothing else can use them either: the \
             memory looks consumed while it is idle. This is pool sizing, not a leak.{}",
            match share {
                Some(p) => format!(" (the pool is {p:.0}% of MemTotal)"),
                None => String::new(),
            },
            kib(idle_kb),
            if rsvd > 0 { format!(" {rsvd} free pages are reserved for mappings not yet touched.") } else { String::new() }
        ))
        .evidence(Evidence::int("HugePages_Total", total as i64, Some("pages"), m.at("HugePages_Total")))
        .evidence(Evidence::int("HugePages_Free", free as i64, Some("pages"), m.at("HugePages_Free")))
        .evidence(Evidence::int("Hugepagesize", size_kb as i64, Some("kB"), m.at("Hugepagesize")));
    if let Some(r) = m.kb("HugePages_Rsvd") {
        f = f.evidence(Evidence::int("HugePages_Rsvd", r as i64, Some("pages"), m.at("HugePages_Rsvd")));
    }
    if let Some(t) = mem_total {
        f = f.evidence(Evidence::int("MemTotal", t as i64, Some("kB"), m.at("MemTotal")));
    }
    let used = total.saturating_sub(idle);
    f = f
        .next(format!(
            "size the pool to what the application maps ({used} pages in use now): sysctl vm.nr_hugepages={used} (and the \
             hugepages= boot option or /etc/sysctl.d to keep it)"
        ))
        .next("grep -i huge /proc/meminfo while the application runs: HugePages_Free near 0 means the pool is used")
        .score(idle_kb as f64);
    out.findings.push(f);
}

fn shortfall(case: &Case, out: &mut Report) {
    let size_kb = case.meminfo.as_ref().and_then(|m| m.kb("Hugepagesize"));
    for (src, m) in &case.messages {
        let MessageKind::HugepageShortfall { requested, allocated } = m.kind else { continue };
        let size = match size_kb {
            Some(kb) => kib(kb),
            None => "2 MiB (x86-64 default; the excerpt does not say)".into(),
        };
        let order = size_kb.map(|kb| (kb / 4).max(1).ilog2()).unwrap_or(9);
        let short = requested - allocated;
        let f = Finding::new(
            "hugetlb.pool.shortfall",
            Severity::Warning,
            format!("hugetlb pool short: {requested} huge pages requested, only {allocated} allocated ({short} missing)"),
        )
        .explain(format!(
            "Growing the hugetlb pool at run time needs one free physically contiguous block per huge page of {size} \
             (order {order} with 4 KiB base pages). After uptime free memory is fragmented into smaller blocks (page \
             cache, slab and earlier workloads in between), or too little is free, so the kernel could assemble only \
             {allocated}. Retrying at run time gives the same result; reserving at boot, before memory fragments, \
             always works."
        ))
        .evidence(Evidence::text("message", m.text.clone(), Some(src.clone())))
        .evidence(Evidence::int("requested", requested as i64, Some("pages"), Some(src.clone())))
        .evidence(Evidence::int("allocated", allocated as i64, Some("pages"), Some(src.clone())))
        .next(format!("reserve the pages at boot: hugepages={requested} on the kernel command line (with hugepagesz= for non-default sizes)"))
        .next("or free and compact memory before growing the pool: sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory")
        .next("cat /proc/buddyinfo: free blocks of order 9 and above are what the pool needs")
        .score(short as f64);
        out.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn pool_and_shortfall() {
        // netdata/netdata#3461: `grep -i Hugep /proc/meminfo`, as posted.
        let mut c = Case::new();
        c.ingest(
            "meminfo.txt",
            "AnonHugePages:    368640 kB\nHugePages_Total:   53342\nHugePages_Free:    11904\nHugePages_Rsvd:        0\nHugePages_Surp:        0\nHugepagesize:       2048 kB\n",
            None,
        );
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "hugetlb.pool").expect("pool finding");
        // 53342 x 2048 kB = 109244416 kB = 104.2 GiB; 11904 x 2048 kB = 23.25 GiB.
        assert!(f.title.contains("104.2 GiB") && f.title.contains("23.2 GiB"), "{}", f.title);
        let mut c = Case::new();
        c.ingest(
            "console.txt",
            "# ./scripts/setup.sh\n## ERROR: requested 4096 hugepages but only 3738 could be allocated.\n",
            None,
        );
        let r = crate::analyze(&c);
        assert!(r
            .findings
            .iter()
            .any(|f| f.id == "hugetlb.pool.shortfall" && f.title.contains("358 missing")));
    }
}
