//! Typed reclaim-related events built from matched payload fields. Version differences are
//! `Option`s: a field absent on the traced kernel is `None`, never a made-up zero.

use crate::fmt::{Slots, F};
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The reclaim entry points with begin/end tracepoints, plus kswapd's wake/sleep cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// `v` as a number when it is 1 to `max` plain decimal digits (the usual field value): the
/// same value `str::parse` gives, without its sign and overflow handling. `None` otherwise.
#[inline]
fn plain_digits(v: &str, max: usize) -> Option<u64> {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > max {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

fn num_u(f: &Slots<'_>, name: F) -> Option<u64> {
    let v = f.get(name)?;
    if let Some(n) = plain_digits(v, 19) {
        return Some(n);
    }
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok().or_else(|| v.parse::<i64>().ok().map(|x| x.max(0) as u64)),
    }
}

fn num_i(f: &Slots<'_>, name: F) -> Option<i64> {
    let v = f.get(name)?;
    match plain_digits(v, 18) {
        Some(n) => i64::try_from(n).ok(),
        None => v.parse().ok(),
    }
}

fn num_i32(f: &Slots<'_>, name: F) -> Option<i32> {
    let v = f.get(name)?;
    match plain_digits(v, 9) {
        Some(n) => i32::try_from(n).ok(),
        None => v.parse().ok(),
    }
}

/// Searchers of the reclaim flags, built once.
static WB_FILE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("RECLAIM_WB_FILE"));
static WB_ANON: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("RECLAIM_WB_ANON"));

fn file_flag(f: &Slots<'_>) -> Option<bool> {
    let flags = f.get(F::ReclaimFlags).or_else(|| f.get(F::Flags))?;
    if WB_FILE.find(flags.as_bytes()).is_some() {
        Some(true)
    } else if WB_ANON.find(flags.as_bytes()).is_some() {
        Some(false)
    } else {
        None
    }
}

/// Symbol of `super_cache_scan+0x0/0x210` or `super_cache_scan+0x0` (perf): `super_cache_scan`.
pub fn shrinker_symbol(s: &str) -> &str {
    match s.as_bytes().iter().position(|&c| c == b'+') {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Why a known event could not be typed (a required field was missing or not a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untyped(pub &'static str);

/// The events reclaim analysis types, resolved once per event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Begin(EpisodeKind),
    End(EpisodeKind),
    KswapdWake,
    KswapdSleep,
    WakeupKswapd,
    Isolate,
    ShrinkInactive,
    ReclaimPages,
    ShrinkActive,
    SlabStart,
    SlabEnd,
    Throttled,
    MarkVictim,
    CgroupMkdir,
    CgroupRmdir,
}

impl Kind {
    pub fn of(name: &str) -> Option<Kind> {
        use EpisodeKind::*;
        Some(match name {
            "mm_vmscan_direct_reclaim_begin" => Kind::Begin(Direct),
            "mm_vmscan_memcg_reclaim_begin" => Kind::Begin(Memcg),
            "mm_vmscan_memcg_softlimit_reclaim_begin" => Kind::Begin(MemcgSoftLimit),
            "mm_vmscan_node_reclaim_begin" => Kind::Begin(Node),
            "mm_vmscan_direct_reclaim_end" => Kind::End(Direct),
            "mm_vmscan_memcg_reclaim_end" => Kind::End(Memcg),
            "mm_vmscan_memcg_softlimit_reclaim_end" => Kind::End(MemcgSoftLimit),
            "mm_vmscan_node_reclaim_end" => Kind::End(Node),
            "mm_vmscan_kswapd_wake" => Kind::KswapdWake,
            "mm_vmscan_kswapd_sleep" => Kind::KswapdSleep,
            "mm_vmscan_wakeup_kswapd" => Kind::WakeupKswapd,
            "mm_vmscan_lru_isolate" => Kind::Isolate,
            "mm_vmscan_lru_shrink_inactive" => Kind::ShrinkInactive,
            "mm_vmscan_reclaim_pages" => Kind::ReclaimPages,
            "mm_vmscan_lru_shrink_active" => Kind::ShrinkActive,
            "mm_shrink_slab_start" => Kind::SlabStart,
            "mm_shrink_slab_end" => Kind::SlabEnd,
            "mm_vmscan_throttled" => Kind::Throttled,
            "mark_victim" => Kind::MarkVictim,
            "cgroup_mkdir" => Kind::CgroupMkdir,
            "cgroup_rmdir" => Kind::CgroupRmdir,
            _ => return None,
        })
    }
}

/// Builds the typed event of `kind` (`None`: an event reclaim analysis does not use) from its
/// fields.
pub fn typed<'a>(kind: Option<Kind>, f: &Slots<'a>) -> Result<Event<'a>, Untyped> {
    let Some(kind) = kind else { return Ok(Event::Other) };
    let shrink_inactive = || -> Result<ShrinkInactive, Untyped> {
        Ok(ShrinkInactive {
            nr_scanned: num_u(f, F::NrScanned).ok_or(Untyped("nr_scanned"))?,
            nr_reclaimed: num_u(f, F::NrReclaimed).ok_or(Untyped("nr_reclaimed"))?,
            nr_dirty: num_u(f, F::NrDirty),
            nr_writeback: num_u(f, F::NrWriteback),
            nr_immediate: num_u(f, F::NrImmediate),
            nr_activate: num_u(f, F::NrActivate),
            nr_activate_anon: num_u(f, F::NrActivate0).or_else(|| num_u(f, F::NrActivateAnon)),
            nr_activate_file: num_u(f, F::NrActivate1).or_else(|| num_u(f, F::NrActivateFile)),
            priority: num_i32(f, F::Priority),
            file: file_flag(f),
        })
    };
    Ok(match kind {
        Kind::Begin(kind) => {
            Event::ReclaimBegin { kind, order: num_i32(f, F::Order), gfp_flags: f.get(F::GfpFlags) }
        }
        Kind::End(kind) => {
            Event::ReclaimEnd { kind, nr_reclaimed: num_u(f, F::NrReclaimed).ok_or(Untyped("nr_reclaimed"))? }
        }
        Kind::KswapdWake => Event::KswapdWake { nid: num_i32(f, F::Nid), order: num_i32(f, F::Order) },
        Kind::KswapdSleep => Event::KswapdSleep { nid: num_i32(f, F::Nid) },
        Kind::WakeupKswapd => Event::WakeupKswapd { nid: num_i32(f, F::Nid), order: num_i32(f, F::Order) },
        Kind::Isolate => {
            let lru = match f.get(F::Lru) {
                Some(l) => Lru::parse(l),
                // before 4.10: `file=1` and no list name; the inactive list is meant
                None => match num_u(f, F::File) {
                    Some(1) => Some(Lru::InactiveFile),
                    Some(0) => Some(Lru::InactiveAnon),
                    _ => None,
                },
            };
            Event::Isolate(Isolate {
                lru,
                nr_requested: num_u(f, F::NrRequested).ok_or(Untyped("nr_requested"))?,
                nr_scanned: num_u(f, F::NrScanned).ok_or(Untyped("nr_scanned"))?,
                nr_taken: num_u(f, F::NrTaken).ok_or(Untyped("nr_taken"))?,
                nr_skipped: num_u(f, F::NrSkipped),
            })
        }
        Kind::ShrinkInactive => Event::ShrinkInactive(shrink_inactive()?),
        Kind::ReclaimPages => Event::ReclaimPages(shrink_inactive()?),
        Kind::ShrinkActive => Event::ShrinkActive {
            nr_taken: num_u(f, F::NrTaken).ok_or(Untyped("nr_taken"))?,
            nr_deactivated: num_u(f, F::NrDeactivated).unwrap_or(0),
            priority: num_i32(f, F::Priority),
            file: file_flag(f),
        },
        Kind::SlabStart => Event::SlabStart {
            shrinker: shrinker_symbol(f.get(F::Shrink).ok_or(Untyped("shrink"))?),
            priority: num_i32(f, F::Priority),
            objects: num_i(f, F::NrObjectsToShrink),
        },
        Kind::SlabEnd => Event::SlabEnd {
            shrinker: shrinker_symbol(f.get(F::Shrink).ok_or(Untyped("shrink"))?),
            retval: num_i(f, F::Retval),
        },
        Kind::Throttled => Event::Throttled {
            usec_timeout: num_u(f, F::UsecTimeout),
            usec_delayed: num_u(f, F::UsecDelayed).ok_or(Untyped("usec_delayed"))?,
            reason: f.get(F::Reason).unwrap_or(""),
        },
        Kind::MarkVictim => Event::OomVictim {
            pid: num_i32(f, F::Pid),
            comm: f.get(F::Comm),
            anon_rss_kb: num_u(f, F::AnonRss),
        },
        Kind::CgroupMkdir => Event::CgroupMkdir { path: f.get(F::Path).ok_or(Untyped("path"))? },
        Kind::CgroupRmdir => Event::CgroupRmdir { path: f.get(F::Path).ok_or(Untyped("path"))? },
    })
}
