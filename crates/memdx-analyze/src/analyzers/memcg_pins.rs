//! Analyzer: where the pages pinning dying memory cgroups are charged. The kernel reports them at the
//! closest live ancestor; `memory.stat` tells them from the ancestor's own ([`crate::pins`]). A table
//! whenever dying memcgs hold pages, a finding naming the parents and the precise freeing step when
//! dying memcgs are many (instead of dropping every cache on the machine).

use crate::case::Case;
use crate::pins;
use memdx_core::units::bytes;
use memdx_core::{Evidence, Finding, Report, Severity, SourceRef, Table};

/// Parents shown in the table and as evidence.
const SHOWN: usize = 10;

pub fn run(case: &Case, out: &mut Report) {
    let Some(tree) = &case.memcg_tree else { return };
    let page = case.page_kb() * 1024;
    let r = pins::join(tree, None, &[], page);
    let parents: Vec<&pins::ParentPins> = r.parents.iter().filter(|p| p.pinned > 0).collect();
    if parents.is_empty() {
        return;
    }
    let total: u64 = parents.iter().map(|p| p.pinned).sum();
    let src = |p: &pins::ParentPins| {
        SourceRef::new(format!("{}{}/memory.stat", tree.base, if p.path == "/" { "" } else { &p.path }))
    };
    let mut rows = Vec::new();
    for p in parents.iter().take(SHOWN) {
        let kinds: Vec<String> =
            p.kinds.iter().map(|k| format!("{} {}", k.name, bytes(k.pages * page))).collect();
        rows.push(vec![
            p.path.clone(),
            dying_cell(p),
            format!("{}{}", if p.upper_bound { "<= " } else { "" }, bytes(p.pinned * page)),
            kinds.join(", "),
            p.steps.first().cloned().unwrap_or_default(),
        ]);
    }
    let mut notes = vec![
        "the kernel reports a dying memcg's pages at its closest live ancestor: counted there, told from the \
         ancestor's own pages with memory.stat"
            .to_string(),
    ];
    if tree.hierarchy == "v1" {
        notes.push("cgroup v1 counts dying memcgs only machine-wide: `dying` is ? per parent".into());
    }
    if parents.len() > SHOWN {
        notes.push(format!("{} more parents: memdx memcg pins lists them all", parents.len() - SHOWN));
    }
    out.tables.push(Table {
        id: "memcg.pins".into(),
        title: format!("Pages pinning dying memory cgroups, by live parent ({})", tree.base),
        columns: vec!["parent".into(), "dying".into(), "pinned".into(), "kinds".into(), "frees them".into()],
        rows,
        notes,
    });
    let dying = r.total_dying.unwrap_or(0);
    if dying < super::memcg::DYING_WARN {
        return;
    }
    let top = parents[0];
    let mut f = Finding::new(
        "memcg.pinned",
        Severity::Warning,
        format!("{} of pages pin {dying} dying memory cgroups; {} of it below {}", bytes(total * page), bytes(top.pinned * page), top.path),
    )
    .explain(format!(
        "Each page charged to a removed cgroup keeps that memcg allocated. The kernel reports those pages at the closest \
         live ancestor, and that ancestor's memory.stat tells them from its own: the parents below name where the \
         removed cgroups lived (which service or slice) and what their pages are. Freeing those pages, not every cache \
         on the machine, lets the dying memcgs go.{}",
        if top.removed.is_empty() {
            String::new()
        } else {
            format!(
                " Below {}, memdx saw these cgroups alive in earlier runs and no longer finds them: {}.",
                top.path,
                removed_names(top)
            )
        }
    ));
    for p in parents.iter().take(5) {
        f = f.evidence(Evidence::int(
            format!("pinned below {}", p.path),
            (p.pinned * page) as i64,
            Some("bytes"),
            Some(src(p)),
        ));
    }
    f = f.next("memdx memcg pins --files /var/log /var/lib /home  # the files whose cached pages pin them, largest first");
    for s in top.steps.iter().take(2) {
        f = f.next(s.clone());
    }
    out.findings.push(f.score(dying as f64));
}

/// The dying count (`?` on v1) and the removed cgroups memdx saw below the parent, named.
fn dying_cell(p: &pins::ParentPins) -> String {
    let count = p.dying.map(|d| d.to_string()).unwrap_or_else(|| "?".into());
    if p.removed.is_empty() {
        return count;
    }
    format!("{count}: {}", removed_names(p))
}

/// The first three removed cgroups memdx saw below the parent, named, and how many more.
fn removed_names(p: &pins::ParentPins) -> String {
    let names: Vec<String> = p.removed.iter().take(3).map(|r| r.name()).collect();
    let more = if p.removed.len() > 3 { format!(", {} more", p.removed.len() - 3) } else { String::new() };
    format!("{}{more}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins::{CgroupNode, MemcgTree};

    fn node(path: &str, ino: u64, parent: Option<usize>, st: &str) -> CgroupNode {
        let stat = memdx_parse::memcg_stat::parse(st, &SourceRef::new("memory.stat")).unwrap().value;
        CgroupNode { path: path.into(), ino, parent, stat: Some(stat), dying_below: None }
    }

    fn case(total_dying: u64) -> Case {
        let mut case = Case::new();
        case.memcg_tree = Some(MemcgTree {
            hierarchy: "v1",
            base: "/sys/fs/cgroup/memory".into(),
            nodes: vec![
                node("/", 1, None, "cache 1048576\nrss 0\ntotal_cache 13631488\ntotal_rss 0\n"),
                node("/system.slice", 2, Some(0), "cache 0\nrss 0\ntotal_cache 12582912\ntotal_rss 0\n"),
                node(
                    "/system.slice/a.service",
                    3,
                    Some(1),
                    "cache 4194304\nrss 0\ntotal_cache 4194304\ntotal_rss 0\n",
                ),
            ],
            total_dying: Some(total_dying),
            truncated: false,
            removed: vec![],
        });
        case
    }

    #[test]
    fn many_dying_name_the_parent_and_the_step() {
        let mut out = Report::default();
        run(&case(150), &mut out);
        // /system.slice: (12582912 - 0 - 4194304) bytes = 8 MiB pinned; the root: 13631488 - 1048576 -
        // 12582912 = 0.
        let t = out.tables.iter().find(|t| t.id == "memcg.pins").unwrap();
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0][..4], ["/system.slice", "?", "8.0 MiB", "page cache 8.0 MiB"]);
        assert!(t.rows[0][4].starts_with("echo 0 > /sys/fs/cgroup/memory/system.slice/memory.force_empty"));
        // 4 MiB of a.service's own cache is what else the reclaim reaches: 1024 pages.
        assert!(t.rows[0][4].ends_with("live cgroups included (1024 pages of theirs)"), "{}", t.rows[0][4]);
        let f = &out.findings[0];
        assert_eq!(f.id, "memcg.pinned");
        assert_eq!(
            f.title,
            "8.0 MiB of pages pin 150 dying memory cgroups; 8.0 MiB of it below /system.slice"
        );
        assert!(f.next_steps[0].starts_with("memdx memcg pins --files"));
    }

    /// A removed cgroup memdx saw below /system.slice is named in the table and the finding.
    #[test]
    fn removed_cgroups_memdx_saw_are_named() {
        let mut c = case(150);
        c.memcg_tree.as_mut().unwrap().removed = vec![crate::pins::RemovedCgroup {
            path: "/system.slice/b.service".into(),
            ino: 4,
            parent_ino: 2,
            last_seen: 1_800_000_000,
            gone_at: 1_800_000_010,
        }];
        let mut out = Report::default();
        run(&c, &mut out);
        let t = out.tables.iter().find(|t| t.id == "memcg.pins").unwrap();
        assert_eq!(
            t.rows[0][1],
            "?: /system.slice/b.service (removed; last seen at 2027-01-15 08:00:00 UTC)"
        );
        assert!(out.findings[0].explanation.ends_with(
            "Below /system.slice, memdx saw these cgroups alive in earlier runs and no longer finds them: \
             /system.slice/b.service (removed; last seen at 2027-01-15 08:00:00 UTC)."
        ));
    }

    #[test]
    fn few_dying_give_the_table_only() {
        let mut out = Report::default();
        run(&case(3), &mut out);
        assert_eq!(out.tables.len(), 1);
        assert!(out.findings.is_empty());
    }
}
