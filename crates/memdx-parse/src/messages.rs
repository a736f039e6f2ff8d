//! Memory messages that are evidence on one line (or a short list), wherever they are pasted: a
//! module's own leak counters (`Memory leaks:` then `- joold session: 18223133`), a hugetlb pool that
//! could not be filled (`requested 4096 hugepages but only 3738 could be allocated`, the kernel's
//! `HugeTLB: allocating 4096 of page size 2.00 MiB failed.  Only allocated 3738 hugepages.`),
//! `strace` lines failing with `ENOMEM`, and runtime out-of-memory errors (Go, Java, Python, C++,
//! `Cannot allocate memory`).
//!
//! [`Scanner`] takes lines one at a time (kernel log framing already removed); [`Scanner::wants`]
//! is a cheap pre-filter on the raw line so that most lines cost one SIMD search.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// A list of leaked object counts printed by the code that leaked them.
    LeakCounts { header: String, items: Vec<(String, u64)> },
    /// A hugetlb pool grown at run time came up short.
    HugepageShortfall { requested: u64, allocated: u64 },
    /// A system call failed with ENOMEM (`strace`): the call and the size it asked for when known.
    SyscallEnomem { call: String, size: Option<u64> },
    /// A program reported running out of memory (`fatal error: runtime: out of memory`,
    /// `java.lang.OutOfMemoryError`, `Cannot allocate memory`, ...).
    RuntimeOom,
    /// `Memory cgroup stats for /x:` and its `name value` lines (bytes), as a memcg OOM report
    /// prints them; only the memory counters are kept. `usage` is the `memory: usage NkB, limit
    /// NkB, failcnt N` line printed before it, when it was.
    MemcgStats { cgroup: String, usage: Option<(u64, u64, Option<u64>)>, items: Vec<(String, u64)> },
    /// SLUB could not get a new slab (`SLUB: Unable to allocate memory on node -1, gfp=0x...`, 6.8+
    /// `on CPU c (of node n) on node -1`, pre-4.x `(gfp=0x20)`), with the `cache:` line that follows
    /// (3.x-4.x kmem accounting names per-memcg caches `kmalloc-64(5:docker-x)`) and its `node N:
    /// slabs: S, objs: O, free: F` lines.
    SlubOom(Box<SlubOom>),
    /// A program's output saying that it (or the process it ran) was ended by SIGKILL, the signal
    /// the OOM killer sends: exit status 137 (128 + 9) as shells, CI runners and container runtimes
    /// print it, Go's `signal: killed`, `SIGKILL`, `signal 9`, Kubernetes' `OOMKilled`.
    Sigkilled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlubOom {
    /// The node asked for (-1: any).
    pub node: Option<i64>,
    /// `0x8020(GFP_ATOMIC|__GFP_ZERO)` as printed.
    pub gfp: Option<String>,
    pub cache: Option<String>,
    /// The memory cgroup of a per-memcg cache (`5:docker-x`).
    pub memcg: Option<String>,
    pub object_size: Option<u64>,
    pub default_order: Option<u32>,
    pub min_order: Option<u32>,
    /// (node, slabs, objects, free objects).
    pub nodes: Vec<(i64, u64, u64, u64)>,
}

/// `SLUB: Unable to allocate memory on node -1, gfp=0x8020(GFP_ATOMIC)`: the node and gfp.
pub fn slub_oom_header(t: &str) -> Option<SlubOom> {
    let r = t.strip_prefix("SLUB: Unable to allocate memory on ")?;
    // 6.8+: `CPU 3 (of node 0) on node -1, gfp=...`
    let r = match r.find("on node ") {
        Some(i) if r.starts_with("CPU ") => &r[i + "on ".len()..],
        _ => r,
    };
    let r = r.strip_prefix("node ")?;
    let end = r.find([',', ' ', '(']).unwrap_or(r.len());
    let node = r[..end].parse().ok();
    let gfp = r.find("gfp=").map(|i| {
        let g = &r[i + 4..];
        let g = g.strip_suffix(')').filter(|_| !g.contains('(')).unwrap_or(g);
        g.trim().to_string()
    });
    Some(SlubOom { node, gfp, ..SlubOom::default() })
}

/// Adds a `cache:` or `node N:` line to an open SLUB report; false when the line is neither.
fn slub_oom_line(o: &mut SlubOom, t: &str) -> bool {
    let num = |s: &str| s.trim().parse::<u64>().ok();
    if let Some(r) = t.strip_prefix("cache: ") {
        let mut parts = r.split(", ");
        let name = parts.next().unwrap_or_default();
        match name.split_once('(') {
            Some((n, m)) => {
                o.cache = Some(n.to_string());
                o.memcg = Some(m.trim_end_matches(')').to_string());
            }
            None => o.cache = Some(name.to_string()),
        }
        for p in parts {
            if let Some((k, v)) = p.split_once(": ") {
                match k {
                    "object size" => o.object_size = num(v),
                    "default order" => o.default_order = num(v).and_then(|x| u32::try_from(x).ok()),
                    "min order" => o.min_order = num(v).and_then(|x| u32::try_from(x).ok()),
                    _ => {}
                }
            }
        }
        return true;
    }
    if let Some(r) = t.strip_prefix("node ") {
        let Some((n, rest)) = r.split_once(": ") else { return false };
        let Ok(n) = n.parse::<i64>() else { return false };
        let mut v = [None; 3];
        for p in rest.split(", ") {
            if let Some((k, x)) = p.split_once(": ") {
                let i = match k {
                    "slabs" => 0,
                    "objs" => 1,
                    "free" => 2,
                    _ => continue,
                };
                v[i] = num(x);
            }
        }
        if let [Some(s), Some(ob), Some(f)] = v {
            if o.nodes.len() < 64 {
                o.nodes.push((n, s, ob, f));
            }
            return true;
        }
    }
    false
}

/// The memory counters of a memcg stats block worth keeping (v1 and v2 names).
const MEMCG_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "shmem",
    "mapped_file",
    "swap",
    "anon",
    "file",
    "kernel",
    "kernel_stack",
    "slab",
    "slab_unreclaimable",
    "sock",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageKind,
    /// The line as written (framing removed), capped at 300 bytes.
    pub text: String,
    pub line: u32,
}

/// Most messages kept; the rest are counted.
const MAX_MESSAGES: usize = 64;
const MAX_ITEMS: usize = 32;

/// The keywords of a line [`Scanner::line`] reads (the first [`N_KEYWORDS`]), lower case and
/// matched ignoring ASCII case, then the other phrases it tests such a line for: one search finds
/// them all.
const PHRASES: &[&str] = &[
    "leak",
    "hugepage",
    "hugetlb",
    "enomem",
    "out of memory",
    "cannot allocate memory",
    "bad_alloc",
    "outofmemoryerror",
    "memoryerror",
    "memory cgroup stats for",
    "memory: usage",
    "unable to allocate memory on",
    // SIGKILL seen by the program (see `P_KILLED`).
    "137",
    "signal: killed",
    "sigkill",
    "signal 9",
    "oomkilled",
    // The other phrases. The kernel's own OOM lines:
    "out of memory: kill",
    "memory cgroup out of memory",
    "oom-kill",
    "invoked oom-killer",
    // Runtime errors that are not keywords themselves.
    "fatal error: runtime: out of memory",
    "java.lang.outofmemoryerror",
    "std::bad_alloc",
    // A shortfall says what it got: `only N`.
    "only",
];
const N_KEYWORDS: usize = 17;
const KEYWORDS: &[&str] = PHRASES.split_at(N_KEYWORDS).0;

/// Indexes in [`PHRASES`].
const P_LEAK: usize = 0;
const P_HUGEPAGE: usize = 1;
const P_HUGETLB: usize = 2;
const P_ENOMEM: usize = 3;
const P_137: usize = 12;
/// `signal: killed`, `sigkill`, `signal 9`, `oomkilled`: a SIGKILL seen by the program, tried in
/// this order before an exit status of 137.
const P_KILLED: [usize; 4] = [13, 14, 15, 16];
const P_KERNEL_OOM_AT_START: usize = 17;
const P_KERNEL_OOM: [usize; 3] = [18, 19, 20];
/// The runtime errors, in any order: `fatal error: runtime: out of memory`, `java.lang.outofmemoryerror`,
/// `memoryerror`, `std::bad_alloc`, `cannot allocate memory`, `out of memory`.
const P_RUNTIME: [usize; 6] = [21, 22, 8, 23, 5, 4];
const P_ONLY: usize = 24;

/// Where each of [`PHRASES`] first occurs in `t` (ASCII case ignored), from one search.
fn phrases_in(t: &str) -> [Option<usize>; PHRASES.len()] {
    static AC: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(PHRASES)
            .ok()
    });
    let mut at = [None; PHRASES.len()];
    match AC.as_ref() {
        Some(ac) => {
            for m in ac.find_overlapping_iter(t) {
                // Matches come in order of their ends: keep the first start.
                let first = &mut at[m.pattern().as_usize()];
                if first.is_none_or(|s| m.start() < s) {
                    *first = Some(m.start());
                }
            }
        }
        None => {
            // Not expected (the phrases build); a search per phrase gives the same.
            let lower = t.to_ascii_lowercase();
            for (a, p) in at.iter_mut().zip(PHRASES) {
                *a = lower.find(p);
            }
        }
    }
    at
}

/// Words before an exit status of 137 (`exit status 137`, `"status": 137`, `rc=137`).
const STATUS_WORDS: &[&str] = &["status", "code", "rc", "exit", "exited", "returned"];

/// The program (or the process it ran) was ended by SIGKILL, as an exit status: `137` as a whole
/// number right after a status word and separators (`exit status 137`, `rc=137`). Returns where it
/// ends; `lower` is the line in lower case. ([`P_KILLED`] are the words that say so otherwise.)
fn status_137(lower: &str) -> Option<usize> {
    let b = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find("137").map(|i| i + from) {
        from = i + 3;
        let whole = !(b.get(i + 3).is_some_and(u8::is_ascii_alphanumeric)
            || i > 0 && b[i - 1].is_ascii_alphanumeric());
        if !whole {
            continue;
        }
        let head = lower[..i].trim_end_matches([' ', ':', '=', '"', '\'', '\t']);
        if head.len() == i {
            continue;
        }
        if STATUS_WORDS.iter().any(|w| {
            head.strip_suffix(w)
                .is_some_and(|h| !h.bytes().next_back().is_some_and(|c| c.is_ascii_alphanumeric()))
        }) {
            return Some(i + 3);
        }
    }
    None
}

/// At most 80 bytes of `t` ending at `end`: the words that say the program was killed, whatever
/// precedes them on a long line.
fn tail_to(t: &str, end: usize) -> String {
    let mut end = end.min(t.len());
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    let mut start = end.saturating_sub(80);
    while !t.is_char_boundary(start) {
        start += 1;
    }
    t[start..end].to_string()
}

pub struct Scanner {
    pre: AhoCorasick,
    open: Option<Message>,
    pub messages: Vec<Message>,
    /// Messages beyond [`MAX_MESSAGES`].
    pub dropped: u64,
    /// The last `memory: usage` line, for the stats block that follows it.
    usage: Option<(u64, u64, Option<u64>)>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    pub fn new() -> Self {
        // Built once per process: building the automaton cost a quarter of `diagnose` on a
        // directory of small files (one scanner per file); a clone shares it.
        static PRE: LazyLock<AhoCorasick> = LazyLock::new(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .build(KEYWORDS)
                .unwrap_or_else(|_| AhoCorasick::new(["\u{0}never"]).expect("a one-word automaton builds"))
        });
        Scanner { pre: PRE.clone(), open: None, messages: Vec::new(), dropped: 0, usage: None }
    }

    /// Feeds [`Scanner::line`] the lines of `text` (each ended by `\n`, read as UTF-8 with
    /// replacement characters; the first is numbered `first`) that it must see, framed by `msg`:
    /// the non-empty lines with a keyword and those that follow while a list is open. The same as [`Scanner::wants`] then [`Scanner::line`] on
    /// each non-empty line in turn, with one search over the whole text instead of one per line:
    /// the text is lower-cased into `folded` (reused) and searched for the lower-case keywords,
    /// a search with a SIMD prefilter, where the case-insensitive automaton visits every byte.
    pub fn text<F>(&mut self, text: &[u8], first: usize, folded: &mut Vec<u8>, msg: F)
    where
        F: for<'a> Fn(&'a str) -> std::borrow::Cow<'a, str>,
    {
        static LOWER: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
            AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostFirst).build(KEYWORDS).ok()
        });
        let Some(lower) = LOWER.as_ref() else {
            // Not expected (the keywords build); the per-line path gives the same result.
            for (no, l) in (first..).zip(text.split(|&c| c == b'\n')) {
                if !l.is_empty() && self.wants(l) {
                    self.line(&msg(&memdx_core::lines::lossy(l)), no);
                }
            }
            return;
        };
        folded.clear();
        folded.extend(text.iter().map(u8::to_ascii_lowercase));
        let b = text;
        // `at` is the start of a line, numbered `no`, before which every line was seen.
        let (mut at, mut no) = (0usize, first);
        while at < b.len() {
            let start = if self.open.is_some() {
                at
            } else {
                let Some(m) = lower.find(aho_corasick::Input::new(&folded[..]).range(at..)) else { break };
                let start = memchr::memrchr(b'\n', &b[at..m.start()]).map_or(at, |i| at + i + 1);
                no += memchr::memchr_iter(b'\n', &b[at..start]).count();
                start
            };
            let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |i| start + i);
            let line = &b[start..end];
            if !line.is_empty() {
                self.line(&msg(&memdx_core::lines::lossy(line)), no);
            }
            at = end + 1;
            no += 1;
        }
    }

    /// True when [`Scanner::line`] must see this raw line (a keyword, or a leak list is open).
    pub fn wants(&self, raw: &[u8]) -> bool {
        self.open.is_some() || self.pre.is_match(raw)
    }

    /// One message (framing removed).
    pub fn line(&mut self, msg: &str, line_no: usize) {
        let t = msg.trim();
        if let Some(open) = &mut self.open {
            let slub_line = match &mut open.kind {
                MessageKind::SlubOom(o) => slub_oom_line(o, t),
                _ => false,
            };
            if slub_line {
                return;
            }
            match &mut open.kind {
                MessageKind::LeakCounts { items, .. } => {
                    if let Some(item) = leak_item(t) {
                        if items.len() < MAX_ITEMS {
                            items.push(item);
                        }
                        return;
                    }
                }
                MessageKind::MemcgStats { items, .. } => {
                    let mut w = t.split_whitespace();
                    if let (Some(k), Some(Ok(v)), None) =
                        (w.next(), w.next().map(str::parse::<u64>), w.next())
                    {
                        if MEMCG_KEYS.contains(&k) && items.len() < MEMCG_KEYS.len() {
                            items.push((k.to_string(), v));
                        }
                        return;
                    }
                }
                _ => {}
            }
            let m = self.open.take();
            self.keep(m);
        }
        if let Some(o) = slub_oom_header(t) {
            self.open =
                Some(Message { kind: MessageKind::SlubOom(Box::new(o)), text: cap(t), line: line_no as u32 });
            return;
        }
        if let Some(u) = crate::memcg_stat::usage_line(t) {
            self.usage = Some(u);
            return;
        }
        if let Some(cg) = crate::memcg_stat::stats_header(t) {
            let kind = MessageKind::MemcgStats {
                cgroup: cg.to_string(),
                usage: self.usage.take(),
                items: Vec::new(),
            };
            self.open = Some(Message { kind, text: cap(t), line: line_no as u32 });
            return;
        }
        if t.is_empty() {
            return;
        }
        // One search for every phrase tested below (lower-casing ASCII keeps byte offsets, so
        // these are the offsets in the line lower-cased too); the line in lower case is made only
        // for the rarer tests that read it whole.
        let at = phrases_in(t);
        if !at[..N_KEYWORDS].iter().any(Option::is_some) {
            return;
        }
        let lower = || t.to_ascii_lowercase();
        let mk = |kind| Message { kind, text: cap(t), line: line_no as u32 };
        let killed = match P_KILLED.iter().find_map(|&p| at[p].map(|i| i + PHRASES[p].len())) {
            Some(end) => Some(end),
            None if at[P_137].is_some() => status_137(&lower()),
            None => None,
        };
        if let Some(end) = killed {
            self.keep(Some(Message {
                kind: MessageKind::Sigkilled,
                text: tail_to(t, end),
                line: line_no as u32,
            }));
            return;
        }
        if t.ends_with(':') && at[P_LEAK].is_some() && has_word_leak(&lower()) {
            self.open = Some(mk(MessageKind::LeakCounts { header: t.to_string(), items: Vec::new() }));
            return;
        }
        // A shortfall has the word `only` before what it got.
        if (at[P_HUGEPAGE].is_some() || at[P_HUGETLB].is_some()) && at[P_ONLY].is_some() {
            if let Some((requested, allocated)) = shortfall(&lower()) {
                let m = mk(MessageKind::HugepageShortfall { requested, allocated });
                self.keep(Some(m));
                return;
            }
        }
        // A failed call's `= -1 ENOMEM`.
        if at[P_ENOMEM].is_some() {
            if let Some((call, size)) = strace_enomem(t) {
                let m = mk(MessageKind::SyscallEnomem { call, size });
                self.keep(Some(m));
                return;
            }
        }
        // The kernel's own OOM lines are reports for the log engine, not runtime errors.
        let kernel_oom =
            at[P_KERNEL_OOM_AT_START] == Some(0) || P_KERNEL_OOM.iter().any(|&p| at[p].is_some());
        let runtime = P_RUNTIME.iter().any(|&p| at[p].is_some());
        if runtime && !kernel_oom {
            self.keep(Some(mk(MessageKind::RuntimeOom)));
        }
    }

    /// Ends the input: an open list is kept.
    pub fn finish(&mut self) {
        let m = self.open.take();
        self.keep(m);
    }

    fn keep(&mut self, m: Option<Message>) {
        let Some(m) = m else { return };
        if matches!(&m.kind, MessageKind::LeakCounts { items, .. } | MessageKind::MemcgStats { items, .. } if items.is_empty())
        {
            return;
        }
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(m);
        } else {
            self.dropped += 1;
        }
    }
}

fn cap(t: &str) -> String {
    let mut end = t.len().min(300);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_string()
}

fn has_word_leak(lower: &str) -> bool {
    lower.match_indices("leak").any(|(i, _)| {
        let before = lower[..i].chars().next_back();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// `- joold session: 18223133`, `* sessions: 5`, `bib entries: 7`.
fn leak_item(t: &str) -> Option<(String, u64)> {
    let t = t.trim_start_matches(['-', '*', '\u{2022}', ' ']);
    let (name, n) = t.rsplit_once(':')?;
    let n: u64 = n.trim().parse().ok()?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 80
        && name.chars().all(|c| c.is_alphanumeric() || " _-./()".contains(c));
    ok.then(|| (name.to_string(), n))
}

/// The number asked for and the number obtained: the first number after a word of asking
/// (`requested`, `allocating`, `reserve`, `set`), the first after `only`.
fn shortfall(lower: &str) -> Option<(u64, u64)> {
    let words: Vec<&str> = lower.split(|c: char| c.is_whitespace() || c == ',' || c == ';').collect();
    let num = |w: &str| w.trim_matches(|c: char| !c.is_ascii_digit()).parse::<u64>().ok();
    let after = |pred: &dyn Fn(&str) -> bool| {
        let i = words.iter().position(|w| pred(w))?;
        words[i + 1..].iter().take(3).find_map(|w| num(w))
    };
    let requested = after(&|w: &str| {
        ["request", "allocat", "reserv", "want", "need", "set", "tried", "try"]
            .iter()
            .any(|p| w.starts_with(p))
    })?;
    let allocated = after(&|w: &str| w == "only")?;
    (allocated < requested).then_some((requested, allocated))
}

/// `mmap(NULL, 4294967296, PROT_READ|..., -1, 0) = -1 ENOMEM (Cannot allocate memory)`.
fn strace_enomem(t: &str) -> Option<(String, Option<u64>)> {
    let t = t.split_once("] ").filter(|(p, _)| p.starts_with("[pid")).map_or(t, |(_, r)| r);
    let open = t.find('(')?;
    let call = &t[..open];
    if call.is_empty() || !call.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (args, ret) = t[open + 1..].rsplit_once(") = ")?;
    if !ret.trim_start().starts_with("-1 ENOMEM") {
        return None;
    }
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let size = match call {
        "mmap" | "mmap2" | "mremap" => args.get(1).and_then(|a| a.parse().ok()),
        "brk" => None,
        _ => None,
    };
    Some((call.to_string(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(lines: &[&str]) -> Vec<Message> {
        let mut s = Scanner::new();
        for (i, l) in lines.iter().enumerate() {
            if s.wants(l.as_bytes()) {
                s.line(l, i + 1);
            }
        }
        s.finish();
        s.messages
    }

    /// SIGKILL as programs report it: clickhouse-backup#279's client output (one line with literal
    /// `\n` escapes, ending `"status": 137}`), a shell's `rc=137` (testdata/trace/README.md's memcg
    /// OOM run, workload_output.txt), Go's `signal: killed`; numbers that only contain 137 are not.
    #[test]
    fn sigkilled_programs() {
        let m = scan(&[
            r#"2021/10/07 07:15:14  info done  backup=clickhouse-2021-10-07 operation=upload size=2.17KiB table=db.xxx\n", "status": 137}"#,
            "rc=137",
            "exec: process exited: signal: killed",
            "took 1137 ms, status 1370, code=0x137",
            "[  303.068590] Memory cgroup out of memory: Killed process 11452 (python3)",
        ]);
        let kinds: Vec<(u32, &MessageKind)> = m.iter().map(|m| (m.line, &m.kind)).collect();
        assert_eq!(
            kinds,
            vec![(1, &MessageKind::Sigkilled), (2, &MessageKind::Sigkilled), (3, &MessageKind::Sigkilled)]
        );
        // The quoted text ends with the words that say so, however long the line.
        assert!(m[0].text.ends_with(r#""status": 137"#) && m[0].text.len() <= 80, "{}", m[0].text);
        assert_eq!(m[2].text, "exec: process exited: signal: killed");
    }

    #[test]
    fn leak_counts() {
        // NICMx/Jool#410, framing removed.
        let m = scan(&[
            "NAT64 Jool v4.1.10.3 module removed.",
            "Jool: Memory leaks:",
            "- joold session: 18223133",
            "------------[ cut here ]------------",
            "Total leaks: 1",
        ]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].kind,
            MessageKind::LeakCounts {
                header: "Jool: Memory leaks:".into(),
                items: vec![("joold session".into(), 18223133)]
            }
        );
        assert_eq!(m[0].line, 2);
        assert!(scan(&["no leaks found:", "all good"]).is_empty());
    }

    #[test]
    fn memcg_stats() {
        // A memcg OOM report's stats on 6.18 (testdata/log/live618_memcg_oom.dmesg), framing removed.
        let m = scan(&[
            "memory: usage 102400kB, limit 102400kB, failcnt 117",
            "memory+swap: usage 102400kB, limit 9007199254740988kB, failcnt 0",
            "Memory cgroup stats for /memdx-test:",
            "cache 0",
            "rss 104452096",
            "pgfault 33270",
            "hierarchical_memory_limit 104857600",
            "Tasks state (memory values in pages):",
        ]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].kind,
            MessageKind::MemcgStats {
                cgroup: "/memdx-test".into(),
                usage: Some((102400, 102400, Some(117))),
                items: vec![
                    ("cache".into(), 0),
                    ("rss".into(), 104452096),
                    ("hierarchical_memory_limit".into(), 104857600)
                ]
            }
        );
        assert_eq!(m[0].line, 3);
    }

    #[test]
    fn slub_oom() {
        // mm/slub.c slab_out_of_memory(), 4.x with kmem accounting (a per-memcg cache), and the
        // 6.8+ header.
        let m = scan(&[
            "SLUB: Unable to allocate memory on node -1, gfp=0x8020(GFP_ATOMIC|__GFP_ZERO)",
            "  cache: kmalloc-64(5:docker-3f2a), object size: 64, buffer size: 64, default order: 0, min order: 0",
            "  node 0: slabs: 1026, objs: 65664, free: 0",
            "  node 1: slabs: 12, objs: 768, free: 3",
            "SLUB: Unable to allocate memory on CPU 3 (of node 0) on node -1, gfp=0xa20(GFP_ATOMIC)",
            "some other line",
        ]);
        assert_eq!(m.len(), 2);
        let MessageKind::SlubOom(o) = &m[0].kind else { panic!("{:?}", m[0]) };
        assert_eq!((o.node, o.gfp.as_deref()), (Some(-1), Some("0x8020(GFP_ATOMIC|__GFP_ZERO)")));
        assert_eq!(
            (o.cache.as_deref(), o.memcg.as_deref(), o.object_size),
            (Some("kmalloc-64"), Some("5:docker-3f2a"), Some(64))
        );
        assert_eq!(o.nodes, vec![(0, 1026, 65664, 0), (1, 12, 768, 3)]);
        let MessageKind::SlubOom(o) = &m[1].kind else { panic!("{:?}", m[1]) };
        assert_eq!(
            (o.node, o.gfp.as_deref(), o.cache.as_deref()),
            (Some(-1), Some("0xa20(GFP_ATOMIC)"), None)
        );
        let old = slub_oom_header("SLUB: Unable to allocate memory on node -1 (gfp=0x20)").unwrap();
        assert_eq!((old.node, old.gfp.as_deref()), (Some(-1), Some("0x20")));
    }

    #[test]
    fn hugepages() {
        // spdk/spdk#702 and the kernel's own message (mm/hugetlb.c, 5.x+).
        let m = scan(&["## ERROR: requested 4096 hugepages but only 3738 could be allocated."]);
        assert_eq!(m[0].kind, MessageKind::HugepageShortfall { requested: 4096, allocated: 3738 });
        let m =
            scan(&["HugeTLB: allocating 4096 of page size 2.00 MiB failed.  Only allocated 3738 hugepages."]);
        assert_eq!(m[0].kind, MessageKind::HugepageShortfall { requested: 4096, allocated: 3738 });
    }

    #[test]
    fn runtime_and_strace() {
        let m = scan(&[
            "mmap(NULL, 4294967296, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)",
            "fatal error: runtime: out of memory",
            "Out of memory: Killed process 1 (x)",
        ]);
        assert_eq!(m[0].kind, MessageKind::SyscallEnomem { call: "mmap".into(), size: Some(4294967296) });
        assert_eq!(m[1].kind, MessageKind::RuntimeOom);
        assert_eq!(m.len(), 2);
    }

    /// The phrase indexes name the phrases they stand for.
    #[test]
    fn phrase_indexes() {
        assert_eq!((KEYWORDS[0], KEYWORDS[N_KEYWORDS - 1]), ("leak", "oomkilled"));
        let names = |ix: &[usize]| ix.iter().map(|&i| PHRASES[i]).collect::<Vec<_>>();
        assert_eq!(
            names(&[P_LEAK, P_HUGEPAGE, P_HUGETLB, P_ENOMEM, P_137]),
            ["leak", "hugepage", "hugetlb", "enomem", "137"]
        );
        assert_eq!(names(&P_KILLED), ["signal: killed", "sigkill", "signal 9", "oomkilled"]);
        assert_eq!(names(&[P_KERNEL_OOM_AT_START]), ["out of memory: kill"]);
        assert_eq!(names(&P_KERNEL_OOM), ["memory cgroup out of memory", "oom-kill", "invoked oom-killer"]);
        assert_eq!(
            names(&P_RUNTIME),
            [
                "fatal error: runtime: out of memory",
                "java.lang.outofmemoryerror",
                "memoryerror",
                "std::bad_alloc",
                "cannot allocate memory",
                "out of memory"
            ]
        );
        // First occurrences, overlapping ones and case included.
        let at = phrases_in("Out of memory: Killed; OUT OF MEMORY: kill, oom-killer 137");
        assert_eq!((at[4], at[P_KERNEL_OOM_AT_START], at[20], at[P_137]), (Some(0), Some(0), None, Some(55)));
        assert_eq!(at[P_KERNEL_OOM[1]], Some(44));
    }

    /// One search over a whole text finds what the per-line pre-filter finds, on every pasted
    /// incident and kernel log in testdata (with the case of each line changed too, and lists
    /// that stay open across lines), with the same line numbers.
    #[test]
    fn whole_text_is_line_by_line() {
        fn same(l: &str) -> std::borrow::Cow<'_, str> {
            std::borrow::Cow::Borrowed(l)
        }
        let per_line = |text: &str, first: usize| {
            let mut s = Scanner::new();
            for (i, l) in text.lines().enumerate() {
                if !l.is_empty() && s.wants(l.as_bytes()) {
                    s.line(l, first + i);
                }
            }
            s.finish();
            (s.messages, s.dropped)
        };
        let whole = |text: &str, first: usize| {
            let mut s = Scanner::new();
            let mut folded = Vec::new();
            // In two parts cut at a line end, as the document reader hands chunks.
            let cut = text[..text.len() / 2].rfind('\n').map_or(0, |i| i + 1);
            s.text(text[..cut].as_bytes(), first, &mut folded, same);
            let n = text[..cut].matches('\n').count();
            s.text(text[cut..].as_bytes(), first + n, &mut folded, same);
            s.finish();
            (s.messages, s.dropped)
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut files = Vec::new();
        for dir in ["pasted", "log"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                match std::fs::read_dir(&p) {
                    Ok(sub) => files.extend(sub.map(|e| e.unwrap().path())),
                    Err(_) => files.push(p),
                }
            }
        }
        let mut found = 0;
        for p in files.iter().filter(|p| p.is_file()) {
            let Ok(text) = std::fs::read_to_string(p) else { continue };
            let mut text = text.replace('\r', "");
            if !text.ends_with('\n') {
                text.push('\n');
            }
            let upper: String = text
                .lines()
                .enumerate()
                .map(|(i, l)| if i % 2 == 0 { l.to_ascii_uppercase() } else { l.into() } + "\n")
                .collect();
            for t in [&text, &upper] {
                let want = per_line(t, 7);
                assert_eq!(whole(t, 7), want, "{}", p.display());
                found += want.0.len();
            }
        }
        assert!(found > 20, "only {found} messages in {} files", files.len());
    }
}
