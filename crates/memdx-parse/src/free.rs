//! `free` output (procps): the 3.3.10+ layout (`total used free shared buff/cache available`) and the
//! older one (`total used free shared buffers cached` with a `-/+ buffers/cache:` line), in any unit
//! (`-b`, `-k` (the default), `-m`, `-g`, `--si`) and human-readable (`-h`: `15Gi`, `1.2G`, `512M`).

use crate::{numbered_lines, too_long, ParseError, ParseResult, Parsed};
use memdx_core::{Diag, SourceRef};

/// One `free` output, every value in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Free {
    pub mem_total: u64,
    pub mem_used: u64,
    pub mem_free: u64,
    pub shared: Option<u64>,
    /// Old layout: `buffers` and `cached` apart; new layout: `buff/cache` in `cache`.
    pub buffers: Option<u64>,
    pub cache: Option<u64>,
    /// Since procps 3.3.10 (MemAvailable).
    pub available: Option<u64>,
    /// Old layout's `-/+ buffers/cache:` used column: used without buffers and page cache.
    pub used_without_cache: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_used: Option<u64>,
    /// Bytes per printed unit when the numbers had no suffix; `None` when the unit was assumed (KiB).
    pub unit: Option<u64>,
    /// Line of the `Mem:` row.
    pub line: u32,
    pub source: SourceRef,
}

/// A number as `free` prints it: plain in `unit` bytes, or with a suffix (`-h`).
fn value(s: &str, unit: u64) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.' && c != ',').unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let num: f64 = num.replace(',', ".").parse().ok()?;
    if !num.is_finite() || num < 0.0 {
        return None;
    }
    let mul: f64 = match suffix {
        "" => unit as f64,
        "B" => 1.0,
        "Ki" | "K" | "k" => 1024.0,
        "Mi" | "M" => 1048576.0,
        "Gi" | "G" => 1073741824.0,
        "Ti" | "T" => 1099511627776.0,
        "Pi" | "P" => 1125899906842624.0,
        _ => return None,
    };
    let v = num * mul;
    (v < 1.8e19).then_some(v as u64)
}

/// Parses `free` output. `unit` is bytes per printed unit (from the command's option); `None`
/// assumes free's default, KiB.
pub fn parse(text: &str, src: &SourceRef, unit: Option<u64>) -> ParseResult<Free> {
    let u = unit.unwrap_or(1024);
    let mut diags = Vec::new();
    let mut cols: Vec<String> = Vec::new();
    let mut out = Free {
        mem_total: 0,
        mem_used: 0,
        mem_free: 0,
        shared: None,
        buffers: None,
        cache: None,
        available: None,
        used_without_cache: None,
        swap_total: None,
        swap_used: None,
        unit,
        line: 0,
        source: src.clone(),
    };
    let mut seen_mem = false;
    for (no, line) in numbered_lines(text) {
        if line.trim().is_empty() || too_long(src, no, line, &mut diags) {
            continue;
        }
        let t = line.trim();
        if t.starts_with("total") {
            cols = t.split_whitespace().map(str::to_string).collect();
            continue;
        }
        let (label, rest) = match t.split_once(':') {
            Some((l, r)) => (l.trim(), r),
            None => {
                diags.push(Diag::note(src.at(no), format!("not a free row: {t:.80}")));
                continue;
            }
        };
        let vals: Vec<Option<u64>> = rest.split_whitespace().map(|v| value(v, u)).collect();
        if vals.iter().any(Option::is_none) {
            diags.push(Diag::warning(src.at(no), format!("unreadable number in: {t:.80}")));
            continue;
        }
        let vals: Vec<u64> = vals.into_iter().flatten().collect();
        match label {
            "Mem" if vals.len() >= 3 => {
                seen_mem = true;
                out.line = no as u32;
                out.mem_total = vals[0];
                out.mem_used = vals[1];
                out.mem_free = vals[2];
                let col = |name: &str| cols.iter().position(|c| c == name).and_then(|i| vals.get(i).copied());
                out.shared = col("shared");
                out.buffers = col("buffers");
                out.cache = col("buff/cache").or_else(|| col("cached")).or_else(|| col("cache"));
                out.available = col("available");
                if cols.is_empty() && vals.len() == 6 {
                    // No header: the current layout (total used free shared buff/cache available).
                    out.shared = Some(vals[3]);
                    out.cache = Some(vals[4]);
                    out.available = Some(vals[5]);
                }
            }
            "-/+ buffers/cache" if vals.len() >= 2 => out.used_without_cache = Some(vals[0]),
            "Swap" if vals.len() >= 2 => {
                out.swap_total = Some(vals[0]);
                out.swap_used = Some(vals[1]);
            }
            "Low" | "High" | "Total" => {}
            _ => diags.push(Diag::note(src.at(no), format!("free row not read: {t:.80}"))),
        }
    }
    if !seen_mem {
        return Err(ParseError::not_this(src, "free", "no `Mem:` row"));
    }
    Ok(Parsed { value: out, diags })
}

/// The unit a `free` command line prints in (bytes per unit), from its options.
pub fn unit_of_command(cmd: &str) -> Option<u64> {
    let mut unit = None;
    for w in cmd.split_whitespace().skip(1) {
        let u = match w {
            "-b" | "--bytes" => 1,
            "-k" | "--kibi" | "--kilo" => 1024,
            "-m" | "--mebi" => 1 << 20,
            "-g" | "--gibi" => 1 << 30,
            "--tebi" => 1 << 40,
            "--mega" => 1_000_000,
            "--giga" => 1_000_000_000,
            _ if w.starts_with('-') && !w.starts_with("--") && w.len() > 2 => {
                // Combined short options: `-mt`, `-hw`.
                match w.bytes().skip(1).find(|b| b"bkmg".contains(b)) {
                    Some(b'b') => 1,
                    Some(b'k') => 1024,
                    Some(b'm') => 1 << 20,
                    Some(b'g') => 1 << 30,
                    _ => continue,
                }
            }
            _ => continue,
        };
        unit = Some(u);
    }
    unit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::src;

    #[test]
    fn old_layout_in_mib() {
        // superuser.com question 1137416 (procps before 3.3.10, `free -m`).
        let t = "             total       used       free     shared    buffers     cached\nMem:         32194      17948      14245          0        158        982\n-/+ buffers/cache:      16808      15386\nSwap:        49152          0      49152\n";
        let f = parse(t, &src(), Some(1 << 20)).unwrap().value;
        assert_eq!(f.mem_total, 32194 << 20);
        assert_eq!(f.used_without_cache, Some(16808 << 20));
        assert_eq!((f.buffers, f.cache, f.available), (Some(158 << 20), Some(982 << 20), None));
        assert_eq!(f.swap_total, Some(49152 << 20));
        assert_eq!(f.line, 2);
    }

    #[test]
    fn new_layout_human() {
        // `free -h` on this machine (procps-ng 4.0.2).
        let t = "               total        used        free      shared  buff/cache   available\nMem:            15Gi       2.1Gi        10Gi        12Mi       3.1Gi        13Gi\nSwap:             0B          0B          0B\n";
        let f = parse(t, &src(), None).unwrap().value;
        assert_eq!(f.mem_total, 15 << 30);
        assert_eq!(f.available, Some(13 << 30));
        assert_eq!(f.swap_total, Some(0));
        assert!(parse("hello\n", &src(), None).is_err());
        assert_eq!(unit_of_command("free -m"), Some(1 << 20));
        assert_eq!(unit_of_command("free -h"), None);
        assert_eq!(unit_of_command("free"), None);
    }
}
