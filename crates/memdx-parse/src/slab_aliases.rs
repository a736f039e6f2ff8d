//! Merged slab caches from the `/sys/kernel/slab` symlinks: each alias `name -> :<flags>-<size>` points
//! at one real cache, which slabinfo shows under the name of its first member. Input is either the
//! `name -> target` lines the source layer makes from the tree, or `ls -l /sys/kernel/slab` output.

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::SourceRef;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlabAliases {
    /// Target (`:0000136`, `:A-0001344`) -> alias names, sorted.
    pub groups: BTreeMap<String, Vec<String>>,
    pub source: Option<SourceRef>,
}

impl SlabAliases {
    /// The other names merged with `name` (empty when it is not merged or unknown).
    pub fn merged_with(&self, name: &str) -> Vec<&str> {
        self.groups
            .values()
            .find(|names| names.iter().any(|n| n == name))
            .map(|names| names.iter().filter(|n| *n != name).map(String::as_str).collect())
            .unwrap_or_default()
    }
    /// The symlink target of `name` (`:0000136`).
    pub fn target_of(&self, name: &str) -> Option<&str> {
        self.groups.iter().find(|(_, names)| names.iter().any(|n| n == name)).map(|(t, _)| t.as_str())
    }
    pub fn insert(&mut self, name: &str, target: &str) {
        let t = target.rsplit('/').next().unwrap_or(target).to_string();
        let v = self.groups.entry(t).or_default();
        if !v.iter().any(|n| n == name) {
            v.push(name.to_string());
            v.sort();
        }
    }
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<SlabAliases> {
    let mut out = SlabAliases { groups: BTreeMap::new(), source: Some(src.clone()) };
    let mut diags = Vec::new();
    for (no, line) in numbered_lines(text) {
        if line.starts_with('#') || too_long(src, no, line, &mut diags) {
            continue;
        }
        let Some((l, r)) = line.split_once(" -> ") else { continue };
        let name = l.split_whitespace().last().unwrap_or_default();
        let target = r.split_whitespace().next().unwrap_or_default();
        let tname = target.rsplit('/').next().unwrap_or(target);
        if !name.is_empty() && tname.starts_with(':') {
            out.insert(name, tname);
        }
    }
    if out.groups.is_empty() {
        return Err(ParseError::not_this(src, "slab aliases", "no `name -> :target` lines"));
    }
    Ok(Parsed { value: out, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn groups() {
        let t = "kernfs_node_cache -> :0000136\nkvm_async_pf -> :0000136\nlrwxrwxrwx 1 root root 0 Nov 21 22:43 UDP -> :A-0001344\n";
        let a = parse(t, &src()).unwrap().value;
        assert_eq!(a.merged_with("kernfs_node_cache"), vec!["kvm_async_pf"]);
        assert_eq!(a.target_of("UDP"), Some(":A-0001344"));
        assert!(a.merged_with("UDP").is_empty());
    }
}
