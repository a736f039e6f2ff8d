//! Multi-section dumps: one file holding several kernel files, each after a `== /proc/meminfo` style
//! header (the shape of ad-hoc collection scripts, `memdx snapshot` debug dumps and the 6.18 fixtures).
//! A leading `# time=<unix seconds>` comment gives the capture time.

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

/// Splits `text` into sections. Two header styles are recognised:
/// - `== /proc/meminfo` (collection scripts, the 6.18 fixtures);
/// - SUSE supportconfig: a `#==[ Command ]=====#` line followed by `# /bin/cat /proc/meminfo` (the
///   header is the last argument that is a path, else the whole command).
///
/// Returns `None` when there is no header (the file is a plain single file).
pub fn split(text: &str) -> Option<Vec<Section<'_>>> {
    // (header start offset, content start offset, first content line number, header)
    let mut heads: Vec<(usize, usize, usize, &str)> = Vec::new();
    let lines: Vec<(usize, usize, &str)> = {
        let mut v = Vec::new();
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            v.push((offset, offset + raw.len(), line));
            offset += raw.len();
        }
        v
    };
    let mut i = 0;
    while i < lines.len() {
        let (start, end, line) = lines[i];
        if let Some(h) = line.strip_prefix("== ").map(str::trim).filter(|h| h.starts_with('/')) {
            heads.push((start, end, i + 2, h));
        } else if line.starts_with("#==[") {
            if let Some(&(_, cend, cmd)) = lines.get(i + 1).filter(|(_, _, l)| l.starts_with("# ")) {
                let cmd = cmd[2..].trim();
                // `/bin/cat /proc/meminfo` names the file; `/usr/bin/free -k` is a command.
                let words: Vec<&str> = cmd.split_whitespace().collect();
                let h = words.iter().skip(1).rev().find(|w| w.starts_with('/')).copied().unwrap_or(cmd);
                heads.push((start, cend, i + 3, h));
                i += 1;
            }
        }
        i += 1;
    }
    if heads.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (k, &(_, content, first_line, h)) in heads.iter().enumerate() {
        let end = heads.get(k + 1).map(|&(hs, _, _, _)| hs).unwrap_or(text.len()).max(content);
        out.push(Section { header: h, first_line, text: &text[content..end] });
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
        // A header at the end without a newline, with a multibyte character: no panic.
        assert_eq!(split("x\n== /proc/\u{e9}").unwrap()[0].text, "");
    }

    #[test]
    fn supportconfig() {
        let t = "#==[ Command ]======================================#\n# /bin/cat /proc/meminfo\nMemTotal: 1 kB\n\n#==[ Command ]======================================#\n# /usr/bin/free -k\n total used\n";
        let s = split(t).unwrap();
        assert_eq!((s[0].header, s[0].first_line, s[0].text), ("/proc/meminfo", 3, "MemTotal: 1 kB\n\n"));
        assert_eq!((s[1].header, s[1].text), ("/usr/bin/free -k", " total used\n"));
    }
}
