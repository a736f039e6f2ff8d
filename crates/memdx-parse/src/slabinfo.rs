//! `/proc/slabinfo` (versions 2.0 and 2.1; SLAB and SLUB) and the row type shared with `slabtop`.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// Where a slab table came from; slabtop rounds object sizes and gives the cache size directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlabFormat {
    Slabinfo,
    Slabtop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabCache {
    pub name: String,
    pub active_objs: u64,
    pub num_objs: u64,
    /// Object size in bytes: exact from slabinfo, rounded to 10 bytes from slabtop's `0.48K`.
    pub objsize: u64,
    pub objperslab: u64,
    /// Pages per slab (slabinfo only).
    pub pagesperslab: Option<u64>,
    /// Active slabs (slabinfo only; SLUB reports it equal to `num_slabs`).
    pub active_slabs: Option<u64>,
    pub num_slabs: u64,
    /// Memory held in KiB as slabtop prints it (slabtop only).
    pub cache_size_kb: Option<u64>,
    pub line: u32,
}

impl SlabCache {
    /// Memory held by the cache's slabs in KiB, for a page size in KiB (4 on x86-64).
    pub fn memory_kb(&self, page_kb: u64) -> u64 {
        match (self.cache_size_kb, self.pagesperslab) {
            (Some(kb), _) => kb,
            (None, Some(pps)) => self.num_slabs.saturating_mul(pps).saturating_mul(page_kb),
            (None, None) => self.num_objs.saturating_mul(self.objsize) / 1024,
        }
    }
    /// Percentage of allocated objects in use.
    pub fn active_pct(&self) -> f64 {
        memdx_core::units::pct(self.active_objs, self.num_objs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabTable {
    pub format: SlabFormat,
    /// `2.1` for slabinfo; `slabtop` for slabtop output.
    pub version: String,
    pub caches: Vec<SlabCache>,
    pub source: SourceRef,
}

impl SlabTable {
    pub fn get(&self, name: &str) -> Option<&SlabCache> {
        self.caches.iter().find(|c| c.name == name)
    }
}

/// Parses `/proc/slabinfo`. The header must say `slabinfo - version: 2.0` or `2.1`, or the text is
/// rows quoted without it.
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<SlabTable> {
    let Some((_, first)) = numbered_lines(text).find(|(_, l)| !l.trim().is_empty()) else {
        return Err(ParseError::Empty { file: src.clone() });
    };
    // Rows quoted without the header (a report pasting the one cache that grows).
    let headerless = parse_row(first).is_some();
    let lines = numbered_lines(text).filter(|(_, l)| !l.trim().is_empty()).skip(usize::from(!headerless));
    let version = if headerless {
        "2.1"
    } else {
        first.trim().strip_prefix("slabinfo - version:").map(str::trim).unwrap_or("")
    };
    if !headerless && !first.trim().starts_with("slabinfo - version:") {
        return Err(ParseError::NotThisFormat {
            file: src.at(1),
            format: "slabinfo",
            reason: "first line is not `slabinfo - version: ...`".into(),
        });
    };
    if version != "2.1" && version != "2.0" {
        return Err(ParseError::UnsupportedVersion {
            file: src.at(1),
            format: "slabinfo",
            version: version.chars().take(20).collect(),
            supported: "2.0 and 2.1",
        });
    }
    let mut caches = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in lines {
        if line.starts_with('#') || too_long(src, no, line, &mut diags) {
            continue;
        }
        match parse_row(line) {
            Some(mut c) => {
                c.line = no as u32;
                caches.push(c)
            }
            None => diags.push(Diag::warning(src.at(no), format!("not a slabinfo row: {line:.80}"))),
        }
    }
    Ok(Parsed {
        value: SlabTable {
            format: SlabFormat::Slabinfo,
            version: version.into(),
            caches,
            source: src.clone(),
        },
        diags,
    })
}

fn parse_row(line: &str) -> Option<SlabCache> {
    // name active num objsize objperslab pagesperslab : tunables a b c : slabdata active num shared
    let (head, rest) = line.split_once(" : tunables")?;
    let (_, slabdata) = rest.split_once(": slabdata")?;
    let mut h = head.split_whitespace();
    let name = h.next()?.to_string();
    let nums: Vec<u64> = h.map(uint).collect::<Option<_>>()?;
    let sd: Vec<u64> = slabdata.split_whitespace().map(uint).collect::<Option<_>>()?;
    if nums.len() != 5 || sd.len() < 2 {
        return None;
    }
    Some(SlabCache {
        name,
        active_objs: nums[0],
        num_objs: nums[1],
        objsize: nums[2],
        objperslab: nums[3],
        pagesperslab: Some(nums[4]),
        active_slabs: Some(sd[0]),
        num_slabs: sd[1],
        cache_size_kb: None,
        line: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn rows_and_versions() {
        let t = "slabinfo - version: 2.1\n# name <active_objs>\nkernfs_node_cache  17209  17400    136   30    1 : tunables    0    0    0 : slabdata    580    580      0\nbroken row\n";
        let p = parse(t, &src()).unwrap();
        let c = &p.value.caches[0];
        assert_eq!(
            (c.name.as_str(), c.active_objs, c.num_slabs, c.line),
            ("kernfs_node_cache", 17209, 580, 3)
        );
        assert_eq!(c.memory_kb(4), 2320);
        assert_eq!(p.diags.len(), 1);
        assert!(matches!(
            parse("slabinfo - version: 9.9\n", &src()),
            Err(ParseError::UnsupportedVersion { .. })
        ));
        assert!(matches!(parse("hello\n", &src()), Err(ParseError::NotThisFormat { .. })));
    }
}
