//! `/proc/<pid>/status`: the process name and its resident set (VmRSS and, since 4.5, its split into
//! RssAnon, RssFile and RssShmem). Kernel threads have no Vm* lines.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcStatus {
    /// `Name:` (the comm, at most 15 bytes, as the kernel truncates it).
    pub name: String,
    pub pid: Option<u32>,
    /// Resident set in KiB; None for kernel threads.
    pub vm_rss_kb: Option<u64>,
    /// Since 4.5.
    pub rss_anon_kb: Option<u64>,
    /// Since 4.5.
    pub rss_file_kb: Option<u64>,
    /// Since 4.5.
    pub rss_shmem_kb: Option<u64>,
}

fn kb(v: &str) -> Option<u64> {
    let v = v.trim();
    let n = v.strip_suffix("kB").map(str::trim).unwrap_or(v);
    uint(n)
}

/// Parses a status file. Only the fields above are read; others are ignored.
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<ProcStatus> {
    let mut st = ProcStatus::default();
    let mut diags = Vec::new();
    let mut seen_name = false;
    for (no, line) in numbered_lines(text) {
        if too_long(src, no, line, &mut diags) {
            continue;
        }
        let Some((key, val)) = line.split_once(':') else { continue };
        let slot = match key {
            "Name" => {
                // The name is the rest of the line after the tab; it may contain spaces or colons.
                st.name = val.strip_prefix('\t').unwrap_or(val).trim_end().to_string();
                seen_name = true;
                continue;
            }
            "Pid" => {
                st.pid = uint(val.trim()).and_then(|v| u32::try_from(v).ok());
                if st.pid.is_none() {
                    diags.push(Diag::warning(src.at(no), format!("bad Pid: {:.40}", val.trim())));
                }
                continue;
            }
            "VmRSS" => &mut st.vm_rss_kb,
            "RssAnon" => &mut st.rss_anon_kb,
            "RssFile" => &mut st.rss_file_kb,
            "RssShmem" => &mut st.rss_shmem_kb,
            _ => continue,
        };
        match kb(val) {
            Some(v) => *slot = Some(v),
            None => diags.push(Diag::warning(src.at(no), format!("bad {key} value: {:.40}", val.trim()))),
        }
    }
    if !seen_name {
        return Err(ParseError::not_this(src, "/proc/<pid>/status", "no `Name:` line"));
    }
    Ok(Parsed { value: st, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn user_and_kernel_threads() {
        let t = "Name:\tfirewalld\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t812\nVmRSS:\t 9437184 kB\nRssAnon:\t 9400000 kB\nRssFile:\t   37184 kB\nRssShmem:\t       0 kB\n";
        let p = parse(t, &src()).unwrap();
        assert_eq!(p.value.name, "firewalld");
        assert_eq!(p.value.pid, Some(812));
        assert_eq!(p.value.vm_rss_kb, Some(9437184));
        assert_eq!(p.value.rss_file_kb, Some(37184));
        assert!(p.diags.is_empty());
        let k = parse("Name:\tkworker/0:1H\nPid:\t7\n", &src()).unwrap();
        assert_eq!((k.value.name.as_str(), k.value.vm_rss_kb), ("kworker/0:1H", None));
        let bad = parse("Name:\tx\nVmRSS:\tlots kB\n", &src()).unwrap();
        assert_eq!(bad.diags.len(), 1);
        assert!(parse("hello", &src()).is_err());
        assert!(parse("", &src()).is_err());
    }
}
