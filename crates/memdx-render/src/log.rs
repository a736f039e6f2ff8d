//! Rendering of kernel log reports for `memdx log`: text for people, JSON (schema in docs/log.md).

use memdx_log::{LogScan, Report};
use serde::Serialize;
use std::io::{self, Write};

/// Version of the `memdx log --json` document (docs/log.md); bumped when a field is removed or
/// renamed.
pub const SCHEMA_VERSION: u32 = 1;

/// `memdx log --json` document.
#[derive(Serialize)]
struct JsonOut<'a> {
    schema_version: u32,
    reports: Vec<&'a Report>,
    files: Vec<JsonFile<'a>>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file: &'a str,
    lines: u64,
    kernel_lines: u64,
    kernel: Option<&'a str>,
    taint: Option<&'a str>,
    framings: Vec<&'static str>,
    slub_trace_records: u64,
    slub_trace_allocs: u64,
    slub_trace_frees: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    crash: Option<&'a memdx_log::CrashCase>,
    diags: &'a [memdx_core::Diag],
}

/// Writes the JSON document for the scanned files (`(file name, scan)`).
pub fn write_json<W: Write>(w: &mut W, scans: &[(String, LogScan)]) -> io::Result<()> {
    let out = JsonOut {
        schema_version: SCHEMA_VERSION,
        reports: scans.iter().flat_map(|(_, s)| s.reports.iter()).collect(),
        files: scans
            .iter()
            .map(|(f, s)| JsonFile {
                file: f,
                lines: s.lines,
                kernel_lines: s.kernel_lines,
                kernel: s.kernel.as_deref(),
                taint: s.taint.as_deref(),
                framings: s.framings.iter().map(|(f, _)| f.name()).collect(),
                slub_trace_records: s.slub_trace_records,
                slub_trace_allocs: s.slub_trace_allocs,
                slub_trace_frees: s.slub_trace_frees,
                crash: s.crash.as_ref(),
                diags: &s.diags,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *w, &out).map_err(io::Error::other)?;
    writeln!(w)
}

/// Writes the text listing: one block per report signature; `verbose` adds all frames and registers.
pub fn write_text<W: Write>(w: &mut W, scans: &[(String, LogScan)], verbose: bool) -> io::Result<()> {
    for (file, s) in scans {
        let fr: Vec<&str> = s.framings.iter().map(|(f, _)| f.name()).collect();
        writeln!(
            w,
            "{file}: {} lines ({} kernel, {}), {} reports",
            s.lines,
            s.kernel_lines,
            fr.join(", "),
            s.reports.len()
        )?;
        if let Some(k) = &s.kernel {
            let taint = match s.taint.as_deref() {
                Some("") => " (not tainted)".to_string(),
                Some(t) => format!(" (taint {t})"),
                None => String::new(),
            };
            writeln!(w, "  kernel {k}{taint}")?;
        }
        if s.slub_trace_records > 0 {
            writeln!(
                w,
                "  slub_debug TRACE records: {} ({} alloc, {} free)",
                s.slub_trace_records, s.slub_trace_allocs, s.slub_trace_frees
            )?;
        }
        if let Some(c) = &s.crash {
            writeln!(w, "  crash session ({}): {}", c.commands.join(", "), c.summary)?;
        }
        for r in &s.reports {
            writeln!(w)?;
            write_report(w, r, verbose)?;
        }
        for d in &s.diags {
            writeln!(w, "  {d}")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

fn write_report<W: Write>(w: &mut W, r: &Report, verbose: bool) -> io::Result<()> {
    let times = if r.count > 1 {
        format!("  x{} (first {}, last {})", r.count, r.first_seen, r.last_seen)
    } else {
        format!("  at {}", r.time)
    };
    writeln!(w, "{}  [{}]{times}", r.title, r.kind.name())?;
    if let Some(c) = &r.corrupted {
        writeln!(w, "  CORRUPTED: {c}")?;
    }
    let mut who = Vec::new();
    if let Some(c) = &r.comm {
        who.push(format!("comm {c}"));
    }
    if let Some(p) = r.pid {
        who.push(format!("pid {p}"));
    }
    if let Some(c) = r.cpu {
        who.push(format!("cpu {c}"));
    }
    if let Some(k) = &r.kernel {
        who.push(format!("kernel {k}"));
    }
    if let Some(t) = &r.taint {
        who.push(if t.is_empty() { "not tainted".into() } else { format!("taint {t}") });
    }
    if !who.is_empty() {
        writeln!(w, "  {}", who.join(", "))?;
    }
    writeln!(w, "  source {}  ({})", r.source, r.header)?;
    if let Some(pc) = &r.pc {
        writeln!(w, "  pc {pc}")?;
    }
    let limit = if verbose { usize::MAX } else { 8 };
    for f in r.frames.iter().take(limit) {
        let ctx = f.context.map(|c| format!("  <{c}>")).unwrap_or_default();
        let loc = f.location.as_deref().map(|l| format!("  {l}")).unwrap_or_default();
        writeln!(w, "    {f}{ctx}{loc}")?;
    }
    if r.frames.len() > limit {
        writeln!(w, "    ... {} more frames (--verbose)", r.frames.len() - limit)?;
    }
    if verbose {
        if let Some(h) = &r.hardware {
            writeln!(w, "  hardware {h}")?;
        }
        if !r.registers.is_empty() {
            let regs: Vec<String> = r.registers.iter().map(|g| format!("{}={}", g.name, g.value)).collect();
            writeln!(w, "  registers {}", regs.join(" "))?;
        }
        if let Some(c) = &r.code {
            writeln!(w, "  code {c}")?;
        }
    }
    if let Some(e) = &r.explanation {
        if !e.summary.is_empty() {
            writeln!(w, "  explanation [{}]: {}", e.class, e.summary)?;
        }
        for f in &e.facts {
            writeln!(w, "    {}: {}", f.label, f.value)?;
        }
        for n in &e.next_steps {
            writeln!(w, "  next: {n}")?;
        }
    }
    Ok(())
}
