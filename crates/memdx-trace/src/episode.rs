//! Reclaim episodes: from a `*_reclaim_begin` to the matching `*_reclaim_end` of the same task
//! (tasks migrate between CPUs mid-episode, so episodes are keyed by pid), or from
//! `mm_vmscan_kswapd_wake` to `mm_vmscan_kswapd_sleep`. Events of the task in between are
//! attributed to its innermost open episode (soft-limit reclaim nests inside direct reclaim and
//! kswapd).

use crate::event::{EpisodeKind, Event, Lru};
use crate::line::RawEvent;
use std::collections::HashMap;

/// Pages scanned and reclaimed from one LRU type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReclaim {
    pub scanned: u64,
    pub reclaimed: u64,
}

/// Calls and time of one shrinker (by `scan_objects` symbol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShrinkerUse {
    pub shrinker: String,
    pub calls: u64,
    pub ns: u64,
}

/// How an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpisodeEnd {
    /// Its end event was seen.
    Complete,
    /// The trace ended first.
    OpenAtEnd,
    /// A new begin of the same kind came first (a lost end event).
    Superseded,
}

/// One reclaim episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub kind: EpisodeKind,
    pub comm: String,
    pub pid: i32,
    /// CPU at the begin event, and at the end event (the task may have migrated).
    pub cpu: Option<u32>,
    pub end_cpu: Option<u32>,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// From the end event (`None` for kswapd, whose sleep event carries no count, and for
    /// episodes without an end).
    pub nr_reclaimed: Option<u64>,
    pub order: Option<i32>,
    /// Lowest scan priority reached (12 is the gentlest, 0 the most aggressive).
    pub lowest_priority: Option<i32>,
    pub anon: ScanReclaim,
    pub file: ScanReclaim,
    /// `mm_vmscan_reclaim_pages` or shrink events whose LRU type is unknown.
    pub other: ScanReclaim,
    /// Pages taken by `mm_vmscan_lru_isolate`, per LRU (inactive_anon, active_anon, inactive_file,
    /// active_file, unevictable).
    pub isolated: [u64; 5],
    pub slab_calls: u64,
    pub slab_ns: u64,
    pub shrinkers: Vec<ShrinkerUse>,
    /// `mm_vmscan_throttled` events and the time they report as delayed.
    pub throttled: u64,
    pub throttled_us: u64,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_immediate: u64,
    pub end: EpisodeEnd,
}

impl Episode {
    /// A new open episode of `h`'s task, in the given buffers (`comm` gets the task's name,
    /// `shrinkers` must be empty).
    fn started(
        kind: EpisodeKind,
        h: &RawEvent<'_>,
        order: Option<i32>,
        mut comm: String,
        shrinkers: Vec<ShrinkerUse>,
    ) -> Self {
        comm.clear();
        comm.push_str(h.comm);
        Episode {
            kind,
            comm,
            pid: h.pid,
            cpu: h.cpu,
            end_cpu: None,
            start_ns: h.ts_ns,
            duration_ns: 0,
            nr_reclaimed: None,
            order,
            lowest_priority: None,
            anon: ScanReclaim::default(),
            file: ScanReclaim::default(),
            other: ScanReclaim::default(),
            isolated: [0; 5],
            slab_calls: 0,
            slab_ns: 0,
            shrinkers,
            throttled: 0,
            throttled_us: 0,
            nr_dirty: 0,
            nr_writeback: 0,
            nr_immediate: 0,
            end: EpisodeEnd::OpenAtEnd,
        }
    }

    fn prio(&mut self, p: Option<i32>) {
        if let Some(p) = p {
            self.lowest_priority = Some(self.lowest_priority.map_or(p, |q| q.min(p)));
        }
    }

    pub fn scanned(&self) -> u64 {
        self.anon.scanned + self.file.scanned + self.other.scanned
    }
}

#[derive(Debug, Default)]
struct Task {
    stack: Vec<Episode>,
    last_lru: Option<Lru>,
    /// Start of the open shrink_slab call, and its shrinker in `slab_name`.
    slab_open: Option<u64>,
    slab_name: String,
}

/// Most finished tasks, episodes and shrinker names kept for reuse: the tracker allocates while
/// it meets new tasks, not per event or per episode.
const MAX_SPARE: usize = 64;

/// What the tracker saw besides complete episodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerCounts {
    /// End (or kswapd sleep) events with no open episode: the trace started mid-episode.
    pub unmatched_end: [u64; 5],
    /// `mm_shrink_slab_end` without a start on the same task.
    pub unmatched_slab_end: u64,
}

/// A shrink_slab call, completed (start and end seen on the same task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabCall<'a> {
    pub shrinker: &'a str,
    pub ns: u64,
    pub in_episode: bool,
}

/// Streaming episode builder; state is per task with an open episode, not per event.
#[derive(Debug, Default)]
pub struct EpisodeTracker {
    tasks: HashMap<i32, Task, foldhash::fast::FixedState>,
    pub counts: TrackerCounts,
    /// Finished tasks, episodes and shrinker names, for reuse.
    spare_tasks: Vec<Task>,
    spare_episodes: Vec<Episode>,
    spare_names: Vec<String>,
}

/// What one event produced (the episodes it closed go to the caller's vector).
#[derive(Debug, Default)]
pub struct Step<'a> {
    pub slab_call: Option<SlabCall<'a>>,
    /// The event belonged to an open episode.
    pub in_episode: bool,
}

impl EpisodeTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands back an episode the caller is done with, so that its buffers serve a later one.
    pub fn recycle(&mut self, e: Episode) {
        if self.spare_episodes.len() < MAX_SPARE {
            self.spare_episodes.push(e);
        }
    }

    /// A new open episode, in the buffers of a recycled one when there is one.
    fn open(&mut self, kind: EpisodeKind, h: &RawEvent<'_>, order: Option<i32>) -> Episode {
        let (comm, mut shrinkers) = match self.spare_episodes.pop() {
            Some(e) => (e.comm, e.shrinkers),
            None => (String::new(), Vec::new()),
        };
        for s in shrinkers.drain(..) {
            if self.spare_names.len() < MAX_SPARE {
                self.spare_names.push(s.shrinker);
            }
        }
        Episode::started(kind, h, order, comm, shrinkers)
    }

    /// Feeds one event; the episodes it closes are appended to `closed`, in closing order.
    pub fn push<'e>(&mut self, h: &RawEvent<'_>, ev: &Event<'e>, closed: &mut Vec<Episode>) -> Step<'e> {
        let mut step = Step::default();
        let closed_before = closed.len();
        if matches!(
            ev,
            Event::Other
                | Event::CgroupMkdir { .. }
                | Event::CgroupRmdir { .. }
                | Event::OomVictim { .. }
                | Event::WakeupKswapd { .. }
        ) {
            return step;
        }
        // A begin opens its episode before the task is looked up (both need the tracker).
        let begin = match ev {
            Event::ReclaimBegin { kind, order, .. } => Some(self.open(*kind, h, *order)),
            Event::KswapdWake { order, .. } => Some(self.open(EpisodeKind::Kswapd, h, *order)),
            _ => None,
        };
        let spare = &mut self.spare_tasks;
        let task = self.tasks.entry(h.pid).or_insert_with(|| spare.pop().unwrap_or_default());
        match ev {
            Event::ReclaimBegin { .. } | Event::KswapdWake { .. } => {
                if let Some(new) = begin {
                    // A begin of a kind already open on this task means the end was lost.
                    if let Some(pos) = task.stack.iter().position(|e| e.kind == new.kind) {
                        for mut e in task.stack.drain(pos..).rev() {
                            e.end = EpisodeEnd::Superseded;
                            e.duration_ns = h.ts_ns.saturating_sub(e.start_ns);
                            closed.push(e);
                        }
                    }
                    task.stack.push(new);
                }
            }
            Event::ReclaimEnd { kind, nr_reclaimed } => {
                Self::close(task, &mut self.counts, *kind, h, Some(*nr_reclaimed), closed);
            }
            Event::KswapdSleep { .. } => {
                Self::close(task, &mut self.counts, EpisodeKind::Kswapd, h, None, closed);
            }
            Event::Isolate(i) => {
                task.last_lru = i.lru;
                if let (Some(e), Some(lru)) = (task.stack.last_mut(), i.lru) {
                    e.isolated[lru.index()] += i.nr_taken;
                }
            }
            Event::ShrinkInactive(s) | Event::ReclaimPages(s) => {
                let is_pages = matches!(ev, Event::ReclaimPages(_));
                let file = if is_pages { None } else { s.file.or(task.last_lru.map(Lru::is_file)) };
                if let Some(e) = task.stack.last_mut() {
                    let bucket = match file {
                        Some(true) => &mut e.file,
                        Some(false) => &mut e.anon,
                        None => &mut e.other,
                    };
                    bucket.scanned += s.nr_scanned;
                    bucket.reclaimed += s.nr_reclaimed;
                    e.nr_dirty += s.nr_dirty.unwrap_or(0);
                    e.nr_writeback += s.nr_writeback.unwrap_or(0);
                    e.nr_immediate += s.nr_immediate.unwrap_or(0);
                    e.prio(s.priority);
                }
            }
            Event::ShrinkActive { priority, .. } => {
                if let Some(e) = task.stack.last_mut() {
                    e.prio(*priority);
                }
            }
            Event::SlabStart { shrinker, priority, .. } => {
                task.slab_open = Some(h.ts_ns);
                task.slab_name.clear();
                task.slab_name.push_str(shrinker);
                if let Some(e) = task.stack.last_mut() {
                    e.prio(*priority);
                }
            }
            Event::SlabEnd { shrinker, .. } => match task.slab_open.take() {
                Some(t0) if task.slab_name == *shrinker => {
                    let ns = h.ts_ns.saturating_sub(t0);
                    let in_episode = !task.stack.is_empty();
                    if let Some(e) = task.stack.last_mut() {
                        e.slab_calls += 1;
                        e.slab_ns += ns;
                        match e.shrinkers.iter_mut().find(|s| s.shrinker == *shrinker) {
                            Some(s) => {
                                s.calls += 1;
                                s.ns += ns;
                            }
                            None => {
                                let mut name = self.spare_names.pop().unwrap_or_default();
                                name.clear();
                                name.push_str(shrinker);
                                e.shrinkers.push(ShrinkerUse { shrinker: name, calls: 1, ns });
                            }
                        }
                    }
                    step.slab_call = Some(SlabCall { shrinker, ns, in_episode });
                }
                _ => self.counts.unmatched_slab_end += 1,
            },
            Event::Throttled { usec_delayed, .. } => {
                if let Some(e) = task.stack.last_mut() {
                    e.throttled += 1;
                    e.throttled_us += usec_delayed;
                }
            }
            Event::Other
            | Event::CgroupMkdir { .. }
            | Event::CgroupRmdir { .. }
            | Event::OomVictim { .. }
            | Event::WakeupKswapd { .. } => {}
        }
        step.in_episode = !task.stack.is_empty() || closed.len() > closed_before;
        if task.stack.is_empty() && task.slab_open.is_none() {
            if let Some(mut t) = self.tasks.remove(&h.pid) {
                if self.spare_tasks.len() < MAX_SPARE {
                    t.last_lru = None;
                    self.spare_tasks.push(t);
                }
            }
        }
        step
    }

    fn close(
        task: &mut Task,
        counts: &mut TrackerCounts,
        kind: EpisodeKind,
        h: &RawEvent<'_>,
        nr: Option<u64>,
        closed: &mut Vec<Episode>,
    ) {
        match task.stack.iter().rposition(|e| e.kind == kind) {
            Some(pos) => {
                // inner episodes whose end was lost close with this one
                while task.stack.len() > pos + 1 {
                    if let Some(mut inner) = task.stack.pop() {
                        inner.end = EpisodeEnd::Superseded;
                        inner.duration_ns = h.ts_ns.saturating_sub(inner.start_ns);
                        closed.push(inner);
                    }
                }
                if let Some(mut e) = task.stack.pop() {
                    e.end = EpisodeEnd::Complete;
                    e.end_cpu = h.cpu;
                    e.nr_reclaimed = nr;
                    e.duration_ns = h.ts_ns.saturating_sub(e.start_ns);
                    closed.push(e);
                }
            }
            None => counts.unmatched_end[kind.index()] += 1,
        }
    }

    /// Closes every open episode at the end of the trace (`last_ts_ns`), in start order.
    pub fn finish(self, last_ts_ns: u64) -> Vec<Episode> {
        let mut out: Vec<Episode> = self
            .tasks
            .into_values()
            .flat_map(|t| t.stack)
            .map(|mut e| {
                e.duration_ns = last_ts_ns.saturating_sub(e.start_ns);
                e.end = EpisodeEnd::OpenAtEnd;
                e
            })
            .collect();
        out.sort_by_key(|e| (e.start_ns, e.pid));
        out
    }
}
