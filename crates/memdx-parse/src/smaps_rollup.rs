//! `/proc/<pid>/smaps_rollup` (since 4.14): one process's mappings summed. The first line is the
//! address range with `[rollup]`; then `Rss:`, `Pss:` (and since 5.x `Pss_Anon`, `Pss_File`,
//! `Pss_Shmem`, 6.x `Pss_Dirty`), `Anonymous:`, `Swap:`, `SwapPss:`, ... in kB.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmapsRollup {
    /// Every `Key: N kB` line in order, with its line number.
    pub fields: Vec<(String, u64, u32)>,
    pub source: SourceRef,
}

impl SmapsRollup {
    pub fn kb(&self, key: &str) -> Option<u64> {
        self.fields.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| *v)
    }
    pub fn line(&self, key: &str) -> Option<u32> {
        self.fields.iter().find(|(k, _, _)| k == key).map(|(_, _, l)| *l)
    }
}

/// True for the first line of the file: `560352ee0000-7ffdbdf0e000 ---p 00000000 00:00 0   [rollup]`.
pub fn is_rollup_line(l: &str) -> bool {
    l.trim_end().ends_with("[rollup]") && l.split_whitespace().next().is_some_and(|r| r.contains('-'))
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<SmapsRollup> {
    let mut diags = Vec::new();
    let mut fields = Vec::new();
    let mut rollup = false;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if is_rollup_line(line) {
            rollup = true;
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            diags.push(Diag::warning(src.at(no), format!("not `Key: N kB`: {:.60}", line.trim())));
            continue;
        };
        let v = v.trim();
        let n = v.strip_suffix("kB").map(str::trim).unwrap_or(v);
        match uint(n) {
            Some(n) if !k.trim().is_empty() && !k.contains(' ') => {
                fields.push((k.trim().to_string(), n, no as u32))
            }
            _ => diags.push(Diag::warning(src.at(no), format!("bad value for {:.40}: {:.40}", k.trim(), v))),
        }
    }
    let has = |key: &str| fields.iter().any(|(k, ..)| k == key);
    if !(rollup || has("Rss") && has("Pss")) {
        return Err(ParseError::not_this(src, "smaps_rollup", "no `[rollup]` line and no Rss/Pss"));
    }
    Ok(Parsed { value: SmapsRollup { fields, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn real_rollup() {
        // `cat /proc/self/smaps_rollup` on the 6.18 machine: Rss 1736 = Shared_Clean 1584 +
        // Private_Clean 40 + Private_Dirty 112 (the kernel's own split).
        let text = crate::testutil::formats("smaps_rollup_self.txt");
        let r = parse(&text, &src()).unwrap();
        assert!(r.diags.is_empty());
        let v = &r.value;
        assert_eq!(v.kb("Rss"), Some(1736));
        assert_eq!(
            v.kb("Shared_Clean").unwrap() + v.kb("Private_Clean").unwrap() + v.kb("Private_Dirty").unwrap(),
            1736
        );
        assert_eq!((v.kb("Pss"), v.line("Pss")), (Some(204), Some(3)));
        assert!(parse("MemTotal: 5 kB\n", &src()).is_err());
        assert_eq!(parse("x-y ---p 0 0:0 0 [rollup]\nRss: lots\n", &src()).unwrap().diags.len(), 1);
    }
}
