//! `/proc/cgroups`: controllers, their hierarchy id, cgroup count (v1 counts dying cgroups too) and
//! whether they are enabled.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub name: String,
    /// 0 when the controller is on the v2 hierarchy (or unmounted).
    pub hierarchy: u64,
    pub num_cgroups: u64,
    pub enabled: bool,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroups {
    pub controllers: Vec<Controller>,
    pub source: SourceRef,
}

impl ProcCgroups {
    pub fn get(&self, name: &str) -> Option<&Controller> {
        self.controllers.iter().find(|c| c.name == name)
    }
}

pub fn parse(text: &str, src: &SourceRef) -> ParseResult<ProcCgroups> {
    let mut controllers = Vec::new();
    let mut diags = Vec::new();
    let mut header = false;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        if line.starts_with("#subsys_name") {
            header = true;
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match (
            f.len(),
            f.get(1).and_then(|s| uint(s)),
            f.get(2).and_then(|s| uint(s)),
            f.get(3).and_then(|s| uint(s)),
        ) {
            (4, Some(h), Some(n), Some(e)) => controllers.push(Controller {
                name: f[0].into(),
                hierarchy: h,
                num_cgroups: n,
                enabled: e != 0,
                line: no as u32,
            }),
            _ => diags.push(Diag::warning(src.at(no), format!("not a /proc/cgroups row: {line:.80}"))),
        }
    }
    if !header || controllers.is_empty() {
        return Err(ParseError::not_this(src, "/proc/cgroups", "no `#subsys_name` header and rows"));
    }
    Ok(Parsed { value: ProcCgroups { controllers, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn rows() {
        let p = parse(
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nmemory\t4\t82\t1\n",
            &src(),
        )
        .unwrap()
        .value;
        assert_eq!(p.get("memory").unwrap().num_cgroups, 82);
    }
}
