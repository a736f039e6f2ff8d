//! procps `slabtop -o` output (the summary header and the table), as pasted in bug reports.

use crate::slabinfo::{SlabCache, SlabFormat, SlabTable};
use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// Parses slabtop output. The table header `OBJS ACTIVE  USE OBJ SIZE ...` must be present.
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<SlabTable> {
    let mut caches = Vec::new();
    let mut diags = Vec::new();
    let mut in_table = false;
    for (no, line) in numbered_lines(text) {
        if too_long(src, no, line, &mut diags) {
            continue;
        }
        let t = line.trim();
        if !in_table {
            in_table = t.starts_with("OBJS") && t.contains("OBJ SIZE") && t.ends_with("NAME");
            continue;
        }
        if t.is_empty() {
            continue;
        }
        match parse_row(t) {
            Some(mut c) => {
                c.line = no as u32;
                caches.push(c)
            }
            None => diags.push(Diag::warning(src.at(no), format!("not a slabtop row: {t:.80}"))),
        }
    }
    if !in_table {
        return Err(ParseError::not_this(src, "slabtop", "no `OBJS ACTIVE USE OBJ SIZE ... NAME` header"));
    }
    Ok(Parsed {
        value: SlabTable {
            format: SlabFormat::Slabtop,
            version: "slabtop".into(),
            caches,
            source: src.clone(),
        },
        diags,
    })
}

/// `0.48K` -> 490 bytes (slabtop prints KiB with two decimals).
fn kib_2dp(s: &str) -> Option<u64> {
    let n = s.strip_suffix('K')?;
    let (i, f) = n.split_once('.').unwrap_or((n, "0"));
    let i = uint(i)?;
    let f = uint(f)?;
    let frac = match f.to_string().len() {
        1 => f * 10,
        2 => f,
        _ => return None,
    };
    Some(i.checked_mul(100)?.checked_add(frac)?.checked_mul(1024)? / 100)
}

fn parse_row(t: &str) -> Option<SlabCache> {
    let f: Vec<&str> = t.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    let num_objs = uint(f[0])?;
    let active_objs = uint(f[1])?;
    let _use = f[2].strip_suffix('%').and_then(uint)?;
    let objsize = kib_2dp(f[3])?;
    let num_slabs = uint(f[4])?;
    let objperslab = uint(f[5])?;
    let size_kb = uint(f[6].strip_suffix('K')?)?;
    // Cache names never contain spaces, but keep anything after the size column as the name.
    let name = f[7..].join(" ");
    Some(SlabCache {
        name,
        active_objs,
        num_objs,
        objsize,
        objperslab,
        pagesperslab: None,
        active_slabs: None,
        num_slabs,
        cache_size_kb: Some(size_kb),
        line: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn seed_000_rows() {
        let t = " Active / Total Objects (% used)    : 924058 / 1039323 (88.9%)\n\n  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME                   \n 55251  52846  95%    4.44K   7893        7    252576K names_cache            \n229119 223856  97%    0.48K   6943       33    111088K kernfs_node_cache      \n";
        let p = parse(t, &src()).unwrap();
        assert_eq!(p.value.caches.len(), 2);
        let k = &p.value.caches[1];
        assert_eq!(
            (k.name.as_str(), k.num_objs, k.active_objs, k.memory_kb(4), k.objsize),
            ("kernfs_node_cache", 229119, 223856, 111088, 491)
        );
        assert!(p.diags.is_empty());
        assert!(parse("nothing", &src()).is_err());
    }
}
