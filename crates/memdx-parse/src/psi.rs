//! Pressure stall information (`/proc/pressure/memory`, cgroup v2 `memory.pressure`), since 4.20.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Total stall time in microseconds.
    pub total_us: u64,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Psi {
    /// `memory`, `cpu`, `io` when known (from a `== /proc/pressure/X` header or the path in a root
    /// tree); `None` for a loose file, whose resource cannot be told from its content.
    pub resource: Option<String>,
    /// The cgroup directory for a cgroup's `<resource>.pressure` (when a path named it); `None` for
    /// the whole machine's `/proc/pressure/<resource>`.
    pub cgroup: Option<String>,
    pub some: Option<PsiLine>,
    /// `full` (memory and io; cpu since 5.13).
    pub full: Option<PsiLine>,
    pub source: SourceRef,
}

/// The resource and cgroup a PSI file's path names: `/proc/pressure/memory` -> (`memory`, None),
/// `/sys/fs/cgroup/a.slice/memory.pressure` -> (`memory`, `/sys/fs/cgroup/a.slice`).
pub fn resource_of_path(path: &str) -> (Option<String>, Option<String>) {
    let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
    if let Some(res) = base.strip_suffix(".pressure") {
        return (Some(res.to_string()), Some(dir.to_string()));
    }
    if dir.ends_with("/pressure") || dir == "pressure" {
        return (Some(base.to_string()), None);
    }
    (None, None)
}

/// Parses one or more PSI blocks. A dump with `== /proc/pressure/<res>` headers yields one block each.
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Vec<Psi>> {
    let mut out: Vec<Psi> = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if let Some(h) = line.strip_prefix("== ") {
            let res = h.trim().rsplit('/').next().unwrap_or_default().to_string();
            out.push(Psi { resource: Some(res), cgroup: None, some: None, full: None, source: src.clone() });
            continue;
        }
        let mut it = line.split_whitespace();
        let kind = it.next().unwrap_or_default();
        let mut p = PsiLine { line: no as u32, ..PsiLine::default() };
        let mut ok = kind == "some" || kind == "full";
        for kv in it {
            match kv.split_once('=') {
                Some(("avg10", v)) => p.avg10 = v.parse().unwrap_or(f64::NAN),
                Some(("avg60", v)) => p.avg60 = v.parse().unwrap_or(f64::NAN),
                Some(("avg300", v)) => p.avg300 = v.parse().unwrap_or(f64::NAN),
                Some(("total", v)) => {
                    p.total_us = uint(v).unwrap_or_else(|| {
                        ok = false;
                        0
                    })
                }
                _ => ok = false,
            }
        }
        ok &= p.avg10.is_finite() && p.avg60.is_finite() && p.avg300.is_finite();
        if !ok {
            diags.push(Diag::warning(src.at(no), format!("not a PSI line: {line:.80}")));
            continue;
        }
        let need_new = match out.last() {
            None => true,
            Some(b) => (kind == "some" && b.some.is_some()) || (kind == "full" && b.full.is_some()),
        };
        if need_new {
            out.push(Psi { resource: None, cgroup: None, some: None, full: None, source: src.clone() });
        }
        if let Some(b) = out.last_mut() {
            if kind == "some" {
                b.some = Some(p)
            } else {
                b.full = Some(p)
            }
        }
    }
    out.retain(|b| b.some.is_some() || b.full.is_some());
    if out.is_empty() {
        return Err(ParseError::not_this(src, "PSI", "no `some avg10=...` lines"));
    }
    Ok(Parsed { value: out, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn blocks() {
        let t = "== /proc/pressure/cpu\nsome avg10=0.97 avg60=0.58 avg300=0.51 total=2938318\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n== /proc/pressure/memory\nsome avg10=1.50 avg60=0.00 avg300=0.00 total=7\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        let p = parse(t, &src()).unwrap().value;
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].resource.as_deref(), Some("memory"));
        assert_eq!(p[1].some.unwrap().avg10, 1.5);
        let loose = parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &src()).unwrap().value;
        assert_eq!(loose[0].resource, None);
    }
}
