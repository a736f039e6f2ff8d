//! The typed evidence the log engine produces. These types are the `memdx log --json` schema
//! (documented in docs/log.md).

use memdx_core::SourceRef;
use serde::Serialize;

/// What kind of report a block of log lines is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Page fault in kernel mode, NULL dereference, general protection fault, `Internal error: Oops`.
    Oops,
    /// `kernel BUG at file:line!`.
    KernelBug,
    /// Other `BUG: ...` lines (bad page state, sleeping in atomic, ...).
    Bug,
    Warning,
    Kasan,
    Kfence,
    Ubsan,
    Kmemleak,
    HungTask,
    SoftLockup,
    HardLockup,
    RcuStall,
    /// slub_debug consistency reports (`BUG <cache> (...): Object already free`, ...).
    SlubDebug,
    Oom,
    AllocFailure,
    Panic,
    /// A bare `dump_stack()` (CPU line and call trace without a report header).
    StackDump,
    /// `crash> bt` of the crashing task.
    CrashBt,
    /// Report lines whose header was lost (truncated log).
    Unknown,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Oops => "oops",
            Kind::KernelBug => "kernel_bug",
            Kind::Bug => "bug",
            Kind::Warning => "warning",
            Kind::Kasan => "kasan",
            Kind::Kfence => "kfence",
            Kind::Ubsan => "ubsan",
            Kind::Kmemleak => "kmemleak",
            Kind::HungTask => "hung_task",
            Kind::SoftLockup => "soft_lockup",
            Kind::HardLockup => "hard_lockup",
            Kind::RcuStall => "rcu_stall",
            Kind::SlubDebug => "slub_debug",
            Kind::Oom => "oom",
            Kind::AllocFailure => "alloc_failure",
            Kind::Panic => "panic",
            Kind::StackDump => "stack_dump",
            Kind::CrashBt => "crash_bt",
            Kind::Unknown => "unknown",
        }
    }
}

/// When a line was written: seconds since boot and/or wall-clock time as the log wrote it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stamp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monotonic: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall: Option<String>,
}

impl Stamp {
    pub fn is_empty(&self) -> bool {
        self.monotonic.is_none() && self.wall.is_none()
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.wall, self.monotonic) {
            (Some(w), Some(m)) => write!(f, "{w} [{m:.6}]"),
            (Some(w), None) => f.write_str(w),
            (None, Some(m)) => write!(f, "[{m:.6}]"),
            (None, None) => f.write_str("-"),
        }
    }
}

/// One call-trace entry: ` ? func+0x24/0xa8 [module]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub func: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// False for ` ? ` entries (a stale return address the unwinder is not sure of).
    pub reliable: bool,
    /// Stack the frame is on when the trace marks it: `irq`, `nmi`, `task`, `softirq`, `exception`
    /// (a fixed set: no string per frame).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<&'static str>,
    /// Source file:line when the trace carries it (`crash> bt -l`, decoded traces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// A user-space frame (a bcc `-U` stack, a bpftrace `ustack`, perf's user part); kernel
    /// reports print kernel frames only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
}

impl Frame {
    /// A frame as tracers and stack tools print it: symbol, offset and module, no size.
    pub fn symbol(func: String, offset: Option<u64>, module: Option<String>, user: bool) -> Frame {
        Frame { func, offset, size: None, module, reliable: true, context: None, location: None, user }
    }

    /// A kernel frame `func+offset`.
    pub fn kernel(func: &str, offset: Option<u64>) -> Frame {
        Frame::symbol(func.to_string(), offset, None, false)
    }

    /// The function name without compiler suffixes (`.constprop.34`, `.isra.0`, `.cold`), as the
    /// role table matches it.
    pub fn name(&self) -> &str {
        crate::roles::base_name(&self.func)
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.reliable {
            f.write_str("? ")?;
        }
        f.write_str(&self.func)?;
        match (self.offset, self.size) {
            (Some(o), Some(s)) => write!(f, "+{o:#x}/{s:#x}")?,
            (Some(o), None) => write!(f, "+{o:#x}")?,
            _ => {}
        }
        if let Some(m) = &self.module {
            write!(f, " [{m}]")?;
        }
        Ok(())
    }
}

/// A secondary stack printed after the main one: KASAN/KFENCE `Allocated by task 12:` and
/// `Freed by task 12:`, KASAN `Last potentially related work creation:`, KMSAN `Uninit was stored to
/// memory at:`, slub_debug `Allocated in ... age=...` (the frames follow since 5.x).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuxStack {
    /// The line that introduces the stack, without its trailing `:`.
    pub label: String,
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Register {
    pub name: String,
    pub value: String,
}

/// Per-zone state printed by `show_mem()` (OOM and allocation-failure reports), in KiB.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ZoneState {
    pub node: u32,
    pub zone: String,
    pub free_kb: Option<u64>,
    /// Watermark boost after fragmentation events (`boost:`, since 5.0). The printed `min`, `low`
    /// and `high` already include it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boost_kb: Option<u64>,
    pub min_kb: Option<u64>,
    pub low_kb: Option<u64>,
    pub high_kb: Option<u64>,
    pub managed_kb: Option<u64>,
    /// `lowmem_reserve[]` in pages, indexed by the zone index of the request: an allocation that
    /// may use zone `j` takes pages from this zone only while free stays above the watermark plus
    /// `lowmem_reserve[j]`.
    pub lowmem_reserve: Vec<u64>,
    /// Free blocks per order from the buddy line `Node 0 Normal: 360*4kB ...`.
    pub free_blocks: Vec<u64>,
    /// Size of an order-0 block in KiB (4 on most systems).
    pub page_kb: Option<u64>,
}

/// One row of the OOM task table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OomTask {
    pub pid: u32,
    pub name: String,
    /// Resident pages.
    pub rss_pages: u64,
    pub oom_score_adj: Option<i32>,
}

/// What an OOM was confined to, from what the report shows on any kernel version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OomScope {
    /// A memory cgroup reached its limit: `constraint=CONSTRAINT_MEMCG`, `Memory cgroup out of
    /// memory`, `Task in /x killed as a result of limit of /y`, the memcg's `memory: usage` or
    /// `Memory cgroup stats for` lines (printed only for memcg OOMs), or the memcg OOM path
    /// (`mem_cgroup_out_of_memory`, ...) on the stack.
    Memcg,
    /// The machine (or a cpuset or memory policy) ran out: another printed constraint, `Out of
    /// memory: Kill(ed) process`, or the zone lines of `show_mem()` that only such OOMs print.
    System,
    /// The excerpt ends before any line that tells.
    Unknown,
}

/// Everything an OOM or allocation-failure report says about memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gfp_mask: Option<String>,
    /// Flag names as the kernel decoded them (since 4.6; older kernels print only the hex mask).
    pub gfp_flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    /// The constraint as the kernel printed it (`oom-kill:constraint=`, since 4.19), or
    /// `CONSTRAINT_MEMCG` when the report's first line is the memcg kill line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// What an OOM was confined to, decided alike on every kernel version (OOM reports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_scope: Option<OomScope>,
    /// The line or frame of the report that decided `oom_scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_scope_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_memcg: Option<String>,
    /// The victim's memory cgroup (`task_memcg=` of the `oom-kill:` line, since 4.19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_memcg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memcg_usage_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memcg_limit_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memcg_failcnt: Option<u64>,
    /// Global `Mem-Info:` counters (pages), e.g. `active_anon`, `slab_unreclaimable`, `free`.
    pub meminfo: Vec<(String, u64)>,
    /// Memcg statistics (`Memory cgroup stats for /x:`), bytes on v1, as printed.
    pub memcg_stats: Vec<(String, u64)>,
    pub zones: Vec<ZoneState>,
    pub tasks: Vec<OomTask>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victim_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victim_anon_rss_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victim_file_rss_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_free_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_total_kb: Option<u64>,
}

impl MemReport {
    pub fn meminfo(&self, key: &str) -> Option<u64> {
        self.meminfo.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn memcg_stat(&self, key: &str) -> Option<u64> {
        self.memcg_stats.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// What the memcg stats say was charged, in bytes: (anonymous, page cache). Anonymous is `rss`
    /// (v1) or `anon` (v2), or the anon LRU lists when they hold more (the 5.0 lines of a pod can
    /// print `rss:0KB` beside `active_anon:868KB`); page cache is `cache` (v1) or `file` (v2).
    pub fn memcg_charged(&self) -> Option<(u64, u64)> {
        let lru = match (self.memcg_stat("active_anon"), self.memcg_stat("inactive_anon")) {
            (None, None) => None,
            (a, i) => Some(a.unwrap_or(0).saturating_add(i.unwrap_or(0))),
        };
        let anon = match (self.memcg_stat("rss").or_else(|| self.memcg_stat("anon")), lru) {
            (Some(a), Some(l)) => a.max(l),
            (a, l) => a.or(l)?,
        };
        let file = self.memcg_stat("cache").or_else(|| self.memcg_stat("file"))?;
        Some((anon, file))
    }
}

/// A memory explanation: what the report means and what to do next.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explanation {
    /// Stable class id, e.g. `slab.double_free`, `oom.memcg`, `alloc.fragmentation`.
    pub class: String,
    pub summary: String,
    /// The slab cache concerned, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    pub facts: Vec<Fact>,
    pub next_steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

/// One kernel report (repeats folded by signature).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub kind: Kind,
    pub title: String,
    /// Title plus the top normalised frames; equal signatures are folded.
    pub signature: String,
    pub guilty_frame: Option<String>,
    /// The header line as the kernel printed it.
    pub header: String,
    pub time: Stamp,
    pub cpu: Option<u32>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub kernel: Option<String>,
    pub taint: Option<String>,
    pub hardware: Option<String>,
    /// Faulting instruction pointer (`RIP:` / `pc :` / `[exception RIP: ...]`).
    pub pc: Option<String>,
    pub registers: Vec<Register>,
    /// The main stack (where the report fired); secondary stacks are in `aux_stacks`.
    pub frames: Vec<Frame>,
    /// Allocation/free stacks and the like (KASAN, KFENCE, KMSAN, slub_debug).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aux_stacks: Vec<AuxStack>,
    pub code: Option<String>,
    pub modules: Option<String>,
    /// Why the report is incomplete or mixed with other lines; `None` when intact.
    pub corrupted: Option<String>,
    pub count: u64,
    pub first_seen: Stamp,
    pub last_seen: Stamp,
    pub source: SourceRef,
    pub lines: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<MemReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// `TRACE <cache> alloc|free 0x<ptr> inuse=N fp=0x...` with the stack dump that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlubTrace {
    pub cache: String,
    pub alloc: bool,
    /// The (hashed since 4.15) object pointer as printed.
    pub ptr: u64,
    pub inuse: Option<u32>,
    /// Free pointer; `None` when printed as `(null)`.
    pub fp: Option<u64>,
    pub cpu: Option<u32>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub frames: Vec<Frame>,
    pub time: Stamp,
    pub source: SourceRef,
}

/// One row of `crash> ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrashTask {
    pub pid: u32,
    pub cpu: Option<u32>,
    pub active: bool,
    pub state: String,
    pub vsz_kb: u64,
    pub rss_kb: u64,
    pub comm: String,
}

/// The outputs of one `crash` session joined into one case.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrashCase {
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bt_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bt_comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bt_cpu: Option<u32>,
    /// `crash> ps`: active tasks and the largest by RSS (at most 10 of each).
    pub tasks: Vec<CrashTask>,
    pub task_count: u32,
    /// `crash> kmem -i` rows: label, pages, size as crash prints it, percentage.
    pub kmem: Vec<KmemRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_devices: Option<u32>,
    /// `crash> ps` tasks per state (`RU`, `IN`, `UN`, `ZO`, ...), most first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_states: Vec<(String, u32)>,
    /// The first exception frame of `crash> bt` read with `dis -l` and `struct` outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<crate::crash::Exception>,
    /// `crash> struct X -o` layouts and `crash> struct X ADDR` dumps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub structs: Vec<crate::crash::StructOut>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmemRow {
    pub label: String,
    pub pages: u64,
    pub total: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The percentage crash prints (`373` of `373% of TOTAL LIMIT`).
    pub percent: Option<u64>,
    /// Line in the session (1-based).
    #[serde(skip)]
    pub line: u32,
}
