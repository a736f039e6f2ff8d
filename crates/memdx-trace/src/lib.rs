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

pub mod chunk;
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
pub use report::{Analyzer, MemcgReclaim, Options, ReclaimContext, ReclaimReport};
pub use scan::{Record, ScanStats, Scanner, MAX_DIAGS};
pub use table::{table_only, CpuSecondRow, TableScanStats};
pub use window::WindowDelta;

use chunk::{Chunk, ChunkReader, MAX_LINE};
use memdx_core::{Diag, SourceRef};
use std::borrow::Cow;
use std::io::Read;
use std::sync::{Condvar, Mutex, PoisonError};

/// The result of scanning one trace: the reclaim report (which holds the scan counters and the
/// diagnostics).
#[derive(Debug, Clone)]
pub struct TraceScan {
    pub reclaim: ReclaimReport,
}

/// Scans trace text with the built-in layouts and default options. Never fails: unreadable or
/// damaged parts become diagnostics in the report.
pub fn parse<R: Read>(r: R, source: &str) -> TraceScan {
    parse_with(r, source, Formats::builtin(), Options::default())
}

/// Most threads a scan uses.
const MAX_THREADS: usize = 8;

/// What chunks merge into, in input order.
struct Merged {
    /// Sequence number of the next chunk to merge.
    next: u64,
    lines: usize,
    stats: ScanStats,
    diags: Vec<Diag>,
    analyzer: Analyzer,
}

/// Scans trace text with the given layouts (built-ins plus `format` files) and options. Streams in
/// chunks of about 1 MiB cut at line ends: an input larger than one chunk is parsed on every core
/// (one reader, several parsers), and each chunk's events reach the analyzer in input order, so
/// the report is the same as a sequential scan's. Memory is a few chunks, whatever the input size.
pub fn parse_with<R: Read>(r: R, source: &str, formats: Formats, opts: Options) -> TraceScan {
    let src = SourceRef::new(source);
    let mut reader = ChunkReader::new(r);
    let merged = Mutex::new(Merged {
        next: 0,
        lines: 0,
        stats: ScanStats::default(),
        diags: Vec::new(),
        analyzer: Analyzer::new(opts),
    });
    let turn = Condvar::new();
    let mut first = Chunk::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS);
    if reader.next_chunk(&mut first) {
        if threads == 1 || reader.at_end() {
            let mut scanner = Scanner::new(src.clone(), formats);
            let mut chunk = first;
            let mut seq = 0;
            let mut spare = Vec::new();
            loop {
                scan_chunk(&mut scanner, &chunk, seq, &mut spare, &merged, &turn);
                seq += 1;
                if !reader.next_chunk(&mut chunk) {
                    break;
                }
            }
        } else {
            scan_parallel(&mut reader, first, threads, &src, &formats, &merged, &turn);
        }
    }
    let m = merged.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut diags = m.diags;
    if let Some(e) = reader.err {
        diags.push(Diag::error(src.at(m.lines + 1), format!("read error, the rest is not read: {e}")));
    }
    TraceScan { reclaim: m.analyzer.finish(source, m.stats, diags) }
}

/// One reader (this thread) hands chunks to `threads` parsers through a bounded queue; parsed
/// chunks wait for their turn to merge. Chunk buffers are reused.
fn scan_parallel<R: Read>(
    reader: &mut ChunkReader<R>,
    first: Chunk,
    threads: usize,
    src: &SourceRef,
    formats: &Formats,
    merged: &Mutex<Merged>,
    turn: &Condvar,
) {
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(u64, Chunk)>(threads);
    let job_rx = Mutex::new(job_rx);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Chunk>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (job_rx, free_tx) = (&job_rx, free_tx.clone());
            let mut scanner = Scanner::new(src.clone(), formats.clone());
            let mut spare = Vec::new();
            s.spawn(move || loop {
                let job = job_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok((seq, chunk)) = job else { break };
                scan_chunk(&mut scanner, &chunk, seq, &mut spare, merged, turn);
                let _ = free_tx.send(chunk);
            });
        }
        let mut seq = 0;
        let mut chunk = first;
        loop {
            if job_tx.send((seq, chunk)).is_err() {
                break;
            }
            seq += 1;
            chunk = free_rx.try_recv().unwrap_or_default();
            if !reader.next_chunk(&mut chunk) {
                break;
            }
        }
        drop(job_tx);
    });
}

/// An empty vector of records of another lifetime, in the allocation of `v` (collecting from a
/// vector's own `IntoIter` reuses its buffer when the element layout is the same, as it is here).
#[allow(clippy::unnecessary_filter_map)] // `filter` cannot change the element's lifetime
fn recycle<'b>(mut v: Vec<Record<'_>>) -> Vec<Record<'b>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Parses one chunk's lines into records, then, when every earlier chunk is merged, merges its
/// counters and diagnostics and hands its records to the analyzer. `spare` is the thread's record
/// buffer, kept between chunks: a fresh one per chunk cost a page fault per 4 KiB of records.
fn scan_chunk(
    scanner: &mut Scanner,
    chunk: &Chunk,
    seq: u64,
    spare: &mut Vec<Record<'static>>,
    merged: &Mutex<Merged>,
    turn: &Condvar,
) {
    let text = match std::str::from_utf8(chunk.data()) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(chunk.data()),
    };
    let mut n = 0;
    for _ in 0..chunk.long_before {
        n += 1;
        scanner.long_line(n, MAX_LINE);
    }
    let mut recs = recycle(std::mem::take(spare));
    recs.reserve(text.len() / 128);
    for line in chunk::lines(&text) {
        n += 1;
        if line.len() > MAX_LINE {
            scanner.long_line(n, MAX_LINE);
        } else if let Some(rec) = scanner.line(line, n) {
            recs.push(rec);
        }
    }
    let (stats, diags) = scanner.drain();
    let mut m = merged.lock().unwrap_or_else(PoisonError::into_inner);
    while m.next != seq {
        m = turn.wait(m).unwrap_or_else(PoisonError::into_inner);
    }
    let base = m.lines;
    m.lines += n;
    m.stats.merge(stats);
    for mut d in diags {
        if m.diags.len() < MAX_DIAGS {
            if let Some(l) = d.source.line.as_mut() {
                *l = l.saturating_add(u32::try_from(base).unwrap_or(u32::MAX));
            }
            m.diags.push(d);
        } else {
            m.stats.diags_dropped += 1;
        }
    }
    for r in &recs {
        m.analyzer.record(r);
    }
    m.next += 1;
    drop(m);
    turn.notify_all();
    *spare = recycle(recs);
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
