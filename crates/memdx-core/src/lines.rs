//! The streaming line loop every log and trace reader uses: one reused buffer, lossy UTF-8 only when
//! a line is not valid UTF-8, and a read error that ends the input with a diagnostic instead of
//! failing it.

use crate::{Diag, SourceRef};
use std::borrow::Cow;
use std::io::BufRead;

/// Calls `f(line, number)` for each line of `r` (1-based numbers; the line keeps its `\n`). Returns the
/// number of lines read and, when reading failed part way, a diagnostic at the line that failed.
pub fn for_each_line<R: BufRead>(
    mut r: R,
    source: &SourceRef,
    mut f: impl FnMut(&str, usize),
) -> (usize, Option<Diag>) {
    let mut buf = Vec::with_capacity(512);
    let mut n = 0usize;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => return (n, None),
            Ok(_) => {}
            Err(e) => {
                return (
                    n,
                    Some(Diag::error(source.at(n + 1), format!("read error, the rest is not read: {e}"))),
                )
            }
        }
        n += 1;
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&buf),
        };
        f(&line, n);
    }
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
        assert!(d.is_none());
        assert_eq!(seen[1], ("tw\u{fffd}o\n".to_string(), 2));
        let (n, d) = for_each_line(std::io::BufReader::new(Failing(2)), &SourceRef::new("x"), |_, _| {});
        assert_eq!(n, 2);
        assert_eq!(d.unwrap().source.line, Some(3));
    }
}
