//! Reading and framing on two cores. The scanning thread reads lines into batches of about
//! [`BATCH`] bytes; a framer thread checks each batch's UTF-8 at once and frames every line (prefix,
//! time, caller, which report header it starts, whether it is report body), which is the
//! stateless part of the per-line work; the scanning thread then runs the report state machine
//! over the framed lines, in input order. The result is the same as framing on one thread.

use crate::builder;
use crate::frame::{self, Caller, Framing};
use crate::lines::parse_frame;
use crate::model::Frame;
use crate::table::{self, Row};

/// `Batch::ends` kind of a block of whole lines.
const BLOCK: u8 = 2;

/// Bytes of line text per batch (plus at most one line over it).
pub(crate) const BATCH: usize = 256 * 1024;
/// Batches at the framer thread at once.
pub(crate) const IN_FLIGHT: usize = 4;
/// Batches read ahead of the state machine at most (framed or at the framer).
pub(crate) const AHEAD: usize = 8;
/// A line without `+` is given to `parse_frame` here when it comes at most this many lines after
/// one that starts or continues a report in the same batch (a header or body line): then it is
/// likely inside a report, where the state machine parses every line (register dumps between
/// frames, the ~40 lines of counters an OOM report prints between its call trace and its task
/// list). Elsewhere the state machine parses the few that need it: a longer window parses, on a
/// pasted document's boot logs, lines that follow a report the state machine has closed.
const NEAR_REPORT: usize = 48;

/// Where a framed part of a line is: a span of the batch text, or one of the batch's owned
/// strings (a journal JSON message, unescaped).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Span(u32, u32),
    Owned(u32),
}

/// One framed line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pre {
    pub line: (u32, u32),
    pub cut: bool,
    pub bad_utf8: bool,
    pub framing: Framing,
    pub kernel: bool,
    pub caller: Option<Caller>,
    pub mono: Option<f64>,
    pub msg: Part,
    pub wall: Option<Part>,
    /// The report header row the message starts (kernel lines only).
    pub header: Option<&'static Row>,
    /// Whether the message is report body on its own (a frame, registers, `Code:`, `CPU: .. Comm:`).
    pub body: bool,
    /// Whether the message was given to `parse_frame` here: then the next entry of `frames`
    /// holds the result (the state machine takes it instead of parsing the line again).
    pub parsed: bool,
    /// How many registers the message has (`visit_registers`; 0 for lines not looked at).
    pub regs: u16,
    /// A kernel message that starts nothing: no header, not body, not a `crash>` prompt nor a
    /// message the state machine looks at outside reports ([`special_outside_reports`]). While
    /// no report is open or lingering it is only counted (`Lines::plain`).
    pub plain: bool,
}

/// Lines read but not yet framed (`raw`, `ends`), then the same lines framed (`text`, `lines`,
/// `owned`). Buffers are reused from batch to batch.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Line bytes, each line followed by `\n` (so that a line cut inside a multibyte character
    /// cannot join the next line into a valid one).
    raw: Vec<u8>,
    /// Start, end and `cut` of each line in `raw`; a [`BLOCK`] entry is a run of whole lines
    /// each ending in `\n`, split when the batch is framed.
    ends: Vec<(u32, u32, u8)>,
    pub text: String,
    pub lines: Vec<Pre>,
    pub owned: Vec<String>,
    /// `parse_frame` of the lines marked [`Pre::parsed`], in order.
    pub frames: Vec<Option<Frame>>,
    /// Where the table's `Contains` strings lie in `text` (reused buffer).
    hits: Vec<(usize, usize)>,
    /// Where `text` has a `+` (reused buffer).
    plus: Vec<usize>,
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Batch {
    /// Bytes of line text held.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Clears the batch for the next lines.
    pub fn clear(&mut self) {
        self.raw.clear();
        self.ends.clear();
    }

    /// Adds one line (without its newline).
    pub fn push(&mut self, bytes: &[u8], cut: bool) {
        let start = offset(self.raw.len());
        self.raw.extend_from_slice(bytes);
        self.ends.push((start, offset(self.raw.len()), u8::from(cut)));
        self.raw.push(b'\n');
    }

    /// Adds the whole lines the reader holds in its buffer as one block (at most `room` bytes);
    /// false when there was none (the next line is to be read with `next_line`).
    pub fn push_block<R: std::io::BufRead>(
        &mut self,
        lr: &mut memdx_core::lines::LineReader<R>,
        room: usize,
    ) -> std::io::Result<bool> {
        let start = self.raw.len();
        let n = lr.take_lines(&mut self.raw, room)?;
        if n > 0 {
            self.ends.push((offset(start), offset(start + n), BLOCK));
        }
        Ok(n > 0)
    }

    /// Splits the blocks of `ends` into lines.
    fn split_blocks(&mut self) {
        if !self.ends.iter().any(|e| e.2 == BLOCK) {
            return;
        }
        let mut out = Vec::with_capacity(self.ends.len() + self.raw.len() / 64);
        for &(a, z, kind) in &self.ends {
            if kind != BLOCK {
                out.push((a, z, kind));
                continue;
            }
            let block = self.raw.get(a as usize..z as usize).unwrap_or(&[]);
            let mut from = a;
            for nl in memchr::memchr_iter(b'\n', block) {
                let at = a + offset(nl);
                out.push((from, at, 0));
                from = at + 1;
            }
        }
        self.ends = out;
    }

    /// A framed part's text.
    pub fn part(&self, p: Part) -> &str {
        match p {
            Part::Span(a, z) => self.text.get(a as usize..z as usize).unwrap_or(""),
            Part::Owned(i) => self.owned.get(i as usize).map_or("", String::as_str),
        }
    }

    /// Checks the UTF-8 of the read lines (the whole batch at once; line by line, with
    /// replacement characters, only when it is not valid) and frames every line.
    pub fn frame(&mut self) {
        self.lines.clear();
        self.owned.clear();
        self.frames.clear();
        self.split_blocks();
        let raw = std::mem::take(&mut self.raw);
        let mut spans: Vec<(u32, u32, bool, bool)> = Vec::with_capacity(self.ends.len());
        match String::from_utf8(raw) {
            Ok(text) => {
                self.raw = std::mem::replace(&mut self.text, text).into_bytes();
                spans.extend(self.ends.iter().map(|&(a, z, cut)| (a, z, cut != 0, false)));
            }
            Err(e) => {
                let raw = e.into_bytes();
                self.text.clear();
                for &(a, z, cut) in &self.ends {
                    let bytes = raw.get(a as usize..z as usize).unwrap_or(&[]);
                    let start = offset(self.text.len());
                    let bad = match std::str::from_utf8(bytes) {
                        Ok(s) => {
                            self.text.push_str(s);
                            false
                        }
                        Err(_) => {
                            self.text.push_str(&String::from_utf8_lossy(bytes));
                            true
                        }
                    };
                    spans.push((start, offset(self.text.len()), cut != 0, bad));
                    self.text.push('\n');
                }
                self.raw = raw;
            }
        }
        self.raw.clear();
        let text = self.text.as_str();
        let mut hits = std::mem::take(&mut self.hits);
        table::contains_hits(text, &mut hits);
        let mut next_hit = 0;
        // Every `+` of the batch at once, for the same reason.
        let mut plus = std::mem::take(&mut self.plus);
        plus.clear();
        plus.extend(memchr::memchr_iter(b'+', text.as_bytes()));
        let mut next_plus = 0;
        // The index of the last line that started or continued a report, for [`NEAR_REPORT`].
        let mut last_report_line: Option<usize> = None;
        for (i, (a, z, cut, bad_utf8)) in spans.into_iter().enumerate() {
            let line = text.get(a as usize..z as usize).unwrap_or("");
            let f = frame::frame(line);
            let mut header = None;
            let mut body = false;
            let mut parsed = false;
            let mut regs = 0;
            let mut plain = false;
            if f.kernel {
                let t = f.msg.trim_start();
                if !t.is_empty() {
                    // As the state machine reads it.
                    let t = crate::unglue(t);
                    plain = !line.starts_with("crash> ") && !special_outside_reports(t);
                    // Whether a `Contains` string starts in the message: found in the batch's
                    // text at once when the message lies in it (every framing but journal JSON).
                    let off = (t.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
                    let has_plus;
                    if off <= text.len() && t.len() <= text.len() - off {
                        let end = off + t.len();
                        // A match that overlaps the message (it may have hidden one inside it).
                        while hits.get(next_hit).is_some_and(|&(_, z)| z <= off) {
                            next_hit += 1;
                        }
                        let contains = hits.get(next_hit).is_some_and(|&(a, _)| a < end);
                        header = table::header_hinted(t, contains);
                        while plus.get(next_plus).is_some_and(|&p| p < off) {
                            next_plus += 1;
                        }
                        has_plus = plus.get(next_plus).is_some_and(|&p| p < end);
                    } else {
                        header = table::header(t);
                        has_plus = memchr::memchr(b'+', t.as_bytes()).is_some();
                    }
                    // A frame line has `+` (func+off/size); the others are parsed here only near
                    // a report, where the state machine would parse them (few elsewhere).
                    let near = last_report_line.is_some_and(|l| i - l <= NEAR_REPORT);
                    let frame = if header.is_none() && (has_plus || near) {
                        parsed = true;
                        parse_frame(t)
                    } else {
                        None
                    };
                    let n;
                    (body, n) = body_and_regs(t, frame.as_ref(), has_plus);
                    regs = u16::try_from(n).unwrap_or(u16::MAX);
                    if parsed {
                        self.frames.push(frame);
                    }
                    plain &= header.is_none() && !body;
                    if header.is_some() || body {
                        last_report_line = Some(i);
                    }
                }
            }
            let msg = part(text, &f.msg, &mut self.owned);
            let wall = f.wall.as_deref().map(|w| part(text, w, &mut self.owned));
            self.lines.push(Pre {
                line: (a, z),
                cut,
                bad_utf8,
                framing: f.framing,
                kernel: f.kernel,
                caller: f.caller,
                mono: f.mono,
                msg,
                wall,
                header,
                body,
                parsed,
                regs,
                plain,
            });
        }
        self.hits = hits;
        self.plus = plus;
    }
}

/// Messages the state machine acts on even when they start no report (`State::kernel_line`):
/// the kernel release of `Linux version`, a slub_debug `TRACE` record.
pub(crate) fn special_outside_reports(t: &str) -> bool {
    t.starts_with("Linux version ") || t.starts_with("TRACE ")
}

/// Whether a kernel message outside any report starts one as body (the scan's rule).
pub(crate) fn is_body(t: &str) -> bool {
    builder::is_strict_body(t) || t.starts_with("CPU: ") && t.contains(" Comm: ")
}

/// [`is_body`] of a message whose `parse_frame` is `frame` (`has_plus`: whether it has a `+`), and
/// how many registers it has.
fn body_and_regs(t: &str, frame: Option<&Frame>, has_plus: bool) -> (bool, usize) {
    let (body, regs) = builder::strict_body_and_regs(t, frame, has_plus);
    (body || t.starts_with("CPU: ") && t.contains(" Comm: "), regs)
}

/// `s` as a span of `text` when it lies in it, else as an owned string (a framing that unescaped
/// or formatted it).
fn part(text: &str, s: &str, owned: &mut Vec<String>) -> Part {
    let off = (s.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    if off <= text.len() && s.len() <= text.len() - off {
        return Part::Span(offset(off), offset(off + s.len()));
    }
    owned.push(s.to_string());
    Part::Owned(offset(owned.len() - 1))
}
