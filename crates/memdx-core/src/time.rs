//! Civil dates for log timestamps (UTC, proleptic Gregorian): std has no calendar and a date crate
//! for a few conversions is not worth it. Howard Hinnant's algorithms.

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn fmt_utc(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let secs = t.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// `Jan`..`Dec` (and `1月`..`12月` of Chinese-locale syslog) as 1..12.
pub fn month_number(m: &str) -> Option<i64> {
    const EN: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    if let Some(i) = EN.iter().position(|x| x.eq_ignore_ascii_case(m)) {
        return Some(i as i64 + 1);
    }
    let n: i64 = m.strip_suffix('月')?.parse().ok()?;
    (1..=12).contains(&n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from `date -u -d @SECONDS`.
    #[test]
    fn round_trip() {
        assert_eq!(fmt_utc(1795301103), "2026-11-21 22:45:03");
        assert_eq!(fmt_utc(0), "1970-01-01 00:00:00");
        assert_eq!(days_from_civil(2024, 2, 29) * 86400, 1709164800);
        assert_eq!(civil_from_days(days_from_civil(2000, 3, 1)), (2000, 3, 1));
        assert_eq!(month_number("Nov"), Some(11));
        assert_eq!(month_number("12月"), Some(12));
    }
}
