//! Line-by-line scanning: header split, layout match, typed event, with counters and bounded
//! diagnostics.

use crate::event::{typed, Event, Kind};
use crate::fmt::{key_values, Formats, Slots, Template};
use crate::line::{split_line, word, LineKind, RawEvent};
use memdx_core::{Diag, SourceRef};
use std::collections::{BTreeMap, HashMap};

/// At most this many diagnostics are kept per input; the rest are counted.
pub const MAX_DIAGS: usize = 50;

/// Events whose payload reclaim analysis reads; the others are only counted.
fn wanted(name: &str) -> bool {
    name.starts_with("mm_vmscan_")
        || name.starts_with("mm_shrink_slab_")
        || matches!(name, "mark_victim" | "cgroup_mkdir" | "cgroup_rmdir")
}

/// Counters of one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub lines: u64,
    pub events: u64,
    /// Events per name.
    pub per_event: BTreeMap<String, u64>,
    /// Lines that looked like events but could not be split.
    pub damaged_lines: u64,
    /// Known events whose payload matched no layout (read as `key=value` instead) or lacked a
    /// needed field.
    pub unmatched_payloads: u64,
    /// Events the ring buffer reported as lost (`[LOST N EVENTS]`).
    pub lost_events: u64,
    pub first_ts_ns: Option<u64>,
    pub last_ts_ns: Option<u64>,
    /// Diagnostics beyond [`MAX_DIAGS`].
    pub diags_dropped: u64,
}

impl ScanStats {
    /// Adds the counters of the next part of the same input.
    pub fn merge(&mut self, o: ScanStats) {
        self.lines += o.lines;
        self.events += o.events;
        for (k, v) in o.per_event {
            *self.per_event.entry(k).or_default() += v;
        }
        self.damaged_lines += o.damaged_lines;
        self.unmatched_payloads += o.unmatched_payloads;
        self.lost_events += o.lost_events;
        self.first_ts_ns = self.first_ts_ns.or(o.first_ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(o.last_ts_ns);
        self.diags_dropped += o.diags_dropped;
    }
}

/// One typed event with its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub raw: RawEvent<'a>,
    pub event: Event<'a>,
}

/// What the scanner knows about one event name, resolved the first time the name is seen.
#[derive(Debug)]
struct EventInfo {
    name: Box<str>,
    count: u64,
    wanted: bool,
    kind: Option<Kind>,
    /// The layouts of the event (`None`: no layout known, read as key=value).
    layouts: Option<Vec<Template>>,
}

/// Scans lines of one input.
#[derive(Debug)]
pub struct Scanner {
    formats: Formats,
    source: SourceRef,
    pub stats: ScanStats,
    pub diags: Vec<Diag>,
    /// Event names seen, and their index in `events`.
    names: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    events: Vec<EventInfo>,
    /// Index in `events` of the last name seen per slot (see `event_index`); `usize::MAX`: none.
    recent: [usize; RECENT],
}

/// Slots of [`Scanner`]'s cache of recent event names.
const RECENT: usize = 32;

/// Whether two event names are equal, compared a word at a time (names are 10 to 40 bytes).
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() < 8 {
        return a == b;
    }
    let mut i = 0;
    while i + 8 < a.len() {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, a.len() - 8) == word(b, a.len() - 8)
}

impl Scanner {
    pub fn new(source: SourceRef, formats: Formats) -> Self {
        Scanner {
            formats,
            source,
            stats: ScanStats::default(),
            diags: Vec::new(),
            names: HashMap::default(),
            events: Vec::new(),
            recent: [usize::MAX; RECENT],
        }
    }

    /// The counters (with the events per name) and the diagnostics since the last call; both
    /// start again from zero.
    pub fn drain(&mut self) -> (ScanStats, Vec<Diag>) {
        let mut stats = std::mem::take(&mut self.stats);
        for e in &mut self.events {
            if e.count > 0 {
                stats.per_event.insert(e.name.to_string(), e.count);
                e.count = 0;
            }
        }
        (stats, std::mem::take(&mut self.diags))
    }

    /// Counts line `lineno`, longer than `max` bytes, as damaged.
    pub fn long_line(&mut self, lineno: usize, max: usize) {
        self.stats.lines += 1;
        self.stats.damaged_lines += 1;
        let d = Diag::warning(self.source.at(lineno), format!("line skipped: longer than {max} bytes"));
        self.diag(d);
    }

    fn event_index(&mut self, name: &str) -> usize {
        // The same few names recur line after line: a slot per (length, last byte) remembers the
        // last one seen, which spares hashing the name and comparing it through `memcmp`.
        let b = name.as_bytes();
        let slot = (b.len() ^ usize::from(b.last().copied().unwrap_or(0)) << 2) % RECENT;
        if let Some(&i) = self.recent.get(slot) {
            if self.events.get(i).is_some_and(|e| same_name(&e.name, name)) {
                return i;
            }
        }
        let i = self.lookup(name);
        self.recent[slot] = i;
        i
    }

    fn lookup(&mut self, name: &str) -> usize {
        if let Some(&i) = self.names.get(name) {
            return i;
        }
        let i = self.events.len();
        self.events.push(EventInfo {
            name: name.into(),
            count: 0,
            wanted: wanted(name),
            kind: Kind::of(name),
            layouts: self.formats.layouts(name).map(<[Template]>::to_vec),
        });
        self.names.insert(name.into(), i);
        i
    }

    fn diag(&mut self, d: Diag) {
        if self.diags.len() < MAX_DIAGS {
            self.diags.push(d);
        } else {
            self.stats.diags_dropped += 1;
        }
    }

    /// Scans one line (`lineno` 1-based, for diagnostics).
    #[inline]
    pub fn line<'a>(&mut self, line: &'a str, lineno: usize) -> Option<Record<'a>> {
        self.stats.lines += 1;
        let raw = match split_line(line) {
            LineKind::Event(e) => e,
            LineKind::Ignored => return None,
            LineKind::Lost(n) => {
                self.stats.lost_events += n;
                let d =
                    Diag::warning(self.source.at(lineno), format!("the ring buffer lost {n} events here"));
                self.diag(d);
                return None;
            }
            LineKind::Damaged(why) => {
                self.stats.damaged_lines += 1;
                let d = Diag::warning(self.source.at(lineno), format!("line skipped: {why}"));
                self.diag(d);
                return None;
            }
        };
        self.stats.events += 1;
        let ei = self.event_index(raw.name);
        let info = &mut self.events[ei];
        info.count += 1;
        if self.stats.first_ts_ns.is_none() {
            self.stats.first_ts_ns = Some(raw.ts_ns);
        }
        self.stats.last_ts_ns = Some(self.stats.last_ts_ns.map_or(raw.ts_ns, |t| t.max(raw.ts_ns)));
        if !info.wanted {
            return Some(Record { raw, event: Event::Other });
        }
        let kind = info.kind;
        let mut slots = Slots::default();
        let matched =
            info.layouts.as_ref().map(|ls| ls.iter().any(|t| t.match_slots(raw.payload, &mut slots)));
        if matched != Some(true) {
            if matched.is_some() {
                self.stats.unmatched_payloads += 1;
                let d = Diag::note(
                    self.source.at(lineno),
                    format!("{}: payload matches no known layout; read as key=value", raw.name),
                );
                self.diag(d);
            }
            slots = Slots::from_pairs(key_values(raw.payload));
        }
        match typed(kind, &slots) {
            Ok(event) => Some(Record { raw, event }),
            Err(missing) => {
                self.stats.unmatched_payloads += 1;
                let d = Diag::warning(
                    self.source.at(lineno),
                    format!("{}: field {} missing or not a number; event skipped", raw.name, missing.0),
                );
                self.diag(d);
                None
            }
        }
    }
}
