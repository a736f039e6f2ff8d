//! systemd and D-Bus failures in syslog or `journalctl` text: per unit `Failed with result`,
//! `Scheduled restart job, restart counter is at N`, `Main process exited`, `Start request repeated
//! too quickly`, `Failed to start`, and dbus-daemon `Activation via systemd failed for unit`, with
//! counts, time span and the estimated period (the median interval between a unit's events).
//!
//! Framings: `YYYY-MM-DD HH:MM:SS host prog[pid]: msg` (seed 000), RFC 3339 (`2024-01-25T09:00:05
//! +08:00`, rsyslog and `journalctl -o short-iso`), classic `Jan 25 09:00:05[.us] host prog[pid]:`
//! (also localised months such as `1月 25`), and `journalctl -o short-monotonic` (`[  201.45]`).
//! Written by hand: the point is to read these line shapes tolerantly, which no crate does.
//! Streaming: memory grows with units and distinct intervals, not lines.

use memdx_core::units::SatSum;
use memdx_core::{Diag, SourceRef};
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

/// Failure event kinds, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// dbus-daemon: `Activation via systemd failed for unit 'X': reason`.
    DbusActivationFailed,
    /// `X: Failed with result 'exit-code'.`
    FailedWithResult,
    /// `X: Scheduled restart job, restart counter is at N.`
    ScheduledRestart,
    /// `X: Main process exited, code=exited, status=1/FAILURE`.
    MainProcessExited,
    /// `X: Start request repeated too quickly.`
    StartRepeatedTooQuickly,
    /// `Failed to start <description>.` (the unit is the description on systemd < 249).
    FailedToStart,
}

impl FailureKind {
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::DbusActivationFailed => "dbus activation failed",
            FailureKind::FailedWithResult => "failed with result",
            FailureKind::ScheduledRestart => "scheduled restart",
            FailureKind::MainProcessExited => "main process exited",
            FailureKind::StartRepeatedTooQuickly => "start repeated too quickly",
            FailureKind::FailedToStart => "failed to start",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KindCount {
    pub kind: FailureKind,
    pub count: u64,
}

/// Failures of one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitFailures {
    /// Unit name (`logrotate.service`), or the description for `Failed to start <description>`.
    pub unit: String,
    /// Events of the most frequent kind (the figure the period is computed from).
    pub events: u64,
    pub kind: FailureKind,
    pub kinds: Vec<KindCount>,
    /// Time of the first and last event as written.
    pub first: String,
    pub last: String,
    pub span_s: f64,
    /// Median interval between consecutive events of [`UnitFailures::kind`], seconds (0.1 s steps).
    pub period_s: Option<f64>,
    /// Share of intervals within 10% of the period (1.0 = a perfectly regular loop).
    pub regularity: Option<f64>,
    pub max_restart_counter: Option<u64>,
    /// `Failed with result` results, or the dbus activation error.
    pub reasons: Vec<String>,
    /// Who reported it (`systemd`, `dbus-daemon`).
    pub reporter: String,
    pub first_source: SourceRef,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalReport {
    pub source: String,
    pub lines: u64,
    /// Lines from systemd containing `failed` (any case): the figure `grep -i failed | grep systemd`
    /// gives.
    pub systemd_failed_lines: u64,
    /// Units by events, most first.
    pub units: Vec<UnitFailures>,
    pub diags: Vec<Diag>,
}

impl JournalReport {
    pub fn unit(&self, name: &str) -> Option<&UnitFailures> {
        self.units.iter().find(|u| u.unit == name)
    }
}

#[derive(Debug, Default)]
struct KindState {
    count: u64,
    last_t: Option<f64>,
    /// Interval histogram in 0.1 s steps.
    intervals: HashMap<u64, u64>,
}

#[derive(Debug)]
struct UnitState {
    kinds: BTreeMap<FailureKind, KindState>,
    first: String,
    last: String,
    first_t: Option<f64>,
    last_t: Option<f64>,
    max_counter: Option<u64>,
    reasons: Vec<String>,
    reporter: String,
    first_line: usize,
}

/// Seconds from a line's timestamp, and the rest of the line after it.
fn timestamp(l: &str) -> Option<(f64, &str, &str)> {
    let b = l.as_bytes();
    // [  201.452633] (short-monotonic)
    if let Some(r) = l.strip_prefix('[') {
        let end = r.find(']')?;
        let t: f64 = r[..end].trim().parse().ok()?;
        return Some((t, &l[..end + 2], &r[end + 1..]));
    }
    // ISO: YYYY-MM-DD[ T]HH:MM:SS[.frac][zone]
    if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && (b[10] == b' ' || b[10] == b'T') {
        let y: i64 = l.get(0..4)?.parse().ok()?;
        let mo: i64 = l.get(5..7)?.parse().ok()?;
        let d: i64 = l.get(8..10)?.parse().ok()?;
        let secs = hms(l.get(11..19)?)?;
        let mut end = 19;
        let mut frac = 0.0;
        if b.get(19) == Some(&b'.') {
            let n = l[20..].bytes().take_while(u8::is_ascii_digit).count();
            frac = format!("0.{}", &l[20..20 + n]).parse().unwrap_or(0.0);
            end = 20 + n;
        }
        // Zone: Z, +08:00, +0800.
        let rest = &l[end..];
        let zlen = if rest.starts_with('Z') {
            1
        } else if rest.starts_with(['+', '-']) {
            1 + rest[1..].bytes().take_while(|c| c.is_ascii_digit() || *c == b':').count()
        } else {
            0
        };
        let t = (memdx_core::time::days_from_civil(y, mo, d) * 86400) as f64 + secs + frac;
        return Some((t, &l[..end + zlen], &l[end + zlen..]));
    }
    // Classic: `Jan 25 09:00:05[.frac]` or `1月 25 09:00:05`.
    let mut it = l.splitn(3, ' ');
    let mon = it.next()?;
    let month = memdx_core::time::month_number(mon)?;
    let rest = l[mon.len()..].trim_start();
    let day_end = rest.find(' ')?;
    let day: i64 = rest[..day_end].parse().ok()?;
    let rest2 = &rest[day_end + 1..];
    let secs = hms(rest2.get(0..8)?)?;
    let mut end = 8;
    let mut frac = 0.0;
    if rest2.as_bytes().get(8) == Some(&b'.') {
        let n = rest2[9..].bytes().take_while(u8::is_ascii_digit).count();
        frac = format!("0.{}", &rest2[9..9 + n]).parse().unwrap_or(0.0);
        end = 9 + n;
    }
    // No year in this framing: 2001 (not a leap year); a wrap at New Year is handled by the caller.
    let t = (memdx_core::time::days_from_civil(2001, month, day) * 86400) as f64 + secs + frac;
    let consumed = l.len() - rest2.len() + end;
    Some((t, &l[..consumed], &l[consumed..]))
}

fn hms(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h: u32 = s[0..2].parse().ok()?;
    let m: u32 = s[3..5].parse().ok()?;
    let sec: u32 = s[6..8].parse().ok()?;
    Some(f64::from(h * 3600 + m * 60 + sec))
}

/// `host prog[pid]: msg` -> (prog, msg).
fn program(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start();
    let (_host, after) = rest.split_once(' ')?;
    let i = after.find(": ")?;
    let tag = &after[..i];
    if tag.contains(' ') {
        return None;
    }
    let prog = tag.split('[').next().unwrap_or(tag);
    Some((prog, after[i + 2..].trim_start()))
}

/// A recognised failure: (unit, kind, extra).
fn classify<'a>(prog: &str, msg: &'a str) -> Option<(&'a str, FailureKind, Option<&'a str>)> {
    if prog.starts_with("dbus") {
        let i = msg.find("Activation via systemd failed for unit '")?;
        let r = &msg[i + "Activation via systemd failed for unit '".len()..];
        let end = r.find('\'')?;
        let reason = r[end + 1..].trim_start_matches(':').trim();
        return Some((&r[..end], FailureKind::DbusActivationFailed, (!reason.is_empty()).then_some(reason)));
    }
    if prog != "systemd" {
        return None;
    }
    if let Some(d) = msg.strip_prefix("Failed to start ") {
        let d = d.trim_end_matches('.');
        // systemd >= 249: `Failed to start foo.service - Description.`
        let unit = d.split(" - ").next().unwrap_or(d);
        return Some((unit, FailureKind::FailedToStart, None));
    }
    let (unit, what) = msg.split_once(": ")?;
    if unit.contains(' ') || !unit.contains('.') {
        return None;
    }
    if let Some(r) = what.strip_prefix("Failed with result '") {
        return Some((unit, FailureKind::FailedWithResult, r.split('\'').next()));
    }
    if let Some(r) = what.strip_prefix("Scheduled restart job, restart counter is at ") {
        return Some((unit, FailureKind::ScheduledRestart, Some(r.trim_end_matches('.'))));
    }
    if what.starts_with("Main process exited") && !what.contains("status=0/SUCCESS") {
        return Some((unit, FailureKind::MainProcessExited, None));
    }
    if what.starts_with("Start request repeated too quickly") {
        return Some((unit, FailureKind::StartRepeatedTooQuickly, None));
    }
    None
}

/// Streaming journal reader; feed lines with [`Journal::line`].
#[derive(Debug)]
pub struct Journal {
    src: SourceRef,
    units: HashMap<String, UnitState>,
    lines: u64,
    failed_lines: u64,
    year_offset: f64,
    last_t: Option<f64>,
    no_time: u64,
}

impl Journal {
    pub fn new(source: &str) -> Self {
        Journal {
            src: SourceRef::new(source),
            units: HashMap::new(),
            lines: 0,
            failed_lines: 0,
            year_offset: 0.0,
            last_t: None,
            no_time: 0,
        }
    }

    pub fn line(&mut self, l: &str, lineno: usize) {
        self.lines += 1;
        let l = l.trim_end_matches(['\n', '\r']);
        let Some((t, stamp, rest)) = timestamp(l) else {
            if l.contains("systemd") && l.to_ascii_lowercase().contains("failed") {
                self.no_time += 1;
            }
            return;
        };
        let Some((prog, msg)) = program(rest) else { return };
        if prog == "systemd" && msg.to_ascii_lowercase().contains("failed") {
            self.failed_lines += 1;
        }
        let Some((unit, kind, extra)) = classify(prog, msg) else { return };
        // Year-less framing wrapping at New Year.
        let mut t = t + self.year_offset;
        if let Some(last) = self.last_t {
            if t + 180.0 * 86400.0 < last {
                self.year_offset += 365.0 * 86400.0;
                t += 365.0 * 86400.0;
            }
        }
        self.last_t = Some(t);
        let u = self.units.entry(unit.to_string()).or_insert_with(|| UnitState {
            kinds: BTreeMap::new(),
            first: stamp.trim().to_string(),
            last: String::new(),
            first_t: Some(t),
            last_t: None,
            max_counter: None,
            reasons: Vec::new(),
            reporter: prog.to_string(),
            first_line: lineno,
        });
        u.last = stamp.trim().to_string();
        u.last_t = Some(t);
        let k = u.kinds.entry(kind).or_default();
        k.count += 1;
        if let Some(prev) = k.last_t {
            let d = ((t - prev).max(0.0) * 10.0).round() as u64;
            *k.intervals.entry(d).or_insert(0) += 1;
        }
        k.last_t = Some(t);
        match kind {
            FailureKind::ScheduledRestart => {
                if let Some(n) = extra.and_then(|e| e.parse::<u64>().ok()) {
                    u.max_counter = Some(u.max_counter.map_or(n, |m| m.max(n)));
                }
            }
            _ => {
                if let Some(r) = extra {
                    if u.reasons.len() < 3 && !u.reasons.iter().any(|x| x == r) {
                        u.reasons.push(r.to_string());
                    }
                }
            }
        }
    }

    pub fn finish(self) -> JournalReport {
        let mut units = Vec::new();
        for (name, u) in self.units {
            let Some((&kind, top)) =
                u.kinds.iter().max_by(|a, b| a.1.count.cmp(&b.1.count).then(b.0.cmp(a.0)))
            else {
                continue;
            };
            let n: u64 = top.intervals.values().sat_sum();
            let (period_s, regularity) = if n == 0 {
                (None, None)
            } else {
                let mut iv: Vec<(u64, u64)> = top.intervals.iter().map(|(k, v)| (*k, *v)).collect();
                iv.sort_unstable();
                let mut acc = 0;
                let mut med = 0;
                for (k, c) in &iv {
                    acc += c;
                    if acc * 2 >= n {
                        med = *k;
                        break;
                    }
                }
                let lo = med as f64 * 0.9;
                let hi = med as f64 * 1.1;
                let close: u64 = iv
                    .iter()
                    .filter(|(k, _)| (*k as f64) >= lo && (*k as f64) <= hi)
                    .map(|(_, c)| c)
                    .sat_sum();
                (Some(med as f64 / 10.0), Some(close as f64 / n as f64))
            };
            units.push(UnitFailures {
                unit: name,
                events: top.count,
                kind,
                kinds: u.kinds.iter().map(|(k, s)| KindCount { kind: *k, count: s.count }).collect(),
                first: u.first,
                last: u.last,
                span_s: match (u.first_t, u.last_t) {
                    (Some(a), Some(b)) => (b - a).max(0.0),
                    _ => 0.0,
                },
                period_s,
                regularity,
                max_restart_counter: u.max_counter,
                reasons: u.reasons,
                reporter: u.reporter,
                first_source: self.src.at(u.first_line),
            });
        }
        units.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.unit.cmp(&b.unit)));
        let mut diags = Vec::new();
        if self.no_time > 0 {
            diags.push(Diag::note(
                self.src.clone(),
                format!(
                    "{} systemd failure lines had no recognised timestamp and were not counted per unit",
                    self.no_time
                ),
            ));
        }
        JournalReport {
            source: self.src.file.to_string(),
            lines: self.lines,
            systemd_failed_lines: self.failed_lines,
            units,
            diags,
        }
    }
}

/// True when the head of a file looks like syslog/journal text with systemd or dbus lines.
pub fn sniff(head: &str) -> bool {
    // Of the first 500 lines, one naming systemd or dbus as its program: such a line holds the
    // word, so only the lines around its occurrences are parsed (a kernel log names systemd in a
    // few lines, most texts in none).
    ["systemd", "dbus"].iter().any(|word| {
        head.match_indices(word).any(|(at, _)| {
            if head.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() >= 500 {
                return false;
            }
            let start = head[..at].rfind('\n').map_or(0, |i| i + 1);
            // As `str::lines` cuts it: a `\r` before the newline is not part of the line.
            let l = match head[at..].find('\n') {
                Some(n) => head[start..at + n].strip_suffix('\r').unwrap_or(&head[start..at + n]),
                None => &head[start..],
            };
            timestamp(l)
                .and_then(|(_, _, r)| program(r))
                .is_some_and(|(p, _)| p == "systemd" || p.starts_with("dbus"))
        })
    })
}

/// Reads a whole syslog/journal text. Never fails.
pub fn parse_journal<R: BufRead>(r: R, source: &str) -> JournalReport {
    let mut j = Journal::new(source);
    let (_, err) = memdx_core::lines::for_each_line(r, &SourceRef::new(source), |line, n| j.line(line, n));
    let mut rep = j.finish();
    rep.diags.extend(err);
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sniffer parses only the lines naming systemd or dbus: the answer is that of parsing
    /// each of the first 500 lines, on real logs and journals and with `\r\n` line ends.
    #[test]
    fn sniff_reads_the_lines_naming_the_programs() {
        let every_line = |head: &str| {
            head.lines().take(500).any(|l| {
                timestamp(l)
                    .and_then(|(_, _, r)| program(r))
                    .is_some_and(|(p, _)| p == "systemd" || p.starts_with("dbus"))
            })
        };
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut seen = [0, 0];
        for dir in ["slab/seed000", "log", "journal"] {
            let Ok(rd) = std::fs::read_dir(data.join(dir)) else { continue };
            for e in rd.flatten() {
                let Ok(bytes) = std::fs::read(e.path()) else { continue };
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(8192)]).into_owned();
                for t in [
                    text.clone(),
                    text.replace('\n', "\r\n"),
                    text.lines().skip(3).collect::<Vec<_>>().join("\n"),
                ] {
                    let want = every_line(&t);
                    assert_eq!(sniff(&t), want, "{}", e.path().display());
                    seen[usize::from(want)] += 1;
                }
            }
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    }

    #[test]
    fn timestamps() {
        let (a, _, r) = timestamp("2024-01-16 05:45:03 host dbus-daemon[539]:  [system] x").unwrap();
        assert_eq!(program(r).unwrap().0, "dbus-daemon");
        let (b, _, _) = timestamp("2024-01-16T05:45:08+08:00 host systemd[1]: x").unwrap();
        assert_eq!(b - a, 5.0);
        let (c, _, r) =
            timestamp("1月 25 09:00:05 host systemd[1]: logrotate.service: Failed with result 'exit-code'.")
                .unwrap();
        let (d, _, _) = timestamp("Jan 25 09:00:06.5 host systemd[1]: x").unwrap();
        assert_eq!(d - c, 1.5);
        let (p, m) = program(r).unwrap();
        assert_eq!(classify(p, m).unwrap().1, FailureKind::FailedWithResult);
    }
}
