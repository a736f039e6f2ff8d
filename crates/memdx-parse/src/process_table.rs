//! Process tables as people paste them: `ps aux` (`USER PID %CPU %MEM VSZ RSS ... COMMAND`), `ps -eo`
//! with any columns that include `RSS` (or `RSZ`), and `top -b` (`PID USER PR NI VIRT RES SHR S %CPU
//! %MEM TIME+ COMMAND`, whose sizes are KiB unless suffixed `m`, `g`, `t`, `p`, and whose summary line
//! `MiB Mem :  24105.1 total` gives the machine's memory).
//!
//! Columns are found by the header's names, so any column order and extra columns work. The command
//! is the last column and may hold spaces.

use crate::{numbered_lines, too_long, uint, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// Which tool printed the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ps,
    Top,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    pub pid: u32,
    pub user: Option<String>,
    /// Resident set in KiB.
    pub rss_kb: u64,
    /// Virtual size in KiB.
    pub vsz_kb: Option<u64>,
    /// `%MEM` as printed.
    pub mem_pct: Option<f64>,
    /// The command (ps `COMMAND`/`CMD`/`ARGS`/`COMM`, top `COMMAND`).
    pub command: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessTable {
    pub tool: Tool,
    /// In input order.
    pub procs: Vec<Proc>,
    /// top's `Mem :` total in KiB, when printed.
    pub mem_total_kb: Option<u64>,
    pub source: SourceRef,
}

impl ProcessTable {
    /// The processes with the largest resident sets first.
    pub fn by_rss(&self) -> Vec<&Proc> {
        let mut v: Vec<&Proc> = self.procs.iter().collect();
        v.sort_by(|a, b| b.rss_kb.cmp(&a.rss_kb).then(a.pid.cmp(&b.pid)));
        v
    }
}

/// The column layout of a header line, when it is one.
struct Layout {
    tool: Tool,
    pid: usize,
    rss: usize,
    vsz: Option<usize>,
    mem: Option<usize>,
    user: Option<usize>,
    cmd: Option<usize>,
    cols: usize,
}

fn layout(line: &str) -> Option<Layout> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let at = |names: &[&str]| cols.iter().position(|c| names.contains(c));
    let pid = at(&["PID"])?;
    let (rss, tool) = match at(&["RSS", "RSZ"]) {
        Some(i) => (i, Tool::Ps),
        None => (at(&["RES"])?, Tool::Top),
    };
    let cmd = at(&["COMMAND", "CMD", "ARGS", "COMM", "Command"]);
    // The command is read as the rest of the line: only when it is the last column.
    let cmd = cmd.filter(|&i| i + 1 == cols.len());
    Some(Layout {
        tool,
        pid,
        rss,
        vsz: at(&["VSZ", "VIRT", "VSIZE"]),
        mem: at(&["%MEM"]),
        user: at(&["USER", "UID", "RUSER"]),
        cmd,
        cols: cols.len(),
    })
}

/// top's memory summary: `MiB Mem :  24105.1 total, ...` (3.3.x), `KiB Mem : 16318820 total`, or
/// the older `Mem:  16318820k total, ...`.
fn top_mem_total(t: &str) -> Option<u64> {
    let (unit, rest) = if let Some(r) = t.strip_prefix("Mem:") {
        (1.0, r)
    } else {
        let (u, r) = t.split_once(" Mem")?;
        let r = r.trim_start().strip_prefix(':')?;
        let mul = match u.trim() {
            "KiB" => 1.0,
            "MiB" => 1024.0,
            "GiB" => 1048576.0,
            "TiB" => 1073741824.0,
            _ => return None,
        };
        (mul, r)
    };
    let first = rest.split(',').next()?.trim();
    let num = first.strip_suffix("total")?.trim();
    if unit == 1.0 {
        return crate::suffixed_kb(num);
    }
    let v: f64 = num.replace(',', ".").parse().ok()?;
    let kb = v * unit;
    (0.0..1.8e19).contains(&kb).then_some(kb as u64)
}

/// True when `line` is the header of a process table memdx reads.
pub fn is_header(line: &str) -> bool {
    let t = line.trim();
    t.contains("PID") && (t.contains("RSS") || t.contains("RES") || t.contains("RSZ")) && layout(t).is_some()
}

/// Parses one process table. Lines before the header (top's summary) are read for the memory
/// total; rows that do not fit the header are reported.
pub fn parse(text: &str, src: &SourceRef) -> ParseResult<ProcessTable> {
    let mut diags = Vec::new();
    let mut lay: Option<Layout> = None;
    let mut procs = Vec::new();
    let mut mem_total_kb = None;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let t = line.trim();
        let Some(l) = &lay else {
            if let Some(l) = layout(t) {
                lay = Some(l);
            } else if mem_total_kb.is_none() {
                mem_total_kb = top_mem_total(t);
            }
            continue;
        };
        if layout(t).is_some() {
            // The same header again (`top -n 2`, `watch`): a new table with the same columns.
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let fixed = l.cmd.unwrap_or(l.cols);
        if cols.len() < fixed.max(l.pid + 1).max(l.rss + 1) {
            diags.push(Diag::warning(
                src.at(no),
                format!("row with {} columns, header has {}", cols.len(), l.cols),
            ));
            continue;
        }
        let size = |i: usize| {
            let c = cols.get(i)?;
            match l.tool {
                Tool::Ps => uint(c),
                Tool::Top => crate::suffixed_kb(c),
            }
        };
        let (Some(pid), Some(rss_kb)) =
            (cols.get(l.pid).and_then(|c| uint(c)).and_then(|p| u32::try_from(p).ok()), size(l.rss))
        else {
            diags.push(Diag::warning(src.at(no), format!("bad PID or RSS in row: {:.60}", t)));
            continue;
        };
        let command = match l.cmd {
            Some(i) => cols[i..].join(" "),
            None => String::new(),
        };
        procs.push(Proc {
            pid,
            user: l.user.and_then(|i| cols.get(i)).map(|s| s.to_string()),
            rss_kb,
            vsz_kb: l.vsz.and_then(size),
            mem_pct: l
                .mem
                .and_then(|i| cols.get(i))
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|v| v.is_finite()),
            command,
            line: no as u32,
        });
    }
    let Some(l) = lay else {
        return Err(ParseError::not_this(src, "process table", "no header with PID and RSS/RES"));
    };
    if procs.is_empty() {
        return Err(ParseError::not_this(src, "process table", "a header but no process rows"));
    }
    Ok(Parsed { value: ProcessTable { tool: l.tool, procs, mem_total_kb, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn ps_aux_real() {
        // `ps aux --sort=-rss` on this project's 6.18 machine; the first row read by eye.
        let p = parse(&crate::testutil::formats("ps_aux.txt"), &src()).unwrap();
        assert!(p.diags.is_empty(), "{:?}", p.diags);
        assert_eq!(p.value.tool, Tool::Ps);
        assert_eq!(p.value.procs.len(), 19);
        let first = &p.value.procs[0];
        assert_eq!(
            (first.pid, first.rss_kb, first.vsz_kb, first.mem_pct),
            (20069, 332452, Some(362264), Some(1.3))
        );
        assert!(first.command.starts_with("/usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet"));
        assert_eq!(p.value.by_rss()[0].pid, 20069);
    }

    #[test]
    fn ps_eo_real() {
        let p = parse(&crate::testutil::formats("ps_eo.txt"), &src()).unwrap();
        assert_eq!(p.value.procs.len(), 7);
        assert_eq!(
            (p.value.procs[2].pid, p.value.procs[2].rss_kb, p.value.procs[2].command.as_str()),
            (21377, 290408, "rust-lld")
        );
    }

    #[test]
    fn top_real() {
        // `top -b -n 1 -o RES`: `MiB Mem :  24105.1 total` is 24105.1 x 1024 KiB.
        let p = parse(&crate::testutil::formats("top_b.txt"), &src()).unwrap();
        assert_eq!(p.value.tool, Tool::Top);
        assert_eq!(p.value.mem_total_kb, Some(24683622));
        let first = &p.value.procs[0];
        assert_eq!((first.pid, first.rss_kb, first.command.as_str()), (16944, 268416, "cc1"));
        assert_eq!(p.value.procs.len(), 23);
    }

    #[test]
    fn top_suffixes_and_damage() {
        let t = "top - 10:00:00\nKiB Mem : 16318820 total,   181340 free\n  PID USER      PR  NI    VIRT    RES    SHR S  %CPU %MEM     TIME+ COMMAND\n 4242 mysql     20   0   30.5g  12.1g   8200 S   3.0 77.8  10:00.00 mysqld\n   12 root  bad\n";
        let p = parse(t, &src()).unwrap();
        assert_eq!(p.value.mem_total_kb, Some(16318820));
        assert_eq!(p.value.procs[0].rss_kb, (12.1 * 1048576.0) as u64);
        assert_eq!(p.value.procs[0].vsz_kb, Some((30.5 * 1048576.0) as u64));
        assert_eq!(p.diags.len(), 1);
        assert!(parse("hello\n", &src()).is_err());
        assert!(parse("  PID   RSS COMMAND\n", &src()).is_err());
    }
}
