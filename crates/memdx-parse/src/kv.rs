//! `key value` files: `/proc/vmstat`, the per-node stats of zoneinfo, cgroup `memory.stat`, and
//! `/proc/sys/vm` flattened by the source layer.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// One `name value` pair and the line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: u64,
    pub line: u32,
}

/// An ordered list of counters with lookup by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub entries: Vec<KvEntry>,
    pub source: Option<SourceRef>,
}

impl Counters {
    pub fn get(&self, key: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.value)
    }
    /// Where `key` was read, as `file:line`.
    pub fn source_of(&self, key: &str) -> Option<SourceRef> {
        let e = self.entries.iter().find(|e| e.key == key)?;
        self.source.as_ref().map(|s| s.at(e.line as usize))
    }
    /// Sum of all counters whose name starts with `prefix` (e.g. `pgscan_` across kswapd/direct/khugepaged).
    pub fn sum_prefix(&self, prefix: &str) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.key.starts_with(prefix))
            .map(|e| e.value)
            .fold(0, u64::saturating_add)
    }
}

/// Parses whitespace-separated `name value` lines. Lines that are not that shape are reported.
pub fn parse_counters(text: &str, src: &SourceRef, format: &'static str) -> ParseResult<Counters> {
    let mut out = Counters { entries: Vec::new(), source: Some(src.clone()) };
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let mut it = line.split_whitespace();
        match (it.next(), it.next().and_then(uint), it.next()) {
            (Some(k), Some(v), None) => {
                out.entries.push(KvEntry { key: k.to_string(), value: v, line: no as u32 })
            }
            _ => diags
                .push(Diag::warning(src.at(no), format!("not a `name value` line in {format}: {line:.80}"))),
        }
    }
    if out.entries.is_empty() {
        return Err(ParseError::NotThisFormat {
            file: src.clone(),
            format,
            reason: "no `name value` lines".into(),
        });
    }
    Ok(Parsed { value: out, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn vmstat_like() {
        let p = parse_counters("nr_free_pages 5\npgscan_kswapd 3\npgscan_direct 4\njunk\n", &src(), "vmstat")
            .unwrap();
        assert_eq!(p.value.get("nr_free_pages"), Some(5));
        assert_eq!(p.value.sum_prefix("pgscan_"), 7);
        assert_eq!(p.diags.len(), 1);
        assert_eq!(p.value.source_of("pgscan_direct").unwrap().line, Some(3));
    }
}
