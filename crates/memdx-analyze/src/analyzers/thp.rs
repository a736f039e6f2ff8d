//! Analyzer: huge page settings read from /sys/kernel/mm. Transparent huge pages with `defrag` set
//! to `always` make every THP page fault compact memory directly when no 2 MiB block is free:
//! faults stall in compaction (and behind kcompactd and page locks) on a fragmented machine.
//! hugetlb pools sized in sysfs are taken out of normal memory whether used or not.

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::{Evidence, Finding, Report, Severity};

pub fn run(case: &Case, out: &mut Report) {
    let Some(m) = &case.mm_sysfs else { return };
    let Some(src) = &m.source else { return };
    thp(m, src, out);
    pools(case, m, src, out);
}

fn thp(m: &memdx_parse::mm_sysfs::MmSysfs, src: &memdx_core::SourceRef, out: &mut Report) {
    let enabled = m.thp("enabled");
    let defrag = m.thp("defrag");
    if enabled.is_none() && defrag.is_none() {
        return;
    }
    let e = enabled.map(|s| s.value.as_str());
    let d = defrag.map(|s| s.value.as_str());
    let stalls = d == Some("always") && e != Some("never");
    let mut expl = format!(
        "Transparent huge pages: enabled [{}], defrag [{}].",
        e.unwrap_or("not in the input"),
        d.unwrap_or("not in the input")
    );
    match e {
        Some("always") => expl.push_str(" Every anonymous mapping large enough gets huge pages."),
        Some("madvise") => {
            expl.push_str(" Only regions a program marks with madvise(MADV_HUGEPAGE) get huge pages.")
        }
        Some("never") => expl.push_str(" THP is off for anonymous memory."),
        _ => {}
    }
    match d {
        Some("always") => expl.push_str(
            " defrag=always: a THP fault that finds no free 2 MiB block reclaims and compacts memory directly, in the \
             faulting task, so faults stall on a fragmented machine (kcompactd, migration and page locks show in hung-task \
             stacks).",
        ),
        Some("defer") => expl.push_str(" defrag=defer: faults never stall; kswapd and kcompactd are woken to make blocks."),
        Some("madvise") => expl.push_str(" defrag=madvise: only madvised regions compact directly; others take what is free."),
        _ => {}
    }
    let line = defrag.or(enabled).map(|s| s.line as usize).unwrap_or(0);
    let mut f = Finding::new(
        "thp.settings",
        if stalls { Severity::Warning } else { Severity::Info },
        format!("transparent huge pages: enabled [{}], defrag [{}]", e.unwrap_or("?"), d.unwrap_or("?")),
    )
    .explain(expl)
    .evidence(Evidence::text(
        "setting",
        format!("enabled={} defrag={}", e.unwrap_or("?"), d.unwrap_or("?")),
        Some(src.at(line)),
    ));
    if stalls {
        f = f.next("echo defer+madvise > /sys/kernel/mm/transparent_hugepage/defrag: faults stop compacting directly; grep -E 'compact_stall|thp_fault_fallback' /proc/vmstat shows the cost");
    }
    out.findings.push(f.score(1.0));
}

fn pools(case: &Case, m: &memdx_parse::mm_sysfs::MmSysfs, src: &memdx_core::SourceRef, out: &mut Report) {
    // meminfo's HugePages_* describe the default size; the hugetlb analyzer judges them.
    let meminfo_size = case
        .meminfo
        .as_ref()
        .filter(|x| x.kb("HugePages_Total").is_some())
        .and_then(|x| x.kb("Hugepagesize"));
    for size in m.sizes() {
        if Some(size) == meminfo_size {
            continue;
        }
        let Some(nr) = m.pool(size, "nr_hugepages").filter(|p| p.value > 0) else { continue };
        let free = m.pool(size, "free_hugepages").map(|p| p.value);
        let resv = m.pool(size, "resv_hugepages").map(|p| p.value).unwrap_or(0);
        let pool_kb = nr.value.saturating_mul(size);
        let idle = free.map(|f| f.saturating_sub(resv));
        let mut title = format!(
            "hugetlb pool of {} pages: {} huge pages, {} taken from normal memory",
            kib(size),
            nr.value,
            kib(pool_kb)
        );
        if let Some(i) = idle.filter(|i| *i > 0) {
            title.push_str(&format!("; {i} sit free ({})", kib(i.saturating_mul(size))));
        }
        let idle_share = idle.map(|i| i as f64 / nr.value as f64).unwrap_or(0.0);
        out.findings.push(
            Finding::new("hugetlb.sysfs_pool", if idle_share >= 0.5 && pool_kb >= 1 << 20 { Severity::Warning } else { Severity::Info }, title)
                .explain(format!(
                    "The pool of {} huge pages holds {} huge pages ({}); free, top and monitoring count them as used whether \
                     or not a process maps them. free_hugepages {}, resv_hugepages {resv}: free pages not reserved are idle, \
                     and nothing else can use them.",
                    kib(size),
                    nr.value,
                    kib(pool_kb),
                    free.map(|f| f.to_string()).unwrap_or_else(|| "not in the input".into())
                ))
                .evidence(Evidence::int("nr_hugepages", nr.value as i64, None, Some(src.at(nr.line as usize))))
                .next("shrink the pool to what is used: echo N > /sys/kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages")
                .score(pool_kb as f64),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn thp_defrag_always_and_pool() {
        let t = "$ cat /sys/kernel/mm/transparent_hugepage/enabled\n[always] madvise never\n$ cat /sys/kernel/mm/transparent_hugepage/defrag\n[always] defer defer+madvise madvise never\n$ grep . /sys/kernel/mm/hugepages/hugepages-1048576kB/*\n/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages:8\n/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages:8\n/sys/kernel/mm/hugepages/hugepages-1048576kB/resv_hugepages:0\n";
        let mut c = Case::new();
        c.ingest("thp.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "thp.settings").expect("thp");
        assert_eq!(f.title, "transparent huge pages: enabled [always], defrag [always]");
        assert_eq!(f.severity, memdx_core::Severity::Warning);
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(4));
        let p = r.findings.iter().find(|f| f.id == "hugetlb.sysfs_pool").expect("pool");
        assert_eq!(p.title, "hugetlb pool of 1.0 GiB pages: 8 huge pages, 8.0 GiB taken from normal memory; 8 sit free (8.0 GiB)");
        // The real settings of the 6.18 machine: madvise, info.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats");
        let mut c = Case::new();
        c.ingest("t.txt", &std::fs::read_to_string(dir.join("thp_enabled_defrag_shmem.txt")).unwrap(), None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "thp.settings").expect("thp");
        assert_eq!(
            (f.title.as_str(), f.severity),
            ("transparent huge pages: enabled [madvise], defrag [madvise]", memdx_core::Severity::Info)
        );
    }
}
