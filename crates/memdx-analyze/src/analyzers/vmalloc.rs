//! Analyzer: vmalloc memory by caller from `/proc/vmallocinfo`. The `pages=` of every area sum to
//! meminfo's `VmallocUsed`; grouped by the function that made the areas, the largest caller is
//! the code to look at when vmalloc memory grows (a module's buffers, BPF maps, per-task stacks).

use crate::case::Case;
use memdx_core::units::kib;
use memdx_core::{Evidence, Finding, Report, Severity, Table};

/// Share of MemTotal in vmalloc pages worth a warning.
const WARN_PCT: f64 = 10.0;

pub fn run(case: &Case, out: &mut Report) {
    let Some(v) = &case.vmallocinfo else { return };
    let page_kb = case.page_kb();
    let used_kb = v.pages.saturating_mul(page_kb);
    let Some(top) = v.callers.first() else { return };
    let total = case.meminfo.as_ref().and_then(|m| m.kb("MemTotal"));
    let share = total.filter(|t| *t > 0).map(|t| used_kb as f64 * 100.0 / t as f64);
    let top_kb = top.pages.saturating_mul(page_kb);
    let mut expl = format!(
        "{} vmalloc areas hold {} of memory (the sum of their pages=, which is meminfo's VmallocUsed); {} by {} ({} \
         areas). The address ranges add up to {} with guard pages and ioremap ranges ({} of device memory, no RAM).",
        v.areas,
        kib(used_kb),
        kib(top_kb),
        top.name,
        top.areas,
        kib(v.bytes / 1024),
        kib(v.ioremap_bytes / 1024)
    );
    if let Some(m) = case.meminfo.as_ref().and_then(|m| m.kb("VmallocUsed")).filter(|m| *m > 0) {
        expl.push_str(&format!(" meminfo says VmallocUsed {}.", kib(m)));
    }
    if let Some(p) = share {
        expl.push_str(&format!(" That is {p:.1}% of MemTotal."));
    }
    let sev = if share.is_some_and(|p| p >= WARN_PCT) { Severity::Warning } else { Severity::Info };
    let mut title = format!("vmalloc holds {}; largest caller {} ({})", kib(used_kb), top.name, kib(top_kb));
    if let Some(p) = share {
        title.push_str(&format!(", {p:.1}% of memory"));
    }
    out.findings.push(
        Finding::new("vmalloc.usage", sev, title)
            .explain(expl)
            .evidence(Evidence::float(
                "vmalloc pages",
                used_kb as f64 / 1024.0,
                Some("MiB"),
                Some(v.source.clone()),
            ))
            .evidence(Evidence::text(
                "largest caller",
                format!("{} ({} areas, {})", top.name, top.areas, kib(top_kb)),
                Some(v.source.at(top.line as usize)),
            ))
            .next(
                "compare two vmallocinfo readings some time apart: the caller whose total grows is the leak",
            )
            .score(used_kb as f64),
    );
    out.tables.push(Table {
        id: "vmalloc.callers".into(),
        title: "vmalloc memory by caller".into(),
        columns: ["caller", "areas", "memory", "address range"].map(String::from).to_vec(),
        rows: v
            .callers
            .iter()
            .take(10)
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.areas.to_string(),
                    kib(c.pages.saturating_mul(page_kb)),
                    kib(c.bytes / 1024),
                ]
            })
            .collect(),
        notes: vec![format!("{} callers; memory = pages= x page size", v.callers.len())],
    });
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn real_vmallocinfo() {
        // The 6.18 machine: pages= sum to VmallocUsed 17976 kB (read at the same moment).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats");
        let doc = format!(
            "$ cat /proc/vmallocinfo\n{}",
            std::fs::read_to_string(dir.join("vmallocinfo.txt")).unwrap()
        );
        let mut c = Case::new();
        c.ingest("doc.txt", &doc, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "vmalloc.usage").expect("vmalloc");
        assert!(f.title.starts_with("vmalloc holds 17.6 MiB; largest caller "), "{}", f.title);
    }
}
