//! `/proc/pagetypeinfo`: free blocks per order per migratetype, and pageblock counts per type.

use crate::buddyinfo::node_zone;
use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFree {
    pub node: u32,
    pub zone: String,
    pub migratetype: String,
    /// Free blocks per order. The kernel caps each count at 100000 (prints `>100000`); such a value is
    /// stored as 100000 and [`TypeFree::capped`] is set.
    pub free: Vec<u64>,
    pub capped: bool,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCounts {
    pub node: u32,
    pub zone: String,
    pub counts: Vec<(String, u64)>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pagetypeinfo {
    pub pageblock_order: Option<u32>,
    pub pages_per_block: Option<u64>,
    pub free: Vec<TypeFree>,
    pub blocks: Vec<BlockCounts>,
    pub source: SourceRef,
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Pagetypeinfo> {
    let mut out = Pagetypeinfo {
        pageblock_order: None,
        pages_per_block: None,
        free: vec![],
        blocks: vec![],
        source: src.clone(),
    };
    let mut diags = Vec::new();
    let mut block_types: Vec<String> = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Page block order:") {
            out.pageblock_order = v.trim().parse().ok();
        } else if let Some(v) = t.strip_prefix("Pages per block:") {
            out.pages_per_block = uint(v.trim());
        } else if t.starts_with("Free pages count per migrate type") {
        } else if let Some(v) = t.strip_prefix("Number of blocks type") {
            block_types = v.split_whitespace().map(str::to_string).collect();
        } else if let Some((node, zone, rest)) = node_zone(t) {
            if let Some(r) = rest.trim_start().strip_prefix(", type") {
                let mut it = r.split_whitespace();
                let mt = it.next().unwrap_or_default().to_string();
                let mut capped = false;
                let free: Option<Vec<u64>> = it
                    .map(|s| match s.strip_prefix('>') {
                        Some(n) => {
                            capped = true;
                            uint(n)
                        }
                        None => uint(s),
                    })
                    .collect();
                match free {
                    Some(free) if !mt.is_empty() => out.free.push(TypeFree {
                        node,
                        zone: zone.into(),
                        migratetype: mt,
                        free,
                        capped,
                        line: no as u32,
                    }),
                    _ => diags.push(Diag::warning(src.at(no), format!("bad free-count row: {t:.80}"))),
                }
            } else {
                let nums: Option<Vec<u64>> = rest.split_whitespace().map(uint).collect();
                match nums {
                    Some(n) if n.len() == block_types.len() => out.blocks.push(BlockCounts {
                        node,
                        zone: zone.into(),
                        counts: block_types.iter().cloned().zip(n).collect(),
                        line: no as u32,
                    }),
                    _ => diags.push(Diag::warning(src.at(no), format!("bad block-count row: {t:.80}"))),
                }
            }
        } else {
            diags.push(Diag::warning(src.at(no), format!("not a pagetypeinfo line: {t:.80}")));
        }
    }
    if out.free.is_empty() && out.blocks.is_empty() {
        return Err(ParseError::not_this(src, "pagetypeinfo", "no per-migratetype rows"));
    }
    Ok(Parsed { value: out, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn rows() {
        let t = "Page block order: 9\nPages per block:  512\n\nFree pages count per migrate type at order       0      1 \nNode    0, zone   Normal, type    Unmovable    143     72 \nNode    0, zone   Normal, type      Movable  >100000     1 \n\nNumber of blocks type     Unmovable      Movable \nNode 0, zone   Normal           40          332 \n";
        let p = parse(t, &src()).unwrap().value;
        assert_eq!(p.pageblock_order, Some(9));
        assert_eq!(p.free[0].free, vec![143, 72]);
        assert!(p.free[1].capped);
        assert_eq!(p.blocks[0].counts[1], ("Movable".to_string(), 332));
    }
}
