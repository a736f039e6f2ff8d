//! Kernel release strings (`4.19.0-arm64-desktop`, `6.18.44-fc-v509`, `3.10.0-1160.el7.x86_64`) and
//! version comparisons for version-dependent rules.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion { major, minor, patch }
    }

    /// Parses the leading `X.Y[.Z]` of a release string. Returns `None` when it does not start so.
    pub fn parse(release: &str) -> Option<Self> {
        let end = release.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(release.len());
        let mut it = release[..end].split('.').filter(|s| !s.is_empty());
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        (2..=9).contains(&major).then_some(KernelVersion { major, minor, patch })
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses() {
        assert_eq!(KernelVersion::parse("4.19.0-arm64-desktop"), Some(KernelVersion::new(4, 19, 0)));
        assert_eq!(KernelVersion::parse("6.18.44-fc-v509"), Some(KernelVersion::new(6, 18, 44)));
        assert_eq!(KernelVersion::parse("5.10"), Some(KernelVersion::new(5, 10, 0)));
        assert!(KernelVersion::parse("hello").is_none());
        assert!(KernelVersion::parse("4.18.0-305.el8").unwrap().at_least(4, 18));
        assert!(!KernelVersion::parse("5.1.9").unwrap().at_least(5, 2));
    }
}
