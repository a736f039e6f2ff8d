//! Analyzer: SLUB alloc_traces/alloc_calls (`slub_debug=U`). Each line counts the objects a call site
//! allocated that are still live; a site holding tens of thousands of live objects in a growing cache
//! is where memory is not freed.

use crate::case::Case;
use memdx_core::{Evidence, Finding, Severity};
use memdx_core::{Report, Table};

/// Live objects at one site worth a warning.
const MANY: u64 = 10_000;

pub fn run(case: &Case, out: &mut Report) {
    let mut sites = Vec::new();
    for t in case.slub_traces.iter().filter(|t| t.alloc) {
        for s in &t.sites {
            sites.push((t, s));
        }
    }
    if sites.is_empty() {
        return;
    }
    sites.sort_by_key(|b| std::cmp::Reverse(b.1.count));
    let site_name = |s: &memdx_parse::slub_traces::Site| match &s.module {
        Some(m) => format!("{} [{m}]", s.func),
        None => s.func.clone(),
    };
    let cache =
        |t: &memdx_parse::slub_traces::SlubTraces| t.cache.clone().unwrap_or_else(|| "a slab cache".into());
    let top: Vec<String> = sites
        .iter()
        .take(4)
        .map(|(t, s)| format!("{} live {} objects from {}", s.count, cache(t), site_name(s)))
        .collect();
    let (t0, s0) = sites[0];
    let mut f = Finding::new(
        "slab.alloc_traces",
        if s0.count >= MANY { Severity::Warning } else { Severity::Info },
        format!("{} objects of {} allocated at {} are still live (SLUB alloc traces)", s0.count, cache(t0), site_name(s0)),
    )
    .explain(format!(
        "SLUB user tracking counts, per call site, the objects allocated there and not freed yet: {}. A site with \
         tens of thousands of live objects in a cache that keeps growing is memory its owner never releases (a leak, \
         or objects tied to a lifetime that does not end, such as device-managed allocations). The allocating \
         caller is named; the code that should free them is its counterpart.",
        top.join("; ")
    ));
    for (t, s) in sites.iter().take(4) {
        f = f.evidence(Evidence::int(
            format!("{} at {}", cache(t), site_name(s)),
            s.count as i64,
            Some("objects"),
            Some(t.source.at(s.line as usize)),
        ));
    }
    f = f
        .next("read alloc_traces twice a few minutes apart: the sites whose counts only grow are the leak")
        .next("find the matching free: grep the caller's module for the kfree/kmem_cache_free or the release path of the object")
        .score(s0.count as f64);
    out.findings.push(f);
    out.tables.push(Table {
        id: "slab.alloc_traces".into(),
        title: "Live slab objects by allocating call site".into(),
        columns: vec![
            "cache".into(),
            "live objects".into(),
            "call site".into(),
            "age min/avg/max (jiffies)".into(),
        ],
        rows: sites
            .iter()
            .take(15)
            .map(|(t, s)| {
                vec![
                    cache(t),
                    s.count.to_string(),
                    site_name(s),
                    s.age.map(|(a, b, c)| format!("{a}/{b}/{c}")).unwrap_or_default(),
                ]
            })
            .collect(),
        notes: vec![],
    });
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn top_site() {
        // raspberrypi/linux#5302, as posted.
        let t = "# cat kmalloc-128/alloc_traces | sort -rn | head\n  39453 kstrdup_const+0x3c/0x48 age=9949/204277/303649 pid=0-712 cpus=0-3\n....\n# cat kmalloc-256/alloc_traces | sort -rn | head\n  33110 drmm_mutex_init+0x54/0x68 [drm] age=4618/195716/305391 pid=178-587 cpus=0-3\n....\n";
        let mut c = Case::new();
        c.ingest("alloc_traces.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "slab.alloc_traces").expect("finding");
        assert!(f.title.contains("39453 objects of kmalloc-128 allocated at kstrdup_const"), "{}", f.title);
        assert!(f.explanation.contains("33110 live kmalloc-256 objects from drmm_mutex_init [drm]"));
        assert_eq!(f.evidence[1].source.as_ref().and_then(|s| s.line), Some(5));
    }
}
