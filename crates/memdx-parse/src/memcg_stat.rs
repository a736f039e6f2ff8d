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
    /// `Memory cgroup stats for /x:` (the OOM report's header of the stats) and its line.
    pub cgroup: Option<(String, u32)>,
    /// `memory: usage 102400kB, limit 102400kB, failcnt 117` printed before the stats in a memcg OOM
    /// report (v1; v2 prints `memory: usage ..., limit ...` without failcnt).
    pub usage: Option<UsageLine>,
}

/// The memory counter line of a memcg OOM report, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageLine {
    pub usage_kb: u64,
    pub limit_kb: u64,
    pub failcnt: Option<u64>,
    pub line: u32,
}

/// `Memory cgroup stats for /a/b:` -> `/a/b`.
pub fn stats_header(t: &str) -> Option<&str> {
    let r = t.trim().strip_prefix("Memory cgroup stats for ")?;
    let r = r.strip_suffix(':').unwrap_or(r).trim();
    (!r.is_empty() && !r.contains(' ')).then_some(r)
}

/// `memory: usage 102400kB, limit 102400kB, failcnt 117` -> (usage, limit, failcnt) in KiB.
pub fn usage_line(t: &str) -> Option<(u64, u64, Option<u64>)> {
    let r = t.trim().strip_prefix("memory: usage ")?;
    let mut parts = r.split(", ");
    let kb = |s: &str| s.trim().strip_suffix("kB").and_then(|n| n.parse::<u64>().ok());
    let usage = kb(parts.next()?)?;
    let limit = kb(parts.next()?.strip_prefix("limit ")?)?;
    let failcnt = parts.next().and_then(|p| p.strip_prefix("failcnt ")).and_then(|n| n.trim().parse().ok());
    Some((usage, limit, failcnt))
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
    let mut p = parse_counters(text, src, "memory.stat")?;
    // The lines an OOM report prints around the stats are read, not reported as damage.
    let mut cgroup = None;
    let mut usage = None;
    let mut header_lines = Vec::new();
    for (no, line) in crate::numbered_lines(text) {
        let t = line.trim();
        if let Some(cg) = stats_header(t) {
            cgroup.get_or_insert((cg.to_string(), no as u32));
        } else if let Some((usage_kb, limit_kb, failcnt)) = usage_line(t) {
            usage.get_or_insert(UsageLine { usage_kb, limit_kb, failcnt, line: no as u32 });
        } else if !(t.starts_with("memory+swap: usage ")
            || t.starts_with("kmem: usage ")
            || t.starts_with("swap: usage "))
        {
            continue;
        }
        header_lines.push(no as u32);
    }
    p.diags.retain(|d| !d.source.line.is_some_and(|l| header_lines.contains(&l)));
    let Some(version) = version_of(&p.value) else {
        return Err(ParseError::not_this(
            src,
            "memory.stat",
            "neither v1 (`cache`, `rss`) nor v2 (`anon`, `file`) keys",
        ));
    };
    Ok(Parsed { value: MemcgStat { version, counters: p.value, cgroup, usage }, diags: p.diags })
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
        // The stats of a memcg OOM report on 6.18 (testdata/log/live618_memcg_oom.dmesg), framing removed.
        let t = "memory: usage 102400kB, limit 102400kB, failcnt 117\nmemory+swap: usage 102400kB, limit 9007199254740988kB, failcnt 0\nkmem: usage 396kB, limit 9007199254740988kB, failcnt 0\nMemory cgroup stats for /memdx-test:\ncache 0\nrss 104452096\nhierarchical_memory_limit 104857600\n";
        let p = parse(t, &src()).unwrap();
        assert!(p.diags.is_empty(), "{:?}", p.diags);
        assert_eq!(p.value.cgroup, Some(("/memdx-test".to_string(), 4)));
        assert_eq!(
            p.value.usage,
            Some(UsageLine { usage_kb: 102400, limit_kb: 102400, failcnt: Some(117), line: 1 })
        );
        assert_eq!(p.value.anon(), Some(104452096));
    }
}
