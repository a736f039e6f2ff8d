//! memdx-log: the kernel log engine. Finds every oops, WARNING, BUG, KASAN/KFENCE/UBSAN, kmemleak,
//! hung task, lockup, RCU stall, slub_debug report, OOM kill and allocation failure in a kernel log
//! in any common framing (dmesg, `dmesg -T/-x/-r`, `/dev/kmsg`, syslog/kern.log, `journalctl -k`
//! short and json, serial consoles, vmcore-dmesg, `crash>` sessions), titles it the way kernel
//! developers search (syzkaller's convention), folds repeats by signature and explains memory
//! reports.
//!
//! Streaming: [`scan`] reads line by line and keeps only the reports being assembled and one entry
//! per distinct signature, so memory does not grow with the input. slub_debug `TRACE` records are
//! handed to a [`Sink`] as they complete.
//!
//! Pipeline: `frame` (line prefix) -> `table` (which report a header starts, with which body parser
//! and guilty-frame rule) -> `builder` (report body) -> `explain` (memory explanations); `roles`
//! (what each kernel function is in a stack trace) serves the last two and the slab engine.

mod builder;
mod crash;
mod explain;
pub mod frame;
mod hung;
mod lines;
pub mod model;
mod pipe;
pub mod roles;
pub mod table;

pub use crash::{DisLine, Exception, NullDeref, StructMember, StructOut};
pub use frame::{Caller, Framing};
pub use lines::{parse_frame, split_symbol};
pub use model::*;

use builder::{Builder, Fed};
use memdx_core::lines::{LineReader, MAX_LINE};
use memdx_core::{Diag, SourceRef};
use std::collections::HashMap;
use std::io::BufRead;

/// Receives records as the scan completes them.
pub trait Sink {
    /// A slub_debug `TRACE` record with its stack (for alloc/free pairing by `(cache, ptr)`).
    fn slub_trace(&mut self, _rec: &SlubTrace) {}
    /// Every report occurrence, before folding by signature.
    fn report(&mut self, _rep: &Report) {}
    /// Whether [`Sink::report`] is used. When false, repeats folded into an existing signature
    /// skip building their registers and explanation. Sinks that only take `slub_trace` records
    /// should return false.
    fn wants_reports(&self) -> bool {
        true
    }
}

/// A sink that ignores everything.
pub struct NoSink;
impl Sink for NoSink {
    fn wants_reports(&self) -> bool {
        false
    }
}

/// The result of scanning one log.
#[derive(Debug, Clone, Default)]
pub struct LogScan {
    /// One entry per signature, in order of first appearance, with `count`, `first_seen`, `last_seen`.
    pub reports: Vec<Report>,
    /// Kernel release (`4.19.0-arm64-desktop`), from `Linux version` or a `CPU: ... Comm:` line.
    pub kernel: Option<String>,
    /// Taint flags of the last report that printed them (`G W O`; empty string = not tainted).
    pub taint: Option<String>,
    pub lines: u64,
    /// Lines written by the kernel (syslog lines from other programs excluded).
    pub kernel_lines: u64,
    /// Framings seen, most frequent first.
    pub framings: Vec<(Framing, u64)>,
    pub slub_trace_records: u64,
    pub slub_trace_allocs: u64,
    pub slub_trace_frees: u64,
    /// `crash` outputs joined into one case, when the input is a crash session.
    pub crash: Option<CrashCase>,
    pub diags: Vec<Diag>,
}

/// True when the first few KiB look like a kernel log in a supported framing.
pub fn sniff(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(16384)]);
    let mut kernelish = 0;
    let mut n = 0;
    for l in text.lines().take(200) {
        n += 1;
        if l.starts_with("crash> ") {
            return true;
        }
        let f = frame::frame(l);
        let framed = f.framing != Framing::Bare;
        if f.kernel
            && framed
            && (f.mono.is_some()
                || f.framing == Framing::JournalJson
                || f.framing == Framing::Syslog
                || f.framing == Framing::SyslogIso
                || f.framing == Framing::DmesgHuman)
        {
            kernelish += 1;
        }
        let t = f.msg.trim_start();
        if table::header(t).is_some()
            || t.starts_with("Linux version ")
            || t.starts_with("TRACE ") && t.contains(" inuse=")
        {
            kernelish += 2;
        }
    }
    n > 0 && kernelish * 3 >= n.min(30)
}

/// Scans a log; see [`scan_with`].
pub fn scan<R: BufRead>(r: R, source: &str) -> LogScan {
    scan_with(r, source, &mut NoSink)
}

const MAX_DIAGS: usize = 200;
const LINGER_LINES: u32 = 8;
/// A report whose header came but no call trace yet waits longer: other writers on the console
/// (a fuzzer's program listing, a daemon's output) can hold its body back for dozens of lines,
/// and `panic_on_warn`'s panic prints the WARNING's stack only after them.
const LINGER_NO_TRACE: u32 = 64;

struct State<'s, S: Sink> {
    src: SourceRef,
    sink: &'s mut S,
    out: LogScan,
    groups: HashMap<String, usize>,
    open: Vec<(Option<Caller>, Builder)>,
    lingering: Vec<(Option<Caller>, Builder, u32)>,
    dropped_diags: u64,
}

impl<S: Sink> State<'_, S> {
    fn diag(&mut self, d: Diag) {
        if self.out.diags.len() < MAX_DIAGS {
            self.out.diags.push(d);
        } else {
            self.dropped_diags += 1;
        }
    }

    fn finalize(&mut self, b: Builder) {
        if let Some(k) = &b.report.kernel {
            self.out.kernel.get_or_insert_with(|| k.clone());
        }
        if b.report.taint.is_some() {
            self.out.taint = b.report.taint.clone();
        }
        if b.report.kind == Kind::Unknown && b.slub.is_none() && b.report.frames.is_empty() {
            // Report lines without a header and without a call trace (a lone `Code:` or register
            // line, as user-space segfaults print): not enough to call it a kernel report.
            let msg = "report lines without a header or a call trace were skipped".to_string();
            self.diag(Diag::note(b.report.source.clone(), msg));
            return;
        }
        match b.finish() {
            Err(trace) => {
                self.out.slub_trace_records += 1;
                if trace.alloc {
                    self.out.slub_trace_allocs += 1;
                } else {
                    self.out.slub_trace_frees += 1;
                }
                self.sink.slub_trace(&trace);
            }
            Ok(mut fin) => {
                let group = self.groups.get(&fin.report.signature).copied();
                let kept = match group {
                    None => true,
                    Some(i) => self.out.reports[i].corrupted.is_some() && fin.report.corrupted.is_none(),
                };
                if kept || self.sink.wants_reports() {
                    fin.complete();
                }
                let rep = fin.report;
                self.sink.report(&rep);
                if let Some(k) = &rep.kernel {
                    self.out.kernel.get_or_insert_with(|| k.clone());
                }
                if rep.taint.is_some() {
                    self.out.taint = rep.taint.clone();
                }
                if let Some(c) = &rep.corrupted {
                    let msg = format!("{} report `{}` is incomplete: {c}", rep.kind.name(), rep.title);
                    self.diag(Diag::warning(rep.source.clone(), msg));
                }
                match group {
                    Some(i) => {
                        let g = &mut self.out.reports[i];
                        g.count += 1;
                        g.last_seen = rep.time.clone();
                        if g.corrupted.is_some() && rep.corrupted.is_none() {
                            // Keep the most complete occurrence as the example.
                            let (count, first, last) = (g.count, g.first_seen.clone(), g.last_seen.clone());
                            *g = rep;
                            g.count = count;
                            g.first_seen = first;
                            g.last_seen = last;
                        }
                    }
                    None => {
                        self.groups.insert(rep.signature.clone(), self.out.reports.len());
                        self.out.reports.push(rep);
                    }
                }
            }
        }
    }

    fn close(&mut self, key: Option<Caller>) {
        if let Some(i) = self.open.iter().position(|(k, _)| *k == key) {
            let (_, b) = self.open.swap_remove(i);
            self.finalize(b);
        }
        if let Some(i) = self.lingering.iter().position(|(k, _, _)| *k == key) {
            let (_, b, _) = self.lingering.swap_remove(i);
            self.finalize(b);
        }
    }

    fn age(&mut self) {
        let mut i = 0;
        while i < self.lingering.len() {
            self.lingering[i].2 += 1;
            let b = &self.lingering[i].1;
            let waits_for_trace =
                b.report.frames.is_empty() && !matches!(b.report.kind, Kind::Oom | Kind::Unknown);
            let limit = if waits_for_trace { LINGER_NO_TRACE } else { LINGER_LINES };
            if self.lingering[i].2 > limit {
                let (_, b, _) = self.lingering.swap_remove(i);
                self.finalize(b);
            } else {
                i += 1;
            }
        }
    }

    /// One kernel message. `pre` is its header row and whether it is report body on its own, when
    /// the framer thread found them already.
    fn kernel_line(
        &mut self,
        t: &str,
        key: Option<Caller>,
        time: LineTime<'_>,
        line: usize,
        pre: Option<(Option<&'static table::Row>, bool)>,
        mut parsed: builder::Parsed<'_>,
    ) {
        let parsed = &mut parsed;
        if !self.lingering.is_empty() {
            self.age();
        }
        let t = unglue(t);
        // The messages of `pipe::special_outside_reports`.
        if let Some(v) = t.strip_prefix("Linux version ") {
            if let Some(k) = v.split_whitespace().next() {
                self.out.kernel = Some(k.to_string());
            }
        }
        if t.starts_with("TRACE ") {
            if let Some(b) = Builder::slub_trace(t, time.stamp(), self.src.clone(), line) {
                self.close(key);
                self.open.push((key, b));
                return;
            }
        }
        let header = match pre {
            Some((h, _)) => h,
            None => table::header(t),
        };
        if let Some(row) = header {
            if !row.continues.is_empty() {
                if let Some((_, b)) =
                    self.open.iter_mut().find(|(k, b)| *k == key && row.continues.contains(&b.report.kind))
                {
                    if b.feed_parsed(t, line, parsed) != Fed::Rejected {
                        return;
                    }
                }
                // One report per oops: a second header line of the same oops (`Oops: 0000 [#1]`
                // after `BUG: unable to handle ...`) continues it even after a line it rejected.
                if let Some(i) = self
                    .lingering
                    .iter()
                    .position(|(k, b, _)| *k == key && row.continues.contains(&b.report.kind))
                {
                    let (k, mut b, _) = self.lingering.swap_remove(i);
                    if b.feed_parsed(t, line, parsed) != Fed::Rejected {
                        self.open.push((k, b));
                        return;
                    }
                    self.finalize(b);
                }
            }
            self.close(key);
            let b = Builder::new(row.kind, Some(row), t, time.stamp(), self.src.clone(), line);
            self.open.push((key, b));
            return;
        }
        if let Some(i) = self.open.iter().position(|(k, _)| *k == key) {
            match self.open[i].1.feed_parsed(t, line, parsed) {
                Fed::Taken => {}
                Fed::End => {
                    let (_, b) = self.open.swap_remove(i);
                    self.finalize(b);
                }
                Fed::Rejected => {
                    let (k, b) = self.open.swap_remove(i);
                    self.lingering.push((k, b, 0));
                }
            }
            return;
        }
        let body = match pre {
            Some((_, b)) => b,
            None => pipe::is_body(t),
        };
        if !body {
            return;
        }
        if let Some(i) = self.lingering.iter().position(|(k, _, _)| *k == key) {
            let (k, mut b, _) = self.lingering.swap_remove(i);
            if b.feed_parsed(t, line, parsed) == Fed::Taken {
                b.report.corrupted.get_or_insert_with(|| {
                    format!("interleaved with unrelated lines (line {line} continues it)")
                });
                self.open.push((k, b));
                return;
            }
            self.finalize(b);
        }
        let mut b = if t.starts_with("CPU: ") {
            Builder::new(Kind::StackDump, None, t, time.stamp(), self.src.clone(), line)
        } else {
            let mut b = Builder::new(Kind::Unknown, None, t, time.stamp(), self.src.clone(), line);
            b.report.corrupted = Some("report header missing (log starts or was cut mid-report)".into());
            b
        };
        b.report.lines = 0;
        b.feed_parsed(t, line, parsed);
        self.open.push((key, b));
    }
}

/// Kernel messages printed without a trailing newline, so that the next message (the oops
/// header) is glued to them on the console: 4.x's KASAN die notifier printed `kasan: GPF could be
/// caused by NULL-ptr deref or user memory access` without one, right before the `general
/// protection fault: 0000 [#1]` line of the oops it explains.
const GLUED: &[&str] = &["kasan: GPF could be caused by NULL-ptr deref or user memory access"];

/// The message glued after one of [`GLUED`], else the line as it is.
fn unglue(t: &str) -> &str {
    if t.as_bytes().first() != Some(&b'k') {
        return t;
    }
    GLUED.iter().find_map(|g| t.strip_prefix(g).filter(|r| !r.trim().is_empty())).map_or(t, str::trim_start)
}

/// A line's time as framed, turned into an owned [`Stamp`] only when a report starts (most lines
/// never need it, and allocating the wall-clock string per line is measurable on GB logs).
#[derive(Clone, Copy)]
struct LineTime<'a> {
    mono: Option<f64>,
    wall: Option<&'a str>,
}

impl LineTime<'_> {
    fn stamp(self) -> Stamp {
        Stamp { monotonic: self.mono, wall: self.wall.map(str::to_string) }
    }
}

/// Per-line state of a scan.
struct Lines<'s, S: Sink> {
    st: State<'s, S>,
    framings: [u64; Framing::ALL.len()],
    line_no: usize,
    crash_cmd: Option<crash::Cmd>,
    session: crash::Session,
    bad_utf8: u64,
    long_lines: u64,
}

/// A line's framing, found on this thread or on the framer's (with its header row and whether it
/// is report body).
struct LineFrame<'a> {
    framing: Framing,
    kernel: bool,
    caller: Option<Caller>,
    mono: Option<f64>,
    msg: &'a str,
    wall: Option<&'a str>,
    pre: Option<(Option<&'static table::Row>, bool)>,
    /// The message's `parse_frame`, when the framer thread ran it.
    parsed: builder::Parsed<'a>,
}

impl<S: Sink> Lines<'_, S> {
    /// One line without its newline.
    fn line(&mut self, bytes: &[u8], cut: bool) {
        let lossy;
        let (s, bad) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, false),
            Err(_) => {
                lossy = String::from_utf8_lossy(bytes).into_owned();
                (lossy.as_str(), true)
            }
        };
        self.text_line(s, cut, bad, None);
    }

    /// The lines of a batch the framer thread framed.
    fn batch(&mut self, b: &mut pipe::Batch) {
        let mut frames = std::mem::take(&mut b.frames);
        let mut slots = frames.iter_mut();
        for p in &b.lines {
            if p.plain && self.plain(p) {
                if p.parsed {
                    slots.next();
                }
                continue;
            }
            let s = b.text.get(p.line.0 as usize..p.line.1 as usize).unwrap_or("");
            let f = LineFrame {
                framing: p.framing,
                kernel: p.kernel,
                caller: p.caller,
                mono: p.mono,
                msg: b.part(p.msg),
                wall: p.wall.map(|w| b.part(w)),
                pre: Some((p.header, p.body)),
                // The framer numbered the parsed lines in order.
                parsed: builder::Parsed {
                    frame: if p.parsed { slots.next() } else { None },
                    // A count at the cap is not exact: the builder counts again.
                    regs: p.kernel.then_some(usize::from(p.regs)).filter(|&n| n < usize::from(u16::MAX)),
                },
            };
            self.text_line(s, p.cut, p.bad_utf8, Some(f));
        }
        frames.clear();
        b.frames = frames;
    }

    /// Counts a plain line ([`pipe::Pre::plain`]) as `text_line` would when no report is open or
    /// lingering and no `crash>` command output is being read: then `text_line` and
    /// `State::kernel_line` only count it. False (nothing done) otherwise.
    fn plain(&mut self, p: &pipe::Pre) -> bool {
        if self.crash_cmd.is_some() || !self.st.open.is_empty() || !self.st.lingering.is_empty() {
            return false;
        }
        self.line_no += 1;
        self.long_lines += u64::from(p.cut);
        self.bad_utf8 += u64::from(p.bad_utf8);
        self.framings[p.framing as usize] += 1;
        self.st.out.kernel_lines += 1;
        true
    }

    /// One line as text (`bad_utf8`: read with replacement characters), framed here when `framed`
    /// is `None`.
    fn text_line(&mut self, s: &str, cut: bool, bad_utf8: bool, framed: Option<LineFrame<'_>>) {
        self.line_no += 1;
        if cut {
            self.long_lines += 1;
        }
        if bad_utf8 {
            self.bad_utf8 += 1;
        }
        let line_no = self.line_no;
        let st = &mut self.st;
        if s.starts_with("crash> ") {
            if let Some((cmd, text)) = crash::command(s) {
                if self.crash_cmd == Some(crash::Cmd::Bt) {
                    if let Some(b) = self.session.bt.take() {
                        st.finalize(b);
                    }
                }
                self.session.begin(cmd, text);
                self.crash_cmd = if cmd == crash::Cmd::Log { None } else { Some(cmd) };
            }
            return;
        }
        if let Some(cmd) = self.crash_cmd {
            if let Some(b) = self.session.line(cmd, s, &st.src, line_no) {
                st.finalize(b);
            }
            return;
        }
        let here;
        let f = match framed {
            Some(f) => f,
            None => {
                here = frame::frame(s);
                LineFrame {
                    framing: here.framing,
                    kernel: here.kernel,
                    caller: here.caller,
                    mono: here.mono,
                    msg: &here.msg,
                    wall: here.wall.as_deref(),
                    pre: None,
                    parsed: builder::Parsed::default(),
                }
            }
        };
        self.framings[f.framing as usize] += 1;
        if !f.kernel {
            return;
        }
        st.out.kernel_lines += 1;
        let t = f.msg.trim_start();
        if t.is_empty() {
            return;
        }
        let time = LineTime { mono: f.mono, wall: f.wall };
        st.kernel_line(t, f.caller, time, line_no, f.pre, f.parsed);
    }
}

/// Scans a log, handing slub_debug TRACE records and every report occurrence to `sink`.
/// Never fails: unreadable bytes and damaged reports become [`Diag`]s. A log longer than one
/// batch of lines (256 KiB) uses two cores: this thread reads and runs the report state machine,
/// another checks UTF-8 and frames the lines ahead of it; the result is the same.
pub fn scan_with<R: BufRead, S: Sink>(r: R, source: &str, sink: &mut S) -> LogScan {
    scan_batched(r, source, sink, Some(pipe::BATCH))
}

/// [`scan_with`] on this thread only, for callers that already run the scan beside other work.
pub fn scan_with_one_thread<R: BufRead, S: Sink>(r: R, source: &str, sink: &mut S) -> LogScan {
    scan_batched(r, source, sink, None)
}

/// Reads every line on this thread.
fn read_here<R: BufRead, S: Sink>(
    lr: &mut LineReader<R>,
    lines: &mut Lines<'_, S>,
) -> Option<std::io::Error> {
    loop {
        match lr.next_line() {
            Ok(Some(l)) => lines.line(l.bytes, l.cut),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// Reads lines into `b` until it holds `size` bytes; true when the input ended (a read error is
/// kept in `err`).
fn fill<R: BufRead>(
    lr: &mut LineReader<R>,
    b: &mut pipe::Batch,
    size: usize,
    err: &mut Option<std::io::Error>,
) -> bool {
    b.clear();
    while b.len() < size {
        // Whole lines in the reader's buffer are copied at once and split on the framer thread.
        match b.push_block(lr, size - b.len()) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                *err = Some(e);
                return true;
            }
        }
        match lr.next_line() {
            Ok(Some(l)) => b.push(l.bytes, l.cut),
            Ok(None) => return true,
            Err(e) => {
                *err = Some(e);
                return true;
            }
        }
    }
    false
}

/// Reads batches of `size` bytes of lines, framed on another thread when there is more than one,
/// and runs the state machine over them in input order. When the framer thread is behind (it
/// holds [`pipe::IN_FLIGHT`] batches and none is done), this thread frames the next batch itself
/// instead of waiting, up to [`pipe::AHEAD`] batches ahead: both cores stay busy whichever
/// side has more work per line.
fn read_framed<R: BufRead, S: Sink>(
    lr: &mut LineReader<R>,
    lines: &mut Lines<'_, S>,
    size: usize,
) -> Option<std::io::Error> {
    use std::sync::mpsc::TryRecvError;
    let mut err = None;
    let mut first = pipe::Batch::default();
    if fill(lr, &mut first, size, &mut err) {
        // The whole input is one batch: not worth a thread.
        first.frame();
        lines.batch(&mut first);
        return err;
    }
    std::thread::scope(|s| {
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, pipe::Batch)>(pipe::IN_FLIGHT);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<(usize, pipe::Batch)>(pipe::IN_FLIGHT);
        s.spawn(move || {
            for (seq, mut b) in job_rx {
                b.frame();
                if done_tx.send((seq, b)).is_err() {
                    break;
                }
            }
        });
        // `ready[i]` is batch `head + i`: framed (`Some`) or still at the framer (`None`). At most
        // IN_FLIGHT batches are at the framer at once, so neither queue ever blocks its sender.
        let mut ready: std::collections::VecDeque<Option<pipe::Batch>> = std::collections::VecDeque::new();
        let mut head = 0;
        let mut next = Some(first);
        let mut spare: Vec<pipe::Batch> = Vec::new();
        let mut at_framer = 0;
        let mut ended = false;
        let mut read = |spare: &mut Vec<pipe::Batch>, next: &mut Option<pipe::Batch>, ended: &mut bool| {
            next.take().unwrap_or_else(|| {
                let mut b = spare.pop().unwrap_or_default();
                *ended = fill(lr, &mut b, size, &mut err);
                b
            })
        };
        loop {
            while let Some(Some(_)) = ready.front() {
                if let Some(Some(mut b)) = ready.pop_front() {
                    lines.batch(&mut b);
                    spare.push(b);
                }
                head += 1;
            }
            if ended && ready.is_empty() {
                break;
            }
            if !ended && at_framer < pipe::IN_FLIGHT {
                let b = read(&mut spare, &mut next, &mut ended);
                if job_tx.send((head + ready.len(), b)).is_err() {
                    break;
                }
                ready.push_back(None);
                at_framer += 1;
                continue;
            }
            let done = match done_rx.try_recv() {
                Ok(d) => Some(d),
                Err(TryRecvError::Empty) if !ended && ready.len() < pipe::AHEAD => {
                    let mut b = read(&mut spare, &mut next, &mut ended);
                    b.frame();
                    ready.push_back(Some(b));
                    continue;
                }
                Err(TryRecvError::Empty) => done_rx.recv().ok(),
                Err(TryRecvError::Disconnected) => None,
            };
            // None: the framer stopped (it panicked): the scope's join says so.
            let Some((seq, b)) = done else { break };
            at_framer -= 1;
            match ready.get_mut(seq.wrapping_sub(head)) {
                Some(slot) => *slot = Some(b),
                None => break,
            }
        }
        drop(job_tx);
    });
    err
}

fn scan_batched<R: BufRead, S: Sink>(r: R, source: &str, sink: &mut S, batch: Option<usize>) -> LogScan {
    let src = SourceRef::new(source);
    let st = State {
        src: src.clone(),
        sink,
        out: LogScan::default(),
        groups: HashMap::new(),
        open: Vec::new(),
        lingering: Vec::new(),
        dropped_diags: 0,
    };
    let mut lines = Lines {
        st,
        framings: [0u64; Framing::ALL.len()],
        line_no: 0,
        crash_cmd: None,
        session: crash::Session::default(),
        bad_utf8: 0,
        long_lines: 0,
    };
    // The shared capped reader: lines come straight from the reader's buffer when they fit in it,
    // and a file without newlines cannot make memory grow with its size.
    let mut lr = LineReader::with_cap(r, MAX_LINE);
    let err = match batch {
        Some(size) => read_framed(&mut lr, &mut lines, size),
        None => read_here(&mut lr, &mut lines),
    };
    if let Some(e) = err {
        let at = lines.line_no + 1;
        lines.st.diag(Diag::error(src.at(at), format!("read error: {e}; the rest of the log was not read")));
    }
    let Lines { mut st, framings, line_no, mut session, bad_utf8, long_lines, .. } = lines;
    if long_lines > 0 {
        st.diag(Diag::note(
            src.clone(),
            format!("{long_lines} lines were longer than {MAX_LINE} bytes and were cut to that length"),
        ));
    }
    st.out.lines = line_no as u64;
    if let Some(b) = session.bt.take() {
        st.finalize(b);
    }
    let open = std::mem::take(&mut st.open);
    for (_, mut b) in open {
        if b.report.kind != Kind::Unknown
            && b.slub.is_none()
            && b.report.frames.is_empty()
            && b.report.kind != Kind::Oom
        {
            b.report.corrupted.get_or_insert_with(|| "log ends inside the report".into());
        }
        st.finalize(b);
    }
    let lingering = std::mem::take(&mut st.lingering);
    for (_, b, _) in lingering {
        st.finalize(b);
    }
    if bad_utf8 > 0 {
        st.diag(Diag::note(
            src.clone(),
            format!("{bad_utf8} lines were not valid UTF-8 and were read with replacement characters"),
        ));
    }
    if st.dropped_diags > 0 {
        let n = st.dropped_diags;
        st.diag(Diag::note(src.clone(), format!("{n} more diagnostics not shown")));
    }
    main_first(&mut st.out.reports);
    st.out.crash = session.finish();
    if let Some(case) = &st.out.crash {
        for rep in &mut st.out.reports {
            if rep.kind == Kind::CrashBt || case.bt_pid.is_some() && rep.pid == case.bt_pid {
                let e = rep.explanation.get_or_insert_with(|| Explanation {
                    class: "crash.case".into(),
                    summary: String::new(),
                    ..Explanation::default()
                });
                e.facts.push(Fact { label: "crash case".into(), value: case.summary.clone() });
            }
        }
    }
    let mut fr: Vec<(Framing, u64)> =
        Framing::ALL.iter().zip(framings).filter(|(_, n)| *n > 0).map(|(f, n)| (*f, n)).collect();
    fr.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    st.out.framings = fr;
    st.out
}

/// Puts the log's main report first: the first real crash. Stack dumps without a report header
/// (a bare `dump_stack()`, fault injection's dump of the failure it forces) and fragments whose
/// header was lost are listed after it, in order of appearance like the rest.
fn main_first(reports: &mut Vec<Report>) {
    let is_crash = |r: &Report| !matches!(r.kind, Kind::StackDump | Kind::Unknown);
    if let Some(i) = reports.iter().position(is_crash).filter(|&i| i > 0) {
        let main = reports.remove(i);
        reports.insert(0, main);
    }
}

pub(crate) fn builder_field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let i = s.find(key)?;
    s[i + key.len()..].split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `data` on one thread and in batches of each size framed on a second thread.
    fn same_in_batches(name: &str, data: &[u8]) {
        let one = format!("{:?}", scan_with_one_thread(data, name, &mut NoSink));
        for size in [1, 300, 4096, pipe::BATCH] {
            let framed = format!("{:?}", scan_batched(data, name, &mut NoSink, Some(size)));
            assert!(one == framed, "{name}: batches of {size} bytes give another result");
        }
    }

    /// The batch-wide search of the header table's contains-strings reports matches that do not
    /// overlap: one that starts before a message (in its trimmed spaces) hides the one inside it.
    #[test]
    fn overlapping_header_strings_are_found_in_batches() {
        let line =
            "[    1.000000]  invoked oom-killer: invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n";
        let data = format!("[    0.500000] hello\n{line}[    2.000000] bye\n");
        let one = scan_with_one_thread(data.as_bytes(), "overlap", &mut NoSink);
        assert_eq!(one.reports.len(), 1, "{one:?}");
        same_in_batches("overlap", data.as_bytes());
    }

    #[test]
    fn framing_on_another_thread_changes_nothing() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/log");
        let mut n = 0;
        let mut paths: Vec<std::path::PathBuf> = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            // The syzkaller corpus too (console logs of fuzzed kernels: glued and interleaved lines).
            match std::fs::read_dir(&p) {
                Ok(sub) => paths.extend(sub.map(|e| e.unwrap().path()).filter(|p| p.is_file())),
                Err(_) => paths.push(p),
            }
        }
        for p in paths {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() || name.ends_with(".json") || name.ends_with(".md") {
                continue;
            }
            let mut data = std::fs::read(&p).unwrap();
            if name.ends_with(".gz") {
                continue;
            }
            same_in_batches(&name, &data);
            // Damaged: bytes that are not UTF-8 in the middle.
            let mid = data.len() / 2;
            data.splice(mid..mid, [0xff, 0xc3]);
            same_in_batches(&name, &data);
            n += 1;
        }
        assert!(n > 10, "only {n} logs in {}", dir.display());
        // A line over the cap cut inside a multibyte character, then a line of continuation bytes.
        let mut long = "[    1.000000] ".as_bytes().to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE - long.len() - 1));
        long.extend("é\n".as_bytes());
        long.extend([0xa9, b'\n']);
        long.extend(b"[    2.000000] BUG: unable to handle page fault for address: 0000000000000008\n");
        same_in_batches("long", &long);
        // journalctl -o json: messages and times owned by the framing.
        let mut json = Vec::new();
        for (i, l) in
            std::fs::read_to_string(dir.join("live618_memcg_oom.dmesg")).unwrap().lines().enumerate()
        {
            let msg = l.split_once("] ").map_or(l, |(_, m)| m);
            let v = serde_json::json!({"MESSAGE": msg, "_TRANSPORT": "kernel",
                "__MONOTONIC_TIMESTAMP": (1_000_000 + i * 10).to_string(), "__REALTIME_TIMESTAMP": "1700000000000000"});
            json.extend(v.to_string().bytes());
            json.push(b'\n');
        }
        same_in_batches("journal.json", &json);
    }
}
