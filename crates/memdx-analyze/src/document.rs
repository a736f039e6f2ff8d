//! Reading a pasted document into a [`Case`]: the segmenter of `memdx_parse::document` cuts it into
//! /proc-style blocks (ingested like files, with their command's hint) and log text, which streams
//! through the kernel log engine; memory messages (leak counters, hugetlb shortfalls, ENOMEM) are
//! picked from the log text on the way. Memory is bounded by the segmenter's block limit, not by
//! the document.

use crate::case::{Case, Hint, Skipped};
use memdx_core::lines::LineReader;
use memdx_core::SourceRef;
use memdx_parse::document::{Block, Out, Segmenter, Unread};
use memdx_parse::messages::{Message, MessageKind, Scanner};
use memdx_parse::sniff::Format;
use std::io::{BufRead, Read};

/// Blocks read from one document; more are counted, so memory does not grow with the document.
const MAX_BLOCKS: usize = 1024;
/// Log text produced ahead of the log engine's reads.
const CHUNK: usize = 64 * 1024;

fn is_log(line: &str) -> bool {
    let b = line.as_bytes();
    // Cheap rejection first: framed lines start with `[`, `<`, a digit, a month or `kern`/`{`.
    match b.first() {
        Some(b'[') if memdx_log::frame::starts_with_dmesg_stamp(b) => true,
        Some(
            b'[' | b'<' | b'{' | b'0'..=b'9' | b'A' | b'D' | b'F' | b'J' | b'M' | b'N' | b'O' | b'S' | b'k',
        ) => memdx_log::frame::frame(line).framing != memdx_log::Framing::Bare,
        _ => false,
    }
}

#[derive(Default)]
struct Parts {
    log: Vec<u8>,
    blocks: Vec<Block>,
    unread: Vec<Unread>,
    scanner: Scanner,
    /// `log` lower-cased, for the memory message scanner's keyword search.
    folded: Vec<u8>,
    /// Line number of the last log line handed on.
    next_line: usize,
    /// Line number of the first line of `log`.
    log_first: usize,
    /// First line that looks like data (digits, `:` or `=`), for the skipped list.
    first_text: Option<(usize, String)>,
    /// First line that is not blank.
    first_line: Option<(usize, String)>,
    /// Blocks past [`MAX_BLOCKS`], counted.
    dropped_blocks: u64,
}

impl Out for Parts {
    fn log_line(&mut self, line: &str) {
        self.next_line += 1;
        if !line.is_empty() {
            if self.first_line.is_none() {
                self.first_line = Some((self.next_line, line.chars().take(80).collect()));
            }
            if self.first_text.is_none() && line.bytes().any(|b| b.is_ascii_digit() || b == b':' || b == b'=')
            {
                self.first_text = Some((self.next_line, line.chars().take(80).collect()));
            }
        }
        self.log.extend_from_slice(line.as_bytes());
        self.log.push(b'\n');
    }
    fn block(&mut self, b: Block) {
        if self.blocks.len() < MAX_BLOCKS {
            self.blocks.push(b);
        } else {
            self.dropped_blocks += 1;
        }
    }
    fn unread(&mut self, u: Unread) {
        if self.unread.len() < MAX_BLOCKS {
            self.unread.push(u);
        }
    }
}

/// A reader of log text: pulls document lines from `inner` through the segmenter.
struct Feed<R> {
    lines: LineReader<R>,
    /// Whole lines taken from the reader at once (UTF-8 checked once for all of them), and the
    /// start of the next one to segment.
    block: String,
    at: usize,
    seg: Segmenter,
    parts: Parts,
    pos: usize,
    done: bool,
    /// A read error met before the log engine started reading, handed to it on its first read.
    err: Option<std::io::Error>,
    /// Whether `refill` runs the memory message scanner over each chunk (else the caller does,
    /// on another thread).
    scan_here: bool,
}

impl<R: BufRead> Feed<R> {
    fn refill(&mut self) -> std::io::Result<()> {
        let Feed { lines, block, at, seg, parts, pos, done, .. } = self;
        parts.log.clear();
        *pos = 0;
        let first = parts.next_line + 1;
        parts.log_first = first;
        let mut read = || {
            while parts.log.len() < CHUNK && !*done {
                if *at < block.len() {
                    let rest = &block[*at..];
                    let end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
                    seg.push(&rest[..end], parts);
                    *at += end + 1;
                    continue;
                }
                // The whole lines in the reader's buffer; else one line, which may be longer
                // than the buffer (capped by the reader).
                let mut bytes = std::mem::take(block).into_bytes();
                bytes.clear();
                *at = 0;
                let n = lines.take_lines(&mut bytes, usize::MAX)?;
                // Lossy over the block is lossy over each line: no bad sequence spans a `\n`.
                *block = String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                if n > 0 {
                    continue;
                }
                match lines.next_line()? {
                    Some(l) => seg.push(&l.text(), parts),
                    None => {
                        seg.finish(parts);
                        *done = true;
                    }
                }
            }
            Ok(())
        };
        let res = read();
        // Memory messages: one keyword search over the chunk (its lines up to a read error too).
        if self.scan_here {
            scan_messages(&mut self.parts.scanner, &self.parts.log, first, &mut self.parts.folded);
            if self.done {
                self.parts.scanner.finish();
            }
        }
        res
    }
}

/// `Read` for a reader whose buffer is its `BufRead` side: copies from the filled buffer.
fn read_from_buffer(r: &mut impl BufRead, buf: &mut [u8]) -> std::io::Result<usize> {
    let avail = r.fill_buf()?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    r.consume(n);
    Ok(n)
}

impl<R: BufRead> Read for Feed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_from_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for Feed<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        while self.pos >= self.parts.log.len() && !self.done {
            self.refill()?;
        }
        Ok(&self.parts.log[self.pos.min(self.parts.log.len())..])
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

/// Chunks of log text in flight between the segmenting thread and the log engine's.
const IN_FLIGHT: usize = 4;

/// The memory message scanner over one chunk of log text whose first line is `first`.
fn scan_messages(scanner: &mut Scanner, log: &[u8], first: usize, folded: &mut Vec<u8>) {
    scanner.text(log, first, folded, |l| memdx_log::frame::frame(l).msg);
}

/// Runs the kernel log engine on its own threads over the log text `feed` produces on this one,
/// chunk by chunk in order (a bounded queue; chunk buffers go back to be reused), and the memory
/// message scanner on one more, over copies of the same chunks. `feed` holds its first chunk,
/// scanned already. The result is the same as [`memdx_log::scan_with`] reading `feed` directly
/// with `feed` scanning each chunk. The engine frames lines on a thread of its own beside its
/// state machine's: four threads for two cores, which the queues keep busy whichever side has
/// more work per line (segmenting a document, scanning it for messages, framing its log lines,
/// or assembling reports); segmenting is the most, and it is the only part that cannot be split.
fn scan_beside<R: BufRead>(
    feed: &mut Feed<R>,
    file: &str,
    pairing: &mut memdx_slab::SlubPairing,
) -> memdx_log::LogScan {
    let (tx, rx) = std::sync::mpsc::sync_channel(IN_FLIGHT);
    let (free_tx, free_rx) = std::sync::mpsc::channel();
    let (msg_tx, msg_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
    let mut scanner = std::mem::take(&mut feed.parts.scanner);
    feed.scan_here = false;
    let scan = std::thread::scope(|s| {
        let engine = s.spawn(move || {
            let chunks = Chunks { rx, cur: Vec::new(), pos: 0, free: free_tx };
            memdx_log::scan_with(chunks, file, pairing)
        });
        let messages = s.spawn(move || {
            let mut folded = Vec::new();
            for (log, first) in msg_rx {
                scan_messages(&mut scanner, &log, first, &mut folded);
            }
            scanner
        });
        let mut first_chunk = true;
        loop {
            let chunk = std::mem::replace(&mut feed.parts.log, free_rx.try_recv().unwrap_or_default());
            if !std::mem::take(&mut first_chunk) {
                // A send fails only when the scanner stopped (it panicked): join says so below.
                let _ = msg_tx.send((chunk.clone(), feed.parts.log_first));
            }
            // A send fails only when the engine stopped (it panicked): join says so below.
            if tx.send(Ok(chunk)).is_err() || feed.done {
                break;
            }
            if let Err(e) = feed.refill() {
                // The lines read before the error are scanned for messages (not logged).
                let _ = msg_tx.send((std::mem::take(&mut feed.parts.log), feed.parts.log_first));
                let _ = tx.send(Err(e));
                break;
            }
        }
        drop(tx);
        drop(msg_tx);
        let scan = engine.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        feed.parts.scanner = messages.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        scan
    });
    if feed.done {
        feed.parts.scanner.finish();
    }
    scan
}

/// The log engine's side of [`scan_beside`]: the chunks as one reader. A read error is returned
/// where it happened; the end of the queue is the end of the text.
struct Chunks {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    free: std::sync::mpsc::Sender<Vec<u8>>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_from_buffer(self, buf)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.cur, next);
                    let _ = self.free.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
        Ok(&self.cur[self.pos.min(self.cur.len())..])
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

/// `cat /sys/fs/cgroup/.../memory.limit_in_bytes` is long: keep both ends.
fn short_label(label: &str) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= 72 {
        return label.to_string();
    }
    let head: String = chars[..30].iter().collect();
    let tail: String = chars[chars.len() - 38..].iter().collect();
    format!("{head}...{tail}")
}

impl Case {
    /// Reads a document of any shape (a kernel log, a shell session, an issue body with blocks):
    /// blocks are ingested with their command's hint, the rest streams through the kernel log
    /// engine. A document where nothing is recognised is listed as skipped with the reason and its
    /// first line that looks like data. Returns the formats of the blocks.
    pub fn read_document<R: BufRead>(&mut self, file: &str, r: R, time: Option<i64>) -> Vec<Format> {
        let mut feed = Feed {
            lines: LineReader::new(r),
            block: String::new(),
            at: 0,
            seg: Segmenter::new(is_log),
            parts: Parts::default(),
            pos: 0,
            done: false,
            err: None,
            scan_here: true,
        };
        let mut pairing = memdx_slab::SlubPairing::new();
        // A document longer than one chunk of log text is read on both cores: this thread reads
        // and segments it, the kernel log engine reads the log text on another; a short one (most
        // files of a directory) is not worth a thread.
        let scan = match feed.refill() {
            Ok(()) if !feed.done => scan_beside(&mut feed, file, &mut pairing),
            first => {
                feed.err = first.err();
                memdx_log::scan_with(&mut feed, file, &mut pairing)
            }
        };
        if let Some(d) = feed.lines.long_lines_diag(&SourceRef::new(file), "document") {
            self.diags.push(d);
        }
        let parts = std::mem::take(&mut feed.parts);
        let lines = feed.seg.lines();
        let mut found = Vec::new();
        for b in parts.blocks {
            let part = match &b.label {
                Some(l) => format!("{file}:{}-{} (`{}`)", b.first_line, b.last_line, short_label(l)),
                None => format!("{file}:{}-{}", b.first_line, b.last_line),
            };
            let whole = b.first_line == 1 && b.last_line >= lines.saturating_sub(1) && b.label.is_none();
            let src = SourceRef::new(file);
            let hint = Hint {
                format: Some(b.format),
                path: b.hint.path.clone(),
                scale: b.hint.scale,
                ..Hint::default()
            };
            // `cat /proc/sys/vm/swappiness` prints one number: the path names the knob.
            let text = match (b.format, b.hint.path.as_deref().and_then(|p| p.split_once("/proc/sys/"))) {
                (Format::Sysctl, Some((_, knob))) if b.text.split_whitespace().count() == 1 => {
                    format!("{} = {}", knob.replace('/', "."), b.text.trim())
                }
                _ => b.text,
            };
            let before = self.inputs.len();
            match self.ingest_one(&src, &text, Some(hint), time, b.first_line - 1) {
                Ok(f) => {
                    found.push(f);
                    if !whole {
                        for i in &mut self.inputs[before..] {
                            i.file = part.clone();
                        }
                    }
                }
                Err(reason) => self.skipped.push(Skipped { file: part, reason }),
            }
        }
        if parts.dropped_blocks > 0 {
            self.diags.push(memdx_core::Diag::warning(
                SourceRef::new(file),
                format!(
                    "{} more /proc-style blocks after the first {MAX_BLOCKS} were not read",
                    parts.dropped_blocks
                ),
            ));
        }
        for u in parts.unread {
            self.skipped.push(Skipped {
                file: format!("{file}:{} (`{}`)", u.first_line, short_label(&u.label)),
                reason: u.reason,
            });
        }
        let mut messages = parts.scanner.messages;
        // A memcg OOM report prints its cgroup's stats: the report holds them already.
        let in_reports = |cg: &str| {
            scan.reports.iter().filter_map(|r| r.mem.as_ref()).any(|m| {
                !m.memcg_stats.is_empty()
                    && (m.oom_memcg.as_deref() == Some(cg) || m.task_memcg.as_deref() == Some(cg))
            })
        };
        messages.retain(|m| !matches!(&m.kind, MessageKind::MemcgStats { cgroup, .. } if in_reports(cgroup)));
        if !messages.is_empty() {
            self.inputs.push(crate::case::InputInfo {
                file: file.to_string(),
                format: "memory messages".into(),
                diagnostics: 0,
            });
        }
        self.messages
            .extend(messages.into_iter().map(|m: Message| (SourceRef::new(file).at(m.line as usize), m)));
        let framed = scan.framings.iter().any(|(f, n)| *f != memdx_log::Framing::Bare && *n > 0);
        if !scan.reports.is_empty() || framed && scan.kernel_lines > 0 {
            self.add_log(file, scan);
            self.add_slab_pairing(pairing.finish());
        } else if found.is_empty() && !self.inputs.iter().any(|i| i.file == file) {
            // Nothing in it for any reader (another reader, such as the journal's, may have used it).
            let reason = match parts.first_text.or(parts.first_line) {
                Some((no, l)) => format!(
                    "content not recognised: no /proc-style block, kernel log line or memory message (line {no}: {})",
                    l.trim()
                ),
                None => "only blank lines".into(),
            };
            self.skipped.push(Skipped { file: file.to_string(), reason });
        }
        found
    }
}
