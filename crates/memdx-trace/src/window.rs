//! Counters sampled before and after a capture window: vmstat reclaim counters and PSI memory
//! stall time. Pure: the caller reads the files (memdx-source) and hands over their text.

use std::collections::BTreeMap;

/// vmstat counters worth a delta during a reclaim investigation (prefix match: `pgscan` covers
/// `pgscan_kswapd`, `pgscan_direct`, `pgscan_file`, ...).
const VMSTAT_PREFIXES: &[&str] = &[
    "pgscan",
    "pgsteal",
    "allocstall",
    "pgrefill",
    "pgactivate",
    "pgdeactivate",
    "oom_kill",
    "workingset_refault",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "pswpin",
    "pswpout",
    "compact_stall",
    "slabs_scanned",
    "kswapd_",
];

/// Deltas over one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowDelta {
    pub seconds: f64,
    /// `after - before` of the vmstat counters above (present in both samples).
    pub vmstat: BTreeMap<String, i64>,
    /// PSI memory `some`/`full` stall time over the window, microseconds (since 4.20).
    pub psi_some_us: Option<u64>,
    pub psi_full_us: Option<u64>,
}

fn vmstat_map(text: &str) -> BTreeMap<&str, i64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            if !VMSTAT_PREFIXES.iter().any(|p| k.starts_with(p)) {
                return None;
            }
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

/// `total=` of the `some` and `full` lines of /proc/pressure/memory.
pub fn psi_totals(text: &str) -> (Option<u64>, Option<u64>) {
    let mut some = None;
    let mut full = None;
    for l in text.lines() {
        let total = l.split(' ').find_map(|t| t.strip_prefix("total=")).and_then(|v| v.trim().parse().ok());
        if l.starts_with("some ") {
            some = total;
        } else if l.starts_with("full ") {
            full = total;
        }
    }
    (some, full)
}

impl WindowDelta {
    /// Builds the deltas from the texts of /proc/vmstat and /proc/pressure/memory (either may be
    /// empty when unreadable) taken `seconds` apart.
    pub fn from_texts(
        vmstat_before: &str,
        vmstat_after: &str,
        psi_before: &str,
        psi_after: &str,
        seconds: f64,
    ) -> Self {
        let b = vmstat_map(vmstat_before);
        let a = vmstat_map(vmstat_after);
        let vmstat = a.iter().filter_map(|(k, va)| Some((k.to_string(), va - b.get(k)?))).collect();
        let (sb, fb) = psi_totals(psi_before);
        let (sa, fa) = psi_totals(psi_after);
        WindowDelta {
            seconds,
            vmstat,
            psi_some_us: sa.zip(sb).map(|(a, b)| a.saturating_sub(b)),
            psi_full_us: fa.zip(fb).map(|(a, b)| a.saturating_sub(b)),
        }
    }

    /// Sum of the counters starting with `prefix` (`pgscan`, `pgsteal`, `allocstall`).
    pub fn sum(&self, prefix: &str, exclude: &[&str]) -> i64 {
        self.vmstat
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && !exclude.contains(&k.as_str()))
            .map(|(_, v)| v)
            .fold(0i64, |a, b| a.saturating_add(*b))
    }
}
