//! `/proc/sys/vm/*` values: `sysctl -a` output (`vm.min_free_kbytes = 67584`), `name=value` dumps, and
//! the tree read by the source layer (which passes `vm.<file> = <content>` lines).

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// Full dotted name; names given without a dot (a dump of /proc/sys/vm) are stored as `vm.<name>`.
    pub name: String,
    pub value: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctls {
    pub entries: Vec<Sysctl>,
    pub source: SourceRef,
}

impl Sysctls {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().rev().find(|e| e.name == name).map(|e| e.value.as_str())
    }
    /// Integer value of `name` (first number of a list such as `lowmem_reserve_ratio`).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.split_whitespace().next()?.parse().ok()
    }
    pub fn at(&self, name: &str) -> Option<SourceRef> {
        self.entries.iter().rev().find(|e| e.name == name).map(|e| self.source.at(e.line as usize))
    }
}

pub(crate) fn split_kv(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)))
        .then_some((k, v.trim()))
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Sysctls> {
    let mut entries = Vec::new();
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || line.starts_with('#') || too_long(src, no, line, &mut diags) {
            continue;
        }
        match split_kv(line) {
            Some((k, v)) => {
                let k = k.replace('/', ".");
                let name = if k.contains('.') { k } else { format!("vm.{k}") };
                entries.push(Sysctl { name, value: v.to_string(), line: no as u32 })
            }
            None => diags.push(Diag::note(src.at(no), format!("not a `name = value` line: {line:.80}"))),
        }
    }
    if entries.is_empty() {
        return Err(ParseError::not_this(src, "sysctl", "no `name = value` lines"));
    }
    Ok(Parsed { value: Sysctls { entries, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn both_styles() {
        let s = parse("vm.min_free_kbytes = 67584\nwatermark_scale_factor=10\ncompact_memory=<unreadable: Permission denied>\nlowmem_reserve_ratio=256 256 32 0 0\n", &src()).unwrap().value;
        assert_eq!(s.int("vm.min_free_kbytes"), Some(67584));
        assert_eq!(s.int("vm.watermark_scale_factor"), Some(10));
        assert_eq!(s.int("vm.compact_memory"), None);
        assert_eq!(s.get("vm.lowmem_reserve_ratio"), Some("256 256 32 0 0"));
    }
}
