//! The `--html FILE` report: one self-contained HTML file (inline CSS and SVG, no script, font or
//! image fetched from anywhere) with the findings, the memory breakdown, the slab top, free memory
//! per order, a reclaim latency histogram, history trends and a flame graph of allocation stacks.
//!
//! Charts are SVG written here: a line chart and a bar chart are a few dozen lines each, and every
//! plotting crate either pulls a font stack and a rasteriser or emits script. The flame graph is
//! `inferno`'s, inlined.

use memdx_analyze::analyzers::fragmentation::{kernel_fmt, unusable_index};
use memdx_analyze::{Case, Report, Table};
use memdx_core::units::kib;
use memdx_core::units::SatSum;
use memdx_core::Severity;
use memdx_store::findings::{fragmentation_series, trends, RSS_MIN_GROWTH_KB, SLAB_MIN_GROWTH_KB};
use memdx_store::sample::kind;
use memdx_store::History;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Everything the report shows. Only `case`, `report` and `version` are required; the rest is shown
/// when present and named as not available otherwise.
pub struct HtmlInput<'a> {
    pub case: &'a Case,
    pub report: &'a Report,
    pub version: &'a str,
    /// Unix seconds the report was made (shown in the header).
    pub generated: Option<i64>,
    pub history: Option<&'a History>,
    pub history_report: Option<&'a Report>,
    /// Allocation stacks, root first, with their counts (from the slab tracer).
    pub stacks: &'a [(Vec<String>, u64)],
    /// Reclaim latency histogram: (bucket label, count), in bucket order.
    pub reclaim_latency: &'a [(String, u64)],
}

impl<'a> HtmlInput<'a> {
    pub fn new(case: &'a Case, report: &'a Report, version: &'a str) -> Self {
        HtmlInput {
            case,
            report,
            version,
            generated: None,
            history: None,
            history_report: None,
            stacks: &[],
            reclaim_latency: &[],
        }
    }
}

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
:root{--fg:#1d232b;--muted:#5c6670;--line:#d5dae0;--crit:#b3261e;--warn:#a05a00;--info:#2f5f98;--bg:#fff}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1em;margin:1em 0 .3em}
.meta{color:var(--muted);font-size:.9em}
.finding{border:1px solid var(--line);border-left:6px solid var(--info);border-radius:4px;padding:8px 12px;margin:10px 0;break-inside:avoid}
.finding.critical{border-left-color:var(--crit)}.finding.warning{border-left-color:var(--warn)}
.sev{font-weight:600;font-size:.8em;letter-spacing:.04em;padding:1px 6px;border-radius:3px;color:#fff;background:var(--info);margin-right:6px}
.sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}
.fid{color:var(--muted);font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
.finding ul{margin:.3em 0 .3em 1.2em;padding:0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:.88em;max-width:100%}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
.note{color:var(--muted);font-size:.85em;margin:2px 0}
.charts{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;break-inside:avoid}figcaption{font-size:.85em;color:var(--muted)}
svg text{font-family:system-ui,sans-serif}
.flame svg{width:100%;height:auto}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
@media print{body{font-size:11px}main{max-width:none;padding:0}.finding,figure,table{break-inside:avoid}h2{break-after:avoid}}
"#;

/// Series and part colours: twelve distinct hues, so that the memory breakdown (ten parts) and any
/// chart of up to twelve series never reuse a colour.
pub const PALETTE: [&str; 12] = [
    "#2f5f98", "#c0392b", "#2e8b57", "#a05a00", "#7b4ea3", "#00838f", "#8d6e63", "#546e7a", "#d81b60",
    "#9e9d24", "#f9a825", "#4fc3f7",
];

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// What a chart's y values are: memory in KiB (shown in one binary unit for the whole axis, named
/// in the caption) or plain counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    KiB,
    Count,
}

/// One scale for an axis whose largest value is `max`: (divisor, unit for the caption). Every tick
/// of the axis is in that unit, so a caption never says KiB over MiB ticks.
fn axis_scale(axis: Axis, max: f64) -> (f64, &'static str) {
    match axis {
        Axis::Count => (1.0, ""),
        Axis::KiB => {
            let mut div = 1.0;
            for unit in ["KiB", "MiB", "GiB", "TiB"] {
                if max.abs() / div < 1024.0 || unit == "TiB" {
                    return (div, unit);
                }
                div *= 1024.0;
            }
            (div, "TiB")
        }
    }
}

/// A tick label in the axis unit: as many decimals as the tick step needs.
fn axis_label(axis: Axis, v: f64, div: f64, step: f64) -> String {
    if axis == Axis::Count {
        return fmt_num(v);
    }
    let (x, st) = (v / div, step / div);
    if x.abs() < 1e-9 {
        "0".into()
    } else if st >= 10.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if st >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The caption of a chart: its title and, for memory, the axis unit.
fn caption(title: &str, unit: &str) -> String {
    if unit.is_empty() {
        format!("<b>{}</b>", esc(title))
    } else {
        format!("<b>{}</b> ({unit})", esc(title))
    }
}

/// Time ticks for a span: the first step of the list giving at most 6 ticks, and its label format.
fn time_ticks(t0: i64, t1: i64) -> Vec<(i64, String)> {
    const STEPS: [i64; 20] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800,
        604_800,
    ];
    let span = (t1 - t0).max(1);
    let step = STEPS.iter().copied().find(|s| span / s <= 6).unwrap_or((span + 5) / 6);
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    let label = |t: i64| {
        let full = fmt_time(t); // YYYY-MM-DD HH:MM:SS UTC
        if step >= 86400 {
            full[5..10].to_string()
        } else if step >= 60 {
            full[11..16].to_string()
        } else {
            full[11..19].to_string()
        }
    };
    (0..).map(|i| first + i * step).take_while(|&t| t <= t1).map(|t| (t, label(t))).collect()
}

/// A unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn line_chart_time(t: i64) -> String {
    fmt_time(t)
}

fn fmt_time(t: i64) -> String {
    format!("{} UTC", memdx_core::time::fmt_utc(t))
}

/// A line chart of several series over time, as inline SVG.
pub fn line_chart(title: &str, series: &[(String, Vec<(i64, f64)>)], axis: Axis) -> String {
    let (w, h, l, r, t, b) = (520.0, 232.0, 56.0, 14.0, 10.0, 40.0);
    let pts: Vec<&(i64, f64)> = series.iter().flat_map(|s| s.1.iter()).collect();
    let mut s = String::new();
    if pts.is_empty() {
        return s;
    }
    let (t0, t1) = pts.iter().fold((i64::MAX, i64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let ymax = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max).max(0.0);
    let ymin = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min).min(0.0);
    let yspan = if ymax > ymin { ymax - ymin } else { 1.0 };
    let (div, unit) = axis_scale(axis, ymax.abs().max(ymin.abs()));
    let tspan = (t1 - t0).max(1) as f64;
    let x = |tt: i64| l + (tt - t0) as f64 / tspan * (w - l - r);
    let y = |v: f64| t + (1.0 - (v - ymin) / yspan) * (h - t - b);
    let _ = write!(
        s,
        r##"<figure><svg role="img" aria-label="{a}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg"><rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="#d5dae0"/>"##,
        a = esc(title),
        pw = w - l - r,
        ph = h - t - b
    );
    for i in 0..=4 {
        let v = ymin + yspan * i as f64 / 4.0;
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eef0f3"/><text class="ytick" x="{tx}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#5c6670">{lab}</text>"##,
            x2 = w - r,
            tx = l - 4.0,
            ty = yy + 3.0,
            lab = esc(&axis_label(axis, v, div, yspan / 4.0))
        );
    }
    for (tt, lab) in time_ticks(t0, t1) {
        let xx = x(tt);
        let _ = write!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{t}" y2="{yb}" stroke="#eef0f3"/><line x1="{xx:.1}" x2="{xx:.1}" y1="{yb}" y2="{yt}" stroke="#5c6670"/><text class="xtick" data-t="{tt}" x="{xx:.1}" y="{yl}" font-size="10" text-anchor="middle" fill="#5c6670">{lab}</text>"##,
            yb = h - b,
            yt = h - b + 4.0,
            yl = h - b + 15.0,
        );
    }
    let _ = write!(
        s,
        r##"<text x="{l}" y="{yy}" font-size="10" fill="#5c6670">{a} to {bb}</text>"##,
        yy = h - 6.0,
        a = fmt_time(t0),
        bb = fmt_time(t1)
    );
    for (i, (_, p)) in series.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (j, &(tt, v)) in p.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if j == 0 { "M" } else { " L" }, x(tt), y(v));
        }
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="1.6"/>"#,
            c = PALETTE[i % PALETTE.len()]
        );
    }
    s.push_str("</svg><figcaption>");
    s.push_str(&caption(title, unit));
    for (i, (name, _)) in series.iter().enumerate() {
        let _ =
            write!(s, r#" <span style="color:{}">&#9632;</span> {}"#, PALETTE[i % PALETTE.len()], esc(name));
    }
    s.push_str("</figcaption></figure>");
    s
}

/// A vertical bar chart with labels under the bars, as inline SVG.
pub fn bar_chart(title: &str, bars: &[(String, f64)], axis: Axis) -> String {
    let mut s = String::new();
    if bars.is_empty() {
        return s;
    }
    let (w, h, l, r, t, b) = (520.0, 200.0, 64.0, 10.0, 10.0, 34.0);
    let max = bars.iter().map(|x| x.1).fold(0.0, f64::max).max(1e-9);
    let (div, unit) = axis_scale(axis, max);
    let bw = (w - l - r) / bars.len() as f64;
    let _ = write!(
        s,
        r#"<figure><svg role="img" aria-label="{a}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">"#,
        a = esc(title)
    );
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let yy = t + (1.0 - v / max) * (h - t - b);
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eef0f3"/><text class="ytick" x="{tx}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#5c6670">{lab}</text>"##,
            x2 = w - r,
            tx = l - 4.0,
            ty = yy + 3.0,
            lab = esc(&axis_label(axis, v, div, max / 4.0))
        );
    }
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = v.max(0.0) / max * (h - t - b);
        let x = l + i as f64 * bw;
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bw2:.1}" height="{bh:.1}" fill="#2f5f98"><title>{lab}: {val}</title></rect><text x="{cx:.1}" y="{ly}" font-size="10" text-anchor="middle" fill="#5c6670">{lab}</text>"##,
            y = h - b - bh,
            bw2 = (bw * 0.8).max(1.0),
            cx = x + bw * 0.4,
            ly = h - b + 12.0,
            lab = esc(label),
            val = esc(format!("{} {unit}", axis_label(axis, *v, div, max / 4.0)).trim_end())
        );
    }
    let _ = write!(s, "</svg><figcaption>{}</figcaption></figure>", caption(title, unit));
    s
}

fn table_html(s: &mut String, t: &Table) {
    let _ = write!(s, "<h3>{}</h3><div class=\"scroll\"><table><thead><tr>", esc(&t.title));
    let numeric: Vec<bool> = (0..t.columns.len())
        .map(|i| {
            t.rows.iter().all(|r| {
                r.get(i)
                    .is_none_or(|c| c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '+'))
            })
        })
        .collect();
    for (i, c) in t.columns.iter().enumerate() {
        let _ = write!(s, "<th{}>{}</th>", if numeric[i] { " class=\"n\"" } else { "" }, esc(c));
    }
    s.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        s.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let n = numeric.get(i).copied().unwrap_or(false);
            let _ = write!(s, "<td{}>{}</td>", if n { " class=\"n\"" } else { "" }, esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    for n in &t.notes {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(n));
    }
}

fn findings_html(s: &mut String, findings: &[memdx_core::Finding]) {
    if findings.is_empty() {
        s.push_str("<p>No findings.</p>");
    }
    for f in findings {
        let sev = match f.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = write!(
            s,
            r#"<div class="finding {sev}"><div><span class="sev {sev}">{}</span><b>{}</b> <span class="fid">{}</span></div><p>{}</p>"#,
            f.severity,
            esc(&f.title),
            esc(&f.id),
            esc(&f.explanation)
        );
        if !f.evidence.is_empty() {
            s.push_str("<table><tbody>");
            for e in &f.evidence {
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td class=\"n\">{}{}</td><td class=\"note\">{}</td></tr>",
                    esc(&e.label),
                    esc(&e.value.to_string()),
                    e.unit.as_deref().map(|u| format!(" {}", esc(u))).unwrap_or_default(),
                    e.source.as_ref().map(|x| esc(&x.to_string())).unwrap_or_default()
                );
            }
            s.push_str("</tbody></table>");
        }
        if !f.next_steps.is_empty() {
            s.push_str("<ul>");
            for n in &f.next_steps {
                let _ = write!(s, "<li><code>{}</code></li>", esc(n));
            }
            s.push_str("</ul>");
        }
        s.push_str("</div>");
    }
}

/// Where MemTotal goes, from meminfo: (label, KiB). The parts are disjoint; `other` is the rest.
pub fn memory_breakdown(case: &Case) -> Vec<(String, u64)> {
    let Some(m) = &case.meminfo else { return Vec::new() };
    let Some(total) = m.kb("MemTotal") else { return Vec::new() };
    let g = |k: &str| m.kb(k).unwrap_or(0);
    // Cached includes Shmem; AnonPages does not. Slab splits into reclaimable and not.
    let parts = [
        ("free", g("MemFree")),
        ("anonymous (AnonPages)", g("AnonPages")),
        ("page cache (Cached + Buffers)", g("Cached") + g("Buffers")),
        ("slab reclaimable", g("SReclaimable")),
        ("slab unreclaimable", g("SUnreclaim")),
        ("kernel stacks", g("KernelStack")),
        ("page tables", g("PageTables") + g("SecPageTables")),
        ("per-CPU", g("Percpu")),
        ("huge pages (static pool)", g("Hugetlb")),
    ];
    let known: u64 = parts.iter().map(|p| p.1).sat_sum();
    let mut v: Vec<(String, u64)> = parts.iter().map(|(l, k)| (l.to_string(), *k)).collect();
    v.push(("other kernel (vmalloc, drivers, unaccounted)".into(), total.saturating_sub(known)));
    v
}

fn breakdown_svg(parts: &[(String, u64)]) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sat_sum();
    if total == 0 {
        return String::new();
    }
    let (w, h) = (1000.0, 34.0);
    let mut s = format!(
        r#"<svg role="img" aria-label="memory breakdown" viewBox="0 0 {w} {h}" width="100%" height="{h}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">"#
    );
    let mut x = 0.0;
    for (i, (label, v)) in parts.iter().enumerate() {
        let pw = *v as f64 / total as f64 * w;
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" y="0" width="{pw:.2}" height="{h}" fill="{c}"><title>{lab}: {val}</title></rect>"#,
            c = PALETTE[i % PALETTE.len()],
            lab = esc(label),
            val = kib(*v)
        );
        x += pw;
    }
    s.push_str("</svg>");
    s
}

/// Folded stacks (`a;b;c count`) for inferno, from (stack root first, count).
pub fn folded(stacks: &[(Vec<String>, u64)]) -> Vec<String> {
    stacks
        .iter()
        .filter(|(st, n)| !st.is_empty() && *n > 0)
        .map(|(st, n)| {
            // `;` separates frames and a space the count: neither may appear in a frame name.
            let frames: Vec<String> = st.iter().map(|f| f.replace([';', ' '], "_")).collect();
            format!("{} {n}", frames.join(";"))
        })
        .collect()
}

/// The flame graph SVG for the stacks, or an error message.
pub fn flame_svg(stacks: &[(Vec<String>, u64)], title: &str) -> Result<String, String> {
    let lines = folded(stacks);
    if lines.is_empty() {
        return Err("no stacks".into());
    }
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = "allocations".into();
    opts.hash = true;
    opts.deterministic = true;
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| format!("flame graph: {e}"))?;
    let svg = String::from_utf8(out).map_err(|e| format!("flame graph: {e}"))?;
    // The interactive search and zoom are a script; the report carries none so it opens the same
    // everywhere (and prints), and tooltips stay as <title> elements.
    Ok(strip_scripts(&svg))
}

fn strip_scripts(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(i) = rest.find("<script") {
        out.push_str(&rest[..i]);
        match rest[i..].find("</script>") {
            Some(j) => rest = &rest[i + j + "</script>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Comments (inferno's credits, with links) are not shown; drop them with the scripts.
    let mut no_comments = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("<!--") {
        no_comments.push_str(&rest[..i]);
        rest = match rest[i..].find("-->") {
            Some(j) => &rest[i + j + 3..],
            None => "",
        };
    }
    no_comments.push_str(rest);
    let out = no_comments;
    // Drop the onload hook and the <?xml?>/DOCTYPE prologue, which are invalid inside HTML.
    let out = out.replace(" onload=\"init(evt)\"", "");
    match out.find("<svg") {
        Some(i) => out[i..].to_string(),
        None => out,
    }
}

/// Allocation stacks from an ftrace text trace with `options/stacktrace` or a stacktrace trigger:
/// each `<stack trace>` line followed by ` => frame` lines (innermost first). Returns stacks root
/// first with how many times each was seen, most frequent first. Lines that are not part of a stack
/// are ignored, so any damaged trace yields what it holds.
pub fn stacks_from_ftrace(text: &str) -> Vec<(Vec<String>, u64)> {
    let mut counts: std::collections::HashMap<Vec<String>, u64> = Default::default();
    let mut cur: Option<Vec<String>> = None;
    let mut flush = |cur: &mut Option<Vec<String>>| {
        if let Some(mut st) = cur.take() {
            if !st.is_empty() {
                st.reverse();
                *counts.entry(st).or_default() += 1;
            }
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(f) = t.strip_prefix("=> ") {
            if let Some(st) = cur.as_mut() {
                // `func+0x1a/0x40 [module]`: keep the function (and the module).
                let name = f.split('+').next().unwrap_or(f).trim();
                if !name.is_empty() {
                    st.push(name.to_string());
                }
            }
        } else {
            flush(&mut cur);
            if t.ends_with("<stack trace>") {
                cur = Some(Vec::new());
            }
        }
    }
    flush(&mut cur);
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Writes the whole report.
pub fn write<W: Write>(mut w: W, input: &HtmlInput) -> io::Result<()> {
    w.write_all(render(input).as_bytes())
}

/// [`write`] into a string.
pub fn render(input: &HtmlInput) -> String {
    let case = input.case;
    let mut s = String::with_capacity(256 * 1024);
    let release = case.kernel.as_ref().map(|k| k.release.as_str());
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>memdx report{k}</title><style>{CSS}</style></head><body><main>"#,
        k = release.map(|r| format!(": {}", esc(r))).unwrap_or_default()
    );
    let _ = write!(
        s,
        "<h1>memdx report</h1><p class=\"meta\">{} &middot; memdx {}{}{}</p>",
        release
            .map_or_else(|| "kernel release not in the inputs".to_string(), |r| format!("kernel {}", esc(r))),
        esc(input.version),
        input.generated.map(|t| format!(" &middot; generated {}", fmt_time(t))).unwrap_or_default(),
        if case.live { " &middot; live machine" } else { "" }
    );

    crate::conclusion::html(&mut s, &input.report.conclusions);
    // Findings.
    let worst = |sev| input.report.findings.iter().filter(|f| f.severity == sev).count();
    let _ = write!(
        s,
        "<h2 id=\"findings\">Findings</h2><p class=\"meta\">{} critical, {} warning, {} info</p>",
        worst(Severity::Critical),
        worst(Severity::Warning),
        worst(Severity::Info)
    );
    findings_html(&mut s, &input.report.findings);
    if let Some(hr) = input.history_report {
        if !hr.findings.is_empty() {
            s.push_str("<h3>From the recorded history</h3>");
            findings_html(&mut s, &hr.findings);
        }
    }

    crate::conclusion::timeline_html(&mut s, &input.report.timeline);
    // Memory breakdown.
    s.push_str("<h2 id=\"memory\">Memory breakdown</h2>");
    let parts = memory_breakdown(case);
    if parts.is_empty() {
        s.push_str("<p class=\"note\">No meminfo in the inputs.</p>");
    } else {
        s.push_str(&breakdown_svg(&parts));
        let total: u64 = parts.iter().map(|p| p.1).sat_sum();
        s.push_str("<table><thead><tr><th></th><th>part</th><th class=\"n\">size</th><th class=\"n\">share</th></tr></thead><tbody>");
        for (i, (l, v)) in parts.iter().enumerate() {
            let _ = write!(
                s,
                "<tr><td><span style=\"color:{}\">&#9632;</span></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td></tr>",
                PALETTE[i % PALETTE.len()],
                esc(l),
                kib(*v),
                memdx_core::units::pct(*v, total)
            );
        }
        s.push_str("</tbody></table>");
    }

    // Slab top.
    s.push_str("<h2 id=\"slab\">Slab caches</h2>");
    match case.slab() {
        Some(t) => {
            let mut caches: Vec<_> = t.caches.iter().map(|c| (c, c.memory_kb(case.page_kb()))).collect();
            caches.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.name.cmp(&b.0.name)));
            let max = caches.first().map(|c| c.1).unwrap_or(0).max(1);
            s.push_str("<table><thead><tr><th>cache</th><th class=\"n\">memory</th><th></th><th class=\"n\">active objects</th><th class=\"n\">objects</th><th class=\"n\">object size</th><th class=\"n\">in use</th></tr></thead><tbody>");
            for (c, kb) in caches.iter().take(20) {
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td><svg width=\"160\" height=\"10\" xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"{:.1}\" height=\"10\" fill=\"#2f5f98\"/></svg></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} B</td><td class=\"n\">{:.0}%</td></tr>",
                    esc(&c.name),
                    kib(*kb),
                    *kb as f64 / max as f64 * 160.0,
                    c.active_objs,
                    c.num_objs,
                    c.objsize,
                    c.active_pct()
                );
            }
            let _ = write!(s, "</tbody></table><p class=\"note\">from {}</p>", esc(&t.source.to_string()));
        }
        None => s.push_str("<p class=\"note\">No slabinfo or slabtop in the inputs.</p>"),
    }

    // Fragmentation.
    s.push_str("<h2 id=\"fragmentation\">Free memory per order</h2>");
    match &case.buddyinfo {
        Some(b) => {
            s.push_str("<div class=\"charts\">");
            let page_kb = case.page_kb();
            for z in b.zones.iter().filter(|z| z.free_pages() > 0) {
                let bars: Vec<(String, f64)> = z
                    .free
                    .iter()
                    .enumerate()
                    .map(|(o, n)| (o.to_string(), (n.saturating_mul(page_kb) << o.min(40)) as f64))
                    .collect();
                s.push_str(&bar_chart(
                    &format!("node {} {}: free memory by block order", z.node, z.zone),
                    &bars,
                    Axis::KiB,
                ));
            }
            s.push_str("</div><table><thead><tr><th>zone</th>");
            let orders = b.zones.iter().map(|z| z.free.len()).max().unwrap_or(0);
            for o in 0..orders {
                let _ = write!(s, "<th class=\"n\">{o}</th>");
            }
            s.push_str("</tr></thead><tbody>");
            for z in &b.zones {
                let _ = write!(s, "<tr><td>node {} {}</td>", z.node, esc(&z.zone));
                for o in 0..z.free.len() {
                    let _ = write!(s, "<td class=\"n\">{}</td>", kernel_fmt(unusable_index(&z.free, o)));
                }
                s.push_str("</tr>");
            }
            s.push_str("</tbody></table><p class=\"note\">Unusable free space index per order as the kernel prints it in debugfs extfrag/unusable_index (0.000: all free memory usable for the order, 1.000: none), mm/vmstat.c.</p>");
        }
        None => s.push_str("<p class=\"note\">No buddyinfo in the inputs.</p>"),
    }

    // Reclaim latency.
    s.push_str("<h2 id=\"reclaim\">Reclaim latency</h2>");
    if input.reclaim_latency.is_empty() {
        s.push_str("<p class=\"note\">Not measured: a reclaim trace (<code>memdx trace reclaim</code>) gives the direct reclaim latency histogram.</p>");
    } else {
        let bars: Vec<(String, f64)> =
            input.reclaim_latency.iter().map(|(l, n)| (l.clone(), *n as f64)).collect();
        s.push_str(&bar_chart("Reclaim episodes tasks waited in, by duration", &bars, Axis::Count));
    }

    // History.
    s.push_str("<h2 id=\"history\">History</h2>");
    match input.history {
        Some(h) if h.times.len() >= 2 => {
            let _ = write!(
                s,
                "<p class=\"meta\">{} samples from {} to {} ({})</p><div class=\"charts\">",
                h.times.len(),
                fmt_time(h.times[0]),
                fmt_time(h.times[h.times.len() - 1]),
                esc(&h.source)
            );
            let mem: Vec<(String, Vec<(i64, f64)>)> = ["MemAvailable", "MemFree", "SUnreclaim", "Cached"]
                .iter()
                .filter_map(|k| h.get(kind::MEMINFO, k).map(|s| (k.to_string(), s.points.clone())))
                .collect();
            s.push_str(&line_chart("Memory (meminfo)", &mem, Axis::KiB));
            // The five series of a kind that grew most, as chart lines.
            let top5 = |k: &str, min_growth: f64| -> Vec<(String, Vec<(i64, f64)>)> {
                trends(h, k, min_growth)
                    .into_iter()
                    .take(5)
                    .map(|t| (t.series.name.clone(), t.series.points.clone()))
                    .collect()
            };
            s.push_str(&line_chart(
                "Slab caches that grew most",
                &top5(kind::SLAB_KB, SLAB_MIN_GROWTH_KB),
                Axis::KiB,
            ));
            s.push_str(&line_chart(
                "Processes whose RSS grew most",
                &top5(kind::PROC_RSS, RSS_MIN_GROWTH_KB),
                Axis::KiB,
            ));
            let memcg: Vec<(String, Vec<(i64, f64)>)> = ["live", "dying"]
                .iter()
                .filter_map(|k| h.get(kind::MEMCG, k).map(|s| (format!("{k} memcgs"), s.points.clone())))
                .collect();
            s.push_str(&line_chart("Memory cgroups", &memcg, Axis::Count));
            // The index as the kernel prints it (debugfs extfrag/unusable_index: 0.000 to 1.000), the
            // scale of the table above and of the text report.
            let frag: Vec<(String, Vec<(i64, f64)>)> = fragmentation_series(h)
                .into_iter()
                .map(|(z, p)| (z, p.into_iter().map(|(t, v)| (t, v / 1000.0)).collect()))
                .collect();
            s.push_str(&line_chart("Unusable free space index, order 3 (0 to 1)", &frag, Axis::Count));
            s.push_str("</div>");
            if let Some(hr) = input.history_report {
                for t in &hr.tables {
                    table_html(&mut s, t);
                }
            }
        }
        _ => s.push_str("<p class=\"note\">No recorded history: <code>memdx record</code> on the machine and <code>--db PATH</code> add trends here.</p>"),
    }

    // Flame graph.
    s.push_str("<h2 id=\"stacks\">Allocation stacks</h2>");
    match flame_svg(input.stacks, "Allocation stacks") {
        Ok(svg) => {
            let _ = write!(s, "<div class=\"flame\">{svg}</div>");
        }
        Err(e) => {
            let _ = write!(
                s,
                "<p class=\"note\">No flame graph ({}): allocation stacks come from a slab trace.</p>",
                esc(&e)
            );
        }
    }

    // Analyzer tables.
    if !input.report.tables.is_empty() {
        s.push_str("<h2 id=\"tables\">Tables</h2>");
        for t in &input.report.tables {
            table_html(&mut s, t);
        }
    }
    if !case.inputs.is_empty() {
        s.push_str("<h2 id=\"inputs\">Inputs</h2><ul>");
        for i in &case.inputs {
            let _ = write!(s, "<li><code>{}</code> ({})</li>", esc(&i.file), esc(&i.format));
        }
        s.push_str("</ul>");
    }
    s.push_str("</main></body></html>\n");
    s
}

/// Allocation stacks known to a case, root first, for the flame graph: outstanding objects of
/// slub_debug TRACE pairing and kmem captures, kmalloc paths of kmem captures, and stacks from tools
/// (bcc, bpftrace, perf). Each path is prefixed with the cache or source it belongs to.
pub fn stacks_from_case(case: &Case) -> Vec<(Vec<String>, u64)> {
    let mut out: Vec<(Vec<String>, u64)> = Vec::new();
    let mut push_paths = |label: &str, paths: &[memdx_slab::pairing::PathCount]| {
        for p in paths {
            let mut s = vec![label.to_string()];
            if let Some(c) = &p.comm {
                s.push(format!("comm {c}"));
            }
            s.extend(p.path.iter().rev().cloned());
            out.push((s, p.count));
        }
    };
    for pr in &case.slab_pairing {
        for c in &pr.caches {
            push_paths(&format!("{} (outstanding, slub TRACE)", c.cache), &c.outstanding_by_path);
        }
    }
    for k in &case.kmem_traces {
        for c in &k.slab.caches {
            push_paths(&format!("{} (outstanding, kmem trace)", c.cache), &c.outstanding_by_path);
        }
        push_paths("kmalloc (kmem trace)", &k.kmalloc.by_count);
        push_paths("page allocations (kmem trace)", &k.pages.by_count);
    }
    for t in &case.tool_stacks {
        for s in &t.samples {
            let mut v = vec![t.format.map(|f| format!("{f:?}")).unwrap_or_else(|| "tool".into())];
            if let Some(c) = &s.comm {
                v.push(format!("comm {c}"));
            }
            v.extend(s.stack.frames.iter().rev().map(|f| f.name().to_string()));
            out.push((v, s.count));
        }
    }
    out
}

/// Durations of the reclaim episodes tasks waited in (direct, memcg, soft limit, node), per decade,
/// summed over the traces of a case.
pub fn reclaim_latency_from_case(case: &Case) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for r in &case.traces {
        for k in r.foreground() {
            for (i, (label, n)) in k.latency_decades().into_iter().enumerate() {
                match out.get_mut(i) {
                    Some(slot) => slot.1 += n,
                    None => out.push((label, n)),
                }
            }
        }
    }
    if out.iter().all(|(_, n)| *n == 0) {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_and_escaping() {
        let t = "  cat-1 [001] .....   1.0: kmalloc: call_site=x\n  cat-1 [001] .....   1.1: <stack trace>\n => kmalloc_trace+0x1/0x2\n => seq_read\n => vfs_read\n  ps-2 [000] .....   1.2: <stack trace>\n => kmalloc_trace+0x1/0x2\n => seq_read\n => vfs_read\n";
        let st = stacks_from_ftrace(t);
        assert_eq!(st, vec![(vec!["vfs_read".into(), "seq_read".into(), "kmalloc_trace".into()], 2)]);
        assert_eq!(folded(&st), vec!["vfs_read;seq_read;kmalloc_trace 2".to_string()]);
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        let svg = flame_svg(&st, "t").unwrap();
        assert!(svg.starts_with("<svg") && !svg.contains("<script"));
    }
}
