//! Rule `double_free.same_object_path`: reports close in time on the same object path are one
//! object freed twice (seed 004: a WARNING in `dentry_free` from kswapd's dcache shrinker, then 48 ms
//! later a NULL dereference in `kmem_cache_free` called from `ext4_i_callback`).

use super::{covered, funcs, reclaim_driven, task, when, Conclusion, Confidence, Facts, Rep};
use memdx_core::Severity;

pub const NAME: &str = "double_free.same_object_path";

/// Two reports at most this far apart (seconds since boot, same boot) are candidates for one story.
pub const WINDOW_S: f64 = 10.0;

/// Explanation classes of a crash on a slab object's free or use.
const FREE_CLASSES: &[&str] = &[
    "slab.double_free",
    "slab.use_after_free",
    "slab.invalid_free",
    "slab.freelist_corruption",
    "slab.wrong_cache",
];

/// An object's life cycle path: the caches its objects live in and the functions that tear it down.
pub struct ObjectPath {
    pub name: &'static str,
    /// Exact function names.
    pub funcs: &'static [&'static str],
    /// Function name suffixes (filesystem callbacks: `ext4_i_callback`, `xfs_fs_destroy_inode`).
    pub suffixes: &'static [&'static str],
    /// Cache name suffixes.
    pub caches: &'static [&'static str],
}

pub static OBJECT_PATHS: &[ObjectPath] = &[
    ObjectPath {
        name: "inode and dentry teardown",
        funcs: &[
            "dentry_free",
            "__dentry_kill",
            "dentry_kill",
            "shrink_dentry_list",
            "prune_dcache_sb",
            "d_free",
            "__d_free",
            "__d_free_external",
            "dput",
            "evict",
            "iput",
            "iput_final",
            "destroy_inode",
            "free_inode_nonrcu",
            "i_callback",
            "prune_icache_sb",
            "dispose_list",
            "inode_lru_isolate",
        ],
        suffixes: &["_i_callback", "_destroy_inode", "_free_inode", "_evict_inode", "_free_in_core_inode"],
        caches: &["inode_cache", "inode_info", "dentry"],
    },
    ObjectPath {
        name: "socket buffer release",
        funcs: &[
            "kfree_skb",
            "__kfree_skb",
            "kfree_skb_reason",
            "sk_skb_reason_drop",
            "consume_skb",
            "napi_consume_skb",
            "skb_release_data",
            "skb_release_all",
            "kfree_skbmem",
            "skb_free_head",
        ],
        suffixes: &[],
        caches: &["skbuff_head_cache", "skbuff_fclone_cache", "skbuff_small_head"],
    },
    ObjectPath {
        name: "file release",
        funcs: &["fput", "__fput", "____fput", "file_free_rcu", "file_free", "delayed_fput"],
        suffixes: &[],
        caches: &["filp"],
    },
    ObjectPath {
        name: "kernfs node release",
        funcs: &["kernfs_put", "kernfs_remove", "__kernfs_remove", "kernfs_free_rcu"],
        suffixes: &[],
        caches: &["kernfs_node_cache"],
    },
];

fn on_path(p: &ObjectPath, rep: &Rep) -> bool {
    let cache = rep.r.explanation.as_ref().and_then(|e| e.cache.as_deref());
    cache.is_some_and(|c| p.caches.iter().any(|s| c.ends_with(s)))
        || funcs(rep.r).any(|f| p.funcs.contains(&f) || p.suffixes.iter().any(|s| f.ends_with(s)))
}

/// `ext4_inode_cache` -> `ext4 inode`; `skbuff_head_cache` -> `skbuff head`.
pub fn object_name(cache: &str) -> String {
    cache.trim_end_matches("_cache").trim_end_matches("_info").replace('_', " ")
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    for crash in &facts.reports {
        let Some(class) = crash.class().filter(|c| FREE_CLASSES.contains(c)) else { continue };
        let Some(t1) = crash.mono() else { continue };
        let Some(path) = OBJECT_PATHS.iter().find(|p| on_path(p, crash)) else { continue };
        // Other reports of the same boot on the same path, close in time.
        let mut near: Vec<&Rep> = facts
            .reports
            .iter()
            .filter(|o| o.r.signature != crash.r.signature && o.r.kind != memdx_log::Kind::CrashBt)
            .filter(|o| o.log == crash.log || o.r.kernel.is_some() && o.r.kernel == crash.r.kernel)
            .filter(|o| o.mono().is_some_and(|t| (t - t1).abs() <= WINDOW_S))
            .filter(|o| on_path(path, o))
            .collect();
        if near.is_empty() {
            continue;
        }
        near.sort_by(|a, b| a.mono().unwrap_or(0.0).total_cmp(&b.mono().unwrap_or(0.0)));
        let mut keys: Vec<String> = near.iter().map(|o| o.key()).collect();
        keys.push(crash.key());
        if covered(out, &keys) {
            continue;
        }
        let cache = crash.r.explanation.as_ref().and_then(|e| e.cache.clone());
        let object = cache.as_deref().map(object_name).unwrap_or_else(|| "slab object".into());
        let crash_bt = facts.crash_bt_of(crash.r);
        let first = near[0];
        let dt_ms = (t1 - first.mono().unwrap_or(t1)) * 1000.0;
        let driver = near.iter().find(|o| reclaim_driven(o.r)).map(|o| {
            format!(", which memory reclaim was driving ({})", task(o.r).unwrap_or_else(|| "reclaim".into()))
        });
        let verb = match class {
            "slab.double_free" => "freed twice",
            "slab.use_after_free" => "used after it was freed",
            "slab.invalid_free" => "freed with an invalid pointer",
            _ => "freed while still in use",
        };
        let cause = format!(
            "An {object} ({}) was {verb} on the {} path{}: `{}` at {}, then {} `{}` in {}.",
            cache.as_deref().unwrap_or("slab object"),
            path.name,
            driver.clone().unwrap_or_default(),
            first.r.title,
            when(first.r),
            if dt_ms >= 0.0 { format!("{dt_ms:.0} ms later") } else { format!("{:.0} ms earlier", -dt_ms) },
            crash.r.title,
            task(crash.r).unwrap_or_else(|| "an unknown task".into()),
        );
        let mut c = Conclusion::new(NAME, Severity::Critical, cause);
        for o in &near {
            let stack: Vec<&str> = funcs(o.r).take(8).collect();
            c.link(
                format!(
                    "{}: {}{} on the {} path ({})",
                    when(o.r),
                    o.r.title,
                    task(o.r).map(|t| format!(" in {t}")).unwrap_or_default(),
                    path.name,
                    stack.join(" <- ")
                ),
                Some(&o.finding_id()),
                Some(o.r.source.clone()),
            );
        }
        let summary = crash.r.explanation.as_ref().map(|e| e.summary.as_str()).unwrap_or("");
        let first_sentence = summary.split(". ").next().unwrap_or(summary);
        c.link(
            format!(
                "{}: {} ({}){}: {first_sentence}",
                when(crash.r),
                crash.r.title,
                crash.r.pc.as_deref().map(|p| format!("at {p}")).unwrap_or_default(),
                cache.as_deref().map(|x| format!(", object of {x}")).unwrap_or_default()
            ),
            Some(&crash.finding_id()),
            Some(crash.r.source.clone()),
        );
        if let Some(bt) = crash_bt {
            let loc: Vec<String> = bt
                .frames
                .iter()
                .filter(|f| f.location.is_some())
                .skip_while(|f| !crash.r.pc.as_deref().is_some_and(|p| p.starts_with(f.func.as_str())))
                .take(2)
                .map(|f| format!("{} {}", f.func, f.location.as_deref().unwrap_or("")))
                .collect();
            let mut fact = "the crash dump's `bt` is the same crash (same task)".to_string();
            if !loc.is_empty() {
                fact.push_str(&format!(": {}", loc.join(", called from ")));
            }
            c.link(
                fact,
                Some(&format!(
                    "log.{}",
                    bt.explanation.as_ref().map(|e| e.class.as_str()).unwrap_or("crash_bt")
                )),
                Some(bt.source.clone()),
            );
            keys.push(format!("report:{}", bt.signature));
        }
        let (conf, why) = if class == "slab.double_free" {
            (
                Confidence::High,
                format!(
                    "{} reports on the same object path {:.0} ms apart, and the crash is the signature of a free of \
                     an object whose slab page was already released; a free of a pointer that never came from the \
                     cache would crash the same way",
                    near.len() + 1,
                    dt_ms.abs()
                ),
            )
        } else {
            (
                Confidence::Medium,
                format!(
                    "{} reports on the same object path {:.0} ms apart; the crash class ({class}) fits a freed object \
                     still in use, but the first free's stack is not in the inputs",
                    near.len() + 1,
                    dt_ms.abs()
                ),
            )
        };
        c.confidence = conf;
        c.confidence_why = why;
        if let Some(x) = &cache {
            c.unknown(
                "the stack of the first free (who freed the object before)",
                format!("boot with slub_debug=FZPU,{x} (or a KASAN kernel): the next occurrence prints the alloc and free stacks"),
            );
        }
        if let Some(e) = &crash.r.explanation {
            c.next_steps.extend(e.next_steps.iter().cloned());
        }
        c.crash = true;
        c.reclaim_driven = driver.is_some();
        c.covers = keys;
        c.score = 1e6;
        out.push(c);
    }
}
