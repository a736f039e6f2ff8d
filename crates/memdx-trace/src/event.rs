//! Typed reclaim-related events built from matched payload fields. Version differences are
//! `Option`s: a field absent on the traced kernel is `None`, never a made-up zero.

use crate::fmt::Fields;
use serde::Serialize;

/// The reclaim entry points with begin/end tracepoints, plus kswapd's wake/sleep cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// `mm_vmscan_direct_reclaim_begin/end`: an allocating task reclaims for the whole node.
    Direct,
    /// `mm_vmscan_memcg_reclaim_begin/end`: a task charging a memcg over its limit.
    Memcg,
    /// `mm_vmscan_memcg_softlimit_reclaim_begin/end`.
    MemcgSoftLimit,
    /// `mm_vmscan_node_reclaim_begin/end` (`vm.zone_reclaim_mode`).
    Node,
    /// `mm_vmscan_kswapd_wake` .. `mm_vmscan_kswapd_sleep`.
    Kswapd,
}

impl EpisodeKind {
    pub const ALL: [EpisodeKind; 5] = [
        EpisodeKind::Direct,
        EpisodeKind::Memcg,
        EpisodeKind::MemcgSoftLimit,
        EpisodeKind::Node,
        EpisodeKind::Kswapd,
    ];

    pub fn label(self) -> &'static str {
        match self {
            EpisodeKind::Direct => "direct",
            EpisodeKind::Memcg => "memcg",
            EpisodeKind::MemcgSoftLimit => "memcg_softlimit",
            EpisodeKind::Node => "node",
            EpisodeKind::Kswapd => "kswapd",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The LRU lists (`enum lru_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lru {
    InactiveAnon,
    ActiveAnon,
    InactiveFile,
    ActiveFile,
    Unevictable,
}

impl Lru {
    pub const ALL: [Lru; 5] =
        [Lru::InactiveAnon, Lru::ActiveAnon, Lru::InactiveFile, Lru::ActiveFile, Lru::Unevictable];

    pub fn parse(s: &str) -> Option<Lru> {
        Some(match s {
            "inactive_anon" | "0" => Lru::InactiveAnon,
            "active_anon" | "1" => Lru::ActiveAnon,
            "inactive_file" | "2" => Lru::InactiveFile,
            "active_file" | "3" => Lru::ActiveFile,
            "unevictable" | "4" => Lru::Unevictable,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Lru::InactiveAnon => "inactive_anon",
            Lru::ActiveAnon => "active_anon",
            Lru::InactiveFile => "inactive_file",
            Lru::ActiveFile => "active_file",
            Lru::Unevictable => "unevictable",
        }
    }

    pub fn is_file(self) -> bool {
        matches!(self, Lru::InactiveFile | Lru::ActiveFile)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// `mm_vmscan_lru_isolate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isolate {
    pub lru: Option<Lru>,
    pub nr_requested: u64,
    pub nr_scanned: u64,
    /// Pages taken: with large folios (6.x) this exceeds `nr_requested`.
    pub nr_taken: u64,
    /// Since 4.10.
    pub nr_skipped: Option<u64>,
}

/// `mm_vmscan_lru_shrink_inactive` (and the same counters in `mm_vmscan_reclaim_pages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShrinkInactive {
    pub nr_scanned: u64,
    pub nr_reclaimed: u64,
    /// Since 4.11 (the dirty/writeback counters).
    pub nr_dirty: Option<u64>,
    pub nr_writeback: Option<u64>,
    pub nr_immediate: Option<u64>,
    /// 4.11 to 5.x kernels print one `nr_activate`; later ones split it (`nr_activate_anon/file`).
    pub nr_activate: Option<u64>,
    pub nr_activate_anon: Option<u64>,
    pub nr_activate_file: Option<u64>,
    pub priority: Option<i32>,
    /// From `flags=RECLAIM_WB_FILE|...`; `None` when the flags are absent.
    pub file: Option<bool>,
}

/// One typed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    ReclaimBegin {
        kind: EpisodeKind,
        order: Option<i32>,
        gfp_flags: Option<&'a str>,
    },
    ReclaimEnd {
        kind: EpisodeKind,
        nr_reclaimed: u64,
    },
    KswapdWake {
        nid: Option<i32>,
        order: Option<i32>,
    },
    KswapdSleep {
        nid: Option<i32>,
    },
    WakeupKswapd {
        nid: Option<i32>,
        order: Option<i32>,
    },
    Isolate(Isolate),
    ShrinkInactive(ShrinkInactive),
    ShrinkActive {
        nr_taken: u64,
        nr_deactivated: u64,
        priority: Option<i32>,
        file: Option<bool>,
    },
    /// `mm_vmscan_reclaim_pages`: reclaim outside the LRU walk (DAMON, `memory.reclaim`).
    ReclaimPages(ShrinkInactive),
    /// `mm_shrink_slab_start`; `shrinker` is the symbol without offset (`super_cache_scan`).
    SlabStart {
        shrinker: &'a str,
        priority: Option<i32>,
        objects: Option<i64>,
    },
    SlabEnd {
        shrinker: &'a str,
        retval: Option<i64>,
    },
    Throttled {
        usec_timeout: Option<u64>,
        usec_delayed: u64,
        reason: &'a str,
    },
    OomVictim {
        pid: Option<i32>,
        comm: Option<&'a str>,
        anon_rss_kb: Option<u64>,
    },
    CgroupMkdir {
        path: &'a str,
    },
    CgroupRmdir {
        path: &'a str,
    },
    /// Known or unknown event that reclaim analysis does not use.
    Other,
}

fn get<'a>(f: &Fields<'_, 'a>, name: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn num_u(f: &Fields<'_, '_>, name: &str) -> Option<u64> {
    let v = get(f, name)?;
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok().or_else(|| v.parse::<i64>().ok().map(|x| x.max(0) as u64)),
    }
}

fn num_i(f: &Fields<'_, '_>, name: &str) -> Option<i64> {
    get(f, name)?.parse().ok()
}

fn num_i32(f: &Fields<'_, '_>, name: &str) -> Option<i32> {
    get(f, name)?.parse().ok()
}

fn file_flag(f: &Fields<'_, '_>) -> Option<bool> {
    let flags = get(f, "reclaim_flags").or_else(|| get(f, "flags"))?;
    if flags.contains("RECLAIM_WB_FILE") {
        Some(true)
    } else if flags.contains("RECLAIM_WB_ANON") {
        Some(false)
    } else {
        None
    }
}

/// Symbol of `super_cache_scan+0x0/0x210` or `super_cache_scan+0x0` (perf): `super_cache_scan`.
pub fn shrinker_symbol(s: &str) -> &str {
    s.split('+').next().unwrap_or(s)
}

/// Why a known event could not be typed (a required field was missing or not a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untyped(pub &'static str);

/// Builds the typed event for `name` from its fields.
pub fn typed<'a>(name: &str, f: &Fields<'_, 'a>) -> Result<Event<'a>, Untyped> {
    use EpisodeKind::*;
    let begin =
        |kind| Event::ReclaimBegin { kind, order: num_i32(f, "order"), gfp_flags: get(f, "gfp_flags") };
    let end = |kind| -> Result<Event<'a>, Untyped> {
        Ok(Event::ReclaimEnd { kind, nr_reclaimed: num_u(f, "nr_reclaimed").ok_or(Untyped("nr_reclaimed"))? })
    };
    Ok(match name {
        "mm_vmscan_direct_reclaim_begin" => begin(Direct),
        "mm_vmscan_memcg_reclaim_begin" => begin(Memcg),
        "mm_vmscan_memcg_softlimit_reclaim_begin" => begin(MemcgSoftLimit),
        "mm_vmscan_node_reclaim_begin" => begin(Node),
        "mm_vmscan_direct_reclaim_end" => end(Direct)?,
        "mm_vmscan_memcg_reclaim_end" => end(Memcg)?,
        "mm_vmscan_memcg_softlimit_reclaim_end" => end(MemcgSoftLimit)?,
        "mm_vmscan_node_reclaim_end" => end(Node)?,
        "mm_vmscan_kswapd_wake" => Event::KswapdWake { nid: num_i32(f, "nid"), order: num_i32(f, "order") },
        "mm_vmscan_kswapd_sleep" => Event::KswapdSleep { nid: num_i32(f, "nid") },
        "mm_vmscan_wakeup_kswapd" => {
            Event::WakeupKswapd { nid: num_i32(f, "nid"), order: num_i32(f, "order") }
        }
        "mm_vmscan_lru_isolate" => {
            let lru = match get(f, "lru") {
                Some(l) => Lru::parse(l),
                // before 4.10: `file=1` and no list name; the inactive list is meant
                None => match num_u(f, "file") {
                    Some(1) => Some(Lru::InactiveFile),
                    Some(0) => Some(Lru::InactiveAnon),
                    _ => None,
                },
            };
            Event::Isolate(Isolate {
                lru,
                nr_requested: num_u(f, "nr_requested").ok_or(Untyped("nr_requested"))?,
                nr_scanned: num_u(f, "nr_scanned").ok_or(Untyped("nr_scanned"))?,
                nr_taken: num_u(f, "nr_taken").ok_or(Untyped("nr_taken"))?,
                nr_skipped: num_u(f, "nr_skipped"),
            })
        }
        "mm_vmscan_lru_shrink_inactive" | "mm_vmscan_reclaim_pages" => {
            let s = ShrinkInactive {
                nr_scanned: num_u(f, "nr_scanned").ok_or(Untyped("nr_scanned"))?,
                nr_reclaimed: num_u(f, "nr_reclaimed").ok_or(Untyped("nr_reclaimed"))?,
                nr_dirty: num_u(f, "nr_dirty"),
                nr_writeback: num_u(f, "nr_writeback"),
                nr_immediate: num_u(f, "nr_immediate"),
                nr_activate: num_u(f, "nr_activate"),
                nr_activate_anon: num_u(f, "nr_activate0").or_else(|| num_u(f, "nr_activate_anon")),
                nr_activate_file: num_u(f, "nr_activate1").or_else(|| num_u(f, "nr_activate_file")),
                priority: num_i32(f, "priority"),
                file: file_flag(f),
            };
            if name == "mm_vmscan_reclaim_pages" {
                Event::ReclaimPages(s)
            } else {
                Event::ShrinkInactive(s)
            }
        }
        "mm_vmscan_lru_shrink_active" => Event::ShrinkActive {
            nr_taken: num_u(f, "nr_taken").ok_or(Untyped("nr_taken"))?,
            nr_deactivated: num_u(f, "nr_deactivated").unwrap_or(0),
            priority: num_i32(f, "priority"),
            file: file_flag(f),
        },
        "mm_shrink_slab_start" => Event::SlabStart {
            shrinker: shrinker_symbol(get(f, "shrink").ok_or(Untyped("shrink"))?),
            priority: num_i32(f, "priority"),
            objects: num_i(f, "nr_objects_to_shrink"),
        },
        "mm_shrink_slab_end" => Event::SlabEnd {
            shrinker: shrinker_symbol(get(f, "shrink").ok_or(Untyped("shrink"))?),
            retval: num_i(f, "retval"),
        },
        "mm_vmscan_throttled" => Event::Throttled {
            usec_timeout: num_u(f, "usec_timeout"),
            usec_delayed: num_u(f, "usec_delayed").ok_or(Untyped("usec_delayed"))?,
            reason: get(f, "reason").unwrap_or(""),
        },
        "mark_victim" => Event::OomVictim {
            pid: num_i32(f, "pid"),
            comm: get(f, "comm"),
            anon_rss_kb: num_u(f, "anon_rss"),
        },
        "cgroup_mkdir" => Event::CgroupMkdir { path: get(f, "path").ok_or(Untyped("path"))? },
        "cgroup_rmdir" => Event::CgroupRmdir { path: get(f, "path").ok_or(Untyped("path"))? },
        _ => Event::Other,
    })
}
