//! Line-by-line scanning: header split, layout match, typed event, with counters and bounded
//! diagnostics.

use crate::event::{typed, Event};
use crate::fmt::{key_values, Formats};
use crate::line::{split_line, LineKind, RawEvent};
use memdx_core::{Diag, SourceRef};
use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many diagnostics are kept per input; the rest are counted.
pub const MAX_DIAGS: usize = 50;

/// Events whose payload reclaim analysis reads; the others are only counted.
fn wanted(name: &str) -> bool {
    name.starts_with("mm_vmscan_")
        || name.starts_with("mm_shrink_slab_")
        || matches!(name, "mark_victim" | "cgroup_mkdir" | "cgroup_rmdir")
}

/// Counters of one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

/// One typed event with its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub raw: RawEvent<'a>,
    pub event: Event<'a>,
}

/// Scans lines of one input.
#[derive(Debug)]
pub struct Scanner {
    formats: Formats,
    source: SourceRef,
    pub stats: ScanStats,
    pub diags: Vec<Diag>,
}

impl Scanner {
    pub fn new(source: SourceRef, formats: Formats) -> Self {
        Scanner { formats, source, stats: ScanStats::default(), diags: Vec::new() }
    }

    fn diag(&mut self, d: Diag) {
        if self.diags.len() < MAX_DIAGS {
            self.diags.push(d);
        } else {
            self.stats.diags_dropped += 1;
        }
    }

    /// Scans one line (`lineno` 1-based, for diagnostics).
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
        match self.stats.per_event.get_mut(raw.name) {
            Some(n) => *n += 1,
            None => {
                self.stats.per_event.insert(raw.name.to_string(), 1);
            }
        }
        if self.stats.first_ts_ns.is_none() {
            self.stats.first_ts_ns = Some(raw.ts_ns);
        }
        self.stats.last_ts_ns = Some(self.stats.last_ts_ns.map_or(raw.ts_ns, |t| t.max(raw.ts_ns)));
        if !wanted(raw.name) {
            return Some(Record { raw, event: Event::Other });
        }
        let fields = match self.formats.fields(raw.name, raw.payload) {
            Some(f) => f,
            None => {
                if self.formats.knows(raw.name) {
                    self.stats.unmatched_payloads += 1;
                    let d = Diag::note(
                        self.source.at(lineno),
                        format!("{}: payload matches no known layout; read as key=value", raw.name),
                    );
                    self.diag(d);
                }
                key_values(raw.payload)
            }
        };
        match typed(raw.name, &fields) {
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
