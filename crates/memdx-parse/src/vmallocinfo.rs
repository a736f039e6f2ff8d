//! `/proc/vmallocinfo`: one line per vmalloc-space area, `0xSTART-0xEND SIZE caller+off/len
//! [pages=N] [phys=0x...] [ioremap|vmalloc|vmap|user|vpages|vm_map_ram] [N0=n ...]`. `SIZE` is the
//! address range (with the guard page); `pages=N` is the memory vmalloc allocated for the area,
//! and their sum is meminfo's `VmallocUsed` (since 5.3). `unpurged vm_area` lines are freed
//! ranges awaiting a lazy TLB purge and own no pages.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// Areas summed by the function that made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Function name without offset (`kernel_clone`), or `unpurged vm_area`.
    pub name: String,
    pub areas: u64,
    /// Sum of `pages=` in pages.
    pub pages: u64,
    /// Sum of the address ranges in bytes.
    pub bytes: u64,
    /// The first line with this caller.
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vmallocinfo {
    /// Largest by pages first, then by address range.
    pub callers: Vec<Caller>,
    pub areas: u64,
    /// Sum of `pages=`: meminfo's VmallocUsed in pages.
    pub pages: u64,
    /// Sum of the address ranges.
    pub bytes: u64,
    /// `ioremap` areas (device memory mapped, no RAM).
    pub ioremap_bytes: u64,
    pub source: SourceRef,
}

/// True for a line of the file.
pub fn is_line(l: &str) -> bool {
    let mut it = l.split_whitespace();
    let (Some(range), Some(size)) = (it.next(), it.next()) else { return false };
    range.starts_with("0x") && range.contains("-0x") && uint(size).is_some() && it.next().is_some()
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Vmallocinfo> {
    let mut diags = Vec::new();
    let mut callers: Vec<Caller> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = Vmallocinfo {
        callers: Vec::new(),
        areas: 0,
        pages: 0,
        bytes: 0,
        ioremap_bytes: 0,
        source: src.clone(),
    };
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if !is_line(line) {
            diags.push(Diag::warning(src.at(no), format!("not a vmallocinfo line: {:.60}", line.trim())));
            continue;
        }
        let mut it = line.split_whitespace();
        let _range = it.next();
        let bytes = it.next().and_then(uint).unwrap_or(0);
        let rest: Vec<&str> = it.collect();
        let name = if rest.first() == Some(&"unpurged") {
            "unpurged vm_area".to_string()
        } else {
            let c = rest.first().copied().unwrap_or_default();
            c.split('+').next().unwrap_or(c).to_string()
        };
        let pages = rest.iter().find_map(|w| w.strip_prefix("pages=")).and_then(uint).unwrap_or(0);
        if rest.contains(&"ioremap") {
            out.ioremap_bytes = out.ioremap_bytes.saturating_add(bytes);
        }
        let i = *index.entry(name.clone()).or_insert_with(|| {
            callers.push(Caller { name, areas: 0, pages: 0, bytes: 0, line: no as u32 });
            callers.len() - 1
        });
        let c = &mut callers[i];
        c.areas += 1;
        c.pages = c.pages.saturating_add(pages);
        c.bytes = c.bytes.saturating_add(bytes);
        out.areas += 1;
        out.pages = out.pages.saturating_add(pages);
        out.bytes = out.bytes.saturating_add(bytes);
    }
    if out.areas == 0 {
        return Err(ParseError::not_this(src, "vmallocinfo", "no `0x...-0x... SIZE caller` line"));
    }
    callers.sort_by(|a, b| b.pages.cmp(&a.pages).then(b.bytes.cmp(&a.bytes)).then(a.line.cmp(&b.line)));
    out.callers = callers;
    Ok(Parsed { value: out, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn real_vmallocinfo() {
        // Read on the 6.18 machine together with meminfo's `VmallocUsed: 17976 kB` (same moment:
        // vmallocinfo read twice, identical, around the meminfo read).
        let v = parse(&crate::testutil::formats("vmallocinfo.txt"), &src()).unwrap();
        assert!(v.diags.is_empty(), "{:?}", v.diags);
        let used = crate::testutil::formats("vmallocinfo_meminfo_VmallocUsed.txt");
        let used_kb: u64 = used.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(v.value.pages * 4, used_kb);
        // Counted with grep -c on the file.
        let text = crate::testutil::formats("vmallocinfo.txt");
        assert_eq!(v.value.areas, text.lines().count() as u64);
        let clone = v.value.callers.iter().find(|c| c.name == "kernel_clone").unwrap();
        assert_eq!(clone.areas, text.lines().filter(|l| l.contains(" kernel_clone+")).count() as u64);
        assert!(v.value.callers[0].pages >= v.value.callers[1].pages);
        let bad = parse("0x1-0x2 4096 f+0x1/0x2 pages=1 vmalloc\ngarbage\n", &src()).unwrap();
        assert_eq!((bad.value.pages, bad.diags.len()), (1, 1));
        assert!(parse("hello\n", &src()).is_err());
    }
}
