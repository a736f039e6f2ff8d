//! Reading a pasted document into a [`Case`]: the segmenter of `memdx_parse::document` cuts it into
//! /proc-style blocks (ingested like files, with their command's hint) and log text, which streams
//! through the kernel log engine; memory messages (leak counters, hugetlb shortfalls, ENOMEM) are
//! picked from the log text on the way. Memory is bounded by the segmenter's block limit, not by
//! the document.

use crate::case::{Case, Hint, Skipped};
use memdx_core::SourceRef;
use memdx_parse::document::{Block, Out, Segmenter, Unread};
use memdx_parse::messages::{Message, Scanner};
use memdx_parse::sniff::Format;
use std::io::{BufRead, Read};

/// Longest line handed on; longer lines are cut (the log engine caps at the same length).
const MAX_LINE: usize = 1 << 16;
/// Log text produced ahead of the log engine's reads.
const CHUNK: usize = 64 * 1024;

fn is_log(line: &str) -> bool {
    let b = line.as_bytes();
    // Cheap rejection first: framed lines start with `[`, `<`, a digit, a month or `kern`/`{`.
    match b.first() {
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
    /// Line number of the next log line handed on.
    next_line: usize,
    /// First line that looks like data (digits, `:` or `=`), for the skipped list.
    first_text: Option<(usize, String)>,
    /// First line that is not blank.
    first_line: Option<(usize, String)>,
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
            if self.scanner.wants(line.as_bytes()) {
                let f = memdx_log::frame::frame(line);
                self.scanner.line(&f.msg, self.next_line);
            }
        }
        self.log.extend_from_slice(line.as_bytes());
        self.log.push(b'\n');
    }
    fn block(&mut self, b: Block) {
        self.blocks.push(b);
    }
    fn unread(&mut self, u: Unread) {
        self.unread.push(u);
    }
}

/// A reader of log text: pulls document lines from `inner` through the segmenter.
struct Feed<R> {
    inner: R,
    seg: Segmenter,
    parts: Parts,
    pos: usize,
    partial: Vec<u8>,
    done: bool,
}

fn push_line(seg: &mut Segmenter, parts: &mut Parts, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(MAX_LINE)];
    match std::str::from_utf8(bytes) {
        Ok(s) => seg.push(s, parts),
        Err(_) => seg.push(&String::from_utf8_lossy(bytes), parts),
    }
}

impl<R: BufRead> Feed<R> {
    fn refill(&mut self) -> std::io::Result<()> {
        let Feed { inner, seg, parts, pos, partial, done } = self;
        parts.log.clear();
        *pos = 0;
        while parts.log.len() < CHUNK && !*done {
            let avail = match inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !partial.is_empty() {
                    let p = std::mem::take(partial);
                    push_line(seg, parts, &p);
                }
                seg.finish(parts);
                parts.scanner.finish();
                *done = true;
                break;
            }
            let n = avail.len();
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', avail) {
                if partial.is_empty() {
                    push_line(seg, parts, &avail[start..nl]);
                } else {
                    let room = MAX_LINE.saturating_sub(partial.len());
                    partial.extend_from_slice(&avail[start..nl.min(start + room)]);
                    let p = std::mem::take(partial);
                    push_line(seg, parts, &p);
                }
                start = nl + 1;
            }
            let room = MAX_LINE.saturating_sub(partial.len());
            let rest = &avail[start..];
            partial.extend_from_slice(&rest[..rest.len().min(room)]);
            inner.consume(n);
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Feed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Feed<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos >= self.parts.log.len() && !self.done {
            self.refill()?;
        }
        Ok(&self.parts.log[self.pos.min(self.parts.log.len())..])
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
            inner: r,
            seg: Segmenter::new(is_log),
            parts: Parts::default(),
            pos: 0,
            partial: Vec::new(),
            done: false,
        };
        let mut pairing = memdx_slab::SlubPairing::new();
        let scan = memdx_log::scan_with(&mut feed, file, &mut pairing);
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
        for u in parts.unread {
            self.skipped.push(Skipped {
                file: format!("{file}:{} (`{}`)", u.first_line, short_label(&u.label)),
                reason: u.reason,
            });
        }
        let messages = parts.scanner.messages;
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
