//! `memdx history`: what grew and when, from the database `memdx record` writes.

use super::{EXIT_FINDINGS, EXIT_OK};
use anyhow::{Context, Result};
use memdx_core::units::kib;
use memdx_core::units::parse_duration_ms;
use memdx_core::Report;
use memdx_core::Severity;
use memdx_core::Table;
use memdx_render::schema::{HistoryCache, HistoryDoc};
use memdx_render::Style;
use memdx_store::findings::analyze;
use memdx_store::sample::kind;
use memdx_store::trend::{fit, verdict};
use memdx_store::{Query, Store};
use std::io::Write;
use std::path::PathBuf;

/// Show what grew and when, from the history `memdx record` wrote.
///
/// Show what grew and when, from the history `memdx record` wrote: per slab cache growth with a
/// straight-line fit and a leak verdict (steady growth or churn), the memcg count trend, the pages
/// pinning dying memcgs per live parent (and their dying count on cgroup v2), the fragmentation trend, per process RSS growth, and the OOM and allocation-failure timeline of the
/// logs given with --log.
///
/// Examples:
///   memdx history                                   # the whole default database
///   memdx history --db ./h.db --since 6h
///   memdx history --cache kmalloc-256               # one cache, sample by sample
///   memdx history --since 2d --log /var/log/kern.log
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Database written by `memdx record`.
    #[arg(long, default_value = memdx_store::DEFAULT_DB)]
    pub db: PathBuf,
    /// Only the last part of the history: 30m, 6h, 2d (or a unix time).
    #[arg(long)]
    pub since: Option<String>,
    /// Show one slab cache sample by sample, with its fit and verdict.
    #[arg(long, value_name = "NAME")]
    pub cache: Option<String>,
    /// Kernel logs (dmesg, journal, kern.log) for the OOM and allocation-failure timeline.
    #[arg(long, value_name = "FILE")]
    pub log: Vec<PathBuf>,
    /// Print JSON: {db, samples, first, last, since, findings, tables} (findings and tables as in
    /// `memdx diagnose --json`; with --cache, the cache's points and fit).
    #[arg(long)]
    pub json: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            db: PathBuf::from(memdx_store::DEFAULT_DB),
            since: None,
            cache: None,
            log: Vec::new(),
            json: false,
        }
    }
}

/// `--since` as a unix time: a duration back from the latest sample, or an absolute unix time.
pub fn since_time(s: &str, latest: i64) -> Result<i64> {
    if s.len() >= 9 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().with_context(|| format!("--since {s}"));
    }
    let ms = parse_duration_ms(s).map_err(|e| anyhow::anyhow!("--since {e}"))?;
    Ok(latest - (ms / 1000) as i64)
}

fn fmt_time(t: i64) -> String {
    memdx_render::html::line_chart_time(t)
}

pub fn run(args: Args) -> Result<u8> {
    let store = Store::open_read_only(&args.db)?;
    let (n, first, last) = store.summary()?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let (Some(first), Some(last)) = (first, last) else {
        if args.json {
            let doc = HistoryDoc::new(args.db.display().to_string(), 0, None, None);
            serde_json::to_writer_pretty(&mut w, &doc)?;
            writeln!(w)?;
        } else {
            writeln!(w, "{}: no samples yet", args.db.display())?;
        }
        return Ok(EXIT_OK);
    };
    let since = args.since.as_deref().map(|s| since_time(s, last)).transpose()?;
    let mut doc = HistoryDoc::new(args.db.display().to_string(), n, Some((first, last)), since);
    if !args.json {
        writeln!(
            w,
            "History {}: {n} samples from {} to {}{}\n",
            args.db.display(),
            fmt_time(first),
            fmt_time(last),
            since.map(|s| format!(", showing since {}", fmt_time(s))).unwrap_or_default()
        )?;
    }
    if let Some(cache) = &args.cache {
        if args.json {
            let (c, code) = cache_json(&store, cache, since)?;
            doc.cache = Some(c);
            serde_json::to_writer_pretty(&mut w, &doc)?;
            writeln!(w)?;
            return Ok(code);
        }
        return cache_detail(&mut w, &store, cache, since);
    }
    let q = Query {
        since,
        kinds: memdx_store::findings::KINDS.iter().map(|k| k.to_string()).collect(),
        name: None,
    };
    let h = store.load(&q)?;
    let report = analyze(&h);
    let mut worst = report.findings.iter().map(|f| f.severity).max();
    let timeline = if args.log.is_empty() { None } else { Some(oom_timeline(&args.log)?) };
    if timeline.as_ref().is_some_and(|t| !t.rows.is_empty()) {
        worst = worst.max(Some(Severity::Warning));
    }
    if args.json {
        doc.findings = &report.findings;
        doc.tables = report.tables.iter().chain(timeline.iter()).collect();
        serde_json::to_writer_pretty(&mut w, &doc)?;
        writeln!(w)?;
    } else {
        print_report(&mut w, &report)?;
        if let Some(t) = &timeline {
            if t.rows.is_empty() {
                writeln!(w, "No OOM kill or allocation failure in {} log(s).", args.log.len())?;
            } else {
                memdx_render::diagnose::table(&mut w, t, Style::default())?;
            }
        }
    }
    w.flush()?;
    Ok(if worst.is_some_and(|s| s >= Severity::Warning) { EXIT_FINDINGS } else { EXIT_OK })
}

fn cache_json(store: &Store, cache: &str, since: Option<i64>) -> Result<(HistoryCache, u8)> {
    let q =
        Query { since, kinds: vec![kind::SLAB_KB.into(), kind::SLAB_OBJS.into()], name: Some(cache.into()) };
    let h = store.load(&q)?;
    let Some(kb) = h.get(kind::SLAB_KB, cache) else {
        anyhow::bail!("no slab cache {cache:?} in {}", store.path().display());
    };
    let objs = h.get(kind::SLAB_OBJS, cache);
    let points = kb
        .points
        .iter()
        .map(|(t, v)| (*t, *v, objs.and_then(|s| s.points.iter().find(|p| p.0 == *t)).map(|p| p.1)))
        .collect();
    let f = fit(&kb.points);
    let v = f.map(|f| verdict(&f, memdx_store::findings::SLAB_MIN_GROWTH_KB));
    let code = if v == Some(memdx_store::trend::Verdict::SteadyGrowth) { EXIT_FINDINGS } else { EXIT_OK };
    Ok((
        HistoryCache {
            name: cache.to_string(),
            points,
            kib_per_hour: f.map(|f| f.per_hour()),
            r2: f.map(|f| f.r2),
            verdict: v.map(|v| v.as_str()),
        },
        code,
    ))
}

fn print_report<W: Write>(w: &mut W, r: &Report) -> Result<()> {
    if r.findings.is_empty() {
        writeln!(w, "No steady growth found.\n")?;
    }
    for f in &r.findings {
        memdx_render::diagnose::finding(w, f, Style::default())?;
    }
    for t in &r.tables {
        memdx_render::diagnose::table(w, t, Style::default())?;
    }
    Ok(())
}

fn cache_detail<W: Write>(w: &mut W, store: &Store, cache: &str, since: Option<i64>) -> Result<u8> {
    let q =
        Query { since, kinds: vec![kind::SLAB_KB.into(), kind::SLAB_OBJS.into()], name: Some(cache.into()) };
    let h = store.load(&q)?;
    let Some(kb) = h.get(kind::SLAB_KB, cache) else {
        let names = store.names(kind::SLAB_KB)?;
        let close: Vec<&String> =
            names.iter().filter(|n| n.contains(cache) || cache.contains(n.as_str())).take(8).collect();
        anyhow::bail!(
            "no slab cache {cache:?} in {}{}",
            store.path().display(),
            if close.is_empty() {
                String::new()
            } else {
                format!(" (similar: {})", close.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
            }
        );
    };
    let objs = h.get(kind::SLAB_OBJS, cache);
    let mut rows = Vec::new();
    // At most 60 rows: every k-th sample plus the last.
    let step = kb.points.len().div_ceil(60).max(1);
    for (i, (t, v)) in kb.points.iter().enumerate() {
        if i % step != 0 && i + 1 != kb.points.len() {
            continue;
        }
        let o = objs
            .and_then(|s| s.points.iter().find(|p| p.0 == *t))
            .map(|p| format!("{:.0}", p.1))
            .unwrap_or_default();
        rows.push(vec![fmt_time(*t), kib(*v as u64), o]);
    }
    memdx_render::diagnose::table(
        w,
        &Table {
            id: "history.cache".into(),
            title: format!("Slab cache {cache}"),
            columns: ["time", "memory", "active objects"].map(String::from).to_vec(),
            rows,
            notes: if step > 1 { vec![format!("every {step}th sample shown")] } else { vec![] },
        },
        Style::default(),
    )?;
    match fit(&kb.points) {
        Some(f) => {
            let v = verdict(&f, memdx_store::findings::SLAB_MIN_GROWTH_KB);
            writeln!(
                w,
                "Fit over {} samples: {:+.1} KiB/h, r2 {:.2}, {:.0}% of steps not down, net {:+.0} KiB: {}",
                f.n,
                f.per_hour(),
                f.r2,
                f.rising_steps * 100.0,
                f.growth(),
                v.as_str()
            )?;
            Ok(if v == memdx_store::trend::Verdict::SteadyGrowth { EXIT_FINDINGS } else { EXIT_OK })
        }
        None => {
            writeln!(w, "Too few samples for a fit.")?;
            Ok(EXIT_OK)
        }
    }
}

/// OOM kills and allocation failures in the logs, as a table.
fn oom_timeline(logs: &[PathBuf]) -> Result<Table> {
    let mut rows = Vec::new();
    for p in logs {
        let f = std::fs::File::open(p).with_context(|| format!("{}", p.display()))?;
        let scan = memdx_log::scan(std::io::BufReader::new(f), &p.display().to_string());
        for r in scan
            .reports
            .iter()
            .filter(|r| matches!(r.kind, memdx_log::model::Kind::Oom | memdx_log::model::Kind::AllocFailure))
        {
            rows.push(vec![
                r.first_seen.to_string(),
                r.last_seen.to_string(),
                r.count.to_string(),
                r.kind.name().into(),
                r.comm.clone().unwrap_or_default(),
                r.title.clone(),
                r.source.to_string(),
            ]);
        }
    }
    Ok(Table {
        id: "history.oom".into(),
        title: "OOM kills and allocation failures".into(),
        columns: ["first seen", "last seen", "count", "kind", "task", "report", "where"]
            .map(String::from)
            .to_vec(),
        rows,
        notes: vec!["repeats of one report are folded; count says how many".into()],
    })
}

/// `memdx diagnose --db PATH` and `--html FILE`: loads the history (when given), prints its
/// findings after the text report (unless `quiet`), and writes the HTML report. Returns the worst
/// history severity.
pub fn diagnose_extras(
    case: &memdx_analyze::Case,
    report: &memdx_analyze::Report,
    db: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
    quiet: bool,
) -> Result<Option<Severity>> {
    let mut hist = None;
    if let Some(db) = db {
        let store = Store::open_read_only(db)?;
        let h = store.load(&Query {
            since: None,
            kinds: memdx_store::findings::KINDS.iter().map(|k| k.to_string()).collect(),
            name: None,
        })?;
        let r = analyze(&h);
        hist = Some((h, r));
    }
    if let (Some((_, r)), false) = (&hist, quiet) {
        let stdout = std::io::stdout();
        let mut w = stdout.lock();
        writeln!(w, "From the history in {}:\n", db.map(|d| d.display().to_string()).unwrap_or_default())?;
        print_report(&mut w, r)?;
    }
    if let Some(path) = html {
        let mut input = memdx_render::html::HtmlInput::new(case, report, env!("CARGO_PKG_VERSION"));
        input.generated = Some(super::record::now());
        let stacks = memdx_render::html::stacks_from_case(case);
        input.stacks = &stacks;
        let latency = memdx_render::html::reclaim_latency_from_case(case);
        input.reclaim_latency = &latency;
        if let Some((h, r)) = &hist {
            input.history = Some(h);
            input.history_report = Some(r);
        }
        let f =
            memdx_source::files::create_new(path).with_context(|| format!("--html {}", path.display()))?;
        let mut w = std::io::BufWriter::new(f);
        memdx_render::html::write(&mut w, &input).with_context(|| format!("--html {}", path.display()))?;
        w.flush().with_context(|| format!("--html {}", path.display()))?;
    }
    Ok(hist.and_then(|(_, r)| r.findings.iter().map(|f| f.severity).max()))
}
