//! Parsers for the stack outputs of common tracing tools, into [`StackSample`]s:
//!
//! - bcc `trace` / `trace-bpfcc -tKU` (seed 000): a `[TIME] PID TID COMM FUNC [message]` line, then
//!   indented `sym+0xoff [module]` frames, then optional indented value lines (`-14`).
//! - bcc `memleak`: `N bytes in M allocations from stack` then `\t\t[0xaddr\t]sym+0xoff [module]`.
//! - bcc `stackcount`: indented frames (optionally `addr sym`), `comm [pid]` with `-P`, `--`
//!   between kernel and user parts, then an indented count.
//! - bpftrace maps: `@name[` newline frames `]: N` (offsets in decimal), with extra key parts such as
//!   `comm` before (`@[systemd,`) or after (`, systemd]: N`) the stack.
//! - `perf script` with `-g`: an event header line, then `\taddr sym+0xoff (dso)` frames, then a
//!   blank line.
//!
//! Written by hand: these are human-oriented text outputs no crate reads. The layouts come from the
//! tools' sources (bcc tools/trace.py, memleak.py, stackcount.py; bpftrace's map printer; perf's
//! builtin-script.c) and the seed's captures. Never panics; lines that fit no layout are skipped and
//! counted in a [`Diag`].

use crate::stack::{parse_sym, Frame, Stack};
use memdx_core::{Diag, SourceRef};

/// Which tool wrote the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolFormat {
    BccTrace,
    Memleak,
    Stackcount,
    Bpftrace,
    PerfScript,
}

impl ToolFormat {
    pub fn name(self) -> &'static str {
        match self {
            ToolFormat::BccTrace => "bcc trace",
            ToolFormat::Memleak => "bcc memleak",
            ToolFormat::Stackcount => "bcc stackcount",
            ToolFormat::Bpftrace => "bpftrace map",
            ToolFormat::PerfScript => "perf script",
        }
    }
}

/// One stack with what the tool said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSample {
    pub stack: Stack,
    /// How many hits (1 for a per-event line of `trace`/`perf script`).
    pub count: u64,
    /// Bytes (memleak outstanding bytes, a bpftrace `sum(size)` map).
    pub bytes: Option<u64>,
    pub comm: Option<String>,
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    /// Seconds, as the tool printed them.
    pub time: Option<f64>,
    /// The probe or event (`kernfs_new_node`, `kmem:kmem_cache_alloc`, the bpftrace map name).
    pub probe: Option<String>,
    /// Extra text the tool printed with the hit (a return value, a map key part).
    pub value: Option<String>,
    pub source: SourceRef,
}

/// The result of parsing one tool output.
#[derive(Debug, Clone, Default)]
pub struct ToolStacks {
    pub format: Option<ToolFormat>,
    pub samples: Vec<StackSample>,
    pub diags: Vec<Diag>,
}

/// Recognises which tool wrote `text` (the first few hundred lines are enough).
pub fn sniff(text: &str) -> Option<ToolFormat> {
    let mut frames_tab = 0;
    let mut perf_header = 0;
    for l in text.lines().take(400) {
        let t = l.trim();
        if l.starts_with('@') && l.contains('[') {
            return Some(ToolFormat::Bpftrace);
        }
        if t.contains(" allocations from stack") && t.contains(" bytes in ") {
            return Some(ToolFormat::Memleak);
        }
        if is_bcc_trace_header(t) {
            return Some(ToolFormat::BccTrace);
        }
        if t.starts_with("Tracing ") && t.contains(" functions for ") {
            return Some(ToolFormat::Stackcount);
        }
        if l.starts_with('\t') && t.ends_with(')') && t.contains(" (") {
            frames_tab += 1;
        }
        if !l.starts_with(char::is_whitespace) && perf_event_header(l).is_some() {
            perf_header += 1;
        }
    }
    if frames_tab > 0 && perf_header > 0 {
        return Some(ToolFormat::PerfScript);
    }
    // stackcount without its banner: indented frames closed by an indented count (an indented
    // shell session, `    $ cat x` then `    20971520`, is not one: its lines are not frames).
    let mut frames = 0;
    for l in text.lines().take(400) {
        let t = l.trim();
        if l.starts_with("  ") && !t.is_empty() {
            if t.parse::<u64>().is_ok() && frames > 0 {
                return Some(ToolFormat::Stackcount);
            }
            if stackcount_line(t) {
                frames += 1;
                continue;
            }
        }
        frames = 0;
    }
    None
}

/// A line stackcount prints above a count: a symbol (`kmem_cache_alloc`, `f+0x1a`, `[unknown]`),
/// `addr symbol` with `-a`, the `--` between kernel and user frames, or `b'comm' [pid]` with `-P`.
fn stackcount_line(t: &str) -> bool {
    let symbol =
        |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.+/[]:<>-".contains(&b));
    let mut w = t.split_whitespace();
    match (w.next(), w.next(), w.next()) {
        (Some(s), None, _) => s == "--" || s == "-" || symbol(s),
        (Some(a), Some(s), None) => match s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            // `b'comm' [pid]`, or `symbol [module]`.
            Some(inner) => inner.parse::<u32>().is_ok() || symbol(a),
            None => a.bytes().all(|b| b.is_ascii_hexdigit()) && symbol(s),
        },
        _ => false,
    }
}

/// Parses a tool output, recognising the tool by content; `None` format when nothing fits.
pub fn parse(text: &str, source: &str) -> ToolStacks {
    match sniff(text) {
        Some(f) => parse_as(text, source, f),
        None => ToolStacks {
            format: None,
            samples: Vec::new(),
            diags: vec![Diag::error(
                SourceRef::new(source),
                "not recognised as bcc trace, memleak, stackcount, bpftrace map or perf script output",
            )],
        },
    }
}

/// Parses `text` as the output of `format`.
pub fn parse_as(text: &str, source: &str, format: ToolFormat) -> ToolStacks {
    let src = SourceRef::new(source);
    let mut out = ToolStacks { format: Some(format), ..Default::default() };
    let mut skipped = Skipped::default();
    match format {
        ToolFormat::BccTrace => bcc_trace(text, &src, &mut out, &mut skipped),
        ToolFormat::Memleak => memleak(text, &src, &mut out, &mut skipped),
        ToolFormat::Stackcount => stackcount(text, &src, &mut out, &mut skipped),
        ToolFormat::Bpftrace => bpftrace(text, &src, &mut out, &mut skipped),
        ToolFormat::PerfScript => perf_script(text, &src, &mut out, &mut skipped),
    }
    if skipped.count > 0 {
        out.diags.push(Diag::warning(
            src.at(skipped.first),
            format!(
                "{} lines not understood as {} output were skipped (first here)",
                skipped.count,
                format.name()
            ),
        ));
    }
    out
}

#[derive(Default)]
struct Skipped {
    count: u64,
    first: usize,
}

impl Skipped {
    fn note(&mut self, line: usize) {
        if self.count == 0 {
            self.first = line;
        }
        self.count += 1;
    }
}

fn is_bcc_trace_header(t: &str) -> bool {
    // Checked before splitting: sniffing runs this on every line of a file's head.
    if !t.starts_with("TIME") && !t.starts_with("PID") {
        return false;
    }
    let cols: Vec<&str> = t.split_whitespace().collect();
    matches!(cols.as_slice(), ["TIME", "PID", "TID", "COMM", "FUNC", ..] | ["PID", "TID", "COMM", "FUNC", ..])
}

/// A bcc frame: `sym+0xoff [module]`, `[unknown] [module (deleted)]`, `sym`, optionally preceded by
/// `0xaddr` and a tab or spaces (`-a`, memleak).
fn bcc_frame(t: &str) -> Option<Frame> {
    let mut t = t.trim();
    if let Some(rest) = t.strip_prefix("0x") {
        let end = rest.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(rest.len());
        if end > 0 && rest[end..].starts_with(char::is_whitespace) {
            t = rest[end..].trim_start();
        }
    }
    if t.is_empty() {
        return None;
    }
    let (sym, module) = match t.rfind(" [") {
        Some(i) if t.ends_with(']') && i > 0 => (&t[..i], Some(t[i + 2..t.len() - 1].trim())),
        _ => (t, None),
    };
    let sym = sym.trim();
    if sym.is_empty() || sym.contains(char::is_whitespace) && !sym.starts_with('[') {
        return None;
    }
    let (func, offset) = parse_sym(sym);
    let module = module.map(str::to_string);
    // Explicit user-space markers only; frames after the first user frame are made user by
    // [`kernel_then_user`] (bcc prints the kernel part of a -KU stack first).
    let user = module.as_deref().is_some_and(|m| {
        m != "kernel" && (m.contains(".so") || m.contains("(deleted)") || m == "unknown" || m.contains('/'))
    });
    Some(Frame::symbol(func, offset, module, user))
}

/// Marks every frame after the first user-space frame as user-space.
fn kernel_then_user(stack: &mut Stack) {
    let mut user = false;
    for f in &mut stack.frames {
        user |= f.user;
        f.user = user;
    }
}

/// Pushes a finished sample after normalising its stack.
fn push(out: &mut ToolStacks, mut s: StackSample) {
    kernel_then_user(&mut s.stack);
    out.samples.push(s);
}

fn bcc_trace(text: &str, src: &SourceRef, out: &mut ToolStacks, sk: &mut Skipped) {
    let mut has_time = true;
    let mut cur: Option<StackSample> = None;
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if is_bcc_trace_header(t) {
            has_time = t.starts_with("TIME");
            continue;
        }
        if l.starts_with(char::is_whitespace) {
            let Some(s) = cur.as_mut() else {
                sk.note(n);
                continue;
            };
            // A value line after the stack (`-14`), or a frame.
            let numeric = t.parse::<i64>().is_ok() || t.starts_with("0x") && !t.contains(' ');
            if numeric || s.value.is_some() {
                s.value = Some(match s.value.take() {
                    Some(v) => format!("{v} {t}"),
                    None => t.to_string(),
                });
                continue;
            }
            match bcc_frame(t) {
                Some(f) => s.stack.frames.push(f),
                None => sk.note(n),
            }
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let base = usize::from(has_time);
        let parsed = (|| {
            let time = if has_time { Some(cols.first()?.parse::<f64>().ok()?) } else { None };
            let pid = cols.get(base)?.parse::<u32>().ok()?;
            let tid = cols.get(base + 1)?.parse::<u32>().ok()?;
            let comm = cols.get(base + 2)?.to_string();
            let probe = cols.get(base + 3)?.to_string();
            let msg = cols.get(base + 4..).map(|m| m.join(" ")).filter(|m| !m.is_empty());
            Some((time, pid, tid, comm, probe, msg))
        })();
        match parsed {
            Some((time, pid, tid, comm, probe, msg)) => {
                if let Some(s) = cur.take() {
                    push(out, s);
                }
                cur = Some(StackSample {
                    stack: Stack::default(),
                    count: 1,
                    bytes: None,
                    comm: Some(comm),
                    pid: Some(pid),
                    tid: Some(tid),
                    time,
                    probe: Some(probe),
                    value: msg,
                    source: src.at(n),
                });
            }
            None => sk.note(n),
        }
    }
    if let Some(s) = cur.take() {
        push(out, s);
    }
}

fn memleak(text: &str, src: &SourceRef, out: &mut ToolStacks, sk: &mut Skipped) {
    let mut cur: Option<StackSample> = None;
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let t = l.trim();
        if let Some((bytes, allocs)) = memleak_header(t) {
            if let Some(s) = cur.take() {
                push(out, s);
            }
            cur = Some(StackSample {
                stack: Stack::default(),
                count: allocs,
                bytes: Some(bytes),
                comm: None,
                pid: None,
                tid: None,
                time: None,
                probe: Some("memleak".into()),
                value: None,
                source: src.at(n),
            });
            continue;
        }
        if t.is_empty() || t.starts_with('[') && t.contains("Top ") || t.starts_with("addr = ") {
            if t.is_empty() || t.starts_with('[') {
                if let Some(s) = cur.take() {
                    push(out, s);
                }
            }
            continue;
        }
        if t.starts_with("Attaching to") || t.starts_with("Tracing ") || t.starts_with("WARNING") {
            continue;
        }
        match (cur.as_mut(), l.starts_with(char::is_whitespace)) {
            (Some(s), true) => match bcc_frame(t) {
                Some(f) => s.stack.frames.push(f),
                None => sk.note(n),
            },
            _ => sk.note(n),
        }
    }
    if let Some(s) = cur.take() {
        push(out, s);
    }
}

/// `4096 bytes in 1 allocations from stack` -> (4096, 1).
fn memleak_header(t: &str) -> Option<(u64, u64)> {
    let (b, rest) = t.split_once(" bytes in ")?;
    let (a, _) = rest.split_once(" allocations from stack")?;
    Some((b.trim().parse().ok()?, a.trim().parse().ok()?))
}

fn stackcount(text: &str, src: &SourceRef, out: &mut ToolStacks, sk: &mut Skipped) {
    let mut frames: Vec<Frame> = Vec::new();
    let mut user = false;
    let mut comm: Option<(String, Option<u32>)> = None;
    let mut start = 0usize;
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if !l.starts_with(char::is_whitespace) {
            // Banner, `^C`, `Detaching...`.
            continue;
        }
        if let Ok(c) = t.parse::<u64>() {
            if frames.is_empty() {
                sk.note(n);
                continue;
            }
            let (cm, pid) = comm.take().map_or((None, None), |(c, p)| (Some(c), p));
            push(
                out,
                StackSample {
                    stack: Stack { frames: std::mem::take(&mut frames) },
                    count: c,
                    bytes: None,
                    comm: cm,
                    pid,
                    tid: None,
                    time: None,
                    probe: None,
                    value: None,
                    source: src.at(start),
                },
            );
            user = false;
            continue;
        }
        if t == "--" || t == "-" {
            user = true;
            continue;
        }
        if frames.is_empty() && comm.is_none() {
            start = n;
        }
        // `b'bash' [1234]` or `bash [1234]` (-P): the task line.
        if let Some((c, p)) = t.rsplit_once(" [") {
            if let Some(p) = p.strip_suffix(']').and_then(|p| p.parse::<u32>().ok()) {
                let c = c.trim().trim_start_matches("b'").trim_end_matches('\'');
                comm = Some((c.to_string(), Some(p)));
                continue;
            }
        }
        // `ffffffff81234567 kmem_cache_alloc` (-v) or `kmem_cache_alloc`.
        let sym = match t.split_once(' ') {
            Some((a, s)) if a.len() >= 8 && a.chars().all(|c| c.is_ascii_hexdigit()) => s.trim(),
            _ => t,
        };
        match bcc_frame(sym) {
            Some(mut f) => {
                f.user = f.user || user;
                frames.push(f);
            }
            None => sk.note(n),
        }
    }
    if !frames.is_empty() {
        sk.note(start);
    }
}

fn bpftrace(text: &str, src: &SourceRef, out: &mut ToolStacks, sk: &mut Skipped) {
    struct Open {
        map: String,
        frames: Vec<Frame>,
        keys: Vec<String>,
        line: usize,
    }
    let mut open: Option<Open> = None;
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if l.starts_with('@') {
            if let Some(b) = l.find('[') {
                let map = l[..b].to_string();
                let rest = l[b + 1..].trim();
                // `@[comm, kstack` opening line may carry a first key part; `@x[1]: 5` is a whole entry.
                if let Some(idx) = rest.find("]: ") {
                    // A one-line entry without a stack: not a stack sample.
                    let _ = idx;
                    open = None;
                    continue;
                }
                let keys = rest
                    .trim_end_matches(',')
                    .split(',')
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect();
                open = Some(Open { map, frames: Vec::new(), keys, line: n });
                continue;
            }
            sk.note(n);
            continue;
        }
        let Some(o) = open.as_mut() else {
            if !t.starts_with("Attaching") && !t.starts_with('^') {
                sk.note(n);
            }
            continue;
        };
        if let Some(close) = t.find("]: ") {
            let before = t[..close].trim().trim_start_matches(',').trim();
            if !before.is_empty() {
                o.keys.extend(before.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()));
            }
            let val = t[close + 3..].trim();
            let Some(o) = open.take() else { continue };
            let Ok(v) = val.parse::<u64>() else {
                sk.note(n);
                continue;
            };
            let bytes_map = o.map.contains("byte") || o.map.contains("size") || o.map.contains("sum");
            let comm = o.keys.iter().find(|k| k.parse::<i64>().is_err()).cloned();
            let pid = o.keys.iter().find_map(|k| k.parse::<u32>().ok());
            push(
                out,
                StackSample {
                    stack: Stack { frames: o.frames },
                    count: if bytes_map { 1 } else { v },
                    bytes: bytes_map.then_some(v),
                    comm,
                    pid,
                    tid: None,
                    time: None,
                    probe: Some(if o.map == "@" { "@".into() } else { o.map }),
                    value: None,
                    source: src.at(o.line),
                },
            );
            continue;
        }
        if t.starts_with(',') {
            o.keys.extend(
                t.trim_start_matches(',').split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()),
            );
            continue;
        }
        // A frame: `kmem_cache_alloc+1`, `0x7f12abcd`, `mkdir+20 (/usr/lib/libc.so.6)` (ustack with
        // perf mode), or a key part ending with ','.
        if t.ends_with(',') {
            o.keys.push(t.trim_end_matches(',').trim().to_string());
            continue;
        }
        let (sym, module) = match t.rfind(" (") {
            Some(i) if t.ends_with(')') => (&t[..i], Some(t[i + 2..t.len() - 1].to_string())),
            _ => (t, None),
        };
        let (func, offset) = parse_sym(sym);
        let user = module.as_deref().is_some_and(|m| m.starts_with('/'))
            || func.starts_with("0x") && func.len() <= 14;
        o.frames.push(Frame::symbol(func, offset, module, user));
    }
    if let Some(o) = open {
        sk.note(o.line);
    }
}

/// `comm pid[/tid] [cpu] secs: [period] event: payload` -> (comm, pid, tid, time, event).
/// (comm, pid, tid, time, event) of a `perf script` event line.
type PerfHeader = (String, Option<u32>, Option<u32>, Option<f64>, String);

fn perf_event_header(l: &str) -> Option<PerfHeader> {
    let (head, _payload) = l.split_once(": ")?;
    // From the end of `head` (before ': '): the timestamp, an optional `[cpu]`, the pid; the
    // command name before them is joined only once the line is known to be a header (the sniffer
    // asks this of every line).
    let mut toks = head.split_whitespace().rev();
    let ts = toks.next()?.trim_end_matches(':');
    let time: f64 = ts.parse().ok()?;
    let mut pidtok = toks.next()?;
    if pidtok.starts_with('[') && pidtok.ends_with(']') {
        pidtok = toks.next()?;
    }
    let (pid, tid) = match pidtok.split_once('/') {
        Some((p, t)) => (p.parse().ok(), t.parse().ok()),
        None => (pidtok.parse().ok(), None),
    };
    pid?;
    let rest = &l[l.find(": ")? + 2..];
    let rest = rest.trim_start();
    // Optional period before the event name: `   1 kmem:kmem_cache_alloc:` or `cycles:`.
    let mut it = rest.split_whitespace();
    let mut ev = it.next()?;
    if ev.parse::<u64>().is_ok() {
        ev = it.next()?;
    }
    let comm = toks.rev().collect::<Vec<_>>().join(" ");
    Some((comm, pid, tid, Some(time), ev.trim_end_matches(':').to_string()))
}

fn perf_script(text: &str, src: &SourceRef, out: &mut ToolStacks, sk: &mut Skipped) {
    let mut cur: Option<StackSample> = None;
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let t = l.trim();
        if t.is_empty() {
            if let Some(s) = cur.take() {
                push(out, s);
            }
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        if l.starts_with(char::is_whitespace) {
            let Some(s) = cur.as_mut() else {
                sk.note(n);
                continue;
            };
            // `ffffffff8123abcd kmem_cache_alloc+0x1a5 ([kernel.kallsyms])`
            let (addr, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            if !addr.chars().all(|c| c.is_ascii_hexdigit()) {
                sk.note(n);
                continue;
            }
            let rest = rest.trim();
            let (sym, dso) = match rest.rfind(" (") {
                Some(i) if rest.ends_with(')') => (&rest[..i], Some(rest[i + 2..rest.len() - 1].to_string())),
                _ if rest.starts_with('(') && rest.ends_with(')') => {
                    ("[unknown]", Some(rest[1..rest.len() - 1].to_string()))
                }
                _ => (rest, None),
            };
            let sym = if sym.is_empty() { "[unknown]" } else { sym };
            let (func, offset) = parse_sym(sym);
            let user = dso.as_deref().is_some_and(|d| {
                !d.contains("kernel.kallsyms") && !d.ends_with(".ko") && !d.starts_with('[')
            });
            s.stack.frames.push(Frame::symbol(func, offset, dso, user));
            continue;
        }
        match perf_event_header(l) {
            Some((comm, pid, tid, time, ev)) => {
                if let Some(s) = cur.take() {
                    push(out, s);
                }
                cur = Some(StackSample {
                    stack: Stack::default(),
                    count: 1,
                    bytes: None,
                    comm: Some(comm),
                    pid,
                    tid,
                    time,
                    probe: Some(ev),
                    value: None,
                    source: src.at(n),
                });
            }
            None => sk.note(n),
        }
    }
    if let Some(s) = cur.take() {
        push(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bannerless_stackcount_needs_frames() {
        let real = "  kmem_cache_alloc_noprof\n  __d_alloc+0x1a [kernel]\n  ffffffff81000000 do_syscall_64\n  --\n  mkdir\n    b'systemd' [1]\n    6400\n";
        assert_eq!(sniff(real), Some(ToolFormat::Stackcount));
        // An indented shell session: a command, then the number it printed.
        let session = "    $ cat /sys/fs/cgroup/memory/pod1/memory.limit_in_bytes\n    20971520\n";
        assert_eq!(sniff(session), None);
        assert_eq!(sniff("    Total memory usage:\n    5\n"), None);
    }

    #[test]
    fn bcc_frame_forms() {
        let f = bcc_frame("cgroup_mkdir+0x2f0 [kernel]").unwrap();
        assert_eq!((f.func.as_str(), f.offset, f.user), ("cgroup_mkdir", Some(0x2f0), false));
        let f = bcc_frame("[unknown] [libsystemd-shared-241.so (deleted)]").unwrap();
        assert_eq!((f.func.as_str(), f.user), ("[unknown]", true));
        assert_eq!(f.module.as_deref(), Some("libsystemd-shared-241.so (deleted)"));
        let f = bcc_frame("0xffffffff9a2b3c4d\tkmem_cache_alloc+0x1a5 [kernel]").unwrap();
        assert_eq!(f.func, "kmem_cache_alloc");
    }
}
