//! Alloc/free pairing by `(cache, object pointer)`, for slub_debug `TRACE` records and for the
//! `kmem:kmem_cache_alloc`/`kmem_cache_free` tracepoints.
//!
//! Pointers are hashed per boot (`%p` since 4.15) but stable within a boot, so pairing works inside
//! one boot; a timestamp going backwards starts a new boot and resets the pairing state. Memory is
//! bounded by the objects outstanding (allocated in the window and not freed) plus the freed
//! objects not yet reused, plus one entry per distinct (call path, comm): not by the input size.

use crate::stack::{Frame, Stack, StackId, StackTable};
use memdx_core::SourceRef;
use std::collections::{HashMap, HashSet};

/// How many call paths each list keeps.
pub const TOP_PATHS: usize = 10;
/// Examples of repeated frees kept.
const MAX_EXAMPLES: usize = 5;
/// Length of the windows net growth is counted in, seconds.
pub const GROWTH_BUCKET_S: f64 = 60.0;
/// Buckets kept (a week of minutes): later events count in the last one.
const MAX_BUCKETS: usize = 7 * 24 * 60;

/// Counts for one call path (and the task that took it).
#[derive(Debug, Clone, PartialEq)]
pub struct PathCount {
    /// Caller frames, innermost first (allocator frames removed), without offsets.
    pub path: Vec<String>,
    /// The outermost non-generic kernel frame (`cgroup_mkdir`), see [`Stack::driver`].
    pub driver: Option<String>,
    pub comm: Option<String>,
    pub count: u64,
    /// Bytes, when the events carry sizes.
    pub bytes: u64,
    /// The first record that took this path.
    pub example: Option<SourceRef>,
    /// The example's frames with offsets, as printed.
    pub frames: Vec<Frame>,
}

impl PathCount {
    /// `a <- b <- c` of the first `n` frames.
    pub fn short(&self, n: usize) -> String {
        let mut s = self.path.iter().take(n).cloned().collect::<Vec<_>>().join(" <- ");
        if self.path.len() > n {
            s.push_str(" <- ...");
        }
        s
    }
}

/// Allocations rolled up by the driver function and comm.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverCount {
    pub driver: String,
    pub comm: Option<String>,
    pub allocs: u64,
    pub outstanding: u64,
}

/// What happened to one cache during the traced window.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheActivity {
    pub cache: String,
    pub allocs: u64,
    pub frees: u64,
    /// Seconds (since boot for slub_debug and ftrace clocks) of the first and last record.
    pub first_time: Option<f64>,
    pub last_time: Option<f64>,
    /// Window length: last minus first record, or the capture length when the caller sets it.
    pub span_s: Option<f64>,
    pub alloc_per_s: Option<f64>,
    pub free_per_s: Option<f64>,
    /// (allocs - frees) per hour over the window.
    pub net_per_hour: Option<f64>,
    /// allocs - frees.
    pub net: i64,
    /// Objects allocated in the window and not freed in it.
    pub outstanding: u64,
    /// Frees of objects not allocated in the window (allocated before it started).
    pub freed_unallocated: u64,
    /// Frees of an object already freed in the window with no allocation of it seen in between.
    /// A double free only when the stream holds every allocation (slub_debug `TRACE`); kmem
    /// tracepoints do not see every allocation path, so there it is a count, not a verdict.
    pub repeated_frees: u64,
    /// Allocations of a pointer that was outstanding (its free was not seen: lost events or a free
    /// through an untraced path).
    pub realloc_unfreed: u64,
    pub repeated_free_examples: Vec<SourceRef>,
    /// Net growth (allocs - frees) per [`GROWTH_BUCKET_S`] window since the first record; the last
    /// window is usually partial.
    pub net_by_window: Vec<i64>,
    pub outstanding_by_path: Vec<PathCount>,
    pub allocs_by_path: Vec<PathCount>,
    pub frees_by_path: Vec<PathCount>,
    pub drivers: Vec<DriverCount>,
    pub first_source: Option<SourceRef>,
}

impl CacheActivity {
    /// The path holding the most outstanding objects.
    pub fn top_outstanding(&self) -> Option<&PathCount> {
        self.outstanding_by_path.first()
    }
}

/// The pairing result for every cache seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairingReport {
    /// Caches by allocations, most first.
    pub caches: Vec<CacheActivity>,
    pub records: u64,
    /// Boots seen (timestamps going backwards); pairing restarts at each.
    pub boots: u32,
}

impl PairingReport {
    pub fn cache(&self, name: &str) -> Option<&CacheActivity> {
        self.caches.iter().find(|c| c.cache == name)
    }
}

#[derive(Debug, Default)]
struct CacheState {
    name: String,
    allocs: u64,
    frees: u64,
    bytes: u64,
    first: Option<f64>,
    last: Option<f64>,
    freed_unallocated: u64,
    repeated_frees: u64,
    realloc_unfreed: u64,
    repeated_examples: Vec<SourceRef>,
    net_by_window: Vec<i64>,
    first_source: Option<SourceRef>,
}

#[derive(Debug)]
struct Group {
    cache: u32,
    stack: StackId,
    comm: u32,
    count: u64,
    bytes: u64,
    example: SourceRef,
}

/// The group of `key` (cache, stack, comm), created on first sight with `example` as its source.
fn group_id(
    groups: &mut Vec<Group>,
    ids: &mut HashMap<(u32, StackId, u32), u32>,
    key: (u32, StackId, u32),
    example: &SourceRef,
) -> u32 {
    *ids.entry(key).or_insert_with(|| {
        groups.push(Group {
            cache: key.0,
            stack: key.1,
            comm: key.2,
            count: 0,
            bytes: 0,
            example: example.clone(),
        });
        groups.len() as u32 - 1
    })
}

/// One side of an event: what the pairing needs.
pub struct Event<'a> {
    pub cache: &'a str,
    pub ptr: u64,
    pub stack: Stack,
    pub comm: Option<&'a str>,
    /// Seconds.
    pub time: Option<f64>,
    /// Bytes allocated (0 when unknown).
    pub bytes: u64,
    pub source: &'a SourceRef,
}

/// Streaming alloc/free pairing.
#[derive(Debug, Default)]
pub struct Pairing {
    caches: Vec<CacheState>,
    cache_ids: HashMap<String, u32>,
    stacks: StackTable,
    comms: Vec<String>,
    comm_ids: HashMap<String, u32>,
    alloc_groups: Vec<Group>,
    alloc_group_ids: HashMap<(u32, StackId, u32), u32>,
    free_groups: Vec<Group>,
    free_group_ids: HashMap<(u32, StackId, u32), u32>,
    /// (cache, ptr) -> alloc group.
    outstanding: HashMap<(u32, u64), u32>,
    freed: HashSet<(u32, u64)>,
    /// Outstanding objects of earlier boots, per alloc group.
    carried: HashMap<u32, u64>,
    last_time: Option<f64>,
    records: u64,
    boots: u32,
}

impl Pairing {
    pub fn new() -> Self {
        Pairing { boots: 1, ..Default::default() }
    }

    fn cache_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.cache_ids.get(name) {
            return id;
        }
        let id = self.caches.len() as u32;
        self.caches.push(CacheState { name: name.to_string(), ..Default::default() });
        self.cache_ids.insert(name.to_string(), id);
        id
    }

    fn comm_id(&mut self, comm: Option<&str>) -> u32 {
        let c = comm.unwrap_or("");
        if let Some(&id) = self.comm_ids.get(c) {
            return id;
        }
        let id = self.comms.len() as u32;
        self.comms.push(c.to_string());
        self.comm_ids.insert(c.to_string(), id);
        id
    }

    fn clock(&mut self, cache: u32, time: Option<f64>, source: &SourceRef) {
        if let Some(t) = time {
            if self.last_time.is_some_and(|l| t + 1.0 < l) {
                self.new_boot();
            }
            self.last_time = Some(t);
        }
        let c = &mut self.caches[cache as usize];
        if let Some(t) = time {
            c.first.get_or_insert(t);
            c.last = Some(t);
        }
        if c.first_source.is_none() {
            c.first_source = Some(source.clone());
        }
    }

    /// Adds `d` to the growth window of `time`.
    fn grow(&mut self, cache: u32, time: Option<f64>, d: i64) {
        let c = &mut self.caches[cache as usize];
        let (Some(t), Some(first)) = (time, c.first) else { return };
        let i = (((t - first).max(0.0) / GROWTH_BUCKET_S) as usize).min(MAX_BUCKETS - 1);
        if c.net_by_window.len() <= i {
            c.net_by_window.resize(i + 1, 0);
        }
        c.net_by_window[i] += d;
    }

    fn new_boot(&mut self) {
        self.boots += 1;
        for (_, g) in self.outstanding.drain() {
            *self.carried.entry(g).or_insert(0) += 1;
        }
        self.freed.clear();
    }

    /// Records an allocation.
    pub fn alloc(&mut self, ev: Event<'_>) {
        self.records += 1;
        let cache = self.cache_id(ev.cache);
        self.clock(cache, ev.time, ev.source);
        self.grow(cache, ev.time, 1);
        let stack = self.stacks.intern(ev.stack);
        let comm = self.comm_id(ev.comm);
        let gid =
            group_id(&mut self.alloc_groups, &mut self.alloc_group_ids, (cache, stack, comm), ev.source);
        let g = &mut self.alloc_groups[gid as usize];
        g.count += 1;
        g.bytes += ev.bytes;
        let c = &mut self.caches[cache as usize];
        c.allocs += 1;
        c.bytes += ev.bytes;
        self.freed.remove(&(cache, ev.ptr));
        if self.outstanding.insert((cache, ev.ptr), gid).is_some() {
            self.caches[cache as usize].realloc_unfreed += 1;
        }
    }

    /// Records a free.
    pub fn free(&mut self, ev: Event<'_>) {
        self.records += 1;
        let cache = self.cache_id(ev.cache);
        self.clock(cache, ev.time, ev.source);
        self.grow(cache, ev.time, -1);
        let stack = self.stacks.intern(ev.stack);
        let comm = self.comm_id(ev.comm);
        let gid = group_id(&mut self.free_groups, &mut self.free_group_ids, (cache, stack, comm), ev.source);
        self.free_groups[gid as usize].count += 1;
        let key = (cache, ev.ptr);
        let c = &mut self.caches[cache as usize];
        c.frees += 1;
        if self.outstanding.remove(&key).is_some() {
            self.freed.insert(key);
        } else if self.freed.contains(&key) {
            c.repeated_frees += 1;
            if c.repeated_examples.len() < MAX_EXAMPLES {
                c.repeated_examples.push(ev.source.clone());
            }
        } else {
            c.freed_unallocated += 1;
            self.freed.insert(key);
        }
    }

    /// Whether `ptr` of `cache` was allocated in the window and not freed yet.
    pub fn is_outstanding(&self, cache: &str, ptr: u64) -> bool {
        self.cache_ids.get(cache).is_some_and(|c| self.outstanding.contains_key(&(*c, ptr)))
    }

    /// Objects currently outstanding (all caches).
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    fn path_count(&self, g: &Group, count: u64) -> PathCount {
        let st = self.stacks.get(g.stack);
        let comm = &self.comms[g.comm as usize];
        PathCount {
            path: st.map(|s| s.key().iter().map(|k| k.to_string()).collect()).unwrap_or_default(),
            driver: st.and_then(|s| s.driver()).map(str::to_string),
            comm: (!comm.is_empty()).then(|| comm.clone()),
            count,
            bytes: g.bytes,
            example: Some(g.example.clone()),
            frames: st.map(|s| s.caller_frames().to_vec()).unwrap_or_default(),
        }
    }

    /// The report. `span_s` overrides the window length (a live capture knows its duration).
    pub fn finish(self, span_s: Option<f64>) -> PairingReport {
        let mut out_per_group: HashMap<u32, u64> = self.carried.clone();
        for g in self.outstanding.values() {
            *out_per_group.entry(*g).or_insert(0) += 1;
        }
        let mut caches = Vec::new();
        for (ci, c) in self.caches.iter().enumerate() {
            let ci = ci as u32;
            let span = span_s.or(match (c.first, c.last) {
                (Some(a), Some(b)) if b > a => Some(b - a),
                _ => None,
            });
            let rate = |n: u64| span.filter(|s| *s > 0.0).map(|s| n as f64 / s);
            let net = c.allocs as i64 - c.frees as i64;
            let mut outstanding_by_path = Vec::new();
            let mut allocs_by_path = Vec::new();
            let mut drivers: HashMap<(String, u32), (u64, u64)> = HashMap::new();
            let mut outstanding = 0;
            for (gi, g) in self.alloc_groups.iter().enumerate().filter(|(_, g)| g.cache == ci) {
                let o = out_per_group.get(&(gi as u32)).copied().unwrap_or(0);
                outstanding += o;
                if o > 0 {
                    outstanding_by_path.push(self.path_count(g, o));
                }
                allocs_by_path.push(self.path_count(g, g.count));
                let driver = self.stacks.get(g.stack).and_then(|s| s.driver()).unwrap_or("?").to_string();
                let d = drivers.entry((driver, g.comm)).or_insert((0, 0));
                d.0 += g.count;
                d.1 += o;
            }
            let mut frees_by_path: Vec<PathCount> = self
                .free_groups
                .iter()
                .filter(|g| g.cache == ci)
                .map(|g| self.path_count(g, g.count))
                .collect();
            for v in [&mut outstanding_by_path, &mut allocs_by_path, &mut frees_by_path] {
                v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
                v.truncate(TOP_PATHS);
            }
            let mut drivers: Vec<DriverCount> = drivers
                .into_iter()
                .map(|((driver, comm), (allocs, outstanding))| {
                    let comm = &self.comms[comm as usize];
                    DriverCount {
                        driver,
                        comm: (!comm.is_empty()).then(|| comm.clone()),
                        allocs,
                        outstanding,
                    }
                })
                .collect();
            drivers.sort_by(|a, b| b.allocs.cmp(&a.allocs).then_with(|| a.driver.cmp(&b.driver)));
            drivers.truncate(TOP_PATHS);
            caches.push(CacheActivity {
                cache: c.name.clone(),
                allocs: c.allocs,
                frees: c.frees,
                first_time: c.first,
                last_time: c.last,
                span_s: span,
                alloc_per_s: rate(c.allocs),
                free_per_s: rate(c.frees),
                net_per_hour: span.filter(|s| *s > 0.0).map(|s| net as f64 / s * 3600.0),
                net,
                outstanding,
                freed_unallocated: c.freed_unallocated,
                repeated_frees: c.repeated_frees,
                realloc_unfreed: c.realloc_unfreed,
                repeated_free_examples: c.repeated_examples.clone(),
                net_by_window: c.net_by_window.clone(),
                outstanding_by_path,
                allocs_by_path,
                frees_by_path,
                drivers,
                first_source: c.first_source.clone(),
            });
        }
        caches.sort_by(|a, b| b.allocs.cmp(&a.allocs).then_with(|| a.cache.cmp(&b.cache)));
        PairingReport { caches, records: self.records, boots: self.boots }
    }
}

/// A [`memdx_log::Sink`] that pairs slub_debug `TRACE` records as the log engine completes them.
///
/// ```ignore
/// let mut p = SlubPairing::default();
/// let scan = memdx_log::scan_with(reader, "kern.log", &mut p);
/// let report = p.finish();
/// ```
#[derive(Debug, Default)]
pub struct SlubPairing {
    pub pairing: Pairing,
}

impl SlubPairing {
    pub fn new() -> Self {
        SlubPairing { pairing: Pairing::new() }
    }

    pub fn finish(self) -> PairingReport {
        self.pairing.finish(None)
    }
}

impl memdx_log::Sink for SlubPairing {
    /// Only TRACE records are used: repeats of folded reports need not be fully built.
    fn wants_reports(&self) -> bool {
        false
    }

    fn slub_trace(&mut self, rec: &memdx_log::SlubTrace) {
        let ev = Event {
            cache: &rec.cache,
            ptr: rec.ptr,
            stack: crate::stack::from_log_frames(&rec.frames),
            comm: rec.comm.as_deref(),
            time: rec.time.monotonic,
            bytes: 0,
            source: &rec.source,
        };
        if rec.alloc {
            self.pairing.alloc(ev);
        } else {
            self.pairing.free(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Frame;

    fn ev<'a>(ptr: u64, f: &str, t: f64, src: &'a SourceRef) -> Event<'a> {
        Event {
            cache: "c",
            ptr,
            stack: Stack { frames: vec![Frame::kernel(f, None)] },
            comm: Some("x"),
            time: Some(t),
            bytes: 0,
            source: src,
        }
    }

    #[test]
    fn pairs_repeated_frees_and_unallocated() {
        let s = SourceRef::new("t");
        let mut p = Pairing::new();
        p.alloc(ev(1, "a", 1.0, &s));
        p.alloc(ev(2, "a", 2.0, &s));
        p.alloc(ev(3, "b", 3.0, &s));
        p.free(ev(1, "f", 4.0, &s));
        p.free(ev(1, "f", 5.0, &s));
        p.free(ev(9, "f", 6.0, &s));
        let r = p.finish(None);
        let c = &r.caches[0];
        assert_eq!(
            (c.allocs, c.frees, c.outstanding, c.repeated_frees, c.freed_unallocated),
            (3, 3, 2, 1, 1)
        );
        assert_eq!(c.outstanding_by_path[0].path, vec!["a".to_string()]);
        assert_eq!(c.span_s, Some(5.0));
    }
}
