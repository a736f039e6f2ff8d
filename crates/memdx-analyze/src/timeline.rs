//! The timeline: every dated event of every input (kernel reports, OOM kills, allocation failures,
//! unit failure loops, reclaim episodes and OOM victims of traces, slab samples) on one clock where
//! the inputs allow it.
//!
//! Clocks: kernel logs stamp lines with seconds since boot (`[201866.888630]`), wall-clock time
//! (`dmesg -T`, syslog, journal), or both (syslog lines carrying the kernel's `[mono]`). A log with
//! both gives its boot time (wall - monotonic); the same report seen with a monotonic stamp in one
//! log and a wall stamp in another (`dmesg` and `dmesg -T` of one boot) gives it too. Monotonic
//! events of a log with a known boot time are placed on the wall clock; the others keep their
//! seconds since boot and are ordered among themselves. Traces stamp events with the kernel's clock
//! (seconds since boot on the default `local` clock).
//!
//! Pure: no I/O.

use crate::case::Case;
use memdx_core::SourceRef;
use memdx_log::Kind;

/// Events kept at most (the most severe and earliest win when a log has more).
const MAX_EVENTS: usize = 400;

pub use memdx_core::timeline::{Event, Timeline};

/// A wall-clock stamp as seconds since the epoch. Formats: `dmesg -T` (`Sat Nov 21 22:45:03 2026`),
/// syslog (`Nov 15 06:46:39`, no year: `year` is used), ISO 8601 (`2024-01-24T12:40:55.123+08:00`,
/// `2024-01-24 12:40:55`), journal realtime (`@1700000000000000us`).
pub fn parse_wall(s: &str, year: Option<i64>) -> Option<f64> {
    let s = s.trim();
    if let Some(us) = s.strip_prefix('@').and_then(|x| x.strip_suffix("us")) {
        return us.parse::<f64>().ok().map(|v| v / 1e6);
    }
    let b = s.as_bytes();
    if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' {
        let y: i64 = s[..4].parse().ok()?;
        let mo: i64 = s[5..7].parse().ok()?;
        let d: i64 = s[8..10].parse().ok()?;
        let rest = &s[11..];
        let (time, tz) = split_tz(rest);
        return Some(civil(y, mo, d)? as f64 + hms(time)? - tz);
    }
    let toks: Vec<&str> = s.split_whitespace().collect();
    let month = memdx_core::time::month_number;
    match toks.as_slice() {
        // dmesg -T: Www Mmm dd hh:mm:ss yyyy
        [_, mon, day, time, y] => {
            let y: i64 = y.parse().ok()?;
            Some(civil(y, month(mon)?, day.parse().ok()?)? as f64 + hms(time)?)
        }
        // syslog: Mmm dd hh:mm:ss
        [mon, day, time] => {
            Some(civil(year.unwrap_or(1970), month(mon)?, day.parse().ok()?)? as f64 + hms(time)?)
        }
        _ => None,
    }
}

fn split_tz(t: &str) -> (&str, f64) {
    if let Some(x) = t.strip_suffix('Z') {
        return (x, 0.0);
    }
    if let Some(i) = t.rfind(['+', '-']).filter(|&i| i >= 8) {
        let z = &t[i + 1..];
        let (h, m) = z.split_once(':').unwrap_or((z.get(..2).unwrap_or(z), z.get(2..).unwrap_or("0")));
        let off = h.parse::<f64>().unwrap_or(0.0) * 3600.0 + m.parse::<f64>().unwrap_or(0.0) * 60.0;
        return (&t[..i], if &t[i..=i] == "-" { -off } else { off });
    }
    (t, 0.0)
}

fn hms(t: &str) -> Option<f64> {
    let mut p = t.split(':');
    let h: f64 = p.next()?.parse().ok()?;
    let m: f64 = p.next()?.parse().ok()?;
    let s: f64 = p.next()?.parse().ok()?;
    (h < 24.0 && m < 60.0 && s < 61.0).then_some(h * 3600.0 + m * 60.0 + s)
}

/// Seconds since the epoch of a civil date.
fn civil(y: i64, m: i64, d: i64) -> Option<i64> {
    ((1..=12).contains(&m) && (1..=31).contains(&d))
        .then(|| memdx_core::time::days_from_civil(y, m, d) * 86400)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn fmt_epoch(t: f64) -> String {
    memdx_core::time::fmt_utc(t.floor() as i64)
}

fn report_kind(k: Kind) -> &'static str {
    match k {
        Kind::Oom => "oom_kill",
        Kind::AllocFailure => "alloc_failure",
        _ => "report",
    }
}

/// The year of the first stamp that has one, for syslog stamps that do not.
fn year_hint(case: &Case) -> Option<i64> {
    let stamps = case.logs.iter().flat_map(|l| l.reports.iter()).filter_map(|r| r.first_seen.wall.as_deref());
    for w in stamps {
        if let Some(t) = parse_wall(w, None).filter(|_| {
            !w.starts_with(|c: char| c.is_ascii_alphabetic()) || w.split_whitespace().count() == 5
        }) {
            return fmt_epoch(t)[..4].parse().ok();
        }
    }
    None
}

pub fn build(case: &Case) -> Timeline {
    let mut tl = Timeline::default();
    let year = year_hint(case);
    // Boot time (epoch of monotonic 0) per log, from lines stamped both ways.
    let mut boots: Vec<Option<f64>> = case
        .logs
        .iter()
        .map(|l| {
            let mut v: Vec<f64> = l
                .reports
                .iter()
                .filter_map(|r| Some(parse_wall(r.time.wall.as_deref()?, year)? - r.time.monotonic?))
                .collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        })
        .collect();
    // The same report with a monotonic stamp in one log and a wall stamp in another.
    for (i, log) in case.logs.iter().enumerate() {
        if boots[i].is_some() {
            continue;
        }
        'find: for r in &log.reports {
            let Some(m) = r.time.monotonic else { continue };
            for (j, other) in case.logs.iter().enumerate() {
                if j == i {
                    continue;
                }
                if let Some(o) =
                    other.reports.iter().find(|o| o.signature == r.signature && o.time.monotonic.is_none())
                {
                    if let Some(w) = o.time.wall.as_deref().and_then(|w| parse_wall(w, year)) {
                        boots[i] = Some(w - m);
                        tl.notes.push(format!(
                            "{}: boot time from `{}` stamped {} here and {} in {}",
                            r.source.file, r.title, r.time, o.time, o.source.file
                        ));
                        break 'find;
                    }
                }
            }
        }
    }
    for (i, b) in boots.iter().enumerate() {
        if let (Some(b), Some(r)) = (b, case.logs[i].reports.first()) {
            tl.notes.push(format!(
                "{}: monotonic stamps aligned to boot at {}",
                r.source.file,
                fmt_epoch(*b)
            ));
        }
    }
    let mut ev = Vec::new();
    for (i, log) in case.logs.iter().enumerate() {
        for r in &log.reports {
            let what = match r.kind {
                Kind::Oom => {
                    let v = r
                        .mem
                        .as_ref()
                        .and_then(|m| m.victim.as_deref())
                        .map(|v| format!(": killed {v}"))
                        .unwrap_or_default();
                    format!("{}{v}", r.title)
                }
                _ => r.title.clone(),
            };
            let task = r.comm.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            let count = if r.count > 1 { format!(" x{}, first", r.count) } else { String::new() };
            push(
                &mut ev,
                report_kind(r.kind),
                format!("{what}{task}{count}"),
                &r.first_seen,
                Some(r.source.clone()),
                i,
                boots[i],
                year,
            );
            if r.count > 1 && r.last_seen != r.first_seen {
                push(
                    &mut ev,
                    report_kind(r.kind),
                    format!("{what}{task}: last of {}", r.count),
                    &r.last_seen,
                    Some(r.source.clone()),
                    i,
                    boots[i],
                    year,
                );
            }
        }
    }
    for j in &case.journals {
        for u in j.units.iter().take(10) {
            let src = Some(u.first_source.clone());
            for (w, tag) in [(&u.first, "first"), (&u.last, "last")] {
                let epoch = parse_wall(w, year);
                ev.push(Event {
                    kind: "unit_failures".into(),
                    what: format!("{}: {} ({tag} of {})", u.unit, u.kind.label(), u.events),
                    monotonic: None,
                    wall: Some(w.clone()),
                    epoch,
                    aligned: false,
                    source: src.clone(),
                    boot: None,
                });
            }
        }
    }
    for (k, t) in case.traces.iter().enumerate() {
        let boot = case.logs.len() + k;
        for e in t.longest_episodes.iter().take(5) {
            ev.push(Event {
                kind: "reclaim_episode".into(),
                what: format!(
                    "{:?} reclaim by {} ({:.1} ms{})",
                    e.kind,
                    e.comm,
                    e.duration_ns as f64 / 1e6,
                    e.nr_reclaimed.map(|n| format!(", {n} pages reclaimed")).unwrap_or_default()
                ),
                monotonic: Some(e.start_ns as f64 / 1e9),
                wall: None,
                epoch: None,
                aligned: false,
                source: Some(SourceRef::new(t.source.as_str())),
                boot: Some(boot),
            });
        }
        for v in t.oom_victims.iter().take(20) {
            ev.push(Event {
                kind: "oom_victim".into(),
                what: format!(
                    "OOM victim {}{}",
                    v.comm.as_deref().unwrap_or("?"),
                    v.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ),
                monotonic: Some(v.ts_ns as f64 / 1e9),
                wall: None,
                epoch: None,
                aligned: false,
                source: Some(SourceRef::new(t.source.as_str())),
                boot: Some(boot),
            });
        }
    }
    for s in &case.slabs {
        if let Some(t) = s.time {
            ev.push(Event {
                kind: "sample".into(),
                what: format!("slab table ({} caches)", s.table.caches.len()),
                monotonic: None,
                wall: None,
                epoch: Some(t as f64),
                aligned: false,
                source: Some(s.table.source.clone()),
                boot: None,
            });
        }
    }
    // Wall-clock events first in time order, then per boot in seconds since boot, then undated.
    ev.sort_by(|a, b| {
        let key = |e: &Event| match (e.epoch, e.monotonic) {
            (Some(t), _) => (0usize, 0usize, t),
            (None, Some(m)) => (1, e.boot.unwrap_or(0), m),
            (None, None) => (2, 0, 0.0),
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.cmp(&kb.1)).then(ka.2.total_cmp(&kb.2))
    });
    // One report in two logs of the same boot (dmesg and dmesg -T, kern.log and the journal) is one
    // event once both are on the wall clock: keep the copy with both stamps.
    let mut merged: Vec<Event> = Vec::with_capacity(ev.len());
    for e in ev {
        let twin = merged.iter_mut().rev().take(8).find(|m| {
            m.what == e.what
                && m.source.as_ref().map(|s| &s.file) != e.source.as_ref().map(|s| &s.file)
                && matches!((m.epoch, e.epoch), (Some(a), Some(b)) if (a - b).abs() <= 1.0)
        });
        match twin {
            Some(m) => {
                if m.monotonic.is_none() && e.monotonic.is_some() {
                    let also = m.source.clone();
                    *m = Event { what: m.what.clone(), ..e };
                    if let Some(a) = also {
                        m.what.push_str(&format!(" (also {})", a.file));
                    }
                } else if let Some(a) = &e.source {
                    m.what.push_str(&format!(" (also {})", a.file));
                }
            }
            None => merged.push(e),
        }
    }
    let mut ev = merged;
    if ev.len() > MAX_EVENTS {
        tl.notes.push(format!("{} events: the first {MAX_EVENTS} are kept", ev.len()));
        ev.truncate(MAX_EVENTS);
    }
    if year.is_none()
        && ev.iter().any(|e| e.wall.as_deref().is_some_and(|w| w.split_whitespace().count() == 3))
    {
        tl.notes.push("syslog stamps carry no year: ordered within the year only".into());
    }
    tl.events = ev;
    tl
}

#[allow(clippy::too_many_arguments)]
fn push(
    ev: &mut Vec<Event>,
    kind: &str,
    what: String,
    st: &memdx_log::Stamp,
    source: Option<SourceRef>,
    log: usize,
    boot: Option<f64>,
    year: Option<i64>,
) {
    let direct = st.wall.as_deref().and_then(|w| parse_wall(w, year));
    let aligned = direct.is_none() && boot.is_some() && st.monotonic.is_some();
    let epoch = direct.or_else(|| Some(boot? + st.monotonic?));
    ev.push(Event {
        kind: kind.into(),
        what,
        monotonic: st.monotonic,
        wall: st.wall.clone(),
        epoch,
        aligned,
        source,
        boot: Some(log),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stamps from real inputs: `dmesg -T` and `dmesg` of one OOM on 6.18 (testdata/log), a syslog
    /// line of a dev incident, journal realtime. Expected epochs by `date -u -d`.
    #[test]
    fn wall_formats() {
        // date -u -d 'Sat Nov 21 22:45:03 2026' +%s
        assert_eq!(parse_wall("Sat Nov 21 22:45:03 2026", None), Some(1795301103.0));
        // date -u -d '2024-01-24T12:40:55+08:00' +%s
        assert_eq!(parse_wall("2024-01-24T12:40:55+08:00", None), Some(1706071255.0));
        assert_eq!(parse_wall("Nov 15 06:46:39", Some(2019)), parse_wall("2019-11-15 06:46:39", None));
        assert_eq!(parse_wall("@1700000000000000us", None), Some(1700000000.0));
        assert_eq!(fmt_epoch(1795301103.0), "2026-11-21 22:45:03");
        assert_eq!(parse_wall("not a date", None), None);
    }

    /// One memcg OOM on 6.18 captured as `dmesg` and `dmesg -T` (testdata/log/README.md): the report
    /// is one event at 00:12:14 with its monotonic stamp 2393.949402, and the boot time is their
    /// difference: `date -u -d @$(( $(date -u -d '2026-11-22 00:12:14' +%s) - 2393 ))` = 23:32:21
    /// (23:32:20.05 with the fraction).
    #[test]
    fn dmesg_and_dmesg_t_align() {
        let c = crate::conclude::tests::case(&[
            "log/live618_memcg_oom64m.dmesg",
            "log/live618_memcg_oom64m.dmesg-T",
        ]);
        let tl = build(&c);
        assert_eq!(tl.events.len(), 1, "{:#?}", tl.events);
        let e = &tl.events[0];
        assert_eq!(e.monotonic, Some(2393.949402));
        assert!(e.aligned);
        assert_eq!(fmt_epoch(e.epoch.unwrap()), "2026-11-22 00:12:14");
        assert!(e.what.contains("(also log/live618_memcg_oom64m.dmesg-T)"), "{}", e.what);
        assert!(
            tl.notes.iter().any(|n| n.contains("aligned to boot at 2026-11-21 23:32:20")),
            "{:?}",
            tl.notes
        );
    }
}
