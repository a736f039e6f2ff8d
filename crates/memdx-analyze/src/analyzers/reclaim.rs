//! Analyzer: reclaim as seen in tracepoint captures (vmscan episodes), judged by the trace engine's
//! detection rules with this machine's context (swap from meminfo, filled in by `Case::finish`).

use crate::case::Case;
use memdx_core::{Report, Table};

fn ms(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

pub fn run(case: &Case, out: &mut Report) {
    // The machine's swap is in each trace's context: Case::finish puts it there.
    for r in &case.traces {
        out.findings.extend(memdx_trace::findings(r));
        let rows: Vec<Vec<String>> = r
            .kinds
            .iter()
            .filter(|k| k.begins + k.ends > 0)
            .map(|k| {
                vec![
                    format!("{:?}", k.kind),
                    k.complete.to_string(),
                    k.reclaimed.to_string(),
                    k.under_32.to_string(),
                    k.lowest_priority.map(|p| p.to_string()).unwrap_or_default(),
                    ms(k.p50_ns),
                    ms(k.p99_ns),
                    ms(k.max_ns),
                    ms(k.slab_ns),
                ]
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut notes = Vec::new();
        if let Some(e) = r.efficiency {
            notes.push(format!("efficiency (reclaimed / scanned by shrink_inactive): {:.0}%", e * 100.0));
        }
        notes.push(format!(
            "file pages scanned {} reclaimed {}; anon scanned {} reclaimed {}",
            r.file.scanned, r.file.reclaimed, r.anon.scanned, r.anon.reclaimed
        ));
        notes.push(format!("memdx trace reclaim {} --table prints the per-CPU per-second table", r.source));
        out.tables.push(Table {
            id: "reclaim.episodes".into(),
            title: format!("Reclaim episodes ({})", r.source),
            columns: [
                "kind",
                "episodes",
                "pages reclaimed",
                "< 32 pages",
                "lowest prio",
                "p50 ms",
                "p99 ms",
                "max ms",
                "shrink_slab ms",
            ]
            .map(String::from)
            .to_vec(),
            rows,
            notes,
        });
    }
}
