//! Parsers for single lines inside reports: frames, the `CPU: ... Comm:` line, registers.

use crate::model::{Frame, Register};

/// ` ? func+0x24/0xa8 [module]`, ` [<ffffffff81234>] func+0x1/0x2`, `func+0x1/0x2 (file.c:12)`,
/// symbolized traces (`func+0x1/0x2 mm/slub.c:12`, inlined `func lib/kunit/test.c:333`) and
/// unsymbolized addresses (`[<00000000e0a73ec7>] 0xffffffffc01d2036`, kmemleak; func = the address).
pub fn parse_frame(t: &str) -> Option<Frame> {
    let mut s = t.trim_ascii();
    let mut reliable = true;
    let mut bracketed = false;
    if let Some(r) = s.strip_prefix("? ") {
        reliable = false;
        s = r.trim_ascii_start();
    }
    // s390 before 5.x: `([<000000000011b0a2>] show_trace+0x13a/0x160)`, the first frame, read
    // from a register the unwinder cannot vouch for.
    if s.starts_with("([<") && s.ends_with(')') {
        let mut f = parse_frame(&s[1..s.len() - 1])?;
        f.reliable = false;
        return Some(f);
    }
    if let Some(r) = s.strip_prefix("[<") {
        let end = find_short(r, b">]")?;
        s = r[end + 2..].trim_ascii_start();
        bracketed = true;
        if let Some(r) = s.strip_prefix("? ") {
            reliable = false;
            s = r.trim_ascii_start();
        }
        if s.starts_with('(') {
            return arm_frame(s, reliable);
        }
    } else if s.starts_with('[') {
        // ppc64: `[c0000000ec1cbb10] [c000000000b4e4e0] dump_stack+0xb0/0xf0 (unreliable)`.
        return ppc_frame(s);
    }
    let (sym, rest) = match s.bytes().position(|c| c == b' ') {
        Some(i) => (&s[..i], s[i + 1..].trim_ascii()),
        None => (s, ""),
    };
    let Some(plus) = sym.bytes().rposition(|c| c == b'+') else {
        return bare_frame(sym, rest, bracketed, reliable);
    };
    // 32-bit ARM since 5.16 prints `func+0x1/0x2 from caller+0x3/0x4` without addresses when
    // the function has an offset (`%pS`), and `func from caller` for the first frame (`%ps`).
    let rest = strip_arm_from(rest);
    // The kernel's `%pS` always prints the size in a trace line.
    let (func, offset, Some(size)) = split_symbol_at(sym, plus)? else { return None };
    if !is_ident(func) {
        return None;
    }
    let mut module = None;
    let mut location = None;
    if let Some(m) = rest.strip_prefix('[') {
        module = Some(m.split(']').next().unwrap_or(m).to_string());
    } else if let Some(l) = rest.strip_prefix('(') {
        location = Some(l.trim_end_matches(')').to_string());
    } else if !rest.is_empty() {
        // Most frames have nothing after the symbol: no location search for them.
        if !is_location(rest) {
            return None;
        }
        location = Some(rest.to_string());
    }
    Some(Frame {
        func: func.to_string(),
        offset: Some(offset),
        size: Some(size),
        module,
        reliable,
        context: None,
        location,
        user: false,
    })
}

/// The symbol of a frame, `func+0xoff/0xsize`, `func+0xoff` or `func+26` (bpftrace prints offsets
/// in decimal): function, offset and size. The one reader of this form for the log engine, the slab
/// engine's tool outputs and the trace readers; `None` without a `+offset` or with an empty name.
pub fn split_symbol(sym: &str) -> Option<(&str, u64, Option<u64>)> {
    split_symbol_at(sym, sym.bytes().rposition(|c| c == b'+')?)
}

/// [`split_symbol`] of a symbol whose last `+` is at `plus`. Byte loops instead of `split_once`
/// and `from_str_radix`: this runs on every frame line of a log.
fn split_symbol_at(sym: &str, plus: usize) -> Option<(&str, u64, Option<u64>)> {
    let func = &sym[..plus];
    if func.is_empty() {
        return None;
    }
    let tail = &sym.as_bytes()[plus + 1..];
    let (off, size) = match tail.iter().position(|&c| c == b'/') {
        Some(i) => (&tail[..i], Some(&tail[i + 1..])),
        None => (tail, None),
    };
    let size = match size {
        Some(z) => Some(symbol_number(z)?),
        None => None,
    };
    Some((func, symbol_number(off)?, size))
}

/// `0x1f` (hex, as `u64::from_str_radix` reads it: one leading `+` allowed) or `26` (decimal
/// digits only); `None` when empty, malformed or above `u64::MAX`.
fn symbol_number(s: &[u8]) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix(b"0x") {
        Some(h) if !h.is_empty() => (h.strip_prefix(b"+").unwrap_or(h), 16),
        Some(_) => return None,
        None => (s, 10),
    };
    if digits.is_empty() || radix == 10 && s.first() == Some(&b'+') {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)?;
        n = n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// 32-bit ARM before 5.x: `[<c0012345>] (func+0x0/0xf4) from [<c0056789>] (caller+0x14/0x1b8)`
/// (the caller is the next line's function), `(func) from` without offsets, `(0xbf012345)` for an
/// unsymbolized module address.
#[cold]
fn arm_frame(s: &str, reliable: bool) -> Option<Frame> {
    let inner = &s[1..s.find(')')?];
    let mut f = parse_frame(inner).or_else(|| {
        let bare = inner.split(' ').next()?;
        let addr = bare
            .strip_prefix("0x")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_hexdigit()));
        (addr || is_ident(bare) && !bare.starts_with(|c: char| c.is_ascii_digit())).then(|| Frame {
            func: bare.to_string(),
            offset: None,
            size: None,
            module: None,
            reliable: true,
            context: None,
            location: None,
            user: false,
        })
    })?;
    f.reliable &= reliable;
    Some(f)
}

/// ppc64 `[c0000000ec1cbb10] [c000000000b4e4e0] func+0xb0/0xf0 (unreliable)`: stack pointer and
/// return address, then the symbol; `(unreliable)` marks a frame the unwinder is not sure of.
#[cold]
fn ppc_frame(s: &str) -> Option<Frame> {
    let mut rest = s;
    for _ in 0..2 {
        let r = rest.strip_prefix('[')?;
        let (hex, after) = r.split_once(']')?;
        if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        rest = after.trim_ascii_start();
    }
    let (sym, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut f = parse_frame(sym)?;
    let tail = tail.trim();
    f.reliable = !tail.ends_with("(unreliable)");
    // `[c0000000ec1cbb10] [d000000001234560] ext4_write+0x40/0x80 [ext4]`
    if let Some(m) = tail.strip_prefix('[').and_then(|m| m.split_once(']')) {
        f.module = Some(m.0.to_string());
    }
    Some(f)
}

/// `0xffffffffc01d2036`: an address the kernel could not symbolize (`%pS` of a module address
/// without kallsyms, a jump to garbage).
pub fn is_address(s: &str) -> bool {
    s.strip_prefix("0x")
        .is_some_and(|d| !d.is_empty() && d.len() <= 16 && d.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// A bare unsymbolized address line inside a call trace (`0xffffffffc0a8b0c5`, `? 0xffffffffc0a8b0c5`):
/// an address-only frame. Only in a trace: elsewhere a lone number is no frame.
pub fn parse_address_frame(t: &str) -> Option<Frame> {
    let s = t.trim_ascii();
    let (s, reliable) = match s.strip_prefix("? ") {
        Some(r) => (r.trim_ascii_start(), false),
        None => (s, true),
    };
    is_address(s).then(|| Frame {
        func: s.to_string(),
        offset: None,
        size: None,
        module: None,
        reliable,
        context: None,
        location: None,
        user: false,
    })
}

/// The `from caller+0x3/0x4` tail of a 32-bit ARM frame since 5.16 (the caller is the next
/// frame's function); any other tail as it is.
fn strip_arm_from(rest: &str) -> &str {
    // Most frames have no tail at all: no substring search for them (it was 3% of a dense log).
    match rest.as_bytes().first() {
        Some(b'f') if rest.starts_with("from ") => "",
        Some(b'[') => match find_short(rest, b"] from ") {
            Some(m) => &rest[..m + 1],
            None => rest,
        },
        _ => rest,
    }
}

fn is_ident(f: &str) -> bool {
    !f.is_empty() && f.bytes().all(|c| IDENT[usize::from(c)])
}

/// The bytes of a function name in a trace: ASCII letters and digits, `_`, `.` (compiler clones
/// such as `.cold`, `.isra.0`) and `$` (one lookup per byte: this runs on every frame).
static IDENT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$';
        c += 1;
    }
    t
};

/// The first place `pat` occurs in `s`, for the short strings of a frame line: a byte loop, where
/// `str::find`'s substring searcher spends more setting up than a frame line takes to scan.
fn find_short(s: &str, pat: &[u8]) -> Option<usize> {
    let first = *pat.first()?;
    let b = s.as_bytes();
    (0..b.len()).find(|&i| b[i] == first && b[i..].starts_with(pat))
}

/// `mm/kmsan/kmsan_test.c:273`, `??:?`: one token with a `:line` suffix.
fn is_location(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((file, line)) => {
            !file.is_empty()
                && !s.bytes().any(|c| c.is_ascii_whitespace())
                && (line == "?" || !line.is_empty() && line.bytes().all(|c| c.is_ascii_digit()))
                && (file.contains('/') || file.contains('.') || file == "??")
        }
        None => false,
    }
}

/// A frame without `+off/size`: an unsymbolized address after `[<...>]`, or an inlined function
/// followed by its source location.
#[inline(never)]
fn bare_frame(sym: &str, rest: &str, bracketed: bool, reliable: bool) -> Option<Frame> {
    let frame = |func: &str, location: Option<&str>| Frame {
        func: func.to_string(),
        offset: None,
        size: None,
        module: None,
        reliable,
        context: None,
        location: location.map(str::to_string),
        user: false,
    };
    if bracketed && rest.is_empty() {
        return is_address(sym).then(|| frame(sym, None));
    }
    // 32-bit ARM since 5.16: `unwind_backtrace from show_stack+0x10/0x14` (`%ps from %pS`),
    // `func [module] from caller+0x1/0x2 [module]`.
    if !bracketed && rest.starts_with("from ") || rest.starts_with('[') && rest.contains("] from ") {
        let (module, from) = match rest.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((m, from)) => (Some(m), from),
            None => (None, rest),
        };
        let caller = from.strip_prefix("from ")?;
        // The caller is printed with its offset (`%pS`): prose (`reading from disk`) is no frame.
        let caller_ok = caller
            .split(' ')
            .next()
            .is_some_and(|c| is_address(c) || parse_frame(c).is_some_and(|f| f.offset.is_some()));
        if is_ident(sym) && !sym.starts_with(|c: char| c.is_ascii_digit()) && caller_ok {
            let mut f = frame(sym, None);
            f.module = module.map(str::to_string);
            return Some(f);
        }
        return None;
    }
    // Cheapest test first: most lines reaching here are report text with several words.
    if !rest.is_empty()
        && memchr::memchr(b' ', rest.as_bytes()).is_none()
        && is_location(rest)
        && is_ident(sym)
        && !sym.starts_with(|c: char| c.is_ascii_digit())
    {
        return Some(frame(sym, Some(rest)));
    }
    None
}

/// The fields of `CPU: 6 PID: 29060 Comm: Isolated Web Co Kdump: loaded Tainted: G  W  O  4.19.0 #5312`
/// (6.x adds `UID: 0`; `Not tainted` replaces `Tainted: ...`).
#[derive(Debug, Default, PartialEq)]
pub struct CpuLine {
    pub cpu: Option<u32>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub taint: Option<String>,
    pub kernel: Option<String>,
}

pub fn parse_cpu_line(t: &str) -> Option<CpuLine> {
    let rest = t.strip_prefix("CPU: ")?;
    let mut out = CpuLine::default();
    let (cpu, rest) = rest.split_once(' ')?;
    out.cpu = cpu.parse().ok();
    let pid_at = find_short(rest, b"PID: ")?;
    let rest = &rest[pid_at + 5..];
    let (pid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    out.pid = pid.parse().ok();
    let rest = rest.strip_prefix("Comm: ")?;
    let cut = find_space_word(rest, &[" Kdump: ", " Not tainted", " Tainted: "]).unwrap_or(rest.len());
    out.comm = Some(rest[..cut].to_string());
    let (taint, kernel) = parse_taint(&rest[cut..]);
    out.taint = taint;
    out.kernel = kernel;
    Some(out)
}

/// ` Not tainted 6.18.44 #1` / ` Tainted: P        WC O 4.8.4-build.1 #1` (the taint field has one
/// column per flag, so adjacent flags print as one word: `WC` is W and C): taint flags (`P W C O`,
/// empty when not tainted) and kernel release. Also the standalone line hung-task reports print.
pub fn parse_taint(tail: &str) -> (Option<String>, Option<String>) {
    // One pass for both words; ` Not tainted` anywhere wins over an earlier ` Tainted: `.
    let first = find_space_word(tail, &[" Not tainted", " Tainted: "]);
    let not_tainted = match first {
        Some(i) if tail.as_bytes()[i + 1] == b'N' => Some(i),
        Some(i) => find_space_word(&tail[i + 1..], &[" Not tainted"]).map(|j| i + 1 + j),
        None => None,
    };
    let (taint, after) = if let Some(i) = not_tainted {
        (Some(String::new()), &tail[i + 12..])
    } else if let Some(i) = first {
        let a = &tail[i + 10..];
        let mut flags = String::new();
        let mut rest_at = a.len();
        // Space-separated words, byte by byte (this runs on every report's CPU line): flag
        // letters until the first word that is not all capitals.
        let b = a.as_bytes();
        let mut pos = 0;
        while pos < b.len() {
            let end = b[pos..].iter().position(|&c| c == b' ').map_or(b.len(), |i| pos + i);
            let tok = &b[pos..end];
            if !tok.is_empty() && !tok.iter().all(u8::is_ascii_uppercase) {
                rest_at = pos;
                break;
            }
            for &c in tok {
                if !flags.is_empty() {
                    flags.push(' ');
                }
                flags.push(char::from(c));
            }
            pos = end + 1;
        }
        (Some(flags), &a[rest_at.min(a.len())..])
    } else {
        (None, "")
    };
    let kernel =
        after.split_whitespace().next().filter(|k| k.as_bytes()[0].is_ascii_digit()).map(str::to_string);
    (taint, kernel)
}

/// The first position where one of `pats` (each starting with a space) occurs: one pass over the
/// spaces of `s` instead of a substring searcher per pattern (a byte loop: the taint columns of a
/// CPU line are runs of spaces, where restarting `memchr` at each one costs more).
fn find_space_word(s: &str, pats: &[&str]) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| b[i] == b' ' && pats.iter().any(|p| b[i..].starts_with(p.as_bytes())))
}

/// x86-64 (`RAX: ... RBX: ...`, `RIP: 0010:func+0x1/0x2`) and arm64 (`x29: ... x28: ...`,
/// `pc : func+0x..`, `pstate: ...`) register lines. Returns `None` when the line is not one.
pub fn parse_registers(t: &str) -> Option<Vec<Register>> {
    let mut regs = Vec::new();
    let n = visit_registers(t, |name, value| {
        regs.push(Register { name: name.to_string(), value: value.to_string() })
    });
    if n == 0 {
        None
    } else {
        Some(regs)
    }
}

/// Calls `f(name, value)` for each register of a register line, without allocating; returns how
/// many there were (0 when the line is not a register line). [`parse_registers`] collects them.
pub fn visit_registers<'a>(t: &'a str, mut f: impl FnMut(&'a str, &'a str)) -> usize {
    // The first token is a register name (2 to 8 bytes): look no further than 9 bytes for its
    // end; this runs on every kernel line that is not a frame.
    let b = t.as_bytes();
    if !b.first().is_some_and(|&c| is_reg_first(c)) {
        return 0;
    }
    let end = match b[..b.len().min(9)].iter().position(|&c| c == b':' || c == b' ') {
        Some(i) => i,
        None if b.len() <= 8 => b.len(),
        None => return 0,
    };
    if !is_reg_name(&t[..end]) {
        return 0;
    }
    let mut n = 0;
    let mut toks = t.split_ascii_whitespace().peekable();
    while let Some(tok) = toks.next() {
        let (name, value) = if let Some(name) = tok.strip_suffix(':') {
            (name, toks.next())
        } else if toks.peek() == Some(&":") {
            toks.next();
            (tok, toks.next())
        } else if let Some((name, v)) = tok.split_once(':').filter(|(name, _)| is_reg_name(name)) {
            f(name, v);
            n += 1;
            continue;
        } else {
            continue;
        };
        if !is_reg_name(name) {
            return n;
        }
        let Some(value) = value else {
            // `NAME:` at the end of the line: the original parser dropped the whole line.
            return 0;
        };
        f(name, value);
        n += 1;
    }
    n
}

/// Whether a register name can start with `c`.
fn is_reg_first(c: u8) -> bool {
    matches!(
        c,
        b'R' | b'E' | b'F' | b'G' | b'C' | b'D' | b'S' | b'O' | b'P' | b'p' | b'l' | b's' | b'f' | b'x'
    )
}

fn is_reg_name(n: &str) -> bool {
    if n.len() < 2 || n.len() > 8 || !is_reg_first(n.as_bytes()[0]) {
        return false;
    }
    if n.as_bytes()[0] == b'x' {
        // arm64 `x0`..`x30` (no other name starts with `x`): most names of an arm64 dump.
        return n.len() <= 3 && n[1..].bytes().all(|c| c.is_ascii_digit());
    }
    // The name as one integer, compared with the names' integers (a `match` on the strings
    // compiles to a byte comparison per name); this runs on most report lines.
    REG_KEYS.binary_search(&reg_key(n)).is_ok()
}

/// Every register name of x86-64, i386, arm and arm64 dumps but arm64's `x0`..`x30`.
const REG_NAMES: [&str; 50] = [
    "RIP", "RSP", "RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R08", "R09", "R10", "R11", "R12", "R13",
    "R14", "R15", "FS", "GS", "CS", "DS", "ES", "SS", "CR0", "CR2", "CR3", "CR4", "DR0", "DR1", "DR2", "DR3",
    "DR6", "DR7", "EFLAGS", "ORIG_RAX", "EIP", "EAX", "EBX", "ECX", "EDX", "ESI", "EDI", "EBP", "ESP",
    "PKRU", "pc", "lr", "sp", "pstate", "fp",
];

/// A name of at most 8 bytes as an integer (bytes in order, so distinct names differ).
const fn reg_key(n: &str) -> u64 {
    let b = n.as_bytes();
    let mut k = 0u64;
    let mut i = 0;
    while i < b.len() && i < 8 {
        k = k << 8 | b[i] as u64;
        i += 1;
    }
    k
}

/// [`REG_NAMES`] as [`reg_key`]s, sorted.
const REG_KEYS: [u64; REG_NAMES.len()] = {
    let mut keys = [0u64; REG_NAMES.len()];
    let mut i = 0;
    while i < REG_NAMES.len() {
        // Insertion sort (a const context has no `sort`).
        let k = reg_key(REG_NAMES[i]);
        let mut j = i;
        while j > 0 && keys[j - 1] > k {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = k;
        i += 1;
    }
    keys
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_numbers_read_as_std_does() {
        let std_number = |s: &str| match s.strip_prefix("0x") {
            Some(h) if !h.is_empty() => u64::from_str_radix(h, 16).ok(),
            Some(_) => None,
            None if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => s.parse().ok(),
            None => None,
        };
        for s in [
            "0x0",
            "0x190",
            "0xFFfe",
            "0x+1f",
            "0x+",
            "0x",
            "0x-1",
            "0xg",
            "26",
            "+26",
            "-26",
            "",
            "0",
            "x1",
            "0xffffffffffffffff",
            "0x10000000000000000",
            "18446744073709551615",
            "18446744073709551616",
            "0x 1",
            "1 ",
            "0x1f/",
            "\u{e9}",
            "0x\u{e9}",
        ] {
            assert_eq!(symbol_number(s.as_bytes()), std_number(s), "{s:?}");
        }
    }

    #[test]
    fn register_names() {
        for n in REG_NAMES.iter().chain(&["x0", "x9", "x29", "x30"]) {
            assert!(is_reg_name(n), "{n}");
        }
        for n in
            ["x", "x300", "xa", "CPU", "Call", "Object", "RIPX", "RI", "R1", "pcs", "EFLAG", "ORIG_RA", "R"]
        {
            assert!(!is_reg_name(n), "{n}");
        }
    }
    #[test]
    fn frames() {
        let f = parse_frame(" ? srso_return_thunk+0x5/0x5f").unwrap();
        assert_eq!((f.func.as_str(), f.reliable, f.offset), ("srso_return_thunk", false, Some(5)));
        let f = parse_frame("[<ffffffff8105a2b0>] ? warn_slowpath_common+0x80/0xc0 [ext4]").unwrap();
        assert_eq!((f.func.as_str(), f.module.as_deref()), ("warn_slowpath_common", Some("ext4")));
        assert!(parse_frame("Call trace:").is_none());
        assert!(parse_frame("foo bar+0x1/0x2").is_none());
        let f = parse_frame(" kunit_try_run_case+0x206/0x420 lib/kunit/test.c:374").unwrap();
        assert_eq!(f.location.as_deref(), Some("lib/kunit/test.c:374"));
        let f = parse_frame(" kunit_run_case_internal lib/kunit/test.c:333").unwrap();
        assert_eq!((f.func.as_str(), f.offset), ("kunit_run_case_internal", None));
        let f = parse_frame("[<00000000e0a73ec7>] 0xffffffffc01d2036").unwrap();
        assert_eq!(f.func, "0xffffffffc01d2036");
        assert!(parse_frame("0xffffffffc01d2036").is_none());
        assert!(parse_frame("Hardware name: QEMU Standard PC").is_none());
        assert!(parse_frame("name fault_inject, interval 1").is_none());
        assert!(parse_frame("Bytes 4-7 of 8 are uninitialized").is_none());
        let f = parse_frame(
            "[<c0012345>] (blk_rq_map_sg+0x70/0x2c0) from [<c0056789>] (mmc_queue_map_sg+0x2c/0xa4)",
        )
        .unwrap();
        assert_eq!((f.func.as_str(), f.offset), ("blk_rq_map_sg", Some(0x70)));
        assert_eq!(parse_frame("[<bf012345>] (0xbf012345)").unwrap().func, "0xbf012345");
        let f =
            parse_frame("[c0000000ec1cbb10] [c000000000b4e4e0] dump_stack+0xb0/0xf0 (unreliable)").unwrap();
        assert_eq!((f.func.as_str(), f.reliable), ("dump_stack", false));
        assert!(parse_frame("[0c0c9ca0] *pgd=00000000").is_none());
        let f = parse_frame("[c0000000ec1cbb10] [d000000001234560] ext4_write+0x40/0x80 [ext4]").unwrap();
        assert_eq!((f.func.as_str(), f.module.as_deref(), f.reliable), ("ext4_write", Some("ext4"), true));
        // s390 before 5.x: the parenthesised first frame.
        let f = parse_frame("([<000000000011b0a2>] show_trace+0x13a/0x160)").unwrap();
        assert_eq!((f.func.as_str(), f.offset, f.reliable), ("show_trace", Some(0x13a), false));
        let f = parse_frame(" [<0000000000112233>] dump_stack+0x8a/0xb8 ").unwrap();
        assert_eq!((f.func.as_str(), f.reliable), ("dump_stack", true));
        // 32-bit ARM since 5.16.
        let f = parse_frame(" unwind_backtrace from show_stack+0x10/0x14").unwrap();
        assert_eq!((f.func.as_str(), f.offset), ("unwind_backtrace", None));
        let f = parse_frame(" dump_stack_lvl+0x40/0x4c from panic+0x118/0x358").unwrap();
        assert_eq!((f.func.as_str(), f.offset), ("dump_stack_lvl", Some(0x40)));
        let f = parse_frame(" nf_hook_slow [nf_tables] from ip_rcv+0x50/0x80").unwrap();
        assert_eq!((f.func.as_str(), f.module.as_deref()), ("nf_hook_slow", Some("nf_tables")));
        assert!(parse_frame("reading from disk").is_none());
        assert!(parse_frame("reading from disk sector 12").is_none());
        // Unsymbolized addresses: frames only inside a trace.
        let f = parse_address_frame(" ? 0xffffffffc0a8b0c5").unwrap();
        assert_eq!((f.func.as_str(), f.reliable), ("0xffffffffc0a8b0c5", false));
        assert!(parse_address_frame("0x12 bytes").is_none());
        let f = parse_frame("[<f0123456>] 0xf0123456").unwrap();
        assert_eq!(f.func, "0xf0123456");
    }
    #[test]
    fn cpu() {
        let c = parse_cpu_line("CPU: 6 PID: 29060 Comm: Isolated Web Co Kdump: loaded Tainted: G        W  O      4.19.0-arm64-desktop #5312").unwrap();
        assert_eq!(c.comm.as_deref(), Some("Isolated Web Co"));
        assert_eq!(c.taint.as_deref(), Some("G W O"));
        assert_eq!(c.kernel.as_deref(), Some("4.19.0-arm64-desktop"));
        let c =
            parse_cpu_line("CPU: 1 PID: 28102 Comm: rmmod Tainted: P        WC O 4.8.4-build.1 #1").unwrap();
        assert_eq!((c.taint.as_deref(), c.kernel.as_deref()), (Some("P W C O"), Some("4.8.4-build.1")));
        assert_eq!(
            parse_taint("      Not tainted 6.18.44-fc-v657 #1"),
            (Some(String::new()), Some("6.18.44-fc-v657".to_string()))
        );
        let c = parse_cpu_line(
            "CPU: 0 UID: 0 PID: 11452 Comm: python3 Not tainted 6.18.44-fc-v509 #1 PREEMPT(none) ",
        )
        .unwrap();
        assert_eq!(
            (c.pid, c.kernel.as_deref(), c.taint.as_deref()),
            (Some(11452), Some("6.18.44-fc-v509"), Some(""))
        );
    }
    #[test]
    fn regs() {
        let r = parse_registers("x9 : 0000000000000000 x8 : 0000000000000004 ").unwrap();
        assert_eq!(r.len(), 2);
        let r = parse_registers("RSP: 002b:00007ffc1c3af818 EFLAGS: 00010206").unwrap();
        assert_eq!(r[1].name, "EFLAGS");
        let r = parse_registers("pc : dentry_free+0x24/0xa8").unwrap();
        assert_eq!(r[0].value, "dentry_free+0x24/0xa8");
        assert!(parse_registers("Call trace:").is_none());
        assert!(parse_registers("RIP: 0033:0x7f64fa38c0ba").is_some());
    }
}
