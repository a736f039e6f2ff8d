//! Huge page settings under `/sys/kernel/mm`: transparent huge pages (`transparent_hugepage/enabled`,
//! `defrag`, `shmem_enabled`: the choices with the selected one in brackets, `always [madvise]
//! never`; `khugepaged/*` numbers) and the hugetlb pools (`hugepages/hugepages-2048kB/nr_hugepages`,
//! `free_hugepages`, `resv_hugepages`, `surplus_hugepages`, `nr_overcommit_hugepages`, also per node
//! under `/sys/devices/system/node/nodeN/hugepages/`).
//!
//! Read as one file named by the command that printed it (`cat .../enabled`), as `grep -r .
//! /sys/kernel/mm/...` output (`path:value` per line), or, for a THP choice line with no path, by
//! its choices (only `defrag` offers `defer`; only `shmem_enabled` offers `within_size`).

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// A THP setting: the knob (`enabled`, `defrag`, `shmem_enabled`, `khugepaged/defrag`, ...) and its
/// value (the bracketed choice, or the number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThpSetting {
    pub knob: String,
    pub value: String,
    pub line: u32,
}

/// One hugetlb pool counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolValue {
    /// Huge page size in KiB (`hugepages-2048kB`).
    pub size_kb: u64,
    /// The node for per-node counters.
    pub node: Option<u32>,
    /// `nr_hugepages`, `free_hugepages`, ...
    pub field: String,
    pub value: u64,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MmSysfs {
    pub thp: Vec<ThpSetting>,
    pub pools: Vec<PoolValue>,
    pub source: Option<SourceRef>,
}

impl MmSysfs {
    pub fn thp(&self, knob: &str) -> Option<&ThpSetting> {
        self.thp.iter().rev().find(|s| s.knob == knob)
    }
    /// A machine-wide pool counter (per-node ones excluded).
    pub fn pool(&self, size_kb: u64, field: &str) -> Option<&PoolValue> {
        self.pools.iter().rev().find(|p| p.size_kb == size_kb && p.node.is_none() && p.field == field)
    }
    /// Pool sizes seen, ascending.
    pub fn sizes(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.pools.iter().map(|p| p.size_kb).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    pub fn extend(&mut self, other: MmSysfs) {
        self.thp.extend(other.thp);
        self.pools.extend(other.pools);
        if self.source.is_none() {
            self.source = other.source;
        }
    }
}

const THP_WORDS: &[&str] = &[
    "always",
    "madvise",
    "never",
    "defer",
    "defer+madvise",
    "within_size",
    "advise",
    "deny",
    "force",
    "inherit",
];

/// The selected word of a THP choice line (`always [madvise] never`).
pub fn choice(line: &str) -> Option<&str> {
    let mut selected = None;
    for w in line.split_whitespace() {
        let (bare, sel) = match w.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(b) => (b, true),
            None => (w, false),
        };
        if !THP_WORDS.contains(&bare) {
            return None;
        }
        if sel {
            if selected.is_some() {
                return None;
            }
            selected = Some(bare);
        }
    }
    selected
}

/// What the choices of a THP line say the knob is.
fn knob_of_choices(line: &str) -> &'static str {
    if line.contains("defer") {
        "defrag"
    } else if line.contains("within_size") {
        "shmem_enabled"
    } else {
        "enabled"
    }
}

/// The hugetlb part of a path: (size in KiB, node, field).
fn pool_path(path: &str) -> Option<(u64, Option<u32>, &str)> {
    let i = path.find("hugepages-")?;
    let rest = &path[i + "hugepages-".len()..];
    let (size, field) = rest.split_once('/')?;
    let size_kb = uint(size.strip_suffix("kB")?)?;
    let node = path.find("/node/node").and_then(|j| {
        let r = &path[j + "/node/node".len()..];
        uint(r.split('/').next()?).and_then(|n| u32::try_from(n).ok())
    });
    (!field.contains('/')).then_some((size_kb, node, field))
}

/// The THP knob a path names (`enabled`, `defrag`, `khugepaged/pages_to_scan`, ...).
fn thp_path(path: &str) -> Option<&str> {
    let i = path.find("transparent_hugepage/")?;
    let knob = &path[i + "transparent_hugepage/".len()..];
    (!knob.is_empty() && !knob.starts_with("hugepages-")).then_some(knob)
}

/// True when `path` is a file this module reads.
pub fn is_path(path: &str) -> bool {
    path.contains("/sys/") && (thp_path(path).is_some() || pool_path(path).is_some())
}

/// True when `l` is a `grep` line of such a file (`/sys/kernel/mm/...:value`).
pub fn is_grep_line(l: &str) -> bool {
    l.split_once(':').is_some_and(|(p, _)| p.starts_with("/sys/") && is_path(p))
}

fn add(out: &mut MmSysfs, path: &str, value: &str, no: usize, src: &SourceRef, diags: &mut Vec<Diag>) {
    let value = value.trim();
    if let Some((size_kb, node, field)) = pool_path(path) {
        match uint(value) {
            Some(v) => out.pools.push(PoolValue {
                size_kb,
                node,
                field: field.to_string(),
                value: v,
                line: no as u32,
            }),
            // `demote_size: 2048kB` and the like are not counters.
            None if field.starts_with("demote") => {}
            None => diags.push(Diag::warning(src.at(no), format!("{field}: not a number: {value:.40}"))),
        }
    } else if let Some(knob) = thp_path(path) {
        let v = choice(value).map(str::to_string).unwrap_or_else(|| value.to_string());
        out.thp.push(ThpSetting { knob: knob.to_string(), value: v, line: no as u32 });
    }
}

/// Parses settings. `path` is the file the text came from when a command or header named it.
pub fn parse(text: &str, src: &SourceRef, path: Option<&str>) -> ParseResult<MmSysfs> {
    let mut diags = Vec::new();
    let mut out = MmSysfs { source: Some(src.clone()), ..MmSysfs::default() };
    let single = path.filter(|p| is_path(p));
    for (no, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if let Some((p, v)) = t.split_once(':').filter(|(p, _)| is_path(p)) {
            add(&mut out, p, v, no, src, &mut diags);
        } else if let Some(p) = single {
            add(&mut out, p, t, no, src, &mut diags);
        } else if let Some(sel) = choice(t) {
            out.thp.push(ThpSetting {
                knob: knob_of_choices(t).to_string(),
                value: sel.to_string(),
                line: no as u32,
            });
        } else {
            diags.push(Diag::warning(src.at(no), format!("not a huge page setting: {t:.60}")));
        }
    }
    if out.thp.is_empty() && out.pools.is_empty() {
        return Err(ParseError::not_this(src, "huge page settings", "no THP choice or hugetlb pool value"));
    }
    Ok(Parsed { value: out, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn real_settings() {
        // `grep -r . /sys/kernel/mm/hugepages/` and the THP files on the 6.18 machine.
        let g = crate::testutil::formats("grep_sys_kernel_mm_hugepages.txt");
        let p = parse(&g, &src(), None).unwrap();
        assert!(p.diags.is_empty(), "{:?}", p.diags);
        assert_eq!(p.value.sizes(), vec![2048, 1048576]);
        assert_eq!(p.value.pool(2048, "nr_hugepages").map(|v| v.value), Some(0));
        let t = crate::testutil::formats("thp_enabled_defrag_shmem.txt");
        let p = parse(&t, &src(), None).unwrap();
        assert_eq!(p.value.thp("enabled").map(|s| s.value.as_str()), Some("madvise"));
        assert_eq!(p.value.thp("defrag").map(|s| s.value.as_str()), Some("madvise"));
        assert_eq!(p.value.thp("shmem_enabled").map(|s| s.value.as_str()), Some("never"));
        let one =
            parse("[always] madvise never\n", &src(), Some("/sys/kernel/mm/transparent_hugepage/defrag"))
                .unwrap();
        assert_eq!(one.value.thp("defrag").map(|s| s.value.as_str()), Some("always"));
        let n = parse(
            "512\n",
            &src(),
            Some("/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"),
        )
        .unwrap();
        assert_eq!((n.value.pools[0].node, n.value.pools[0].value), (Some(1), 512));
        assert!(parse("always madvise never\n", &src(), None).is_err());
        assert!(parse("[always] [never]\n", &src(), None).is_err());
    }
}
