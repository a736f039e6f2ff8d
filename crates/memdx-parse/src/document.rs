//! What people paste: shell sessions, `head` of several files, quoted and indented copies, whole
//! issue bodies with blocks inside prose.
//!
//! [`Segmenter`] reads a document one line at a time. It strips the quoting of each line (mail and
//! markdown `> `, code fences, markdown bold around a line, `12 | ` gutters, the indentation of the
//! block) and cuts the document into blocks at shell prompts (`$ cmd`, `# cmd`, `user@host:~$ cmd`,
//! `[root@h ~]# cmd`, `host:~ # cmd`, `>>> `), at command lines pasted without a prompt (`cat
//! /proc/meminfo | grep Huge`), at `==> file <==` (`head`/`tail` of several files) and `== /proc/x`
//! headers, at fences, and outside command output at blank lines.
//!
//! A block that its command, its header or its content names as a /proc-style format is handed out
//! as a [`Block`] with that [`Hint`]; every other line is handed on, in order and with its line
//! number kept, as log text: kernel log lines and reports pasted between the blocks (or with no
//! framing at all) reach the kernel log engine, and prose costs it nothing. A block is held until it
//! ends, at most [`MAX_BLOCK`] bytes; a longer run is handed on as log text, so memory does not grow
//! with the input.

use crate::sniff::{format_of, Format, SNIFF_BYTES};

/// Largest block held while deciding what it is.
pub const MAX_BLOCK: usize = 4 << 20;

/// What the command or header of a block says its content is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hint {
    pub format: Option<Format>,
    /// The file the command reads or the header names (`/proc/pressure/memory`, a cgroup's
    /// `memory.limit_in_bytes`), when there is one.
    pub path: Option<String>,
    /// Values were divided by this in the command (`awk '{ print $3 / 1048576 }'`): multiply back.
    pub scale: Option<f64>,
    /// The command prints a kernel log (`dmesg`, `journalctl`, `cat /var/log/messages`).
    pub log: bool,
}

/// A block of a document recognised as one /proc-style file or command output.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// 1-based line of the first content line in the whole document.
    pub first_line: usize,
    /// 1-based line of the last content line.
    pub last_line: usize,
    /// The content with its quoting removed, one line per document line.
    pub text: String,
    /// The command or header that introduced the block, as written.
    pub label: Option<String>,
    pub hint: Hint,
    pub format: Format,
}

/// A block a command or header introduced whose content memdx does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub first_line: usize,
    pub label: String,
    pub reason: String,
}

/// Receives what the segmenter finds, in document order.
pub trait Out {
    /// One document line for the kernel log engine (empty when the line belonged to a block).
    fn log_line(&mut self, line: &str);
    fn block(&mut self, b: Block);
    fn unread(&mut self, u: Unread);
}

#[derive(Debug, Default)]
struct Held {
    first_line: usize,
    label: Option<String>,
    hint: Hint,
    /// Indentation of the first content line, stripped from every line of the block.
    indent: Option<usize>,
    text: String,
    lines: usize,
    /// Opened by a command or header: blank lines do not end it.
    headed: bool,
}

/// The line-by-line state; see the module documentation.
pub struct Segmenter {
    is_log: fn(&str) -> bool,
    line_no: usize,
    held: Option<Held>,
    /// Inside command output that is a kernel log, or a run too long to hold: lines go straight on.
    pass: Option<usize>,
    /// Indentation of the current run of log lines.
    pass_indent: Option<usize>,
    in_fence: bool,
}

impl Segmenter {
    /// `is_log` tells a line of a framed kernel log (`[  1.5] ...`, syslog), whose runs are handed
    /// on without being held.
    pub fn new(is_log: fn(&str) -> bool) -> Self {
        Segmenter { is_log, line_no: 0, held: None, pass: None, pass_indent: None, in_fence: false }
    }

    /// Lines read so far.
    pub fn lines(&self) -> usize {
        self.line_no
    }

    /// Reads one line (without its newline).
    pub fn push(&mut self, raw: &str, out: &mut impl Out) {
        self.line_no += 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // Python's prompt before mail quotes: `>>> x` is a command, not a thrice-quoted line.
        let prompt_line = trim_start(raw).starts_with(">>> ");
        let line = if prompt_line { trim_start(raw) } else { unquote(raw) };
        let t = trim(line);
        if is_fence(t) {
            self.in_fence = !self.in_fence;
            self.close(out);
            self.pass = None;
            out.log_line("");
            return;
        }
        if let Some((label, hint)) = header(t) {
            self.close(out);
            self.start_headed(label, hint, out);
            return;
        }
        if let Some(cmd) = prompt(t).or_else(|| bare_command(t)) {
            self.close(out);
            if cmd.is_empty() {
                self.pass = None;
                out.log_line("");
                return;
            }
            let hint = command_hint(cmd);
            self.start_headed(cmd.to_string(), hint, out);
            return;
        }
        if t.is_empty() {
            match &mut self.held {
                Some(h) if h.headed => h.add(""),
                Some(_) => self.close(out),
                None => {}
            }
            if self.held.is_none() {
                if self.pass.is_some_and(|p| p != usize::MAX) {
                    self.pass = None;
                }
                self.pass_indent = None;
                out.log_line("");
            }
            return;
        }
        if self.pass.is_some() {
            let ind = *self.pass_indent.get_or_insert(indent_of(line));
            out.log_line(strip_indent(line, ind));
            return;
        }
        let unindented = trim_start(line);
        // Command output with a blank line in it goes on until the next prompt, unless what follows
        // the blank line is prose or a kernel log line: the output ended and the paste went on.
        if self.held.as_ref().is_some_and(|h| h.headed && h.text.ends_with("\n\n") && h.text.trim() != "")
            && (is_prose(unindented) || (self.is_log)(unindented))
        {
            self.close(out);
        }
        if (self.is_log)(unindented) && !self.held.as_ref().is_some_and(|h| h.headed) {
            self.close(out);
            let ind = *self.pass_indent.get_or_insert(indent_of(line));
            out.log_line(strip_indent(line, ind));
            return;
        }
        let h = self.held.get_or_insert_with(|| Held { first_line: self.line_no, ..Held::default() });
        let ind = *h.indent.get_or_insert(indent_of(line));
        h.add(strip_indent(line, ind));
        if h.text.len() > MAX_BLOCK {
            // Too long to be a /proc file: hand it on and pass the rest of the run.
            let h = self.held.take().unwrap_or_default();
            release(&h, out);
            self.pass = Some(0);
        }
    }

    /// Ends the document: the block being read is decided.
    pub fn finish(&mut self, out: &mut impl Out) {
        self.close(out);
    }

    fn start_headed(&mut self, label: String, hint: Hint, out: &mut impl Out) {
        out.log_line("");
        self.pass_indent = None;
        if hint.log {
            // `dmesg` output: every line to the log engine, until the next command or header.
            self.pass = Some(usize::MAX);
            return;
        }
        self.pass = None;
        self.held = Some(Held {
            first_line: self.line_no + 1,
            label: Some(label),
            hint,
            headed: true,
            ..Held::default()
        });
    }

    fn close(&mut self, out: &mut impl Out) {
        let Some(mut h) = self.held.take() else { return };
        // Trailing blank lines of command output are not content: hand them on as blank lines.
        let mut trailing = 0;
        while h.text.ends_with("\n\n") || h.text == "\n" {
            h.text.pop();
            trailing += 1;
        }
        if h.text == "\n" {
            h.text.clear();
        }
        h.lines -= trailing.min(h.lines);
        decide(h, out);
        for _ in 0..trailing {
            out.log_line("");
        }
    }
}

impl Held {
    fn add(&mut self, line: &str) {
        if self.text.capacity() == 0 {
            // Most blocks are a line or a few: one allocation, not one and a few reallocations.
            self.text.reserve(128.max(line.len() + 1));
        }
        self.text.push_str(line);
        self.text.push('\n');
        self.lines += 1;
    }
}

fn decide(h: Held, out: &mut impl Out) {
    if h.lines == 0 {
        if let Some(label) = h.label {
            out.unread(Unread { first_line: h.first_line, label, reason: "no output".into() });
        }
        return;
    }
    let format = h.hint.format.or_else(|| {
        let head = &h.text.as_bytes()[..h.text.len().min(SNIFF_BYTES)];
        format_of(head)
    });
    match format {
        Some(format) => {
            for _ in 0..h.lines {
                out.log_line("");
            }
            out.block(Block {
                first_line: h.first_line,
                last_line: h.first_line + h.lines - 1,
                text: h.text,
                label: h.label,
                hint: h.hint,
                format,
            });
        }
        None => {
            // Not a /proc-style block: the log engine reads it (a report pasted without
            // timestamps, a runtime error, or prose, which it ignores).
            release(&h, out);
            if let Some(label) = h.label {
                let first = h.text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
                out.unread(Unread {
                    first_line: h.first_line,
                    label,
                    reason: format!("output not a format memdx reads (first line: {:.60})", first.trim()),
                });
            }
        }
    }
}

fn release(h: &Held, out: &mut impl Out) {
    for l in h.text.lines() {
        out.log_line(l);
    }
}

/// True when `text` has shell prompts, command lines, `==>`/`==` headers or fences: a document to
/// cut into blocks rather than one file.
pub fn has_structure(text: &str) -> bool {
    text.lines().any(|l| {
        let raw = l.trim_start();
        let t = if raw.starts_with(">>> ") { raw } else { unquote(l).trim() };
        is_fence(t)
            || header(t).is_some()
            || prompt(t).is_some_and(|c| !c.is_empty())
            || bare_command(t).is_some()
    })
}

/// A sentence, not a line of command output: at least four words, no digit, and most words
/// lowercase letters (a table header such as `PID USER PR NI` is upper case; output lines carry
/// numbers). `Then I ran this, output attached:` is prose.
fn is_prose(t: &str) -> bool {
    if t.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let (mut words, mut lower) = (0usize, 0usize);
    for w in t.split_whitespace() {
        words += 1;
        let w = w.trim_end_matches([',', '.', ':', ';', '!', '?', ')']).trim_start_matches('(');
        let mut b = w.bytes();
        let first_ok = b.next().is_some_and(|c| c.is_ascii_alphabetic());
        if first_ok && w.len() > 1 && w.bytes().skip(1).all(|c| c.is_ascii_lowercase() || c == b'\'') {
            lower += 1;
        }
    }
    words >= 4 && lower * 4 >= words * 3
}

/// A byte that neither starts nor ends a whitespace char: printable ASCII but the space.
fn solid(b: u8) -> bool {
    b > b' ' && b < 0x7f
}

/// [`str::trim_start`], without decoding chars while they are spaces and tabs, and then a
/// [`solid`] byte (nearly always: this runs on every line of a document).
fn trim_start(s: &str) -> &str {
    let r = skip_blanks(s);
    if r.as_bytes().first().is_none_or(|&b| solid(b)) {
        r
    } else {
        r.trim_start()
    }
}

/// [`str::trim_end`], the same way from the end.
fn trim_end(s: &str) -> &str {
    let r = &s[..s.len() - s.bytes().rev().take_while(|&b| b == b' ' || b == b'\t').count()];
    if r.as_bytes().last().is_none_or(|&b| solid(b)) {
        r
    } else {
        r.trim_end()
    }
}

/// [`str::trim`], as [`trim_start`] and [`trim_end`].
fn trim(s: &str) -> &str {
    trim_end(trim_start(s))
}

/// `s` without its leading spaces and tabs.
fn skip_blanks(s: &str) -> &str {
    &s[indent_of(s)..]
}

fn indent_of(line: &str) -> usize {
    line.bytes().take_while(|&b| b == b' ' || b == b'\t').count()
}

/// Strips up to `n` leading spaces or tabs.
fn strip_indent(line: &str, n: usize) -> &str {
    let k = line.bytes().take(n).take_while(|&b| b == b' ' || b == b'\t').count();
    &line[k..]
}

fn is_fence(t: &str) -> bool {
    t.starts_with("```") || t.starts_with("~~~")
}

/// Removes mail/markdown quote markers (`> `, `>> `), a `12 | ` or `12│` gutter, and markdown bold
/// wrapped around the line (`**HugePages_Total: 5**`).
pub fn unquote(line: &str) -> &str {
    // Most lines have nothing to remove: no quote, gutter or bold can start with another byte
    // after the indentation.
    if !line.as_bytes().get(indent_of(line)).is_some_and(|&c| matches!(c, b'>' | b'0'..=b'9' | b'*'))
        && !trim_end(line).ends_with("**")
    {
        return line;
    }
    let mut s = strip_mail_quote(line);
    s = strip_gutter(s);
    let lead = indent_of(s);
    if let Some(r) = s[lead..].strip_prefix("**").filter(|r| !r.starts_with('*')) {
        s = r;
    }
    let t = trim_end(s);
    match t.strip_suffix("**") {
        Some(r) if !r.ends_with('*') => r,
        _ => s,
    }
}

/// Removes mail/markdown quote markers: `> `, `>> `, `> > ` (at most a few levels). A Python
/// prompt (`>>> `) and `>=` are not quotes. The kernel log engine strips them the same way.
pub fn strip_mail_quote(line: &str) -> &str {
    let mut s = line;
    for _ in 0..8 {
        let t = skip_blanks(s);
        match t.strip_prefix('>') {
            Some(r) if !r.starts_with(">> ") && !r.starts_with('=') => s = r.strip_prefix(' ').unwrap_or(r),
            _ => break,
        }
    }
    s
}

/// `  12 | text`, `12│text`: a line-number gutter from a code viewer.
fn strip_gutter(s: &str) -> &str {
    let t = &s[s.bytes().take_while(|&b| b == b' ').count()..];
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 7 {
        return s;
    }
    let rest = t[digits..].trim_start_matches(' ');
    for bar in ["| ", "|", "│ ", "│"] {
        if let Some(r) = rest.strip_prefix(bar) {
            return r;
        }
    }
    s
}

/// `==> /proc/pressure/memory <==` (`head`/`tail` of several files), `== /proc/meminfo`
/// (collection scripts).
fn header(t: &str) -> Option<(String, Hint)> {
    if !t.starts_with("==") {
        return None;
    }
    let path = if let Some(r) = t.strip_prefix("==> ") {
        r.strip_suffix(" <==")?.trim()
    } else {
        let r = t.strip_prefix("== ")?.trim();
        if !r.starts_with('/') || r.contains(' ') {
            return None;
        }
        r
    };
    if path.is_empty() {
        return None;
    }
    Some((path.to_string(), path_hint(path)))
}

/// Commands people run to show memory state; a `# ` line starting with one is a root prompt, not a
/// comment or a markdown heading.
const COMMANDS: &[&str] = &[
    "cat",
    "head",
    "tail",
    "grep",
    "egrep",
    "zgrep",
    "awk",
    "sed",
    "less",
    "more",
    "sort",
    "tac",
    "free",
    "slabtop",
    "vmstat",
    "numastat",
    "sar",
    "ps",
    "top",
    "sysctl",
    "uname",
    "dmesg",
    "journalctl",
    "arc_summary",
    "arc_summary.py",
    "arcstat",
    "echo",
    "sudo",
    "smem",
    "pmap",
    "perf",
    "strace",
    "find",
    "ls",
    "for",
    "while",
    "watch",
    "bpftrace",
    "trace-cmd",
    "crash",
    "systemctl",
    "docker",
    "kubectl",
    "python",
    "python3",
    "cgget",
    "systemd-cgtop",
    "lsmod",
    "modprobe",
    "rmmod",
    "insmod",
    "sync",
    "swapon",
    "swapoff",
    "numactl",
    "ulimit",
];

/// For each first letter, the lengths (as bits) of the [`COMMANDS`] that start with it, so that
/// most words are told apart without comparing them with each command. Every command starts with
/// a lowercase letter and is shorter than 32 bytes (else this does not compile).
const COMMAND_SHAPES: [u32; 26] = {
    let mut shapes = [0u32; 26];
    let mut i = 0;
    while i < COMMANDS.len() {
        let c = COMMANDS[i].as_bytes();
        assert!(c[0].is_ascii_lowercase() && c.len() < 32);
        shapes[(c[0] - b'a') as usize] |= 1 << c.len();
        i += 1;
    }
    shapes
};

/// `COMMANDS.contains(&w)`.
fn is_command(w: &str) -> bool {
    let b = w.as_bytes();
    b.first().is_some_and(|&c| c.is_ascii_lowercase() && b.len() < 32)
        && COMMAND_SHAPES[usize::from(b[0] - b'a')] & 1 << b.len() != 0
        && COMMANDS.contains(&w)
}

/// The command after a shell prompt; `Some("")` for a bare prompt.
fn prompt(t: &str) -> Option<&str> {
    // Prompts start with `$`, `#`, `>`, `[` or a user/host name.
    if !t.as_bytes().first().is_some_and(|&b| b"$#>[".contains(&b) || b.is_ascii_alphanumeric()) {
        return None;
    }
    if let Some(r) = t.strip_prefix(">>> ") {
        return Some(r.trim());
    }
    if t == "$" || t == "#" {
        return Some("");
    }
    if let Some(r) = t.strip_prefix("$ ") {
        return Some(r.trim());
    }
    if let Some(r) = t.strip_prefix("# ") {
        let r = r.trim();
        return looks_like_command(r).then_some(r);
    }
    // `[root@host ~]# cmd`, `[user@host dir]$ cmd`: a `@` before the first `]` (byte loops: this
    // runs on every line, and a dmesg line's `]` is a few bytes in).
    let b = t.as_bytes();
    if b[0] == b'[' {
        let at = b.iter().position(|&c| c == b']' || c == b'@').filter(|&i| b[i] == b'@')?;
        let close = at + b[at..].iter().position(|&c| c == b']')?;
        let r = &t[close + 1..];
        let r = r.strip_prefix('#').or_else(|| r.strip_prefix('$'))?;
        return Some(r.trim());
    }
    // `user@host:~$ cmd`, `root@host:/x# cmd`, `host:~ # cmd`
    let sp = b.iter().position(|&c| c == b' ').unwrap_or(b.len());
    let first = &t[..sp];
    if first.as_bytes().contains(&b'@') && !first.contains("://") {
        let end = first.find(['$', '#'])?;
        if end + 1 != first.len() || end == 0 {
            return None;
        }
        return Some(t[sp..].trim());
    }
    if first.len() > 2 && !first.ends_with(':') && first.as_bytes().contains(&b':') {
        let r = t[sp..].trim_start();
        let r = r.strip_prefix("# ").or_else(|| r.strip_prefix("$ "))?;
        return looks_like_command(r.trim()).then_some(r.trim());
    }
    None
}

fn program(cmd: &str) -> &str {
    let w = cmd.split_whitespace().next().unwrap_or_default();
    w.rsplit('/').next().unwrap_or(w)
}

fn looks_like_command(cmd: &str) -> bool {
    let w = cmd.split_whitespace().next().unwrap_or_default();
    w.starts_with("./") || w.starts_with('/') || is_command(program(cmd))
}

/// A command pasted without its prompt: a known program reading a kernel file (`cat
/// /proc/meminfo |grep -i Hugep`) or a memory tool with only options (`free -m`, `slabtop -o`).
fn bare_command(t: &str) -> Option<&str> {
    // Cheap rejection first: this runs on every line of a document.
    if !t.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
        return None;
    }
    let prog = &t[..memchr::memchr(b' ', t.as_bytes()).unwrap_or(t.len())];
    if prog.len() > 14
        || !is_command(prog)
        || matches!(prog, "echo" | "for" | "while" | "sort" | "find" | "ls")
    {
        return None;
    }
    let args = || t.split_whitespace().skip(1);
    let reads_kernel_file = args().any(|a| {
        let a = a.trim_start_matches(['<', '\'', '"']);
        a.starts_with("/proc/") || a.starts_with("/sys/")
    });
    let tool = matches!(prog, "free" | "slabtop" | "vmstat" | "numastat" | "arc_summary" | "uname" | "sar")
        && args().all(|a| a.starts_with('-') || a.bytes().all(|b| b.is_ascii_digit()));
    (reads_kernel_file || tool).then_some(t)
}

/// Splits a command line into words, honouring single and double quotes (no expansion).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in cmd.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// What a command prints, from its program and the file it reads.
pub fn command_hint(cmd: &str) -> Hint {
    let ws = words(cmd);
    // Pipeline stages; filters after the first keep the kind of content (a grep of meminfo is
    // meminfo lines).
    let stages: Vec<&[String]> = ws.split(|w| w == "|").collect();
    let mut hint = Hint::default();
    let Some(first) = stages.first() else { return hint };
    let mut first: &[String] = first;
    while let Some((w, rest)) = first.split_first() {
        if w == "sudo" || w == "time" || w == "exec" {
            first = rest;
        } else {
            break;
        }
    }
    let Some(prog) = first.first() else { return hint };
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let mut path: Option<&str> = None;
    let mut redirect = false;
    for w in ws.iter() {
        if w == "|" {
            break;
        }
        if w == "<" {
            redirect = true;
            continue;
        }
        if let Some(p) = w.strip_prefix('<') {
            path = Some(p);
            continue;
        }
        if redirect {
            path = Some(w);
            redirect = false;
            continue;
        }
    }
    if path.is_none()
        && matches!(
            prog,
            "cat"
                | "head"
                | "tail"
                | "grep"
                | "egrep"
                | "zgrep"
                | "awk"
                | "less"
                | "more"
                | "tac"
                | "sort"
                | "sed"
        )
    {
        let args: Vec<&str> = first[1..].iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
        // grep, awk and sed take a pattern or program first.
        let skip = usize::from(matches!(prog, "grep" | "egrep" | "zgrep" | "awk" | "sed"));
        path = args
            .iter()
            .skip(skip)
            .rev()
            .find(|a| a.contains('/') || a.contains('.') || is_known_file(a))
            .copied();
    }
    if let Some(p) = path {
        hint = path_hint(p);
    } else {
        hint.format = match prog {
            "free" => Some(Format::Free),
            "slabtop" => Some(Format::Slabtop),
            "sysctl" => Some(Format::Sysctl),
            "uname" => Some(Format::KernelRelease),
            "ps" | "top" => Some(Format::ProcessTable),
            "vmstat" | "sar" => Some(Format::MemSamples),
            "numastat" => Some(Format::Numastat),
            _ => None,
        };
        if prog == "vmstat" {
            hint.scale = crate::mem_samples::unit_of_command(first).map(|u| u as f64);
        }
        hint.log = matches!(prog, "dmesg" | "journalctl");
        if prog == "free" {
            let stage: Vec<&str> = first.iter().map(String::as_str).collect();
            hint.scale = crate::free::unit_of_command(&stage.join(" ")).map(|u| u as f64);
        }
    }
    // `awk '{ print $3 / 1048576 }'`: the values were scaled down.
    for stage in &stages {
        if stage.first().is_some_and(|p| p == "awk") {
            if let Some(prog) = stage.iter().skip(1).find(|a| a.contains("print")) {
                hint.scale = awk_divisor(prog);
            }
        }
    }
    hint
}

fn is_known_file(a: &str) -> bool {
    path_hint(a).format.is_some()
}

/// `$3 / 1048576`, `$2/1024/1024` in an awk program: the product of the divisors.
fn awk_divisor(prog: &str) -> Option<f64> {
    let mut total = 1f64;
    let mut rest = prog;
    while let Some(i) = rest.find('/') {
        let after = rest[i + 1..].trim_start();
        let n: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(v) = n.parse::<f64>() {
            if v >= 2.0 {
                total *= v;
            }
        }
        rest = &rest[i + 1..];
    }
    (total > 1.0).then_some(total)
}

/// What a kernel file holds, from its path.
pub fn path_hint(path: &str) -> Hint {
    let path = path.trim_end_matches('/');
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut hint = Hint { path: Some(path.to_string()), ..Hint::default() };
    let under = |p: &str| path.contains(p);
    hint.format = match base {
        "meminfo" => Some(Format::Meminfo),
        "slabinfo" => Some(Format::Slabinfo),
        "buddyinfo" => Some(Format::Buddyinfo),
        "pagetypeinfo" => Some(Format::Pagetypeinfo),
        "zoneinfo" => Some(Format::Zoneinfo),
        "vmstat" if under("/proc") || path == "vmstat" => Some(Format::Vmstat),
        "cmdline" if under("/proc") => Some(Format::Cmdline),
        "cgroups" if under("/proc") => Some(Format::Cgroups),
        "memory.stat" => Some(Format::MemcgStat),
        "arcstats" => Some(Format::Arcstats),
        "alloc_traces" | "free_traces" | "alloc_calls" | "free_calls" => Some(Format::SlubTraces),
        "version" if under("/proc") => Some(Format::KernelRelease),
        "status" if under("/proc/") => Some(Format::ProcStatus),
        "smaps_rollup" => Some(Format::SmapsRollup),
        "vmallocinfo" => Some(Format::Vmallocinfo),
        _ if crate::mm_sysfs::is_path(path) => Some(Format::MmSysfs),
        _ if under("/pressure/") || base.ends_with(".pressure") => Some(Format::Psi),
        _ if under("/proc/sys/vm/") => Some(Format::Sysctl),
        _ if base.starts_with("memory.") && crate::memcg_file::is_value_file(base) => Some(Format::MemcgFile),
        _ => None,
    };
    hint.log = under("/var/log/") || base == "kmsg" || base == "kern.log";
    if hint.log {
        hint.format = None;
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        log: Vec<String>,
        blocks: Vec<Block>,
        unread: Vec<Unread>,
    }
    impl Out for Collect {
        fn log_line(&mut self, line: &str) {
            self.log.push(line.to_string());
        }
        fn block(&mut self, b: Block) {
            self.blocks.push(b);
        }
        fn unread(&mut self, u: Unread) {
            self.unread.push(u);
        }
    }

    fn is_log(l: &str) -> bool {
        l.starts_with("[ ")
    }

    fn run(doc: &str) -> Collect {
        let mut s = Segmenter::new(is_log);
        let mut c = Collect::default();
        for l in doc.lines() {
            s.push(l, &mut c);
        }
        s.finish(&mut c);
        assert_eq!(c.log.len(), doc.lines().count(), "every line is handed on once: {:?}", c.log);
        c
    }

    #[test]
    fn shell_session() {
        let doc = "$ cat /sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes\n20971520\n\n$ echo \"20971520/1024\" | bc\n20480\n";
        let c = run(doc);
        assert_eq!(c.blocks.len(), 1);
        let b = &c.blocks[0];
        assert_eq!(
            (b.format, b.first_line, b.last_line, b.text.as_str()),
            (Format::MemcgFile, 2, 2, "20971520\n")
        );
        assert_eq!(b.hint.path.as_deref(), Some("/sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes"));
        assert_eq!(c.unread.len(), 1);
    }

    #[test]
    fn prompts() {
        for (l, cmd) in [
            ("$ free -m", Some("free -m")),
            (
                "# cat kmalloc-128/alloc_traces | sort -rn | head",
                Some("cat kmalloc-128/alloc_traces | sort -rn | head"),
            ),
            ("# A markdown heading", None),
            ("root@host:~# slabtop -o", Some("slabtop -o")),
            ("user@host:~$ free -h", Some("free -h")),
            ("[root@h ~]# cat /proc/meminfo", Some("cat /proc/meminfo")),
            ("host:~ # cat /proc/buddyinfo", Some("cat /proc/buddyinfo")),
            (">>> open('/proc/meminfo').read()", Some("open('/proc/meminfo').read()")),
            ("see https://user@example.com/x for details", None),
            ("[  12.000000] foo@bar: x", None),
        ] {
            assert_eq!(prompt(l), cmd, "{l}");
        }
        assert_eq!(
            bare_command("cat /proc/meminfo |grep -i Hugep"),
            Some("cat /proc/meminfo |grep -i Hugep")
        );
        assert_eq!(bare_command("free memory is low"), None);
        assert_eq!(bare_command("free -m"), Some("free -m"));
    }

    #[test]
    fn hints() {
        let h = command_hint("awk '/^size/ { print $1 \" \" $3 / 1048576 }' < /proc/spl/kstat/zfs/arcstats");
        assert_eq!((h.format, h.scale), (Some(Format::Arcstats), Some(1048576.0)));
        assert_eq!(command_hint("free -m").format, Some(Format::Free));
        assert_eq!(command_hint("sudo grep -i huge /proc/meminfo").format, Some(Format::Meminfo));
        assert!(command_hint("dmesg -T | tail").log);
        assert!(command_hint("grep -i oom /var/log/messages").log);
        assert_eq!(
            command_hint("cat kmalloc-256/alloc_traces | sort -rn | head").format,
            Some(Format::SlubTraces)
        );
    }

    /// The shortcuts agree with what they stand for.
    #[test]
    fn shortcuts() {
        for w in COMMANDS.iter().copied().chain([
            "",
            "c",
            "ca",
            "cats",
            "Cat",
            "free2",
            "systemd-cgto",
            "trace-cmdx",
            "z",
        ]) {
            assert_eq!(is_command(w), COMMANDS.contains(&w), "{w}");
        }
        for s in [
            "",
            " ",
            "\t \t",
            "x",
            " x ",
            "\tx\t",
            "\u{a0}x\u{a0}",
            " \u{3000}x y\u{2028} ",
            "\u{b}x\u{c}",
            "x\r",
            " \u{85}",
            "\u{e9}t\u{e9}",
            "  > [ 1.0] x  ",
        ] {
            assert_eq!(
                (trim_start(s), trim_end(s), trim(s)),
                (s.trim_start(), s.trim_end(), s.trim()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote("> > [  1.0] x"), "[  1.0] x");
        assert_eq!(unquote("**HugePages_Total:   53342"), "HugePages_Total:   53342");
        assert_eq!(unquote("HugePages_Free:    11904**"), "HugePages_Free:    11904");
        assert_eq!(unquote("**Hugepagesize:       2048 kB**"), "Hugepagesize:       2048 kB");
        assert_eq!(unquote("  12 | MemFree: 5 kB"), "MemFree: 5 kB");
        assert_eq!(unquote("a ** b"), "a ** b");
    }

    #[test]
    fn prose_with_blocks() {
        let doc = "Hi, my box leaks.\nHere is meminfo:\n\n    MemTotal: 100 kB\n    MemFree: 10 kB\n    Slab: 50 kB\n\nand dmesg:\n```\n[ 1.000] BUG: x\n[ 1.001] y\n```\nthanks\n";
        let c = run(doc);
        assert_eq!(c.blocks.len(), 1);
        assert_eq!((c.blocks[0].format, c.blocks[0].first_line), (Format::Meminfo, 4));
        assert_eq!(c.blocks[0].text, "MemTotal: 100 kB\nMemFree: 10 kB\nSlab: 50 kB\n");
        assert_eq!(c.log[9], "[ 1.000] BUG: x");
        assert_eq!(c.log[0], "Hi, my box leaks.");
        assert_eq!(c.log[3], "");
    }

    #[test]
    fn head_of_files() {
        let doc = "==> /proc/pressure/cpu <==\nsome avg10=1.00 avg60=0.00 avg300=0.00 total=5\n\n==> /sys/fs/cgroup/a.slice/memory.pressure <==\nsome avg10=2.00 avg60=0.00 avg300=0.00 total=5\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=5\n";
        let c = run(doc);
        assert_eq!(c.blocks.len(), 2);
        assert_eq!(c.blocks[1].hint.path.as_deref(), Some("/sys/fs/cgroup/a.slice/memory.pressure"));
        assert_eq!((c.blocks[1].first_line, c.blocks[1].last_line), (5, 6));
    }

    #[test]
    fn same_file_twice_is_two_blocks() {
        let doc = "$ cat /proc/buddyinfo\nNode 0, zone   Normal  1 2 3\n$ sleep 60\n$ cat /proc/buddyinfo\nNode 0, zone   Normal  0 0 1\n";
        let c = run(doc);
        assert_eq!(c.blocks.iter().filter(|b| b.format == Format::Buddyinfo).count(), 2);
    }

    #[test]
    fn prose_after_command_output_ends_it() {
        let doc = "cat /proc/buddyinfo\nNode 0, zone   Normal  1 2 3\n\nThen I ran this, output attached:\n\n[ 1.0] x\n";
        let c = run(doc);
        assert_eq!(c.blocks.len(), 1);
        assert_eq!((c.blocks[0].format, c.blocks[0].last_line), (Format::Buddyinfo, 2));
        assert_eq!(c.log[3], "Then I ran this, output attached:");
        // A blank line inside output does not end it when a table follows.
        let doc = "$ top -b -n 1\ntop - 10:00:01 up 1 day\nTasks: 100 total\n\n    PID USER      PR  NI    VIRT    RES\n      1 root      20   0  100000   5000\n";
        let c = run(doc);
        assert_eq!(c.log.iter().filter(|l| !l.is_empty()).count(), 0, "{:?}", c.log);
        // A kernel log after the output of a command.
        let doc = "$ cat /proc/buddyinfo\nNode 0, zone   Normal  1 2 3\n\n[ 1.0] x\n";
        let c = run(doc);
        assert_eq!(c.log[3], "[ 1.0] x");
        assert!(!is_prose("Per-node process memory usage (in MBs) for PID 1"));
        assert!(!is_prose("PID USER PR NI VIRT RES SHR"));
        assert!(is_prose("and here is what dmesg printed:"));
    }

    #[test]
    fn long_runs_are_not_held() {
        let mut s = Segmenter::new(is_log);
        let mut c = Collect::default();
        let line = "x".repeat(1000);
        for _ in 0..(MAX_BLOCK / 1000 + 10) {
            s.push(&line, &mut c);
        }
        s.finish(&mut c);
        assert!(c.blocks.is_empty());
        assert_eq!(c.log.len(), MAX_BLOCK / 1000 + 10);
    }
}
