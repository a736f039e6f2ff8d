//! memdx-trace: reclaim investigation from tracepoint text. Pure: no I/O beyond the reader it is
//! handed.
//!
//! Pipeline: [`line::split_line`] (header of ftrace/trace-cmd/perf text) -> [`fmt::Formats`]
//! (payload layout from the kernel's `print fmt` or built-in knowledge) -> [`event::typed`] ->
//! [`report::Analyzer`] (episodes, tables, totals; memory bounded by tasks/CPUs/seconds, not lines)
//! -> [`ReclaimReport`] -> [`findings`].
//!
//! Entry points: [`parse`] / [`parse_with`] for a whole input, [`table_only`] for the fast
//! per-CPU-per-second table, [`sniff`] to recognise trace text by content.

pub mod detect;
pub mod episode;
pub mod event;
pub mod fmt;
pub mod line;
pub mod report;
pub mod scan;
pub mod table;
pub mod window;

pub use detect::findings;
pub use episode::{Episode, EpisodeEnd, ScanReclaim, ShrinkerUse};
pub use event::{EpisodeKind, Event, Lru};
pub use fmt::Formats;
pub use report::{Analyzer, Options, ReclaimContext, ReclaimReport};
pub use scan::{Record, ScanStats, Scanner};
pub use table::{table_only, CpuSecondRow, TableScanStats};
pub use window::WindowDelta;

use memdx_core::SourceRef;
use std::io::BufRead;

/// The result of scanning one trace: the reclaim report (which holds the scan counters and the
/// diagnostics).
#[derive(Debug, Clone)]
pub struct TraceScan {
    pub reclaim: ReclaimReport,
}

/// Scans trace text with the built-in layouts and default options. Never fails: unreadable or
/// damaged parts become diagnostics in the report.
pub fn parse<R: BufRead>(r: R, source: &str) -> TraceScan {
    parse_with(r, source, Formats::builtin(), Options::default())
}

/// Scans trace text with the given layouts (built-ins plus `format` files) and options. Streams:
/// one line in memory at a time.
pub fn parse_with<R: BufRead>(mut r: R, source: &str, formats: Formats, opts: Options) -> TraceScan {
    let src = SourceRef::new(source);
    let mut scanner = Scanner::new(src.clone(), formats);
    let mut analyzer = Analyzer::new(opts);
    let (_, err) = memdx_core::lines::for_each_line(&mut r, &src, |line, n| {
        if let Some(rec) = scanner.line(line, n) {
            analyzer.record(&rec);
        }
    });
    let mut diags = std::mem::take(&mut scanner.diags);
    diags.extend(err);
    TraceScan { reclaim: analyzer.finish(source, scanner.stats, diags) }
}

/// Whether `head` (the first KiB or so of a file) is tracepoint text memdx can read: an ftrace
/// header (`# tracer:`), or at least one line that splits into an event.
pub fn sniff(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
    };
    if text.starts_with("# tracer: ") {
        return true;
    }
    let mut events = 0;
    for l in text.lines().take(50) {
        if let line::LineKind::Event(e) = line::split_line(l) {
            if e.cpu.is_some() && (e.name.contains('_') || e.system.is_some()) {
                events += 1;
            }
        }
    }
    events >= 1
}
