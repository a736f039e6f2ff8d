//! One memory cgroup control file pasted with the command that read it (`cat
//! .../memory.limit_in_bytes`): v1 `memory.limit_in_bytes`, `memory.max_usage_in_bytes`,
//! `memory.usage_in_bytes`, `memory.failcnt`, `memory.memsw.*`, `memory.soft_limit_in_bytes`; v2
//! `memory.max`, `memory.high`, `memory.low`, `memory.min`, `memory.current`, `memory.peak`,
//! `memory.swap.max`, `memory.swap.current`; and the v2 `memory.events` counters. The file name comes
//! from the path (a lone number says nothing by itself).

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

const VALUE_FILES: &[&str] = &[
    "memory.limit_in_bytes",
    "memory.max_usage_in_bytes",
    "memory.usage_in_bytes",
    "memory.failcnt",
    "memory.soft_limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.memsw.max_usage_in_bytes",
    "memory.memsw.usage_in_bytes",
    "memory.memsw.failcnt",
    "memory.kmem.limit_in_bytes",
    "memory.kmem.usage_in_bytes",
    "memory.kmem.max_usage_in_bytes",
    "memory.kmem.failcnt",
    "memory.max",
    "memory.high",
    "memory.low",
    "memory.min",
    "memory.current",
    "memory.peak",
    "memory.swap.max",
    "memory.swap.current",
    "memory.swap.peak",
    "memory.events",
    "memory.events.local",
    "memory.oom_control",
];

/// True for the control files this module reads.
pub fn is_value_file(name: &str) -> bool {
    VALUE_FILES.contains(&name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemcgValue {
    /// Bytes or a count (`failcnt`).
    Num(u64),
    /// `max` (v2 unlimited).
    Max,
    /// `key value` lines (`memory.events`, `memory.oom_control`).
    Counters(Vec<(String, u64)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgFile {
    /// The cgroup directory, as the path gave it.
    pub dir: String,
    /// The control file name (`memory.limit_in_bytes`).
    pub name: String,
    pub value: MemcgValue,
    pub line: u32,
    pub source: SourceRef,
}

impl MemcgFile {
    /// v1 prints "unlimited" as the largest page-aligned number (9223372036854771712 on x86-64).
    pub fn bytes(&self) -> Option<u64> {
        match self.value {
            MemcgValue::Num(n) if n < (1 << 62) => Some(n),
            _ => None,
        }
    }
}

/// Splits a path into (cgroup directory, control file).
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    is_value_file(name).then_some((dir, name))
}

pub fn parse(text: &str, src: &SourceRef, path: &str) -> ParseResult<MemcgFile> {
    let Some((dir, name)) = split_path(path) else {
        return Err(ParseError::NotThisFormat {
            file: src.clone(),
            format: "memory cgroup file",
            reason: format!("{path:.80} is not a memory cgroup control file memdx reads"),
        });
    };
    let mut diags = Vec::new();
    let mut counters = Vec::new();
    let mut single = None;
    for (no, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let w: Vec<&str> = t.split_whitespace().collect();
        match w.as_slice() {
            [v] if single.is_none() && counters.is_empty() => {
                single = match *v {
                    "max" => Some((MemcgValue::Max, no)),
                    v => uint(v).map(|n| (MemcgValue::Num(n), no)),
                };
                if single.is_none() {
                    diags.push(Diag::warning(src.at(no), format!("not a number: {t:.80}")));
                }
            }
            [k, v] if uint(v).is_some() => counters.push((k.to_string(), uint(v).unwrap_or(0), no)),
            _ => diags.push(Diag::note(src.at(no), format!("line not read: {t:.80}"))),
        }
    }
    let (value, line) = match single {
        Some((v, no)) => (v, no),
        None if !counters.is_empty() => {
            let no = counters[0].2;
            (MemcgValue::Counters(counters.into_iter().map(|(k, v, _)| (k, v)).collect()), no)
        }
        None => return Err(ParseError::not_this(src, "memory cgroup file", "no value")),
    };
    Ok(Parsed {
        value: MemcgFile {
            dir: dir.to_string(),
            name: name.to_string(),
            value,
            line: line as u32,
            source: src.clone(),
        },
        diags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn values() {
        let p = "/sys/fs/cgroup/memory/kubepods/burstable/poddfc7f441-06db-11ea-842a-0227fba247b6/memory.limit_in_bytes";
        let f = parse("20971520\n", &src(), p).unwrap().value;
        assert_eq!((f.name.as_str(), f.bytes(), f.line), ("memory.limit_in_bytes", Some(20971520), 1));
        assert!(f.dir.ends_with("poddfc7f441-06db-11ea-842a-0227fba247b6"));
        assert_eq!(parse("9223372036854771712\n", &src(), p).unwrap().value.bytes(), None);
        let f = parse("max\n", &src(), "/sys/fs/cgroup/a/memory.max").unwrap().value;
        assert_eq!(f.value, MemcgValue::Max);
        let f =
            parse("low 0\nhigh 0\nmax 12\noom 3\noom_kill 3\n", &src(), "/x/memory.events").unwrap().value;
        assert!(matches!(f.value, MemcgValue::Counters(ref c) if c.len() == 5));
        assert!(parse("1\n", &src(), "/x/cpu.max").is_err());
    }
}
