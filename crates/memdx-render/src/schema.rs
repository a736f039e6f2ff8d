//! The JSON documents of `memdx trace reclaim|slab|allocs` and `memdx history` (docs/json-schema.md),
//! and the JSON form of the trace and slab engines' results. The engines' types do not derive
//! `Serialize`: each object written is listed here, field by field, so renaming a field inside an
//! engine fails to compile here instead of silently changing the output.

use memdx_core::{Diag, Finding, SourceRef, Table};
use memdx_log::Frame;
use memdx_slab::cgroup::MergedCache;
use memdx_slab::journal::{FailureKind, JournalReport, KindCount, UnitFailures};
use memdx_slab::kmem::{AllocPaths, Bucket, CgroupEvents, CommCount, KmemReport, LiveAllocs};
use memdx_slab::pairing::{CacheActivity, DriverCount, PairingReport, PathCount};
use memdx_slab::tools::{StackSample, ToolFormat};
use memdx_slab::Stack;
use memdx_trace::episode::{Episode, EpisodeEnd, ScanReclaim, ShrinkerUse, TrackerCounts};
use memdx_trace::event::{EpisodeKind, Lru};
use memdx_trace::report::{
    IsolateTotals, KindStats, MemcgReclaim, OomVictim, ReclaimContext, ReclaimReport, ShrinkerTotals,
    TaskLatency, ThrottleTotals,
};
use memdx_trace::scan::ScanStats;
use memdx_trace::table::CpuSecondRow;
use memdx_trace::window::WindowDelta;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// Version of the `memdx trace ... --json` documents; bumped when a field is removed or renamed.
pub const SCHEMA_VERSION: u32 = 1;

/// How a value is written in JSON output.
pub trait Schema {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;

    /// True for a value an object leaves out where its schema marks the field optional (`None`,
    /// an empty list, zero).
    fn absent(&self) -> bool {
        false
    }
}

/// A value written by its [`Schema`].
pub struct Json<'a, T: ?Sized>(pub &'a T);

impl<T: Schema + ?Sized> Serialize for Json<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(s)
    }
}

/// Values written as serde writes them: numbers, strings and memdx-core's output types.
macro_rules! plain {
    ($($t:ty),*) => {$(
        impl Schema for $t {
            fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.serialize(s)
            }
        }
    )*};
}

plain!(bool, f64, i32, i64, u32, String, SourceRef, Diag, Finding);

/// Counts, left out of an object where optional when zero.
macro_rules! count {
    ($($t:ty),*) => {$(
        impl Schema for $t {
            fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.serialize(s)
            }
            fn absent(&self) -> bool {
                *self == 0
            }
        }
    )*};
}

count!(u64);

impl<T: Schema + ?Sized> Schema for &T {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).write(s)
    }
    fn absent(&self) -> bool {
        (**self).absent()
    }
}

impl<T: Schema> Schema for Option<T> {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(v) => v.write(s),
            None => s.serialize_none(),
        }
    }
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl<T: Schema> Schema for [T] {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for v in self {
            seq.serialize_element(&Json(v))?;
        }
        seq.end()
    }
    fn absent(&self) -> bool {
        self.is_empty()
    }
}

impl<T: Schema> Schema for Vec<T> {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().write(s)
    }
    fn absent(&self) -> bool {
        self.is_empty()
    }
}

impl<T: Schema, const N: usize> Schema for [T; N] {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().write(s)
    }
}

impl<A: Schema, B: Schema> Schema for (A, B) {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&Json(&self.0))?;
        seq.serialize_element(&Json(&self.1))?;
        seq.end()
    }
}

impl<V: Schema> Schema for BTreeMap<String, V> {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k, &Json(v))?;
        }
        m.end()
    }
}

/// An object: its fields in order; `field?` is left out when [`Schema::absent`].
macro_rules! object {
    ($($t:ty { $($body:tt)* })*) => {$(
        impl Schema for $t {
            fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                object!(@fields m self $($body)*);
                m.end()
            }
        }
    )*};
    (@fields $m:ident $v:ident) => {};
    (@fields $m:ident $v:ident $f:ident ? $(, $($rest:tt)*)?) => {
        if !$v.$f.absent() {
            $m.serialize_entry(stringify!($f), &Json(&$v.$f))?;
        }
        object!(@fields $m $v $($($rest)*)?);
    };
    (@fields $m:ident $v:ident $f:ident $(, $($rest:tt)*)?) => {
        $m.serialize_entry(stringify!($f), &Json(&$v.$f))?;
        object!(@fields $m $v $($($rest)*)?);
    };
}

/// An enumeration written as one of its names.
macro_rules! names {
    ($($t:ty { $($v:ident = $name:literal),* $(,)? })*) => {$(
        impl Schema for $t {
            fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(match self {
                    $(<$t>::$v => $name,)*
                })
            }
        }
    )*};
}

names! {
    EpisodeKind {
        Direct = "direct",
        Memcg = "memcg",
        MemcgSoftLimit = "memcg_soft_limit",
        Node = "node",
        Kswapd = "kswapd",
    }
    EpisodeEnd { Complete = "complete", OpenAtEnd = "open_at_end", Superseded = "superseded" }
    Lru {
        InactiveAnon = "inactive_anon",
        ActiveAnon = "active_anon",
        InactiveFile = "inactive_file",
        ActiveFile = "active_file",
        Unevictable = "unevictable",
    }
    FailureKind {
        DbusActivationFailed = "dbus_activation_failed",
        FailedWithResult = "failed_with_result",
        ScheduledRestart = "scheduled_restart",
        MainProcessExited = "main_process_exited",
        StartRepeatedTooQuickly = "start_repeated_too_quickly",
        FailedToStart = "failed_to_start",
    }
    ToolFormat {
        BccTrace = "bcc_trace",
        Memleak = "memleak",
        Stackcount = "stackcount",
        Bpftrace = "bpftrace",
        PerfScript = "perf_script",
    }
}

/// A frame of a traced or tool-printed stack: `{"func", "offset"?, "module"?, "user"}`.
impl Schema for Frame {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("func", &self.func)?;
        if let Some(o) = self.offset {
            m.serialize_entry("offset", &o)?;
        }
        if let Some(md) = &self.module {
            m.serialize_entry("module", md)?;
        }
        m.serialize_entry("user", &self.user)?;
        m.end()
    }
}

object! {
    // memdx trace reclaim
    ReclaimReport {
        source, scan, diags, span_ns, kinds, tasks, anon, file, reclaim_pages, isolate, nr_dirty,
        nr_writeback, nr_immediate, efficiency, shrinkers, slab_share, throttle, oom_victims,
        cgroup_mkdir, cgroup_rmdir, kswapd_wakeups_requested, cpu_seconds, first_episodes,
        longest_episodes, tracker, context,
    }
    ScanStats {
        lines, events, per_event, damaged_lines, unmatched_payloads, lost_events, first_ts_ns,
        last_ts_ns, diags_dropped,
    }
    KindStats {
        kind, begins, ends, complete, open_at_end, superseded, unmatched_end, reclaimed, under_32,
        priority_le_8, lowest_priority, by_lowest_priority, total_ns, p50_ns, p99_ns, max_ns, slab_ns,
        throttled_us, anon, file,
    }
    TaskLatency { comm, episodes, pids, reclaimed, under_32, total_ns, p50_ns, p99_ns, max_ns }
    ScanReclaim { scanned, reclaimed }
    IsolateTotals { lru, calls, requested, scanned, taken, taken_over_requested }
    ShrinkerTotals { shrinker, calls, ns, in_episode_ns }
    ThrottleTotals { reason, events, delayed_us }
    OomVictim { ts_ns, pid, comm, anon_rss_kb }
    CpuSecondRow { kind, cpu, second, count, reclaimed_sum, low, hist, over, last }
    Episode {
        kind, comm, pid, cpu, end_cpu, start_ns, duration_ns, nr_reclaimed, order, lowest_priority,
        anon, file, other, isolated, slab_calls, slab_ns, shrinkers, throttled, throttled_us, nr_dirty,
        nr_writeback, nr_immediate, end,
    }
    ShrinkerUse { shrinker, calls, ns }
    TrackerCounts { unmatched_end, unmatched_slab_end }
    ReclaimContext { swap_total_kb, cgroup, window, memcgs? }
    WindowDelta { seconds, vmstat, psi_some_us, psi_full_us }
    MemcgReclaim { path, episodes, pids }

    // memdx trace slab, memdx trace allocs
    MergedCache { asked, canonical, aliases, target? }
    KmemReport {
        source, lines, events, with_stack, lost, out_of_order, span_s?, name_fallback, slab, kmalloc,
        pages, kmalloc_sizes, page_orders, kmalloc_live?, pages_live?, cgroup, reclaimable_caches?,
        typesafe_rcu_caches?, diags,
    }
    PairingReport { caches, records, boots }
    CacheActivity {
        cache, allocs, frees, first_time?, last_time?, span_s?, alloc_per_s?, free_per_s?,
        net_per_hour?, net, outstanding, freed_unallocated, repeated_frees, realloc_unfreed,
        repeated_free_examples, net_by_window, outstanding_by_path, allocs_by_path, frees_by_path,
        drivers, first_source?,
    }
    PathCount { path, driver?, comm?, count, bytes?, example?, frames }
    DriverCount { driver, comm?, allocs, outstanding }
    AllocPaths { events, bytes, by_count, by_bytes }
    Bucket { from, to, count }
    LiveAllocs { count, bytes, oldest_s, by_bytes }
    CgroupEvents { mkdir, rmdir, by_comm }
    CommCount { comm, mkdir, rmdir }

    // Journals and tool outputs (the slab engine's inputs)
    JournalReport { source, lines, systemd_failed_lines, units, diags }
    UnitFailures {
        unit, events, kind, kinds, first, last, span_s, period_s?, regularity?, max_restart_counter?,
        reasons, reporter, first_source,
    }
    KindCount { kind, count }
    StackSample { stack, count, bytes?, comm?, pid?, tid?, time?, probe?, value?, source }
    Stack { frames }
}

/// `memdx trace reclaim --json`, one document per input.
#[derive(Serialize)]
pub struct ReclaimDoc<'a> {
    schema_version: u32,
    report: Json<'a, ReclaimReport>,
    findings: &'a [Finding],
}

impl<'a> ReclaimDoc<'a> {
    pub fn new(report: &'a ReclaimReport, findings: &'a [Finding]) -> Self {
        ReclaimDoc { schema_version: SCHEMA_VERSION, report: Json(report), findings }
    }
}

/// `memdx trace allocs --json`.
#[derive(Serialize)]
pub struct AllocsDoc<'a> {
    schema_version: u32,
    min_size: u64,
    min_order: u32,
    report: Json<'a, KmemReport>,
}

impl<'a> AllocsDoc<'a> {
    pub fn new(report: &'a KmemReport, min_size: u64, min_order: u32) -> Self {
        AllocsDoc { schema_version: SCHEMA_VERSION, min_size, min_order, report: Json(report) }
    }
}

/// The live window around a `memdx trace slab` capture, as measured from /proc/slabinfo.
#[derive(Debug, Clone, Serialize)]
pub struct SlabWindow {
    pub seconds: f64,
    pub slabinfo_before: Option<u64>,
    pub slabinfo_after: Option<u64>,
    pub slabinfo_delta: Option<i64>,
    pub traced_net: i64,
    /// |traced_net - slabinfo_delta| / |slabinfo_delta|. SLUB counts objects free in per-CPU slabs
    /// as active, so expect a difference of up to a few slabs' worth of objects.
    pub disagreement: Option<f64>,
    pub lost_events: u64,
    pub interrupted: bool,
    pub name_fallback: bool,
}

/// `memdx trace slab --json`; `window` is what the command measured around a live capture.
#[derive(Serialize)]
pub struct SlabDoc<'a> {
    schema_version: u32,
    cache: Json<'a, MergedCache>,
    window: Option<&'a SlabWindow>,
    report: Json<'a, KmemReport>,
    findings: &'a [Finding],
}

impl<'a> SlabDoc<'a> {
    pub fn new(
        cache: &'a MergedCache,
        window: Option<&'a SlabWindow>,
        report: &'a KmemReport,
        findings: &'a [Finding],
    ) -> Self {
        SlabDoc { schema_version: SCHEMA_VERSION, cache: Json(cache), window, report: Json(report), findings }
    }
}

/// Version of the `memdx history --json` document.
pub const HISTORY_SCHEMA_VERSION: u32 = 1;

/// `memdx history --json`: the recorded span, the history findings and tables, and with `--cache`
/// one cache's points and trend.
#[derive(Serialize)]
pub struct HistoryDoc<'a> {
    schema_version: u32,
    pub db: String,
    pub samples: u64,
    /// Unix times of the first and last samples; absent when the database has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<i64>,
    pub since: Option<i64>,
    pub findings: &'a [Finding],
    pub tables: Vec<&'a Table>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<HistoryCache>,
}

impl HistoryDoc<'_> {
    pub fn new(db: String, samples: u64, span: Option<(i64, i64)>, since: Option<i64>) -> Self {
        HistoryDoc {
            schema_version: HISTORY_SCHEMA_VERSION,
            db,
            samples,
            first: span.map(|s| s.0),
            last: span.map(|s| s.1),
            since,
            findings: &[],
            tables: Vec::new(),
            cache: None,
        }
    }
}

/// One slab cache in `memdx history --cache NAME --json`.
#[derive(Serialize)]
pub struct HistoryCache {
    pub name: String,
    /// (unix time, KiB, active objects)
    pub points: Vec<(i64, f64, Option<f64>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kib_per_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
}
