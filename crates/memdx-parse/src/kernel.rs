//! The kernel release: `uname -a`, `uname -r`, or `/proc/version` text.

use crate::{ParseError, ParseResult, Parsed};
use memdx_core::SourceRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRelease {
    pub release: String,
    /// `x86_64`, `aarch64` when `uname -a` says it.
    pub machine: Option<String>,
    pub source: SourceRef,
}

fn looks_like_release(s: &str) -> bool {
    memdx_core::kver::KernelVersion::parse(s).is_some()
        && s.len() < 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+~".contains(&b))
}

/// Recognises `uname -r`, `uname -a` and `/proc/version` (`Linux version X ...`).
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<KernelRelease> {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
    let not = || ParseError::not_this(src, "kernel release", "not uname or /proc/version output");
    if text.lines().filter(|l| !l.trim().is_empty()).count() != 1 {
        return Err(not());
    }
    let f: Vec<&str> = line.split_whitespace().collect();
    let (release, machine) = match f.as_slice() {
        [r] if looks_like_release(r) => (r.to_string(), None),
        ["Linux", "version", r, ..] if looks_like_release(r) => (r.to_string(), None),
        ["Linux", _host, r, rest @ ..] if looks_like_release(r) && line.contains(" #") => {
            let machine = rest.iter().rev().find(|w| {
                ["x86_64", "aarch64", "arm64", "ppc64le", "s390x", "riscv64", "i686", "armv7l"].contains(w)
            });
            (r.to_string(), machine.map(|m| m.to_string()))
        }
        _ => return Err(not()),
    };
    Ok(Parsed { value: KernelRelease { release, machine, source: src.at(1) }, diags: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;
    #[test]
    fn forms() {
        assert_eq!(parse("6.18.44-fc-v509\n", &src()).unwrap().value.release, "6.18.44-fc-v509");
        let a = parse("Linux vm 6.18.44-fc-v509 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux\n", &src())
            .unwrap()
            .value;
        assert_eq!((a.release.as_str(), a.machine.as_deref()), ("6.18.44-fc-v509", Some("x86_64")));
        assert_eq!(
            parse("Linux version 4.19.0-arm64 (gcc 8) #1 SMP\n", &src()).unwrap().value.release,
            "4.19.0-arm64"
        );
        assert!(parse("hello\n", &src()).is_err());
    }
}
