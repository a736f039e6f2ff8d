//! The conclusions and the timeline of `memdx diagnose`, as text and HTML. Kept apart from the
//! finding and chart renderers: these read `Report::conclusions` and `Report::timeline` only.

use crate::html::esc;
use crate::Style;
use memdx_analyze::timeline::fmt_epoch;
use memdx_core::conclusion::Conclusion;
use memdx_core::timeline::{Event, Timeline};
use memdx_core::Severity;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Timeline rows printed without `--verbose`.
const TEXT_EVENTS: usize = 25;
/// Next steps printed per conclusion (the findings below list the rest).
const TEXT_STEPS: usize = 3;

fn wrap(text: &str, indent: &str, width: usize) -> String {
    crate::diagnose::wrap(text, indent, width)
}

/// Conclusions at the top of the text report.
pub fn text<W: Write>(w: &mut W, conclusions: &[Conclusion], st: Style) -> io::Result<()> {
    let n = conclusions.len();
    for (i, c) in conclusions.iter().enumerate() {
        let head = if n > 1 { format!("CONCLUSION {} of {n}", i + 1) } else { "CONCLUSION".into() };
        writeln!(
            w,
            "{} {}  {}",
            st.severity(c.severity),
            st.bold(&format!("{head} (confidence {})", c.confidence)),
            st.dim(&format!("[{}]", c.rule))
        )?;
        write!(w, "{}", wrap(&c.cause, "  ", 110))?;
        writeln!(w, "  Evidence:")?;
        for (k, l) in c.chain.iter().enumerate() {
            let src = l.source.as_ref().map(|s| format!("  ({s})")).unwrap_or_default();
            let fact = format!("{}. {}", k + 1, l.fact);
            let body = wrap(&fact, "    ", 110);
            write!(w, "{}", body.trim_end())?;
            writeln!(w, "{}", st.dim(&src))?;
        }
        write!(w, "{}", wrap(&format!("Confidence {}: {}.", c.confidence, c.confidence_why), "  ", 110))?;
        if !c.ruled_out.is_empty() {
            writeln!(w, "  Ruled out:")?;
            for r in &c.ruled_out {
                let src = r.source.as_ref().map(|s| format!("  ({s})")).unwrap_or_default();
                let body = wrap(&format!("{}: not the cause: {}", r.what, r.because), "    ", 110);
                write!(w, "{}", body.trim_end())?;
                writeln!(w, "{}", st.dim(&src))?;
            }
        }
        if !c.unknown.is_empty() {
            writeln!(w, "  Unknown (input missing):")?;
            for u in &c.unknown {
                write!(w, "{}", wrap(&format!("{} -> {}", u.what, u.collect), "    ", 110))?;
            }
        }
        if !c.next_steps.is_empty() {
            writeln!(w, "  Next:")?;
            for n in c.next_steps.iter().take(TEXT_STEPS) {
                writeln!(w, "    {n}")?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

fn when(e: &Event) -> String {
    match (e.epoch, e.monotonic) {
        (Some(t), Some(m)) => format!("{} [{m:.6}]", fmt_epoch(t)),
        (Some(t), None) => match &e.wall {
            Some(w) if w.split_whitespace().count() == 3 => w.clone(),
            _ => fmt_epoch(t),
        },
        (None, Some(m)) => format!("[{m:.6}]"),
        (None, None) => e.wall.clone().unwrap_or_else(|| "time unknown".into()),
    }
}

/// The timeline as text: shown when the inputs hold more than one dated event.
pub fn timeline_text<W: Write>(w: &mut W, tl: &Timeline, st: Style, verbose: bool) -> io::Result<()> {
    let dated: Vec<&Event> =
        tl.events.iter().filter(|e| e.epoch.is_some() || e.monotonic.is_some()).collect();
    if dated.len() < 2 {
        return Ok(());
    }
    writeln!(w, "{}", st.bold("Timeline"))?;
    let rows: Vec<(String, &Event)> = dated.iter().map(|e| (when(e), *e)).collect();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let shown = if verbose { rows.len() } else { rows.len().min(TEXT_EVENTS) };
    for (t, e) in rows.iter().take(shown) {
        let src = e.source.as_ref().map(|s| format!("  {s}")).unwrap_or_default();
        writeln!(w, "  {t:<width$}  {}{}", e.what, st.dim(&src))?;
    }
    if shown < rows.len() {
        writeln!(w, "  {}", st.dim(&format!("... {} more: --verbose lists them", rows.len() - shown)))?;
    }
    for n in &tl.notes {
        writeln!(w, "  {}", st.dim(&format!("note: {n}")))?;
    }
    writeln!(w)
}

fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The conclusions as HTML (a section placed before the findings).
pub fn html(s: &mut String, conclusions: &[Conclusion]) {
    if conclusions.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"conclusions\">Conclusions</h2>");
    for c in conclusions {
        let sev = sev_class(c.severity);
        let _ = write!(
            s,
            r#"<div class="finding {sev}"><div><span class="sev {sev}">{}</span><b>confidence {}</b> <span class="fid">{}</span></div><p>{}</p><ol>"#,
            c.severity,
            c.confidence,
            esc(&c.rule),
            esc(&c.cause)
        );
        for l in &c.chain {
            let _ = write!(
                s,
                "<li>{} <span class=\"note\">{}</span></li>",
                esc(&l.fact),
                l.source.as_ref().map(|x| esc(&x.to_string())).unwrap_or_default()
            );
        }
        let _ =
            write!(s, "</ol><p class=\"note\">Confidence {}: {}.</p>", c.confidence, esc(&c.confidence_why));
        if !c.ruled_out.is_empty() {
            s.push_str("<p>Ruled out:</p><ul>");
            for r in &c.ruled_out {
                let _ = write!(
                    s,
                    "<li>{}: {} <span class=\"note\">{}</span></li>",
                    esc(&r.what),
                    esc(&r.because),
                    r.source.as_ref().map(|x| esc(&x.to_string())).unwrap_or_default()
                );
            }
            s.push_str("</ul>");
        }
        if !c.next_steps.is_empty() {
            s.push_str("<p>Next:</p><ul>");
            for n in &c.next_steps {
                let _ = write!(s, "<li><code>{}</code></li>", esc(n));
            }
            s.push_str("</ul>");
        }
        if !c.unknown.is_empty() {
            s.push_str("<p>Unknown (input missing):</p><ul>");
            for u in &c.unknown {
                let _ = write!(s, "<li>{}: <code>{}</code></li>", esc(&u.what), esc(&u.collect));
            }
            s.push_str("</ul>");
        }
        s.push_str("</div>");
    }
}

/// The timeline as an HTML table.
pub fn timeline_html(s: &mut String, tl: &Timeline) {
    if tl.events.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"timeline\">Timeline</h2><div class=\"scroll\"><table><thead><tr><th>when</th><th>event</th><th>kind</th><th>source</th></tr></thead><tbody>");
    for e in &tl.events {
        let _ = write!(
            s,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td class=\"note\">{}</td></tr>",
            esc(&when(e)),
            if e.aligned { " <span class=\"note\">(aligned)</span>" } else { "" },
            esc(&e.what),
            esc(&e.kind),
            e.source.as_ref().map(|x| esc(&x.to_string())).unwrap_or_default()
        );
    }
    s.push_str("</tbody></table></div>");
    for n in &tl.notes {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(n));
    }
}
