//! The one streaming line reader of memdx: every log, trace, journal and symbolize pass reads its
//! input through [`LineReader`], so memory is bounded by [`MAX_LINE`] whatever the input holds.
//!
//! The approach is ripgrep's buffer limit: a line that fits in the reader's buffer is handed out
//! straight from it (no copy); a line that straddles buffer refills is assembled in one reused
//! buffer capped at the limit, and whatever exceeds the limit is read and dropped, so a file of
//! 10 GB without a newline costs the cap, not 10 GB. Such a line is marked `cut`; callers that
//! cannot use half a record skip it, and every caller reports how many lines were cut.

use crate::{Diag, SourceRef};
use std::borrow::Cow;
use std::io::{self, BufRead};

/// Longest line kept, in bytes. Kernel lines are at most 1 KiB, journal JSON lines a few KiB,
/// trace lines with stack traces a few hundred bytes.
pub const MAX_LINE: usize = 1 << 16;

/// One line without its `\n` (a `\r` before it is kept), and whether it was cut at the cap.
pub struct Line<'a> {
    pub bytes: &'a [u8],
    pub cut: bool,
    /// 1-based line number.
    pub number: usize,
}

impl Line<'_> {
    /// The line as text: borrowed when it is valid UTF-8, lossily converted otherwise.
    pub fn text(&self) -> Cow<'_, str> {
        match std::str::from_utf8(self.bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(self.bytes),
        }
    }
}

enum Next {
    /// The line is the first `n` bytes of the reader's buffer; consume `n + 1` afterwards.
    Direct(usize),
    /// The line is in `buf`.
    Assembled,
}

/// Appends to `buf` up to `cap` bytes in all; sets `cut` when bytes were dropped.
fn append(buf: &mut Vec<u8>, cut: &mut bool, cap: usize, more: &[u8]) {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&more[..more.len().min(room)]);
    *cut |= more.len() > room;
}

/// A capped line reader over any [`BufRead`].
pub struct LineReader<R> {
    r: R,
    cap: usize,
    buf: Vec<u8>,
    cut: bool,
    /// Bytes of the reader's buffer to consume before the next line (the previous direct line).
    pending: usize,
    lines: usize,
    long_lines: usize,
    first_long: usize,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A reader keeping at most [`MAX_LINE`] bytes of a line.
    pub fn new(r: R) -> Self {
        Self::with_cap(r, MAX_LINE)
    }

    /// A reader keeping at most `cap` bytes of a line (at least 1).
    pub fn with_cap(r: R, cap: usize) -> Self {
        LineReader {
            r,
            cap: cap.max(1),
            buf: Vec::new(),
            cut: false,
            pending: 0,
            lines: 0,
            long_lines: 0,
            first_long: 0,
            done: false,
        }
    }

    /// Lines handed out so far (the number of the last one).
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Lines longer than the cap so far, and the number of the first one.
    pub fn long_lines(&self) -> (usize, usize) {
        (self.long_lines, self.first_long)
    }

    /// The cap in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The next line, `Ok(None)` at the end. A read error is returned once; the reader then ends.
    /// `Interrupted` is retried.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.pending > 0 {
            self.r.consume(self.pending);
            self.pending = 0;
        }
        self.buf.clear();
        self.cut = false;
        if self.done {
            return Ok(None);
        }
        let next = loop {
            let avail = match self.r.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            };
            if avail.is_empty() {
                self.done = true;
                if self.buf.is_empty() && !self.cut {
                    return Ok(None);
                }
                break Next::Assembled;
            }
            match memchr::memchr(b'\n', avail) {
                Some(i) if self.buf.is_empty() && !self.cut && i <= self.cap => break Next::Direct(i),
                Some(i) => {
                    append(&mut self.buf, &mut self.cut, self.cap, &avail[..i]);
                    self.r.consume(i + 1);
                    break Next::Assembled;
                }
                None => {
                    let n = avail.len();
                    append(&mut self.buf, &mut self.cut, self.cap, avail);
                    self.r.consume(n);
                }
            }
        };
        self.lines += 1;
        if self.cut {
            if self.long_lines == 0 {
                self.first_long = self.lines;
            }
            self.long_lines += 1;
        }
        match next {
            Next::Direct(i) => {
                self.pending = i + 1;
                // The buffer is unchanged since the loop looked at it: fill_buf returns it again.
                let avail = self.r.fill_buf()?;
                Ok(Some(Line { bytes: &avail[..i], cut: false, number: self.lines }))
            }
            Next::Assembled => Ok(Some(Line { bytes: &self.buf, cut: self.cut, number: self.lines })),
        }
    }

    /// Appends to `out` the whole lines that lie in the reader's buffer, each with its `\n`, as
    /// one copy: at most `room` bytes and never more than the cap, so that no line taken can be
    /// longer than the cap. Returns how many bytes were appended: 0 when the next line is not whole
    /// in the buffer (or is longer than `room`), which [`LineReader::next_line`] then reads. The
    /// lines count as handed out. For readers that split lines later, elsewhere (another thread).
    pub fn take_lines(&mut self, out: &mut Vec<u8>, room: usize) -> io::Result<usize> {
        if self.pending > 0 {
            self.r.consume(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(0);
        }
        let avail = loop {
            match self.r.fill_buf() {
                Ok(a) => break a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        };
        let window = &avail[..avail.len().min(room).min(self.cap.saturating_add(1))];
        let Some(last) = memchr::memrchr(b'\n', window) else { return Ok(0) };
        let block = &avail[..last + 1];
        self.lines += memchr::memchr_iter(b'\n', block).count();
        out.extend_from_slice(block);
        self.r.consume(last + 1);
        Ok(last + 1)
    }

    /// The diagnostic for the lines longer than the cap, if any; `what` says what happened to them
    /// ("skipped", "cut to that length").
    pub fn long_lines_diag(&self, source: &SourceRef, what: &str) -> Option<Diag> {
        (self.long_lines > 0).then(|| {
            Diag::warning(
                source.at(self.first_long),
                format!(
                    "{} line(s) longer than {} KiB (the first here) were {what}",
                    self.long_lines,
                    self.cap >> 10
                ),
            )
        })
    }
}

/// `bytes` as text, invalid UTF-8 replaced by U+FFFD: [`String::from_utf8_lossy`], except that text
/// that is valid (nearly always) is checked by the word-at-a-time validator of [`std::str::from_utf8`]
/// rather than char by char.
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Calls `f(line, number)` for each line of `r` (1-based numbers; the line without its `\n`).
/// Lines longer than [`MAX_LINE`] are skipped. Returns the number of lines read and the
/// diagnostics: lines skipped as too long, and a read error that ended the input part way.
pub fn for_each_line<R: BufRead>(
    r: R,
    source: &SourceRef,
    mut f: impl FnMut(&str, usize),
) -> (usize, Vec<Diag>) {
    let mut lr = LineReader::new(r);
    let mut diags = Vec::new();
    loop {
        match lr.next_line() {
            Ok(None) => break,
            Ok(Some(line)) if line.cut => {}
            Ok(Some(line)) => f(&line.text(), line.number),
            Err(e) => {
                diags.push(Diag::error(
                    source.at(lr.lines() + 1),
                    format!("read error, the rest is not read: {e}"),
                ));
                break;
            }
        }
    }
    diags.extend(lr.long_lines_diag(source, "skipped"));
    (lr.lines(), diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk gone"));
            }
            self.0 -= 1;
            buf[..2].copy_from_slice(b"a\n");
            Ok(2)
        }
    }

    #[test]
    fn lines_and_errors() {
        let mut seen = Vec::new();
        let (n, d) = for_each_line(&b"one\ntw\xffo\nthree"[..], &SourceRef::new("x"), |l, i| {
            seen.push((l.to_string(), i))
        });
        assert_eq!(n, 3);
        assert!(d.is_empty());
        assert_eq!(seen[1], ("tw\u{fffd}o".to_string(), 2));
        assert_eq!(seen[2], ("three".to_string(), 3));
        let (n, d) = for_each_line(std::io::BufReader::new(Failing(2)), &SourceRef::new("x"), |_, _| {});
        assert_eq!(n, 2);
        assert_eq!(d[0].source.line, Some(3));
    }

    /// Lines taken in blocks by `take_lines` (split afterwards) and the rest by `next_line` are
    /// the lines `next_line` alone reads, cut the same way, whatever the buffer and block sizes.
    #[test]
    fn blocks_hold_the_same_lines() {
        let mut text = Vec::new();
        for i in 0..3000 {
            text.extend(format!("line {i} {}\n", "y".repeat(i % 97)).bytes());
            if i % 700 == 0 {
                text.extend(std::iter::repeat_n(b'z', 300));
                text.push(b'\n');
            }
        }
        text.extend(b"no newline at the end");
        let cap = 200;
        let mut one = LineReader::with_cap(&text[..], cap);
        let mut want = Vec::new();
        while let Some(l) = one.next_line().unwrap() {
            want.push((l.bytes.to_vec(), l.cut));
        }
        for (buf, room) in [(7, 1000), (64, 50), (4096, 1000), (4096, 1 << 20), (1 << 16, 300)] {
            let mut lr = LineReader::with_cap(std::io::BufReader::with_capacity(buf, &text[..]), cap);
            let mut got = Vec::new();
            loop {
                let mut block = Vec::new();
                if lr.take_lines(&mut block, room).unwrap() > 0 {
                    assert!(block.ends_with(b"\n"));
                    let lines = block[..block.len() - 1].split(|&c| c == b'\n');
                    got.extend(lines.map(|l| (l.to_vec(), false)));
                    continue;
                }
                match lr.next_line().unwrap() {
                    Some(l) => got.push((l.bytes.to_vec(), l.cut)),
                    None => break,
                }
            }
            assert!(got == want, "buffer {buf}, room {room}");
            assert_eq!(lr.lines(), want.len());
        }
    }

    /// An endless line costs the cap, not its length; the lines around it are read, whatever the
    /// reader's buffer size.
    #[test]
    fn huge_line_is_bounded() {
        struct Gen {
            left: u64,
            state: u8,
        }
        impl std::io::Read for Gen {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match self.state {
                    0 => {
                        self.state = 1;
                        buf[..7].copy_from_slice(b"before\n");
                        Ok(7)
                    }
                    1 if self.left > 0 => {
                        let n = (buf.len() as u64).min(self.left) as usize;
                        buf[..n].fill(b'x');
                        self.left -= n as u64;
                        Ok(n)
                    }
                    1 => {
                        self.state = 2;
                        buf[..7].copy_from_slice(b"\nafter\n");
                        Ok(7)
                    }
                    _ => Ok(0),
                }
            }
        }
        for cap_buf in [7usize, 4096, 1 << 20] {
            let r = std::io::BufReader::with_capacity(cap_buf, Gen { left: 8 << 20, state: 0 });
            let mut lr = LineReader::new(r);
            let mut got = Vec::new();
            while let Some(l) = lr.next_line().unwrap() {
                got.push((l.bytes.len(), l.cut, l.number));
                assert!(lr_capacity_ok(&l));
            }
            assert_eq!(got, vec![(6, false, 1), (MAX_LINE, true, 2), (5, false, 3)], "buffer {cap_buf}");
            assert_eq!(lr.long_lines(), (1, 2));
            assert!(lr.buf.capacity() <= 2 * MAX_LINE);
        }
    }

    fn lr_capacity_ok(l: &Line<'_>) -> bool {
        l.bytes.len() <= MAX_LINE
    }

    #[test]
    fn exact_cap_and_crlf() {
        let mut text = vec![b'a'; 10];
        text.extend_from_slice(b"\r\nbbbbbbbbbbb\nc");
        let mut lr = LineReader::with_cap(&text[..], 11);
        let a = lr.next_line().unwrap().unwrap();
        assert_eq!((a.bytes.len(), a.cut), (11, false));
        let b = lr.next_line().unwrap().unwrap();
        assert_eq!((b.bytes.len(), b.cut), (11, false));
        let c = lr.next_line().unwrap().unwrap();
        assert_eq!((c.bytes, c.cut, c.number), (&b"c"[..], false, 3));
        assert!(lr.next_line().unwrap().is_none());
        let mut lr = LineReader::with_cap(&b"abcdef\n"[..], 3);
        let l = lr.next_line().unwrap().unwrap();
        assert_eq!((l.bytes, l.cut), (&b"abc"[..], true));
        assert!(lr.long_lines_diag(&SourceRef::new("f"), "skipped").is_some());
    }
}
