//! SLUB user tracking (`slub_debug=U`): `/sys/kernel/debug/slab/<cache>/alloc_traces` and
//! `free_traces` (5.17+, a stack under each site) and `/sys/kernel/slab/<cache>/alloc_calls` and
//! `free_calls` (one line per site). Each site line:
//! `  39453 kstrdup_const+0x3c/0x48 age=9949/204277/303649 pid=0-712 cpus=0-3`.
//! For alloc files the count is the objects allocated there and still live.

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Site {
    pub count: u64,
    /// The call site (`kstrdup_const`), without offset.
    pub func: String,
    /// As printed, `kstrdup_const+0x3c/0x48`.
    pub symbol: String,
    pub module: Option<String>,
    /// `age=min/avg/max` in jiffies.
    pub age: Option<(u64, u64, u64)>,
    pub pids: Option<String>,
    /// Frames printed under the site (alloc_traces only), innermost first.
    pub stack: Vec<String>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlubTraces {
    /// The cache, when the path named it (`kmalloc-128/alloc_traces`).
    pub cache: Option<String>,
    /// True for alloc_traces/alloc_calls (live objects), false for free_*.
    pub alloc: bool,
    pub sites: Vec<Site>,
    pub source: SourceRef,
}

/// `func+0x3c/0x48` -> `func`.
fn func_of(sym: &str) -> Option<&str> {
    let (f, off) = sym.split_once('+')?;
    let ok = !f.is_empty()
        && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && off.contains('/')
        && off.starts_with("0x");
    ok.then_some(f)
}

/// A site line: count, symbol, then `key=value` fields and an optional `[module]`.
fn site(line: &str) -> Option<Site> {
    let mut it = line.split_whitespace();
    let count: u64 = it.next()?.parse().ok()?;
    let symbol = it.next()?;
    let func = func_of(symbol)?;
    let mut s = Site { count, func: func.to_string(), symbol: symbol.to_string(), ..Site::default() };
    for w in it {
        if let Some(m) = w.strip_prefix('[').and_then(|m| m.strip_suffix(']')) {
            s.module = Some(m.to_string());
        } else if let Some(a) = w.strip_prefix("age=") {
            let v: Vec<u64> = a.split('/').filter_map(|x| x.parse().ok()).collect();
            s.age = match v.as_slice() {
                [a, b, c] => Some((*a, *b, *c)),
                [a] => Some((*a, *a, *a)),
                _ => None,
            };
        } else if let Some(p) = w.strip_prefix("pid=") {
            s.pids = Some(p.to_string());
        }
    }
    Some(s)
}

/// The cache named by a path ending in `<cache>/alloc_traces`.
pub fn cache_of_path(path: &str) -> Option<String> {
    let mut it = path.trim_end_matches('/').rsplit('/');
    let _file = it.next()?;
    it.next().filter(|c| !c.is_empty() && *c != ".").map(str::to_string)
}

/// Parses an alloc/free traces or calls file. `path` (from a command or header) names the cache and
/// the direction; without it the sites are taken as allocations.
pub fn parse(text: &str, src: &SourceRef, path: Option<&str>) -> ParseResult<SlubTraces> {
    let alloc = !path.is_some_and(|p| p.contains("free_"));
    let mut sites: Vec<Site> = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if let Some(mut s) = site(t) {
            s.line = no as u32;
            sites.push(s);
        } else if let (Some(last), Some(_)) =
            (sites.last_mut(), func_of(t.split_whitespace().next().unwrap_or_default()))
        {
            last.stack.push(t.split_whitespace().next().unwrap_or_default().to_string());
        } else if t.bytes().all(|b| b == b'.') {
            // `....`: the reporter cut the listing.
            diags.push(Diag::note(src.at(no), "listing cut here by the reporter"));
        } else if t.starts_with("No data") {
            continue;
        } else {
            diags.push(Diag::warning(src.at(no), format!("not a slab trace line: {t:.80}")));
        }
    }
    if sites.is_empty() {
        return Err(ParseError::not_this(
            src,
            "slub alloc/free traces",
            "no `count func+off/size age=...` lines",
        ));
    }
    Ok(Parsed {
        value: SlubTraces { cache: path.and_then(cache_of_path), alloc, sites, source: src.clone() },
        diags,
    })
}

/// True when most lines are site lines carrying SLUB's `age=`/`pid=` fields.
pub fn looks_like(lines: &[&str]) -> bool {
    let sites = lines.iter().filter(|l| site(l).is_some_and(|s| s.age.is_some() || s.pids.is_some())).count();
    sites > 0
        && (sites + lines.iter().filter(|l| l.trim().bytes().all(|b| b == b'.')).count()) * 10
            >= lines.len() * 5
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn calls_and_traces() {
        // raspberrypi/linux#5302, as posted.
        let t = "  33110 drmm_mutex_init+0x54/0x68 [drm] age=4618/195716/305391 pid=178-587 cpus=0-3\n....\n";
        let p = parse(t, &src(), Some("kmalloc-256/alloc_traces")).unwrap();
        let s = &p.value.sites[0];
        assert_eq!((s.count, s.func.as_str(), s.module.as_deref()), (33110, "drmm_mutex_init", Some("drm")));
        assert_eq!(s.age, Some((4618, 195716, 305391)));
        assert_eq!(p.value.cache.as_deref(), Some("kmalloc-256"));
        assert_eq!(p.diags.len(), 1);
        // 6.x debugfs alloc_traces: the stack under the site.
        let t = "    512 alloc_inode+0x1e/0xb0 waste=0 age=1/2/3 pid=1-2 cpus=0 nodes=0\n        kmem_cache_alloc_lru+0x1a/0x200\n        alloc_inode+0x1e/0xb0\n";
        let p = parse(t, &src(), None).unwrap().value;
        assert_eq!(p.sites[0].stack.len(), 2);
        assert!(looks_like(&t.lines().take(1).collect::<Vec<_>>()));
        assert!(parse("hello\n", &src(), None).is_err());
    }
}
