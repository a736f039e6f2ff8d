//! `/proc/buddyinfo`: free blocks per order for each zone.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuddyZone {
    pub node: u32,
    pub zone: String,
    /// `free[k]` = free blocks of order k (2^k pages each). Usually 11 orders (MAX_ORDER 10); arm64 with
    /// 64K pages and some configs have other counts.
    pub free: Vec<u64>,
    pub line: u32,
}

impl BuddyZone {
    pub fn free_pages(&self) -> u64 {
        self.free
            .iter()
            .enumerate()
            .map(|(k, n)| n.checked_shl(k as u32).filter(|v| v >> k == *n).unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buddyinfo {
    pub zones: Vec<BuddyZone>,
    pub source: SourceRef,
}

/// Parses a `Node N, zone NAME c0 c1 ...` line (shared with pagetypeinfo and OOM reports' prefix).
pub(crate) fn node_zone(line: &str) -> Option<(u32, &str, &str)> {
    let rest = line.trim_start().strip_prefix("Node")?;
    let (node, rest) = rest.split_once(',')?;
    let node = node.trim().parse().ok()?;
    let rest = rest.trim_start().strip_prefix("zone")?.trim_start();
    let end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
    Some((node, &rest[..end], &rest[end..]))
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Buddyinfo> {
    let mut zones = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let parsed = node_zone(line).and_then(|(node, zone, rest)| {
            let free: Vec<u64> = rest.split_whitespace().map(uint).collect::<Option<_>>()?;
            (!free.is_empty() && free.len() <= 20).then(|| BuddyZone {
                node,
                zone: zone.to_string(),
                free,
                line: no as u32,
            })
        });
        match parsed {
            Some(z) => zones.push(z),
            None => diags.push(Diag::warning(src.at(no), format!("not a buddyinfo line: {line:.80}"))),
        }
    }
    if zones.is_empty() {
        return Err(ParseError::not_this(src, "buddyinfo", "no `Node N, zone Z` lines"));
    }
    Ok(Parsed { value: Buddyinfo { zones, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn live_618() {
        let t = "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \nNode 0, zone   Normal    143     73     28    269    196    184    134     76     42     15     83 \n";
        let b = parse(t, &src()).unwrap().value;
        assert_eq!(b.zones.len(), 2);
        assert_eq!(b.zones[0].free_pages(), 256 + 512 + 3 * 1024);
        assert_eq!(b.zones[1].zone, "Normal");
    }
}
