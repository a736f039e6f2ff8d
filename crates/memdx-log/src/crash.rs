//! `crash` session outputs: `bt` (with `-l`, and the registers of its first exception frame), `ps`
//! (tasks and state counts), `kmem -i`, `mount`, `swap`, `dis -l` (instructions with source lines)
//! and `struct` (member offsets with `-o`, member values with an address). `log` output is ordinary
//! kernel log and goes through the report engine.
//!
//! [`Session::finish`] reads the exception the way one does by hand: the faulting instruction from
//! `dis`, the register it dereferences and that register's value, the member at the offset (from a
//! `struct -o` layout), where the register was loaded from (the instruction before that writes it)
//! and what the `struct` dump at that address holds (NULL members, sentinel values such as LONG_MIN).

use crate::builder::Builder;
use crate::model::*;
use memdx_core::SourceRef;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Bt,
    Ps,
    Kmem,
    Mount,
    Swap,
    Log,
    Dis,
    Struct,
    Other,
}

pub fn command(t: &str) -> Option<(Cmd, String)> {
    let c = t.strip_prefix("crash> ")?.trim();
    let word = c.split_whitespace().next().unwrap_or("");
    let cmd = match word {
        "bt" => Cmd::Bt,
        "ps" => Cmd::Ps,
        "kmem" if c.contains("-i") => Cmd::Kmem,
        "mount" => Cmd::Mount,
        "swap" => Cmd::Swap,
        "log" | "dmesg" => Cmd::Log,
        "dis" => Cmd::Dis,
        "struct" => Cmd::Struct,
        _ => Cmd::Other,
    };
    Some((cmd, c.to_string()))
}

#[derive(Default)]
pub struct Session {
    pub case: CrashCase,
    pub bt: Option<Builder>,
    tasks: Vec<CrashTask>,
    mounts: u32,
    swaps: u32,
    /// Reading the register lines of the first exception frame.
    in_exception: bool,
    /// `dis -l`: the source line the next instructions belong to.
    dis_location: Option<String>,
    dis: Vec<DisLine>,
    /// `struct` command being read: (name, address, layout), and the brace depth of a dump.
    pending_struct: Option<(String, Option<String>, bool)>,
    struct_depth: u32,
    states: Vec<(String, u32)>,
}

/// One instruction of `crash> dis -l`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisLine {
    pub address: u64,
    /// `oom_evaluate_task+291`.
    pub symbol: String,
    /// Mnemonic and operands, whitespace collapsed: `mov 0x8a4(%rdi),%edx`.
    pub instruction: String,
    /// `file:line` from the `dis -l` line above it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub source: SourceRef,
}

/// One member of a `crash> struct` output: its offset (`-o`), declaration and value (dump).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StructMember {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub source: SourceRef,
}

/// `crash> struct NAME -o` (a layout: `address` is `None`) or `crash> struct NAME ADDR` (a dump).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StructOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub members: Vec<StructMember>,
}

impl StructOut {
    pub fn member(&self, name: &str) -> Option<&StructMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// A dereference of a NULL (or near-NULL) register at an offset, named as far as the session allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NullDeref {
    /// Register holding the pointer (`rdi`, `x0`) and its offset in the access.
    pub register: String,
    pub offset: u64,
    /// `task_struct.exit_signal`: the member at that offset, from a `struct -o` layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The instruction that loaded the register: `mov 0x28(%rbp),%rdi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_by: Option<DisLine>,
    /// `oom_control.chosen`: the member the NULL pointer was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Its value in the `struct` dump at that address (`0x0` confirms it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer_value: Option<String>,
}

/// The first exception frame of `crash> bt` and what the session says about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exception {
    /// `oom_evaluate_task+291`.
    pub pc: String,
    pub registers: Vec<Register>,
    pub source: SourceRef,
    /// The instruction at the pc, from `dis -l`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<DisLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_deref: Option<NullDeref>,
    /// Struct dump members holding NULL or a sentinel (`chosen_points = LONG_MIN`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notable: Vec<Fact>,
    /// One sentence: what the exception is, as far as the session tells.
    pub summary: String,
}

impl Exception {
    pub fn register(&self, name: &str) -> Option<u64> {
        let want = name.trim_start_matches('%');
        self.registers
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(want))
            .and_then(|r| u64::from_str_radix(r.value.trim_start_matches("0x"), 16).ok())
    }
}

impl Session {
    pub fn begin(&mut self, cmd: Cmd, text: String) {
        self.pending_struct = None;
        self.struct_depth = 0;
        self.dis_location = None;
        self.in_exception = false;
        match cmd {
            Cmd::Mount => self.case.mounts = Some(0),
            Cmd::Swap => self.case.swap_devices = Some(0),
            Cmd::Struct => self.pending_struct = struct_command(&text),
            _ => {}
        }
        self.case.commands.push(text);
        self.mounts = 0;
        self.swaps = 0;
    }

    /// One output line of `cmd`. Returns a finished `bt` builder when a new `bt` task header starts.
    pub fn line(&mut self, cmd: Cmd, raw: &str, source: &SourceRef, line: usize) -> Option<Builder> {
        let t = raw.trim();
        match cmd {
            Cmd::Bt => return self.bt_line(t, source, line),
            Cmd::Ps => self.ps_line(t),
            Cmd::Kmem => {
                if let Some(r) = memdx_parse::crash_kmem::parse_row(t) {
                    self.case.kmem.push(KmemRow {
                        label: r.label,
                        pages: r.pages,
                        total: r.total,
                        percent: r.percent,
                        line: u32::try_from(line).unwrap_or(u32::MAX),
                    });
                }
            }
            Cmd::Mount => {
                if t.split_whitespace().count() >= 5
                    && t.as_bytes().first().is_some_and(u8::is_ascii_hexdigit)
                    && !t.starts_with("MOUNT")
                {
                    self.mounts += 1;
                    self.case.mounts = Some(self.mounts);
                }
            }
            Cmd::Swap => {
                if !t.is_empty() && !t.starts_with("SWAP_INFO_STRUCT") && t.as_bytes()[0].is_ascii_hexdigit()
                {
                    self.swaps += 1;
                    self.case.swap_devices = Some(self.swaps);
                }
            }
            Cmd::Dis => self.dis_line(t, source, line),
            Cmd::Struct => self.struct_line(t, source, line),
            Cmd::Log | Cmd::Other => {}
        }
        None
    }

    fn dis_line(&mut self, t: &str, source: &SourceRef, line: usize) {
        // `/usr/src/debug/*/mm/oom_kill.c: 393`
        if t.starts_with('/') || t.contains(".c: ") || t.contains(".h: ") || t.contains(".S: ") {
            if let Some((f, l)) = t.rsplit_once(": ") {
                if l.trim().parse::<u32>().is_ok() {
                    self.dis_location = Some(format!("{}:{}", f.trim(), l.trim()));
                    return;
                }
            }
        }
        // `0xffffffffb6025f03 <oom_evaluate_task+291>:     mov    0x8a4(%rdi),%edx`
        let Some(rest) = t.strip_prefix("0x") else { return };
        let Some((addr, rest)) = rest.split_once(' ') else { return };
        let Ok(address) = u64::from_str_radix(addr, 16) else { return };
        let Some((sym, insn)) = rest.trim_start().strip_prefix('<').and_then(|r| r.split_once(">:")) else {
            return;
        };
        let instruction = insn.split_whitespace().collect::<Vec<_>>().join(" ");
        if instruction.is_empty() || self.dis.len() >= 4096 {
            return;
        }
        if self.dis.iter().any(|d| d.address == address) {
            return;
        }
        self.dis.push(DisLine {
            address,
            symbol: sym.to_string(),
            instruction,
            location: self.dis_location.clone(),
            source: source.at(line),
        });
    }

    fn struct_line(&mut self, t: &str, source: &SourceRef, line: usize) {
        let Some((name, address, layout)) = self.pending_struct.clone() else { return };
        if t.is_empty() || t.starts_with("SIZE:") {
            return;
        }
        let at = || source.at(line);
        let out = match self.case.structs.iter().position(|s| s.name == name && s.address == address) {
            Some(i) => i,
            None => {
                if self.case.structs.len() >= 64 {
                    return;
                }
                self.case.structs.push(StructOut {
                    name: name.clone(),
                    address: address.clone(),
                    members: Vec::new(),
                });
                self.case.structs.len() - 1
            }
        };
        let members = &mut self.case.structs[out].members;
        if members.len() >= 512 {
            return;
        }
        if layout {
            // `[0x28] struct task_struct *chosen;` (`-o` prints decimal offsets, `-xo` hex)
            let Some(r) = t.strip_prefix('[') else { return };
            let Some((off, decl)) = r.split_once(']') else { return };
            let off = off.trim();
            let offset = match off.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => off.parse().ok(),
            };
            let decl = decl.trim().trim_end_matches(';').trim().to_string();
            if let (Some(offset), Some(name)) = (offset, member_name(&decl)) {
                members.push(StructMember {
                    name,
                    offset: Some(offset),
                    decl: Some(decl),
                    value: None,
                    source: at(),
                });
            }
            return;
        }
        // A dump: `  chosen = 0x0,` at depth 1; nested structs open with `name = {`.
        if t.starts_with("struct ") && t.ends_with('{') && self.struct_depth == 0 {
            self.struct_depth = 1;
            return;
        }
        if t.starts_with('}') {
            self.struct_depth = self.struct_depth.saturating_sub(1);
            return;
        }
        let Some((m, v)) = t.split_once(" = ") else { return };
        let v = v.trim().trim_end_matches(',').trim();
        if self.struct_depth <= 1 && is_ident(m.trim()) {
            let value = if v == "{" { None } else { Some(v.to_string()) };
            members.push(StructMember {
                name: m.trim().to_string(),
                offset: None,
                decl: None,
                value,
                source: at(),
            });
        }
        if v == "{" {
            self.struct_depth += 1;
        }
    }

    fn ps_line(&mut self, t: &str) {
        let (active, t) = match t.strip_prefix('>') {
            Some(r) => (true, r.trim_start()),
            None => (false, t),
        };
        let toks: Vec<&str> = t.split_whitespace().collect();
        if toks.len() < 9 || toks[0] == "PID" {
            return;
        }
        let (Ok(pid), Ok(vsz), Ok(rss)) = (toks[0].parse::<u32>(), toks[6].parse(), toks[7].parse()) else {
            return;
        };
        self.case.task_count += 1;
        match self.states.iter().position(|(s, _)| s == toks[4]) {
            Some(i) => self.states[i].1 += 1,
            None if self.states.len() < 32 => self.states.push((toks[4].to_string(), 1)),
            None => {}
        }
        self.tasks.push(CrashTask {
            pid,
            cpu: toks[2].parse().ok(),
            active,
            state: toks[4].to_string(),
            vsz_kb: vsz,
            rss_kb: rss,
            comm: toks[8..].join(" "),
        });
    }

    fn bt_line(&mut self, t: &str, source: &SourceRef, line: usize) -> Option<Builder> {
        if let Some(r) = t.strip_prefix("PID: ") {
            // PID: 29060    TASK: ffff800035462700  CPU: 6    COMMAND: "Isolated Web Co"
            let prev = self.bt.take();
            let mut b = Builder::new(Kind::CrashBt, None, t, Stamp::default(), source.clone(), line);
            b.report.pid = r.split_whitespace().next().and_then(|p| p.parse().ok());
            b.report.cpu = crate::builder_field(t, "CPU: ").and_then(|c| c.parse().ok());
            b.report.comm = t.split_once("COMMAND: \"").map(|(_, c)| c.trim_end_matches('"').to_string());
            self.case.bt_pid = b.report.pid;
            self.case.bt_cpu = b.report.cpu;
            self.case.bt_comm = b.report.comm.clone();
            self.bt = Some(b);
            return prev;
        }
        if t == "..." && self.bt.is_none() {
            let mut b = Builder::new(
                Kind::CrashBt,
                None,
                "crash> bt (task header cut)",
                Stamp::default(),
                source.clone(),
                line,
            );
            b.report.corrupted = Some("bt output cut: frames are missing".into());
            self.bt = Some(b);
            return None;
        }
        let b = self.bt.as_mut()?;
        b.report.lines += 1;
        b.last_line = line;
        if t.starts_with('#') || t.starts_with('/') || t.starts_with("--- <") {
            self.in_exception = false;
        }
        if t == "..." {
            b.report.corrupted.get_or_insert_with(|| "bt output cut: frames are missing".into());
        } else if let Some(rip) = t.strip_prefix("[exception RIP: ") {
            // [exception RIP: oom_evaluate_task+291]
            let sym = rip.trim_end_matches(']');
            b.report.pc = Some(sym.to_string());
            push_sym(b, sym, Some("exception"));
            if self.case.exception.is_none() {
                self.case.exception = Some(new_exception(sym, source.at(line)));
                self.in_exception = true;
            }
        } else if t.starts_with('#') {
            // #8 [ffff8003ffec1640] kmem_cache_free at ffff000008268b58 [module]
            let after = t.split_once("] ").map(|(_, a)| a).unwrap_or("");
            let mut it = after.split_whitespace();
            if let Some(func) = it.next() {
                let module = after.rsplit_once('[').map(|(_, m)| m.trim_end_matches(']').to_string());
                b.report.frames.push(Frame {
                    func: func.to_string(),
                    offset: None,
                    size: None,
                    module,
                    reliable: true,
                    context: None,
                    location: None,
                    user: false,
                });
            }
        } else if t.starts_with('/') && t.contains(": ") {
            if let Some(f) = b.report.frames.last_mut() {
                if f.location.is_none() {
                    f.location = Some(t.replacen(": ", ":", 1));
                }
            }
        } else if t.starts_with("--- <") {
            b.report.frames.push(Frame {
                func: t.to_string(),
                offset: None,
                size: None,
                module: None,
                reliable: false,
                context: Some("boundary"),
                location: None,
                user: false,
            });
        } else if let Some(r) = t.strip_prefix("PC: ") {
            // arm64 exception frame: `PC: ffff000008268b5c  [kmem_cache_free+252]`
            if let Some(sym) = r.split_once('[').map(|(_, s)| s.trim_end_matches(']')) {
                let sym = sym.split(']').next().unwrap_or(sym);
                if b.report.pc.is_none() {
                    b.report.pc = Some(sym.to_string());
                }
                if self.case.exception.is_none() {
                    self.case.exception = Some(new_exception(sym, source.at(line)));
                    self.in_exception = true;
                }
            }
        }
        if self.in_exception {
            if let Some(e) = self.case.exception.as_mut() {
                register_pairs(t, &mut e.registers);
            }
        }
        None
    }

    pub fn finish(&mut self) -> Option<CrashCase> {
        if self.case.commands.is_empty() {
            return None;
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        tasks.sort_by(|a, b| b.rss_kb.cmp(&a.rss_kb).then(a.pid.cmp(&b.pid)));
        let mut keep: Vec<CrashTask> =
            tasks.iter().filter(|t| t.active && t.pid != 0).take(10).cloned().collect();
        for t in tasks.into_iter().take(10) {
            if !keep.iter().any(|k| k.pid == t.pid) {
                keep.push(t);
            }
        }
        self.case.tasks = keep;
        let mut states = std::mem::take(&mut self.states);
        states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.case.task_states = states;
        if let Some(mut e) = self.case.exception.take() {
            read_exception(&mut e, &self.dis, &self.case.structs);
            self.case.exception = Some(e);
        }
        let mut s = Vec::new();
        if let (Some(pid), Some(comm)) = (self.case.bt_pid, &self.case.bt_comm) {
            let rss = self
                .case
                .tasks
                .iter()
                .find(|t| t.pid == pid)
                .map(|t| format!(", RSS {}", memdx_core::units::kib(t.rss_kb)))
                .unwrap_or_default();
            s.push(format!(
                "crashing task {comm} (pid {pid}, CPU {}{rss})",
                self.case.bt_cpu.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
            ));
        }
        let row = |l: &str| self.case.kmem.iter().find(|r| r.label == l);
        if let (Some(free), Some(total)) = (row("FREE"), row("TOTAL MEM")) {
            s.push(format!("free {} of {}", free.total, total.total));
        }
        if let Some(sw) = row("TOTAL SWAP") {
            if sw.pages == 0 {
                s.push("no swap".into());
            }
        } else if self.case.swap_devices == Some(0) {
            s.push("no swap".into());
        }
        if let (Some(c), Some(l)) = (row("COMMITTED"), row("COMMIT LIMIT")) {
            let pct = (u128::from(c.pages) * 100).checked_div(u128::from(l.pages)).unwrap_or(0);
            s.push(format!(
                "COMMITTED {} is {pct}% of COMMIT LIMIT {} (enforced only with vm.overcommit_memory=2)",
                c.total, l.total
            ));
        }
        if let Some(m) = self.case.mounts {
            s.push(format!("{m} mounts"));
        }
        if let Some(e) = &self.case.exception {
            if e.instruction.is_some() || e.null_deref.is_some() {
                s.push(e.summary.clone());
            }
        }
        self.case.summary = s.join("; ");
        Some(self.case.clone())
    }
}

fn push_sym(b: &mut Builder, sym: &str, ctx: Option<&'static str>) {
    let (func, off) = match sym.split_once('+') {
        Some((f, o)) => (f, o.parse::<u64>().ok()),
        None => (sym, None),
    };
    b.report.frames.push(Frame {
        func: func.to_string(),
        offset: off,
        size: None,
        module: None,
        reliable: true,
        context: ctx,
        location: None,
        user: false,
    });
}

fn new_exception(pc: &str, source: SourceRef) -> Exception {
    Exception {
        pc: pc.to_string(),
        registers: Vec::new(),
        source,
        instruction: None,
        null_deref: None,
        notable: Vec::new(),
        summary: String::new(),
    }
}

/// `struct oom_control -xo`, `struct task_struct -xo | grep 8a4`, `struct oom_control ffffa27b164efc40`:
/// (name, address, layout).
fn struct_command(text: &str) -> Option<(String, Option<String>, bool)> {
    let cmd = text.split('|').next().unwrap_or("");
    let mut toks = cmd.split_whitespace().skip(1);
    let mut name = None;
    let mut address = None;
    let mut layout = false;
    for t in toks.by_ref() {
        if let Some(flags) = t.strip_prefix('-') {
            layout |= flags.contains('o');
        } else if name.is_none() {
            name = Some(t.to_string());
        } else if address.is_none() && t.trim_start_matches("0x").bytes().all(|c| c.is_ascii_hexdigit()) {
            address = Some(t.trim_start_matches("0x").to_ascii_lowercase());
        }
    }
    let name = name?;
    (layout || address.is_some()).then_some((name, if layout { None } else { address }, layout))
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// The member a C declaration names: `struct task_struct *chosen` -> `chosen`, `void (*ctor)(void *)`
/// -> `ctor`, `unsigned long flags[2]` -> `flags`, `unsigned int x : 3` -> `x`.
fn member_name(decl: &str) -> Option<String> {
    if let Some((_, r)) = decl.split_once("(*") {
        let n = r.split(')').next()?.trim();
        return is_ident(n).then(|| n.to_string());
    }
    let d = decl.split(':').next()?.split('[').next()?.trim();
    let n = d.rsplit(|c: char| c.is_whitespace() || c == '*').next()?;
    is_ident(n).then(|| n.to_string())
}

/// `RAX: 8000000000000000  RBX: ffff94d6ed7ebc00`, `X29: ffff8003ffec1640  X28: 000000000000000a`.
fn register_pairs(t: &str, out: &mut Vec<Register>) {
    let toks: Vec<&str> = t.split_whitespace().collect();
    let mut i = 0;
    while i + 1 < toks.len() {
        if let Some(name) = toks[i].strip_suffix(':') {
            let v = toks[i + 1];
            if is_ident(name)
                && name.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                && v.bytes().all(|c| c.is_ascii_hexdigit())
                && out.len() < 64
            {
                out.push(Register { name: name.to_string(), value: v.to_string() });
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// The memory operand of an instruction: (base register, offset). AT&T `0x8a4(%rdi)`,
/// `-0x10(%rbp,%rax,8)` (indexed accesses are skipped), arm64 `[x0, #208]`, `[x0,#0xd0]`, `[x0]`.
pub fn memory_operand(insn: &str) -> Option<(String, i64)> {
    let num = |s: &str| -> Option<i64> {
        let s = s.trim().trim_start_matches('#');
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let v = match s.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16).ok()?,
            None if s.is_empty() => 0,
            None => s.parse().ok()?,
        };
        Some(if neg { -v } else { v })
    };
    if let Some(open) = insn.find('[') {
        let inner = &insn[open + 1..open + insn[open..].find(']')?];
        let mut parts = inner.split(',');
        let base = parts.next()?.trim().to_ascii_lowercase();
        let off = match parts.next() {
            Some(o) => num(o)?,
            None => 0,
        };
        if parts.next().is_some() || !is_ident(&base) {
            return None;
        }
        return Some((base, off));
    }
    let open = insn.find("(%")?;
    let close = open + insn[open..].find(')')?;
    let inner = &insn[open + 2..close];
    if inner.contains(',') {
        return None;
    }
    let start = insn[..open].rfind([' ', ',']).map(|i| i + 1).unwrap_or(0);
    Some((inner.to_ascii_lowercase(), num(&insn[start..open])?))
}

/// The register an instruction writes: AT&T's last operand, arm64's first (loads).
fn destination(insn: &str) -> Option<String> {
    let (mnem, ops) = insn.split_once(' ')?;
    if ops.contains('%') {
        let last = ops.rsplit(',').next()?.trim();
        return last.strip_prefix('%').map(str::to_ascii_lowercase);
    }
    if mnem.starts_with("ld") || mnem == "mov" || mnem.starts_with("add") {
        let first = ops.split(',').next()?.trim();
        return is_ident(first).then(|| first.to_ascii_lowercase());
    }
    None
}

/// The x86-64 registers that share storage: `%edi` is the low half of `%rdi`.
fn same_register(a: &str, b: &str) -> bool {
    let norm = |r: &str| -> String {
        let r = r.trim_start_matches('%');
        match r.strip_prefix('e').or_else(|| r.strip_prefix('r')) {
            Some(x) if ["ax", "bx", "cx", "dx", "si", "di", "bp", "sp"].contains(&x) => format!("r{x}"),
            _ => match r.strip_prefix('w') {
                Some(n) if n.parse::<u32>().is_ok() => format!("x{n}"),
                _ => r.trim_end_matches('d').to_string(),
            },
        }
    };
    norm(a) == norm(b)
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// Values that mean "nothing" or "not set" in a struct dump.
fn sentinel(v: &str) -> Option<&'static str> {
    match v {
        "0x0" | "(nil)" => Some("NULL"),
        "-9223372036854775808" => Some("LONG_MIN"),
        "9223372036854775807" => Some("LONG_MAX"),
        "0xffffffffffffffff" | "18446744073709551615" => Some("ULONG_MAX (-1)"),
        "-2147483648" => Some("INT_MIN"),
        "0xdead000000000100" | "0xdead000000000122" | "0xdead4ead00000000" => Some("list poison"),
        "0x6b6b6b6b6b6b6b6b" => Some("slab free poison"),
        _ => None,
    }
}

/// Reads the exception with what the session printed: the instruction at the pc (`dis`), the
/// dereferenced register and its value, the member at the offset (`struct -o`), the load that set
/// the register and the dumped struct it read from.
fn read_exception(e: &mut Exception, dis: &[DisLine], structs: &[StructOut]) {
    let at_pc = dis.iter().find(|d| d.symbol == e.pc);
    e.instruction = at_pc.cloned();
    for s in structs.iter().filter(|s| s.address.is_some()) {
        for m in &s.members {
            if let Some(what) = m.value.as_deref().and_then(sentinel) {
                e.notable.push(Fact {
                    label: format!("{}.{}", s.name, m.name),
                    value: format!("{} ({what})", m.value.as_deref().unwrap_or("")),
                });
            }
        }
    }
    let layout_member = |offset: u64, in_struct: Option<&str>| -> Option<String> {
        let hits: Vec<String> = structs
            .iter()
            .filter(|s| s.address.is_none() && in_struct.is_none_or(|n| n == s.name))
            .flat_map(|s| {
                s.members
                    .iter()
                    .filter(|m| m.offset == Some(offset))
                    .map(move |m| format!("{}.{}", s.name, m.name))
            })
            .collect();
        (hits.len() == 1).then(|| hits[0].clone())
    };
    let mut summary = format!("exception at {}", e.pc);
    if let Some(d) = at_pc {
        let loc = d.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        summary = format!("exception at {}{loc}: `{}`", e.pc, d.instruction);
        if let Some((reg, off)) = memory_operand(&d.instruction) {
            let value = e.register(&reg);
            if value.is_some_and(|v| v < 4096) && off >= 0 {
                let off = off as u64;
                let member = layout_member(off, None);
                let mut nd = NullDeref {
                    register: reg.clone(),
                    offset: off,
                    member: member.clone(),
                    loaded_by: None,
                    pointer: None,
                    pointer_value: None,
                };
                // The instruction before the fault that wrote the register.
                let mut before: Vec<&DisLine> = dis.iter().filter(|x| x.address < d.address).collect();
                before.sort_by_key(|x| std::cmp::Reverse(x.address));
                let loader = before
                    .into_iter()
                    .take(16)
                    .find(|x| destination(&x.instruction).is_some_and(|r| same_register(&r, &reg)));
                if let Some(l) = loader {
                    nd.loaded_by = Some(l.clone());
                    if let Some((base, boff)) = memory_operand(&l.instruction) {
                        if let (Some(addr), true) = (e.register(&base), boff >= 0) {
                            let dump = structs.iter().find(|s| {
                                s.address.as_deref().and_then(|a| u64::from_str_radix(a, 16).ok())
                                    == Some(addr)
                            });
                            if let Some(dump) = dump {
                                if let Some(m) = layout_member(boff as u64, Some(&dump.name)) {
                                    let field = m.split_once('.').map(|(_, f)| f).unwrap_or(&m);
                                    nd.pointer_value = dump.member(field).and_then(|x| x.value.clone());
                                    nd.pointer = Some(m);
                                }
                            }
                        }
                    }
                }
                summary.push_str(&format!(
                    " dereferences %{reg} = {} at offset {}{}",
                    hex(value.unwrap_or(0)),
                    hex(off),
                    member.map(|m| format!(" ({m})")).unwrap_or_default()
                ));
                if value == Some(0) {
                    summary.push_str(": a NULL pointer dereference");
                }
                if let Some(l) = &nd.loaded_by {
                    summary.push_str(&format!("; %{reg} was loaded by `{}`", l.instruction));
                    if let Some(p) = &nd.pointer {
                        summary.push_str(&format!(
                            ", i.e. from {p}{}",
                            nd.pointer_value
                                .as_deref()
                                .map(|v| format!(", which the dump shows = {v}"))
                                .unwrap_or_default()
                        ));
                    }
                }
                e.null_deref = Some(nd);
            }
        }
    }
    if !e.notable.is_empty() {
        let n: Vec<String> = e.notable.iter().map(|f| format!("{} = {}", f.label, f.value)).collect();
        summary.push_str(&format!("; struct dump: {}", n.join(", ")));
    }
    e.summary = summary;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instructions and declarations quoted in seeds 003 and 004 (`dis -l`, objdump, `struct -o`).
    #[test]
    fn operands_and_members() {
        assert_eq!(memory_operand("mov 0x8a4(%rdi),%edx"), Some(("rdi".into(), 0x8a4)));
        assert_eq!(memory_operand("mov 0x28(%rbp),%rdi"), Some(("rbp".into(), 0x28)));
        assert_eq!(memory_operand("ldr x1, [x0, #208]"), Some(("x0".into(), 208)));
        assert_eq!(memory_operand("cmp %rax,%r12"), None);
        assert_eq!(destination("mov 0x28(%rbp),%rdi").as_deref(), Some("rdi"));
        assert_eq!(destination("ldr x1, [x0, #208]").as_deref(), Some("x1"));
        assert!(same_register("edi", "rdi") && !same_register("rdi", "rsi"));
        assert_eq!(member_name("struct task_struct *chosen").as_deref(), Some("chosen"));
        assert_eq!(member_name("void (*ctor)(void *)").as_deref(), Some("ctor"));
        assert_eq!(member_name("unsigned int cpu_partial").as_deref(), Some("cpu_partial"));
        assert_eq!(
            struct_command("struct oom_control ffffa27b164efc40"),
            Some(("oom_control".into(), Some("ffffa27b164efc40".into()), false))
        );
        assert_eq!(
            struct_command("struct task_struct -xo | grep 8a4"),
            Some(("task_struct".into(), None, true))
        );
    }
}
