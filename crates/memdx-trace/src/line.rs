//! Splitting one line of tracepoint text into its header (task, pid, CPU, timestamp, event name) and
//! its payload. Handles ftrace `trace`/`trace_pipe` (with or without irq-info and tgid columns), the
//! latency format (plain and verbose), `trace-cmd report` and `perf script`.
//!
//! Written by hand: no crate parses ftrace text output; the header layouts come from
//! kernel/trace/trace_output.c and were checked against real captures in `testdata/trace/`.

/// The header fields of one event line, borrowed from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    pub comm: &'a str,
    pub pid: i32,
    /// Thread group id when the trace shows it (`record-tgid`, `perf script` `pid/tid`).
    pub tgid: Option<i32>,
    pub cpu: Option<u32>,
    /// Timestamp in nanoseconds, as printed (trace clock).
    pub ts_ns: u64,
    /// `vmscan` in `perf script` output (`vmscan:mm_vmscan_lru_isolate`); absent in ftrace text.
    pub system: Option<&'a str>,
    pub name: &'a str,
    pub payload: &'a str,
}

/// What one line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind<'a> {
    Event(RawEvent<'a>),
    /// Comments, headers, blank lines, `CPU 1 is empty`, `cpus=2`.
    Ignored,
    /// `CPU:1 [LOST 12 EVENTS]` (trace_pipe, trace-cmd): events the ring buffer dropped.
    Lost(u64),
    /// Looked like an event line but could not be split; the reason.
    Damaged(&'static str),
}

/// Splits one line (without or with its trailing newline).
pub fn split_line(line: &str) -> LineKind<'_> {
    let line = line.trim_end_matches(['\n', '\r']);
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return LineKind::Ignored;
    }
    if let Some(n) = lost_events(t) {
        return LineKind::Lost(n);
    }
    let Some((ts_start, ts_ns, after, verbose)) = find_timestamp(line) else {
        if t.starts_with("CPU ") || t.starts_with("cpus=") || t.starts_with("version") {
            return LineKind::Ignored;
        }
        return LineKind::Damaged("no timestamp followed by ':'");
    };
    let rest = line[after..].trim_start();
    let (event, payload) = match memchr::memmem::find(rest.as_bytes(), b": ") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest.strip_suffix(':').unwrap_or(rest), ""),
    };
    let event = event.trim();
    if event.is_empty() || event.contains(' ') {
        return LineKind::Damaged("no event name after the timestamp");
    }
    let (system, name) = match event.rsplit_once(':') {
        Some((s, n)) => (Some(s), n),
        None => (None, event),
    };
    let head = line[..ts_start].trim_end();
    let h = if verbose { split_verbose(head) } else { split_head(head) };
    let Some(h) = h else {
        return LineKind::Damaged("task, pid or CPU not understood");
    };
    LineKind::Event(RawEvent {
        comm: h.comm,
        pid: h.pid,
        tgid: h.tgid,
        cpu: h.cpu,
        ts_ns,
        system,
        name,
        payload: payload.trim_end(),
    })
}

fn lost_events(t: &str) -> Option<u64> {
    let i = t.find("[LOST ")?;
    let rest = &t[i + 6..];
    let end = rest.find(' ')?;
    rest[..end].parse().ok()
}

/// Finds the timestamp token: the first whitespace-delimited token that is a number (optionally
/// with `us`/`ms` unit) and is followed by `:` (or, in the verbose latency format, by
/// ` (+0.029ms):`). Returns (start of token, nanoseconds, index just after the colon).
fn find_timestamp(line: &str) -> Option<(usize, u64, usize, bool)> {
    let b = line.as_bytes();
    for colon in memchr::memchr_iter(b':', b) {
        if colon + 1 < b.len() && b[colon + 1] != b' ' {
            continue;
        }
        // Latency format puts a delay mark between the timestamp and the colon:
        // `303538523us : ` or `303538523us!: `.
        let before = line[..colon].strip_suffix(' ').unwrap_or(&line[..colon]);
        let tok_start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let mut tok = &before[tok_start..];
        if let Some(t) = tok.strip_suffix(['!', '#', '*', '+', '@', '$', '>']) {
            if t.ends_with("us") || t.ends_with("ms") {
                tok = t;
            }
        }
        if let Some(ns) = parse_ts(tok) {
            if tok_start > 0 {
                return Some((tok_start, ns, colon + 1, false));
            }
        }
        // Verbose latency format: `303538.476ms (+0.029ms): event`.
        if tok.starts_with("(+") && tok.ends_with("ms)") && tok_start > 0 {
            let prev = before[..tok_start].trim_end();
            let p_start = prev.rfind([' ', '\t']).map_or(0, |i| i + 1);
            if let Some(ns) = parse_ts(&prev[p_start..]) {
                if p_start > 0 {
                    return Some((p_start, ns, colon + 1, true));
                }
            }
        }
    }
    None
}

/// `303.538476` (seconds), `303538523us`, `303538.476ms`, or a bare counter.
pub(crate) fn parse_ts(tok: &str) -> Option<u64> {
    let (num, scale_ns): (&str, u64) = if let Some(n) = tok.strip_suffix("us") {
        (n, 1_000)
    } else if let Some(n) = tok.strip_suffix("ms") {
        (n, 1_000_000)
    } else if tok.contains('.') {
        (tok, 1_000_000_000)
    } else {
        (tok, 1)
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let int: u64 = int.parse().ok()?;
    let mut frac_ns: u64 = 0;
    if !frac.is_empty() {
        let f: u64 = frac.parse().ok()?;
        // scale the fraction to the unit, then to ns
        let digits = frac.len() as u32;
        frac_ns = f.checked_mul(scale_ns)? / 10u64.pow(digits);
    }
    int.checked_mul(scale_ns)?.checked_add(frac_ns)
}

struct Head<'a> {
    comm: &'a str,
    pid: i32,
    tgid: Option<i32>,
    cpu: Option<u32>,
}

fn is_flag_char(c: u8) -> bool {
    matches!(
        c,
        b'.' | b'd' | b'D' | b'N' | b'n' | b'p' | b'h' | b'H' | b's' | b'b' | b'z' | b'X' | b'B' | b'L'
    ) || c.is_ascii_digit()
}

fn split_head(head: &str) -> Option<Head<'_>> {
    // ftrace / trace-cmd / perf: `... [001] flags` or `... [001]`.
    if let Some(open) = head.rfind('[') {
        let close = open + head[open..].find(']')?;
        let inside = head[open + 1..close].trim();
        let after = head[close + 1..].trim();
        if inside.bytes().all(|c| c.is_ascii_digit()) && !inside.is_empty() && after.bytes().all(is_flag_char)
        {
            let cpu = inside.parse().ok();
            let left = head[..open].trim_end();
            if let Some(h) = split_task(left, cpu) {
                return Some(h);
            }
        }
        return None;
    }
    // Latency format: `dd-6002      1.....`: CPU digits glued to the flags.
    let last_start = head.rfind([' ', '\t']).map_or(0, |i| i + 1);
    let last = &head[last_start..];
    let digits = last.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && last.bytes().all(is_flag_char) && last_start > 0 {
        let cpu = last[..digits].parse().ok();
        return split_task(head[..last_start].trim_end(), cpu);
    }
    None
}

/// `comm-pid`, `comm-pid (tgid)`, `comm-pid (-------)` (ftrace), `comm pid` or `comm pid/tid` (perf).
/// Verbose latency format: `comm pid cpu flags preempt idx [hash]`
/// (`%16s %7d %3d %d %08x %08lx [%08llx]`); comm may contain spaces.
fn split_verbose(head: &str) -> Option<Head<'_>> {
    let open = head.rfind('[')?;
    let toks: Vec<&str> = head[..open].split_whitespace().collect();
    let n = toks.len();
    if n < 6 {
        return None;
    }
    let cpu = toks[n - 4].parse().ok()?;
    let pid = toks[n - 5].parse().ok()?;
    // comm ends where the pid token starts: count tokens from the right
    let mut end = open;
    for _ in 0..5 {
        end = head[..end].trim_end().rfind([' ', '\t']).map_or(0, |i| i + 1);
    }
    Some(Head { comm: head[..end].trim(), pid, tgid: None, cpu: Some(cpu) })
}

fn split_task(left: &str, cpu: Option<u32>) -> Option<Head<'_>> {
    let mut left = left;
    let mut tgid = None;
    if left.ends_with(')') {
        let open = left.rfind('(')?;
        let inner = left[open + 1..left.len() - 1].trim();
        tgid = inner.parse().ok();
        left = left[..open].trim_end();
    }
    let tok_start = left.rfind([' ', '\t']).map_or(0, |i| i + 1);
    let tok = &left[tok_start..];
    // perf: last token is `pid` or `pid/tid`, comm before it.
    if tok_start > 0 && !tok.is_empty() && tok.bytes().all(|c| c.is_ascii_digit() || c == b'/') {
        let comm = left[..tok_start].trim();
        return match tok.split_once('/') {
            Some((p, t)) => Some(Head { comm, pid: t.parse().ok()?, tgid: p.parse().ok(), cpu }),
            None => Some(Head { comm, pid: tok.parse().ok()?, tgid, cpu }),
        };
    }
    let dash = left.rfind('-')?;
    let pid = left[dash + 1..].parse().ok()?;
    let comm = left[..dash].trim_start();
    Some(Head { comm, pid, tgid, cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(l: &str) -> RawEvent<'_> {
        match split_line(l) {
            LineKind::Event(e) => e,
            other => panic!("{l}: {other:?}"),
        }
    }

    #[test]
    fn layouts() {
        let e = ev(
            "              dd-10694   [000] .....   261.046354: mm_vmscan_memcg_reclaim_end: nr_reclaimed=3",
        );
        assert_eq!(
            (e.comm, e.pid, e.cpu, e.ts_ns, e.name, e.payload),
            ("dd", 10694, Some(0), 261_046_354_000, "mm_vmscan_memcg_reclaim_end", "nr_reclaimed=3")
        );
        let e = ev(
            "              dd-6002    (-------) [001] d..1.   303.538505: mm_vmscan_lru_isolate: classzone=4",
        );
        assert_eq!((e.pid, e.tgid, e.cpu), (6002, None, Some(1)));
        let e = ev("      dd-6002      1..... 303538523us : mm_shrink_slab_start: super_cache_scan+0x0/0x210 00000000c7016ded: nid: 0");
        assert_eq!(
            (e.comm, e.pid, e.cpu, e.ts_ns, e.name),
            ("dd", 6002, Some(1), 303_538_523_000, "mm_shrink_slab_start")
        );
        assert_eq!(e.payload, "super_cache_scan+0x0/0x210 00000000c7016ded: nid: 0");
        let e = ev("              dd    6002   1 0 00000000 00000000 [1217a12c] 303538.476ms (+0.029ms): mm_vmscan_memcg_reclaim_begin: order=0");
        assert_eq!((e.comm, e.pid, e.cpu, e.ts_ns), ("dd", 6002, Some(1), 303_538_476_000));
        let e = ev("              dd  6046 [001]   306.759458:         vmscan:mm_vmscan_lru_isolate: classzone=4 order=0");
        assert_eq!((e.comm, e.pid, e.system, e.name), ("dd", 6046, Some("vmscan"), "mm_vmscan_lru_isolate"));
        let e = ev(" Web Content-1234 [003] d..2. 12.5: kmalloc: x=1");
        assert_eq!((e.comm, e.pid), ("Web Content", 1234));
        let e = ev("kworker/u4:2-99 [001] 5.000001: mm_vmscan_kswapd_sleep: nid=0");
        assert_eq!((e.comm, e.pid, e.ts_ns), ("kworker/u4:2", 99, 5_000_001_000));
        assert_eq!(split_line("# tracer: nop"), LineKind::Ignored);
        assert_eq!(split_line("CPU:1 [LOST 12 EVENTS]"), LineKind::Lost(12));
        assert!(matches!(split_line("garbage line"), LineKind::Damaged(_)));
    }
}
