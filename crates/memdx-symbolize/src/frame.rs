//! Finding kernel stack frames in any line of text: `func+0xoff/0xlen`, `func+0xoff` (bcc), a
//! trailing `[module]`, `? func+...` (unreliable), `pc : func+0x24/0xa8` (arm64),
//! `RIP: 0010:func+0x12/0x40` (x86), `[<ffffffff81234567>] func+...` (old kernels, giving the
//! runtime address too) and bare `[<ffffffff81234567>]` or ` => 0xffffffff81234567` addresses.
//!
//! Written by hand: the formats are the kernel's `%pS`/`%pB` output, which no crate parses.

use memdx_log::Frame;
use std::ops::Range;

/// One frame found in a line: the log engine's [`Frame`] (a bare address has the address as its
/// `func` and no offset, as the log engine keeps unsymbolized frames) and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRef {
    /// Byte range of the frame text in the line (the symbol form, or the address for a raw frame).
    pub span: Range<usize>,
    /// `reliable` is false for a frame printed with a leading `? ` (the unwinder was not sure).
    pub frame: Frame,
    /// A runtime address printed beside the symbol (`[<ffffffff81234567>]`), or the address of a
    /// raw frame.
    pub runtime_address: Option<u64>,
}

impl FrameRef {
    fn symbol(
        span: Range<usize>,
        func: String,
        offset: u64,
        size: Option<u64>,
        module: Option<String>,
    ) -> Self {
        let mut frame = Frame::symbol(func, Some(offset), module, false);
        frame.size = size;
        FrameRef { span, frame, runtime_address: None }
    }

    fn raw(span: Range<usize>, addr: u64) -> Self {
        FrameRef {
            span,
            frame: Frame::symbol(format!("{addr:#x}"), None, None, false),
            runtime_address: Some(addr),
        }
    }

    /// The address of a frame printed as a bare address (no symbol).
    pub fn raw_address(&self) -> Option<u64> {
        self.frame.offset.is_none().then_some(self.runtime_address).flatten()
    }

    /// The frame in the canonical `func+0xoff/0xlen [module]` form.
    pub fn text(&self) -> String {
        let f = &self.frame;
        match f.offset {
            Some(o) => format_frame(&f.func, o, f.size, f.module.as_deref()),
            None => f.func.clone(),
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
            return Some(FrameRef::raw(0..t.len(), a));
        }
    }
    let frames = find_frames(t);
    match frames.as_slice() {
        [f] if f.span.start == 0 && f.raw_address().is_none() => Some(f.clone()),
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
                        let mut f = FrameRef { runtime_address: Some(addr), ..f };
                        f.frame.reliable = !unreliable_at;
                        out.push(f);
                        i = next;
                    } else {
                        out.push(FrameRef::raw((i + 2)..end, addr));
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
                    out.push(FrameRef::raw((i + 3)..end, addr));
                    i = end;
                    continue;
                }
            }
        }
        let boundary = i == 0 || !is_ident(s[i - 1]);
        if boundary && is_ident(s[i]) {
            if let Some((mut f, next)) = symbol_at(s, i) {
                f.frame.reliable = !(i >= 2 && &s[i - 2..i] == b"? ");
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
    // `+0xoff[/0xsize]`, read by the log engine's reader of the symbol form; in free text only the
    // `0x` form is a frame (`a+1` is arithmetic).
    let end = name_end
        + 1
        + s[name_end + 1..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'/').count();
    let token = std::str::from_utf8(&s[pos..end]).ok()?;
    let numbers = &token[name_end - pos + 1..];
    if !numbers.split('/').all(|n| n.starts_with("0x")) || s.get(end).is_some_and(|&b| is_ident(b)) {
        return None;
    }
    let (_, offset, size) = memdx_log::split_symbol(token)?;
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
    Some((FrameRef::symbol(span, func, offset, size, module), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(f: &FrameRef) -> (String, u64, Option<u64>, Option<String>) {
        assert_eq!(f.raw_address(), None, "address frame");
        let fr = &f.frame;
        (fr.func.clone(), fr.offset.unwrap(), fr.size, fr.module.clone())
    }

    #[test]
    fn formats() {
        let f = find_frames("[  203.2] ? ext4_i_callback+0x18/0x20 [ext4]");
        assert_eq!(f.len(), 1);
        assert!(!f[0].frame.reliable);
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
        assert_eq!(f[0].raw_address(), Some(0xffffffffc0123456));
        let f = find_frames("x [<ffffffffc0123456>]");
        assert_eq!(f[0].raw_address(), Some(0xffffffffc0123456));
        assert!(find_frames("TRACE kernfs_node_cache free 0x00000000e2ea365c inuse=34").is_empty());
        assert!(find_frames("a+b 0x1+0x2 x+0x").is_empty());
        let f = find_frames("foo.constprop.0+0x1/0x2 [nf_tables 0123abcd]");
        assert_eq!(sym(&f[0]), ("foo.constprop.0".into(), 1, Some(2), Some("nf_tables".into())));
        assert_eq!(parse_frame_arg("kthread+0x128").map(|f| f.text()), Some("kthread+0x128".to_string()));
        assert!(parse_frame_arg("junk kthread+0x128").is_none());
    }

    /// Every frame of the arm64 formats in seeds 000 (4.19 kern.log with a syslog prefix, SLUB
    /// `trace` stacks) and 004 (4.19 warning and oops: `pc : `, `lr : `, `Call trace:` without `?`),
    /// and of pre-4.15 arm64 kernels (`PC is at`, `LR is at`, `pc : [<addr>] lr : [<addr>]`).
    #[test]
    fn arm64_formats() {
        let one = |line: &str| -> (String, u64, Option<u64>, Option<String>) {
            let f = find_frames(line);
            assert_eq!(f.len(), 1, "{line}: {f:?}");
            assert!(f[0].frame.reliable && f[0].runtime_address.is_none(), "{line}");
            assert_eq!(&line[f[0].span.clone()], f[0].text(), "{line}");
            sym(&f[0])
        };
        let s = |f: &str, o: u64, z: u64| (f.to_string(), o, Some(z), None::<String>);
        // Seed 004.
        assert_eq!(one("[201866.888862] pc : dentry_free+0x24/0xa8"), s("dentry_free", 0x24, 0xa8));
        assert_eq!(one("[201866.971518] lr : ext4_i_callback+0x18/0x20"), s("ext4_i_callback", 0x18, 0x20));
        assert_eq!(one("[201866.888894]  __dentry_kill+0x148/0x1d0"), s("__dentry_kill", 0x148, 0x1d0));
        assert_eq!(one("[201866.888940]  ret_from_fork+0x10/0x18"), s("ret_from_fork", 0x10, 0x18));
        assert_eq!(one("[201866.971583]  el1_irq+0xb0/0x140"), s("el1_irq", 0xb0, 0x140));
        assert_eq!(
            one("[201866.888860] WARNING: CPU: 2 PID: 67 at fs/dcache.c:338 dentry_free+0x24/0xa8"),
            s("dentry_free", 0x24, 0xa8)
        );
        for line in [
            "[201866.888864] sp : ffff8003dd467a70",
            "[201866.888865] x29: ffff8003dd467a70 x28: 000000000000040e ",
            "[201866.888883] x9 : 0000000000000000 x8 : 0000000000000004 ",
            "[201866.888890] Call trace:",
            "[201866.971487] pstate: a0400005 (NzCv daif +PAN -UAO)",
            "[201866.948553] [00000000000000d0] pgd=000000014eba4003, pud=0000000000000000",
            "[201867.029366] Code: 9a820000 f9400c00 eb0002bf 54fff980 (f9406801) ",
            "[201866.971480] Process Isolated Web Co (pid: 29060, stack limit = 0x0000000033ac522b)",
        ] {
            assert!(find_frames(line).is_empty(), "{line}");
        }
        // Seed 000: kern.log lines (as quoted, with the line number in front).
        let k = "1681 2024-01-24 12:40:55 0000000g-A8cUta6pu5 kernel: [  201.464272]  ";
        assert_eq!(
            one(&format!("{k}___slab_alloc.constprop.34+0x31c/0x388")),
            s("___slab_alloc.constprop.34", 0x31c, 0x388)
        );
        assert_eq!(one(&format!("{k}dump_backtrace+0x0/0x190")), s("dump_backtrace", 0, 0x190));
        assert_eq!(one(&format!("{k}__arm64_sys_mkdirat+0x1c/0x28")), s("__arm64_sys_mkdirat", 0x1c, 0x28));
        assert_eq!(one(&format!("{k}el0_svc+0x8/0xc")), s("el0_svc", 0x8, 0xc));
        for line in [
            "1673 2024-01-24 12:40:55 0000000g-A8cUta6pu5 kernel: [  201.452633] TRACE kernfs_node_cache alloc 0x00000000a05f4917 inuse=35 fp=0x          (null)",
            "3107 2024-01-24 12:40:56 0000000g-A8cUta6pu5 kernel: [  203.215538] Object 00000000e2ea365c: 00 00 00 00 01 00 00 80 78 a2 37 a6 03 80 ff ff  ........x.7.....",
        ] {
            assert!(find_frames(line).is_empty(), "{line}");
        }
        // arm64 before 4.15.
        assert_eq!(one("[ 12.3] PC is at kmem_cache_free+0xfc/0x1c8"), s("kmem_cache_free", 0xfc, 0x1c8));
        assert_eq!(one("[ 12.3] LR is at ext4_i_callback+0x18/0x20"), s("ext4_i_callback", 0x18, 0x20));
        let f = find_frames("[ 12.3] pc : [<ffff000008239e0c>] lr : [<ffff0000082385bc>] pstate: 60000145");
        let raw: Vec<_> = f.iter().map(|f| f.raw_address()).collect();
        assert_eq!(raw, [Some(0xffff000008239e0c), Some(0xffff0000082385bc)]);
        let f = find_frames("[ 12.3] [<ffff000008085d3c>] dump_backtrace+0x0/0x270");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].runtime_address, Some(0xffff000008085d3c));
        assert_eq!(sym(&f[0]), s("dump_backtrace", 0, 0x270));
        // arm64 modules on 6.x print a build id after the name.
        let f = find_frames(" ext4_i_callback+0x18/0x20 [ext4 5a1b2c3d4e5f60718293a4b5c6d7e8f901234567]");
        assert_eq!(sym(&f[0]), ("ext4_i_callback".into(), 0x18, Some(0x20), Some("ext4".into())));
    }
}
