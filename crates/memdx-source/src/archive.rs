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

/// Most memory the xz decoder may use. zstd's own default limit is a 128 MiB window; gzip's is
/// 32 KiB.
const XZ_MEMLIMIT: u64 = 256 << 20;

/// Wraps `r` in the decoder for `c`.
pub fn decoder<'a, R: BufRead + 'a>(r: R, c: Compression) -> io::Result<Box<dyn BufRead + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => {
            Box::new(BufReader::with_capacity(256 * 1024, flate2::bufread::MultiGzDecoder::new(r)))
        }
        Compression::Xz => {
            // The dictionary a hostile header asks for is capped (xz -9 uses 64 MiB): a larger one
            // is a read error, not gigabytes of memory.
            let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
                .map_err(io::Error::other)?;
            Box::new(BufReader::with_capacity(256 * 1024, xz2::bufread::XzDecoder::new_stream(r, stream)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(b: &[u8]) -> [u8; 4] {
        let mut c = flate2::Crc::new();
        c.update(b);
        c.sum().to_le_bytes()
    }

    /// An .xz whose block header asks for a 4 GiB dictionary (the LZMA2 dictionary byte 40, as
    /// the xz file format defines it; headers and CRCs are valid) is refused by the decoder's
    /// memory limit before anything is allocated.
    #[test]
    fn xz_dictionary_is_capped() {
        let mut x = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0x00, 0x01];
        x.extend(crc32(&[0x00, 0x01]));
        let block = [0x02, 0x00, 0x21, 0x01, 40, 0, 0, 0];
        x.extend(block);
        x.extend(crc32(&block));
        x.extend([0u8; 64]);
        assert_eq!(compression(&x), Compression::Xz);
        let mut out = Vec::new();
        let err = decoder(&x[..], Compression::Xz).unwrap().read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().to_lowercase().contains("memory"), "{err}");
    }
}
