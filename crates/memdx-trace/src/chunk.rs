//! Trace text in line-aligned chunks: one reader fills reusable buffers of about [`CHUNK`] bytes
//! that end at a line end, so that chunks can be parsed apart (on several threads) and their
//! results merged in input order. Lines longer than [`MAX_LINE`] are dropped and counted, so a
//! hostile input of one huge line costs no more memory than a normal one.

use std::io::Read;

/// Target chunk size.
pub const CHUNK: usize = 1 << 20;
/// Longest line kept (the kernel log engine's cap too); longer lines are skipped as damaged.
pub const MAX_LINE: usize = 1 << 16;
/// Size of a chunk buffer: a chunk plus the partial line carried over from the previous one.
const CAP: usize = CHUNK + MAX_LINE + 1;

/// One chunk: `len` bytes of whole lines in `buf` (the last line of the input may lack its `\n`),
/// after `long_before` lines that were longer than [`MAX_LINE`] and dropped.
#[derive(Debug, Default)]
pub struct Chunk {
    pub buf: Vec<u8>,
    pub len: usize,
    pub long_before: u32,
}

impl Chunk {
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Cuts a reader into chunks.
pub struct ChunkReader<R> {
    r: R,
    /// The partial line at the end of the last chunk.
    carry: Vec<u8>,
    done: bool,
    /// The read error that ended the input early, if any.
    pub err: Option<std::io::Error>,
    /// Bytes read.
    pub bytes: u64,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(r: R) -> Self {
        ChunkReader { r, carry: Vec::new(), done: false, err: None, bytes: 0 }
    }

    /// True once the input is read to its end.
    pub fn at_end(&self) -> bool {
        self.done
    }

    /// Reads into `buf`; 0 at the end of the input (or on a read error, kept in `err`).
    fn read(&mut self, buf: &mut [u8]) -> usize {
        loop {
            match self.r.read(buf) {
                Ok(n) => {
                    self.bytes += n as u64;
                    if n == 0 {
                        self.done = true;
                    }
                    return n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.err = Some(e);
                    self.done = true;
                    return 0;
                }
            }
        }
    }

    /// Fills `c` with the next chunk; false at the end of the input.
    pub fn next_chunk(&mut self, c: &mut Chunk) -> bool {
        if c.buf.len() < CAP {
            c.buf.resize(CAP, 0);
        }
        c.long_before = 0;
        let mut len = 0;
        if self.carry.len() > MAX_LINE {
            // The carried line is too long: drop it and the rest of it up to its newline.
            self.carry.clear();
            c.long_before += 1;
            len = self.skip_line(&mut c.buf);
        } else {
            c.buf[..self.carry.len()].copy_from_slice(&self.carry);
            len += self.carry.len();
            self.carry.clear();
        }
        loop {
            while !self.done && len < CHUNK {
                len += self.read(&mut c.buf[len..CAP]);
            }
            if self.done {
                c.len = len;
                return len > 0 || c.long_before > 0;
            }
            match memchr::memrchr(b'\n', &c.buf[..len]) {
                Some(i) => {
                    self.carry.extend_from_slice(&c.buf[i + 1..len]);
                    c.len = i + 1;
                    return true;
                }
                None => {
                    // A chunk's worth of bytes and no line end: one line longer than MAX_LINE.
                    c.long_before += 1;
                    len = self.skip_line(&mut c.buf);
                }
            }
        }
    }

    /// Reads and drops bytes up to the next newline; moves what follows it to the start of `buf`
    /// and returns its length.
    fn skip_line(&mut self, buf: &mut [u8]) -> usize {
        while !self.done {
            let n = self.read(&mut buf[..CHUNK]);
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                buf.copy_within(i + 1..n, 0);
                return n - i - 1;
            }
        }
        0
    }
}

/// The lines of a chunk's text, without their `\n`.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', b);
    std::iter::from_fn(move || match ends.next() {
        Some(e) => {
            let l = &text[start..e];
            start = e + 1;
            Some(l)
        }
        None if start < b.len() => {
            let l = &text[start..];
            start = b.len();
            Some(l)
        }
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8]) -> Vec<(Vec<u8>, u32)> {
        let mut r = ChunkReader::new(input);
        let mut c = Chunk::default();
        let mut out = Vec::new();
        while r.next_chunk(&mut c) {
            out.push((c.data().to_vec(), c.long_before));
        }
        out
    }

    #[test]
    fn cuts_at_line_ends_and_drops_long_lines() {
        let mut input = Vec::new();
        for i in 0..200_000 {
            input.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        input.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        input.extend_from_slice(b"\nafter\nlast");
        let got = chunks(&input);
        let mut joined = Vec::new();
        let mut long = 0;
        for (d, l) in &got {
            assert!(d.len() <= CAP);
            assert!(d.is_empty() || d.ends_with(b"\n") || d.ends_with(b"last"));
            long += l;
            joined.extend_from_slice(d);
        }
        assert_eq!(long, 1);
        let text = std::str::from_utf8(&joined).unwrap();
        let all: Vec<&str> = lines(text).collect();
        assert_eq!(all.len(), 200_002);
        assert_eq!(&all[199_999..], &["line 199999", "after", "last"]);
        assert_eq!(lines("a\n\nb\n").collect::<Vec<_>>(), vec!["a", "", "b"]);
    }
}
