//! Event payload layouts. A [`Template`] is a sequence of literal text and named fields, compiled
//! either from the `print fmt:` line of an event's tracefs `format` file or from memdx's built-in
//! knowledge of vmscan, kmem, oom and cgroup events on kernels 4.x to 6.x ([`Formats::builtin`]).
//! Matching a payload against a template yields `(field, value)` pairs; the field names are the
//! kernel's (`REC->nr_activate0`), not the printed labels (`nr_activate_anon=`), so the printed
//! typo `usect_delayed` still yields `usec_delayed`.
//!
//! Written by hand: this is the kernel's own `print fmt` mini-language (a printf string plus C
//! argument expressions); no crate interprets it.

use crate::line::{find_byte, trim, word};
use memchr::memmem::Finder;
use memdx_core::{Diag, SourceRef};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    Field(Box<str>),
}

/// The fields typed events read. A template binds each of its fields to one of these when it is
/// compiled, so that matching a payload stores values in a fixed array ([`Slots`]) instead of
/// looking names up per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F {
    Order,
    GfpFlags,
    NrReclaimed,
    Nid,
    Lru,
    File,
    NrRequested,
    NrScanned,
    NrTaken,
    NrSkipped,
    NrDirty,
    NrWriteback,
    NrImmediate,
    NrActivate,
    NrActivate0,
    NrActivate1,
    NrActivateAnon,
    NrActivateFile,
    Priority,
    ReclaimFlags,
    Flags,
    NrDeactivated,
    Shrink,
    NrObjectsToShrink,
    Retval,
    UsecTimeout,
    UsecDelayed,
    Reason,
    Pid,
    Comm,
    AnonRss,
    Path,
}

const N_FIELDS: usize = F::Path as usize + 1;

impl F {
    /// The field of a kernel field name (`REC->x`, or a printed `key=` label in the key=value
    /// fallback).
    pub fn of(name: &str) -> Option<F> {
        Some(match name {
            "order" => F::Order,
            "gfp_flags" => F::GfpFlags,
            "nr_reclaimed" => F::NrReclaimed,
            "nid" => F::Nid,
            "lru" => F::Lru,
            "file" => F::File,
            "nr_requested" => F::NrRequested,
            "nr_scanned" => F::NrScanned,
            "nr_taken" => F::NrTaken,
            "nr_skipped" => F::NrSkipped,
            "nr_dirty" => F::NrDirty,
            "nr_writeback" => F::NrWriteback,
            "nr_immediate" => F::NrImmediate,
            "nr_activate" => F::NrActivate,
            "nr_activate0" => F::NrActivate0,
            "nr_activate1" => F::NrActivate1,
            "nr_activate_anon" => F::NrActivateAnon,
            "nr_activate_file" => F::NrActivateFile,
            "priority" => F::Priority,
            "reclaim_flags" => F::ReclaimFlags,
            "flags" => F::Flags,
            "nr_deactivated" => F::NrDeactivated,
            "shrink" => F::Shrink,
            "nr_objects_to_shrink" => F::NrObjectsToShrink,
            "retval" => F::Retval,
            "usec_timeout" => F::UsecTimeout,
            "usec_delayed" => F::UsecDelayed,
            "reason" => F::Reason,
            "pid" => F::Pid,
            "comm" => F::Comm,
            "anon_rss" => F::AnonRss,
            "path" => F::Path,
            _ => return None,
        })
    }
}

/// Values of the [`F`] fields of one payload; the first value of a field wins.
#[derive(Debug, Clone, Copy)]
pub struct Slots<'a> {
    vals: [&'a str; N_FIELDS],
    set: u64,
}

impl Default for Slots<'_> {
    fn default() -> Self {
        Slots { vals: [""; N_FIELDS], set: 0 }
    }
}

impl<'a> Slots<'a> {
    pub fn get(&self, f: F) -> Option<&'a str> {
        (self.set & (1 << f as u32) != 0).then(|| self.vals[f as usize])
    }

    fn put(&mut self, f: F, v: &'a str) {
        if self.set & (1 << f as u32) == 0 {
            self.set |= 1 << f as u32;
            self.vals[f as usize] = v;
        }
    }

    /// The slots of `(name, value)` pairs (the key=value fallback, or a [`Fields`] list).
    pub fn from_pairs<'n>(pairs: impl IntoIterator<Item = (&'n str, &'a str)>) -> Self {
        let mut s = Slots::default();
        for (n, v) in pairs {
            if let Some(f) = F::of(n) {
                s.put(f, v);
            }
        }
        s
    }
}

/// One step of a compiled template.
#[derive(Debug, Clone)]
enum Op {
    /// Literal text the payload must continue with.
    Lit(Box<str>),
    /// A field (index into the template's pieces, for its name) ending where `until` says.
    Field { piece: usize, slot: Option<F>, until: Until },
}

#[derive(Debug, Clone)]
enum Until {
    /// At the next occurrence of the following literal, which the step also consumes (its
    /// searcher is built once, at compile time).
    Lit(Box<[u8]>, Box<Finder<'static>>),
    /// Another field follows directly: this one is empty.
    Empty,
    /// The end of the payload.
    End,
}

/// The 4 bytes of `b` at `i` as a number (`b` holds at least `i + 4` bytes).
#[inline]
fn load4(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_ne_bytes(a)
}

/// Whether `h` starts with `lit`. Template literals are a few bytes: comparing them eight bytes at
/// a time inline (the last, overlapping word covering the tail) beats a call to `memcmp`, which
/// the profile of the full reclaim analysis showed at 6% of the time.
#[inline]
fn starts_with_short(h: &[u8], lit: &[u8]) -> bool {
    let n = lit.len();
    if h.len() < n {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(h, i) != word(lit, i) {
                return false;
            }
            i += 8;
        }
        word(h, n - 8) == word(lit, n - 8)
    } else if n >= 4 {
        load4(h, 0) == load4(lit, 0) && load4(h, n - 4) == load4(lit, n - 4)
    } else {
        h[..n] == *lit
    }
}

/// First occurrence of `lit` (not empty) in `h`. Field values are short and rarely hold the
/// first byte of the literal that ends them, so a plain scan for that byte answers at once; the
/// prebuilt searcher takes over after a few false starts, keeping long hostile payloads linear.
#[inline]
fn find_lit(h: &[u8], lit: &[u8], finder: &Finder<'_>) -> Option<usize> {
    let first = lit[0];
    let mut from = 0;
    for _ in 0..4 {
        let i = from + find_byte(&h[from..], first)?;
        if starts_with_short(&h[i..], lit) {
            return Some(i);
        }
        from = i + 1;
    }
    finder.find(&h[from..]).map(|i| from + i)
}

/// One payload layout, compiled: literal checks and field ends with their searchers prebuilt.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
    ops: Vec<Op>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.pieces == other.pieces
    }
}

impl Eq for Template {}

/// Field values of one payload, in template order.
pub type Fields<'t, 'a> = Vec<(&'t str, &'a str)>;

impl Template {
    fn new(pieces: Vec<Piece>) -> Template {
        let mut ops = Vec::with_capacity(pieces.len());
        let mut i = 0;
        while i < pieces.len() {
            match &pieces[i] {
                Piece::Lit(l) => ops.push(Op::Lit(l.clone())),
                Piece::Field(name) => {
                    let until = match pieces.get(i + 1) {
                        Some(Piece::Lit(l)) => {
                            i += 1;
                            Until::Lit(l.as_bytes().into(), Box::new(Finder::new(l.as_bytes()).into_owned()))
                        }
                        Some(Piece::Field(_)) => Until::Empty,
                        None => Until::End,
                    };
                    let piece = if matches!(until, Until::Lit(..)) { i - 1 } else { i };
                    ops.push(Op::Field { piece, slot: F::of(name), until });
                }
            }
            i += 1;
        }
        Template { pieces, ops }
    }

    /// Compiles memdx's built-in notation: literal text with `{field}` placeholders.
    pub fn builtin(spec: &str) -> Template {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = spec;
        while let Some(open) = rest.find('{') {
            lit.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else { break };
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
            }
            pieces.push(Piece::Field(rest[open + 1..open + close].into()));
            rest = &rest[open + close + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        Template::new(pieces)
    }

    /// Compiles the text after `print fmt: ` in a tracefs `format` file.
    pub fn from_print_fmt(text: &str) -> Result<Template, String> {
        let text = text.trim();
        let (fmt, args) = split_c_string(text)?;
        let args = split_args(args);
        let mut names = args.iter().map(|a| arg_field_name(a));
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let b = fmt.as_bytes();
        let mut i = 0;
        let mut n_field = 0usize;
        while i < b.len() {
            if b[i] != b'%' {
                let start = i;
                while i < b.len() && b[i] != b'%' {
                    i += 1;
                }
                lit.push_str(&fmt[start..i]);
                continue;
            }
            i += 1;
            if i < b.len() && b[i] == b'%' {
                lit.push('%');
                i += 1;
                continue;
            }
            // flags, width, precision, length
            while i < b.len() && matches!(b[i], b'-' | b'+' | b' ' | b'#' | b'0') {
                i += 1;
            }
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'*' || b[i] == b'.') {
                if b[i] == b'*' {
                    names.next();
                }
                i += 1;
            }
            while i < b.len() && matches!(b[i], b'h' | b'l' | b'z' | b'j' | b't' | b'L' | b'q') {
                i += 1;
            }
            if i >= b.len() {
                return Err("format ends inside a conversion".into());
            }
            let conv = b[i];
            i += 1;
            if conv == b'p' {
                while i < b.len() && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
            }
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
            }
            let name = names.next().flatten().unwrap_or_else(|| format!("arg{n_field}"));
            n_field += 1;
            pieces.push(Piece::Field(name.into()));
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        Ok(Template::new(pieces))
    }

    /// Walks `payload` along the template, handing each field (piece index, slot, untrimmed value)
    /// to `f`; false when its literal text differs.
    fn walk<'a>(&self, payload: &'a str, mut f: impl FnMut(usize, Option<F>, &'a str)) -> bool {
        let b = payload.as_bytes();
        let mut pos = 0;
        for op in &self.ops {
            // A field ended by a literal is the usual step: tested first, with a plain branch
            // rather than the jump table a `match` becomes.
            if let Op::Field { piece, slot, until: Until::Lit(lit, finder) } = op {
                let Some(i) = find_lit(&b[pos..], lit, finder) else { return false };
                f(*piece, *slot, &payload[pos..pos + i]);
                pos += i + lit.len();
                continue;
            }
            match op {
                Op::Lit(l) => {
                    if !starts_with_short(&b[pos..], l.as_bytes()) {
                        return false;
                    }
                    pos += l.len();
                }
                Op::Field { piece, slot, until } => {
                    let (end, next) = match until {
                        Until::Lit(lit, finder) => match find_lit(&b[pos..], lit, finder) {
                            Some(i) => (pos + i, pos + i + lit.len()),
                            None => return false,
                        },
                        Until::Empty => (pos, pos),
                        Until::End => (b.len(), b.len()),
                    };
                    f(*piece, *slot, &payload[pos..end]);
                    pos = next;
                }
            }
        }
        pos == b.len()
    }

    /// Matches a payload; `None` when its literal text differs.
    pub fn matches<'t, 'a>(&'t self, payload: &'a str) -> Option<Fields<'t, 'a>> {
        let mut out = Vec::with_capacity(self.pieces.len() / 2 + 1);
        let ok = self.walk(payload, |i, _, v| {
            if let Piece::Field(name) = &self.pieces[i] {
                out.push((&**name, trim(v)));
            }
        });
        ok.then_some(out)
    }

    /// Matches a payload into `slots` (cleared first); false when its literal text differs. The
    /// values of fields no typed event reads are neither trimmed nor kept.
    pub fn match_slots<'a>(&self, payload: &'a str, slots: &mut Slots<'a>) -> bool {
        slots.set = 0;
        self.walk(payload, |_, slot, v| {
            if let Some(f) = slot {
                slots.put(f, trim(v));
            }
        })
    }
}

fn split_c_string(text: &str) -> Result<(String, &str), String> {
    let b = text.as_bytes();
    if b.first() != Some(&b'"') {
        return Err("print fmt does not start with a string".into());
    }
    let mut s = String::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let rest = text[i + 1..].trim_start();
                return Ok((s, rest.strip_prefix(',').unwrap_or(rest)));
            }
            b'\\' if i + 1 < b.len() => {
                match b[i + 1] {
                    b'n' => s.push('\n'),
                    b't' => s.push('\t'),
                    c => s.push(c as char),
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        s.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    Err("unterminated string in print fmt".into())
}

fn split_args(args: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut start = 0;
    let b = args.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth -= 1,
                b',' if depth == 0 => {
                    out.push(args[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    if !args[start..].trim().is_empty() {
        out.push(args[start..].trim());
    }
    out
}

/// The field an argument expression prints: the first `REC->x`, or `x` in `__get_str(x)`.
fn arg_field_name(arg: &str) -> Option<String> {
    let ident =
        |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    if let Some(i) = arg.find("REC->") {
        return Some(ident(&arg[i + 5..]));
    }
    for f in ["__get_str(", "__get_bitmask(", "__get_dynamic_array(", "__get_sockaddr("] {
        if let Some(i) = arg.find(f) {
            return Some(ident(arg[i + f.len()..].trim_start()));
        }
    }
    None
}

/// Built-in layouts: for each event, the variants seen across kernel versions, newest first.
/// The field names are the kernel's `TP_STRUCT__entry` names.
const BUILTIN: &[(&str, &[&str])] = &[
    // vmscan
    ("mm_vmscan_kswapd_sleep", &["nid={nid}"]),
    ("mm_vmscan_kswapd_wake", &["nid={nid} order={order}", "nid={nid} zid={zid} order={order}"]),
    (
        "mm_vmscan_wakeup_kswapd",
        &[
            "nid={nid} order={order} gfp_flags={gfp_flags}",
            "nid={nid} zid={zid} order={order} gfp_flags={gfp_flags}",
            "nid={nid} zid={zid} order={order}",
        ],
    ),
    ("mm_vmscan_direct_reclaim_begin", &["order={order} gfp_flags={gfp_flags}", "order={order} may_writepage={may_writepage} gfp_flags={gfp_flags} classzone_idx={classzone_idx}"]),
    ("mm_vmscan_memcg_reclaim_begin", &["order={order} gfp_flags={gfp_flags}", "order={order} may_writepage={may_writepage} gfp_flags={gfp_flags} classzone_idx={classzone_idx}"]),
    ("mm_vmscan_memcg_softlimit_reclaim_begin", &["order={order} gfp_flags={gfp_flags}", "order={order} may_writepage={may_writepage} gfp_flags={gfp_flags} classzone_idx={classzone_idx}"]),
    ("mm_vmscan_node_reclaim_begin", &["nid={nid} order={order} gfp_flags={gfp_flags}"]),
    ("mm_vmscan_direct_reclaim_end", &["nr_reclaimed={nr_reclaimed}"]),
    ("mm_vmscan_memcg_reclaim_end", &["nr_reclaimed={nr_reclaimed}"]),
    ("mm_vmscan_memcg_softlimit_reclaim_end", &["nr_reclaimed={nr_reclaimed}"]),
    ("mm_vmscan_node_reclaim_end", &["nr_reclaimed={nr_reclaimed}"]),
    (
        "mm_vmscan_lru_isolate",
        &[
            "classzone={highest_zoneidx} order={order} nr_requested={nr_requested} nr_scanned={nr_scanned} nr_skipped={nr_skipped} nr_taken={nr_taken} lru={lru}",
            "isolate_mode={isolate_mode} classzone={classzone_idx} order={order} nr_requested={nr_requested} nr_scanned={nr_scanned} nr_skipped={nr_skipped} nr_taken={nr_taken} lru={lru}",
            "isolate_mode={isolate_mode} classzone={classzone_idx} order={order} nr_requested={nr_requested} nr_scanned={nr_scanned} nr_taken={nr_taken} file={file}",
        ],
    ),
    (
        "mm_vmscan_lru_shrink_inactive",
        &[
            "nid={nid} nr_scanned={nr_scanned} nr_reclaimed={nr_reclaimed} nr_dirty={nr_dirty} nr_writeback={nr_writeback} nr_congested={nr_congested} nr_immediate={nr_immediate} nr_activate_anon={nr_activate0} nr_activate_file={nr_activate1} nr_ref_keep={nr_ref_keep} nr_unmap_fail={nr_unmap_fail} priority={priority} flags={reclaim_flags}",
            "nid={nid} nr_scanned={nr_scanned} nr_reclaimed={nr_reclaimed} nr_dirty={nr_dirty} nr_writeback={nr_writeback} nr_congested={nr_congested} nr_immediate={nr_immediate} nr_activate={nr_activate} nr_ref_keep={nr_ref_keep} nr_unmap_fail={nr_unmap_fail} priority={priority} flags={reclaim_flags}",
            "nid={nid} nr_scanned={nr_scanned} nr_reclaimed={nr_reclaimed} priority={priority} flags={reclaim_flags}",
        ],
    ),
    (
        "mm_vmscan_lru_shrink_active",
        &["nid={nid} nr_taken={nr_taken} nr_active={nr_active} nr_deactivated={nr_deactivated} nr_referenced={nr_referenced} priority={priority} flags={reclaim_flags}"],
    ),
    (
        "mm_vmscan_reclaim_pages",
        &["nid={nid} nr_scanned={nr_scanned} nr_reclaimed={nr_reclaimed} nr_dirty={nr_dirty} nr_writeback={nr_writeback} nr_congested={nr_congested} nr_immediate={nr_immediate} nr_activate_anon={nr_activate0} nr_activate_file={nr_activate1} nr_ref_keep={nr_ref_keep} nr_unmap_fail={nr_unmap_fail}"],
    ),
    (
        "mm_vmscan_inactive_list_is_low",
        &["nid={nid} reclaim_idx={reclaim_idx} total_inactive={total_inactive} inactive={inactive} total_active={total_active} active={active} ratio={ratio} flags={reclaim_flags}"],
    ),
    ("mm_vmscan_throttled", &["nid={nid} usec_timeout={usec_timeout} usect_delayed={usec_delayed} reason={reason}"]),
    ("mm_vmscan_write_folio", &["page={page} pfn={pfn} flags={reclaim_flags}"]),
    ("mm_vmscan_writepage", &["page={page} pfn={pfn} flags={reclaim_flags}"]),
    (
        "mm_shrink_slab_start",
        &[
            "{shrink} {shr}: nid: {nid} objects to shrink {nr_objects_to_shrink} gfp_flags {gfp_flags} cache items {cache_items} delta {delta} total_scan {total_scan} priority {priority}",
            "{shrink} {shr}: nid: {nid} objects to shrink {nr_objects_to_shrink} gfp_flags {gfp_flags} pgs_scanned {pgs_scanned} lru_pgs {lru_pgs} cache items {cache_items} delta {delta} total_scan {total_scan}",
            "{shrink} {shr}: nid: {nid} objects to shrink {nr_objects_to_shrink} gfp_flags {gfp_flags} cache items {cache_items} delta {delta} total_scan {total_scan}",
        ],
    ),
    (
        "mm_shrink_slab_end",
        &["{shrink} {shr}: nid: {nid} unused scan count {unused_scan} new scan count {new_scan} total_scan {total_scan} last shrinker return val {retval}"],
    ),
    // oom
    (
        "mark_victim",
        &[
            "pid={pid} comm={comm} total-vm={total_vm}kB anon-rss={anon_rss}kB file-rss:{file_rss}kB shmem-rss:{shmem_rss}kB uid={uid} pgtables={pgtables}kB oom_score_adj={oom_score_adj}",
            "pid={pid}",
        ],
    ),
    ("oom_score_adj_update", &["pid={pid} comm={comm} oom_score_adj={oom_score_adj}"]),
    ("wake_reaper", &["pid={pid}"]),
    ("start_task_reaping", &["pid={pid}"]),
    ("finish_task_reaping", &["pid={pid}"]),
    ("skip_task_reaping", &["pid={pid}"]),
    (
        "reclaim_retry_zone",
        &["node={node} zone={zone_idx} order={order} reclaimable={reclaimable} available={available} min_wmark={min_wmark} no_progress_loops={no_progress_loops} wmark_check={wmark_check}"],
    ),
    ("compact_retry", &["order={order} priority={priority} compaction_result={result} retries={retries} max_retries={max_retries} should_retry={ret}"]),
    // cgroup
    ("cgroup_mkdir", &["root={root} id={id} level={level} path={path}"]),
    ("cgroup_rmdir", &["root={root} id={id} level={level} path={path}"]),
    ("cgroup_release", &["root={root} id={id} level={level} path={path}"]),
    // kmem
    (
        "kmalloc",
        &[
            "call_site={call_site} ptr={ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags} node={node} accounted={accounted}",
            "call_site={call_site} ptr={ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags} node={node}",
            "call_site={call_site} ptr={ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags}",
        ],
    ),
    (
        "kmem_cache_alloc",
        &[
            "call_site={call_site} ptr={ptr} name={name} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags} node={node} accounted={accounted}",
            "call_site={call_site} ptr={ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags} node={node} accounted={accounted}",
            "call_site={call_site} ptr={ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags} node={node}",
            "call_site={call_site} ptr={ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} gfp_flags={gfp_flags}",
        ],
    ),
    ("kmem_cache_free", &["call_site={call_site} ptr={ptr} name={name}", "call_site={call_site} ptr={ptr}"]),
    ("kfree", &["call_site={call_site} ptr={ptr}"]),
    (
        "mm_page_alloc",
        &["page={page} pfn={pfn} order={order} migratetype={migratetype} gfp_flags={gfp_flags}"],
    ),
];

/// The layouts memdx knows, per event name. Starts from [`Formats::builtin`]; layouts read from
/// the `format` files of the traced kernel take precedence.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    map: HashMap<String, Vec<Template>>,
}

impl Formats {
    pub fn builtin() -> Formats {
        let mut map = HashMap::new();
        for (name, specs) in BUILTIN {
            map.insert(name.to_string(), specs.iter().map(|s| Template::builtin(s)).collect());
        }
        Formats { map }
    }

    /// Adds every event found in `text`: one `format` file, or several concatenated (as in a
    /// dump made with `for f in events/*/*/format; do cat $f; done`). Returns the number of
    /// events added, plus diagnostics for `print fmt` lines that could not be compiled.
    pub fn add_format_files(&mut self, text: &str, source: &SourceRef) -> (usize, Vec<Diag>) {
        let mut diags = Vec::new();
        let mut added = 0;
        let mut name: Option<&str> = None;
        for (i, line) in text.lines().enumerate() {
            if let Some(n) = line.strip_prefix("name: ") {
                name = Some(n.trim());
            } else if let Some(f) = line.strip_prefix("print fmt: ") {
                let Some(n) = name.take() else {
                    diags.push(Diag::warning(source.at(i + 1), "print fmt without a preceding name: line"));
                    continue;
                };
                match Template::from_print_fmt(f) {
                    Ok(t) => {
                        let v = self.map.entry(n.to_string()).or_default();
                        v.retain(|x| x != &t);
                        v.insert(0, t);
                        added += 1;
                    }
                    Err(e) => diags.push(Diag::warning(source.at(i + 1), format!("event {n}: {e}"))),
                }
            }
        }
        (added, diags)
    }

    /// Matches `payload` of event `name`; the first layout that fits wins.
    pub fn fields<'t, 'a>(&'t self, name: &str, payload: &'a str) -> Option<Fields<'t, 'a>> {
        self.map.get(name)?.iter().find_map(|t| t.matches(payload))
    }

    /// The layouts of event `name`, newest first.
    pub fn layouts(&self, name: &str) -> Option<&[Template]> {
        self.map.get(name).map(Vec::as_slice)
    }

    pub fn knows(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

/// Fallback for events with no known layout: `key=value` tokens separated by spaces.
pub fn key_values(payload: &str) -> Fields<'_, '_> {
    payload.split(' ').filter_map(|t| t.split_once('=')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_fmt_compiles() {
        let t = Template::from_print_fmt(r#""nid=%d usec_timeout=%d usect_delayed=%d reason=%s", REC->nid, REC->usec_timeout, REC->usec_delayed, (REC->reason) ? __print_flags(REC->reason, "|", {(1 << VMSCAN_THROTTLE_WRITEBACK), "VMSCAN_THROTTLE_WRITEBACK"}) : "VMSCAN_THROTTLE_NONE""#).unwrap();
        let f = t
            .matches("nid=0 usec_timeout=100000 usect_delayed=8000 reason=VMSCAN_THROTTLE_WRITEBACK")
            .unwrap();
        assert_eq!(
            f,
            vec![
                ("nid", "0"),
                ("usec_timeout", "100000"),
                ("usec_delayed", "8000"),
                ("reason", "VMSCAN_THROTTLE_WRITEBACK")
            ]
        );
        let t = Template::from_print_fmt(r#""%pS %p: nid: %d unused scan count %ld new scan count %ld total_scan %ld last shrinker return val %d", REC->shrink, REC->shr, REC->nid, REC->unused_scan, REC->new_scan, REC->total_scan, REC->retval"#).unwrap();
        let f = t.matches("super_cache_scan+0x0/0x210 000000003741a91e: nid: 0 unused scan count 0 new scan count 0 total_scan 0 last shrinker return val 0").unwrap();
        assert_eq!(f[0], ("shrink", "super_cache_scan+0x0/0x210"));
        assert_eq!(f[6], ("retval", "0"));
        let t = Template::from_print_fmt(
            r#""root=%d id=%llu level=%d path=%s", REC->root, REC->id, REC->level, __get_str(path)"#,
        )
        .unwrap();
        assert_eq!(t.matches("root=4 id=6563 level=1 path=/memdx-test").unwrap()[3], ("path", "/memdx-test"));
        assert!(t.matches("root=4 id=6563").is_none());
    }
}
