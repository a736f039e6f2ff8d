//! Memory sampled over time by a tool: `vmstat N` (`r b swpd free buff cache si so bi bo in cs us sy
//! id wa st`, with `-w`, `-t`, `-S k|K|m|M`) and `sar -r` (`kbmemfree kbavail kbmemused %memused
//! kbbuffers kbcached kbcommit %commit ...`; older sysstat has no `kbavail`).
//!
//! Columns are found by name. vmstat's first row is the average since boot, not a sample; its
//! `-S` unit scales the memory columns only (si/so stay KiB/s, as vmstat(8) says). sar's `Average:`
//! row is kept apart.

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Vmstat,
    Sar,
}

/// One row. Memory in KiB.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// sar's time column, vmstat `-t`'s timestamp.
    pub time: Option<String>,
    pub free_kb: Option<u64>,
    /// sar `kbavail` (sysstat 11.6+).
    pub avail_kb: Option<u64>,
    /// sar `kbmemused`.
    pub used_kb: Option<u64>,
    /// sar `%memused`.
    pub used_pct: Option<f64>,
    pub cache_kb: Option<u64>,
    /// sar `%commit`: Committed_AS against RAM + swap.
    pub commit_pct: Option<f64>,
    /// vmstat `swpd`.
    pub swap_used_kb: Option<u64>,
    /// vmstat swap-in and swap-out, KiB/s.
    pub si: Option<u64>,
    pub so: Option<u64>,
    /// vmstat runnable and blocked (uninterruptible) tasks.
    pub r: Option<u64>,
    pub b: Option<u64>,
    /// vmstat CPU time waiting for I/O, percent.
    pub wa: Option<u64>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemSamples {
    pub tool: Tool,
    /// vmstat: the since-boot row first (see [`MemSamples::since_boot`]); sar: samples only.
    pub samples: Vec<Sample>,
    /// vmstat: true when the first row is the since-boot average (every vmstat run prints it).
    pub since_boot: bool,
    /// sar's `Average:` row.
    pub average: Option<Sample>,
    pub source: SourceRef,
}

impl MemSamples {
    /// The rows measured over an interval (vmstat's since-boot row left out).
    pub fn interval(&self) -> &[Sample] {
        if self.since_boot {
            self.samples.get(1..).unwrap_or_default()
        } else {
            &self.samples
        }
    }
}

/// Bytes per printed unit of `vmstat -S k|K|m|M` (`-SM`, `--unit M`); `None` for vmstat's KiB.
pub fn unit_of_command(words: &[String]) -> Option<u64> {
    let mut it = words.iter().map(String::as_str).skip(1);
    while let Some(w) = it.next() {
        let u = match w {
            "-S" | "--unit" => it.next(),
            _ => w.strip_prefix("-S").or_else(|| w.strip_prefix("--unit=")).filter(|u| !u.is_empty()),
        };
        if let Some(u) = u {
            return match u {
                "k" => Some(1000),
                "K" => Some(1024),
                "m" => Some(1_000_000),
                "M" => Some(1_048_576),
                _ => None,
            };
        }
    }
    None
}

fn vmstat_header(cols: &[&str]) -> bool {
    cols.first() == Some(&"r") && cols.get(1) == Some(&"b") && cols.contains(&"free") && cols.contains(&"si")
}

fn sar_header(cols: &[&str]) -> bool {
    cols.contains(&"kbmemfree") && cols.contains(&"kbmemused")
}

/// True when `line` is the column header of vmstat or sar -r.
pub fn is_header(line: &str) -> bool {
    // vmstat's header starts with the column `r`, sar's has `kbmemfree`: most lines have neither.
    if !line.trim_start().starts_with('r') && !line.contains("kbmemfree") {
        return false;
    }
    let cols: Vec<&str> = line.split_whitespace().collect();
    vmstat_header(&cols) || sar_header(&cols)
}

fn pct(s: &str) -> Option<f64> {
    s.trim_end_matches('%').replace(',', ".").parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Parses vmstat or `sar -r` output. `unit_bytes` is vmstat's `-S` unit (1024 when `None`).
pub fn parse(text: &str, src: &SourceRef, unit_bytes: Option<u64>) -> ParseResult<MemSamples> {
    let mut diags = Vec::new();
    let mut tool = None;
    let mut names: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let mut average = None;
    let unit = unit_bytes.unwrap_or(1024) as f64 / 1024.0;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if vmstat_header(&cols) {
            tool = Some(Tool::Vmstat);
            names = cols.iter().map(|s| s.to_string()).collect();
            continue;
        }
        if sar_header(&cols) {
            tool = Some(Tool::Sar);
            // The first column is the time of the header (`23:57:15` or `12:00:01 AM`).
            let skip = cols.iter().position(|c| c.starts_with("kb") || c.starts_with('%')).unwrap_or(0);
            names = std::iter::once("time".to_string())
                .chain(cols[skip..].iter().map(|s| s.to_string()))
                .collect();
            continue;
        }
        let Some(t) = tool else { continue };
        if line.trim_start().starts_with("procs ") || line.starts_with("Linux ") {
            continue;
        }
        let mut s = Sample { line: no as u32, ..Sample::default() };
        let (time, values): (Option<String>, &[&str]) = match t {
            Tool::Vmstat => (None, &cols[..]),
            Tool::Sar => {
                // Time is one or two columns (`AM`/`PM`), or `Average:`.
                let k = cols
                    .iter()
                    .position(|c| crate::suffixed_kb(c).is_some() && !c.contains(':'))
                    .unwrap_or(cols.len());
                (Some(cols[..k].join(" ")), &cols[k..])
            }
        };
        let names_v: &[String] = if t == Tool::Sar { &names[1..] } else { &names };
        if values.len() < names_v.len() || values.is_empty() {
            diags.push(Diag::warning(
                src.at(no),
                format!("row with {} values, header has {}", values.len(), names_v.len()),
            ));
            continue;
        }
        let mut ok = true;
        for (n, v) in names_v.iter().zip(values) {
            let mem = |v: &str| {
                crate::suffixed_kb(v).map(|x| (x as f64 * if t == Tool::Vmstat { unit } else { 1.0 }) as u64)
            };
            let num = |v: &str| v.parse::<u64>().ok();
            match n.as_str() {
                "free" | "kbmemfree" => s.free_kb = mem(v),
                "kbavail" => s.avail_kb = mem(v),
                "kbmemused" => s.used_kb = mem(v),
                "%memused" => s.used_pct = pct(v),
                "cache" | "kbcached" => s.cache_kb = mem(v),
                "%commit" => s.commit_pct = pct(v),
                "swpd" => s.swap_used_kb = mem(v),
                "si" => s.si = num(v),
                "so" => s.so = num(v),
                "r" => s.r = num(v),
                "b" => s.b = num(v),
                "wa" => s.wa = num(v),
                _ => {}
            }
        }
        if s.free_kb.is_none() {
            ok = false;
        }
        if t == Tool::Vmstat && names.len() < cols.len() {
            // `vmstat -t`: the timestamp follows the named columns.
            s.time = Some(cols[names.len()..].join(" "));
        } else {
            s.time = time;
        }
        if !ok {
            diags
                .push(Diag::warning(src.at(no), format!("no free memory value in row: {:.60}", line.trim())));
            continue;
        }
        if s.time.as_deref().is_some_and(|t| t.starts_with("Average")) {
            average = Some(s);
        } else {
            samples.push(s);
        }
    }
    let Some(tool) = tool else {
        return Err(ParseError::not_this(
            src,
            "vmstat/sar -r samples",
            "no `r b swpd free ...` or `kbmemfree ...` header",
        ));
    };
    if samples.is_empty() {
        return Err(ParseError::not_this(src, "vmstat/sar -r samples", "a header but no sample rows"));
    }
    // Every vmstat run prints the since-boot row first (a header repeated within a run does not).
    let since_boot = tool == Tool::Vmstat;
    Ok(Parsed { value: MemSamples { tool, samples, since_boot, average, source: src.clone() }, diags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn vmstat_real() {
        // `vmstat 1 5` on the 6.18 machine: rows read by eye.
        let p = parse(&crate::testutil::formats("vmstat_1_5.txt"), &src(), None).unwrap();
        assert!(p.diags.is_empty(), "{:?}", p.diags);
        let v = &p.value;
        assert_eq!((v.tool, v.samples.len(), v.interval().len()), (Tool::Vmstat, 5, 4));
        assert_eq!(
            (v.samples[0].free_kb, v.samples[0].r, v.samples[0].si, v.samples[0].wa),
            (Some(1870068), Some(11), Some(0), Some(1))
        );
        assert_eq!(v.samples[0].line, 3);
        // `vmstat -S M 1 3`: memory in MiB, scaled back to KiB.
        let m = parse(&crate::testutil::formats("vmstat_SM_1_3.txt"), &src(), Some(1048576)).unwrap();
        assert_eq!(m.value.samples.len(), 3);
        assert_eq!(m.value.samples[0].free_kb.map(|k| k % 1024), Some(0));
    }

    #[test]
    fn sar_real() {
        // `sar -r 1 3` (sysstat 12.6) on the 6.18 machine.
        let p = parse(&crate::testutil::formats("sar_r_1_3.txt"), &src(), None).unwrap();
        assert!(p.diags.is_empty(), "{:?}", p.diags);
        let v = &p.value;
        assert_eq!((v.tool, v.samples.len()), (Tool::Sar, 3));
        let s = &v.samples[0];
        assert_eq!(
            (s.time.as_deref(), s.free_kb, s.avail_kb, s.used_pct, s.commit_pct),
            (Some("23:57:16"), Some(1372704), Some(22682236), Some(4.58), Some(2.85))
        );
        assert_eq!(v.average.as_ref().and_then(|a| a.free_kb), Some(1443863));
        // 12-hour clock and an older sysstat without kbavail.
        let t = "12:00:01 AM kbmemfree kbmemused  %memused kbbuffers  kbcached  kbcommit   %commit\n12:10:01 AM    123456  16000000     99.20      1000     20000  30000000    150.00\n12:20:01 AM  bad\n";
        let p = parse(t, &src(), None).unwrap();
        assert_eq!(p.value.samples[0].time.as_deref(), Some("12:10:01 AM"));
        assert_eq!(p.value.samples[0].commit_pct, Some(150.0));
        assert_eq!(p.diags.len(), 1);
        assert!(parse("hello", &src(), None).is_err());
    }
}
