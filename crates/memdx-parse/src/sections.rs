//! Multi-section dumps: one file holding several kernel files, each after a `== /proc/meminfo` style
//! header (the shape of ad-hoc collection scripts, `memdx snapshot` debug dumps and the 6.18 fixtures).
//! A leading `# time=<unix seconds>` comment gives the capture time.

use crate::numbered_lines;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    /// The path after `== `, e.g. `/proc/meminfo`.
    pub header: &'a str,
    /// 1-based line of the first content line in the whole file.
    pub first_line: usize,
    pub text: &'a str,
}

/// Capture time from a `# time=1795301155.905 ...` line in the first lines, in whole seconds.
pub fn capture_time(text: &str) -> Option<i64> {
    text.lines().take(5).find_map(|l| {
        let rest = l.strip_prefix('#')?.trim_start().strip_prefix("time=")?;
        let v = rest.split_whitespace().next()?;
        let secs = v.split('.').next()?;
        secs.parse().ok()
    })
}

/// Splits `text` at `== <path>` header lines. Returns `None` when there are fewer than one header
/// (the file is a plain single file).
pub fn split(text: &str) -> Option<Vec<Section<'_>>> {
    let mut heads: Vec<(usize, usize, &str)> = Vec::new(); // (byte offset after header line, line no, header)
    let mut offset = 0;
    for (no, line) in numbered_lines(text) {
        let line_len = text[offset..].find('\n').map(|p| p + 1).unwrap_or(text.len() - offset);
        if let Some(h) = line.strip_prefix("== ") {
            let h = h.trim();
            if h.starts_with('/') {
                heads.push((offset + line_len, no, h));
            }
        }
        offset += line_len;
    }
    if heads.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (i, &(start, no, h)) in heads.iter().enumerate() {
        let end = heads.get(i + 1).map(|&(s, _, _)| {
            // Back up over the next header line.
            text[..s - 1].rfind('\n').map(|p| p + 1).unwrap_or(0)
        });
        let end = end.unwrap_or(text.len()).max(start);
        out.push(Section { header: h, first_line: no + 1, text: &text[start..end] });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn splits() {
        let t = "# time=1795301155.905 tag=0\n== /proc/cgroups\n#subsys_name x\nmemory 4 82 1\n== /proc/meminfo\nMemTotal: 1 kB\n";
        let s = split(t).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].header, "/proc/cgroups");
        assert_eq!(s[0].first_line, 3);
        assert_eq!(s[0].text, "#subsys_name x\nmemory 4 82 1\n");
        assert_eq!(s[1].text, "MemTotal: 1 kB\n");
        assert_eq!(capture_time(t), Some(1795301155));
        assert!(split("MemTotal: 1 kB\n").is_none());
    }
}
