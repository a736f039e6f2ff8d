//! Aggregation of a scan into a [`ReclaimReport`]: per-kind episode statistics, per-task latency,
//! LRU totals and efficiency, shrinker time, throttling, and the per-CPU per-second table. Memory
//! is bounded by the number of tasks, shrinkers, CPUs and seconds, not by the number of lines.

use crate::episode::{Episode, EpisodeEnd, EpisodeTracker, ScanReclaim, Step, TrackerCounts};
use crate::event::{EpisodeKind, Event, Lru};
use crate::scan::{Record, ScanStats};
use crate::table::{CpuSecondRow, CpuSecondTable, LatencyHist, LOW_RECLAIM};
use crate::window::WindowDelta;
use memdx_core::units::SatSum;
use memdx_core::Diag;
use std::collections::{BTreeSet, HashMap};

/// What to keep and what to look at.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only events of these pids (e.g. the tasks of one cgroup, sampled during a live capture).
    pub pids: Option<BTreeSet<i32>>,
    /// How many episodes to keep in full, from the start of the trace.
    pub keep_first: usize,
    /// How many of the longest episodes to keep in full.
    pub keep_longest: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { pids: None, keep_first: 20, keep_longest: 10 }
    }
}

/// Episode statistics of one kind.
#[derive(Debug, Clone)]
pub struct KindStats {
    pub kind: EpisodeKind,
    pub begins: u64,
    pub ends: u64,
    /// Episodes with both begin and end.
    pub complete: u64,
    pub open_at_end: u64,
    pub superseded: u64,
    /// Ends whose begin was before the trace started.
    pub unmatched_end: u64,
    pub reclaimed: u64,
    /// Complete episodes that reclaimed fewer than 32 pages.
    pub under_32: u64,
    /// Complete episodes whose lowest priority was 8 or below.
    pub priority_le_8: u64,
    pub lowest_priority: Option<i32>,
    /// Episodes per lowest priority reached, index = priority 0..=12.
    pub by_lowest_priority: [u64; 13],
    pub total_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    pub slab_ns: u64,
    pub throttled_us: u64,
    pub anon: ScanReclaim,
    pub file: ScanReclaim,
    hist: LatencyHist,
}

impl KindStats {
    /// Episode durations per decade (`< 10 us` ... `>= 1 s`), for charts.
    pub fn latency_decades(&self) -> Vec<(String, u64)> {
        self.hist.decades()
    }

    fn new(kind: EpisodeKind) -> Self {
        KindStats {
            kind,
            begins: 0,
            ends: 0,
            complete: 0,
            open_at_end: 0,
            superseded: 0,
            unmatched_end: 0,
            reclaimed: 0,
            under_32: 0,
            priority_le_8: 0,
            lowest_priority: None,
            by_lowest_priority: [0; 13],
            total_ns: 0,
            p50_ns: 0,
            p99_ns: 0,
            max_ns: 0,
            slab_ns: 0,
            throttled_us: 0,
            anon: ScanReclaim::default(),
            file: ScanReclaim::default(),
            hist: LatencyHist::default(),
        }
    }
}

/// Latency of the episodes of one command name (pids vary; the name is what a person recognises).
#[derive(Debug, Clone)]
pub struct TaskLatency {
    pub comm: String,
    pub episodes: u64,
    pub pids: u64,
    pub reclaimed: u64,
    pub under_32: u64,
    pub total_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    hist: LatencyHist,
    pid_set: BTreeSet<i32>,
}

/// `mm_vmscan_lru_isolate` totals of one LRU list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IsolateTotals {
    pub lru: Option<Lru>,
    pub calls: u64,
    pub requested: u64,
    pub scanned: u64,
    pub taken: u64,
    /// Calls that took more pages than requested: large folios (6.x) count their pages.
    pub taken_over_requested: u64,
}

/// Shrinker call totals (all calls seen, inside episodes or not).
#[derive(Debug, Clone)]
pub struct ShrinkerTotals {
    pub shrinker: String,
    pub calls: u64,
    pub ns: u64,
    pub in_episode_ns: u64,
}

/// `mm_vmscan_throttled` totals per reason.
#[derive(Debug, Clone)]
pub struct ThrottleTotals {
    pub reason: String,
    pub events: u64,
    pub delayed_us: u64,
}

/// An OOM kill seen in the trace (`oom:mark_victim`).
#[derive(Debug, Clone)]
pub struct OomVictim {
    pub ts_ns: u64,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub anon_rss_kb: Option<u64>,
}

/// Context from outside the trace that the diagnosis uses when known.
#[derive(Debug, Clone, Default)]
pub struct ReclaimContext {
    /// `SwapTotal` in KiB, from /proc/meminfo of the traced machine.
    pub swap_total_kb: Option<u64>,
    /// The cgroup the capture was limited to.
    pub cgroup: Option<String>,
    /// vmstat and PSI deltas over the capture window.
    pub window: Option<WindowDelta>,
    /// The memory cgroups of the tasks in memcg reclaim (events carry no memcg: a live capture
    /// maps their pids through /proc/PID/cgroup), most episodes first.
    pub memcgs: Vec<MemcgReclaim>,
}

/// Memcg reclaim episodes of the tasks of one memory cgroup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemcgReclaim {
    pub path: String,
    pub episodes: u64,
    pub pids: u64,
}

/// Everything memdx learned about reclaim from one trace.
#[derive(Debug, Clone)]
pub struct ReclaimReport {
    pub source: String,
    pub scan: ScanStats,
    pub diags: Vec<Diag>,
    pub span_ns: u64,
    pub kinds: Vec<KindStats>,
    pub tasks: Vec<TaskLatency>,
    /// Pages scanned/reclaimed by `mm_vmscan_lru_shrink_inactive`, all tasks.
    pub anon: ScanReclaim,
    pub file: ScanReclaim,
    /// `mm_vmscan_reclaim_pages` (DAMON, proactive reclaim), outside the LRU walk.
    pub reclaim_pages: ScanReclaim,
    pub isolate: Vec<IsolateTotals>,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_immediate: u64,
    /// reclaimed / scanned over all shrink_inactive events.
    pub efficiency: Option<f64>,
    pub shrinkers: Vec<ShrinkerTotals>,
    /// Time in shrink_slab inside episodes / time in episodes (direct, memcg, soft limit, node).
    pub slab_share: Option<f64>,
    pub throttle: Vec<ThrottleTotals>,
    pub oom_victims: Vec<OomVictim>,
    pub cgroup_mkdir: u64,
    pub cgroup_rmdir: u64,
    pub kswapd_wakeups_requested: u64,
    pub cpu_seconds: Vec<CpuSecondRow>,
    pub first_episodes: Vec<Episode>,
    pub longest_episodes: Vec<Episode>,
    pub tracker: TrackerCounts,
    pub context: ReclaimContext,
}

impl ReclaimReport {
    pub fn kind(&self, k: EpisodeKind) -> Option<&KindStats> {
        self.kinds.iter().find(|s| s.kind == k)
    }

    /// Episodes of the kinds where a task waits (direct, memcg, soft limit, node).
    pub fn foreground(&self) -> impl Iterator<Item = &KindStats> {
        self.kinds.iter().filter(|k| k.kind != EpisodeKind::Kswapd)
    }
}

/// Streaming aggregator: feed it [`Record`]s, then [`Analyzer::finish`].
#[derive(Debug)]
pub struct Analyzer {
    opts: Options,
    tracker: EpisodeTracker,
    kinds: Vec<KindStats>,
    tasks: HashMap<String, TaskLatency, foldhash::fast::FixedState>,
    anon: ScanReclaim,
    file: ScanReclaim,
    other: ScanReclaim,
    reclaim_pages: ScanReclaim,
    isolate: [IsolateTotals; 6],
    nr_dirty: u64,
    nr_writeback: u64,
    nr_immediate: u64,
    shrinkers: HashMap<String, ShrinkerTotals, foldhash::fast::FixedState>,
    throttle: HashMap<String, ThrottleTotals>,
    oom: Vec<OomVictim>,
    cgroup_mkdir: u64,
    cgroup_rmdir: u64,
    wakeups: u64,
    table: CpuSecondTable,
    rows: Vec<CpuSecondRow>,
    first: Vec<Episode>,
    longest: Vec<Episode>,
    last_lru: HashMap<i32, Lru, foldhash::fast::FixedState>,
    last_ts: u64,
    /// Episodes closed by the current event (kept to reuse its allocation).
    closed: Vec<Episode>,
}

impl Analyzer {
    pub fn new(opts: Options) -> Self {
        Analyzer {
            opts,
            tracker: EpisodeTracker::new(),
            kinds: EpisodeKind::ALL.iter().map(|k| KindStats::new(*k)).collect(),
            tasks: HashMap::default(),
            anon: ScanReclaim::default(),
            file: ScanReclaim::default(),
            other: ScanReclaim::default(),
            reclaim_pages: ScanReclaim::default(),
            isolate: [IsolateTotals::default(); 6],
            nr_dirty: 0,
            nr_writeback: 0,
            nr_immediate: 0,
            shrinkers: HashMap::default(),
            throttle: HashMap::new(),
            oom: Vec::new(),
            cgroup_mkdir: 0,
            cgroup_rmdir: 0,
            wakeups: 0,
            table: CpuSecondTable::new(),
            rows: Vec::new(),
            first: Vec::new(),
            longest: Vec::new(),
            last_lru: HashMap::default(),
            last_ts: 0,
            closed: Vec::new(),
        }
    }

    /// Replaces the pid filter (a live capture samples a cgroup's tasks as it goes).
    pub fn set_pids(&mut self, pids: Option<BTreeSet<i32>>) {
        self.opts.pids = pids;
    }

    pub fn record(&mut self, rec: &Record<'_>) {
        let h = &rec.raw;
        if let Some(p) = &self.opts.pids {
            if !p.contains(&h.pid) {
                return;
            }
        }
        self.last_ts = self.last_ts.max(h.ts_ns);
        match &rec.event {
            Event::ReclaimBegin { kind, .. } => self.kinds[kind.index()].begins += 1,
            Event::KswapdWake { .. } => self.kinds[EpisodeKind::Kswapd.index()].begins += 1,
            Event::KswapdSleep { .. } => self.kinds[EpisodeKind::Kswapd.index()].ends += 1,
            Event::ReclaimEnd { kind, nr_reclaimed } => {
                self.kinds[kind.index()].ends += 1;
                if let Some(cpu) = h.cpu {
                    if let Some(row) = self.table.push(*kind, cpu, h.ts_ns, *nr_reclaimed) {
                        self.rows.push(row);
                    }
                }
            }
            Event::WakeupKswapd { .. } => self.wakeups += 1,
            Event::Isolate(i) => {
                let slot = i.lru.map_or(5, Lru::index);
                let t = &mut self.isolate[slot];
                t.lru = i.lru;
                t.calls += 1;
                t.requested += i.nr_requested;
                t.scanned += i.nr_scanned;
                t.taken += i.nr_taken;
                if i.nr_taken > i.nr_requested {
                    t.taken_over_requested += 1;
                }
                match i.lru {
                    Some(l) => {
                        self.last_lru.insert(h.pid, l);
                    }
                    None => {
                        self.last_lru.remove(&h.pid);
                    }
                }
            }
            Event::ShrinkInactive(s) => {
                let file = s.file.or(self.last_lru.get(&h.pid).map(|l| l.is_file()));
                let b = match file {
                    Some(true) => &mut self.file,
                    Some(false) => &mut self.anon,
                    None => &mut self.other,
                };
                b.scanned += s.nr_scanned;
                b.reclaimed += s.nr_reclaimed;
                self.nr_dirty += s.nr_dirty.unwrap_or(0);
                self.nr_writeback += s.nr_writeback.unwrap_or(0);
                self.nr_immediate += s.nr_immediate.unwrap_or(0);
            }
            Event::ReclaimPages(s) => {
                self.reclaim_pages.scanned += s.nr_scanned;
                self.reclaim_pages.reclaimed += s.nr_reclaimed;
            }
            Event::Throttled { usec_delayed, reason, .. } => {
                let key = if reason.is_empty() { "unknown" } else { reason };
                let t = match self.throttle.get_mut(key) {
                    Some(t) => t,
                    None => self.throttle.entry(key.to_string()).or_insert_with(|| ThrottleTotals {
                        reason: key.to_string(),
                        events: 0,
                        delayed_us: 0,
                    }),
                };
                t.events += 1;
                t.delayed_us += usec_delayed;
            }
            Event::OomVictim { pid, comm, anon_rss_kb } => self.oom.push(OomVictim {
                ts_ns: h.ts_ns,
                pid: *pid,
                comm: comm.map(str::to_string),
                anon_rss_kb: *anon_rss_kb,
            }),
            Event::CgroupMkdir { .. } => self.cgroup_mkdir += 1,
            Event::CgroupRmdir { .. } => self.cgroup_rmdir += 1,
            Event::ShrinkActive { .. } | Event::SlabStart { .. } | Event::SlabEnd { .. } | Event::Other => {}
        }
        let mut closed = std::mem::take(&mut self.closed);
        let step: Step = self.tracker.push(h, &rec.event, &mut closed);
        if let Some(call) = step.slab_call {
            let s = match self.shrinkers.get_mut(call.shrinker) {
                Some(s) => s,
                None => {
                    let t = ShrinkerTotals {
                        shrinker: call.shrinker.to_string(),
                        calls: 0,
                        ns: 0,
                        in_episode_ns: 0,
                    };
                    self.shrinkers.entry(call.shrinker.to_string()).or_insert(t)
                }
            };
            s.calls += 1;
            s.ns += call.ns;
            if call.in_episode {
                s.in_episode_ns += call.ns;
            }
        }
        for e in closed.drain(..) {
            self.episode(e);
        }
        self.closed = closed;
    }

    fn episode(&mut self, e: Episode) {
        let k = &mut self.kinds[e.kind.index()];
        match e.end {
            EpisodeEnd::Complete => k.complete += 1,
            EpisodeEnd::OpenAtEnd => k.open_at_end += 1,
            EpisodeEnd::Superseded => k.superseded += 1,
        }
        if e.end == EpisodeEnd::Complete {
            k.total_ns += e.duration_ns;
            k.hist.add(e.duration_ns);
            k.slab_ns += e.slab_ns;
            k.throttled_us += e.throttled_us;
            k.anon.scanned += e.anon.scanned;
            k.anon.reclaimed += e.anon.reclaimed;
            k.file.scanned += e.file.scanned;
            k.file.reclaimed += e.file.reclaimed;
            if let Some(p) = e.lowest_priority {
                k.lowest_priority = Some(k.lowest_priority.map_or(p, |q| q.min(p)));
                if (0..=12).contains(&p) {
                    k.by_lowest_priority[p as usize] += 1;
                }
                if p <= 8 {
                    k.priority_le_8 += 1;
                }
            }
            if let Some(n) = e.nr_reclaimed {
                k.reclaimed += n;
                if n < LOW_RECLAIM {
                    k.under_32 += 1;
                }
            }
            // Looked up before an owned key is made: most episodes are of a task already seen.
            let t = match self.tasks.get_mut(&e.comm) {
                Some(t) => t,
                None => {
                    let t = TaskLatency {
                        comm: e.comm.clone(),
                        episodes: 0,
                        pids: 0,
                        reclaimed: 0,
                        under_32: 0,
                        total_ns: 0,
                        p50_ns: 0,
                        p99_ns: 0,
                        max_ns: 0,
                        hist: LatencyHist::default(),
                        pid_set: BTreeSet::new(),
                    };
                    self.tasks.entry(e.comm.clone()).or_insert(t)
                }
            };
            t.episodes += 1;
            t.total_ns += e.duration_ns;
            t.hist.add(e.duration_ns);
            if t.pid_set.len() < 10_000 {
                t.pid_set.insert(e.pid);
            }
            if let Some(n) = e.nr_reclaimed {
                t.reclaimed += n;
                if n < LOW_RECLAIM {
                    t.under_32 += 1;
                }
            }
            if self.longest.len() < self.opts.keep_longest
                || self.longest.last().is_some_and(|l| l.duration_ns < e.duration_ns)
            {
                let pos = self.longest.partition_point(|l| l.duration_ns >= e.duration_ns);
                self.longest.insert(pos, e.clone());
                self.longest.truncate(self.opts.keep_longest);
            }
        }
        if self.first.len() < self.opts.keep_first {
            self.first.push(e);
        } else {
            self.tracker.recycle(e);
        }
    }

    /// Closes open episodes and rows and builds the report.
    pub fn finish(mut self, source: &str, scan: ScanStats, diags: Vec<Diag>) -> ReclaimReport {
        let tracker = std::mem::take(&mut self.tracker);
        let counts = tracker.counts;
        for e in tracker.finish(self.last_ts) {
            self.episode(e);
        }
        for (i, k) in self.kinds.iter_mut().enumerate() {
            k.unmatched_end = counts.unmatched_end[i];
            k.p50_ns = k.hist.quantile(0.5);
            k.p99_ns = k.hist.quantile(0.99);
            k.max_ns = k.hist.max_ns;
        }
        let mut rows = std::mem::take(&mut self.rows);
        rows.extend(std::mem::take(&mut self.table).finish());
        let mut tasks: Vec<TaskLatency> = self
            .tasks
            .into_values()
            .map(|mut t| {
                t.p50_ns = t.hist.quantile(0.5);
                t.p99_ns = t.hist.quantile(0.99);
                t.max_ns = t.hist.max_ns;
                t.pids = t.pid_set.len() as u64;
                t
            })
            .collect();
        tasks.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then_with(|| a.comm.cmp(&b.comm)));
        let mut shrinkers: Vec<ShrinkerTotals> = self.shrinkers.into_values().collect();
        shrinkers.sort_by(|a, b| b.ns.cmp(&a.ns).then_with(|| a.shrinker.cmp(&b.shrinker)));
        let mut throttle: Vec<ThrottleTotals> = self.throttle.into_values().collect();
        throttle.sort_by(|a, b| b.delayed_us.cmp(&a.delayed_us).then_with(|| a.reason.cmp(&b.reason)));
        let scanned = self.anon.scanned + self.file.scanned + self.other.scanned;
        let reclaimed = self.anon.reclaimed + self.file.reclaimed + self.other.reclaimed;
        let fg_ns: u64 =
            self.kinds.iter().filter(|k| k.kind != EpisodeKind::Kswapd).map(|k| k.total_ns).sat_sum();
        let fg_slab: u64 =
            self.kinds.iter().filter(|k| k.kind != EpisodeKind::Kswapd).map(|k| k.slab_ns).sat_sum();
        let span_ns = match (scan.first_ts_ns, scan.last_ts_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        ReclaimReport {
            source: source.to_string(),
            scan,
            diags,
            span_ns,
            kinds: self.kinds,
            tasks,
            anon: self.anon,
            file: self.file,
            reclaim_pages: self.reclaim_pages,
            isolate: self.isolate.iter().filter(|t| t.calls > 0).copied().collect(),
            nr_dirty: self.nr_dirty,
            nr_writeback: self.nr_writeback,
            nr_immediate: self.nr_immediate,
            efficiency: (scanned > 0).then(|| reclaimed as f64 / scanned as f64),
            shrinkers,
            slab_share: (fg_ns > 0).then(|| fg_slab as f64 / fg_ns as f64),
            throttle,
            oom_victims: self.oom,
            cgroup_mkdir: self.cgroup_mkdir,
            cgroup_rmdir: self.cgroup_rmdir,
            kswapd_wakeups_requested: self.wakeups,
            cpu_seconds: rows,
            first_episodes: self.first,
            longest_episodes: self.longest,
            tracker: counts,
            context: ReclaimContext::default(),
        }
    }
}
