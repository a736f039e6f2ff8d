//! cgroup `memory.stat`: v1 (`cache`, `rss`, `hierarchical_memory_limit`, `total_*`) and v2 (`anon`,
//! `file`, `kernel_stack`, `slab_unreclaimable`, ...). Values are bytes except event counters.

use crate::kv::{parse_counters, Counters};
use crate::{ParseError, ParseResult, Parsed};
use memdx_core::SourceRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemcgVersion {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgStat {
    pub version: MemcgVersion,
    pub counters: Counters,
}

impl MemcgStat {
    /// Anonymous memory in bytes (v1 `rss`, v2 `anon`).
    pub fn anon(&self) -> Option<u64> {
        match self.version {
            MemcgVersion::V1 => self.counters.get("rss"),
            MemcgVersion::V2 => self.counters.get("anon"),
        }
    }
    /// Page cache in bytes (v1 `cache`, v2 `file`).
    pub fn file(&self) -> Option<u64> {
        match self.version {
            MemcgVersion::V1 => self.counters.get("cache"),
            MemcgVersion::V2 => self.counters.get("file"),
        }
    }
    /// The limit in bytes (v1 `hierarchical_memory_limit`; v2 has it in `memory.max`, not here).
    pub fn limit(&self) -> Option<u64> {
        self.counters.get("hierarchical_memory_limit").filter(|&l| l < (1 << 62))
    }
}

/// Tells v1 from v2 by the keys present.
pub fn version_of(c: &Counters) -> Option<MemcgVersion> {
    if c.get("cache").is_some() && c.get("rss").is_some() {
        Some(MemcgVersion::V1)
    } else if c.get("anon").is_some() && c.get("file").is_some() {
        Some(MemcgVersion::V2)
    } else {
        None
    }
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<MemcgStat> {
    let p = parse_counters(text, src, "memory.stat")?;
    let Some(version) = version_of(&p.value) else {
        return Err(ParseError::NotThisFormat {
            file: src.clone(),
            format: "memory.stat",
            reason: "neither v1 (`cache`, `rss`) nor v2 (`anon`, `file`) keys".into(),
        });
    };
    Ok(Parsed { value: MemcgStat { version, counters: p.value }, diags: p.diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn v1_v2() {
        let v1 =
            parse("cache 100675584\nrss 0\nhierarchical_memory_limit 104857600\n", &src()).unwrap().value;
        assert_eq!((v1.version, v1.file(), v1.limit()), (MemcgVersion::V1, Some(100675584), Some(104857600)));
        let v2 = parse("anon 4096\nfile 8192\nkernel_stack 0\n", &src()).unwrap().value;
        assert_eq!((v2.version, v2.anon()), (MemcgVersion::V2, Some(4096)));
        assert!(parse("nr_free_pages 5\n", &src()).is_err());
    }
}
