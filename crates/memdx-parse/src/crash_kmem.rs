//! `crash> kmem -i` output (seed 004): memory totals in pages from a vmcore.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::SourceRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmemRow {
    /// `TOTAL MEM`, `FREE`, `USED`, `SHARED`, `BUFFERS`, `CACHED`, `SLAB`, `TOTAL HUGE`, `HUGE FREE`,
    /// `TOTAL SWAP`, `SWAP USED`, `SWAP FREE`, `COMMIT LIMIT`, `COMMITTED`.
    pub label: String,
    pub pages: u64,
    /// The size as crash prints it (`15.1 GB`).
    pub total: String,
    /// The percentage crash prints (`373` of `373% of TOTAL LIMIT`).
    pub percent: Option<u64>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmemInfo {
    pub rows: Vec<KmemRow>,
    pub source: SourceRef,
}

impl KmemInfo {
    pub fn pages(&self, label: &str) -> Option<u64> {
        self.rows.iter().find(|r| r.label == label).map(|r| r.pages)
    }
    pub fn at(&self, label: &str) -> Option<SourceRef> {
        self.rows.iter().find(|r| r.label == label).map(|r| self.source.at(r.line as usize))
    }
}

const LABELS: &[&str] = &[
    "TOTAL MEM",
    "FREE",
    "USED",
    "SHARED",
    "BUFFERS",
    "CACHED",
    "SLAB",
    "TOTAL HUGE",
    "HUGE FREE",
    "TOTAL SWAP",
    "SWAP USED",
    "SWAP FREE",
    "COMMIT LIMIT",
    "COMMITTED",
];

/// One `kmem -i` row (`    TOTAL MEM  3967057      15.1 GB         ----`); `None` for headers and other
/// lines. `line` is 0: the caller numbers rows. Shared with the crash sessions the log engine reads.
pub fn parse_row(line: &str) -> Option<KmemRow> {
    let t = line.trim_start();
    let label = LABELS.iter().filter(|l| t.starts_with(**l)).max_by_key(|l| l.len())?;
    let rest = &t[label.len()..];
    let mut it = rest.split_whitespace();
    let pages = it.next().and_then(uint)?;
    let num = it.next().unwrap_or_default();
    let unit = it.next().unwrap_or_default();
    let total = if num == "0" && !matches!(unit, "KB" | "MB" | "GB" | "TB") {
        "0".to_string()
    } else {
        format!("{num} {unit}")
    };
    let percent = rest.split_whitespace().find_map(|w| w.strip_suffix('%').and_then(uint));
    Some(KmemRow { label: label.to_string(), pages, total, percent, line: 0 })
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<KmemInfo> {
    let mut rows = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if too_long(src, no, line, &mut diags) {
            continue;
        }
        if let Some(mut row) = parse_row(line) {
            row.line = no as u32;
            rows.push(row);
        }
    }
    if rows.iter().all(|r| r.label != "TOTAL MEM") {
        return Err(ParseError::not_this(src, "crash kmem -i", "no `TOTAL MEM` row"));
    }
    Ok(Parsed { value: KmemInfo { rows, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn seed_004() {
        let t = "crash> kmem -i\n                 PAGES        TOTAL      PERCENTAGE\n    TOTAL MEM  3967057      15.1 GB         ----\n         FREE    28799     112.5 MB    0% of TOTAL MEM\n   TOTAL SWAP        0            0         ----\n COMMIT LIMIT  1983528       7.6 GB         ----\n    COMMITTED  7399654      28.2 GB  373% of TOTAL LIMIT\n";
        let k = parse(t, &src()).unwrap().value;
        assert_eq!(k.pages("TOTAL MEM"), Some(3967057));
        assert_eq!(k.pages("TOTAL SWAP"), Some(0));
        let c = k.rows.iter().find(|r| r.label == "COMMITTED").unwrap();
        assert_eq!((c.pages, c.percent, c.total.as_str()), (7399654, Some(373), "28.2 GB"));
        assert_eq!(k.at("COMMIT LIMIT").unwrap().line, Some(6));
    }
}
