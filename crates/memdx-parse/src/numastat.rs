//! `numastat -m` (numactl): meminfo per NUMA node, in MB (MiB), under `Per-node system memory usage
//! (in MBs):`, columns `Node 0 ... Node N Total`, rows `MemTotal`, `MemFree`, `MemUsed`, `FilePages`,
//! `AnonPages`, `Slab`, `HugePages_Total`, ... `numastat -m` also prints `Token X not in hash
//! table.` for meminfo keys it does not know; those lines are skipped.

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq)]
pub struct Numastat {
    /// Node numbers in column order (`Total` excluded).
    pub nodes: Vec<u32>,
    /// Row name, one value per node in MiB, the line.
    pub rows: Vec<(String, Vec<f64>, u32)>,
    pub source: SourceRef,
}

impl Numastat {
    /// One row's per-node values in MiB.
    pub fn row(&self, name: &str) -> Option<&[f64]> {
        self.rows.iter().find(|(n, _, _)| n == name).map(|(_, v, _)| v.as_slice())
    }
    pub fn line(&self, name: &str) -> Option<u32> {
        self.rows.iter().find(|(n, _, _)| n == name).map(|(_, _, l)| *l)
    }
}

/// `Node 0  Node 1  Total`: the node numbers, when the line is that header.
pub fn node_header(l: &str) -> Option<Vec<u32>> {
    if !l.trim_start().starts_with("Node") {
        return None;
    }
    let cols: Vec<&str> = l.split_whitespace().collect();
    if cols.first() != Some(&"Node") {
        return None;
    }
    let mut nodes = Vec::new();
    let mut i = 0;
    while i < cols.len() {
        match (cols[i], cols.get(i + 1)) {
            ("Node", Some(n)) => {
                nodes.push(n.parse().ok()?);
                i += 2;
            }
            ("Total", None) => i += 1,
            _ => return None,
        }
    }
    (!nodes.is_empty()).then_some(nodes)
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Numastat> {
    let mut diags = Vec::new();
    let mut nodes: Option<Vec<u32>> = None;
    let mut rows = Vec::new();
    for (no, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if let Some(n) = node_header(t) {
            nodes = Some(n);
            continue;
        }
        let Some(n) = &nodes else { continue };
        if t.starts_with("---") || t.starts_with("Token ") || t.starts_with("Per-node") {
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let vals: Option<Vec<f64>> = cols
            .iter()
            .skip(1)
            .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0))
            .collect();
        match vals {
            Some(v) if v.len() >= n.len() && cols.len() >= 2 => {
                rows.push((cols[0].to_string(), v[..n.len()].to_vec(), no as u32));
            }
            _ => diags.push(Diag::warning(src.at(no), format!("not a `Name  MB per node` row: {:.60}", t))),
        }
    }
    let Some(nodes) = nodes else {
        return Err(ParseError::not_this(src, "numastat -m", "no `Node 0 ... Total` header"));
    };
    if rows.is_empty() {
        return Err(ParseError::not_this(src, "numastat -m", "a header but no rows"));
    }
    Ok(Parsed { value: Numastat { nodes, rows, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn real_numastat_m() {
        // `numastat -m` (numactl 2.0.16) on the 6.18 machine, one node: Total equals Node 0, and
        // MemUsed = MemTotal - MemFree as numastat computes it.
        let text = crate::testutil::formats("numastat_m.txt");
        let n = parse(&text, &src()).unwrap();
        assert!(n.diags.is_empty(), "{:?}", n.diags);
        let v = &n.value;
        assert_eq!(v.nodes, vec![0]);
        assert_eq!(v.row("MemTotal"), Some(&[24105.13][..]));
        assert_eq!(v.row("MemFree"), Some(&[1438.72][..]));
        assert!((v.row("MemUsed").unwrap()[0] - (24105.13 - 1438.72)).abs() < 0.02);
        // Two nodes, as numastat(8) shows them.
        let t = "                          Node 0          Node 1           Total\n                 --------------- --------------- ---------------\nMemTotal                64437.50        64509.36       128946.86\nMemFree                   210.23        40123.11        40333.34\nbroken row\n";
        let n = parse(t, &src()).unwrap();
        assert_eq!(n.value.row("MemFree"), Some(&[210.23, 40123.11][..]));
        assert_eq!(n.diags.len(), 1);
        assert!(parse("MemTotal 5\n", &src()).is_err());
    }
}
