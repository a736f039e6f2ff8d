//! Compressed files and tar archives, recognised by magic bytes (never by extension).

use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

pub fn compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A POSIX/GNU tar header has `ustar` at offset 257.
pub fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// Wraps `r` in the decoder for `c`.
pub fn decoder<'a, R: BufRead + 'a>(r: R, c: Compression) -> io::Result<Box<dyn BufRead + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => {
            Box::new(BufReader::with_capacity(256 * 1024, flate2::bufread::MultiGzDecoder::new(r)))
        }
        Compression::Xz => {
            Box::new(BufReader::with_capacity(256 * 1024, xz2::bufread::XzDecoder::new_multi_decoder(r)))
        }
        Compression::Zstd => {
            Box::new(BufReader::with_capacity(256 * 1024, zstd::stream::read::Decoder::with_buffer(r)?))
        }
    })
}

/// What [`read_text`] got.
pub enum Text {
    /// The whole input.
    Whole(String),
    /// The part before a read error (a truncated or damaged compressed file), and the error.
    Truncated(String, io::Error),
    /// Larger than the limit: the reason.
    TooLarge(String),
}

/// Reads the rest of `r` into a string (lossy UTF-8), at most `limit` bytes. A read error after some
/// data keeps the data: a truncated `.gz` still yields its first lines.
pub fn read_text<R: Read>(mut r: R, limit: u64) -> io::Result<Text> {
    let mut buf = Vec::new();
    let err = match (&mut r).take(limit + 1).read_to_end(&mut buf) {
        Ok(_) => None,
        Err(e) if !buf.is_empty() => Some(e),
        Err(e) => return Err(e),
    };
    if buf.len() as u64 > limit {
        return Ok(Text::TooLarge(format!(
            "larger than {} MiB, not a /proc-style file memdx reads whole",
            limit >> 20
        )));
    }
    let s = match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok(match err {
        None => Text::Whole(s),
        Some(e) => Text::Truncated(s, e),
    })
}
