//! Finding kernel stack frames in any line of text: `func+0xoff/0xlen`, `func+0xoff` (bcc), a
//! trailing `[module]`, `? func+...` (unreliable), `pc : func+0x24/0xa8` (arm64),
//! `RIP: 0010:func+0x12/0x40` (x86), `[<ffffffff81234567>] func+...` (old kernels, giving the
//! runtime address too) and bare `[<ffffffff81234567>]` or ` => 0xffffffff81234567` addresses.
//!
//! Written by hand: the formats are the kernel's `%pS`/`%pB` output, which no crate parses.

use std::ops::Range;

/// One frame found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRef {
    /// Byte range of the frame text in the line (the symbol form, or the address for a raw frame).
    pub span: Range<usize>,
    pub kind: FrameKind,
    /// Printed with a leading `? ` (the unwinder was not sure the frame is real).
    pub unreliable: bool,
    /// A runtime address printed beside the symbol (`[<ffffffff81234567>]`), if any.
    pub runtime_address: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameKind {
    /// `func+0xoff[/0xlen] [module]`.
    Symbol { func: String, offset: u64, size: Option<u64>, module: Option<String> },
    /// A bare runtime address.
    Address(u64),
}

impl FrameRef {
    /// The frame in the canonical `func+0xoff/0xlen [module]` form.
    pub fn text(&self) -> String {
        match &self.kind {
            FrameKind::Symbol { func, offset, size, module } => {
                format_frame(func, *offset, *size, module.as_deref())
            }
            FrameKind::Address(a) => format!("{a:#x}"),
        }
    }
}

pub(crate) fn format_frame(func: &str, offset: u64, size: Option<u64>, module: Option<&str>) -> String {
    let mut s = format!("{func}+{offset:#x}");
    if let Some(z) = size {
        s.push_str(&format!("/{z:#x}"));
    }
    if let Some(m) = module {
        s.push_str(&format!(" [{m}]"));
    }
    s
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$'
}

/// Parses `0x` followed by hex digits at `pos`; returns the value and the end.
fn hex_at(s: &[u8], pos: usize) -> Option<(u64, usize)> {
    if s.get(pos) != Some(&b'0') || !matches!(s.get(pos + 1), Some(b'x') | Some(b'X')) {
        return None;
    }
    bare_hex_at(s, pos + 2)
}

fn bare_hex_at(s: &[u8], pos: usize) -> Option<(u64, usize)> {
    let end = pos + s.get(pos..)?.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if end == pos || end - pos > 16 {
        return None;
    }
    let text = std::str::from_utf8(&s[pos..end]).ok()?;
    Some((u64::from_str_radix(text, 16).ok()?, end))
}

/// Parses one frame written alone, as given on a command line: `func+0xoff/0xlen`, `func+0xoff`,
/// optionally followed by ` [module]` or `[module]`, or a bare address `0xffffffff81234567`.
pub fn parse_frame_arg(arg: &str) -> Option<FrameRef> {
    let t = arg.trim();
    if let Some((a, end)) = hex_at(t.as_bytes(), 0) {
        if end == t.len() {
            return Some(FrameRef {
                span: 0..t.len(),
                kind: FrameKind::Address(a),
                unreliable: false,
                runtime_address: None,
            });
        }
    }
    let frames = find_frames(t);
    match frames.as_slice() {
        [f] if f.span.start == 0 && matches!(f.kind, FrameKind::Symbol { .. }) => Some(f.clone()),
        _ => None,
    }
}

/// All frames in `line`, in order.
pub fn find_frames(line: &str) -> Vec<FrameRef> {
    let s = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        // `[<ffffffff81234567>]`: the runtime address of old-style traces and of raw frames.
        if s[i] == b'[' && s.get(i + 1) == Some(&b'<') {
            let start = i + 2;
            let start = if s.get(start..start + 2) == Some(b"0x") { start + 2 } else { start };
            if let Some((addr, end)) = bare_hex_at(s, start) {
                if s.get(end..end + 2) == Some(b">]") {
                    let after = end + 2;
                    let mut j = after;
                    while s.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    let unreliable_at = s.get(j..j + 2) == Some(b"? ");
                    let k = if unreliable_at { j + 2 } else { j };
                    if let Some((f, next)) = symbol_at(s, k) {
                        out.push(FrameRef { runtime_address: Some(addr), unreliable: unreliable_at, ..f });
                        i = next;
                    } else {
                        out.push(FrameRef {
                            span: (i + 2)..end,
                            kind: FrameKind::Address(addr),
                            unreliable: false,
                            runtime_address: Some(addr),
                        });
                        i = after;
                    }
                    continue;
                }
            }
        }
        // ` => 0xffffffff81234567` (ftrace stack traces of unresolved addresses).
        if s[i] == b'=' && s.get(i + 1) == Some(&b'>') && s.get(i + 2) == Some(&b' ') {
            if let Some((addr, end)) = hex_at(s, i + 3) {
                if end == s.len() || s[end].is_ascii_whitespace() {
                    out.push(FrameRef {
                        span: (i + 3)..end,
                        kind: FrameKind::Address(addr),
                        unreliable: false,
                        runtime_address: Some(addr),
                    });
                    i = end;
                    continue;
                }
            }
        }
        let boundary = i == 0 || !is_ident(s[i - 1]);
        if boundary && is_ident(s[i]) {
            if let Some((mut f, next)) = symbol_at(s, i) {
                f.unreliable = i >= 2 && &s[i - 2..i] == b"? ";
                out.push(f);
                i = next;
                continue;
            }
            // Skip the rest of this word.
            while i < s.len() && is_ident(s[i]) {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    out
}

/// `func+0xoff[/0xlen][ [module...]]` starting exactly at `pos`.
fn symbol_at(s: &[u8], pos: usize) -> Option<(FrameRef, usize)> {
    let name_end = pos + s.get(pos..)?.iter().take_while(|&&b| is_ident(b)).count();
    if name_end == pos || s.get(name_end) != Some(&b'+') {
        return None;
    }
    // A name is not a number (`0x10+0x4`).
    let first = s[pos];
    if first.is_ascii_digit() {
        return None;
    }
    let (offset, mut end) = hex_at(s, name_end + 1)?;
    let mut size = None;
    if s.get(end) == Some(&b'/') {
        let (z, e) = hex_at(s, end + 1)?;
        size = Some(z);
        end = e;
    }
    if s.get(end).is_some_and(|&b| is_ident(b)) {
        return None;
    }
    let span = pos..end;
    let mut module = None;
    let mut next = end;
    let mut j = end;
    if s.get(j) == Some(&b' ') {
        j += 1;
    }
    if s.get(j) == Some(&b'[') {
        let m_start = j + 1;
        let m_end = m_start + s[m_start..].iter().take_while(|&&b| is_ident(b) || b == b'-').count();
        if m_end > m_start && matches!(s.get(m_end), Some(b']') | Some(b' ')) {
            let name = String::from_utf8_lossy(&s[m_start..m_end]).into_owned();
            // perf and bcc write `[kernel]`/`[kernel.kallsyms]` for vmlinux frames.
            if !name.starts_with("kernel") {
                module = Some(name);
            }
            next =
                m_start + s[m_start..].iter().position(|&b| b == b']').map_or(s.len() - m_start, |p| p + 1);
        }
    }
    let func = String::from_utf8_lossy(&s[pos..name_end]).into_owned();
    Some((
        FrameRef {
            span,
            kind: FrameKind::Symbol { func, offset, size, module },
            unreliable: false,
            runtime_address: None,
        },
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(f: &FrameRef) -> (String, u64, Option<u64>, Option<String>) {
        match &f.kind {
            FrameKind::Symbol { func, offset, size, module } => {
                (func.clone(), *offset, *size, module.clone())
            }
            FrameKind::Address(_) => panic!("address frame"),
        }
    }

    #[test]
    fn formats() {
        let f = find_frames("[  203.2] ? ext4_i_callback+0x18/0x20 [ext4]");
        assert_eq!(f.len(), 1);
        assert!(f[0].unreliable);
        assert_eq!(sym(&f[0]), ("ext4_i_callback".into(), 0x18, Some(0x20), Some("ext4".into())));
        let f = find_frames("pc : kmem_cache_free+0xfc/0x1c8");
        assert_eq!(sym(&f[0]).0, "kmem_cache_free");
        let f = find_frames("RIP: 0010:dentry_free+0x9e/0xb0");
        assert_eq!(sym(&f[0]), ("dentry_free".into(), 0x9e, Some(0xb0), None));
        let f = find_frames(" [<ffffffff8123abcd>] kfree+0x10/0x40");
        assert_eq!(f[0].runtime_address, Some(0xffffffff8123abcd));
        let f = find_frames("        kmem_cache_alloc+0x1a0 [kernel]");
        assert_eq!(sym(&f[0]), ("kmem_cache_alloc".into(), 0x1a0, None, None));
        let f = find_frames(" => 0xffffffffc0123456");
        assert_eq!(f[0].kind, FrameKind::Address(0xffffffffc0123456));
        let f = find_frames("x [<ffffffffc0123456>]");
        assert_eq!(f[0].kind, FrameKind::Address(0xffffffffc0123456));
        assert!(find_frames("TRACE kernfs_node_cache free 0x00000000e2ea365c inuse=34").is_empty());
        assert!(find_frames("a+b 0x1+0x2 x+0x").is_empty());
        let f = find_frames("foo.constprop.0+0x1/0x2 [nf_tables 0123abcd]");
        assert_eq!(sym(&f[0]), ("foo.constprop.0".into(), 1, Some(2), Some("nf_tables".into())));
        assert_eq!(parse_frame_arg("kthread+0x128").map(|f| f.text()), Some("kthread+0x128".to_string()));
        assert!(parse_frame_arg("junk kthread+0x128").is_none());
    }
}
