//! Parsers for single lines inside reports: frames, the `CPU: ... Comm:` line, registers.

use crate::model::{Frame, Register};

fn hex(s: &str) -> Option<u64> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(s, 16).ok()
}

/// ` ? func+0x24/0xa8 [module]`, ` [<ffffffff81234>] func+0x1/0x2`, `func+0x1/0x2 (file.c:12)`.
pub fn parse_frame(t: &str) -> Option<Frame> {
    let mut s = t.trim_ascii();
    let mut reliable = true;
    if let Some(r) = s.strip_prefix("? ") {
        reliable = false;
        s = r.trim_ascii_start();
    }
    if let Some(r) = s.strip_prefix("[<") {
        let end = r.find(">]")?;
        s = r[end + 2..].trim_ascii_start();
        if let Some(r) = s.strip_prefix("? ") {
            reliable = false;
            s = r.trim_ascii_start();
        }
    }
    let (sym, rest) = match s.bytes().position(|c| c == b' ') {
        Some(i) => (&s[..i], s[i + 1..].trim_ascii()),
        None => (s, ""),
    };
    let plus = sym.bytes().rposition(|c| c == b'+')?;
    let func = &sym[..plus];
    if func.is_empty()
        || !func.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$')
    {
        return None;
    }
    let after = &sym[plus + 1..];
    let slash = after.bytes().position(|c| c == b'/')?;
    let (off, size) = (&after[..slash], &after[slash + 1..]);
    let offset = hex(off)?;
    let size = hex(size)?;
    let mut module = None;
    let mut location = None;
    if let Some(m) = rest.strip_prefix('[') {
        module = Some(m.split(']').next().unwrap_or(m).to_string());
    } else if let Some(l) = rest.strip_prefix('(') {
        location = Some(l.trim_end_matches(')').to_string());
    } else if !rest.is_empty() {
        return None;
    }
    Some(Frame {
        func: func.to_string(),
        offset: Some(offset),
        size: Some(size),
        module,
        reliable,
        context: None,
        location,
    })
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
    let pid_at = rest.find("PID: ")?;
    let rest = &rest[pid_at + 5..];
    let (pid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    out.pid = pid.parse().ok();
    let rest = rest.strip_prefix("Comm: ")?;
    let cut = find_space_word(rest, &[" Kdump: ", " Not tainted", " Tainted: "]).unwrap_or(rest.len());
    out.comm = Some(rest[..cut].to_string());
    let tail = &rest[cut..];
    let after = if let Some(i) = find_space_word(tail, &[" Not tainted"]) {
        out.taint = Some(String::new());
        &tail[i + 12..]
    } else if let Some(i) = find_space_word(tail, &[" Tainted: "]) {
        let a = &tail[i + 10..];
        let mut flags = Vec::new();
        let mut rest_at = a.len();
        let mut pos = 0;
        for tok in a.split(' ') {
            if tok.is_empty() {
                pos += 1;
                continue;
            }
            if tok.len() == 1 && tok.as_bytes()[0].is_ascii_uppercase() {
                flags.push(tok);
                pos += tok.len() + 1;
                continue;
            }
            rest_at = pos;
            break;
        }
        out.taint = Some(flags.join(" "));
        &a[rest_at.min(a.len())..]
    } else {
        ""
    };
    out.kernel =
        after.split_whitespace().next().filter(|k| k.as_bytes()[0].is_ascii_digit()).map(str::to_string);
    Some(out)
}

/// The first position where one of `pats` (each starting with a space) occurs: one pass over the
/// spaces of `s` instead of a substring searcher per pattern.
fn find_space_word(s: &str, pats: &[&str]) -> Option<usize> {
    memchr::memchr_iter(b' ', s.as_bytes())
        .find(|&i| pats.iter().any(|p| s.as_bytes()[i..].starts_with(p.as_bytes())))
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
    let end = t.bytes().position(|c| c == b':' || c == b' ').unwrap_or(t.len());
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

fn is_reg_name(n: &str) -> bool {
    if n.len() < 2
        || n.len() > 8
        || !matches!(
            n.as_bytes()[0],
            b'R' | b'E' | b'F' | b'G' | b'C' | b'D' | b'S' | b'O' | b'P' | b'p' | b'l' | b's' | b'f' | b'x'
        )
    {
        return false;
    }
    // A `match` compiles to a length switch and a few word compares; this runs on most report lines.
    matches!(
        n,
        "RIP"
            | "RSP"
            | "RAX"
            | "RBX"
            | "RCX"
            | "RDX"
            | "RSI"
            | "RDI"
            | "RBP"
            | "R08"
            | "R09"
            | "R10"
            | "R11"
            | "R12"
            | "R13"
            | "R14"
            | "R15"
            | "FS"
            | "GS"
            | "CS"
            | "DS"
            | "ES"
            | "SS"
            | "CR0"
            | "CR2"
            | "CR3"
            | "CR4"
            | "DR0"
            | "DR1"
            | "DR2"
            | "DR3"
            | "DR6"
            | "DR7"
            | "EFLAGS"
            | "ORIG_RAX"
            | "EIP"
            | "EAX"
            | "EBX"
            | "ECX"
            | "EDX"
            | "ESI"
            | "EDI"
            | "EBP"
            | "ESP"
            | "PKRU"
            | "pc"
            | "lr"
            | "sp"
            | "pstate"
            | "fp"
    ) || n.len() >= 2 && n.len() <= 3 && n.starts_with('x') && n[1..].bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn frames() {
        let f = parse_frame(" ? srso_return_thunk+0x5/0x5f").unwrap();
        assert_eq!((f.func.as_str(), f.reliable, f.offset), ("srso_return_thunk", false, Some(5)));
        let f = parse_frame("[<ffffffff8105a2b0>] ? warn_slowpath_common+0x80/0xc0 [ext4]").unwrap();
        assert_eq!((f.func.as_str(), f.module.as_deref()), ("warn_slowpath_common", Some("ext4")));
        assert!(parse_frame("Call trace:").is_none());
        assert!(parse_frame("foo bar+0x1/0x2").is_none());
    }
    #[test]
    fn cpu() {
        let c = parse_cpu_line("CPU: 6 PID: 29060 Comm: Isolated Web Co Kdump: loaded Tainted: G        W  O      4.19.0-arm64-desktop #5312").unwrap();
        assert_eq!(c.comm.as_deref(), Some("Isolated Web Co"));
        assert_eq!(c.taint.as_deref(), Some("G W O"));
        assert_eq!(c.kernel.as_deref(), Some("4.19.0-arm64-desktop"));
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
