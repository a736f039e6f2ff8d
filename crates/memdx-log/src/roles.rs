//! The frame-role table: what a kernel function is to somebody reading a stack trace (reporting
//! machinery, allocator entry, lock or scheduler primitive, entry code, a dispatcher of work, a
//! free callback of a known slab cache...). One table, used by the log engine (guilty frame,
//! signatures, explanations), the slab engine (allocator frames above the caller, generic
//! plumbing) and symbolization. Each row names the kernel behaviour that gives its functions the
//! role; after syzkaller's `pkg/report` skip lists.
//!
//! Patterns are matched on the function name without compiler suffixes (`.constprop.0`,
//! `.isra.0`, `.cold`): `foo` exact, `foo*` prefix, `*foo` suffix, `*foo*` anywhere.

use aho_corasick::{AhoCorasick, MatchKind};
use std::sync::LazyLock;

/// What a function is in a stack trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// Prints the report or the stack: never the cause.
    Report,
    /// Sanitizer runtimes (KASAN, KMSAN, KCSAN, KFENCE, UBSAN): they detect, the caller did it.
    Sanitizer,
    /// Checkers that WARN or BUG when their caller broke a contract (refcount, list, usercopy,
    /// debugobjects, lockdep, might_sleep): the caller is guilty.
    Checker,
    /// Exception and fault entry: runs because the faulting function faulted.
    Fault,
    /// Page, slab and vmalloc allocator internals and entry points.
    Alloc,
    /// Slab free paths.
    Free,
    /// Generic helpers that touch memory on behalf of their caller (string, memory copy, user
    /// copy, list/rbtree/xarray, bit and atomic operations, printf formatting).
    Helper,
    /// Lock primitives: a lock that spins or sleeps is where the report finds a task, not why.
    Lock,
    /// Scheduler and wait primitives: where a blocked task sleeps.
    Sched,
    /// Interrupt, softirq, timer and RCU callback dispatch: the context a function runs in.
    Context,
    /// Tracing and perf hooks that record an event on the allocator's behalf.
    Tracing,
    /// Syscall and thread entry: the bottom of the kernel part of a stack.
    Entry,
    /// Syscall wrappers and dispatchers that choose a handler (the socket layer a protocol, a
    /// netlink family a message handler): the work is the handler they call.
    Dispatch,
    /// VFS and syscall plumbing a call passes through on its way to the work (`vfs_write`,
    /// `ksys_ioctl`, `do_rmdir`): transparent.
    Plumbing,
    /// Reached only because kmemleak's allocation stack passes through it: any function that
    /// allocates on its caller's behalf.
    LeakAlloc,
    /// Named for waiting (`*wait*`, `*_lock`, `*synchronize*`): where a hung task blocks, never
    /// why; skipped for hung tasks only (a WARNING inside `console_lock` is still its own).
    Wait,
    /// The APIs of the object types debugobjects tracks (RCU heads, timers, hrtimers, work items)
    /// and the free paths that check freed memory for live objects: an ODEBUG warning raised
    /// inside them is about their caller's object; skipped for ODEBUG warnings only.
    ObjectApi,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 17] = [
        Report, Sanitizer, Checker, Fault, Alloc, Free, Helper, Lock, Sched, Context, Tracing, Entry,
        Dispatch, Plumbing, LeakAlloc, Wait, ObjectApi,
    ];

    const fn bit(self) -> u32 {
        1 << self as u8
    }

    /// The role's name in output (`memdx symbolize --json`): lower case, `_` between words.
    pub const fn name(self) -> &'static str {
        match self {
            Report => "report",
            Sanitizer => "sanitizer",
            Checker => "checker",
            Fault => "fault",
            Alloc => "alloc",
            Free => "free",
            Helper => "helper",
            Lock => "lock",
            Sched => "sched",
            Context => "context",
            Tracing => "tracing",
            Entry => "entry",
            Dispatch => "dispatch",
            Plumbing => "plumbing",
            LeakAlloc => "leak_alloc",
            Wait => "wait",
            ObjectApi => "object_api",
        }
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u32);

impl Roles {
    pub const NONE: Roles = Roles(0);

    pub const fn of(roles: &[Role]) -> Roles {
        let mut bits = 0;
        let mut i = 0;
        while i < roles.len() {
            bits |= roles[i].bit();
            i += 1;
        }
        Roles(bits)
    }

    pub const fn with(self, r: Role) -> Roles {
        Roles(self.0 | r.bit())
    }

    pub const fn union(self, other: Roles) -> Roles {
        Roles(self.0 | other.0)
    }

    pub fn contains(self, r: Role) -> bool {
        self.0 & r.bit() != 0
    }

    /// True when the two sets share a role.
    pub fn hits(self, other: Roles) -> bool {
        self.0 & other.0 != 0
    }

    /// The names of the roles in the set, in declaration order.
    pub fn names(self) -> Vec<&'static str> {
        Role::ALL.into_iter().filter(|&r| self.contains(r)).map(Role::name).collect()
    }
}

/// The roles a report's guilty frame is never taken from, whatever the report.
pub const NEVER_GUILTY: Roles = Roles::of(&[
    Role::Report,
    Role::Sanitizer,
    Role::Checker,
    Role::Fault,
    Role::Alloc,
    Role::Free,
    Role::Helper,
    Role::Lock,
    Role::Sched,
    Role::Tracing,
]);

/// One row: functions that share a role for one kernel reason.
pub struct RoleRow {
    pub role: Role,
    pub pats: &'static [&'static str],
    /// The kernel behaviour that gives these functions the role.
    pub why: &'static str,
}

const fn r(role: Role, why: &'static str, pats: &'static [&'static str]) -> RoleRow {
    RoleRow { role, pats, why }
}

use Role::*;

pub static ROLE_ROWS: &[RoleRow] = &[
    r(
        Report,
        "dump_stack()/show_stack() print the trace that contains them",
        &[
            "dump_stack*",
            "__dump_stack",
            "show_stack",
            "dump_backtrace*",
            "show_trace*",
            "dump_trace",
            "sched_show_task",
            "show_regs",
            "__show_regs",
            "show_regs_print_info",
            "print_trace_address",
            "walk_stackframe",
            "arch_stack_walk",
            "unwind_*",
            "__unwind_*",
            "save_stack*",
            "__save_stack_trace*",
            "stack_trace_*",
            "save_trace",
            "set_track*",
            "print_stop_info",
            "show_stack_log_lvl",
            "ftrace_trace_stack",
            "__ftrace_trace_stack",
            "print_context_stack*",
            "print_address_description*",
            "print_report",
            "describe_object*",
            "print_track*",
            "print_trailer",
            "object_err",
            "slab_err",
            "slab_bug",
            "slab_fix",
            "print_page_info",
            "dump_page",
            "__dump_page",
            "print_section",
        ],
    ),
    r(
        Report,
        "panic(), WARN() and BUG() print the report from these helpers",
        &[
            "panic",
            "nmi_panic",
            "__warn*",
            "warn_slowpath*",
            "warn_alloc*",
            "warn_bogus*",
            "report_bug",
            "handle_bug",
            "fixup_bug",
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
            "bad_page",
            "__schedule_bug",
            "spin_dump",
            "spin_bug",
            "rwlock_bug",
            "__report_bad_irq",
            "dump_header",
            "oom_kill_process*",
            "out_of_memory",
            "__oom_kill_process",
        ],
    ),
    r(
        Report,
        "printk formats the report text",
        &[
            "printk*",
            "vprintk*",
            "_printk*",
            "__printk*",
            "console_unlock",
            "console_flush_all",
            "call_console_driver*",
            "vsnprintf",
            "vscnprintf",
            "snprintf",
            "scnprintf",
            "sprintf",
            "vsprintf",
            "format_decode",
            "pointer",
            "string",
            "number",
            "symbol_string",
            "va_format*",
            "kvasprintf*",
            "kasprintf*",
        ],
    ),
    r(
        Report,
        "stall and lockup detectors print other CPUs' stacks from their own",
        &[
            "print_other_cpu_stall",
            "print_cpu_stall*",
            "rcu_dump_cpu_stacks",
            "rcu_check_gp_kthread_starvation",
            "dump_cpu_task",
            "nmi_cpu_backtrace*",
            "nmi_trigger_cpumask_backtrace",
            "arch_trigger_cpumask_backtrace",
            "trigger_*_backtrace",
            "rcu_print_*",
            "check_cpu_stall",
            "rcu_pending",
            "rcu_check_callbacks",
            "rcu_sched_clock_irq",
            "rcu_stall_kick_kthreads",
            "watchdog_timer_fn",
            "watchdog",
            "softlockup_fn",
            "watchdog_overflow_callback",
            "check_hung_uninterruptible_tasks",
            "check_hung_task",
            "hung_task_*",
            "print_lock*",
            "print_irqtrace_events",
            "debug_show_*",
            "show_workqueue_state",
            "wq_watchdog_timer_fn",
            "rcu_gp_kthread",
            "rcu_gp_fqs*",
            "rcu_gp_*",
        ],
    ),
    r(
        Sanitizer,
        "KASAN/KMSAN/KCSAN/KFENCE/UBSAN check memory accesses and report on the caller's behalf",
        &[
            "kasan_*",
            "__kasan_*",
            "____kasan_*",
            "*_kasan_*",
            "check_memory_region*",
            "__asan_*",
            "asan_*",
            "hwasan_*",
            "__hwasan_*",
            "kmsan_*",
            "__kmsan_*",
            "__msan_*",
            "msan_*",
            "kcsan_*",
            "__kcsan_*",
            "__tsan_*",
            "kfence_*",
            "__kfence_*",
            "ubsan_*",
            "__ubsan_*",
            "do_tag_check_fault",
            "report_tag_fault",
            "mte_*",
            "qlist_free_all",
            "quarantine_*",
            "kmemleak_*",
            "__kmemleak_*",
            "create_object",
            "__create_object",
            "should_fail*",
            "__should_fail*",
            "should_failslab",
            "fail_dump",
            "__should_failslab",
            "__check_heap_object",
        ],
    ),
    r(
        Checker,
        "refcount_t, kref and ref_tracker WARN when their caller misuses the count",
        &[
            "refcount_*",
            "__refcount_*",
            "kref_*",
            "ref_tracker_*",
            "ex_handler_refcount",
            "kobject_get*",
            "kobject_put",
            "kobject_add_internal",
            "kobject_init*",
            "kobject_release",
        ],
    ),
    r(
        Checker,
        "list debugging, usercopy hardening and FORTIFY_SOURCE report a bad caller",
        &[
            "__list_add_valid*",
            "__list_del_entry_valid*",
            "__list_*_report",
            "list_*_valid*",
            "__check_object_size",
            "check_object_size",
            "check_*_object",
            "check_stack_object",
            "usercopy_abort",
            "__fortify_report",
            "fortify_panic",
            "__fortify_panic",
            "__fortify_*",
        ],
    ),
    r(
        Checker,
        "debugobjects reports a misused object from its own helpers",
        &[
            "debug_object*",
            "debug_print_object",
            "__debug_object*",
            "debug_check_no_*",
            "timer_is_static_object",
            "work_is_static_object",
            "timer_fixup_*",
            "work_fixup_*",
        ],
    ),
    r(
        Checker,
        "lockdep checks every lock operation and reports from inside it",
        &[
            "lockdep_*",
            "__lockdep_*",
            "lock_acquire*",
            "lock_release",
            "lock_acquired",
            "lock_contended",
            "__lock_acquire*",
            "__lock_release",
            "lock_is_held*",
            "__lock_is_held",
            "lock_class*",
            "register_lock_class",
            "look_up_lock_class",
            "mark_lock*",
            "mark_held_locks",
            "mark_usage",
            "reacquire_held_locks",
            "validate_chain",
            "check_prev_add*",
            "check_prevs_add",
            "check_noncircular",
            "check_deadlock",
            "check_irq_usage",
            "print_circular_bug*",
            "print_usage_bug",
            "print_bad_irq_dependency",
            "print_deadlock_bug",
            "print_unlock_imbalance_bug",
            "print_*_bug",
            "valid_state",
            "mark_lock_irq",
            "lock_downgrade",
            "lock_sync",
            "lock_set_class",
            "trace_hardirqs_*",
            "trace_softirqs_*",
            "lockdep_hardirqs_*",
            "*_irq_restore_bogus*",
            "__might_sleep",
            "___might_sleep",
            "__might_resched",
            "__might_fault",
            "might_fault",
            "might_sleep",
            "__cant_sleep",
            "check_preemption_disabled",
            "debug_smp_processor_id",
            "__this_cpu_preempt_check",
            "in_atomic_preempt_off",
            "rcu_lockdep_*",
            "rcu_read_lock_held*",
        ],
    ),
    r(
        Fault,
        "exception entry runs because the interrupted function faulted",
        &[
            "do_debug_exception",
            "el1_dbg",
            "el1h_64_sync*",
            "el1_sync*",
            "el1_abort",
            "el1_da",
            "el1_ia",
            "el1_undef",
            "el1_inv",
            "do_mem_abort",
            "do_translation_fault",
            "do_bad_area",
            "do_page_fault",
            "__do_page_fault",
            "__do_kernel_fault",
            "do_kern_addr_fault",
            "do_user_addr_fault",
            "page_fault_oops",
            "no_context",
            "__bad_area*",
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
            "do_divide_error",
            "exc_divide_error",
            "asm_exc_divide_error",
            "divide_error",
            "do_double_fault",
            "exc_double_fault",
            "double_fault",
            "handle_stack_overflow",
            "do_alignment*",
            "do_DataAbort",
            "do_PrefAbort",
            "__dabt_svc",
            "__pabt_svc",
            "__und_svc",
            "do_undefinstr",
            "die_if_kernel",
            "do_int3*",
            "exc_int3",
            "bad_page_fault",
            "do_sigbus",
            "do_exception",
            "do_dat_exception",
            "do_trap_*",
            "handle_exception",
            "asm_exc_*",
            "exc_*",
        ],
    ),
    r(
        Alloc,
        "slab, page and vmalloc allocation: the caller asked for the memory",
        &[
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
            "kmalloc_caches",
            "kmalloc_track_caller*",
            "kmem_cache_alloc*",
            "__kmem_cache_alloc*",
            "kmem_cache_zalloc",
            "___slab_alloc*",
            "__slab_alloc*",
            "slab_alloc*",
            "slab_pre_alloc_hook",
            "slab_post_alloc_hook",
            "alloc_debug_processing",
            "alloc_consistency_checks",
            "krealloc*",
            "__krealloc*",
            "kvmalloc*",
            "__kvmalloc*",
            "kvzalloc*",
            "kvcalloc*",
            "kzalloc",
            "kzalloc_node*",
            "kzalloc_noprof",
            "kcalloc*",
            "kmemdup*",
            "kstrdup*",
            "kstrndup",
            "memdup_user*",
            "vmemdup_user",
            "__alloc_pages*",
            "alloc_pages*",
            "__get_free_pages",
            "get_zeroed_page",
            "get_page_from_freelist",
            "__alloc_frozen_pages*",
            "alloc_frozen_pages*",
            "__folio_alloc*",
            "folio_alloc*",
            "alloc_slab_page",
            "allocate_slab",
            "new_slab",
            "__vmalloc*",
            "vmalloc*",
            "vzalloc*",
            "__vmalloc_node*",
            "vmalloc_node*",
            "post_alloc_hook",
            "prep_new_page",
            "rmqueue*",
            "get_freepointer*",
            "__rmqueue*",
            "alloc_page_interleave",
            "alloc_pages_vma",
            "memcg_slab_post_alloc_hook",
            // SLAB (mm/slab.c, before 6.5): per-CPU array refill and slab growth.
            "cache_alloc_refill",
            "____cache_alloc*",
            "__cache_alloc*",
            "cache_grow*",
            "kmem_getpages",
            "fallback_alloc",
            "__do_kmalloc*",
            // SLOB (before 6.4).
            "slob_alloc",
            "slob_new_pages",
            "slob_page_alloc",
            // SLUB before 5.x and the page-fragment allocator.
            "new_slab_objects",
            "page_frag_alloc*",
            "__page_frag_alloc*",
            "__page_frag_cache_refill",
            "alloc_pages_exact*",
        ],
    ),
    r(
        Free,
        "slab free: the caller freed the object",
        &[
            "kmem_cache_free*",
            "__kmem_cache_free*",
            "kfree*",
            "kvfree*",
            "__slab_free",
            "slab_free*",
            "do_slab_free",
            "cache_from_obj",
            "free_debug_processing",
            "free_consistency_checks",
            "free_to_partial_list",
            "check_object",
            "check_bytes_and_report",
            "check_bytes*",
            "check_pad_bytes",
            "check_slab",
            "slab_pad_check",
            "on_freelist",
            "free_large_kmalloc",
            "kmem_cache_free_bulk",
            "__free_pages*",
            "free_pages*",
            "free_unref_page*",
        ],
    ),
    r(
        Helper,
        "string and memory helpers act on their caller's buffers",
        &[
            "memcpy*",
            "__memcpy*",
            "memset*",
            "__memset*",
            "memmove*",
            "__memmove*",
            "memcmp*",
            "__memcmp*",
            "bcmp",
            "memchr*",
            "memscan",
            "strlen",
            "strnlen*",
            "strcmp",
            "strncmp",
            "strcpy",
            "strncpy",
            "strlcpy",
            "strscpy*",
            "sized_strscpy",
            "strcat",
            "strncat",
            "strlcat",
            "strstr",
            "strnstr",
            "strchr*",
            "strrchr",
            "strsep",
            "strcasecmp",
            "strncasecmp",
            "kstrto*",
            "simple_strto*",
            "_parse_integer*",
            "__memcpy_*",
            "crc*",
            "__crc*",
            "csum_partial*",
        ],
    ),
    r(
        Helper,
        "user copy and iov_iter helpers copy on their caller's behalf",
        &[
            "copy_*_user*",
            "_copy_*_user*",
            "__copy_*_user*",
            "raw_copy_*_user*",
            "copy_user_*",
            "strncpy_from_user",
            "strnlen_user",
            "get_user*",
            "put_user*",
            "__get_user*",
            "__put_user*",
            "copyin",
            "copyout",
            "copy_to_iter",
            "_copy_to_iter",
            "copy_from_iter*",
            "_copy_from_iter*",
            "copy_page_to_iter*",
            "copy_page_from_iter*",
            "copy_folio_to_iter",
            "copy_mc_*",
            "memcpy_to_page",
            "memcpy_from_page",
            "clear_user",
            "__clear_user",
        ],
    ),
    r(
        Helper,
        "list, tree and xarray helpers dereference the caller's nodes",
        &[
            "__list_add",
            "list_add*",
            "__list_del*",
            "list_del*",
            "list_replace*",
            "list_move*",
            "list_splice*",
            "hlist_*",
            "__hlist_*",
            "rb_*",
            "__rb_*",
            "xa_*",
            "xas_*",
            "__xa_*",
            "__xas_*",
            "llist_*",
            "plist_*",
            "__wake_up*",
            // Not `wake_up_new_task`: fork's start of the new task, no wait-queue helper.
            "wake_up_bit",
            "wake_up_var",
            "wake_up_process",
            "wake_up_state",
            "wake_up_q",
            "wake_up_page*",
            "wake_up_all*",
            "__wake_up_common*",
            "finish_wait",
            "prepare_to_wait*",
            "add_wait_queue*",
            "remove_wait_queue",
        ],
    ),
    r(
        Helper,
        "atomic and bit operations act on their caller's words",
        &[
            "atomic_*",
            "atomic64_*",
            "arch_atomic*",
            "raw_atomic*",
            "__atomic_*",
            "set_bit",
            "clear_bit",
            "change_bit",
            "test_bit",
            "test_and_*_bit*",
            "__set_bit",
            "__clear_bit",
            "_find_*_bit*",
            "find_*_bit",
            "instrument_*",
            "__read_once*",
            "__write_once*",
            "read_word_at_a_time",
            "*_indirect_thunk_*",
            "__x86_indirect_*",
            "srso_return_thunk",
            "__x86_return_thunk",
            "_atomic_dec_and_lock*",
            "atomic_dec_and_*lock*",
        ],
    ),
    r(
        Lock,
        "spinlocks, rwlocks, mutexes, semaphores and rwsems: where a task waits for a lock",
        &[
            "_raw_spin_*",
            "raw_spin_*",
            "spin_lock*",
            "spin_unlock*",
            "spin_trylock*",
            "do_raw_spin_*",
            "queued_spin_lock_slowpath",
            "native_queued_spin_lock_slowpath",
            "__pv_queued_spin_lock_slowpath",
            "pv_queued_spin_lock_slowpath",
            "_raw_read_*",
            "_raw_write_*",
            "read_lock*",
            "read_unlock*",
            "write_lock*",
            "write_unlock*",
            "queued_read_lock*",
            "queued_write_lock*",
            "do_raw_read_*",
            "do_raw_write_*",
            "mutex_*",
            "__mutex_*",
            "rt_mutex_*",
            "__rt_mutex_*",
            "rt_spin_*",
            "down",
            "__down*",
            "down_*",
            "up",
            "up_read",
            "up_write",
            "percpu_down_*",
            "__percpu_down_*",
            "percpu_rwsem_*",
            "percpu_up_*",
            "rwsem_*",
            "__rwsem_*",
            "call_rwsem_*",
            "osq_lock",
            "osq_unlock",
            "owner_on_cpu",
            "mutex_spin_on_owner",
            "rwsem_spin_on_owner",
            "local_bh_*",
            "__local_bh_*",
            "_local_bh_*",
            "rcu_read_lock*",
            "rcu_read_unlock*",
            "__rcu_read_*",
            "srcu_read_*",
            "__srcu_read_*",
            "lock_sock*",
            "release_sock",
            "__lock_sock",
            "lock_timer_base",
            "bit_spin_lock",
            "raw_spin_rq_*",
            "seqprop_*",
            "lock_page*",
            "__lock_page*",
            "folio_lock*",
            "__folio_lock*",
        ],
    ),
    r(
        Sched,
        "scheduler and wait primitives: where a blocked task sleeps",
        &[
            "schedule",
            "__schedule",
            "schedule_*",
            "io_schedule*",
            "preempt_schedule*",
            "__cond_resched*",
            "_cond_resched",
            "context_switch",
            "__switch_to*",
            "finish_task_switch*",
            "__sched_text_start",
            "wait_for_completion*",
            "__wait_for_common",
            "wait_for_common*",
            "do_wait_for_common",
            "bit_wait*",
            "__wait_on_bit*",
            "out_of_line_wait_on_bit*",
            "wait_on_bit*",
            "wait_on_page_bit*",
            "__wait_on_page*",
            "wait_on_page_*",
            "folio_wait*",
            "__folio_wait*",
            "__lock_page_killable",
            "wait_woken",
            "__wait_rcu_gp",
            "synchronize_rcu_expedited",
            "synchronize_srcu*",
            "__synchronize_srcu",
            "rcu_barrier*",
            "flush_work",
            "__flush_work",
            "flush_workqueue",
            "__flush_workqueue",
            "cancel_work_sync",
            "cancel_delayed_work_sync",
            "__cancel_work*",
            "del_timer_sync",
            "timer_delete_sync",
            "drain_workqueue",
            "wait_event*",
            "__wait_event*",
            "do_nanosleep",
            "hrtimer_nanosleep",
            "freezable_schedule*",
            "futex_wait*",
            "__futex_wait",
            "pipe_wait",
            "wait_for_stable_page",
            "kthread_stop*",
            "msleep*",
            "usleep_range*",
            "ssleep",
            "wait_var_event*",
            "schedule_hrtimeout*",
            "kvm_vcpu_block",
            "do_idle",
            "cpu_idle_poll",
            "default_idle*",
            "arch_cpu_idle",
            "cpuidle_*",
            "__cpuidle_text_start",
            "native_safe_halt",
            "cpu_startup_entry",
            "poll_idle",
            "acpi_idle_*",
            "intel_idle*",
            "mwait_idle*",
        ],
    ),
    r(
        Context,
        "interrupt, softirq and timer dispatch: the function they call is the work",
        &[
            "__do_softirq",
            "do_softirq*",
            "handle_softirqs",
            "irq_exit*",
            "__irq_exit_rcu",
            "invoke_softirq",
            "run_ksoftirqd",
            "tasklet_action*",
            "tasklet_*_action*",
            "net_rx_action",
            "net_tx_action",
            "__napi_poll",
            "napi_poll",
            "call_timer_fn",
            "expire_timers",
            "__run_timers",
            "run_timer_softirq",
            "__hrtimer_run_queues",
            "hrtimer_run_queues",
            "hrtimer_interrupt",
            "__run_hrtimer",
            "smp_apic_timer_interrupt",
            "apic_timer_interrupt",
            "sysvec_*",
            "asm_sysvec_*",
            "irq_*",
            "__irq_*",
            "handle_irq*",
            "do_IRQ",
            "common_interrupt",
            "asm_common_interrupt",
            "gic_handle_irq",
            "handle_domain_irq",
            "generic_handle_*",
            "handle_*_irq",
            "__handle_irq_event*",
            "handle_irq_event*",
            "ret_from_intr",
            "irq_svc",
            "__irq_svc",
            "el1_irq",
            "el1h_64_irq*",
            "call_on_irq_stack",
            "el1_interrupt",
            "el0_interrupt",
            "__el1_irq",
            "do_interrupt_handler",
            "asm_call_on_stack",
            "asm_call_irq_on_stack",
            "asm_call_sysvec_on_stack",
            "run_on_irqstack_cond",
            "local_apic_timer_interrupt",
            "do_softirq_own_stack",
            "__sysvec_*",
            "rcu_do_batch",
            "rcu_core",
            "rcu_core_si",
            "rcu_process_callbacks",
            "__rcu_process_callbacks",
            "rcu_cpu_kthread",
            "process_one_work",
            "process_scheduled_works",
            "worker_thread",
            "flush_smp_call_function*",
            "generic_smp_call_function_*",
            "__flush_smp_call_function_queue",
            "smp_call_function_*interrupt",
            "timerqueue_*",
            "tick_sched_*",
            "update_process_times",
            "tick_*handle*",
            "irqentry_*",
            "__irq_exit*",
            "irqtime_*",
            "task_work_run",
        ],
    ),
    r(
        Tracing,
        "tracepoints, perf and BPF hooks record the event on the traced function's behalf",
        &[
            "trace_event_raw_event_*",
            "perf_trace_*",
            "__traceiter_*",
            "trace_kmem*",
            "trace_kmalloc*",
            "__bpf_trace_*",
            "bpf_trace_run*",
            "trace_buffer_unlock_commit_regs",
            "event_triggers_call",
            "stacktrace_trigger",
            "trace_event_buffer_commit",
            "kprobe_ftrace_handler",
            "trace_call_bpf",
            "bpf_get_stackid",
            "ftrace_*",
            "__ftrace_*",
        ],
    ),
    r(
        Entry,
        "syscall, thread and CPU entry: the kernel part of a stack ends here",
        &[
            "ret_from_fork*",
            "kthread",
            "entry_SYSCALL*",
            "entry_SYSENTER*",
            "entry_INT80*",
            "do_syscall_*",
            "do_fast_syscall_32",
            "invoke_syscall",
            "x64_sys_call",
            "ia32_sys_call",
            "__do_fast_syscall_32",
            "do_int80_syscall_32",
            "syscall_call",
            "sysenter_*",
            "el0_svc*",
            "el0_sync*",
            "el0t_*",
            "ret_fast_syscall",
            "vector_swi",
            "__sys_trace*",
            "system_call*",
            "cpu_startup_entry",
            "secondary_start_kernel",
            "start_secondary",
            "start_kernel",
            "rest_init",
            "kernel_init*",
            "handle_syscall",
            "do_trap_ecall_u",
            "ret_from_syscall",
            "syscall_exit_work",
        ],
    ),
    r(
        Dispatch,
        "syscall dispatch wrappers: the syscall itself is named by the function they wrap",
        &[
            "__x64_sys_*",
            "__ia32_sys_*",
            "__arm64_sys_*",
            "__riscv_sys_*",
            "__s390x_sys_*",
            "__se_sys_*",
            "__do_sys_*",
            "__x32_compat_sys_*",
            "__ia32_compat_sys_*",
            "__se_compat_sys_*",
            "__do_compat_sys_*",
            "el0_svc_common*",
            "el0_svc_handler",
            "SyS_*",
            "SYSC_*",
            "compat_SyS_*",
        ],
    ),
    r(
        Plumbing,
        "VFS and syscall plumbing between a syscall and the code that does its work",
        &[
            "vfs_*",
            "__vfs_*",
            "do_vfs_*",
            "new_sync_*",
            "do_iter_*",
            "ksys_*",
            "__sys_*",
            "___sys_*",
            "____sys_*",
            "do_mkdirat",
            "do_rmdir",
            "do_unlinkat",
            "do_sys_open*",
            "do_filp_open",
            "path_openat",
            "filename_create",
            "kernfs_iop_*",
            "kernfs_fop_*",
            "seq_read",
            "seq_read_iter",
            "process_backlog",
            "compat_sys_ioctl",
            "blkdev_ioctl",
            "smpboot_*",
            "sock_ioctl",
            "sock_do_ioctl",
            "do_compat_*",
            "compat_*_ioctl*",
        ],
    ),
    r(
        Dispatch,
        "dispatchers that choose the handler (socket layer -> protocol, packet receive -> protocol, \
         netlink family -> message handler, compat ioctl -> native ioctl): the handler is the work",
        &[
            "sock_sendmsg*",
            "__sock_sendmsg",
            "sock_recvmsg*",
            "sock_write_iter",
            "sock_read_iter",
            "__netif_receive_skb*",
            "netif_receive_skb*",
            "rtnetlink_rcv_msg",
            "nfnetlink_rcv_msg",
            "nfnetlink_rcv_batch",
            "*_compat_ioctl",
        ],
    ),
    r(
        Report,
        "panic paths and assertion helpers print the report and stop",
        &[
            "*panic*",
            "__stack_chk_fail",
            "assertfail",
            "*_assert_fail*",
            "rust_helper_BUG",
            "rust_begin_unwind",
        ],
    ),
    r(
        Sanitizer,
        "KCOV coverage callbacks run inside every instrumented function",
        &["__sanitizer_*", "write_comp_data", "check_kcov_mode"],
    ),
    r(
        Checker,
        "VFS link counts, reference drops and buffer dirtying WARN or free on the caller's misuse",
        &[
            "drop_nlink",
            "inc_nlink",
            "clear_nlink",
            "set_nlink",
            "iput",
            "dput",
            "iput_final",
            "dput_final",
            "fast_dput",
            "mark_buffer_dirty",
        ],
    ),
    r(
        Helper,
        "driver core, kobject and sysfs helpers act on the device or object of their caller",
        &[
            "device_del",
            "device_add",
            "device_unregister",
            "device_release",
            "kobject_*",
            "sysfs_*",
            "devres_release_all",
            "klist_*",
            "get_device_parent",
            "add_uevent_var",
            "kobject_uevent*",
            "put_device",
            "get_device",
            "device_destroy",
            "dpm_sysfs_remove",
        ],
    ),
    r(
        Helper,
        "timer and workqueue API calls act on their caller's timer or work",
        &[
            "del_timer",
            "__del_timer",
            "timer_delete",
            "mod_timer",
            "__mod_timer",
            "add_timer",
            "insert_work",
            "__queue_work",
            "queue_work_on",
            "queue_delayed_work_on",
            "__queue_delayed_work",
            "try_to_grab_pending",
            "__cancel_work_timer",
        ],
    ),
    r(
        Helper,
        "more copy helpers: iov_iter and skb datagram copies",
        &["*copy_to_iter*", "*copy_from_iter*", "skb_copy_datagram_*"],
    ),
    r(
        Lock,
        "preemption and page-lock primitives",
        &["kernel_fpu_begin*", "folio_unlock", "unlock_page", "___preempt_schedule*", "__preempt_schedule*"],
    ),
    r(Alloc, "large kmalloc goes to the page allocator through these", &["___kmalloc*", "__kmalloc_large*"]),
    r(
        Context,
        "interrupt return paths",
        &["retint_kernel", "retint_*", "ret_from_exception", "restore_all*"],
    ),
    r(
        Wait,
        "a hung task sleeps in whatever waits, synchronizes or takes a lock for its caller",
        &[
            "*wait*",
            "*_lock",
            "*_lock_nested",
            "*_lock_killable*",
            "*_lock_interruptible*",
            "*synchronize*",
            "*completion*",
            "*rwsem*",
            "*_slowlock*",
            "kthread_stop*",
            // Read a page into the page cache and wait for the read (`read_cache_folio` and
            // `read_cache_page` wrap them).
            "do_read_cache_*",
        ],
    ),
    r(
        ObjectApi,
        "debugobjects is called by the API of each tracked type (call_rcu activates an rcu_head, \
         mod_timer a timer_list, queue_work a work_struct, hrtimer_start an hrtimer) and by every \
         free path (kfree/vfree/free_pages check the memory for live objects)",
        &[
            "call_rcu*",
            "__call_rcu*",
            "call_srcu",
            "__call_srcu",
            "kfree_call_rcu",
            "kvfree_call_rcu",
            "add_timer*",
            "mod_timer*",
            "__mod_timer",
            "del_timer*",
            "timer_delete*",
            "timer_shutdown*",
            "try_to_del_timer_sync",
            "init_timer*",
            "__init_timer*",
            "hrtimer_start*",
            "__hrtimer_start*",
            "hrtimer_init*",
            "__hrtimer_init*",
            "hrtimer_cancel",
            "hrtimer_try_to_cancel",
            "queue_work*",
            "__queue_work",
            "queue_delayed_work*",
            "__queue_delayed_work",
            "mod_delayed_work*",
            "insert_work",
            "__init_work",
            "init_work*",
            "vfree*",
            "__vfree*",
            "__vunmap",
            "vunmap",
            "vfree_atomic",
            "kfree*",
            "kvfree*",
            "free_pages*",
            "__free_pages*",
            "free_unref_page*",
            "free_pages_prepare",
            "__free_pages_ok",
            "kmem_cache_free*",
            "slab_free*",
            "__slab_free",
        ],
    ),
    r(
        Lock,
        "the scheduler's run-queue locks: task_rq_lock takes the task's pi_lock and its runqueue's lock",
        &["task_rq_lock", "__task_rq_lock", "task_rq_unlock", "__task_rq_unlock"],
    ),
    r(
        Helper,
        "MMIO and port I/O accessors touch a device register for their caller (an external abort \
         or fault in them is the caller's access)",
        &[
            "__raw_readb",
            "__raw_readw",
            "__raw_readl",
            "__raw_readq",
            "__raw_writeb",
            "__raw_writew",
            "__raw_writel",
            "__raw_writeq",
            "logic_inb",
            "logic_inw",
            "logic_inl",
            "logic_outb",
            "logic_outw",
            "logic_outl",
            "ioread8*",
            "ioread16*",
            "ioread32*",
            "ioread64*",
            "iowrite8*",
            "iowrite16*",
            "iowrite32*",
            "iowrite64*",
        ],
    ),
    r(
        Helper,
        "skb bounds checks: skb_put/skb_push panic when their caller overruns the buffer",
        &["skb_put", "__skb_put", "skb_push", "__skb_push", "skb_panic", "skb_over_panic", "skb_under_panic"],
    ),
    r(
        Helper,
        "USB core URB calls kill or poison the URBs of the driver that calls them",
        &[
            "usb_kill_urb",
            "usb_poison_urb",
            "usb_unlink_urb",
            "usb_kill_anchored_urbs",
            "usb_poison_anchored_urbs",
        ],
    ),
    r(
        LeakAlloc,
        "kmemleak prints the allocation stack: whatever allocates on its caller's behalf",
        &[
            "*alloc*",
            "*strdup*",
            "*memdup*",
            "*kasprintf*",
            "idr_get*",
            "pcpu_create*",
            "list_lru_init*",
            "kobject_set_name*",
            "dev_set_name",
            "kvasprintf*",
            "*_mmap*",
        ],
    ),
];

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

/// The slab cache a free callback frees to.
pub fn cache_of_callback(func: &str) -> Option<&'static str> {
    let base = base_name(func);
    FREE_CALLBACK_CACHE.iter().find(|(f, _)| *f == base).map(|(_, c)| *c)
}

/// `___slab_alloc.constprop.34` -> `___slab_alloc`: compiler clones name the same function.
pub fn base_name(func: &str) -> &str {
    match func.find('.') {
        Some(0) | None => func,
        Some(i) => &func[..i],
    }
}

#[derive(Clone, Copy)]
enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Anywhere,
    /// A pattern with `*` inside (`copy_*_user*`): searched by its first literal, then matched whole.
    Glob(&'static str),
}

struct Index {
    ac: AhoCorasick,
    /// Per pattern: anchoring and the role bit.
    pats: Vec<(Anchor, u32)>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut bodies = Vec::new();
    let mut pats = Vec::new();
    for row in ROLE_ROWS {
        for p in row.pats {
            let inner = p.trim_matches('*');
            if inner.contains('*') {
                let lit = inner.split('*').max_by_key(|l| l.len()).unwrap_or(inner);
                bodies.push(lit);
                pats.push((Anchor::Glob(p), row.role.bit()));
                continue;
            }
            let (body, anchor) = match (p.strip_prefix('*'), p.strip_suffix('*')) {
                (Some(_), Some(_)) => (&p[1..p.len() - 1], Anchor::Anywhere),
                (Some(b), None) => (b, Anchor::Suffix),
                (None, Some(b)) => (b, Anchor::Prefix),
                (None, None) => (*p, Anchor::Exact),
            };
            bodies.push(body);
            pats.push((anchor, row.role.bit()));
        }
    }
    let ac = AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(&bodies)
        .expect("role patterns are plain strings");
    Index { ac, pats }
});

/// Functions whose roles were looked up on this thread, at most [`CACHED`]: the same few hundred
/// functions recur in every report of a log, and a lookup in the table costs a pass of the
/// automaton over the name per frame.
const CACHED: usize = 4096;

thread_local! {
    static CACHE: std::cell::RefCell<std::collections::HashMap<Box<str>, Roles>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Every role `func` has (a function can have several: `__x64_sys_ioctl` is dispatch).
pub fn roles(func: &str) -> Roles {
    let name = base_name(func);
    if let Some(r) = CACHE.with(|c| c.borrow().get(name).copied()) {
        return r;
    }
    let r = roles_of(name);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHED {
            c.clear();
        }
        c.insert(name.into(), r);
    });
    r
}

/// [`roles`] of a name without compiler suffixes, from the table.
fn roles_of(name: &str) -> Roles {
    let idx = &*INDEX;
    let mut bits = 0;
    for m in idx.ac.find_overlapping_iter(name) {
        let (anchor, bit) = idx.pats[m.pattern().as_usize()];
        let ok = match anchor {
            Anchor::Exact => m.start() == 0 && m.end() == name.len(),
            Anchor::Prefix => m.start() == 0,
            Anchor::Suffix => m.end() == name.len(),
            Anchor::Anywhere => true,
            Anchor::Glob(p) => glob(p.as_bytes(), name.as_bytes()),
        };
        if ok {
            bits |= bit;
        }
    }
    Roles(bits)
}

/// True when `func` (without compiler suffixes) matches `pat` in this table's syntax: `foo` exact,
/// `foo*` prefix, `*foo` suffix, `*foo*` anywhere, `a*b` a glob. For the smaller tables that give
/// functions a meaning beyond their role (what a wait primitive waits for).
pub fn pattern_matches(pat: &str, func: &str) -> bool {
    glob(pat.as_bytes(), base_name(func).as_bytes())
}

/// `*` matches any run of bytes.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// True when `func` has one of `set`'s roles.
pub fn has_any(func: &str, set: Roles) -> bool {
    roles(func).hits(set)
}

pub fn is(func: &str, role: Role) -> bool {
    roles(func).contains(role)
}

/// Not a function name at all: an unsymbolized address (`0xffffffffc01d2036`).
pub fn is_address(func: &str) -> bool {
    func.starts_with("0x") || func.bytes().all(|c| c.is_ascii_hexdigit()) && func.len() >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_reasons_and_patterns() {
        for row in ROLE_ROWS {
            assert!(!row.why.is_empty() && !row.pats.is_empty());
            for p in row.pats {
                assert!(p.trim_matches('*').len() >= 2, "{p}");
            }
        }
    }

    #[test]
    fn lookup() {
        assert!(is("___slab_alloc.constprop.34", Alloc));
        assert!(is("oom_kill_process.cold", Report));
        assert!(!has_any("ext4_i_callback", NEVER_GUILTY));
        assert!(!has_any("kmalloc_oob_right", NEVER_GUILTY), "KASAN's test module is the guilty code");
        assert!(is("kmalloc_trace_noprof", Alloc));
        assert!(is("_raw_spin_lock_irqsave", Lock));
        assert!(is("__x64_sys_openat", Dispatch));
        assert!(is("el0_svc", Entry));
        assert!(is("sk_prot_alloc", LeakAlloc));
        assert!(!has_any("k", NEVER_GUILTY) && !has_any("", NEVER_GUILTY));
        assert!(is("__kasan_report", Sanitizer));
        assert!(is("_copy_to_user", Helper) && is("copy_from_user_nmi", Helper) && !is("copy_user", Helper));
        assert!(!is("dief", Report) && is("die", Report));
        assert_eq!(cache_of_callback("ext4_i_callback.cold"), Some("ext4_inode_cache"));
    }

    #[test]
    fn names_cover_every_role() {
        assert_eq!(Role::ALL.len(), ObjectApi as usize + 1);
        for (i, r) in Role::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i);
        }
        assert_eq!(roles("_raw_spin_lock_irqsave").names(), ["lock"]);
        assert_eq!(roles("ext4_i_callback").names(), Vec::<&str>::new());
    }
}
