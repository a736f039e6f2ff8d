//! ZFS on Linux `/proc/spl/kstat/zfs/arcstats` (`name type data` rows after a kstat header), also
//! excerpts filtered through grep or awk (`size 8138.73` after `awk '{ print $1 " " $3 / 1048576 }'`:
//! the caller gives the divisor back as `scale`).

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq)]
pub struct ArcValue {
    pub name: String,
    /// Bytes for size counters (`size`, `c_max`, `arc_meta_used`, ...), counts for the others.
    pub value: f64,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArcStats {
    pub values: Vec<ArcValue>,
    /// True when the rows were filtered or rescaled by a command (not the file as the kernel wrote it).
    pub derived: bool,
    pub source: SourceRef,
}

impl ArcStats {
    pub fn get(&self, name: &str) -> Option<&ArcValue> {
        self.values.iter().find(|v| v.name == name)
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses arcstats rows. `scale` multiplies two-column (derived) values back to bytes.
pub fn parse(text: &str, src: &SourceRef, scale: Option<f64>) -> ParseResult<ArcStats> {
    let mut values = Vec::new();
    let mut diags = Vec::new();
    let mut derived = false;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        // The kstat header (`13 1 0x01 123 33456 ...`) and the column header.
        if w.first().is_some_and(|x| x.bytes().all(|b| b.is_ascii_digit()))
            && w.iter().any(|x| x.starts_with("0x"))
            || w == ["name", "type", "data"]
        {
            continue;
        }
        let parsed = match w.as_slice() {
            [name, ty, data] if is_name(name) && ty.bytes().all(|b| b.is_ascii_digit()) => {
                data.parse::<f64>().ok().map(|v| (name, v * scale.unwrap_or(1.0)))
            }
            [name, data] if is_name(name) => {
                derived = true;
                data.parse::<f64>().ok().map(|v| (name, v * scale.unwrap_or(1.0)))
            }
            _ => None,
        };
        match parsed {
            Some((name, v)) if v.is_finite() => {
                values.push(ArcValue { name: name.to_string(), value: v, line: no as u32 })
            }
            _ => diags.push(Diag::warning(src.at(no), format!("not an arcstats row: {:.80}", line.trim()))),
        }
    }
    if values.is_empty() {
        return Err(ParseError::not_this(src, "arcstats", "no `name type data` rows"));
    }
    Ok(Parsed { value: ArcStats { values, derived: derived || scale.is_some(), source: src.clone() }, diags })
}

/// True when `lines` look like arcstats: `name 4 value` rows with the ARC's own counters.
pub fn looks_like(lines: &[&str]) -> bool {
    // The ARC's own counters first: a cheap test most texts fail.
    let arc_name = |l: &&str| {
        let n = l.split_whitespace().next().unwrap_or_default();
        matches!(n, "c_max" | "arc_meta_used" | "l2_size" | "mru_size" | "arc_no_grow")
    };
    if !lines.iter().any(arc_name) {
        return false;
    }
    let lines: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            !l.starts_with(|c: char| c.is_ascii_digit())
                && l.trim() != "name                            type data"
                && !l.starts_with("name ")
        })
        .collect();
    let rows = lines
        .iter()
        .filter(|l| {
            let mut w = l.split_whitespace();
            matches!((w.next(), w.next(), w.next(), w.next()), (Some(n), Some(t), Some(d), None) if is_name(n) && (t == "4" || t == "3") && d.parse::<f64>().is_ok())
        })
        .count();
    // (A line with an ARC counter's name is never filtered out above.)
    rows * 10 >= lines.len() * 7
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn kstat_and_awk() {
        let t = "13 1 0x01 96 26112 5163208430 1164473906466\nname                            type data\nhits                            4    1234\nsize                            4    8534534144\nc_max                           4    16880000000\n";
        let a = parse(t, &src(), None).unwrap().value;
        assert_eq!(a.get("size").unwrap().value, 8534534144.0);
        assert_eq!(a.get("size").unwrap().line, 4);
        assert!(!a.derived);
        assert!(looks_like(&t.lines().collect::<Vec<_>>()));
        // superuser.com 1137416: `awk '/^size/ { print $1 " " $3 / 1048576 }' < .../arcstats`
        let a = parse("size 8138.73\n", &src(), Some(1048576.0)).unwrap().value;
        assert!((a.get("size").unwrap().value - 8138.73 * 1048576.0).abs() < 1.0);
        assert!(a.derived);
        assert!(parse("hello world again\n", &src(), None).is_err());
    }
}
