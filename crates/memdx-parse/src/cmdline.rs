//! `/proc/cmdline`: kernel boot parameters.

use crate::{ParseError, ParseResult, Parsed};
use memdx_core::SourceRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmdline {
    pub raw: String,
    /// `(name, value)`; value is `None` for flags such as `quiet`. Parameters after ` -- ` belong to init
    /// and are not included.
    pub params: Vec<(String, Option<String>)>,
    pub source: SourceRef,
}

impl Cmdline {
    /// Value of the last occurrence of `name` (the kernel honours the last one). `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_deref())
    }
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<Cmdline> {
    let raw = text.trim();
    if raw.is_empty() {
        return Err(ParseError::Empty { file: src.clone() });
    }
    if raw.lines().count() > 1 || raw.len() > 4096 * 4 {
        return Err(ParseError::not_this(src, "cmdline", "a kernel command line is one line"));
    }
    let mut params = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        rest = rest.trim_start();
        if rest.starts_with("-- ") || rest == "--" {
            break;
        }
        // Values may be quoted: name="a b".
        let mut end = 0;
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if c.is_whitespace() && !quoted {
                break;
            }
            end = i + c.len_utf8();
        }
        let tok = &rest[..end];
        rest = &rest[end..];
        if tok.is_empty() {
            break;
        }
        match tok.split_once('=') {
            Some((n, v)) => params.push((n.to_string(), Some(v.trim_matches('"').to_string()))),
            None => params.push((tok.to_string(), None)),
        }
    }
    Ok(Parsed { value: Cmdline { raw: raw.to_string(), params, source: src.at(1) }, diags: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn params() {
        let c = parse(
            "BOOT_IMAGE=/vmlinuz ro quiet cgroup.memory=nokmem dyndbg=\"file a +p\" -- --init-arg x=y\n",
            &src(),
        )
        .unwrap()
        .value;
        assert_eq!(c.get("cgroup.memory"), Some(Some("nokmem")));
        assert_eq!(c.get("quiet"), Some(None));
        assert_eq!(c.get("dyndbg"), Some(Some("file a +p")));
        assert_eq!(c.get("x"), None);
    }
}
