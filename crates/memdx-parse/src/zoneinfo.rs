//! `/proc/zoneinfo`: per zone watermarks, managed pages, lowmem protection and counters.

use crate::buddyinfo::node_zone;
use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    pub node: u32,
    pub name: String,
    /// Line of the `Node N, zone Z` header.
    pub line: u32,
    /// `pages free`.
    pub free: Option<u64>,
    pub min: Option<u64>,
    pub low: Option<u64>,
    pub high: Option<u64>,
    /// Since 6.1 with memory tiering (`promo` watermark).
    pub promo: Option<u64>,
    /// Since 5.0 (`watermark_boost`).
    pub boost: Option<u64>,
    pub spanned: Option<u64>,
    pub present: Option<u64>,
    /// Since 3.8.
    pub managed: Option<u64>,
    /// `protection: (a, b, ...)`: lowmem_reserve against allocations whose preferred zone is index i.
    pub protection: Vec<u64>,
    /// Zone counters (`nr_free_pages`, `nr_zone_inactive_file`, ...). Node-wide `per-node stats` go to
    /// [`Zoneinfo::node_stats`].
    pub counters: Vec<(String, u64)>,
    /// Line numbers of `pages free`, `min`, `low`, `high`, `managed` for evidence.
    pub lines: Vec<(&'static str, u32)>,
}

impl Zone {
    pub fn line_of(&self, key: &str) -> Option<u32> {
        self.lines.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
    }
    pub fn counter(&self, key: &str) -> Option<u64> {
        self.counters.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zoneinfo {
    pub zones: Vec<Zone>,
    /// `per-node stats` by node id.
    pub node_stats: Vec<(u32, Vec<(String, u64)>)>,
    pub source: SourceRef,
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Zoneinfo> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut node_stats: Vec<(u32, Vec<(String, u64)>)> = Vec::new();
    let mut diags = Vec::new();
    #[derive(PartialEq)]
    enum Sect {
        Zone,
        NodeStats,
        Pagesets,
    }
    let mut sect = Sect::Zone;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if let Some((node, name, _)) = node_zone(line).filter(|_| line.starts_with("Node")) {
            zones.push(Zone { node, name: name.to_string(), line: no as u32, ..Zone::default() });
            sect = Sect::Zone;
            continue;
        }
        let Some(zone) = zones.last_mut() else {
            diags.push(Diag::warning(
                src.at(no),
                format!("line before any `Node N, zone Z` header: {line:.80}"),
            ));
            continue;
        };
        let t = line.trim();
        if t == "per-node stats" {
            sect = Sect::NodeStats;
            if !node_stats.iter().any(|(n, _)| *n == zone.node) {
                node_stats.push((zone.node, Vec::new()));
            }
            continue;
        }
        if t == "pagesets" {
            sect = Sect::Pagesets;
            continue;
        }
        if let Some(p) = t.strip_prefix("protection:") {
            let inner = p.trim().trim_start_matches('(').trim_end_matches(')');
            match inner.split(',').map(|s| uint(s.trim())).collect::<Option<Vec<_>>>() {
                Some(v) => zone.protection = v,
                None => diags.push(Diag::warning(src.at(no), format!("bad protection list: {t:.80}"))),
            }
            sect = Sect::Zone;
            continue;
        }
        if t.contains(':') {
            // pageset (`count:`, `high:`), `node_unreclaimable:`, `start_pfn:`, `vm stats threshold:`
            continue;
        }
        let mut it = t.split_whitespace();
        let (k, v) = match (it.next(), it.next(), it.next(), it.next()) {
            (Some("pages"), Some("free"), Some(v), None) => ("pages free", uint(v)),
            (Some(k), Some(v), None, None) => (k, uint(v)),
            _ => {
                diags.push(Diag::warning(src.at(no), format!("not a zoneinfo line: {t:.80}")));
                continue;
            }
        };
        let Some(v) = v else {
            diags.push(Diag::warning(src.at(no), format!("not a number: {t:.80}")));
            continue;
        };
        if sect == Sect::Pagesets {
            continue;
        }
        let field = match k {
            "pages free" => Some((&mut zone.free, "free")),
            "min" => Some((&mut zone.min, "min")),
            "low" => Some((&mut zone.low, "low")),
            "high" => Some((&mut zone.high, "high")),
            "promo" => Some((&mut zone.promo, "promo")),
            "boost" => Some((&mut zone.boost, "boost")),
            "spanned" => Some((&mut zone.spanned, "spanned")),
            "present" => Some((&mut zone.present, "present")),
            "managed" => Some((&mut zone.managed, "managed")),
            _ => None,
        };
        match field {
            Some((slot, name)) => {
                *slot = Some(v);
                zone.lines.push((name, no as u32));
                sect = Sect::Zone;
            }
            None if sect == Sect::NodeStats => {
                if let Some((_, s)) = node_stats.iter_mut().find(|(n, _)| *n == zone.node) {
                    s.push((k.to_string(), v));
                }
            }
            None => zone.counters.push((k.to_string(), v)),
        }
    }
    if zones.is_empty() {
        return Err(ParseError::not_this(src, "zoneinfo", "no `Node N, zone Z` header"));
    }
    Ok(Parsed { value: Zoneinfo { zones, node_stats, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn old_and_new_layouts() {
        // 3.10-style zone (no boost/promo, watermarks right after `pages free`).
        let old = "Node 0, zone      DMA\n  pages free     3975\n        min      5\n        low      6\n        high     7\n        scanned  0\n        spanned  4095\n        present  3998\n        managed  3977\n    nr_free_pages 3975\n        protection: (0, 2815, 3823, 3823)\n  pagesets\n    cpu: 0\n              count: 0\n              high:  0\n";
        let z = parse(old, &src()).unwrap().value;
        let d = &z.zones[0];
        assert_eq!(
            (d.free, d.min, d.low, d.high, d.managed, d.boost),
            (Some(3975), Some(5), Some(6), Some(7), Some(3977), None)
        );
        assert_eq!(d.protection, vec![0, 2815, 3823, 3823]);
        assert_eq!(d.counter("nr_free_pages"), Some(3975));
        assert_eq!(d.line_of("min"), Some(3));
    }
}
