//! Least-squares fits of a series and the leak verdict: steady growth versus churn. Pure.

/// A straight-line fit `value = intercept + slope * (t - t0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub n: usize,
    /// Seconds from the first to the last point.
    pub span_s: i64,
    pub first: f64,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    /// Units per second.
    pub slope: f64,
    /// Coefficient of determination of the line, 0..1 (1 for a perfect line, 0 for flat data).
    pub r2: f64,
    /// Share of steps between consecutive points that did not go down, 0..1.
    pub rising_steps: f64,
}

impl Fit {
    pub fn per_hour(&self) -> f64 {
        self.slope * 3600.0
    }
    pub fn per_day(&self) -> f64 {
        self.slope * 86400.0
    }
    pub fn growth(&self) -> f64 {
        self.last - self.first
    }
}

/// Fits `points` (time, value). None for fewer than two points or no time span.
pub fn fit(points: &[(i64, f64)]) -> Option<Fit> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let t0 = points[0].0;
    let span_s = points[n - 1].0 - t0;
    if span_s <= 0 {
        return None;
    }
    let nf = n as f64;
    let (mut sx, mut sy) = (0.0, 0.0);
    for &(t, v) in points {
        sx += (t - t0) as f64;
        sy += v;
    }
    let (mx, my) = (sx / nf, sy / nf);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(t, v) in points {
        let dx = (t - t0) as f64 - mx;
        let dy = v - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
        min = min.min(v);
        max = max.max(v);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r2 = if sxx > 0.0 && syy > 0.0 { (sxy * sxy) / (sxx * syy) } else { 0.0 };
    let rising = points.windows(2).filter(|w| w[1].1 >= w[0].1).count() as f64 / (n - 1) as f64;
    Some(Fit {
        n,
        span_s,
        first: points[0].1,
        last: points[n - 1].1,
        min,
        max,
        slope,
        r2,
        rising_steps: rising,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Grows along a line with few drops: what a leak looks like.
    SteadyGrowth,
    /// Net growth, but with swings as large as the trend: allocation and freeing, not (yet) a leak.
    Churn,
    /// No growth worth naming.
    Flat,
    Shrinking,
    /// Too few points or too short a window to tell.
    TooShort,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::SteadyGrowth => "steady growth",
            Verdict::Churn => "churn",
            Verdict::Flat => "flat",
            Verdict::Shrinking => "shrinking",
            Verdict::TooShort => "too short",
        }
    }
}

/// Smallest window and point count for a verdict other than [`Verdict::TooShort`].
pub const MIN_POINTS: usize = 5;
pub const MIN_SPAN_S: i64 = 300;

/// Growth relative to the first value that counts even under the absolute threshold.
pub const MIN_RELATIVE_GROWTH: f64 = 0.25;

/// Classifies a fit. The series is flat when its net growth (in the series' unit) is under
/// `min_growth` and under [`MIN_RELATIVE_GROWTH`] of its first value (noise in a 100 MiB cache
/// is not a leak; a 4 MiB cache doubling is growth), or under `min_growth / 32` whatever the ratio.
pub fn verdict(f: &Fit, min_growth: f64) -> Verdict {
    if f.n < MIN_POINTS || f.span_s < MIN_SPAN_S {
        return Verdict::TooShort;
    }
    let net = f.slope * f.span_s as f64;
    let relative = f.first.abs() > 0.0 && net.abs() >= MIN_RELATIVE_GROWTH * f.first.abs();
    if net.abs() < min_growth / 32.0 || (net.abs() < min_growth && !relative) {
        return Verdict::Flat;
    }
    if net < 0.0 {
        return Verdict::Shrinking;
    }
    // A leak rises along a line (high r2) and rarely steps down; churn swings around its trend.
    if f.r2 >= 0.8 && f.rising_steps >= 0.6 {
        Verdict::SteadyGrowth
    } else {
        Verdict::Churn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_churn() {
        let line: Vec<(i64, f64)> = (0..20).map(|i| (i * 60, 100.0 + 10.0 * i as f64)).collect();
        let f = fit(&line).unwrap();
        assert!((f.slope - 10.0 / 60.0).abs() < 1e-9);
        assert!((f.r2 - 1.0).abs() < 1e-9);
        assert_eq!(verdict(&f, 50.0), Verdict::SteadyGrowth);
        let churn: Vec<(i64, f64)> =
            (0..20).map(|i| (i * 60, if i % 2 == 0 { 100.0 } else { 400.0 } + i as f64 * 3.0)).collect();
        let f = fit(&churn).unwrap();
        assert_eq!(verdict(&f, 10.0), Verdict::Churn);
        assert_eq!(verdict(&f, 1e6), Verdict::Flat);
        assert_eq!(verdict(&fit(&line[..3]).unwrap(), 1.0), Verdict::TooShort);
        assert!(fit(&[(5, 1.0)]).is_none());
    }

    /// Issue 14: a series that grew 130% along a line (r2 0.99) but by less than the absolute
    /// threshold is growth, not flat. Hand-computed: 4126 -> 9596 KiB (+133%) over 12 samples 10 min apart.
    #[test]
    fn relative_growth_is_not_flat() {
        let pts: Vec<(i64, f64)> = (0..12)
            .map(|i| (i * 600, 4096.0 + 500.0 * i as f64 + if i % 3 == 0 { 30.0 } else { 0.0 }))
            .collect();
        let f = fit(&pts).unwrap();
        assert!(f.r2 > 0.99, "{}", f.r2);
        assert!((f.last - f.first) / f.first > 1.29);
        assert_eq!(verdict(&f, 8192.0), Verdict::SteadyGrowth);
        // Under 1/32 of the threshold (256 KiB) a series is flat whatever its ratio.
        let tiny: Vec<(i64, f64)> = (0..12).map(|i| (i * 600, 10.0 + 10.0 * i as f64)).collect();
        assert_eq!(verdict(&fit(&tiny).unwrap(), 8192.0), Verdict::Flat);
    }
}
