//! `/proc/meminfo`: `Key:   value kB` lines (and a few unitless `HugePages_*` counts).
//!
//! Fields come and go across versions (`KReclaimable` since 4.20, `Percpu` since 4.16,
//! `SecPageTables` since 6.0, `Zswap` since 5.19), so values are looked up by name and absent
//! ones are `None`.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeminfoEntry {
    pub key: String,
    /// Value in kB (KiB) for fields with a `kB` unit; a plain count otherwise.
    pub value: u64,
    pub has_unit: bool,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meminfo {
    pub entries: Vec<MeminfoEntry>,
    pub source: SourceRef,
}

impl Meminfo {
    /// The value of `key` in kB (or the count for unitless fields).
    pub fn kb(&self, key: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.value)
    }
    /// `file:line` of `key`.
    pub fn at(&self, key: &str) -> Option<SourceRef> {
        self.entries.iter().find(|e| e.key == key).map(|e| self.source.at(e.line as usize))
    }
}

/// Parses meminfo text. Also accepts the output of `grep Slab: -A2 /proc/meminfo` style excerpts.
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Meminfo> {
    let mut entries = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let Some((key, rest)) = line.split_once(':') else {
            diags.push(Diag::warning(src.at(no), format!("not a meminfo line: {line:.80}")));
            continue;
        };
        let mut it = rest.split_whitespace();
        let value = it.next().and_then(uint);
        let unit = it.next();
        match (value, unit, it.next()) {
            (Some(v), u @ (None | Some("kB")), None) if !key.contains(char::is_whitespace) => {
                entries.push(MeminfoEntry {
                    key: key.to_string(),
                    value: v,
                    has_unit: u.is_some(),
                    line: no as u32,
                })
            }
            _ => diags.push(Diag::warning(src.at(no), format!("not a meminfo line: {line:.80}"))),
        }
    }
    if entries.is_empty() {
        return Err(ParseError::not_this(src, "meminfo", "no `Key: value kB` lines"));
    }
    Ok(Parsed { value: Meminfo { entries, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn seed_000_excerpt() {
        let t = "Slab:             913952 kB\nSReclaimable:     175568 kB\nSUnreclaim:       738384 kB\nHugePages_Total:       0\n";
        let m = parse(t, &src()).unwrap().value;
        assert_eq!(m.kb("SUnreclaim"), Some(738384));
        assert_eq!(m.kb("HugePages_Total"), Some(0));
        assert_eq!(m.at("SUnreclaim").unwrap().line, Some(3));
        assert_eq!(m.kb("MemTotal"), None);
    }

    #[test]
    fn junk_is_reported_not_fatal() {
        let p = parse("MemTotal: 10 kB\n\u{0}\u{1}garbage\nMemFree: x kB\n", &src()).unwrap();
        assert_eq!(p.value.entries.len(), 1);
        assert_eq!(p.diags.len(), 2);
        assert!(parse("", &src()).is_err());
    }
}
