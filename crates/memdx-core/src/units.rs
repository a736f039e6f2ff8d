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

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::kib(512), "512 KiB");
        assert_eq!(super::kib(738384), "721.1 MiB");
        assert_eq!(super::bytes(100), "100 B");
        assert_eq!(super::pct(1, 4), 25.0);
    }
}
