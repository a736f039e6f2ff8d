//! `memdx memcg pins`: text and JSON (schema in docs/json-schema.md, "memdx memcg pins --json").

use crate::Style;
use memdx_analyze::pins::PinsReport;
use memdx_core::units::bytes;
use memdx_parse::kpage::{Kinds, PageKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// JSON schema version of `memcg pins --json`.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    memdx_version: &'a str,
    hierarchy: &'a str,
    mount: &'a str,
    live_memcgs: u64,
    dying_memcgs: Option<u64>,
    walk_truncated: bool,
    page_size: u64,
    pages_scanned: Option<u64>,
    files_examined: usize,
    files_cached_pages: u64,
    parents: Vec<Parent<'a>>,
    unmatched_inodes: Vec<Unmatched>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct Parent<'a> {
    path: &'a str,
    inode: u64,
    dying: Option<u64>,
    pinned_pages: u64,
    pinned_bytes: u64,
    /// True on v2: the pinned pages may include the parent's own.
    upper_bound: bool,
    own_pages: Option<u64>,
    /// Page cache + anon of the parent's whole subtree (what a reclaim of the parent reaches).
    subtree_pages: Option<u64>,
    kinds: BTreeMap<&'a str, u64>,
    reported_by_kpagecgroup: Option<BTreeMap<&'static str, u64>>,
    files: Vec<File<'a>>,
    /// Cgroups memdx saw alive below this parent and no longer finds: the names of its dying memcgs
    /// as far as memdx knows them, most recently seen first.
    removed_cgroups: Vec<Removed<'a>>,
    /// Dying memcgs below this parent that memdx cannot name (v2: `dying` less the named ones).
    unnamed_dying: Option<u64>,
    next_steps: &'a [String],
}

#[derive(Serialize)]
struct Removed<'a> {
    path: &'a str,
    inode: u64,
    last_seen: i64,
    last_seen_utc: String,
    gone_by: i64,
}

#[derive(Serialize)]
struct File<'a> {
    path: &'a str,
    pages: u64,
    cached_pages: u64,
}

#[derive(Serialize)]
struct Unmatched {
    inode: u64,
    pages: BTreeMap<&'static str, u64>,
}

fn kinds_map(k: &Kinds) -> BTreeMap<&'static str, u64> {
    PageKind::ALL.iter().filter(|&&p| k.get(p) > 0).map(|&p| (p.name(), k.get(p))).collect()
}

/// Writes the `--json` document.
pub fn json<W: Write>(
    w: W,
    r: &PinsReport,
    notes: &[String],
    page_size: u64,
    version: &str,
) -> io::Result<()> {
    let doc = Doc {
        schema_version: SCHEMA_VERSION,
        memdx_version: version,
        hierarchy: r.hierarchy,
        mount: &r.base,
        live_memcgs: r.live,
        dying_memcgs: r.total_dying,
        walk_truncated: r.truncated,
        page_size,
        pages_scanned: r.pfns,
        files_examined: r.files_examined,
        files_cached_pages: r.files_resident,
        parents: r
            .parents
            .iter()
            .map(|p| Parent {
                path: &p.path,
                inode: p.ino,
                dying: p.dying,
                pinned_pages: p.pinned,
                pinned_bytes: p.pinned.saturating_mul(page_size),
                upper_bound: p.upper_bound,
                own_pages: p.own,
                subtree_pages: p.subtree,
                kinds: p.kinds.iter().map(|k| (k.name, k.pages)).collect(),
                reported_by_kpagecgroup: p.reported.as_ref().map(kinds_map),
                files: p
                    .files
                    .iter()
                    .map(|f| File { path: &f.path, pages: f.pages, cached_pages: f.resident })
                    .collect(),
                removed_cgroups: p
                    .removed
                    .iter()
                    .map(|r| Removed {
                        path: &r.path,
                        inode: r.ino,
                        last_seen: r.last_seen,
                        last_seen_utc: utc(r.last_seen),
                        gone_by: r.gone_at,
                    })
                    .collect(),
                unnamed_dying: p.dying.map(|d| d.saturating_sub(p.removed.len() as u64)),
                next_steps: &p.steps,
            })
            .collect(),
        unmatched_inodes: r
            .unmatched
            .iter()
            .map(|(i, k)| Unmatched { inode: *i, pages: kinds_map(k) })
            .collect(),
        notes,
    };
    serde_json::to_writer_pretty(w, &doc).map_err(io::Error::other)
}

fn utc(t: i64) -> String {
    format!("{} UTC", memdx_core::time::fmt_utc(t))
}

/// Most removed cgroups named per parent in text (JSON has them all).
const TEXT_REMOVED: usize = 10;

/// Most files listed per parent in text (JSON has them all).
const TEXT_FILES: usize = 20;

/// Writes the text report.
pub fn text<W: Write>(
    mut w: W,
    r: &PinsReport,
    notes: &[String],
    page_size: u64,
    st: &Style,
) -> io::Result<()> {
    let pg = |n: u64| bytes(n.saturating_mul(page_size));
    let dying = r.total_dying.map(|d| d.to_string()).unwrap_or_else(|| "an unknown number of".into());
    writeln!(
        w,
        "{}",
        st.bold(&format!(
            "{dying} dying memory cgroups, {} live (cgroup {}, {})",
            r.live, r.hierarchy, r.base
        ))
    )?;
    if r.truncated {
        writeln!(w, "  (the walk stopped at its cap of directories: counts are partial)")?;
    }
    if let Some(p) = r.pfns {
        writeln!(w, "  {p} page frames read from /proc/kpagecgroup and /proc/kpageflags")?;
    }
    if r.files_examined > 0 {
        writeln!(w, "  {} files examined, {} cached", r.files_examined, pg(r.files_resident))?;
    }
    writeln!(w)?;
    if r.parents.is_empty() {
        writeln!(w, "No pages are charged to dying memory cgroups.")?;
    } else {
        writeln!(
            w,
            "{}",
            st.bold("Pages pinning dying memcgs, by closest live ancestor (the kernel reports them there)")
        )?;
    }
    for p in &r.parents {
        let count = p.dying.map(|d| format!("{d} dying below, ")).unwrap_or_default();
        let bound = if p.upper_bound { "at most " } else { "" };
        writeln!(w, "\n{}  ({count}{bound}{} pages, {})", st.bold(&p.path), p.pinned, pg(p.pinned))?;
        for r in p.removed.iter().take(TEXT_REMOVED) {
            writeln!(w, "  dying: {}", r.name())?;
        }
        if p.removed.len() > TEXT_REMOVED {
            writeln!(
                w,
                "  dying: ... {} more removed cgroups (--json lists them all)",
                p.removed.len() - TEXT_REMOVED
            )?;
        }
        match p.dying.map(|d| d.saturating_sub(p.removed.len() as u64)) {
            Some(0) => {}
            Some(n) => writeln!(w, "  dying: {n} unknown (removed before memdx saw them), under {}", p.path)?,
            None if p.removed.is_empty() => {
                writeln!(w, "  dying: unknown (removed before memdx saw them), under {}", p.path)?
            }
            None => {}
        }
        let kinds: Vec<String> = p.kinds.iter().map(|k| format!("{} {}", k.name, pg(k.pages))).collect();
        if !kinds.is_empty() {
            writeln!(w, "  memory.stat: {}", kinds.join(", "))?;
        }
        if let Some(rep) = &p.reported {
            let own = p.own.map(|o| format!("; its own pages: {o}")).unwrap_or_default();
            let ks: Vec<String> = PageKind::ALL
                .iter()
                .filter(|&&k| rep.get(k) > 0)
                .map(|&k| format!("{} {}", k.name(), rep.get(k)))
                .collect();
            writeln!(
                w,
                "  kpagecgroup: {} pages at this inode ({}){own}",
                rep.total(),
                if ks.is_empty() { "none".into() } else { ks.join(", ") }
            )?;
        }
        if !p.files.is_empty() {
            writeln!(w, "  files with cached pages here, largest first:")?;
            for f in p.files.iter().take(TEXT_FILES) {
                writeln!(
                    w,
                    "    {:>10}  {}  ({} of {} cached pages)",
                    pg(f.pages),
                    f.path,
                    f.pages,
                    f.resident
                )?;
            }
            if p.files.len() > TEXT_FILES {
                writeln!(w, "    ... {} more (--json lists them all)", p.files.len() - TEXT_FILES)?;
            }
        }
        for s in &p.steps {
            writeln!(w, "  {} {s}", st.dim("next:"))?;
        }
    }
    if !r.unmatched.is_empty() {
        writeln!(w, "\nCharged pages at inodes that match no live directory (removed during the pass?):")?;
        for (ino, k) in r.unmatched.iter().take(10) {
            writeln!(w, "  inode {ino}: {} pages", k.total())?;
        }
    }
    for n in notes {
        writeln!(w, "\nnote: {n}")?;
    }
    Ok(())
}
