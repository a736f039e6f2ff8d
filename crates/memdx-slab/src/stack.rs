//! One stack model for every source: slub_debug call traces, ftrace `<stack trace>` entries, and the
//! outputs of bcc `trace`/`trace-bpfcc -tKU`, `memleak`, `stackcount`, bpftrace `@[kstack] = N` maps
//! and `perf script`.
//!
//! Stacks are kept innermost frame first. Grouping uses a normalised key: function names without
//! offsets or compiler suffixes (`.constprop.34`, `.isra.0`, `.lto_priv.665`), with the allocator and
//! tracing frames at the top removed, so the same call path printed by different tools (or with
//! different offsets after a rebuild) groups together.

use memdx_log::roles::{self, Role, Roles};
use std::collections::HashMap;
use std::sync::Arc;

/// One frame of a stack: the log engine's frame ([`memdx_log::Frame`]), with `user` set for the
/// user-space frames tools print.
pub use memdx_log::Frame;

pub use memdx_log::roles::base_name;

/// Frames that belong to the allocator, slub_debug, the stack dumper or the tracer rather than the
/// caller; removed from the top of a stack before grouping. The roles are the log engine's
/// frame-role table (`memdx_log::roles`).
pub fn is_allocator_frame(name: &str) -> bool {
    const ALLOCATOR: Roles = Roles::of(&[Role::Alloc, Role::Free, Role::Report, Role::Tracing]);
    roles::has_any(name, ALLOCATOR)
}

/// Frames of generic entry, VFS or worker plumbing: not the driver of an allocation. The driver of
/// a call path is its outermost kernel frame that is not one of these (for a cgroup directory,
/// `cgroup_mkdir`; for a per-memcg cache on 4.19, `memcg_kmem_cache_create_func`).
pub fn is_generic_frame(name: &str) -> bool {
    const PLUMBING: Roles =
        Roles::of(&[Role::Entry, Role::Dispatch, Role::Plumbing, Role::Context, Role::Fault]);
    roles::has_any(name, PLUMBING)
}

/// A stack, innermost frame first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stack {
    pub frames: Vec<Frame>,
}

impl Stack {
    /// The kernel frames from the caller of the allocator outwards (allocator and tracer frames at
    /// the top removed).
    pub fn caller_frames(&self) -> &[Frame] {
        let skip = self.frames.iter().take_while(|f| !f.user && is_allocator_frame(f.name())).count();
        if skip == self.frames.len() {
            // All allocator frames (a stack cut short): keep it whole rather than empty.
            return &self.frames;
        }
        &self.frames[skip..]
    }

    /// The grouping key: caller frame names, kernel frames only, user frames collapsed to one
    /// `[user]` marker (user stacks of the same kernel path differ between runs of a program).
    pub fn key(&self) -> Vec<Arc<str>> {
        let mut k: Vec<Arc<str>> = Vec::new();
        let mut user = false;
        for f in self.caller_frames() {
            if f.user {
                if !user {
                    k.push(Arc::from("[user]"));
                    user = true;
                }
                continue;
            }
            k.push(Arc::from(f.name()));
        }
        k
    }

    /// The outermost kernel caller frame that is not generic entry/VFS/worker plumbing.
    pub fn driver(&self) -> Option<&str> {
        let callers = self.caller_frames();
        callers.iter().rev().filter(|f| !f.user).map(|f| f.name()).find(|n| !is_generic_frame(n))
    }

    /// `a <- b <- c` of the first `n` caller frames (kernel frames; user frames as `[user]`).
    pub fn path(&self, n: usize) -> String {
        let k = self.key();
        let mut s = k.iter().take(n).map(|a| a.as_ref()).collect::<Vec<_>>().join(" <- ");
        if k.len() > n {
            s.push_str(" <- ...");
        }
        s
    }
}

/// Identifier of an interned stack in a [`StackTable`].
pub type StackId = u32;

/// Interns stacks by their grouping key, so each distinct call path is stored once; memory grows
/// with distinct paths, not with records.
#[derive(Debug, Default, Clone)]
pub struct StackTable {
    ids: HashMap<Vec<Arc<str>>, StackId>,
    stacks: Vec<Stack>,
}

impl StackTable {
    pub fn new() -> Self {
        StackTable::default()
    }

    /// The id of `stack`'s call path; the first stack seen with a key is kept as its example.
    pub fn intern(&mut self, stack: Stack) -> StackId {
        let key = stack.key();
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.stacks.len() as StackId;
        self.stacks.push(stack);
        self.ids.insert(key, id);
        id
    }

    pub fn get(&self, id: StackId) -> Option<&Stack> {
        self.stacks.get(id as usize)
    }

    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }
}

/// Parses `func+0x1a/0x40`, `func+0x1a`, `func+26` (bpftrace, decimal), or `func`: the log
/// engine's reader of the symbol form ([`memdx_log::split_symbol`]), the name kept whole
/// when it has no offset.
pub fn parse_sym(s: &str) -> (String, Option<u64>) {
    let s = s.trim();
    match memdx_log::split_symbol(s) {
        Some((func, offset, _)) => (func.to_string(), Some(offset)),
        None => (s.to_string(), None),
    }
}

/// The stack of a log report (slub_debug TRACE call traces): its reliable frames.
pub fn from_log_frames(frames: &[Frame]) -> Stack {
    Stack { frames: frames.iter().filter(|f| f.reliable).cloned().collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(names: &[&str]) -> Stack {
        Stack { frames: names.iter().map(|n| Frame::kernel(n, None)).collect() }
    }

    #[test]
    fn key_strips_allocator_frames_and_suffixes() {
        let s = st(&[
            "dump_backtrace",
            "show_stack",
            "dump_stack",
            "alloc_debug_processing",
            "___slab_alloc.constprop.34",
            "kmem_cache_alloc",
            "__kernfs_new_node",
            "kernfs_new_node",
            "kernfs_create_dir_ns",
            "cgroup_mkdir",
            "kernfs_iop_mkdir",
            "vfs_mkdir",
            "do_mkdirat",
            "__arm64_sys_mkdirat",
        ]);
        assert_eq!(s.key()[0].as_ref(), "__kernfs_new_node");
        assert_eq!(s.driver(), Some("cgroup_mkdir"));
        assert!(s.path(3).starts_with("__kernfs_new_node <- kernfs_new_node <- kernfs_create_dir_ns <- ..."));
    }

    #[test]
    fn parse_sym_forms() {
        assert_eq!(parse_sym("vfs_mkdir+0xfc/0x1c0"), ("vfs_mkdir".into(), Some(0xfc)));
        assert_eq!(parse_sym("kmem_cache_alloc+26"), ("kmem_cache_alloc".into(), Some(26)));
        assert_eq!(parse_sym("[unknown]"), ("[unknown]".into(), None));
        assert_eq!(parse_sym("+0x10"), ("+0x10".into(), None));
    }
}
