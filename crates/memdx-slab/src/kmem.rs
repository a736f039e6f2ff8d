//! kmem and cgroup tracepoints in ftrace text (`trace`/`trace_pipe`, also a `--save`d capture):
//! `kmem:kmem_cache_alloc`/`kmem_cache_free` paired per object, `kmem:kmalloc` and
//! `kmem:mm_page_alloc` grouped by call path for large allocations, `cgroup:cgroup_mkdir`/`rmdir`
//! counted by comm. Stacks come from `options/stacktrace` or a `stacktrace` trigger: a
//! `<stack trace>` entry with ` => func` lines right after its event on the same CPU.
//!
//! memdx-trace's line splitter reads the event header; the kmem payloads (`key=value`) are read
//! here because memdx-trace models reclaim events only.
//!
//! Order: `trace`/`trace_pipe` merge the per-CPU ring buffers by timestamp, and the pairing must see
//! events in that order (an alloc on CPU1 before the free on CPU0 of the same pointer). An event waits
//! for its stack (written right after it on the same CPU, possibly after other CPUs' events), then is
//! released in timestamp order: when its stack has ended, another event arrived on its CPU, or the
//! stream moved [`REORDER_WINDOW_NS`] past it. Memory: the events of that window.

use crate::pairing::{Event, Pairing, PairingReport, PathCount, TOP_PATHS};
use crate::stack::{parse_sym, Frame, Stack, StackId, StackTable};
use memdx_core::{Diag, SourceRef};
use memdx_trace::line::{split_line, LineKind};
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

/// How far (trace clock) the stream may move past an event before it is released without a stack.
pub const REORDER_WINDOW_NS: u64 = 50_000_000;
/// Events held at most, whatever their timestamps (a bound for damaged clocks).
const MAX_HELD: usize = 100_000;
/// Large allocations tracked until their free, at most (kmalloc and pages each).
const MAX_LIVE: usize = 1_000_000;

/// One bucket of a power-of-two histogram: values in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub from: u64,
    pub to: u64,
    pub count: u64,
}

/// Allocations made during the capture and not freed by its end (`kmem:kfree`, `kmem:mm_page_free`
/// traced), by call path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveAllocs {
    pub count: u64,
    pub bytes: u64,
    /// Age at the end of the capture of the oldest one, seconds.
    pub oldest_s: f64,
    pub by_bytes: Vec<PathCount>,
}

/// What to keep from the trace.
#[derive(Debug, Clone, Default)]
pub struct KmemOptions {
    /// Cache names accepted for `kmem_cache_alloc`/`free` (`name` field); empty = every cache.
    pub caches: Vec<String>,
    /// Label for events without a `name` field (kernels before 6.1): those are accepted when
    /// `bytes_alloc` equals `fallback_size`, and frees only when they free an object seen allocated.
    pub fallback_label: Option<String>,
    pub fallback_size: Option<u64>,
    /// `kmalloc` events below this many requested bytes are ignored.
    pub min_bytes: u64,
    /// `mm_page_alloc` events below this order are ignored.
    pub min_order: u32,
    /// Caches created with SLAB_RECLAIM_ACCOUNT (`/sys/kernel/slab/X/reclaim_account`), when known.
    pub reclaimable: Vec<String>,
    /// Caches created with SLAB_TYPESAFE_BY_RCU (`/sys/kernel/slab/X/destroy_by_rcu`), when known.
    pub typesafe_rcu: Vec<String>,
}

/// Allocations grouped by call path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocPaths {
    pub events: u64,
    pub bytes: u64,
    pub by_count: Vec<PathCount>,
    pub by_bytes: Vec<PathCount>,
}

/// cgroup directory creation and removal seen in the trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupEvents {
    pub mkdir: u64,
    pub rmdir: u64,
    /// (comm, mkdir, rmdir), most mkdirs first.
    pub by_comm: Vec<CommCount>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommCount {
    pub comm: String,
    pub mkdir: u64,
    pub rmdir: u64,
}

/// The result of reading one kmem trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KmemReport {
    pub source: String,
    pub lines: u64,
    pub events: u64,
    /// Events with a `<stack trace>` attached.
    pub with_stack: u64,
    /// Events the ring buffer dropped (`[LOST N EVENTS]` lines, plus the per-CPU overrun and
    /// dropped counters of a live capture).
    pub lost: u64,
    /// Events whose timestamp is earlier than an event printed before them (released in timestamp
    /// order anyway when within [`REORDER_WINDOW_NS`]).
    pub out_of_order: u64,
    /// First to last event, seconds.
    pub span_s: Option<f64>,
    /// True when `kmem_cache_alloc` had no `name` field and the size fallback was used.
    pub name_fallback: bool,
    pub slab: PairingReport,
    pub kmalloc: AllocPaths,
    pub pages: AllocPaths,
    /// Requested sizes of the kept `kmalloc` events, power-of-two buckets (as bpftrace's `hist()`).
    pub kmalloc_sizes: Vec<Bucket>,
    /// Orders of the kept `mm_page_alloc` events: (order, count).
    pub page_orders: Vec<(u32, u64)>,
    /// Kept `kmalloc` allocations not freed by the end; `None` when the capture has no `kfree`.
    pub kmalloc_live: Option<LiveAllocs>,
    /// Kept page allocations not freed by the end; `None` when it has no `mm_page_free`.
    pub pages_live: Option<LiveAllocs>,
    pub cgroup: CgroupEvents,
    /// [`KmemOptions::reclaimable`] and [`KmemOptions::typesafe_rcu`] of the traced caches.
    pub reclaimable_caches: Vec<String>,
    pub typesafe_rcu_caches: Vec<String>,
    pub diags: Vec<Diag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CacheAlloc,
    CacheFree,
    Kmalloc,
    PageAlloc,
    Kfree,
    PageFree,
    Mkdir,
    Rmdir,
}

#[derive(Debug)]
struct Pending {
    kind: Kind,
    name: Option<String>,
    ptr: u64,
    bytes: u64,
    /// kmalloc: bytes requested; page allocations: the order.
    req: u64,
    call_site: Option<String>,
    comm: String,
    ts: f64,
    line: usize,
    frames: Vec<Frame>,
    stacked: bool,
    /// No stack can follow any more.
    done: bool,
}

#[derive(Debug, Default)]
struct PathAgg {
    stacks: StackTable,
    groups: HashMap<(StackId, String), (u64, u64, usize)>,
    events: u64,
    bytes: u64,
}

impl PathAgg {
    fn add(&mut self, stack: Stack, comm: &str, bytes: u64, line: usize) -> StackId {
        let id = self.stacks.intern(stack);
        let g = self.groups.entry((id, comm.to_string())).or_insert((0, 0, line));
        g.0 += 1;
        g.1 = g.1.saturating_add(bytes);
        self.events += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        id
    }

    /// The allocations of `live` (made through this aggregate) still outstanding at `end`.
    fn live(&self, live: &HashMap<u64, LiveAlloc>, end: f64, src: &SourceRef) -> LiveAllocs {
        let mut agg = PathAgg::default();
        let mut oldest = end;
        for a in live.values() {
            if let Some(st) = self.stacks.get(a.stack) {
                agg.add(st.clone(), &a.comm, a.bytes, a.line);
            }
            oldest = oldest.min(a.ts);
        }
        let paths = agg.finish(src);
        LiveAllocs {
            count: paths.events,
            bytes: paths.bytes,
            oldest_s: end - oldest,
            by_bytes: paths.by_bytes,
        }
    }

    fn finish(self, src: &SourceRef) -> AllocPaths {
        let all: Vec<PathCount> = self
            .groups
            .iter()
            .map(|((id, comm), (count, bytes, line))| {
                let st = self.stacks.get(*id);
                PathCount {
                    path: st.map(|s| s.key().iter().map(|k| k.to_string()).collect()).unwrap_or_default(),
                    driver: st.and_then(|s| s.driver()).map(str::to_string),
                    comm: (!comm.is_empty()).then(|| comm.clone()),
                    count: *count,
                    bytes: *bytes,
                    example: Some(src.at(*line)),
                    frames: st.map(|s| s.caller_frames().to_vec()).unwrap_or_default(),
                }
            })
            .collect();
        let mut by_count = all.clone();
        by_count.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
        by_count.truncate(TOP_PATHS);
        let mut by_bytes = all;
        by_bytes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
        by_bytes.truncate(TOP_PATHS);
        AllocPaths { events: self.events, bytes: self.bytes, by_count, by_bytes }
    }
}

/// An allocation not yet freed.
#[derive(Debug)]
struct LiveAlloc {
    stack: StackId,
    comm: String,
    bytes: u64,
    ts: f64,
    line: usize,
}

/// Streaming reader of kmem trace text; feed lines with [`KmemTrace::line`].
#[derive(Debug)]
pub struct KmemTrace {
    opts: KmemOptions,
    src: SourceRef,
    /// Events not yet released, by (timestamp, arrival).
    held: BTreeMap<(u64, u64), Pending>,
    /// The newest held event of each CPU (the one a `<stack trace>` belongs to).
    open: HashMap<u32, (u64, u64)>,
    seq: u64,
    newest_ns: u64,
    stack_cpu: Option<u32>,
    pairing: Pairing,
    kmalloc: PathAgg,
    pages: PathAgg,
    /// Outstanding kept allocations by pointer (kmalloc) and pfn (pages).
    live_k: HashMap<u64, LiveAlloc>,
    live_p: HashMap<u64, LiveAlloc>,
    saw_kfree: bool,
    saw_page_free: bool,
    live_full: bool,
    sizes: BTreeMap<u32, u64>,
    orders: BTreeMap<u32, u64>,
    mk: HashMap<String, (u64, u64)>,
    report: KmemReport,
    first_ts: Option<f64>,
    last_ts: Option<f64>,
    damaged: u64,
    first_damaged: usize,
    unknown_names: u64,
}

fn field<'a>(payload: &'a str, key: &str) -> Option<&'a str> {
    payload.split(' ').find_map(|t| t.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

impl KmemTrace {
    pub fn new(source: &str, opts: KmemOptions) -> Self {
        KmemTrace {
            opts,
            src: SourceRef::new(source),
            held: BTreeMap::new(),
            open: HashMap::new(),
            seq: 0,
            newest_ns: 0,
            stack_cpu: None,
            pairing: Pairing::new(),
            kmalloc: PathAgg::default(),
            pages: PathAgg::default(),
            live_k: HashMap::new(),
            live_p: HashMap::new(),
            saw_kfree: false,
            saw_page_free: false,
            live_full: false,
            sizes: BTreeMap::new(),
            orders: BTreeMap::new(),
            mk: HashMap::new(),
            report: KmemReport { source: source.to_string(), ..Default::default() },
            first_ts: None,
            last_ts: None,
            damaged: 0,
            first_damaged: 0,
            unknown_names: 0,
        }
    }

    /// One line of trace text (1-based `lineno`).
    pub fn line(&mut self, line: &str, lineno: usize) {
        self.report.lines += 1;
        let t = line.trim_end_matches(['\n', '\r']);
        if let Some(f) = t.trim_start().strip_prefix("=> ") {
            if let Some(p) = self.open_event(self.stack_cpu) {
                let f = f.trim();
                let (func, offset) = parse_sym(f);
                let user = f.starts_with('<') || func.starts_with("0x");
                p.frames.push(Frame::symbol(func, offset, None, user));
            }
            return;
        }
        let stack_cpu = self.stack_cpu.take();
        if let Some(p) = self.open_event(stack_cpu) {
            // The stack's last frame was the previous line.
            p.done = true;
        }
        if t.contains(": <stack trace>") {
            self.stack_cpu = stack_header_cpu(t);
            if let Some(p) = self.open_event(self.stack_cpu) {
                if p.stacked {
                    // A second stack for one event: a stack of an event we did not keep.
                    self.stack_cpu = None;
                } else {
                    p.stacked = true;
                }
            }
            return;
        }
        match split_line(t) {
            LineKind::Event(e) => {
                let cpu = e.cpu.unwrap_or(0);
                let kind = match e.name {
                    "kmem_cache_alloc" => Kind::CacheAlloc,
                    "kmem_cache_free" => Kind::CacheFree,
                    "kmalloc" | "kmalloc_node" => Kind::Kmalloc,
                    "mm_page_alloc" => Kind::PageAlloc,
                    "kfree" => Kind::Kfree,
                    "mm_page_free" => Kind::PageFree,
                    "cgroup_mkdir" => Kind::Mkdir,
                    "cgroup_rmdir" => Kind::Rmdir,
                    _ => {
                        // Another event on this CPU closes the open one.
                        self.close(cpu, e.ts_ns);
                        return;
                    }
                };
                self.close(cpu, e.ts_ns);
                let ts = e.ts_ns as f64 / 1e9;
                self.first_ts.get_or_insert(ts);
                self.last_ts = Some(ts);
                self.report.events += 1;
                let pl = e.payload;
                let ptr_of = |pl: &str| field(pl, "ptr").and_then(hex).unwrap_or(0);
                // pfn=0x... since 4.x's pfn=%lu became hex (5.x); decimal before.
                let pfn_of = |pl: &str| {
                    field(pl, "pfn")
                        .and_then(|v| if v.starts_with("0x") { hex(v) } else { v.parse().ok() })
                        .unwrap_or(0)
                };
                let order_of = |pl: &str| field(pl, "order").and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                let (name, ptr, bytes, req) = match kind {
                    Kind::CacheAlloc | Kind::CacheFree => (
                        field(pl, "name").map(str::to_string),
                        ptr_of(pl),
                        field(pl, "bytes_alloc").and_then(|v| v.parse().ok()).unwrap_or(0),
                        0,
                    ),
                    Kind::Kmalloc => {
                        let req: u64 = field(pl, "bytes_req").and_then(|v| v.parse().ok()).unwrap_or(0);
                        if req < self.opts.min_bytes {
                            return;
                        }
                        (
                            None,
                            ptr_of(pl),
                            field(pl, "bytes_alloc").and_then(|v| v.parse().ok()).unwrap_or(req),
                            req,
                        )
                    }
                    Kind::PageAlloc | Kind::PageFree => {
                        let order = order_of(pl);
                        if order < self.opts.min_order {
                            return;
                        }
                        (None, pfn_of(pl), 4096u64 << order.min(20), u64::from(order))
                    }
                    Kind::Kfree => (None, ptr_of(pl), 0, 0),
                    Kind::Mkdir | Kind::Rmdir => (field(pl, "path").map(str::to_string), 0, 0, 0),
                };
                let key = (e.ts_ns, self.seq);
                self.seq += 1;
                self.open.insert(cpu, key);
                self.held.insert(
                    key,
                    Pending {
                        kind,
                        name,
                        ptr,
                        bytes,
                        req,
                        call_site: field(pl, "call_site").map(str::to_string),
                        comm: e.comm.to_string(),
                        ts,
                        line: lineno,
                        frames: Vec::new(),
                        stacked: false,
                        done: false,
                    },
                );
            }
            LineKind::Lost(n) => self.report.lost = self.report.lost.saturating_add(n),
            LineKind::Ignored => {}
            LineKind::Damaged(_) => {
                if self.damaged == 0 {
                    self.first_damaged = lineno;
                }
                self.damaged += 1;
            }
        }
    }

    /// The held event a stack line of `cpu` belongs to.
    fn open_event(&mut self, cpu: Option<u32>) -> Option<&mut Pending> {
        let key = self.open.get(&cpu?)?;
        self.held.get_mut(key)
    }

    /// An event at `ts_ns` arrived on `cpu`: the open event of that CPU gets no stack any more;
    /// release what the stream has moved past.
    fn close(&mut self, cpu: u32, ts_ns: u64) {
        if let Some(key) = self.open.remove(&cpu) {
            if let Some(p) = self.held.get_mut(&key) {
                p.done = true;
            }
        }
        if ts_ns < self.newest_ns {
            self.report.out_of_order += 1;
        }
        self.newest_ns = self.newest_ns.max(ts_ns);
        self.release(false);
    }

    /// Finishes held events in timestamp order while the earliest is complete (all of them with `all`).
    fn release(&mut self, all: bool) {
        loop {
            let over = self.held.len() > MAX_HELD;
            let Some(entry) = self.held.first_entry() else { break };
            let (ts, _) = *entry.key();
            let p = entry.get();
            let ready = all || p.done || ts.saturating_add(REORDER_WINDOW_NS) < self.newest_ns || over;
            if !ready {
                break;
            }
            let key = *entry.key();
            let p = entry.remove();
            self.open.retain(|_, k| *k != key);
            self.finish_event(p);
        }
    }

    fn finish_event(&mut self, p: Pending) {
        if p.stacked {
            self.report.with_stack += 1;
        }
        let mut stack = Stack { frames: p.frames };
        if stack.frames.is_empty() {
            if let Some(cs) = p.call_site.as_deref() {
                let (func, offset) = parse_sym(cs);
                stack.frames.push(Frame::symbol(func, offset, None, false));
            }
        }
        let src = self.src.at(p.line);
        match p.kind {
            Kind::CacheAlloc | Kind::CacheFree => {
                let cache = match p.name.as_deref() {
                    Some(n) => {
                        if !self.opts.caches.is_empty() && !self.opts.caches.iter().any(|c| c == n) {
                            return;
                        }
                        n.to_string()
                    }
                    None => {
                        self.report.name_fallback = true;
                        let Some(label) = self.opts.fallback_label.clone() else {
                            self.unknown_names += 1;
                            return;
                        };
                        if p.kind == Kind::CacheAlloc {
                            if self.opts.fallback_size.is_some_and(|s| s != p.bytes) {
                                return;
                            }
                        } else if !self.pairing.is_outstanding(&label, p.ptr) {
                            return;
                        }
                        label
                    }
                };
                let ev = Event {
                    cache: &cache,
                    ptr: p.ptr,
                    stack,
                    comm: Some(&p.comm),
                    time: Some(p.ts),
                    bytes: p.bytes,
                    source: &src,
                };
                if p.kind == Kind::CacheAlloc {
                    self.pairing.alloc(ev);
                } else {
                    self.pairing.free(ev);
                }
            }
            Kind::Kmalloc => {
                let id = self.kmalloc.add(stack, &p.comm, p.bytes, p.line);
                *self.sizes.entry(63 - p.req.max(1).leading_zeros()).or_default() += 1;
                self.track(true, id, &p.comm, p.ptr, p.bytes, p.ts, p.line);
            }
            Kind::PageAlloc => {
                let id = self.pages.add(stack, &p.comm, p.bytes, p.line);
                *self.orders.entry(p.req as u32).or_default() += 1;
                self.track(false, id, &p.comm, p.ptr, p.bytes, p.ts, p.line);
            }
            Kind::Kfree => {
                self.saw_kfree = true;
                self.live_k.remove(&p.ptr);
            }
            Kind::PageFree => {
                self.saw_page_free = true;
                self.live_p.remove(&p.ptr);
            }
            Kind::Mkdir | Kind::Rmdir => {
                let e = self.mk.entry(p.comm).or_insert((0, 0));
                if p.kind == Kind::Mkdir {
                    e.0 += 1;
                    self.report.cgroup.mkdir += 1;
                } else {
                    e.1 += 1;
                    self.report.cgroup.rmdir += 1;
                }
            }
        }
    }

    /// Remembers a kept allocation until its free (`key`: pointer or pfn; 0 = not printed).
    #[allow(clippy::too_many_arguments)]
    fn track(
        &mut self,
        kmalloc: bool,
        stack: StackId,
        comm: &str,
        key: u64,
        bytes: u64,
        ts: f64,
        line: usize,
    ) {
        let map = if kmalloc { &mut self.live_k } else { &mut self.live_p };
        if key == 0 {
            return;
        }
        if map.len() >= MAX_LIVE && !map.contains_key(&key) {
            self.live_full = true;
            return;
        }
        map.insert(key, LiveAlloc { stack, comm: comm.to_string(), bytes, ts, line });
    }

    /// The report. `span_s` overrides the window (a live capture knows its length).
    pub fn finish(mut self, span_s: Option<f64>) -> KmemReport {
        self.release(true);
        let span = span_s.or(match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) if b > a => Some(b - a),
            _ => None,
        });
        let mut r = self.report;
        r.span_s = span;
        r.reclaimable_caches = std::mem::take(&mut self.opts.reclaimable);
        r.typesafe_rcu_caches = std::mem::take(&mut self.opts.typesafe_rcu);
        r.slab = self.pairing.finish(span);
        let end = self.last_ts.unwrap_or(0.0);
        r.kmalloc_live = self.saw_kfree.then(|| self.kmalloc.live(&self.live_k, end, &self.src));
        r.pages_live = self.saw_page_free.then(|| self.pages.live(&self.live_p, end, &self.src));
        r.kmalloc_sizes = self
            .sizes
            .iter()
            .map(|(&b, &count)| Bucket {
                from: 1 << b,
                to: 1u64.checked_shl(b + 1).unwrap_or(u64::MAX),
                count,
            })
            .collect();
        r.page_orders = self.orders.iter().map(|(&o, &n)| (o, n)).collect();
        if self.live_full {
            r.diags.push(Diag::warning(
                self.src.clone(),
                format!("more than {MAX_LIVE} allocations outstanding: later ones are not tracked as live"),
            ));
        }
        r.kmalloc = self.kmalloc.finish(&self.src);
        r.pages = self.pages.finish(&self.src);
        let mut by: Vec<CommCount> =
            self.mk.into_iter().map(|(comm, (mkdir, rmdir))| CommCount { comm, mkdir, rmdir }).collect();
        by.sort_by(|a, b| (b.mkdir + b.rmdir).cmp(&(a.mkdir + a.rmdir)).then_with(|| a.comm.cmp(&b.comm)));
        by.truncate(TOP_PATHS);
        r.cgroup.by_comm = by;
        if self.damaged > 0 {
            r.diags.push(Diag::warning(
                self.src.at(self.first_damaged),
                format!("{} lines looked like events but could not be split (first here)", self.damaged),
            ));
        }
        if self.unknown_names > 0 {
            r.diags.push(Diag::warning(
                self.src.clone(),
                format!(
                    "{} kmem_cache events carry no cache name (kernel before 6.1) and no size fallback was given",
                    self.unknown_names
                ),
            ));
        }
        if r.lost > 0 {
            r.diags.push(Diag::warning(
                self.src.clone(),
                format!("the ring buffer dropped {} events: counts are lower bounds and pairing may show false outstanding objects", r.lost),
            ));
        }
        r
    }
}

/// The CPU of a `<stack trace>` entry: the `[001]` column.
fn stack_header_cpu(t: &str) -> Option<u32> {
    let head = &t[..t.find(": <stack trace>")?];
    head.split_whitespace()
        .rev()
        .find_map(|tok| tok.strip_prefix('[').and_then(|x| x.strip_suffix(']')).and_then(|x| x.parse().ok()))
}

/// Reads a whole kmem trace. Never fails: a read error ends the input with a diagnostic.
pub fn parse_kmem<R: BufRead>(r: R, source: &str, opts: KmemOptions, span_s: Option<f64>) -> KmemReport {
    let mut k = KmemTrace::new(source, opts);
    let (_, err) = memdx_core::lines::for_each_line(r, &SourceRef::new(source), |line, n| k.line(line, n));
    let mut rep = k.finish(span_s);
    rep.diags.extend(err);
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_cpu() {
        assert_eq!(
            stack_header_cpu("           <...>-10463   [000] .....   226.148735: <stack trace>"),
            Some(0)
        );
        assert_eq!(stack_header_cpu("cat-1 [011] d..1. 1.0: <stack trace>"), Some(11));
    }
}
