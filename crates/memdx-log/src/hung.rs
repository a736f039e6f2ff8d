//! What a blocked task waits for, read off its stack: the explanation of hung-task reports
//! (`INFO: task X:pid blocked for more than N seconds`).
//!
//! The kernel's hung-task detector (`kernel/hung_task.c`) prints the stack of a task that stayed in
//! uninterruptible sleep (D state) past `hung_task_timeout_secs`. The innermost frames are the
//! scheduler and the wait primitive the task sleeps in; the frame where that wait chain ends says
//! what it waits for (a page lock, a mutex, I/O, a completion...), and the frames beyond it say
//! what the task was doing. Two data tables: wait primitives (what they wait for) and work frames
//! (what activity they belong to), each row with the kernel behaviour it encodes. Patterns use the
//! frame-role table's syntax (`foo` exact, `foo*` prefix, `*foo` suffix, `*foo*` anywhere).

use crate::model::{Fact, Frame};
use crate::roles::{self, Role, Roles};

/// A wait primitive and what a task sleeping in it waits for.
struct Wait {
    pats: &'static [&'static str],
    what: &'static str,
}

/// Outermost match wins: the frame nearest the caller names the object (`__lock_page` is the page
/// lock that `wait_on_page_bit_common` and `io_schedule` below it implement).
const WAITS: &[Wait] = &[
    // filemap.c: lock_page() sleeps until PG_locked clears; a page stays locked while its read I/O
    // is in flight, during migration and truncation.
    Wait {
        pats: &["__lock_page*", "lock_page*", "folio_lock*", "__folio_lock*", "__lock_page_killable"],
        what: "a page lock (the page is locked while I/O on it is in flight, or while it is migrated or truncated)",
    },
    Wait {
        pats: &["wait_on_page_writeback*", "folio_wait_writeback*", "wait_for_stable_page", "folio_wait_stable"],
        what: "writeback of a page to finish",
    },
    Wait {
        pats: &["wait_on_page_bit*", "folio_wait_bit*", "__folio_wait*", "wait_on_page_locked*"],
        what: "a page flag (locked or under writeback) to clear",
    },
    Wait { pats: &["__mutex_lock*", "mutex_lock*"], what: "a mutex held by another task" },
    Wait {
        pats: &["rwsem_down_write*", "down_write*", "__down_write*"],
        what: "a read-write semaphore, for writing (another task holds it)",
    },
    Wait {
        pats: &["rwsem_down_read*", "down_read*", "__down_read*"],
        what: "a read-write semaphore, for reading (a writer holds or waits for it)",
    },
    Wait { pats: &["percpu_down_write", "percpu_rwsem_wait*", "__percpu_down_read*"], what: "a per-CPU read-write semaphore" },
    Wait { pats: &["down", "__down*", "down_interruptible", "down_killable", "down_timeout"], what: "a semaphore" },
    Wait { pats: &["wait_for_completion*", "__wait_for_common", "wait_for_common*"], what: "a completion (another task or an interrupt must signal it)" },
    Wait {
        pats: &["synchronize_rcu*", "__wait_rcu_gp", "synchronize_srcu*", "__synchronize_srcu", "rcu_barrier*"],
        what: "an RCU grace period",
    },
    Wait {
        pats: &["flush_work", "__flush_work", "flush_workqueue", "__flush_workqueue", "drain_workqueue", "cancel_work_sync", "__cancel_work*"],
        what: "a work item to finish",
    },
    Wait { pats: &["jbd2_log_wait_commit", "jbd2_journal_*", "wait_transaction_locked", "start_this_handle"], what: "the ext4 journal (jbd2)" },
    Wait { pats: &["balance_dirty_pages*"], what: "dirty-page throttling (writeback must catch up)" },
    Wait {
        pats: &["throttle_direct_reclaim", "congestion_wait", "reclaim_throttle", "__alloc_pages_slowpath*", "try_to_free_pages"],
        what: "memory (direct reclaim in the page allocator)",
    },
    Wait { pats: &["request_wait_answer", "fuse_simple_request", "__fuse_request_send"], what: "the FUSE daemon's answer" },
    Wait { pats: &["rpc_wait_bit_killable", "__rpc_execute", "nfs_wait_*"], what: "an NFS server (an RPC reply)" },
    Wait { pats: &["blk_mq_get_tag", "blk_mq_freeze_queue_wait", "blk_mq_freeze_queue"], what: "the block device queue" },
    Wait { pats: &["io_schedule*", "bit_wait_io*"], what: "I/O to complete" },
];

/// Work frames and the activity they belong to, first match from the innermost work frame.
const WORK: &[(&[&str], &str)] = &[
    // mm/compaction.c, mm/migrate.c: compaction moves movable pages to make contiguous free blocks;
    // each page moved is locked, unmapped and copied.
    (
        &["compact_zone*", "compact_node*", "proactive_compact_node", "kcompactd*", "try_to_compact_pages"],
        "memory compaction (moving pages to build contiguous free blocks)",
    ),
    (
        &["migrate_pages*", "__unmap_and_move*", "unmap_and_move*", "migrate_folio*", "move_to_new_*"],
        "page migration",
    ),
    (
        &["khugepaged*", "collapse_huge_page*", "hpage_collapse_*"],
        "transparent huge page collapse (khugepaged)",
    ),
    (
        &[
            "shrink_node*",
            "shrink_lruvec",
            "shrink_zones",
            "do_try_to_free_pages",
            "balance_pgdat",
            "kswapd*",
            "shrink_slab*",
            "do_shrink_slab",
        ],
        "memory reclaim",
    ),
    (&["out_of_memory", "oom_kill_process", "mem_cgroup_out_of_memory"], "the OOM killer"),
    (
        &["wb_workfn", "wb_writeback", "writeback_sb_inodes", "__writeback_single_inode", "do_writepages"],
        "writeback of dirty pages",
    ),
    (
        &["filemap_fault", "do_read_cache_*", "filemap_read", "generic_file_read_iter", "page_cache_ra_*"],
        "reading a file into the page cache",
    ),
    (&["handle_mm_fault", "__handle_mm_fault", "do_user_addr_fault", "exc_page_fault"], "a page fault"),
    (&["jbd2_journal_commit_transaction", "kjournald2"], "an ext4 journal commit"),
    // fs/super.c: writers take the superblock's freeze protection (a per-CPU rwsem) for reading;
    // `fsfreeze --freeze` holds it for writing until thawed.
    (
        &[
            "mnt_want_write*",
            "__sb_start_write*",
            "sb_start_write*",
            "sb_start_pagefault",
            "file_start_write*",
        ],
        "a write to a filesystem (a frozen filesystem, fsfreeze, blocks writers here until thawed)",
    ),
    (&["do_exit", "do_group_exit", "exit_mmap", "mmput"], "process exit"),
    (&["cgroup_*", "css_*", "mem_cgroup_css_*"], "cgroup administration"),
];

/// Kernel threads named by their `comm`, prefix first.
const THREADS: &[(&str, &str)] = &[
    ("kcompactd", "the background memory compaction thread"),
    ("kswapd", "the background page reclaim thread"),
    ("khugepaged", "the transparent huge page collapse thread"),
    ("jbd2/", "an ext4 journal thread"),
    ("kworker/", "a workqueue worker"),
    ("oom_reaper", "the OOM reaper"),
    ("ksmd", "the kernel samepage merging thread"),
];

fn matches(pats: &[&str], func: &str) -> bool {
    pats.iter().any(|p| roles::pattern_matches(p, func))
}

/// The roles of frames a sleeping task's wait chain is made of.
const WAITING: Roles = Roles::of(&[Role::Sched, Role::Lock, Role::Wait]);

/// What is known of the task whose stack is read.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Sleeper {
    /// A hung-task report: blocked in D state (its header says so).
    Hung,
    /// A stack without its report's header (an excerpt cut above `Call Trace`) whose innermost
    /// frame is the scheduler's: a sleeping task, hung or not.
    Headerless,
}

/// Summary and facts of a hung-task report: who is blocked and for how long (from the header), what
/// it waits for, what it was doing. `None` without frames to read, and for a headerless stack that
/// does not start in the scheduler.
pub(crate) fn explain(
    header: &str,
    comm: Option<&str>,
    frames: &[Frame],
    sleeper: Sleeper,
) -> Option<(String, Vec<Fact>)> {
    let reliable: Vec<&Frame> = frames.iter().filter(|f| f.reliable && !roles::is_address(&f.func)).collect();
    if reliable.is_empty() {
        return None;
    }
    if sleeper == Sleeper::Headerless && !roles::has_any(&reliable[0].func, Roles::of(&[Role::Sched])) {
        return None;
    }
    let in_chain =
        |f: &Frame| roles::has_any(&f.func, WAITING) || WAITS.iter().any(|w| matches(w.pats, &f.func));
    let chain_len = reliable.iter().take_while(|f| in_chain(f)).count();
    let (chain, work) = reliable.split_at(chain_len);
    // The outermost frame of the chain that names an object; `io_schedule` inside it adds "for I/O".
    let object = chain
        .iter()
        .rev()
        .find_map(|f| WAITS.iter().find(|w| matches(w.pats, &f.func)).map(|w| (w, f.func.as_str())));
    let io = chain.iter().any(|f| roles::pattern_matches("io_schedule*", &f.func));
    let activity = work.iter().find_map(|f| WORK.iter().find(|(p, _)| matches(p, &f.func)).map(|(_, a)| *a));
    let thread = comm.and_then(|c| THREADS.iter().find(|(p, _)| c.starts_with(p)).map(|(_, t)| *t));
    let secs = header
        .split_once("blocked for more than ")
        .and_then(|(_, r)| r.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());

    let who = match (comm, thread) {
        (Some(c), Some(t)) => format!("{c} ({t})"),
        (Some(c), None) => c.to_string(),
        (None, _) => "A task".to_string(),
    };
    let mut s = match sleeper {
        Sleeper::Hung => format!("{who} was blocked in uninterruptible sleep (D state)"),
        Sleeper::Headerless => "The stack is a sleeping task's (the report's first lines are missing, so \
                                whether it hung, and for how long, is unknown)"
            .to_string(),
    };
    if let Some(n) = secs {
        s.push_str(&format!(" for more than {n} s"));
    }
    match object {
        Some((w, func)) => {
            s.push_str(&format!(", waiting for {} in {func}", w.what));
            if io && w.what != "I/O to complete" {
                s.push_str(", sleeping in io_schedule until I/O completes");
            }
        }
        None if !chain.is_empty() => s.push_str(&format!(", sleeping in {}", chain[chain.len() - 1].func)),
        None => {}
    }
    if let Some(a) = activity {
        s.push_str(&format!(", during {a}"));
    }
    s.push_str(match sleeper {
        Sleeper::Hung => {
            ". A hung task is stuck, not short of memory by itself: what it waits for is held or owed \
             by another task or device."
        }
        Sleeper::Headerless => {
            ". The lines above `Call Trace:` in the full log say which task this is and why it was printed."
        }
    });
    let mut facts = Vec::new();
    if !chain.is_empty() {
        let names: Vec<&str> = chain.iter().rev().map(|f| f.func.as_str()).collect();
        facts.push(Fact { label: "waits in".into(), value: names.join(" -> ") });
    }
    if !work.is_empty() {
        let names: Vec<&str> = work.iter().take(5).map(|f| f.func.as_str()).collect();
        facts.push(Fact { label: "doing".into(), value: names.join(" <- ") });
    }
    Some((s, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(names: &[&str]) -> Vec<Frame> {
        names.iter().map(|n| Frame::kernel(n, Some(0))).collect()
    }

    /// The stack of a kcompactd0 hung-task report on 5.15 (Ubuntu), innermost first.
    const KCOMPACTD_STACK: &[&str] = &[
        "__schedule",
        "schedule",
        "io_schedule",
        "wait_on_page_bit_common",
        "__lock_page",
        "__unmap_and_move",
        "unmap_and_move",
        "migrate_pages",
        "compact_zone",
        "proactive_compact_node",
        "kcompactd",
    ];

    #[test]
    fn page_lock_in_compaction() {
        // The stack of a kcompactd0 hung-task report on 5.15 (Ubuntu), innermost first.
        let f = frames(KCOMPACTD_STACK);
        let (s, facts) = explain(
            "INFO: task kcompactd0:1175 blocked for more than 120 seconds.",
            Some("kcompactd0"),
            &f,
            Sleeper::Hung,
        )
        .unwrap();
        assert!(s.starts_with("kcompactd0 (the background memory compaction thread) was blocked"), "{s}");
        assert!(s.contains("for more than 120 s"), "{s}");
        assert!(s.contains("waiting for a page lock"), "{s}");
        assert!(s.contains("in __lock_page"), "{s}");
        assert!(s.contains("until I/O completes"), "{s}");
        assert!(s.contains("during page migration"), "{s}");
        assert_eq!(
            facts[0].value,
            "__lock_page -> wait_on_page_bit_common -> io_schedule -> schedule -> __schedule"
        );
    }

    #[test]
    fn mutex_without_known_activity() {
        let f = frames(&[
            "__schedule",
            "schedule",
            "schedule_preempt_disabled",
            "__mutex_lock",
            "my_driver_ioctl",
        ]);
        let (s, _) = explain(
            "INFO: task a.out:42 blocked for more than 600 seconds.",
            Some("a.out"),
            &f,
            Sleeper::Hung,
        )
        .unwrap();
        assert!(s.contains("waiting for a mutex held by another task in __mutex_lock"), "{s}");
        assert!(!s.contains("during"), "{s}");
    }

    #[test]
    fn headerless_stack_of_a_sleeper() {
        // The kcompactd0 stack above, pasted from `__schedule` down without its `INFO: task` line.
        let f = frames(KCOMPACTD_STACK);
        let (s, _) = explain("__schedule+0x24e/0x590", None, &f, Sleeper::Headerless).unwrap();
        assert!(s.starts_with("The stack is a sleeping task's"), "{s}");
        assert!(s.contains("waiting for a page lock") && s.contains("in __lock_page"), "{s}");
        assert!(s.contains("during page migration"), "{s}");
        assert!(!s.contains("D state"), "{s}");
        // A stack that does not start in the scheduler is not a sleeper's.
        let f = frames(&["kfree", "skb_release_data", "consume_skb"]);
        assert!(explain("kfree+0x1/0x2", None, &f, Sleeper::Headerless).is_none());
    }

    #[test]
    fn no_frames_no_explanation() {
        assert!(explain("INFO: task x:1 blocked for more than 120 seconds.", Some("x"), &[], Sleeper::Hung)
            .is_none());
    }
}
