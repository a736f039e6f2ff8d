//! Human formatting of sizes. Kernel files count in kB (KiB) or pages; memdx prints binary units.

/// Formats a size given in KiB as `721.1 MiB`, `3.2 GiB`, `512 KiB`.
pub fn kib(kb: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = kb as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{kb} KiB")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Formats bytes with binary units.
pub fn bytes(b: u64) -> String {
    if b < 1024 {
        format!("{b} B")
    } else {
        kib(b / 1024)
    }
}

/// Percentage `part / whole * 100`, 0 when `whole` is 0.
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Parses a duration such as `10s`, `1m`, `2h`, `14d`, `1w`, `500ms`, `0.5s` (a bare number is seconds):
/// returns milliseconds. For command-line options; the message names the input and the accepted units.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("{s:?}: expected a number and a unit, e.g. 10s, 500ms, 1m, 14d"))?;
    let mult = match unit {
        "ms" => 1.0,
        "" | "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        "d" => 86400e3,
        "w" => 7.0 * 86400e3,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m, h, d or w)")),
    };
    let ms = (n * mult).round();
    if ms >= u64::MAX as f64 {
        return Err(format!("{s:?}: too large"));
    }
    Ok(ms as u64)
}

/// Sums of kernel counters saturate at `u64::MAX` instead of overflowing: a damaged or hostile
/// input may hold any number, and `Iterator::sum` panics on overflow in debug builds.
pub trait SatSum {
    fn sat_sum(self) -> u64;
}

impl<T: std::borrow::Borrow<u64>, I: Iterator<Item = T>> SatSum for I {
    fn sat_sum(self) -> u64 {
        self.fold(0u64, |a, b| a.saturating_add(*b.borrow()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        use super::parse_duration_ms;
        assert_eq!(parse_duration_ms("10s"), Ok(10_000));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000));
        assert_eq!(parse_duration_ms("14d"), Ok(14 * 86_400_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("0.5s"), Ok(500));
        assert!(parse_duration_ms("ten").is_err());
        assert!(parse_duration_ms("5y").is_err());
        assert!(parse_duration_ms("1e400s").is_err());
    }

    #[test]
    fn sat_sum_saturates() {
        use super::SatSum;
        assert_eq!([u64::MAX, 1].iter().sat_sum(), u64::MAX);
        assert_eq!([1u64, 2].into_iter().sat_sum(), 3);
    }

    #[test]
    fn formats() {
        assert_eq!(super::kib(512), "512 KiB");
        assert_eq!(super::kib(738384), "721.1 MiB");
        assert_eq!(super::bytes(100), "100 B");
        assert_eq!(super::pct(1, 4), 25.0);
    }
}
