//! The `memdx diagnose` report as text (for people) and JSON (for scripts).

use crate::Style;
use memdx_analyze::case::Missing;
use memdx_analyze::{Case, InputInfo, Report, Skipped, Table};
use memdx_core::{Diag, Finding, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// JSON schema version; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub style: Style,
    /// Show every table, skipped inputs and diagnostics.
    pub verbose: bool,
}

#[derive(Serialize)]
struct Kernel<'a> {
    release: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    machine: Option<&'a str>,
    source: &'a memdx_core::SourceRef,
}

#[derive(Serialize)]
struct Summary {
    worst: Option<Severity>,
    critical: usize,
    warning: usize,
    info: usize,
    exit_code: u8,
}

/// The `--json` document (see docs/json-schema.md).
#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    memdx_version: &'a str,
    live: bool,
    kernel: Option<Kernel<'a>>,
    summary: Summary,
    conclusions: &'a [memdx_analyze::Conclusion],
    findings: &'a [Finding],
    tables: &'a [Table],
    timeline: &'a memdx_analyze::timeline::Timeline,
    inputs: &'a [InputInfo],
    skipped: &'a [Skipped],
    missing: &'a [Missing],
    diagnostics: &'a [Diag],
}

/// 0 when nothing is at warning or above, 1 otherwise.
pub fn exit_code(report: &Report) -> u8 {
    u8::from(report.worst().is_some_and(|s| s >= Severity::Warning))
}

pub fn json<W: Write>(mut w: W, case: &Case, report: &Report, version: &str) -> io::Result<()> {
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    let doc = JsonReport {
        schema_version: SCHEMA_VERSION,
        memdx_version: version,
        live: case.live,
        kernel: case.kernel.as_ref().map(|k| Kernel {
            release: &k.release,
            machine: k.machine.as_deref(),
            source: &k.source,
        }),
        summary: Summary {
            worst: report.worst(),
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            info: count(Severity::Info),
            exit_code: exit_code(report),
        },
        conclusions: &report.conclusions,
        findings: &report.findings,
        tables: &report.tables,
        timeline: &report.timeline,
        inputs: &case.inputs,
        skipped: &case.skipped,
        missing: &case.missing,
        diagnostics: &case.diags,
    };
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)
}

fn inputs_line(case: &Case) -> String {
    let mut by_format: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &case.inputs {
        *by_format.entry(i.format.as_str()).or_default() += 1;
    }
    let kinds: Vec<String> =
        by_format.iter().map(|(f, n)| if *n > 1 { format!("{f} x{n}") } else { f.to_string() }).collect();
    let what = if case.live { "live sources read" } else { "inputs recognised" };
    let mut s = format!("{} {what}", case.inputs.len());
    if !kinds.is_empty() {
        s.push_str(&format!(" ({})", kinds.join(", ")));
    }
    if !case.skipped.is_empty() {
        s.push_str(&format!(", {} skipped", case.skipped.len()));
    }
    s
}

pub(crate) fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One finding: severity, title and id, the explanation wrapped, evidence with sources, next steps.
pub fn finding<W: Write>(w: &mut W, f: &Finding, st: Style) -> io::Result<()> {
    writeln!(w, "{} {}  {}", st.severity(f.severity), st.bold(&f.title), st.dim(&format!("[{}]", f.id)))?;
    if !f.explanation.is_empty() {
        write!(w, "{}", wrap(&f.explanation, "  ", 110))?;
    }
    for e in &f.evidence {
        let unit = e.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        let src = e.source.as_ref().map(|s| format!("  ({s})")).unwrap_or_default();
        writeln!(w, "    {}: {}{unit}{}", e.label, e.value, st.dim(&src))?;
    }
    if !f.next_steps.is_empty() {
        writeln!(w, "  Next:")?;
        for n in &f.next_steps {
            writeln!(w, "    {n}")?;
        }
    }
    writeln!(w)
}

pub fn table<W: Write>(w: &mut W, t: &Table, st: Style) -> io::Result<()> {
    writeln!(w, "{}", st.bold(&t.title))?;
    let n = t.columns.len();
    let mut widths: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for r in &t.rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate().take(n) {
            let pad = widths[i].saturating_sub(c.chars().count());
            // First column left-aligned, numbers right-aligned.
            if i == 0
                || i + 1 == n && !c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '+' || ch == '-')
            {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string()
    };
    writeln!(w, "{}", st.dim(&line(&t.columns)))?;
    for r in &t.rows {
        writeln!(w, "{}", line(r))?;
    }
    for note in &t.notes {
        writeln!(w, "  {}", st.dim(&format!("note: {note}")))?;
    }
    writeln!(w)
}

/// Tables shown without `--verbose`: the ones a person reads first.
const DEFAULT_TABLES: &[&str] = &[
    "log.reports",
    "memory.breakdown",
    "slab.top",
    "slab.growth",
    "reclaim.episodes",
    "watermarks.zones",
    "watermarks.estimate",
    "overcommit",
    "memcg.audit",
];

pub fn text<W: Write>(
    mut w: W,
    case: &Case,
    report: &Report,
    version: &str,
    opts: TextOptions,
) -> io::Result<()> {
    let st = opts.style;
    writeln!(w, "memdx {version}  ·  {}", inputs_line(case))?;
    match &case.kernel {
        Some(k) => writeln!(
            w,
            "kernel {}{} (from {})",
            k.release,
            k.machine.as_deref().map(|m| format!(" {m}")).unwrap_or_default(),
            k.source
        )?,
        None => writeln!(w, "kernel unknown (no uname, /proc/version or log line with the release)")?,
    }
    writeln!(w)?;
    crate::conclusion::text(&mut w, &report.conclusions, st)?;
    if report.findings.is_empty() {
        writeln!(w, "No findings: nothing memdx checks looks wrong in these inputs.\n")?;
    }
    for f in &report.findings {
        finding(&mut w, f, st)?;
    }
    for t in &report.tables {
        if opts.verbose || DEFAULT_TABLES.contains(&t.id.as_str()) {
            table(&mut w, t, st)?;
        }
    }
    crate::conclusion::timeline_text(&mut w, &report.timeline, st, opts.verbose)?;
    let absent = case.not_provided();
    if !case.live && !absent.is_empty() {
        writeln!(
            w,
            "not examined: {} (not provided) -> `memdx snapshot` on the host collects them\n",
            absent.join(", ")
        )?;
    }
    if !case.missing.is_empty() {
        writeln!(w, "{}", st.bold("Not examined:"))?;
        for m in &case.missing {
            writeln!(w, "  {}: {}", m.what, m.why)?;
        }
        writeln!(w)?;
    }
    if opts.verbose {
        if !case.skipped.is_empty() {
            writeln!(w, "{}", st.bold("Skipped inputs:"))?;
            for s in &case.skipped {
                writeln!(w, "  {}: {}", s.file, s.reason)?;
            }
            writeln!(w)?;
        }
        if !case.diags.is_empty() {
            writeln!(w, "{}", st.bold("Diagnostics:"))?;
            for d in &case.diags {
                writeln!(w, "  {d}")?;
            }
            writeln!(w)?;
        }
    } else if !case.skipped.is_empty() || !case.diags.is_empty() {
        writeln!(
            w,
            "{}",
            st.dim(&format!(
                "{} inputs skipped, {} diagnostics: --verbose lists them",
                case.skipped.len(),
                case.diags.len()
            ))
        )?;
    }
    Ok(())
}
