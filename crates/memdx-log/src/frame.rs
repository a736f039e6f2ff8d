//! Framing: strips the per-line prefix that each log format adds (dmesg timestamps, syslog and
//! journal headers, `/dev/kmsg` record headers, printk caller ids, serial-console junk) and returns
//! the kernel message with its time and caller.
//!
//! Written by hand: every format is a fixed prefix that a few byte comparisons recognise; a regex
//! engine would cost several times the throughput on multi-GB logs.

use std::borrow::Cow;

/// Which printk context wrote a line (`CONFIG_PRINTK_CALLER`: `[T1234]` task or `[C1]` CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    Task(u32),
    Cpu(u32),
}

/// The framing a line was recognised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framing {
    /// `[  201.452633] msg` (dmesg, vmcore-dmesg, `crash> log`, serial consoles).
    Dmesg,
    /// `[Sat Nov 21 22:45:03 2026] msg` (`dmesg -T`).
    DmesgHuman,
    /// `kern  :info  : [ ... ] msg` (`dmesg -x`).
    DmesgDecoded,
    /// `<6>[ ... ] msg` (`dmesg -r`).
    DmesgRaw,
    /// `6,1234,303068571,-;msg` (`/dev/kmsg`).
    Kmsg,
    /// `Jan 24 12:40:55 host kernel: msg` (syslog RFC 3164, `journalctl -k` short/short-precise).
    Syslog,
    /// `2024-01-24 12:40:55 host kernel: msg` or RFC 3339 timestamps (rsyslog, `journalctl -o short-iso`).
    SyslogIso,
    /// `{"MESSAGE": ...}` (`journalctl -o json`).
    JournalJson,
    /// No prefix at all.
    Bare,
}

impl Framing {
    /// Every framing, in declaration order (`ALL[f as usize] == f`).
    pub const ALL: [Framing; 9] = [
        Framing::Dmesg,
        Framing::DmesgHuman,
        Framing::DmesgDecoded,
        Framing::DmesgRaw,
        Framing::Kmsg,
        Framing::Syslog,
        Framing::SyslogIso,
        Framing::JournalJson,
        Framing::Bare,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Framing::Dmesg => "dmesg",
            Framing::DmesgHuman => "dmesg -T",
            Framing::DmesgDecoded => "dmesg -x",
            Framing::DmesgRaw => "dmesg -r",
            Framing::Kmsg => "/dev/kmsg",
            Framing::Syslog => "syslog",
            Framing::SyslogIso => "syslog (ISO time)",
            Framing::JournalJson => "journal json",
            Framing::Bare => "bare",
        }
    }
}

/// One framed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Framed<'a> {
    /// The kernel message, without the framing prefix (leading spaces of the message kept).
    pub msg: Cow<'a, str>,
    /// Seconds since boot, when the framing carries it.
    pub mono: Option<f64>,
    /// Wall-clock time as written (syslog, `dmesg -T`, journal).
    pub wall: Option<Cow<'a, str>>,
    pub caller: Option<Caller>,
    /// False for syslog/journal lines written by something other than the kernel, and for
    /// `/dev/kmsg` dictionary continuation lines.
    pub kernel: bool,
    pub framing: Framing,
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Frames one line (without its newline).
pub fn frame(line: &str) -> Framed<'_> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    // The common framings by their first byte (dmesg `[`; ISO syslog and /dev/kmsg a digit): the
    // general path below tries the same framings, after checks that fail on these first bytes.
    match line.as_bytes().first() {
        Some(b'[') => return frame_dmesg(line),
        Some(c) if c.is_ascii_digit() => {
            return frame_iso(line).or_else(|| frame_kmsg(line)).unwrap_or_else(|| frame_dmesg(line));
        }
        _ => {}
    }
    let line = strip_junk(line);
    // A log quoted in a mail or a markdown issue: a bare report line such as `> unreferenced
    // object ...` is then seen as the report it is.
    let line = memdx_parse::document::strip_mail_quote(line);
    let b = line.as_bytes();
    if b.first() == Some(&b'{') {
        if let Some(f) = frame_json(line) {
            return f;
        }
    }
    if let Some(f) = frame_kmsg(line) {
        return f;
    }
    if let Some(f) = frame_syslog(line) {
        return f;
    }
    if let Some(f) = frame_iso(line) {
        return f;
    }
    // A syslog line whose date and host were cut off by the person quoting it: `kernel: msg`.
    if let Some(rest) = line.strip_prefix("kernel: ") {
        let mut f = frame_dmesg(rest);
        f.framing = Framing::Syslog;
        return f;
    }
    // dmesg -x: `kern  :info  : `
    if b.len() > 14 && b[0].is_ascii_lowercase() {
        if let Some(rest) = strip_decoded(line) {
            let mut f = frame_dmesg(rest);
            f.framing = Framing::DmesgDecoded;
            return f;
        }
    }
    // dmesg -r: `<6>`
    if b.first() == Some(&b'<') {
        if let Some(end) = b[..b.len().min(6)].iter().position(|&c| c == b'>') {
            if end > 1 && line[1..end].bytes().all(|c| c.is_ascii_digit()) {
                let mut f = frame_dmesg(&line[end + 1..]);
                f.framing = Framing::DmesgRaw;
                return f;
            }
        }
    }
    frame_dmesg(line)
}

/// Serial consoles emit NULs, `\xff`, escape sequences and line noise before the first `[`.
fn strip_junk(line: &str) -> &str {
    let b = line.as_bytes();
    match b.first() {
        Some(&c) if c < 0x20 && c != b'\t' || c == 0x7f || c >= 0x80 => {}
        _ => return line,
    }
    // Skip leading control characters, ANSI escape sequences and invalid/replacement characters.
    let mut i = 0;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    while i < chars.len() {
        let c = chars[i].1;
        if c == '\u{1b}' {
            // ESC [ params letter
            i += 1;
            if i < chars.len() && chars[i].1 == '[' {
                i += 1;
                while i < chars.len() && !chars[i].1.is_ascii_alphabetic() {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        if c.is_control() || c == '\u{fffd}' || (!c.is_ascii() && !c.is_alphanumeric()) {
            i += 1;
            continue;
        }
        break;
    }
    match chars.get(i) {
        Some(&(pos, _)) => &line[pos..],
        None => "",
    }
}

fn strip_decoded(line: &str) -> Option<&str> {
    // facility (lowercase word) spaces ':' level word spaces ':' ' '
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_lowercase() {
        i += 1;
    }
    if i == 0 || i > 8 {
        return None;
    }
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let lvl = i;
    while i < b.len() && b[i].is_ascii_lowercase() {
        i += 1;
    }
    if i == lvl {
        return None;
    }
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    Some(&line[i..])
}

/// `[  201.452633] `, `[Sat Nov 21 22:45:03 2026] `, then an optional caller id `[ T1234] `.
fn frame_dmesg(line: &str) -> Framed<'_> {
    let mut f = Framed {
        msg: Cow::Borrowed(line),
        mono: None,
        wall: None,
        caller: None,
        kernel: true,
        framing: Framing::Bare,
    };
    let b = line.as_bytes();
    if b.first() != Some(&b'[') {
        // Console noise glued before the timestamp: a login prompt the kernel printed over
        // (`syzkaller login: [   16.305150] ...`), `** 12 printk messages dropped ** [ ...`.
        if let Some(i) = memchr::memchr(b'[', &b[..b.len().min(64)]).filter(|&i| i > 0) {
            if fast_mono(&b[i..]).is_some() {
                return frame_dmesg(&line[i..]);
            }
        }
        return f;
    }
    let mut rest;
    if let Some((t, close)) = fast_mono(b) {
        f.mono = Some(t);
        f.framing = Framing::Dmesg;
        rest = &line[close + 1..];
    } else {
        // A plain loop: the bracket is within a few bytes, where memchr's setup costs more.
        let Some(close) = b[..b.len().min(40)].iter().position(|&c| c == b']') else {
            return f;
        };
        let inner = line[1..close].trim_ascii();
        rest = &line[close + 1..];
        if let Some(t) = parse_mono(inner) {
            f.mono = Some(t);
            f.framing = Framing::Dmesg;
        } else if inner.len() >= 20 && DAYS.iter().any(|d| inner.starts_with(d)) {
            f.wall = Some(Cow::Borrowed(inner));
            f.framing = Framing::DmesgHuman;
        } else {
            return f;
        }
    }
    if let Some((caller, after)) = parse_caller(rest) {
        f.caller = Some(caller);
        rest = after;
    }
    f.msg = Cow::Borrowed(rest.strip_prefix(' ').unwrap_or(rest));
    f
}

/// Whether `line` starts with a dmesg time stamp (`[  201.452633]`), which [`frame`] reads as the
/// dmesg framing whatever follows it.
pub fn starts_with_dmesg_stamp(line: &[u8]) -> bool {
    line.first() == Some(&b'[') && fast_mono(line).is_some()
}

/// `[  201.452633]` in one pass over the bytes (the common case of [`frame_dmesg`]): the time and
/// the index of `]`. `None` sends the line down the general path, which gives the same result for
/// everything this accepts.
fn fast_mono(b: &[u8]) -> Option<(f64, usize)> {
    let mut i = 1;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let mut n: u64 = 0;
    let mut digits = 0;
    let int_start = i;
    let mut frac_start = 0;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            n = n * 10 + u64::from(c - b'0');
            digits += 1;
            if digits > 15 {
                return None;
            }
        } else if c == b'.' && frac_start == 0 && i > int_start {
            frac_start = i + 1;
        } else {
            break;
        }
        i += 1;
    }
    if frac_start == 0 || i == frac_start || i >= 40 || b.get(i) != Some(&b']') {
        return None;
    }
    Some((n as f64 / POW10[i - frac_start], i))
}

fn parse_mono(s: &str) -> Option<f64> {
    let dot = memchr::memchr(b'.', s.as_bytes())?;
    let (a, b) = (&s.as_bytes()[..dot], &s.as_bytes()[dot + 1..]);
    if a.is_empty() || b.is_empty() || !a.iter().all(u8::is_ascii_digit) || !b.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    // Fast path (Clinger's): when all the digits fit in 15 decimal places, the integer and the
    // power of ten are exact in f64 and one IEEE division rounds correctly, giving the same value
    // as `str::parse::<f64>`, several times cheaper. It runs on every dmesg line.
    if a.len() + b.len() <= 15 {
        let mut n: u64 = 0;
        for &c in a.iter().chain(b) {
            n = n * 10 + u64::from(c - b'0');
        }
        return Some(n as f64 / POW10[b.len()]);
    }
    s.parse().ok()
}

const POW10: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// `[T1234]` / `[    C1]` right after the timestamp.
fn parse_caller(rest: &str) -> Option<(Caller, &str)> {
    let b = rest.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = b[..b.len().min(16)].iter().position(|&c| c == b']')?;
    let inner = rest[1..close].trim_start();
    // Byte-wise: `inner` may start with a multi-byte character on damaged input.
    let c = match inner.as_bytes().first()? {
        b'T' => Caller::Task(inner[1..].parse().ok()?),
        b'C' => Caller::Cpu(inner[1..].parse().ok()?),
        _ => return None,
    };
    Some((c, &rest[close + 1..]))
}

/// `/dev/kmsg`: `prio,seq,usec,flags[,caller=T12];message`; dictionary lines start with a space.
fn frame_kmsg(line: &str) -> Option<Framed<'_>> {
    let b = line.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    // `prio,`: rejects ISO timestamps and other digit-led lines at the first non-digit.
    if b.iter().find(|c| !c.is_ascii_digit()) != Some(&b',') {
        return None;
    }
    let semi = memchr::memchr(b';', &b[..b.len().min(64)])?;
    let head = &line[..semi];
    let mut parts = head.split(',');
    let prio = parts.next()?;
    let seq = parts.next()?;
    let usec = parts.next()?;
    let _flags = parts.next()?;
    if !prio.bytes().all(|c| c.is_ascii_digit()) || !seq.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let usec: u64 = usec.parse().ok()?;
    let mut caller = None;
    for p in parts {
        if let Some(c) = p.strip_prefix("caller=") {
            caller = parse_caller(&format!("[{c}]")).map(|(c, _)| c);
        }
    }
    Some(Framed {
        msg: Cow::Borrowed(&line[semi + 1..]),
        mono: Some(usec as f64 / 1e6),
        wall: None,
        caller,
        kernel: true,
        framing: Framing::Kmsg,
    })
}

/// RFC 3164: `Jan 24 12:40:55 host ident: msg`, also `journalctl` short-precise (`12:40:55.123456`).
fn frame_syslog(line: &str) -> Option<Framed<'_>> {
    let b = line.as_bytes();
    if b.len() < 16 || b[3] != b' ' || !MONTHS.iter().any(|m| line.starts_with(m)) {
        return None;
    }
    // "Mmm dd hh:mm:ss"
    let mut i = 4;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let t0 = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b':' || b[i] == b'.') {
        i += 1;
    }
    if i - t0 < 8 || b.get(i) != Some(&b' ') {
        return None;
    }
    let wall = &line[..i];
    after_host(line, i + 1, wall, Framing::Syslog)
}

/// `2024-01-24 12:40:55 host kernel: msg`, `2024-01-24T12:40:55.123+08:00 host kernel: msg`.
fn frame_iso(line: &str) -> Option<Framed<'_>> {
    let b = line.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b[10] != b' ' && b[10] != b'T' {
        return None;
    }
    let mut i = 11;
    while i < b.len() && b[i] != b' ' {
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    let wall = &line[..i];
    after_host(line, i + 1, wall, Framing::SyslogIso)
}

fn after_host<'a>(line: &'a str, start: usize, wall: &'a str, framing: Framing) -> Option<Framed<'a>> {
    let rest = line.get(start..)?;
    // Byte loops instead of `split_once(' ')`: this runs on every syslog line, and host and
    // ident are a few bytes long (too short for memchr's setup to pay off).
    let sp = rest.bytes().position(|c| c == b' ')?;
    let rest = &rest[sp + 1..];
    let (ident, msg) = match rest.bytes().position(|c| c == b' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let ident = ident.strip_suffix(':')?;
    let kernel = ident == "kernel" || ident.starts_with("kernel[");
    let mut f = if kernel {
        frame_dmesg(msg)
    } else {
        Framed { msg: Cow::Borrowed(msg), mono: None, wall: None, caller: None, kernel: false, framing }
    };
    f.framing = framing;
    f.wall = Some(Cow::Borrowed(wall));
    f.kernel = kernel;
    Some(f)
}

fn frame_json(line: &str) -> Option<Framed<'static>> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let o = v.as_object()?;
    let msg = match o.get("MESSAGE")? {
        serde_json::Value::String(s) => s.clone(),
        // Non-UTF-8 messages are exported as byte arrays.
        serde_json::Value::Array(a) => {
            let bytes: Vec<u8> = a.iter().filter_map(|x| x.as_u64()).map(|x| x as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => return None,
    };
    let s = |k: &str| o.get(k).and_then(|x| x.as_str());
    let kernel = s("_TRANSPORT") == Some("kernel") || s("SYSLOG_IDENTIFIER") == Some("kernel");
    let mono = s("_SOURCE_MONOTONIC_TIMESTAMP")
        .or_else(|| s("__MONOTONIC_TIMESTAMP"))
        .and_then(|x| x.parse::<u64>().ok())
        .map(|us| us as f64 / 1e6);
    let wall = s("__REALTIME_TIMESTAMP").map(|x| Cow::Owned(format!("@{x}us")));
    Some(Framed { msg: Cow::Owned(msg), mono, wall, caller: None, kernel, framing: Framing::JournalJson })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let f = frame("> > [  201.452633] TRACE x");
        assert_eq!((f.framing, f.msg.as_ref()), (Framing::Dmesg, "TRACE x"));
        let f = frame(">unreferenced object 0xffff8800342540c0 (size 1864):");
        assert_eq!(
            (f.framing, f.msg.as_ref()),
            (Framing::Bare, "unreferenced object 0xffff8800342540c0 (size 1864):")
        );
        let f = frame("[  201.452633] TRACE x");
        assert_eq!((f.msg.as_ref(), f.mono, f.framing), ("TRACE x", Some(201.452633), Framing::Dmesg));
        let f = frame("[    1.000000][  T123] hi");
        assert_eq!((f.msg.as_ref(), f.caller), ("hi", Some(Caller::Task(123))));
        let f = frame("[    1.000000][    C1]  foo+0x1/0x2");
        assert_eq!((f.msg.as_ref(), f.caller), (" foo+0x1/0x2", Some(Caller::Cpu(1))));
        let f = frame("kern  :err   : [  303.068590] Memory cgroup out of memory");
        assert_eq!((f.msg.as_ref(), f.framing), ("Memory cgroup out of memory", Framing::DmesgDecoded));
        let f = frame("<3>[  303.068590] x");
        assert_eq!((f.msg.as_ref(), f.framing), ("x", Framing::DmesgRaw));
        let f = frame("6,1,303068571,-;oom-kill:constraint=X");
        assert_eq!((f.msg.as_ref(), f.mono), ("oom-kill:constraint=X", Some(303.068571)));
        let f = frame("2024-01-24 12:40:55 h0st kernel: [  201.452633] TRACE a");
        assert_eq!((f.msg.as_ref(), f.framing, f.kernel), ("TRACE a", Framing::SyslogIso, true));
        let f = frame("Jan 24 12:40:55 h0st systemd[1]: Started");
        assert!(!f.kernel);
        let f = frame("Nov 21 22:45:03.123456 h0st kernel: hello");
        assert_eq!((f.msg.as_ref(), f.kernel), ("hello", true));
        let f = frame("kernel:  __lock_page+0x4c/0x60");
        assert_eq!((f.msg.as_ref(), f.framing, f.kernel), (" __lock_page+0x4c/0x60", Framing::Syslog, true));
        let f = frame("[Sat Nov 21 22:45:03 2026] total_swap 0");
        assert_eq!((f.msg.as_ref(), f.framing), ("total_swap 0", Framing::DmesgHuman));
        let f = frame("\u{0}\u{1b}[0m\u{fffd}[    5.000000] x");
        assert_eq!(f.msg.as_ref(), "x");
        for l in [
            "[    0.000000] x",
            "[  201.452633]",
            "[1.5]",
            "[ .5] x",
            "[5.] x",
            "[1.2.3] x",
            "[ 1.0 ] x",
            "[12345678901234.56789] x",
        ] {
            let general = {
                let close = l.find(']').unwrap_or(0);
                parse_mono(l[1..close].trim_ascii())
            };
            assert_eq!(fast_mono(l.as_bytes()).map(|x| x.0).or(general), general, "{l}");
        }
        for s in ["0.000000", "201.452633", "303.068571", "99999.999999", "12345678.123456", "1.5", "0.1"] {
            assert_eq!(parse_mono(s), s.parse::<f64>().ok(), "{s}");
        }
        let f = frame(r#"{"MESSAGE":"hi","_TRANSPORT":"kernel","_SOURCE_MONOTONIC_TIMESTAMP":"1500000"}"#);
        assert_eq!((f.msg.as_ref(), f.mono, f.kernel), ("hi", Some(1.5), true));
    }
}
