//! The report table: one row per report format (how its header line looks, what kind it is, how
//! its title is built, which body parser reads the lines after it and where its guilty frame comes
//! from). Adding a format is adding a row; the header filters are derived from the rows. What a
//! frame is (reporting machinery, allocator, lock...) is the frame-role table in `roles`.

use crate::model::Kind;
use crate::roles::{Role, Roles};

/// How a header row recognises its line (on the message with leading spaces removed).
#[derive(Debug, Clone, Copy)]
pub enum Match {
    Prefix(&'static str),
    /// Starts with the first string and contains the second after it.
    PrefixContains(&'static str, &'static str),
    /// Contains the string anywhere: only for headers that start with a task name
    /// (`<comm> invoked oom-killer:`, `<comm>: page allocation failure:`).
    Contains(&'static str),
}

/// How the `{cap}` part of a title is taken from the header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    None,
    /// Text after the matched prefix, up to ` in ` (KASAN/KFENCE/UBSAN bug type).
    UntilIn,
    /// Text after the matched prefix up to the first `:`, `,`, ` at `, ` on `, ` in ` (generic `BUG:`).
    Short,
    /// slub_debug: `BUG <cache> (<taint>): <problem>` (`BUG <cache>: <problem>` before 2.6.39):
    /// the problem.
    Slub,
    /// The whole text after the prefix with `+0x../0x..` offsets removed (KCSAN names both racing
    /// functions: `data-race in foo / bar`).
    Stripped,
}

/// Where the guilty frame of a report comes from (`{frame}` in the title).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first trustworthy frame of the call trace that has no never-guilty role.
    Stack,
    /// The function the header names (`WARNING ... at file:line func+off/size`, `BUG: KASAN: ...
    /// in func+off/size`), else as `Stack`.
    Header,
    /// The faulting instruction (`RIP:`, `IP:`, `pc :`, `PC is at`, `NIP`, `epc :`), else as `Stack`.
    Pc,
    /// lockdep: the first lock site (`at: func+off/size`) that names no lock primitive (the lock
    /// being taken, then the one held), else as `Stack`.
    LockSite,
    /// lockdep's `X-safe -> X-unsafe lock order`: the code that took the irq-safe lock in
    /// interrupt context (`... which became HARDIRQ-irq-safe at:` and its stack), else as
    /// `LockSite`.
    IrqSafeSite,
    /// Stalls and lockups: the work function the stalled CPU runs, under the syscall, interrupt or
    /// worker dispatch (the top of the stack is wherever the loop was interrupted).
    Stall,
    /// Hung tasks: as `Stack`, past scheduler and wait primitives too (the task sleeps there).
    Hang,
    /// kmemleak: as `Stack`, past every function that allocates on its caller's behalf.
    Leak,
    /// Allocation failures: the first caller outside the page and slab allocator (a driver's
    /// order-8 kmalloc names the driver); a `?` frame when no trustworthy frame lies beyond them.
    AllocCaller,
    /// A page found in a bad state when freed: its owner put it there, so with page_owner's
    /// `page last allocated via` stack the first frame past the allocators there, else as `Stack`.
    PageOwner,
}

/// Which parser reads the lines of the report body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Oops details, registers, call traces.
    Oops,
    /// KASAN/KFENCE/UBSAN/KMSAN/KCSAN: object description and stacks up to a `=====` line.
    Sanitizer,
    /// OOM and allocation failure: `show_mem()`, task table, kill line.
    Mem,
    /// kmemleak: `comm`, hex dump, backtrace.
    Leak,
    /// slub_debug consistency reports: object facts and tracks.
    Slub,
    /// RCU stall: per-CPU stall lines before the stacks.
    Stall,
    /// Stack dumps (`dump_stack()`, fault injection).
    Dump,
    /// lockdep: free-form lines (lock chains, held locks, scenarios) up to `stack backtrace:` or
    /// the CPU line, then a call trace.
    Lockdep,
}

#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub m: Match,
    pub kind: Kind,
    /// `{frame}` = guilty frame, `{cap}` = capture, `{access}` = KASAN access type.
    pub title: &'static str,
    pub cap: Cap,
    pub pick: Pick,
    pub body: Body,
    /// The line may also continue an open report of these kinds (arm64 prints
    /// `Internal error: Oops` after `Unable to handle kernel ...`).
    pub continues: &'static [Kind],
}

impl Row {
    /// The header names the guilty function itself.
    pub fn func_in_header(&self) -> bool {
        self.pick == Pick::Header
    }
}

const fn row(m: Match, kind: Kind, title: &'static str) -> Row {
    Row { m, kind, title, cap: Cap::None, pick: Pick::Stack, body: Body::Oops, continues: &[] }
}

const fn fault(p: &'static str, title: &'static str) -> Row {
    Row { pick: Pick::Pc, continues: OOPSY, ..row(Prefix(p), Kind::Oops, title) }
}

const fn lockdep(p: &'static str, title: &'static str) -> Row {
    Row { pick: Pick::LockSite, body: Body::Lockdep, ..row(Prefix(p), Kind::Warning, title) }
}

/// lockdep's irq-safe -> irq-unsafe lock order reports.
const fn lock_order(p: &'static str) -> Row {
    Row { pick: Pick::IrqSafeSite, ..lockdep(p, "possible deadlock in {frame}") }
}

/// lockdep reports whose guilty frame is the caller on the stack, not a lock site.
const fn lockdep_stack(p: &'static str, title: &'static str) -> Row {
    Row { pick: Pick::Stack, ..lockdep(p, title) }
}

const fn stall(m: Match, kind: Kind, title: &'static str) -> Row {
    Row { pick: Pick::Stall, body: Body::Stall, ..row(m, kind, title) }
}

const OOPSY: &[Kind] = &[
    Kind::Oops,
    Kind::KernelBug,
    Kind::Bug,
    Kind::Warning,
    Kind::Kasan,
    Kind::SoftLockup,
    Kind::HardLockup,
    Kind::RcuStall,
    Kind::HungTask,
    Kind::SlubDebug,
    Kind::Kfence,
    Kind::Ubsan,
    Kind::Unknown,
];

use Match::{Contains, Prefix, PrefixContains};

/// First match wins.
pub static ROWS: &[Row] = &[
    Row {
        cap: Cap::UntilIn,
        pick: Pick::Header,
        body: Body::Sanitizer,
        ..row(Prefix("BUG: KASAN: "), Kind::Kasan, "KASAN: {cap} {access} in {frame}")
    },
    Row {
        cap: Cap::UntilIn,
        pick: Pick::Header,
        body: Body::Sanitizer,
        ..row(Prefix("BUG: KFENCE: "), Kind::Kfence, "KFENCE: {cap} in {frame}")
    },
    Row {
        cap: Cap::UntilIn,
        body: Body::Sanitizer,
        ..row(Prefix("UBSAN: "), Kind::Ubsan, "UBSAN: {cap} in {frame}")
    },
    // KMSAN and KCSAN have no kind of their own (the `Kind` enum is matched exhaustively by
    // consumers): they are `Bug`s titled the syzkaller way.
    Row {
        cap: Cap::UntilIn,
        pick: Pick::Header,
        body: Body::Sanitizer,
        ..row(Prefix("BUG: KMSAN: "), Kind::Bug, "KMSAN: {cap} in {frame}")
    },
    Row {
        cap: Cap::Stripped,
        body: Body::Sanitizer,
        ..row(Prefix("BUG: KCSAN: "), Kind::Bug, "KCSAN: {cap}")
    },
    fault(
        "BUG: unable to handle kernel NULL pointer dereference",
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
    ),
    fault(
        "BUG: kernel NULL pointer dereference",
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
    ),
    fault(
        "Unable to handle kernel NULL pointer dereference",
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
    ),
    fault(
        "BUG: unable to handle kernel paging request",
        "BUG: unable to handle kernel paging request in {frame}",
    ),
    fault("BUG: unable to handle page fault", "BUG: unable to handle kernel paging request in {frame}"),
    fault("Unable to handle kernel paging request", "BUG: unable to handle kernel paging request in {frame}"),
    fault(
        "Unable to handle kernel access to user memory",
        "BUG: unable to handle kernel paging request in {frame}",
    ),
    fault("general protection fault", "general protection fault in {frame}"),
    fault("divide error: ", "divide error in {frame}"),
    // 5.9-5.10 named the trap by its handler: `divide_error: 0000 [#1] PREEMPT SMP KASAN`.
    fault("divide_error: ", "divide error in {frame}"),
    // A #GP raised by a segment load: `segment-related general protection fault: beec [#2]`.
    fault("segment-related general protection fault", "general protection fault in {frame}"),
    fault("PANIC: double fault", "PANIC: double fault in {frame}"),
    // A checker that prints its finding and then BUG()s (`list_del corruption. ...`, `usercopy:
    // Kernel memory overwrite attempt ...`, then `kernel BUG at lib/list_debug.c:56!`): one
    // report, titled by the finding (the builder takes the line only before any frame).
    Row {
        pick: Pick::Pc,
        continues: &[Kind::Bug],
        ..row(Prefix("kernel BUG at "), Kind::KernelBug, "kernel BUG in {frame}")
    },
    Row {
        pick: Pick::Pc,
        continues: OOPSY,
        ..row(Prefix("Internal error: Oops - BUG"), Kind::KernelBug, "kernel BUG in {frame}")
    },
    fault("Internal error: ", "Internal error in {frame}"),
    fault("Unhandled fault: ", "Unhandled fault in {frame}"),
    // 6.10+ prefixes the trap name with `Oops: ` (`Oops: general protection fault, probably for
    // non-canonical address ...`, `Oops: divide error: 0000 [#1]`).
    fault("Oops: general protection fault", "general protection fault in {frame}"),
    fault("Oops: divide error", "divide error in {frame}"),
    fault("Oops: stack segment", "stack segment fault in {frame}"),
    fault("Oops: ", "Oops in {frame}"),
    lockdep("WARNING: possible circular locking dependency", "possible deadlock in {frame}"),
    lockdep("WARNING: possible recursive locking", "possible deadlock in {frame}"),
    lockdep("[ INFO: possible circular locking dependency", "possible deadlock in {frame}"),
    lockdep("[ INFO: possible recursive locking", "possible deadlock in {frame}"),
    lockdep("WARNING: possible irq lock inversion dependency", "possible deadlock in {frame}"),
    lock_order("WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order"),
    lock_order("WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order"),
    // Before 4.14 lockdep's headers were bracketed `[ INFO: ... ]`.
    lock_order("[ INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order"),
    lock_order("[ INFO: HARDIRQ-safe -> HARDIRQ-unsafe lock order"),
    lockdep("[ INFO: possible irq lock inversion dependency", "possible deadlock in {frame}"),
    lockdep("WARNING: inconsistent lock state", "inconsistent lock state in {frame}"),
    lockdep("[ INFO: inconsistent lock state ]", "inconsistent lock state in {frame}"),
    lockdep_stack("WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage in {frame}"),
    lockdep_stack("[ INFO: suspicious RCU usage. ]", "INFO: suspicious RCU usage in {frame}"),
    lockdep_stack("INFO: suspicious RCU usage", "INFO: suspicious RCU usage in {frame}"),
    lockdep("WARNING: held lock freed", "WARNING: held lock freed in {frame}"),
    lockdep("[ BUG: held lock freed! ]", "BUG: held lock freed in {frame}"),
    lockdep("BUG: held lock freed", "BUG: held lock freed in {frame}"),
    lockdep("WARNING: bad unlock balance", "WARNING: bad unlock balance in {frame}"),
    lockdep("[ BUG: bad unlock balance detected! ]", "BUG: bad unlock balance in {frame}"),
    lockdep("BUG: bad unlock balance", "BUG: bad unlock balance in {frame}"),
    lockdep(
        "WARNING: lock held when returning to user space",
        "WARNING: lock held when returning to user space in {frame}",
    ),
    lockdep(
        "[ BUG: lock held when returning to user space! ]",
        "BUG: lock held when returning to user space in {frame}",
    ),
    lockdep(
        "BUG: lock held when returning to user space",
        "BUG: lock held when returning to user space in {frame}",
    ),
    // 5.7+: a lock taken in a context that may not sleep on it (a mutex or a raw-spinlock-unsafe
    // lock under a raw spinlock or RCU). The lock site is often a checker (`__might_fault`), so
    // the stack names the function.
    lockdep_stack("[ BUG: Invalid wait context ]", "WARNING: locking bug in {frame}"),
    lockdep_stack("BUG: Invalid wait context", "WARNING: locking bug in {frame}"),
    lockdep_stack(
        "INFO: trying to register non-static key",
        "INFO: trying to register non-static key in {frame}",
    ),
    Row {
        m: PrefixContains("[ BUG: ", " still has locks held"),
        ..lockdep("", "BUG: still has locks held in {frame}")
    },
    Row {
        m: PrefixContains("WARNING: ", " still has locks held"),
        ..lockdep("", "WARNING: still has locks held in {frame}")
    },
    row(Prefix("WARNING: kernel stack regs"), Kind::Warning, "WARNING: kernel stack regs has bad value"),
    row(
        Prefix("WARNING: kernel stack frame pointer"),
        Kind::Warning,
        "WARNING: kernel stack frame pointer has bad value",
    ),
    // `WARNING: CPU: 0 PID: 1 at file.c:12 func+0x1/0x2` (3.x+) and `WARNING: at file.c:12 func()`:
    // anchored, so driver messages that start with `WARNING:` are not reports.
    Row { pick: Pick::Header, ..row(Prefix("WARNING: CPU: "), Kind::Warning, "WARNING in {frame}") },
    Row { pick: Pick::Header, ..row(Prefix("WARNING: at "), Kind::Warning, "WARNING in {frame}") },
    // 6.17+: `WARNING: fs/dcache.c:829 at fast_dput+0x334/0x430, CPU#1: syz-executor/5830`.
    Row {
        pick: Pick::Header,
        ..row(PrefixContains("WARNING: ", ", CPU#"), Kind::Warning, "WARNING in {frame}")
    },
    Row {
        pick: Pick::Hang,
        ..row(
            // `blocked for more than 143 seconds`; 6.16+ `blocked in I/O wait for more than`.
            PrefixContains("INFO: task ", " blocked "),
            Kind::HungTask,
            "INFO: task hung in {frame}",
        )
    },
    Row {
        pick: Pick::Hang,
        ..row(
            PrefixContains("INFO: task ", " can't die for more than"),
            Kind::HungTask,
            "INFO: task can't die in {frame}",
        )
    },
    stall(Prefix("BUG: soft lockup"), Kind::SoftLockup, "BUG: soft lockup in {frame}"),
    stall(Prefix("watchdog: BUG: soft lockup"), Kind::SoftLockup, "BUG: soft lockup in {frame}"),
    // Before 4.13 the soft-lockup detector prefixed its message as the NMI watchdog's.
    stall(Prefix("NMI watchdog: BUG: soft lockup"), Kind::SoftLockup, "BUG: soft lockup in {frame}"),
    stall(PrefixContains("NMI watchdog: ", "hard LOCKUP"), Kind::HardLockup, "BUG: hard lockup in {frame}"),
    stall(
        PrefixContains("Watchdog detected hard LOCKUP", ""),
        Kind::HardLockup,
        "BUG: hard lockup in {frame}",
    ),
    stall(PrefixContains("watchdog: ", "hard LOCKUP"), Kind::HardLockup, "BUG: hard lockup in {frame}"),
    stall(PrefixContains("INFO: rcu", " stall"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    stall(PrefixContains("rcu: INFO: rcu", " stall"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    stall(PrefixContains("BUG: workqueue lockup", ""), Kind::Bug, "BUG: workqueue lockup"),
    Row {
        body: Body::Slub,
        ..row(
            Prefix("cache_from_obj: Wrong slab cache"),
            Kind::SlubDebug,
            "SLUB: Wrong slab cache in {frame}",
        )
    },
    Row {
        cap: Cap::Slub,
        body: Body::Slub,
        ..row(Prefix("BUG "), Kind::SlubDebug, "SLUB: {cap} in {frame}")
    },
    // slub_debug's allocation and free tracks (`INFO: Allocated in f+0x29/0x90 age=6 cpu=0
    // pid=1`) belong to the report they follow (rows above continue it); one left alone after the
    // report's header was lost (`printk messages dropped`) is titled by itself, as syzkaller does.
    Row {
        cap: Cap::Stripped,
        pick: Pick::Header,
        continues: OOPSY,
        ..row(PrefixContains("INFO: Allocated in ", " age="), Kind::SlubDebug, "INFO: Allocated in {cap}")
    },
    Row {
        cap: Cap::Stripped,
        pick: Pick::Header,
        continues: OOPSY,
        ..row(PrefixContains("INFO: Freed in ", " age="), Kind::SlubDebug, "INFO: Freed in {cap}")
    },
    // fs/super.c: inodes still referenced after the superblock was shut down.
    row(
        Prefix("VFS: Busy inodes after unmount"),
        Kind::Bug,
        "VFS: Busy inodes after unmount (use-after-free)",
    ),
    Row {
        pick: Pick::PageOwner,
        ..row(Prefix("BUG: Bad page state"), Kind::Bug, "BUG: Bad page state in {frame}")
    },
    row(Prefix("BUG: Bad page map"), Kind::Bug, "BUG: Bad page map in {frame}"),
    row(Prefix("BUG: Bad rss-counter state"), Kind::Bug, "BUG: Bad rss-counter state"),
    row(Prefix("BUG: MAX_"), Kind::Bug, "{header}"),
    row(Prefix("usercopy: Kernel memory "), Kind::Bug, "BUG: bad usercopy in {frame}"),
    row(Prefix("list_add corruption"), Kind::Bug, "BUG: corrupted list in {frame}"),
    row(Prefix("list_del corruption"), Kind::Bug, "BUG: corrupted list in {frame}"),
    row(Prefix("BUG: stack guard page was hit"), Kind::Bug, "BUG: stack guard page was hit in {frame}"),
    row(
        PrefixContains("BUG: ", " stack guard page was hit"),
        Kind::Bug,
        "BUG: stack guard page was hit in {frame}",
    ),
    Row {
        continues: &[Kind::Kmemleak],
        pick: Pick::Leak,
        body: Body::Leak,
        ..row(Prefix("BUG: memory leak"), Kind::Kmemleak, "memory leak in {frame}")
    },
    // kernel/workqueue.c: a work function returned holding a lock or with preemption disabled;
    // the next line names it (`last function: addrconf_dad_work`), the stack is the worker's.
    Row {
        pick: Pick::Pc,
        ..row(
            Prefix("BUG: workqueue leaked lock or atomic"),
            Kind::Bug,
            "BUG: workqueue leaked lock or atomic in {frame}",
        )
    },
    Row {
        cap: Cap::Short,
        ..row(
            PrefixContains("BUG: using ", " in preemptible"),
            Kind::Bug,
            "BUG: using {cap} in preemptible code in {frame}",
        )
    },
    Row { cap: Cap::Short, ..row(Prefix("BUG: "), Kind::Bug, "BUG: {cap} in {frame}") },
    Row { body: Body::Mem, ..row(Contains(" invoked oom-killer: "), Kind::Oom, "{cap}") },
    Row {
        body: Body::Mem,
        pick: Pick::AllocCaller,
        ..row(
            Contains("page allocation failure: order:"),
            Kind::AllocFailure,
            "page allocation failure: order:{cap} in {frame}",
        )
    },
    Row {
        body: Body::Mem,
        pick: Pick::AllocCaller,
        ..row(
            Contains("page allocation failure. order:"),
            Kind::AllocFailure,
            "page allocation failure: order:{cap} in {frame}",
        )
    },
    // The `oom-kill:` summary line (4.19+) names the memcg; in a log cut after the report's start it
    // is the first line left of the OOM report.
    Row {
        continues: &[Kind::Oom],
        body: Body::Mem,
        ..row(Prefix("oom-kill:constraint="), Kind::Oom, "{cap}")
    },
    Row {
        continues: &[Kind::Oom],
        body: Body::Mem,
        ..row(Prefix("Out of memory: Kill"), Kind::Oom, "{cap}")
    },
    Row {
        continues: &[Kind::Oom],
        body: Body::Mem,
        ..row(Prefix("Memory cgroup out of memory: Kill"), Kind::Oom, "{cap}")
    },
    // Lines only a memcg OOM prints (the cgroup at its limit before 4.19; its stats): in an excerpt
    // cut after the report's start, the first line left of it.
    Row {
        continues: &[Kind::Oom],
        body: Body::Mem,
        ..row(PrefixContains("Task in ", " killed as a result of limit of "), Kind::Oom, "{cap}")
    },
    // `mem_cgroup_print_oom_meminfo` prints the counters first, then the stats.
    Row { continues: &[Kind::Oom], body: Body::Mem, ..row(Prefix("memory: usage "), Kind::Oom, "{cap}") },
    Row {
        continues: &[Kind::Oom],
        body: Body::Mem,
        ..row(Prefix("Memory cgroup stats for "), Kind::Oom, "{cap}")
    },
    Row {
        continues: &[Kind::Kmemleak],
        pick: Pick::Leak,
        body: Body::Leak,
        ..row(Prefix("unreferenced object 0x"), Kind::Kmemleak, "memory leak in {frame}")
    },
    // CONFIG_FAULT_INJECTION's stack dump: the failure that follows was injected, not real.
    Row {
        body: Body::Dump,
        ..row(Prefix("FAULT_INJECTION: forcing a failure"), Kind::StackDump, "fault injection in {frame}")
    },
    // CONFIG_STACKPROTECTOR: `Kernel panic - not syncing: stack-protector: Kernel stack is
    // corrupted in: func+0x1/0x2` names the function whose canary was overwritten.
    Row {
        pick: Pick::Header,
        continues: OOPSY,
        ..row(
            Prefix("Kernel panic - not syncing: stack-protector"),
            Kind::Panic,
            "kernel panic: stack is corrupted in {frame}",
        )
    },
    // schedule() found the end-of-stack magic overwritten: the task ran off its stack somewhere
    // in deep work, so the title names the work as a stall's does (the frame under the syscall
    // or worker dispatch), not whatever ran last.
    Row {
        pick: Pick::Stall,
        continues: OOPSY,
        ..row(
            Prefix("Kernel panic - not syncing: corrupted stack end"),
            Kind::Panic,
            "kernel panic: corrupted stack end in {frame}",
        )
    },
    Row {
        cap: Cap::Short,
        continues: OOPSY,
        ..row(Prefix("Kernel panic - not syncing: "), Kind::Panic, "kernel panic: {cap}")
    },
];

/// The first bytes of every `Prefix`/`PrefixContains` row, and the strings of the `Contains`
/// rows, derived from [`ROWS`] so that a new row cannot be missed by the filters.
struct Filters {
    /// Per first byte: the rows whose prefix starts with it, in table order.
    by_byte: [Vec<u16>; 256],
    /// Per first byte: the second bytes those prefixes have (a bit set of 256; every bit for a
    /// one-byte prefix). Most messages start with a byte some prefix starts with, few with a pair.
    second: [[u64; 4]; 256],
    /// One SIMD pass (Teddy, from aho-corasick) over the line for all `Contains` strings.
    contains: Option<aho_corasick::packed::Searcher>,
    contains_rows: Vec<u16>,
}

static FILTERS: std::sync::LazyLock<Filters> = std::sync::LazyLock::new(|| {
    let mut by_byte: [Vec<u16>; 256] = std::array::from_fn(|_| Vec::new());
    let mut second = [[0u64; 4]; 256];
    let mut needles = Vec::new();
    let mut contains_rows = Vec::new();
    for (i, r) in ROWS.iter().enumerate() {
        match r.m {
            Prefix(p) | PrefixContains(p, _) => {
                if let Some(&b) = p.as_bytes().first() {
                    by_byte[usize::from(b)].push(i as u16);
                    match p.as_bytes().get(1) {
                        Some(&c) => second[usize::from(b)][usize::from(c >> 6)] |= 1 << (c & 63),
                        None => second[usize::from(b)] = [u64::MAX; 4],
                    }
                }
            }
            Contains(p) => {
                needles.push(p);
                contains_rows.push(i as u16);
            }
        }
    }
    Filters { by_byte, second, contains: aho_corasick::packed::Searcher::new(needles), contains_rows }
});

fn row_matches(r: &Row, t: &str) -> bool {
    match r.m {
        Prefix(p) => t.starts_with(p) && (r.cap != Cap::Slub || is_slub_header(t)),
        PrefixContains(p, n) => t.starts_with(p) && t[p.len()..].contains(n),
        Contains(p) => t.contains(p),
    }
}

/// The row a message starts, if any. `t` has its leading spaces removed.
pub fn header(t: &str) -> Option<&'static Row> {
    let contains = FILTERS.contains.as_ref().is_none_or(|s| s.find(t).is_some());
    header_hinted(t, contains)
}

/// Where `Contains` rows' strings lie in `text` (start, end), in order (one pass over many lines
/// at once: on lines of ~100 bytes the searcher's setup costs more than its scan). The matches
/// do not overlap: an occurrence that overlaps a reported one is not reported, so a message that
/// any reported match overlaps must be searched on its own.
pub(crate) fn contains_hits(text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    if let Some(s) = &FILTERS.contains {
        out.extend(s.find_iter(text).map(|m| (m.start(), m.end())));
    }
}

/// [`header`] of a message that contains no `Contains` row's string when `contains` is false.
pub(crate) fn header_hinted(t: &str, contains: bool) -> Option<&'static Row> {
    let first = *t.as_bytes().first()?;
    let f = &*FILTERS;
    let seconds = &f.second[usize::from(first)];
    let pair = match t.as_bytes().get(1) {
        Some(&c) => seconds[usize::from(c >> 6)] & (1 << (c & 63)) != 0,
        None => *seconds == [u64::MAX; 4],
    };
    let by_prefix = if pair {
        f.by_byte[usize::from(first)].iter().copied().find(|&i| row_matches(&ROWS[usize::from(i)], t))
    } else {
        None
    };
    let by_contains = if contains {
        f.contains_rows.iter().copied().find(|&i| row_matches(&ROWS[usize::from(i)], t))
    } else {
        None
    };
    // The first match in table order.
    let i = match (by_prefix, by_contains) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(&ROWS[usize::from(i)])
}

/// A WARNING raised by a checker on its caller's behalf, by the source file (and function) of the
/// `WARN()`: titled after what was checked, with the caller as the guilty frame (syzkaller's
/// `WARNING: refcount bug in ...`).
pub struct WarnSite {
    pub file: &'static str,
    /// The function of the `WARN()` starts with this (empty: any).
    pub func: &'static str,
    pub what: &'static str,
    /// Roles skipped for the guilty frame besides the never-guilty ones: the functions that call
    /// the checker on their caller's behalf.
    pub skip: Roles,
}

const fn site(file: &'static str, func: &'static str, what: &'static str) -> WarnSite {
    WarnSite { file, func, what, skip: Roles::NONE }
}

pub static WARN_SITES: &[WarnSite] = &[
    // refcount_t saturation and underflow (`refcount_t: addition on 0; use-after-free.`).
    site("lib/refcount.c", "", "refcount bug"),
    // debugobjects: an object activated, freed or destroyed in the wrong state (`ODEBUG: ...`),
    // checked from inside the API of the object's type (call_rcu, mod_timer, queue_work) or a
    // free path (kfree, vfree): the caller of that API is guilty.
    WarnSite { skip: Roles::of(&[Role::ObjectApi]), ..site("lib/debugobjects.c", "", "ODEBUG bug") },
    // kobject_add/kobject_init misuse.
    site("lib/kobject.c", "", "kobject bug"),
    // lockdep's internal consistency checks (class registration, held-lock stack).
    site("kernel/locking/lockdep.c", "", "locking bug"),
    // kmalloc of a size no cache serves (`kmalloc_slab`, `kmalloc_large`, `__kmalloc_large_node`).
    site("mm/slab_common.c", "kmalloc", "kmalloc bug"),
    // vmalloc of size 0.
    site("mm/vmalloc.c", "__vmalloc_node", "zero-size vmalloc"),
];

/// What a checker WARNING checked, from its header (`WARNING: CPU: 0 PID: 1 at lib/refcount.c:25
/// refcount_warn_saturate+0x..`).
/// 6.17+ prints the site first: `WARNING: mm/util.c:12 at kvmalloc_node+0x.., CPU#1: comm/123`.
pub fn warn_site(header: &str) -> Option<&'static WarnSite> {
    let (file, func) = match header.strip_prefix("WARNING: ").and_then(|r| r.split_once(" at ")) {
        Some((site, rest)) if !site.starts_with("CPU: ") && site.contains(':') => {
            (site.split(':').next().unwrap_or(""), rest)
        }
        _ => {
            let rest = &header[header.find(" at ")? + 4..];
            let (file, after) = rest.split_once(':')?;
            (file, after.split_whitespace().nth(1).unwrap_or(""))
        }
    };
    WARN_SITES.iter().find(|w| w.file == file && func.starts_with(w.func))
}

/// `BUG kmalloc-128 (Not tainted): Object already free`; before 2.6.39 without the taint:
/// `BUG kmalloc-8: Right Redzone overwritten` (the sample in Documentation/mm/slub.rst).
fn is_slub_header(t: &str) -> bool {
    let rest = &t[4..];
    match rest.split_once(' ') {
        Some((cache, after)) => {
            if let Some(name) = cache.strip_suffix(':') {
                return is_cache_name(name) && !after.is_empty();
            }
            !cache.is_empty() && after.starts_with('(') && after.contains("): ")
        }
        None => false,
    }
}

/// Slab cache names: `kmalloc-8`, `ext4_inode_cache`, `kmalloc-rcl-64`, `:0000136`, `TCPv6`.
fn is_cache_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes().any(|c| c.is_ascii_lowercase())
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b':' | b'.' | b'(' | b')'))
}

pub fn capture(row: &Row, t: &str) -> Option<String> {
    let after = match row.m {
        Prefix(p) | PrefixContains(p, _) => t.get(p.len()..).unwrap_or(""),
        Contains(_) => t,
    };
    match row.cap {
        Cap::None => None,
        Cap::UntilIn => Some(after.split(" in ").next().unwrap_or(after).trim().to_string()),
        Cap::Short => {
            let mut end = after.len();
            for pat in [":", ",", " at ", " on ", " in ", " for ", " ("] {
                if let Some(i) = after.find(pat) {
                    end = end.min(i);
                }
            }
            Some(after[..end].trim().to_string())
        }
        Cap::Slub => match after.split_once("): ") {
            Some((_, p)) => Some(p.trim().to_string()),
            None => after.split_once(": ").map(|(_, p)| p.trim().to_string()),
        },
        Cap::Stripped => {
            let words: Vec<&str> =
                after.split_whitespace().map(|w| w.split_once("+0x").map(|(f, _)| f).unwrap_or(w)).collect();
            Some(words.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rows() {
        assert_eq!(
            header("WARNING: CPU: 2 PID: 67 at fs/dcache.c:338 dentry_free+0x24/0xa8").map(|r| r.kind),
            Some(Kind::Warning)
        );
        assert_eq!(
            header("BUG kmalloc-128 (Not tainted): Object already free").map(|r| r.kind),
            Some(Kind::SlubDebug)
        );
        assert_eq!(
            header("BUG: KASAN: slab-use-after-free in foo+0x1/0x2").map(|r| r.kind),
            Some(Kind::Kasan)
        );
        assert_eq!(
            header("python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0").map(|r| r.kind),
            Some(Kind::Oom)
        );
        assert!(header("BUGS are fun").is_none());
        let r = header("BUG kmalloc-8: Right Redzone overwritten").unwrap();
        assert_eq!(r.kind, Kind::SlubDebug);
        assert_eq!(
            capture(r, "BUG kmalloc-8: Right Redzone overwritten").as_deref(),
            Some("Right Redzone overwritten")
        );
        assert!(header("BUG FOO: bar").is_none());
        let h = "BUG: KCSAN: data-race in foo+0x1/0x2 / bar+0x3/0x4";
        assert_eq!(capture(header(h).unwrap(), h).as_deref(), Some("data-race in foo / bar"));
        assert!(header("TRACE kernfs_node_cache alloc 0x0").is_none());
        let r = header("BUG: sleeping function called from invalid context at mm/slab.h:421").unwrap();
        assert_eq!(
            capture(r, "BUG: sleeping function called from invalid context at mm/slab.h:421").as_deref(),
            Some("sleeping function called from invalid context")
        );
        assert!(header("WARNING: Unsupported flag value(s) of 0x%x in DT_FLAGS_1.").is_none());
        assert!(header("INFO: task kworker/0:1:12 blocked for more than 120 seconds.").is_some());
        assert!(header("the task blocked for more than a while").is_none());
    }
}
