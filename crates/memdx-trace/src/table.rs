//! Tables: the per-CPU per-second table of reclaim episode ends (the semantics of the C program
//! in seed 001 section 6, extended to every reclaim kind), and latency histograms.

use crate::chunk::{Chunk, ChunkReader, MAX_LINE};
use crate::event::EpisodeKind;
use crate::line::{split_line, LineKind};
use std::collections::HashMap;
use std::io::Read;

/// Episodes that reclaim fewer pages than this are "low" (`SWAP_CLUSTER_MAX`, the batch reclaim aims
/// for).
pub const LOW_RECLAIM: u64 = 32;

/// One CPU during one second (integer part of the trace timestamp), counting `*_reclaim_end`
/// events of one kind seen on that CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSecondRow {
    pub kind: EpisodeKind,
    pub cpu: u32,
    pub second: u64,
    pub count: u64,
    pub reclaimed_sum: u64,
    /// Episodes that reclaimed fewer than 32 pages.
    pub low: u64,
    /// `hist[n]` counts episodes that reclaimed exactly `n` pages, n in 0..=31.
    pub hist: [u64; 32],
    /// Episodes that reclaimed 32 pages or more.
    pub over: u64,
    /// The CPU's last second in the trace: it may be incomplete. (The seed's C program never
    /// prints these rows.)
    pub last: bool,
}

impl CpuSecondRow {
    fn new(kind: EpisodeKind, cpu: u32, second: u64) -> Self {
        CpuSecondRow {
            kind,
            cpu,
            second,
            count: 0,
            reclaimed_sum: 0,
            low: 0,
            hist: [0; 32],
            over: 0,
            last: false,
        }
    }

    /// Integer average, as the C program prints it.
    pub fn average(&self) -> u64 {
        self.reclaimed_sum.checked_div(self.count).unwrap_or(0)
    }

    /// The row in the C program's layout, without its `time[...]` column (which depends on a
    /// machine-specific epoch constant and the local time zone). The C program counts 31 and
    /// 32+ together in bucket `[31]`; so does this rendering.
    pub fn c_tabulator_line(&self) -> String {
        let mut s = format!(
            "cpu[{:3}] second[{}] average[{:4}] LOW [{:4}] ALL[{:4}]  RECLAIM NUM COUNT :",
            self.cpu,
            self.second,
            self.average(),
            self.low,
            self.count
        );
        for i in 0..32 {
            let n = if i == 31 { self.hist[31] + self.over } else { self.hist[i] };
            if n > 0 {
                s.push_str(&format!(" [{i:2}]({n:3})"));
            }
        }
        s
    }
}

/// Streaming builder of [`CpuSecondRow`]s: a row is emitted when its CPU moves to another second
/// (as in the C program), and the open rows at the end by [`CpuSecondTable::finish`].
#[derive(Debug, Default)]
pub struct CpuSecondTable {
    open: HashMap<(EpisodeKind, u32), CpuSecondRow>,
}

impl CpuSecondTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one episode end; returns the row it closed, if any.
    pub fn push(
        &mut self,
        kind: EpisodeKind,
        cpu: u32,
        ts_ns: u64,
        nr_reclaimed: u64,
    ) -> Option<CpuSecondRow> {
        let second = ts_ns / 1_000_000_000;
        let mut closed = None;
        let row = self.open.entry((kind, cpu)).or_insert_with(|| CpuSecondRow::new(kind, cpu, second));
        if row.second != second {
            closed = Some(std::mem::replace(row, CpuSecondRow::new(kind, cpu, second)));
        }
        row.count += 1;
        row.reclaimed_sum = row.reclaimed_sum.saturating_add(nr_reclaimed);
        if nr_reclaimed < LOW_RECLAIM {
            row.low += 1;
            row.hist[nr_reclaimed as usize] += 1;
        } else {
            row.over += 1;
        }
        closed
    }

    /// The rows still open, marked `last`, in (kind, cpu) order.
    pub fn finish(self) -> Vec<CpuSecondRow> {
        let mut rows: Vec<CpuSecondRow> = self.open.into_values().collect();
        rows.sort_by_key(|r| (r.kind, r.cpu));
        for r in &mut rows {
            r.last = true;
        }
        rows
    }
}

fn end_kind(name: &str) -> Option<EpisodeKind> {
    Some(match name {
        "mm_vmscan_memcg_reclaim_end" => EpisodeKind::Memcg,
        "mm_vmscan_direct_reclaim_end" => EpisodeKind::Direct,
        "mm_vmscan_memcg_softlimit_reclaim_end" => EpisodeKind::MemcgSoftLimit,
        "mm_vmscan_node_reclaim_end" => EpisodeKind::Node,
        _ => return None,
    })
}

/// Counters of [`table_only`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableScanStats {
    pub bytes: u64,
    pub end_events: u64,
    /// `*_reclaim_end` lines whose header or `nr_reclaimed` could not be read.
    pub damaged: u64,
}

/// The per-CPU per-second table straight from trace text, without building episodes: finds the
/// `_reclaim_end: ` lines with a SIMD substring search and reads only those. Rows are handed to
/// `on_row` as they close (the open ones at the end, marked `last`), so memory stays flat whatever
/// the input size; lines longer than [`MAX_LINE`] are skipped. Returns the counters, or the read
/// error.
pub fn table_only<R: Read>(r: R, mut on_row: impl FnMut(CpuSecondRow)) -> std::io::Result<TableScanStats> {
    let finder = memchr::memmem::Finder::new(b"_reclaim_end: ");
    let mut table = CpuSecondTable::new();
    let mut stats = TableScanStats::default();
    let mut reader = ChunkReader::new(r);
    let mut chunk = Chunk::default();
    while reader.next_chunk(&mut chunk) {
        let data = chunk.data();
        for hit in finder.find_iter(data) {
            let start = memchr::memrchr(b'\n', &data[..hit]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &data[hit..]).map_or(data.len(), |i| hit + i);
            let line = match std::str::from_utf8(&data[start..end]) {
                Ok(l) if l.len() <= MAX_LINE => l,
                _ => {
                    stats.damaged += 1;
                    continue;
                }
            };
            if let LineKind::Event(e) = split_line(line) {
                let Some(kind) = end_kind(e.name) else { continue };
                let val = e.payload.strip_prefix("nr_reclaimed=").and_then(|v| v.trim().parse::<u64>().ok());
                match (val, e.cpu) {
                    (Some(v), Some(cpu)) => {
                        stats.end_events += 1;
                        if let Some(row) = table.push(kind, cpu, e.ts_ns, v) {
                            on_row(row);
                        }
                    }
                    _ => stats.damaged += 1,
                }
            } else {
                stats.damaged += 1;
            }
        }
    }
    stats.bytes = reader.bytes;
    if let Some(e) = reader.err {
        return Err(e);
    }
    for row in table.finish() {
        on_row(row);
    }
    Ok(stats)
}

/// Log-linear histogram of durations in nanoseconds: 16 sub-buckets per power of two, so a
/// quantile is off by at most 1/16 (6.25%) of its value; fixed size whatever the count.
#[derive(Debug, Clone)]
pub struct LatencyHist {
    buckets: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
}

const SUB: u32 = 16;

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= 4
    let sub = (v >> (e - 4)) & (SUB as u64 - 1);
    ((e - 3) * SUB) as usize + sub as usize
}

/// Upper bound (exclusive) of a bucket.
fn bucket_upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB as u64 {
        return i + 1;
    }
    let e = i / SUB as u64 + 3;
    let sub = i % SUB as u64;
    ((SUB as u64 + sub + 1) << (e - 4)).saturating_sub(0)
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist { buckets: vec![0; bucket_of(u64::MAX) + 1], count: 0, sum_ns: 0, max_ns: 0 }
    }
}

impl LatencyHist {
    pub fn add(&mut self, ns: u64) {
        self.buckets[bucket_of(ns)] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Counts per decade of duration, for charts: `< 10 us`, `10-100 us`, ..., `>= 1 s`. A log-linear
    /// bucket is counted in the decade holding its lower bound.
    pub fn decades(&self) -> Vec<(String, u64)> {
        const EDGES: [(u64, &str); 7] = [
            (10_000, "< 10 us"),
            (100_000, "10-100 us"),
            (1_000_000, "0.1-1 ms"),
            (10_000_000, "1-10 ms"),
            (100_000_000, "10-100 ms"),
            (1_000_000_000, "0.1-1 s"),
            (u64::MAX, ">= 1 s"),
        ];
        let mut out: Vec<(String, u64)> = EDGES.iter().map(|(_, l)| (l.to_string(), 0)).collect();
        for (i, n) in self.buckets.iter().enumerate().filter(|(_, n)| **n > 0) {
            let lower = if i == 0 { 0 } else { bucket_upper(i - 1) };
            let d = EDGES.iter().position(|(edge, _)| lower < *edge).unwrap_or(EDGES.len() - 1);
            out[d].1 += n;
        }
        out
    }

    /// The `q` quantile (0..=1): the upper bound of the bucket holding it, never above the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_upper(i).saturating_sub(1).min(self.max_ns);
            }
        }
        self.max_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades() {
        let mut h = LatencyHist::default();
        for ns in [5_000u64, 50_000, 50_001, 2_000_000, 3_000_000_000] {
            h.add(ns);
        }
        let d = h.decades();
        assert_eq!(d.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![1, 2, 0, 1, 0, 0, 1]);
        assert_eq!(d[0].0, "< 10 us");
    }

    #[test]
    fn hist_buckets() {
        for v in [0u64, 1, 15, 16, 17, 100, 1_000, 123_456_789, u64::MAX / 2] {
            let b = bucket_of(v);
            assert!(bucket_upper(b) > v, "{v}");
            if b > 0 {
                assert!(bucket_upper(b - 1) <= v, "{v}");
            }
        }
        let mut h = LatencyHist::default();
        for v in 1..=100u64 {
            h.add(v * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((47_000..=53_200).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), 100_000);
    }

    #[test]
    fn rows_close_on_second_change() {
        let mut t = CpuSecondTable::new();
        assert!(t.push(EpisodeKind::Memcg, 1, 5_100_000_000, 3).is_none());
        assert!(t.push(EpisodeKind::Memcg, 1, 5_900_000_000, 40).is_none());
        let r = t.push(EpisodeKind::Memcg, 1, 6_000_000_000, 1).unwrap();
        assert_eq!((r.second, r.count, r.low, r.over, r.average()), (5, 2, 1, 1, 21));
        assert_eq!(
            r.c_tabulator_line(),
            "cpu[  1] second[5] average[  21] LOW [   1] ALL[   2]  RECLAIM NUM COUNT : [ 3](  1) [31](  1)"
        );
        assert_eq!(t.finish().len(), 1);
    }
}
