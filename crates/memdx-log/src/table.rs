//! The report table: one row per report format (how its header line looks, what kind it is and
//! how its title is built), the generic-frame skip list for guilty-frame selection, and the
//! free-callback -> slab cache map. Adding a format is adding a row.

use crate::model::Kind;

/// How a header row recognises its line (on the message with leading spaces removed).
#[derive(Debug, Clone, Copy)]
pub enum Match {
    Prefix(&'static str),
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

#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub m: Match,
    pub kind: Kind,
    /// `{frame}` = guilty frame, `{cap}` = capture, `{access}` = KASAN access type.
    pub title: &'static str,
    pub cap: Cap,
    /// The header names the guilty function itself (`WARNING ... at file:line func+off/size`,
    /// `BUG: KASAN: ... in func+off/size`).
    pub func_in_header: bool,
    /// The line may also continue an open report of these kinds (arm64 prints
    /// `Internal error: Oops` after `Unable to handle kernel ...`).
    pub continues: &'static [Kind],
}

const fn row(m: Match, kind: Kind, title: &'static str) -> Row {
    Row { m, kind, title, cap: Cap::None, func_in_header: false, continues: &[] }
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

use Match::{Contains, Prefix};

/// First match wins.
pub static ROWS: &[Row] = &[
    Row {
        cap: Cap::UntilIn,
        func_in_header: true,
        ..row(Prefix("BUG: KASAN: "), Kind::Kasan, "KASAN: {cap} {access} in {frame}")
    },
    Row {
        cap: Cap::UntilIn,
        func_in_header: true,
        ..row(Prefix("BUG: KFENCE: "), Kind::Kfence, "KFENCE: {cap} in {frame}")
    },
    Row { cap: Cap::UntilIn, ..row(Prefix("UBSAN: "), Kind::Ubsan, "UBSAN: {cap} in {frame}") },
    // KMSAN and KCSAN have no kind of their own (the `Kind` enum is matched exhaustively by
    // consumers): they are `Bug`s titled the syzkaller way.
    Row {
        cap: Cap::UntilIn,
        func_in_header: true,
        ..row(Prefix("BUG: KMSAN: "), Kind::Bug, "KMSAN: {cap} in {frame}")
    },
    Row { cap: Cap::Stripped, ..row(Prefix("BUG: KCSAN: "), Kind::Bug, "KCSAN: {cap}") },
    row(
        Prefix("BUG: unable to handle kernel NULL pointer dereference"),
        Kind::Oops,
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
    ),
    row(
        Prefix("BUG: kernel NULL pointer dereference"),
        Kind::Oops,
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
    ),
    row(
        Prefix("Unable to handle kernel NULL pointer dereference"),
        Kind::Oops,
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
    ),
    row(
        Prefix("BUG: unable to handle kernel paging request"),
        Kind::Oops,
        "BUG: unable to handle kernel paging request in {frame}",
    ),
    row(
        Prefix("BUG: unable to handle page fault"),
        Kind::Oops,
        "BUG: unable to handle kernel paging request in {frame}",
    ),
    row(
        Prefix("Unable to handle kernel paging request"),
        Kind::Oops,
        "BUG: unable to handle kernel paging request in {frame}",
    ),
    row(
        Prefix("Unable to handle kernel access to user memory"),
        Kind::Oops,
        "BUG: unable to handle kernel paging request in {frame}",
    ),
    row(Prefix("general protection fault"), Kind::Oops, "general protection fault in {frame}"),
    row(Prefix("kernel BUG at "), Kind::KernelBug, "kernel BUG in {frame}"),
    Row {
        continues: OOPSY,
        ..row(Prefix("Internal error: Oops - BUG"), Kind::KernelBug, "kernel BUG in {frame}")
    },
    Row {
        continues: OOPSY,
        ..row(Prefix("Internal error: "), Kind::Oops, "Internal error: Oops in {frame}")
    },
    Row { continues: OOPSY, ..row(Prefix("Oops: "), Kind::Oops, "Oops in {frame}") },
    row(
        Prefix("WARNING: possible circular locking dependency"),
        Kind::Warning,
        "possible deadlock in {frame}",
    ),
    row(Prefix("WARNING: possible recursive locking"), Kind::Warning, "possible deadlock in {frame}"),
    row(Prefix("WARNING: suspicious RCU usage"), Kind::Warning, "suspicious RCU usage in {frame}"),
    Row { func_in_header: true, ..row(Prefix("WARNING: "), Kind::Warning, "WARNING in {frame}") },
    row(Contains("blocked for more than"), Kind::HungTask, "INFO: task hung in {frame}"),
    row(Contains("BUG: soft lockup"), Kind::SoftLockup, "BUG: soft lockup in {frame}"),
    row(Contains("hard LOCKUP"), Kind::HardLockup, "BUG: hard lockup in {frame}"),
    row(Contains("self-detected stall on CPU"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    row(Contains("detected stalls on CPUs"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    row(Contains("detected stall on CPU"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    row(Contains("detected expedited stalls"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    row(Contains("detected stalls on tasks"), Kind::RcuStall, "INFO: rcu detected stall in {frame}"),
    row(Prefix("cache_from_obj: Wrong slab cache"), Kind::SlubDebug, "SLUB: Wrong slab cache in {frame}"),
    Row { cap: Cap::Slub, ..row(Prefix("BUG "), Kind::SlubDebug, "SLUB: {cap} in {frame}") },
    row(Prefix("BUG: Bad page state"), Kind::Bug, "BUG: Bad page state in {frame}"),
    row(Prefix("BUG: Bad page map"), Kind::Bug, "BUG: Bad page map in {frame}"),
    row(Prefix("BUG: Bad rss-counter state"), Kind::Bug, "BUG: Bad rss-counter state"),
    Row { cap: Cap::Short, ..row(Prefix("BUG: "), Kind::Bug, "BUG: {cap} in {frame}") },
    row(Contains(" invoked oom-killer: "), Kind::Oom, "{cap}"),
    row(
        Contains("page allocation failure: order:"),
        Kind::AllocFailure,
        "page allocation failure: order:{cap} in {frame}",
    ),
    row(
        Contains("page allocation failure. order:"),
        Kind::AllocFailure,
        "page allocation failure: order:{cap} in {frame}",
    ),
    Row { continues: &[Kind::Oom], ..row(Prefix("Out of memory: Kill"), Kind::Oom, "{cap}") },
    Row { continues: &[Kind::Oom], ..row(Prefix("Memory cgroup out of memory: Kill"), Kind::Oom, "{cap}") },
    row(Prefix("unreferenced object 0x"), Kind::Kmemleak, "memory leak in {frame}"),
    // CONFIG_FAULT_INJECTION's stack dump: the failure that follows was injected, not real.
    row(Prefix("FAULT_INJECTION: forcing a failure"), Kind::StackDump, "fault injection in {frame}"),
    Row {
        cap: Cap::Short,
        continues: OOPSY,
        ..row(Prefix("Kernel panic - not syncing: "), Kind::Panic, "kernel panic: {cap}")
    },
];

/// Substrings that must occur for a `Contains` row to match (each `Contains` pattern holds one of
/// them), searched in one SIMD pass over the line (Teddy, from aho-corasick) built once.
static CONTAINS: std::sync::LazyLock<Option<aho_corasick::packed::Searcher>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::packed::Searcher::new([
            "oom-killer",
            "allocation failure",
            "LOCKUP",
            "lockup",
            "stall",
            "blocked for more",
        ])
    });

/// The `Prefix` patterns of [`ROWS`] by first byte.
static PREFIXES: std::sync::LazyLock<[Vec<&'static str>; 256]> = std::sync::LazyLock::new(|| {
    let mut by_byte: [Vec<&'static str>; 256] = std::array::from_fn(|_| Vec::new());
    for r in ROWS {
        if let Prefix(p) = r.m {
            if let Some(&b) = p.as_bytes().first() {
                by_byte[usize::from(b)].push(p);
            }
        }
    }
    by_byte
});

fn contains_possible(t: &str) -> bool {
    match CONTAINS.as_ref() {
        Some(s) => s.find(t).is_some(),
        // No SIMD searcher on this CPU: the plain substring searches of the rows.
        None => ROWS.iter().any(|r| matches!(r.m, Contains(p) if t.contains(p))),
    }
}

/// The row a message starts, if any. `t` has its leading spaces removed.
pub fn header(t: &str) -> Option<&'static Row> {
    let first = *t.as_bytes().first()?;
    // Cheap filter: every prefix row starts with one of these letters; `Contains` rows need a
    // substring search only when one of their keywords occurs.
    let prefix_possible =
        matches!(first, b'B' | b'U' | b'g' | b'k' | b'I' | b'O' | b'W' | b'c' | b'M' | b'u' | b'K' | b'F');
    // Most lines starting with these letters are not headers: check the prefixes of the rows
    // that start with the same byte first.
    let prefix_possible = prefix_possible && PREFIXES[usize::from(first)].iter().any(|p| t.starts_with(p));
    let contains_possible = contains_possible(t);
    if !prefix_possible && !contains_possible {
        return None;
    }
    ROWS.iter().find(|r| match r.m {
        Prefix(p) => prefix_possible && t.starts_with(p) && (r.cap != Cap::Slub || is_slub_header(t)),
        Contains(p) => contains_possible && t.contains(p),
    })
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
        Prefix(p) => &t[p.len()..],
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

/// Frames that never explain a report: stack dumping, error reporting, fault entry, allocator and
/// lock internals, sanitizer runtimes. Entries ending in `*` are prefixes. After syzkaller's list.
pub static SKIP: &[&str] = &[
    "dump_stack*",
    "__dump_stack",
    "show_stack",
    "dump_backtrace",
    "sched_show_task",
    "show_regs",
    "__show_regs",
    "panic",
    "__warn*",
    "warn_slowpath*",
    "warn_alloc",
    "report_bug",
    "handle_bug",
    "do_error_trap",
    "do_trap",
    "do_invalid_op",
    "exc_invalid_op",
    "asm_exc_invalid_op",
    "invalid_op",
    "die",
    "__die*",
    "die_kernel_fault",
    "crash_kexec",
    "__crash_kexec",
    "oops_end",
    "bug_handler",
    "brk_handler",
    "call_break_hook",
    "do_debug_exception",
    "el1_dbg",
    "el1h_64_sync*",
    "el1_sync*",
    "el1_abort",
    "el1_da",
    "el1_ia",
    "do_mem_abort",
    "do_translation_fault",
    "do_page_fault",
    "__do_page_fault",
    "__do_kernel_fault",
    "do_kern_addr_fault",
    "do_user_addr_fault",
    "page_fault_oops",
    "no_context",
    "__bad_area_nosemaphore",
    "bad_area*",
    "exc_page_fault",
    "asm_exc_page_fault",
    "page_fault",
    "async_page_fault",
    "kernelmode_fixup_or_oops",
    "fixup_exception",
    "exc_general_protection",
    "asm_exc_general_protection",
    "general_protection",
    "do_general_protection",
    "kasan_*",
    "__kasan_*",
    "____kasan_*",
    "save_stack",
    "stack_trace_save*",
    "set_track*",
    "print_address_description*",
    "print_report",
    "check_memory_region*",
    "__asan_*",
    "asan_*",
    "kfence_*",
    "__kfence_*",
    "ubsan_*",
    "__ubsan_*",
    "check_*_object",
    "kmem_cache_free*",
    "kfree*",
    "__slab_free",
    "slab_free*",
    "do_slab_free",
    "cache_from_obj",
    "free_debug_processing",
    "object_err",
    "slab_err",
    "slab_bug",
    "slab_fix",
    "print_trailer",
    "print_track*",
    "check_object",
    "check_bytes_and_report",
    "check_bytes*",
    "check_pad_bytes",
    "check_slab",
    "slab_pad_check",
    "on_freelist",
    "free_consistency_checks",
    "alloc_consistency_checks",
    "dump_trace",
    "show_trace*",
    "should_fail*",
    "should_failslab",
    "free_to_partial_list",
    "kmem_cache_alloc*",
    "__kmem_cache_alloc*",
    // Not `kmalloc*`: that would skip callers named kmalloc_* (KASAN's kmalloc_oob_right test).
    "kmalloc",
    "kmalloc_trace*",
    "kmalloc_node*",
    "kmalloc_large*",
    "kmalloc_order*",
    "kmalloc_array*",
    "kmalloc_noprof",
    "kmalloc_reserve",
    "kmalloc_slab",
    "__kmalloc*",
    "___slab_alloc*",
    "__slab_alloc*",
    "slab_alloc*",
    "alloc_debug_processing",
    "krealloc*",
    "kvfree*",
    "kvmalloc*",
    "kzalloc",
    "kzalloc_node*",
    "kzalloc_noprof",
    "kmemdup*",
    "kstrdup*",
    "slab_post_alloc_hook",
    "__alloc_pages*",
    "alloc_pages*",
    "__get_free_pages",
    "get_page_from_freelist",
    "__folio_alloc*",
    "folio_alloc*",
    "alloc_slab_page",
    "allocate_slab",
    "new_slab",
    "__vmalloc*",
    "vmalloc*",
    "dump_header",
    "oom_kill_process*",
    "out_of_memory",
    "kmemleak_alloc*",
    "__kmemleak_*",
    "memcpy*",
    "memset*",
    "memmove*",
    "strlen",
    "strcpy",
    "strcmp",
    "strncpy",
    "copy_*_user*",
    "_raw_spin_*",
    "raw_spin_*",
    "spin_lock*",
    "spin_unlock*",
    "do_raw_spin_*",
    "queued_spin_lock_slowpath",
    "native_queued_spin_lock_slowpath",
    "__pv_queued_spin_lock_slowpath",
    "_raw_read_*",
    "_raw_write_*",
    "mutex_lock*",
    "__mutex_lock*",
    "mutex_unlock",
    "down_read*",
    "percpu_down_*",
    "__percpu_down_*",
    "percpu_rwsem_*",
    "percpu_up_*",
    "down_write*",
    "up_read",
    "up_write",
    "rwsem_down_*",
    "__rwsem_*",
    "lock_acquire",
    "__lock_acquire",
    "lock_release",
    "rcu_read_lock*",
    "schedule",
    "__schedule",
    "schedule_timeout*",
    "schedule_preempt_disabled",
    "io_schedule*",
    "wait_for_completion*",
    "__wait_for_common",
    "wait_for_common*",
    "bit_wait*",
    "__wait_on_bit*",
    "out_of_line_wait_on_bit*",
    "context_switch",
    "__switch_to*",
    "preempt_schedule*",
    "rcu_do_batch",
    "watchdog_timer_fn",
    "__hrtimer_run_queues",
    "hrtimer_interrupt",
    "smp_apic_timer_interrupt",
    "print_stop_info",
    "nmi_cpu_backtrace",
    "nmi_trigger_cpumask_backtrace",
];

/// Where a trace leaves kernel code of interest: the syscall and thread entry points. The guilty
/// frame is never searched past these.
pub static STOP: &[&str] = &[
    "ret_from_fork*",
    "kthread",
    "entry_SYSCALL*",
    "do_syscall_64",
    "el0_svc*",
    "el0_sync*",
    "__arm64_sys_*",
    "__x64_sys_*",
    "__do_sys_*",
    "cpu_startup_entry",
    "secondary_start_kernel",
];

/// A function-name list (`SKIP`, `STOP`) indexed by the first two bytes, so a lookup compares a
/// handful of entries instead of ~200 (it runs for every frame of every report).
struct FnIndex {
    buckets: Vec<Vec<(&'static str, bool)>>,
    /// Entries shorter than two bytes (none today), compared on every lookup.
    short: Vec<(&'static str, bool)>,
}

const FN_BUCKETS: usize = 512;

fn fn_bucket(b: &[u8]) -> usize {
    (usize::from(b[0]) * 31 + usize::from(b[1])) % FN_BUCKETS
}

impl FnIndex {
    fn new(list: &[&'static str]) -> Self {
        let mut buckets = vec![Vec::new(); FN_BUCKETS];
        let mut short = Vec::new();
        for p in list {
            let (pat, prefix) = match p.strip_suffix('*') {
                Some(pre) => (pre, true),
                None => (*p, false),
            };
            if pat.len() < 2 {
                short.push((pat, prefix));
            } else {
                buckets[fn_bucket(pat.as_bytes())].push((pat, prefix));
            }
        }
        FnIndex { buckets, short }
    }

    fn matches(&self, func: &str) -> bool {
        let base = func.split('.').next().unwrap_or(func);
        let hit = |&(p, prefix): &(&str, bool)| if prefix { base.starts_with(p) } else { base == p };
        if self.short.iter().any(hit) {
            return true;
        }
        base.len() >= 2 && self.buckets[fn_bucket(base.as_bytes())].iter().any(hit)
    }
}

static SKIP_INDEX: std::sync::LazyLock<FnIndex> = std::sync::LazyLock::new(|| FnIndex::new(SKIP));
static STOP_INDEX: std::sync::LazyLock<FnIndex> = std::sync::LazyLock::new(|| FnIndex::new(STOP));

/// `matches_list(SKIP, func)`, indexed.
pub fn is_skip(func: &str) -> bool {
    SKIP_INDEX.matches(func)
}

/// `matches_list(STOP, func)`, indexed.
pub fn is_stop(func: &str) -> bool {
    STOP_INDEX.matches(func)
}

pub fn matches_list(list: &[&str], func: &str) -> bool {
    // `.cold`, `.isra.0`, `.constprop.34` suffixes are compiler clones of the same function.
    let base = func.split('.').next().unwrap_or(func);
    list.iter().any(|p| match p.strip_suffix('*') {
        Some(pre) => base.starts_with(pre),
        None => base == *p,
    })
}

/// Which slab cache an RCU/free callback frees to (kernel sources, `kmem_cache_free(<cachep>, ...)`).
pub static FREE_CALLBACK_CACHE: &[(&str, &str)] = &[
    ("ext4_i_callback", "ext4_inode_cache"),
    ("ext4_free_in_core_inode", "ext4_inode_cache"),
    ("ext4_destroy_inode", "ext4_inode_cache"),
    ("i_callback", "inode_cache"),
    ("free_inode_nonrcu", "inode_cache"),
    ("__d_free", "dentry"),
    ("__d_free_external", "dentry"),
    ("dentry_free", "dentry"),
    ("file_free_rcu", "filp"),
    ("file_free", "filp"),
    ("kfree_skbmem", "skbuff_head_cache"),
    ("free_buffer_head", "buffer_head"),
    ("__put_task_struct", "task_struct"),
    ("free_task", "task_struct"),
    ("vm_area_free", "vm_area_struct"),
    ("__vm_area_free", "vm_area_struct"),
    ("anon_vma_chain_free", "anon_vma_chain"),
    ("anon_vma_free", "anon_vma"),
    ("kernfs_put", "kernfs_node_cache"),
    ("kernfs_free_rcu", "kernfs_node_cache"),
    ("proc_free_inode", "proc_inode_cache"),
    ("proc_i_callback", "proc_inode_cache"),
    ("shmem_free_in_core_inode", "shmem_inode_cache"),
    ("shmem_destroy_callback", "shmem_inode_cache"),
    ("sock_free_inode", "sock_inode_cache"),
    ("sock_destroy_inode", "sock_inode_cache"),
    ("xfs_inode_free_callback", "xfs_inode"),
    ("btrfs_free_inode", "btrfs_inode"),
    ("nfs_free_inode", "nfs_inode_cache"),
    ("fuse_free_inode", "fuse_inode"),
    ("free_pid", "pid"),
    ("delayed_put_pid", "pid"),
    ("put_cred_rcu", "cred_jar"),
    ("free_nsproxy", "nsproxy"),
    ("radix_tree_node_rcu_free", "radix_tree_node"),
    ("bio_free", "bio"),
    ("mempool_free_slab", "(mempool cache)"),
];

pub fn cache_of_callback(func: &str) -> Option<&'static str> {
    let base = func.split('.').next().unwrap_or(func);
    FREE_CALLBACK_CACHE.iter().find(|(f, _)| *f == base).map(|(_, c)| *c)
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
        assert!(!is_skip("kmalloc_oob_right"));
        assert!(is_skip("kmalloc_trace_noprof"));
        assert!(header("TRACE kernfs_node_cache alloc 0x0").is_none());
        let r = header("BUG: sleeping function called from invalid context at mm/slab.h:421").unwrap();
        assert_eq!(
            capture(r, "BUG: sleeping function called from invalid context at mm/slab.h:421").as_deref(),
            Some("sleeping function called from invalid context")
        );
        assert!(matches_list(SKIP, "___slab_alloc.constprop.34"));
        assert!(matches_list(SKIP, "oom_kill_process.cold"));
        assert!(!matches_list(SKIP, "ext4_i_callback"));
        for f in [
            "___slab_alloc.constprop.34",
            "oom_kill_process.cold",
            "ext4_i_callback",
            "kmalloc",
            "k",
            "",
            "die",
            "dief",
            "__x64_sys_openat",
            "el0_svc",
        ] {
            assert_eq!(is_skip(f), matches_list(SKIP, f), "{f}");
            assert_eq!(is_stop(f), matches_list(STOP, f), "{f}");
        }
    }
}
