//! Assembles the lines of one report into a [`Report`] (or a [`SlubTrace`] record).

use crate::explain::ObjectFacts;
use crate::lines::{
    parse_address_frame, parse_cpu_line, parse_frame, parse_registers, parse_taint, visit_registers,
};
use crate::model::*;
use crate::roles::{self, Role, Roles};
use crate::table::{self, Body, Pick, Row};
use memdx_core::SourceRef;

/// A report from [`Builder::finish`] whose registers and explanation are not filled in yet.
pub struct Finished {
    pub report: Report,
    reg_lines: String,
    body: ObjectFacts,
}

impl Finished {
    /// Parses the registers and explains the report.
    pub fn complete(&mut self) {
        for l in self.reg_lines.split_terminator('\n') {
            if let Some(regs) = parse_registers(l) {
                self.report.registers.extend(regs);
            }
        }
        self.report.explanation = crate::explain::explain(&self.report, &self.body);
    }
}

/// What the framer thread found of a line already; `Default` when the line was not framed there
/// (then the builder works it out itself).
#[derive(Default)]
pub struct Parsed<'a> {
    /// The line's `parse_frame`, when it was parsed already: `Some(slot)`, and the frame is taken
    /// out of the slot when the line becomes one.
    pub frame: Option<&'a mut Option<Frame>>,
    /// How many registers `visit_registers` finds in the line, when known: the builder then
    /// visits them again only when one may be the pc (`RIP`, `pc`), not on every line of a
    /// report nor on every line of a register dump.
    pub regs: Option<usize>,
}

/// What `feed` did with a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    Taken,
    /// The line ends the report (`---[ end trace`, `Killed process`).
    End,
    /// Not part of this report.
    Rejected,
}

/// A report being read: the [`Report`] it fills (title, signature, guilty frame and registers are
/// set by [`Builder::finish`] and [`Finished::complete`]) and the state of the body parsers.
#[derive(Debug)]
pub struct Builder {
    pub row: Option<&'static Row>,
    pub report: Report,
    pub cap: Option<String>,
    pub last_line: usize,
    /// Register lines as printed, each ended by a newline, parsed into [`Register`]s only for
    /// reports that are kept ([`Finished::complete`]): folded repeats never pay for them (one
    /// string, not one per line: a report has dozens).
    reg_lines: String,
    reg_count: usize,
    /// Stall reports: where in `report.frames` each `Call Trace:` began (the reports dump
    /// several CPUs).
    stack_starts: Vec<usize>,
    /// Stall reports: the interrupted function of each `RIP:` line, with the number of frames
    /// read before it (the frames after it are its callers).
    stall_pcs: Vec<(usize, String)>,
    /// Frames go to the last of `aux_stacks` (after `Allocated by task N:` ...).
    in_aux: bool,
    body: ObjectFacts,
    /// lockdep: the first two lock sites (`..., at: func+off/size`, or the frame after a line
    /// ending in ` at:`): the lock being taken, then the lock already held.
    lock_sites: Vec<String>,
    /// The previous line ended in ` at:`: the next frame is a lock site.
    site_next: bool,
    /// lockdep: past the free-form part, in the call trace.
    lockdep_trace: bool,
    pub access: Option<String>,
    context: Option<&'static str>,
    in_trace: bool,
    in_tasks: Option<TaskCols>,
    in_memcg_stats: bool,
    pub slub: Option<SlubHead>,
}

/// `TRACE <cache> alloc|free 0x<ptr> inuse=N fp=0x...`: cache, alloc, ptr, inuse, fp.
type SlubHead = (String, bool, u64, Option<u32>, Option<u64>);

#[derive(Debug, Clone, Copy)]
struct TaskCols {
    pid: usize,
    rss: usize,
    adj: Option<usize>,
    name: usize,
}

const MAX_LINES: u32 = 5000;
/// The secondary stack of the lock-dependency chain of a lockdep report.
const LOCK_CHAIN: &str = "lock dependency chain";
const MAX_FRAMES: usize = 256;

impl Builder {
    pub fn new(
        kind: Kind,
        row: Option<&'static Row>,
        header: &str,
        time: Stamp,
        source: SourceRef,
        line: usize,
    ) -> Self {
        let mut b = Builder {
            row,
            report: Report {
                kind,
                title: String::new(),
                signature: String::new(),
                guilty_frame: None,
                header: header.to_string(),
                time: time.clone(),
                cpu: None,
                pid: None,
                comm: None,
                kernel: None,
                taint: None,
                hardware: None,
                pc: None,
                registers: Vec::new(),
                frames: Vec::new(),
                aux_stacks: Vec::new(),
                code: None,
                modules: None,
                corrupted: None,
                count: 1,
                first_seen: time.clone(),
                last_seen: time,
                source: source.at(line),
                lines: 1,
                mem: None,
                explanation: None,
            },
            cap: row.and_then(|r| table::capture(r, header)),
            last_line: line,
            reg_lines: String::new(),
            reg_count: 0,
            stack_starts: Vec::new(),
            stall_pcs: Vec::new(),
            in_aux: false,
            body: ObjectFacts::default(),
            lock_sites: Vec::new(),
            site_next: false,
            lockdep_trace: false,
            access: None,
            context: None,
            in_trace: false,
            in_tasks: None,
            in_memcg_stats: false,
            slub: None,
        };
        b.parse_header(header);
        b
    }

    pub fn slub_trace(t: &str, time: Stamp, source: SourceRef, line: usize) -> Option<Self> {
        // TRACE <cache> alloc|free 0x<ptr> inuse=N fp=0x...
        let rest = t.strip_prefix("TRACE ")?;
        let mut it = rest.split_whitespace();
        let cache = it.next()?.to_string();
        let op = it.next()?;
        let alloc = match op {
            "alloc" => true,
            "free" => false,
            _ => return None,
        };
        let ptr = u64::from_str_radix(it.next()?.strip_prefix("0x")?, 16).ok()?;
        let mut inuse = None;
        let mut fp = None;
        let mut fp_seen = false;
        while let Some(tok) = it.next() {
            if let Some(v) = tok.strip_prefix("inuse=") {
                inuse = v.parse().ok();
            } else if let Some(v) = tok.strip_prefix("fp=0x") {
                fp_seen = true;
                // `fp=0x          (null)` splits into `fp=0x` and `(null)`.
                let v = if v.is_empty() { it.next().unwrap_or("") } else { v };
                fp = u64::from_str_radix(v, 16).ok();
            }
        }
        if !fp_seen && inuse.is_none() {
            return None;
        }
        let mut b = Builder::new(Kind::Unknown, None, t, time, source, line);
        b.slub = Some((cache, alloc, ptr, inuse, fp));
        Some(b)
    }

    fn parse_header(&mut self, h: &str) {
        match self.report.kind {
            Kind::Oom => {
                let mem = self.report.mem.get_or_insert_with(MemReport::default);
                if let Some((comm, rest)) = h.split_once(" invoked oom-killer: ") {
                    self.report.comm = Some(comm.to_string());
                    parse_gfp(rest, "gfp_mask=", mem);
                    mem.order = field_after(rest, "order=").and_then(|v| v.parse().ok());
                } else {
                    // The invocation line was lost: only the kill line is here.
                    self.report.corrupted =
                        Some("OOM report without its `invoked oom-killer` line (truncated log?)".into());
                    if let Some(c) = h.strip_prefix("oom-kill:") {
                        parse_oom_kill(c, mem);
                    } else if let Some(r) = h.strip_prefix("memory: usage ") {
                        // An excerpt cut after the report's start begins at the memcg's counters.
                        memcg_counters(r, mem);
                        oom_scope_line(h, mem);
                    } else {
                        parse_killed(h, mem);
                        oom_scope_line(h, mem);
                        // The stats lines that follow this header are the report's body.
                        self.in_memcg_stats = h.starts_with("Memory cgroup stats for");
                    }
                    if h.starts_with("Memory cgroup out of memory") {
                        mem.constraint = Some("CONSTRAINT_MEMCG".into());
                    }
                }
            }
            Kind::AllocFailure => {
                let mem = self.report.mem.get_or_insert_with(MemReport::default);
                if let Some(i) = h.find(": page allocation failure") {
                    self.report.comm = Some(h[..i].to_string());
                }
                let order = field_after(h, "order:").and_then(|v| v.parse::<u32>().ok());
                mem.order = order;
                parse_gfp(h, "mode:", mem);
                self.cap = order.map(|o| o.to_string());
            }
            Kind::HungTask => {
                // INFO: task kworker/0:1:123 blocked for more than 120 seconds.
                if let Some(r) = h.strip_prefix("INFO: task ") {
                    if let Some((task, _)) = r.split_once(" blocked") {
                        if let Some((comm, pid)) = task.rsplit_once(':') {
                            self.report.comm = Some(comm.to_string());
                            self.report.pid = pid.parse().ok();
                        }
                    }
                }
            }
            Kind::Kmemleak => {
                self.in_trace = true;
                // unreferenced object 0xffff89862ca702e8 (size 32):
                if let Some(size) = field_after(h, "(size ") {
                    let size = size.trim_end_matches([')', ':']);
                    self.body
                        .facts
                        .push(Fact { label: "object size".into(), value: format!("{size} bytes") });
                }
            }
            _ => {}
        }
        if self.row.is_some_and(Row::func_in_header) {
            // `... at fs/dcache.c:338 dentry_free+0x24/0xa8` / `... in func+0x1/0x2`
            let tail = h
                .rsplit(' ')
                .find(|tok| tok.contains("+0x"))
                .or_else(|| h.rsplit(' ').nth(1).filter(|t| t.contains("+0x")))
                .map(|t| t.trim_end_matches(','));
            if let Some(f) = tail.and_then(parse_frame) {
                self.report.pc = Some(format!("{f}"));
            }
            if let Some(r) = h.strip_prefix("WARNING: CPU: ") {
                let mut it = r.split_whitespace();
                self.report.cpu = it.next().and_then(|c| c.parse().ok());
                if it.next() == Some("PID:") {
                    self.report.pid = it.next().and_then(|p| p.parse().ok());
                }
            }
        }
    }

    /// Feeds one message line (`t`: leading spaces removed). `parsed` is what the framer thread
    /// found of it: a frame it parsed is taken from it when the line is taken as one, instead of
    /// parsing the line again.
    pub fn feed_parsed(&mut self, t: &str, line: usize, parsed: &mut Parsed<'_>) -> Fed {
        if self.report.lines >= MAX_LINES {
            self.report
                .corrupted
                .get_or_insert_with(|| format!("report longer than {MAX_LINES} lines; the rest was cut"));
            return Fed::Rejected;
        }
        let in_aux = self.in_aux;
        let r = self.feed_inner(t, parsed);
        if r != Fed::Rejected {
            self.report.lines += 1;
            self.last_line = line;
        } else {
            // A line that is not part of the report (another writer's output between two
            // frames) does not end the secondary stack it interrupts.
            self.in_aux = in_aux;
        }
        r
    }

    fn feed_inner(&mut self, t: &str, parsed: &mut Parsed<'_>) -> Fed {
        if t.starts_with("---[ end trace") || t.starts_with("---[ end Kernel panic") {
            return Fed::End;
        }
        if self.body() == Body::Lockdep && !self.lockdep_trace {
            return self.feed_lockdep(t);
        }
        // Taken only when the line becomes a frame (a rejected line may be fed to another report).
        let frame = match &mut parsed.frame {
            Some(slot) if slot.is_some() => {
                let f = slot.take();
                parsed.frame = None;
                f
            }
            Some(_) => None,
            None => parse_frame(t),
        };
        let frame = frame.or_else(|| if self.in_trace { parse_address_frame(t) } else { None });
        if let Some(f) = frame {
            let frames = match self.report.aux_stacks.last_mut() {
                Some(a) if self.in_aux => &mut a.frames,
                _ => &mut self.report.frames,
            };
            if frames.len() < MAX_FRAMES {
                // A stack has dozens of frames: room for them at once, not four reallocations.
                if frames.capacity() == 0 {
                    frames.reserve(32);
                }
                let mut f = f;
                f.context = self.context;
                frames.push(f);
            }
            return Fed::Taken;
        }
        if let Some(label) = aux_label(t) {
            if self.report.aux_stacks.len() < 16 {
                if let Some(site) = slub_track(label) {
                    let what = if label.contains("Allocated") { "allocated in" } else { "freed in" };
                    self.body.facts.push(Fact { label: what.into(), value: site.to_string() });
                }
                self.report.aux_stacks.push(AuxStack { label: label.to_string(), frames: Vec::new() });
                self.in_aux = true;
            }
            return Fed::Taken;
        }
        if self.in_aux && boundary(t).is_none() {
            self.in_aux = false;
        }
        if matches!(t, "Call trace:" | "Call Trace:" | "Backtrace:" | "Stack:" | "backtrace:")
            || t.starts_with("backtrace (crc")
        {
            self.in_trace = true;
            if self.body() == Body::Stall && self.stack_starts.len() < 32 {
                if self.stack_starts.is_empty() && !self.report.frames.is_empty() {
                    self.stack_starts.push(0);
                }
                if self.stack_starts.last() != Some(&self.report.frames.len()) {
                    self.stack_starts.push(self.report.frames.len());
                }
            }
            return Fed::Taken;
        }
        if let Some(ctx) = boundary(t) {
            self.context = ctx;
            return Fed::Taken;
        }
        // The prefix test first: most lines are not CPU lines, and the call returns a large value.
        if let Some(c) = t.starts_with("CPU: ").then(|| parse_cpu_line(t)).flatten() {
            self.report.cpu = self.report.cpu.or(c.cpu);
            self.report.pid = self.report.pid.or(c.pid);
            if self.report.comm.is_none() || self.report.kind == Kind::Unknown {
                self.report.comm = c.comm;
            }
            self.report.kernel = c.kernel;
            self.report.taint = c.taint;
            return Fed::Taken;
        }
        // Not the 6.x legend `Tainted: [W]=WARN, [O]=OOT_MODULE` (left to is_oops_detail).
        if t.starts_with("Not tainted ") || t.starts_with("Tainted: ") && !t.starts_with("Tainted: [") {
            // hung task: `      Not tainted 6.18.44 #1` under the header.
            let (taint, kernel) = parse_taint(&format!(" {t}"));
            self.report.taint = self.report.taint.take().or(taint);
            self.report.kernel = self.report.kernel.take().or(kernel);
            return Fed::Taken;
        }
        if let Some(h) = t.strip_prefix("Hardware name: ") {
            self.report.hardware = Some(h.to_string());
            return Fed::Taken;
        }
        if let Some(m) = t.strip_prefix("Modules linked in:") {
            self.report.modules = Some(m.trim().to_string());
            return Fed::Taken;
        }
        if let Some(c) = t.strip_prefix("Code: ") {
            self.report.code = Some(c.trim().to_string());
            return Fed::Taken;
        }
        // The function a header names (`WARNING ... at file:line func+off/size`, `BUG: KASAN: ...
        // in func+off/size`) is where the checker fired: a `RIP:` printed later in the report
        // (another CPU's oops, the trap of a BUG() that follows) does not replace it.
        let header_pc = self.report.pc.is_some() && self.row.is_some_and(Row::func_in_header);
        if let Some(pc) = pc_line(t) {
            if let Some(pc) = pc.filter(|_| !header_pc) {
                self.report.pc = Some(pc.to_string());
            }
            return Fed::Taken;
        }
        // The new pc is applied only when the whole line parses as registers.
        let had_pc = self.report.pc.is_some();
        let mut new_pc: Option<&str> = None;
        let n = match parsed.regs {
            Some(n) if n == 0 || !may_name_pc(t) => n,
            _ => visit_registers(t, |name, value| {
                if (name == "RIP" || name == "pc") && !had_pc && new_pc.is_none()
                    || name == "RIP" && !header_pc
                {
                    let v = value.split_once(':').map(|(_, f)| f).unwrap_or(value);
                    if v.contains('+') {
                        new_pc = Some(v);
                    }
                }
            }),
        };
        if n > 0 {
            if let Some(v) = new_pc {
                if self.body() == Body::Stall && self.stall_pcs.len() < 32 {
                    let func = v.split('+').next().unwrap_or(v);
                    self.stall_pcs.push((self.report.frames.len(), func.to_string()));
                }
                self.report.pc = Some(v.to_string());
            }
            if self.reg_count < 64 {
                self.reg_lines.push_str(t);
                self.reg_lines.push('\n');
                self.reg_count += n;
            }
            return Fed::Taken;
        }
        // `Read of size 8 at addr ...`; arm64 tag-based KASAN: `Read at addr f2ff000...`.
        if self.report.kind == Kind::Kasan
            && self.access.is_none()
            && (t.starts_with("Read of size")
                || t.starts_with("Write of size")
                || t.starts_with("Read at addr")
                || t.starts_with("Write at addr"))
        {
            self.access = t.split_whitespace().next().map(str::to_string);
            return Fed::Taken;
        }
        if self.body() == Body::Sanitizer {
            if t.starts_with("=====") {
                return Fed::End;
            }
            self.object_facts(t);
            return Fed::Taken;
        }
        if self.body() == Body::Mem {
            return self.feed_mem(t);
        }
        if self.body() == Body::Leak {
            if t.starts_with("unreferenced object 0x") && self.report.frames.is_empty() {
                return Fed::Taken;
            }
            if let Some(c) = t.strip_prefix("comm \"") {
                // comm "modprobe", pid 2088, jiffies 4294680594 (age 375.486s)
                if let Some((comm, rest)) = c.split_once("\", pid ") {
                    self.report.comm.get_or_insert_with(|| comm.to_string());
                    self.report.pid =
                        self.report.pid.or_else(|| field_after(rest, "").and_then(|p| p.parse().ok()));
                }
                if let Some(age) = field_after(t, "(age ") {
                    let age = age.trim_end_matches(')');
                    self.body.facts.push(Fact { label: "age".into(), value: age.to_string() });
                }
            }
            return if t.starts_with("comm \"") || t.starts_with("hex dump") || is_hex_dump(t) {
                Fed::Taken
            } else {
                Fed::Rejected
            };
        }
        if self.slub.is_some() {
            return if t.starts_with("Object ") { Fed::Taken } else { Fed::Rejected };
        }
        if self.body() == Body::Slub {
            self.object_facts(t);
        }
        if self.body() == Body::Stall && is_rcu_stall_detail(t)
            || self.body() == Body::Dump && t.starts_with("name ") && t.contains(", interval ")
        {
            return Fed::Taken;
        }
        if self.report.kind == Kind::Bug && self.report.frames.is_empty() && t.starts_with("kernel BUG at ") {
            return Fed::Taken;
        }
        if is_oops_detail(t) {
            if let Some(p) = t.strip_prefix("Process ") {
                // Process Isolated Web Co (pid: 29060, stack limit = 0x...)
                if let Some((comm, rest)) = p.rsplit_once(" (pid: ") {
                    self.report.comm.get_or_insert_with(|| comm.to_string());
                    self.report.pid =
                        self.report.pid.or_else(|| rest.split(',').next().and_then(|x| x.parse().ok()));
                }
            }
            return Fed::Taken;
        }
        Fed::Rejected
    }

    /// lockdep's free-form part: lock chains (`-> #1 (&lo->lo_ctl_mutex){+.+.}:` and their
    /// stacks, kept as one secondary stack), held locks with their sites, the unsafe scenario.
    /// It ends at `stack backtrace:`, the CPU line or the call trace.
    fn feed_lockdep(&mut self, t: &str) -> Fed {
        if t == "stack backtrace:" || t.starts_with("CPU: ") || matches!(t, "Call Trace:" | "Call trace:") {
            self.lockdep_trace = true;
            self.in_aux = false;
            self.site_next = false;
            return self.feed_inner(t, &mut Parsed::default());
        }
        if let Some(site) = lock_site(t) {
            if self.lock_sites.len() < 2 {
                match site.and_then(parse_frame) {
                    Some(f) => self.lock_sites.push(f.func),
                    None => self.site_next = site.is_none(),
                }
            }
            self.in_aux = false;
            return Fed::Taken;
        }
        // `... which became HARDIRQ-irq-safe at:` and the stack where it did.
        if let Some(label) = t.strip_prefix("... which became ").and_then(|l| l.strip_suffix(':')) {
            if self.report.aux_stacks.len() < 16 {
                self.report
                    .aux_stacks
                    .push(AuxStack { label: format!("became {label}"), frames: Vec::new() });
                self.in_aux = true;
            }
            return Fed::Taken;
        }
        if let Some(f) = parse_frame(t) {
            if std::mem::take(&mut self.site_next) {
                if self.lock_sites.len() < 2 {
                    self.lock_sites.push(f.func);
                }
            } else if self.in_aux {
                if let Some(a) = self.report.aux_stacks.last_mut().filter(|a| a.frames.len() < MAX_FRAMES) {
                    a.frames.push(f);
                }
            } else if self.report.aux_stacks.len() < 16 {
                if self.report.aux_stacks.last().is_none_or(|a| a.label != LOCK_CHAIN) {
                    self.report.aux_stacks.push(AuxStack { label: LOCK_CHAIN.into(), frames: Vec::new() });
                }
                if let Some(a) = self.report.aux_stacks.last_mut().filter(|a| a.frames.len() < MAX_FRAMES) {
                    a.frames.push(f);
                }
            }
            return Fed::Taken;
        }
        self.in_aux = false;
        Fed::Taken
    }

    fn feed_mem(&mut self, t: &str) -> Fed {
        let mem = self.report.mem.get_or_insert_with(MemReport::default);
        if KILLED.find(t.as_bytes()).is_some() {
            parse_killed(t, mem);
            oom_scope_line(t, mem);
            return Fed::End;
        }
        if oom_scope_line(t, mem) && t.starts_with("Task in ") {
            return Fed::Taken;
        }
        if let Some(c) = t.strip_prefix("oom-kill:") {
            parse_oom_kill(c, mem);
            self.in_tasks = None;
            return Fed::Taken;
        }
        if let Some(r) = t.strip_prefix("memory: usage ") {
            memcg_counters(r, mem);
            return Fed::Taken;
        }
        if t.starts_with("Memory cgroup stats for") {
            self.in_memcg_stats = true;
            return Fed::Taken;
        }
        if t.starts_with("Tasks state") {
            self.in_memcg_stats = false;
            return Fed::Taken;
        }
        if t.starts_with("[  pid  ]") || t.starts_with("[ pid ]") {
            let cols: Vec<&str> = t.trim_start_matches(['[', ' ']).split_whitespace().collect();
            // columns after "[  pid  ]": uid tgid total_vm rss ... name; the row splits into the same
            // count with "pid]" as one token.
            let names: Vec<&str> = std::iter::once("pid")
                .chain(cols.iter().skip_while(|c| **c != "]").skip(1).copied())
                .collect();
            let idx = |n: &str| names.iter().position(|c| *c == n);
            if let (Some(rss), Some(name)) = (idx("rss"), idx("name")) {
                self.in_tasks = Some(TaskCols { pid: 0, rss, adj: idx("oom_score_adj"), name });
            }
            return Fed::Taken;
        }
        if let (Some(cols), Some(r)) = (self.in_tasks, t.strip_prefix('[')) {
            let toks: Vec<&str> =
                r.split_whitespace().map(|x| x.trim_end_matches(']')).filter(|x| !x.is_empty()).collect();
            if toks.len() > cols.name.max(cols.rss) {
                if let (Ok(pid), Ok(rss)) = (toks[cols.pid].parse(), toks[cols.rss].parse()) {
                    if mem.tasks.len() < 100_000 {
                        mem.tasks.push(OomTask {
                            pid,
                            rss_pages: rss,
                            name: toks[cols.name..].join(" "),
                            oom_score_adj: cols.adj.and_then(|a| toks.get(a)).and_then(|a| a.parse().ok()),
                        });
                    }
                }
            }
            return Fed::Taken;
        }
        if let Some(r) = t.strip_prefix("Node ") {
            parse_node_line(r, mem);
            return Fed::Taken;
        }
        if let Some(r) = t.strip_prefix("lowmem_reserve[]:") {
            if let Some(z) = mem.zones.last_mut() {
                z.lowmem_reserve = r.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            }
            return Fed::Taken;
        }
        if let Some(r) = t.strip_prefix("Free swap  = ") {
            mem.swap_free_kb = kb(r.trim());
            return Fed::Taken;
        }
        if let Some(r) = t.strip_prefix("Total swap = ") {
            mem.swap_total_kb = kb(r.trim());
            return Fed::Taken;
        }
        if t.starts_with("Mem-Info") || t.contains(':') && first_is_key(t) && !t.starts_with("CPU") {
            for kv in t.split_whitespace() {
                if let Some((k, v)) = kv.split_once(':') {
                    if let Ok(v) = v.parse() {
                        if mem.meminfo.len() < 64 {
                            mem.meminfo.push((k.to_string(), v));
                        }
                    }
                }
            }
            return Fed::Taken;
        }
        if self.in_memcg_stats {
            // `anon 104452096`: the name is short, a byte loop finds its end (`split_once` sets up
            // a searcher per line, ~40 lines per OOM report).
            if let Some((k, v)) = t.bytes().position(|c| c == b' ').map(|i| (&t[..i], &t[i + 1..])) {
                if let Ok(v) = v.trim().parse() {
                    if mem.memcg_stats.len() < 128 {
                        mem.memcg_stats.push((k.to_string(), v));
                    }
                    return Fed::Taken;
                }
            }
        }
        if is_mem_dump_line(t) || is_oops_detail(t) {
            return Fed::Taken;
        }
        Fed::Rejected
    }

    /// Turns the collected lines into a report. Registers and the explanation are left to the
    /// caller ([`Finished::complete`]): folded repeats do not need them.
    pub fn finish(mut self) -> Result<Finished, Box<SlubTrace>> {
        if let Some((cache, alloc, ptr, inuse, fp)) = self.slub.take() {
            return Err(Box::new(SlubTrace {
                cache,
                alloc,
                ptr,
                inuse,
                fp,
                cpu: self.report.cpu,
                pid: self.report.pid,
                comm: self.report.comm,
                frames: self.report.frames,
                time: self.report.time,
                source: self.report.source,
            }));
        }
        let needs_trace = !(matches!(self.report.kind, Kind::Oom | Kind::Panic | Kind::CrashBt)
            || self.report.kind == Kind::Bug && self.report.header.contains("rss-counter"));
        if needs_trace && self.report.frames.is_empty() && self.report.corrupted.is_none() {
            self.report.corrupted = Some("no call trace (report truncated or interleaved)".into());
        }
        if self.report.kind == Kind::Oom {
            self.decide_oom_scope();
        }
        if self.report.kind == Kind::Oom
            && self.report.mem.as_ref().is_some_and(|m| m.victim.is_none() && m.constraint.is_none())
            && self.report.corrupted.is_none()
        {
            self.report.corrupted = Some("OOM report ends before the kill (truncated log?)".into());
        }
        let guilty = self.guilty();
        let title = self.title(guilty.as_deref());
        let mut sig = title.clone();
        let mut n = 0;
        for f in self.report.frames.iter().filter(|f| f.reliable) {
            if n == 3 {
                break;
            }
            if roles::has_any(&f.func, roles::NEVER_GUILTY) {
                continue;
            }
            sig.push('|');
            sig.push_str(roles::base_name(&f.func));
            n += 1;
        }
        self.report.title = title;
        self.report.signature = sig;
        self.report.guilty_frame = guilty;
        // slub_debug before 5.x prints `Allocated in f+0x1/0x2 age=..` without a stack.
        self.report.aux_stacks.retain(|a| !a.frames.is_empty());
        Ok(Finished { report: self.report, reg_lines: self.reg_lines, body: self.body })
    }

    /// Where the guilty frame comes from: the row's rule; a report without a header row (a lone
    /// stack dump, a `crash> bt`, a report whose header was lost) takes the stack.
    fn pick(&self) -> Pick {
        self.row.map(|r| r.pick).unwrap_or(Pick::Stack)
    }

    /// Which parser reads the body: the row's; reports without a row are stacks.
    fn body(&self) -> Body {
        match self.row {
            Some(r) => r.body,
            None if self.report.kind == Kind::StackDump => Body::Dump,
            None => Body::Oops,
        }
    }

    /// The guilty function, `None` when no trustworthy frame names one (the title then says
    /// `corrupted`, as syzkaller's do).
    fn guilty(&self) -> Option<String> {
        let usable = |func: &str| !roles::has_any(func, roles::NEVER_GUILTY) && !roles::is_address(func);
        let pc_func = self.report.pc.as_deref().map(|p| p.split('+').next().unwrap_or(p));
        if self.pick() == Pick::IrqSafeSite {
            let irq_safe = self.report.aux_stacks.iter().find(|a| a.label.ends_with("-irq-safe at"));
            if let Some(f) = irq_safe.and_then(|a| first_frame(&a.frames, roles::NEVER_GUILTY)) {
                return Some(f);
            }
        }
        let named = match self.pick() {
            Pick::Header | Pick::Pc => pc_func.filter(|f| usable(f)),
            Pick::LockSite | Pick::IrqSafeSite => {
                self.lock_sites.iter().map(String::as_str).find(|f| usable(f))
            }
            _ => None,
        };
        if let Some(f) = named {
            return Some(frame_title(f));
        }
        let from_stack = match self.pick() {
            Pick::Stall => {
                let rcu = self.report.kind == Kind::RcuStall;
                stall_frame(&self.report.frames, &self.stack_starts, &self.stall_pcs, rcu)
            }
            Pick::Hang => hang_frame(&self.report.frames),
            Pick::Leak => first_frame(&self.report.frames, roles::NEVER_GUILTY.with(Role::LeakAlloc)),
            Pick::AllocCaller => first_frame(&self.report.frames, roles::NEVER_GUILTY).or_else(|| {
                // Only unreliable frames lie past the allocator: the first of them.
                let outside =
                    |f: &&Frame| !roles::has_any(&f.func, roles::NEVER_GUILTY) && !roles::is_address(&f.func);
                self.report.frames.iter().find(outside).map(|f| frame_title(&f.func))
            }),
            Pick::PageOwner => {
                let alloc = self.report.aux_stacks.iter().find(|a| a.label == PAGE_OWNER_ALLOC);
                alloc
                    .and_then(|a| first_frame(&a.frames, roles::NEVER_GUILTY.with(Role::LeakAlloc)))
                    .or_else(|| first_frame(&self.report.frames, roles::NEVER_GUILTY))
            }
            // A fault inside a lock primitive is on the lock its caller passed down: wrappers
            // that only take a lock or wait for their caller (`reiserfs_write_lock`,
            // `wait_for_completion`) forward the bad pointer, the work past them is guilty.
            Pick::Pc if pc_func.is_some_and(|f| roles::is(f, Role::Lock)) => {
                first_frame(&self.report.frames, self.never_guilty().with(Role::Wait))
            }
            _ => first_frame(&self.report.frames, self.never_guilty()),
        };
        // The faulting instruction is trustworthy even inside a helper: better than nothing.
        let pc_fallback = matches!(self.pick(), Pick::Header | Pick::Pc).then_some(pc_func).flatten();
        from_stack.or_else(|| pc_fallback.filter(|f| !roles::is_address(f)).map(frame_title))
    }

    /// The roles a stack frame of this report is never guilty for: the never-guilty ones, and for
    /// a checker's WARNING the functions that call the checker on their caller's behalf.
    fn never_guilty(&self) -> Roles {
        let site =
            (self.report.kind == Kind::Warning).then(|| table::warn_site(&self.report.header)).flatten();
        match site {
            Some(w) => roles::NEVER_GUILTY.union(w.skip),
            None => roles::NEVER_GUILTY,
        }
    }

    /// Lines that describe the object a memory report is about.
    #[cold]
    fn object_facts(&mut self, t: &str) {
        let b = &mut self.body;
        if b.facts.len() >= 16 {
            return;
        }
        let mut fact =
            |label: &str, value: &str| b.facts.push(Fact { label: label.into(), value: value.trim().into() });
        if let Some(i) = t.find("which belongs to the cache ") {
            // KASAN: ` which belongs to the cache kmalloc-128 of size 128`
            let rest = &t[i + 27..];
            let cache = rest.split_whitespace().next().unwrap_or("");
            if !cache.is_empty() {
                b.cache.get_or_insert_with(|| cache.to_string());
                fact("object", rest);
            }
        } else if let Some(r) = t.strip_prefix("The buggy address is located ") {
            fact("access", r.trim_end_matches(':'));
        } else if t.contains("-byte region [") {
            if let Some(last) = b.facts.last_mut().filter(|f| f.label == "access") {
                last.value = format!("{} {}", last.value, t.trim());
            }
        } else if t.starts_with("kfence-#") && t.contains("cache=") {
            // KFENCE: `kfence-#72: 0xffff...-0xffff..., size=32, cache=kmalloc-32`
            if let Some(cache) = field_after(t, "cache=") {
                b.cache.get_or_insert_with(|| cache.to_string());
            }
            fact("object", t.split_once(": ").map(|(_, r)| r).unwrap_or(t));
        } else if (t.starts_with("Out-of-bounds ")
            || t.starts_with("Use-after-free ")
            || t.starts_with("Invalid free of ")
            || t.starts_with("Corrupted memory at ")
            || t.starts_with("Invalid read at ")
            || t.starts_with("Invalid write at "))
            && t.ends_with(':')
        {
            fact("access", t.trim_end_matches(':'));
        } else if let Some(r) = t.strip_prefix("INFO: 0x").filter(|r| r.contains(" instead of ")) {
            // slub_debug: `INFO: 0xc90f6d28-0xc90f6d2b. First byte 0x00 instead of 0xcc`
            fact("bad bytes", &format!("0x{r}"));
        } else if t.starts_with("Bytes ") && t.ends_with("are uninitialized")
            || t.starts_with("Memory access of size ")
        {
            fact("access", t);
        }
    }

    /// What the OOM was confined to when no line said so: the memcg OOM path on the stack, or the
    /// zone lines `show_mem()` prints only for OOMs outside a memory cgroup; unknown when the excerpt
    /// ends before either.
    fn decide_oom_scope(&mut self) {
        let frame = self
            .report
            .frames
            .iter()
            .filter(|f| f.reliable)
            .map(|f| roles::base_name(&f.func))
            .find(|f| MEMCG_OOM_FRAMES.contains(f))
            .map(str::to_string);
        let Some(m) = self.report.mem.as_mut() else { return };
        if m.oom_scope.is_some() {
            return;
        }
        let (scope, by) = if let Some(f) = frame {
            (OomScope::Memcg, format!("{f} on the stack"))
        } else if !m.zones.is_empty() {
            (OomScope::System, "the per-zone free memory, printed only outside a memory cgroup OOM".into())
        } else {
            (OomScope::Unknown, "the excerpt ends before the lines that tell".into())
        };
        m.oom_scope = Some(scope);
        m.oom_scope_by = Some(by);
    }

    fn title(&self, guilty: Option<&str>) -> String {
        let frame = guilty.unwrap_or("corrupted");
        if self.report.kind == Kind::Oom {
            let m = self.report.mem.as_ref();
            let memcg = m.is_some_and(|m| m.oom_scope == Some(OomScope::Memcg));
            return match m.and_then(|m| m.oom_memcg.as_deref()).or_else(|| memcg.then_some("?")) {
                Some(cg) => format!("Memory cgroup out of memory in {cg}"),
                None => {
                    let order = m.and_then(|m| m.order).map(|o| format!(", order:{o}")).unwrap_or_default();
                    let gfp = m
                        .and_then(|m| m.gfp_flags.first().cloned())
                        .map(|g| format!(", {g}"))
                        .unwrap_or_default();
                    let c = match m.and_then(|m| m.constraint.as_deref()) {
                        Some(c) => c,
                        None if m.is_some_and(|m| m.oom_scope == Some(OomScope::Unknown)) => {
                            "constraint unknown"
                        }
                        None => "CONSTRAINT_NONE",
                    };
                    format!("Out of memory ({c}{order}{gfp})")
                }
            };
        }
        if self.report.kind == Kind::Unknown {
            return format!("corrupted report in {frame}");
        }
        if self.report.kind == Kind::StackDump && self.row.is_none() {
            return format!("stack dump in {frame}");
        }
        if self.report.kind == Kind::CrashBt {
            return format!("crash: exception in {frame}");
        }
        if guilty.is_none()
            && self.body() == Body::Lockdep
            && self.report.frames.is_empty()
            && self.lock_sites.is_empty()
            && !self.report.header.starts_with('[')
        {
            // A 4.14+ lockdep report cut before its lock sites and stack names nothing: titled by
            // its header as printed (`WARNING: possible circular locking dependency detected`), as
            // syzkaller does; the bracketed pre-4.14 headers stay `in corrupted` as there.
            return self.report.header.trim().to_string();
        }
        let tpl = self.row.map(|r| r.title).unwrap_or("{frame}");
        let mut title = tpl.to_string();
        if self.report.kind == Kind::Warning && tpl == "WARNING in {frame}" {
            if let Some(w) = table::warn_site(&self.report.header) {
                title = format!("WARNING: {} in {{frame}}", w.what);
            }
        }
        if self.report.kind == Kind::Kasan {
            // syzkaller's KASAN titles: no access type when the report prints none, frees are
            // `invalid-free`, and pre-4.15 headers keep their `at addr`.
            let cap = self.cap.as_deref().unwrap_or("");
            if cap.contains("free") && !cap.contains("use-after-free") {
                title = "KASAN: invalid-free in {frame}".into();
            } else if self.access.is_none() {
                title = title.replace(" {access}", "");
            }
            if self.report.header.contains(" at addr ") && self.access.is_none() {
                title.push_str(" at addr ADDR");
            }
        }
        let cap = match self.report.kind {
            // `UBSAN: Undefined behaviour in` (before 5.x) / `UBSAN: array-index-out-of-bounds in`.
            Kind::Ubsan => self.cap.as_deref().map(|c| c.to_ascii_lowercase().replace(' ', "-")),
            _ => self.cap.clone(),
        };
        fill_title(
            &title,
            &[
                ("{frame}", frame),
                ("{cap}", cap.as_deref().unwrap_or("?")),
                ("{access}", self.access.as_deref().unwrap_or("Access")),
                ("{header}", &self.report.header),
            ],
        )
    }
}

/// A title template with its `{name}` placeholders filled in one pass (one string built per
/// report, not one per placeholder); text the values bring in is not filled again.
fn fill_title(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match values.iter().find(|(k, _)| rest.starts_with(k)) {
            Some((k, v)) => {
                out.push_str(v);
                rest = &rest[k.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A function as titles name it: syscall wrappers by their syscall (`__x64_sys_rmdir`,
/// `SyS_rmdir` -> `sys_rmdir`; the bodies `__se_sys_mremap`, `__do_sys_mremap` -> `mremap`),
/// compiler clones by their base name.
fn frame_title(func: &str) -> String {
    match syscall_of(func) {
        Some((title, name)) => format!("{title}{name}"),
        None => roles::base_name(func).to_string(),
    }
}

/// Syscall wrapper prefixes and how titles name the syscall behind them (syzkaller's). The arch
/// entry wrappers (`SYSCALL_DEFINE` since 4.17: `__x64_sys_X` -> `__se_sys_X` -> `__do_sys_X`;
/// before: `SyS_X` -> `SYSC_X`) are `sys_X`; the sign-extending and body functions, which a trace
/// shows when the entry wrapper was inlined or tail-called, are the bare `X`, and so is the
/// pre-4.17 `compat_SyS_X`.
const SYSCALL_PREFIXES: &[(&str, &str)] = &[
    ("__x32_compat_sys_", "compat_sys_"),
    ("__ia32_compat_sys_", "compat_sys_"),
    ("__x64_compat_sys_", "compat_sys_"),
    ("__arm64_compat_sys_", "compat_sys_"),
    ("__se_compat_sys_", ""),
    ("__do_compat_sys_", ""),
    ("compat_SyS_", ""),
    ("compat_sys_", "compat_sys_"),
    ("__x64_sys_", "sys_"),
    ("__ia32_sys_", "sys_"),
    ("__arm64_sys_", "sys_"),
    ("__riscv_sys_", "sys_"),
    ("__s390x_sys_", "sys_"),
    ("__s390_sys_", "sys_"),
    ("__se_sys_", ""),
    ("__do_sys_", ""),
    ("SyS_", "sys_"),
    ("SYSC_", ""),
    ("sys_", "sys_"),
];

/// The syscall a wrapper frame implements, with the prefix its title takes.
fn syscall_of(func: &str) -> Option<(&'static str, &str)> {
    let base = roles::base_name(func);
    let (title, name) = SYSCALL_PREFIXES.iter().find_map(|(p, t)| Some((*t, base.strip_prefix(p)?)))?;
    (!name.is_empty()).then_some((title, name))
}

/// The first trustworthy frame with none of the `skip` roles, up to the entry code.
fn first_frame(frames: &[Frame], skip: Roles) -> Option<String> {
    for f in frames.iter().filter(|f| f.reliable) {
        let r = roles::roles(&f.func);
        if r.contains(Role::Entry) {
            break;
        }
        if r.hits(skip) || roles::is_address(&f.func) {
            continue;
        }
        return Some(frame_title(&f.func));
    }
    None
}

/// Waits that hang many unrelated tasks at once when one subsystem is stuck: a task blocked in
/// any of them is titled by the wait itself, so the reports group (an RCU grace period that never
/// ends: `synchronize_net` waits in `synchronize_rcu_expedited`, pre-4.20 `synchronize_sched`;
/// a holder of the RTNL mutex that never releases it). First row wins.
const HANG_BUCKETS: &[(&str, &[&str])] = &[
    ("synchronize_rcu", &["synchronize_rcu", "synchronize_sched", "synchronize_rcu_bh", "__wait_rcu_gp"]),
    ("rtnl_lock", &["rtnl_lock"]),
];

/// Hung tasks: the bucket of a shared wait on the stack, else the first frame past the
/// scheduler, locks and everything named for waiting (the task sleeps there, the work is below).
fn hang_frame(frames: &[Frame]) -> Option<String> {
    let reliable = || frames.iter().filter(|f| f.reliable).map(|f| roles::base_name(&f.func));
    for (bucket, funcs) in HANG_BUCKETS {
        if reliable().any(|f| funcs.iter().any(|w| f.starts_with(w))) {
            return Some((*bucket).to_string());
        }
    }
    first_frame(frames, roles::NEVER_GUILTY.with(Role::Wait))
}

/// Syscalls that multiplex many handlers (the file or socket chooses): a stall in them is named
/// by the handler, not the syscall.
const MULTIPLEXED: &[&str] = &[
    "ioctl",
    "compat_ioctl",
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "sendmsg",
    "sendmmsg",
    "sendto",
    "send",
    "recvmsg",
    "recvfrom",
    "recv",
    "splice",
    "sendfile",
    "sendfile64",
    "setsockopt",
    "getsockopt",
    "io_uring_enter",
];

/// Where a stall's work starts: entry code, interrupt/softirq/worker dispatch, handler dispatch.
const ANCHORS: Roles = Roles::of(&[Role::Entry, Role::Context, Role::Dispatch]);

/// Stalls and lockups: the stack is wherever the loop was interrupted, so the title names the
/// work the CPU was doing: the innermost trustworthy frame under the dispatch that started it
/// (a syscall, an interrupt or softirq, a worker), or the syscall itself when it does one job.
/// Frames of the interrupt that runs the stall detector are not part of the loop.
///
/// A stall report holds several stacks (`starts`: where each `Call Trace:` began). A lockup
/// detector prints the stuck CPU first, so its first stack is the one; an RCU stall may first dump
/// the starved grace-period kthread, and the stalled CPU's stack is the first that runs the
/// detector's timer interrupt (a self-detected stall, or the NMI backtrace the detector asked
/// for). Within that stack the work starts past the detector interrupt.
/// The `RIP:` printed right past the detector interrupt is the function the loop was in when
/// the interrupt came (`pcs`), the innermost frame of the work.
fn stall_frame(frames: &[Frame], starts: &[usize], pcs: &[(usize, String)], rcu: bool) -> Option<String> {
    let stacks = || {
        let ends = starts.iter().copied().skip(1).chain(std::iter::once(frames.len()));
        starts.iter().copied().zip(ends).map(|(a, b)| (a.min(b), b))
    };
    let (lo, hi) = if starts.is_empty() {
        (0, frames.len())
    } else if rcu {
        stacks()
            .find(|&(a, b)| frames[a..b].iter().any(|f| is_detector_irq(&f.func)))
            .or_else(|| stacks().next())
            .unwrap_or((0, frames.len()))
    } else {
        stacks().next().unwrap_or((0, frames.len()))
    };
    let stack = &frames[lo..hi];
    // A lockup detector prints the registers it interrupted (`RIP:` before the stack) and the
    // stack from there: that stack holds no detector interrupt (an `apic_timer_interrupt` in it
    // is an earlier interrupt whose exit ran the looping softirq), and the `RIP:` is the
    // innermost work.
    let interrupted = (!rcu).then(|| pcs.iter().find(|(at, _)| *at == lo)).flatten();
    let first =
        if interrupted.is_some() { None } else { stack.iter().position(|f| is_detector_irq(&f.func)) };
    let start = first.map_or(0, |i| i + stack[i..].iter().take_while(|f| is_detector_irq(&f.func)).count());
    let pc = interrupted
        .or_else(|| first.and(pcs.iter().find(|(at, _)| *at == lo + start)))
        .map(|(_, f)| f.as_str());
    let funcs = pc.into_iter().chain(stack[start..].iter().filter(|f| f.reliable).map(|f| f.func.as_str()));
    let mut prev: Option<&str> = None;
    // The handler a multiplexed syscall chose, even when it is itself a dispatcher.
    let mut handler: Option<&str> = None;
    for func in funcs {
        if let Some((_, name)) = syscall_of(func) {
            if MULTIPLEXED.contains(&name) {
                return Some(frame_title(prev.or(handler).unwrap_or(func)));
            }
            return Some(frame_title(func));
        }
        if func.contains("smp_call_function") {
            return Some("smp_call_function".into());
        }
        let r = roles::roles(func);
        if r.hits(ANCHORS) {
            if prev.is_some() {
                break;
            }
            if r.contains(Role::Dispatch) {
                handler = Some(func);
            }
            continue;
        }
        if r.hits(roles::NEVER_GUILTY.with(Role::Plumbing)) || roles::is_address(func) {
            continue;
        }
        prev = Some(func);
    }
    prev.map(frame_title)
}

/// The timer interrupt that runs the RCU stall and soft-lockup detectors.
fn is_detector_irq(func: &str) -> bool {
    let b = roles::base_name(func);
    b.contains("apic_timer_interrupt")
        || matches!(
            b,
            "hrtimer_interrupt" | "arch_timer_handler_virt" | "arch_timer_handler_phys" | "timer_interrupt"
        )
}

/// lockdep lock sites: `(&bdev->bd_mutex){+.+.}, at: [<..>] blkdev_reread_part+0x1e/0x40`,
/// `#0: ffff8880...(&mm->mmap_lock){++++}-{3:3}, at: mmap_read_lock include/...:12` (the frame
/// text), and `syz/123 is trying to release lock (rtnl_mutex) at:` (`None`: the frame follows).
fn lock_site(t: &str) -> Option<Option<&str>> {
    if let Some(i) = t.find(", at: ") {
        return Some(Some(t[i + 6..].trim()));
    }
    (t.ends_with(" at:") && t.contains(" lock")).then_some(None)
}

/// The faulting function on a pc line of any architecture: x86 `IP: [<..>] func+0x1/0x2`, `RIP:
/// 0010:[<..>]  [<..>] func+0x1/0x2` (before 4.x), i386 `EIP: [<..>] func+..`, `EIP is at`, arm
/// `PC is at func+0x1/0x2` (arm64 `pc : func+..` is a register line), ppc `NIP [c00..] func+0x1/0x2`, riscv/mips `epc : func+..`, s390
/// `Krnl PSW : ... (func+0x1/0x2)`. `func+off/size` as printed.
/// `None` when the line is not a pc line, `Some(None)` when it names no function (`IP: (null)`).
fn pc_line(t: &str) -> Option<Option<&str>> {
    const P: &[&str] = &[
        "IP: ",
        "RIP: ",
        "EIP: ",
        "EIP is at ",
        "PC is at ",
        "LR is at ",
        "NIP [",
        "epc : ",
        "Krnl PSW : ",
        "last function: ",
    ];
    if !P.iter().any(|p| t.starts_with(p)) {
        return None;
    }
    // `RIP: 0010:func+0x1/0x2` is a register line (parsed with the registers).
    if t.starts_with("RIP: ") && !t.contains("[<") {
        return None;
    }
    if t.starts_with("LR is at ") {
        return Some(None);
    }
    // workqueue's `last function: addrconf_dad_work` (a name without offset).
    if let Some(f) = t.strip_prefix("last function: ") {
        let f = f.trim();
        let ident = !f.is_empty() && f.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.');
        return Some(ident.then_some(f));
    }
    let tok = t
        .split_ascii_whitespace()
        .skip(1)
        .map(|w| w.trim_matches(['(', ')']))
        .find(|w| w.contains("+0x") && !w.starts_with('[') && !w.contains(':'));
    Some(tok.filter(|t| parse_frame(t).is_some()))
}

fn boundary(t: &str) -> Option<Option<&'static str>> {
    let ctx = match t {
        "<IRQ>" => Some("irq"),
        "<NMI>" => Some("nmi"),
        "<TASK>" => Some("task"),
        "<SOFTIRQ>" => Some("softirq"),
        "<#DF>" | "<#MC>" | "<#DB>" => Some("exception"),
        "</IRQ>" | "</NMI>" | "</TASK>" | "</SOFTIRQ>" | "<EOI>" | "</#DF>" => None,
        _ => {
            if t.starts_with("--- <") && t.ends_with("> ---") || t.starts_with("Exception stack(") {
                return Some(Some("irq"));
            }
            return None;
        }
    };
    Some(ctx)
}

/// The line that opens a secondary stack, without its `:`: KASAN `Allocated by task 2760:`,
/// KFENCE `freed by task 488 on cpu 2 at 33.871358s:`, KASAN `Last potentially related work
/// creation:`, KMSAN `Uninit was stored to memory at:`, slub_debug `INFO: Allocated in
/// get_modalias+0x61/0xf5 age=53 cpu=1 pid=554` (the stack follows since 5.x).
#[inline(never)]
fn aux_label(t: &str) -> Option<&str> {
    const P: &[&str] = &[
        "Allocated by task ",
        "Freed by task ",
        "allocated by task ",
        "freed by task ",
        "Last potentially related work creation",
        "Second to last potentially related work creation",
        "Last call_rcu()",
        "Second to last call_rcu()",
        "Uninit was ",
        "Local variable ",
        // might_sleep(): where preemption was disabled (one frame), not the report's stack.
        "Preemption disabled at",
        // page_owner (6.x): `page last free pid 8932 tgid 8930 stack trace:`, 5.x `page last
        // free stack trace:`.
        "page last free",
    ];
    if let Some(l) = t.strip_suffix(':') {
        if P.iter().any(|p| l.starts_with(p)) {
            return Some(l);
        }
    }
    // page_owner: `page last allocated via order 0, migratetype Unmovable, gfp_mask 0x..., pid
    // 8978, ...` and the stack that allocated the page.
    if t.starts_with(PAGE_OWNER_ALLOC) {
        return Some(PAGE_OWNER_ALLOC);
    }
    let track = t.strip_prefix("INFO: ").unwrap_or(t);
    (slub_track(track).is_some()).then_some(track)
}

/// The label of page_owner's allocation stack.
const PAGE_OWNER_ALLOC: &str = "page last allocated via";

/// slub_debug `Allocated in get_modalias+0x61/0xf5 age=53 cpu=1 pid=554` -> `get_modalias+0x61/0xf5`.
fn slub_track(t: &str) -> Option<&str> {
    let r = t.strip_prefix("Allocated in ").or_else(|| t.strip_prefix("Freed in "))?;
    let (site, rest) = r.split_once(' ')?;
    rest.starts_with("age=").then_some(site)
}

/// RCU stall lines under the header: `2-...: (3 GPs behind) idle=06c/0/0 softirq=1453/1455 fqs=0`,
/// tasks `P3421`, `rcu: ...` (6.x prefix).
fn is_rcu_stall_detail(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && b.get(digits) == Some(&b'-')
        || b.first() == Some(&b'P') && b.get(1).is_some_and(u8::is_ascii_digit)
        || t.starts_with("All QSes seen")
        || t.contains(" kthread starved for ")
        || t.starts_with("Unless ")
        || t.starts_with("Possible timer handling issue")
        || t.starts_with("blocking rcu_node structures")
}

/// `00000000 c12ba080 00000000 ...`: raw stack words that old x86 kernels print before the trace;
/// arm prints them under `Stack: (0x.. to 0x..)` and `Exception stack(..)` after the low bits of
/// their address (`de20: 8067b314 0b6d83e6 ...`).
fn is_stack_words(t: &str) -> bool {
    let mut n = 0;
    let mut words = t.split_ascii_whitespace().peekable();
    if words
        .peek()
        .and_then(|w| w.strip_suffix(':'))
        .is_some_and(|a| a.bytes().all(|c| c.is_ascii_hexdigit()))
    {
        words.next();
    }
    for w in words {
        if !(w.len() == 8 || w.len() == 16) || !w.bytes().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
        n += 1;
    }
    n >= 2
}

/// Line starts [`is_oops_detail`] takes as report body.
const OOPS_DETAIL: &[&str] = &[
    "Mem abort info",
    "ESR = ",
    "EC = ",
    "Exception class",
    "SET = ",
    "EA = ",
    "FSC = ",
    "Data abort info",
    "ISV = ",
    "CM = ",
    "user pgtable",
    "swapper pgtable",
    "Internal error",
    "pgd = ",
    "last sysfs file",
    "pc : [<",
    "psr: ",
    "ip : ",
    "Flags: ",
    "Control: ",
    "Stack: (",
    "Exception stack",
    "Function entered at",
    "Unwind",
    "Register r",
    "REGS: ",
    "MSR: ",
    "CFAR: ",
    "DAR: ",
    "GPR",
    "Krnl ",
    "Krnl Code",
    "stack segment",
    "RIP: ",
    "Instruction dump",
    "Last Breaking-Event",
    "Process ",
    "#PF: ",
    "PGD ",
    "P4D ",
    "PUD ",
    "PMD ",
    "PTE ",
    "Oops: ",
    "Workqueue: ",
    "Kernel panic",
    "Kernel Offset",
    "---[",
    "------------[ cut here",
    "irq event stamp",
    "hardirqs last",
    "softirqs last",
    "CR2: ",
    "Dumping ftrace",
    "The buggy address",
    "Allocated by task",
    "Freed by task",
    "Memory state around",
    "INFO: ",
    "Redzone ",
    "Object ",
    "Padding ",
    "Bytes b4 ",
    "FIX ",
    "Disabling lock debugging",
    "Last potentially related",
    "Second to last",
    "rcu: ",
    "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\"",
    "task:",
    "Showing all locks",
    "Sending NMI",
    "NMI backtrace",
    "Tainted: ",
    "Hardware name",
    "Kernel panic",
    "Modules linked in",
    "SMP: stopping",
    "Unable to handle",
    "Mem-Info",
    "softirq",
    "(detected by",
    "rcu_",
    "Task dump",
    "Call trace",
    "Call Trace",
    "Corrupted ",
    "Slab 0x",
    "slab ",
    "page:",
    "page dumped",
    "page_owner ",
    "flags: ",
    "raw: ",
    "head: ",
    "pstate: ",
    "pc : ",
    "lr : ",
    "sp : ",
    "[0",
    "#0",
    "#1",
    "#2",
    "#3",
    "#4",
    "#5",
    "#6",
    "#7",
    "#8",
    "#9",
    "cache_from_obj",
    "Modules linked",
    "Code: ",
];

/// [`OOPS_DETAIL`] by first byte: a line is compared with the few starts that begin as it does
/// (this runs on every report line nothing else took).
static OOPS_DETAIL_BY_FIRST: std::sync::LazyLock<Vec<Vec<&'static str>>> = std::sync::LazyLock::new(|| {
    let mut by = vec![Vec::new(); 256];
    for p in OOPS_DETAIL {
        by[usize::from(p.as_bytes()[0])].push(*p);
    }
    by
});

fn is_oops_detail(t: &str) -> bool {
    let first = t.as_bytes().first().map_or(0, |&c| usize::from(c));
    OOPS_DETAIL_BY_FIRST[first].iter().any(|p| t.starts_with(p))
        || t.starts_with('[') && t.contains("pgd=")
        || t.len() >= 8 && t.bytes().all(|c| c == b'-' || c == b'=')
        || is_stack_words(t)
        || t.starts_with("ffff") && t.contains(':')
        || is_arm_regs(t)
        || is_context_detail(t)
}

/// What `might_sleep()`'s and lockdep's reports print about the context (`in_atomic(): 1,
/// irqs_disabled(): 1, ...`, `preempt_count: 1, expected: 0`, `3 locks held by syz/6529:`), and
/// the CPU line of kernels before 3.x (`CPU: 0    Not tainted  (2.6.32 #22)`, no PID).
#[cold]
fn is_context_detail(t: &str) -> bool {
    const P: &[&str] = &[
        "in_atomic(): ",
        "preempt_count: ",
        "RCU nest depth: ",
        "Preemption disabled at",
        "no locks held by ",
    ];
    P.iter().any(|p| t.starts_with(p))
        || t.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && (t.contains(" locks held by ") || t.contains(" lock held by "))
        || t.starts_with("CPU: ") && t.contains("ainted")
}

/// arm's register dump (`r10: 81de5c68  r9 : 825d5140  r8 : dfa2de7c`) and the registers it
/// prints under each backtrace frame (`r10:84e00c00 r9:20000000 r8:85048900`).
fn is_arm_regs(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = b.iter().skip(1).take_while(|c| c.is_ascii_digit()).count();
    b.first() == Some(&b'r') && (1..=2).contains(&digits) && {
        let rest = &t[1 + digits..];
        rest.starts_with(':') || rest.starts_with(" :")
    }
}

fn is_hex_dump(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 2 && b[0].is_ascii_hexdigit() && b[1].is_ascii_hexdigit() && b.get(2) == Some(&b' ')
}

/// `Killed process `, searched on every line of an OOM report.
static KILLED: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("Killed process "));

/// Lines `show_mem()` and the OOM report print (counters, swap, hugepages, slab summaries).
fn is_mem_dump_line(t: &str) -> bool {
    let first = t.as_bytes().first().copied().unwrap_or(b' ');
    first.is_ascii_digit()
        || [
            "Hugepages",
            "Swap cache",
            "Node ",
            "Free swap",
            "Total swap",
            "Unreclaimable slab",
            "Name ",
            "memory+swap:",
            "kmem:",
            "swap:",
            "Memory cgroup",
            "Out of memory",
            "oom_reaper",
            "Tasks state",
            "cpuset=",
            "Mem-Info",
            "active_anon",
            "slab_reclaimable",
            "mapped:",
            "free:",
            "unevictable:",
            "DMA",
            "Normal",
            "DMA32",
            "Movable",
            "HighMem",
        ]
        .iter()
        .any(|p| t.starts_with(p))
        || {
            let mut w = t.split_ascii_whitespace();
            let (_, second, third, fourth) = (w.next(), w.next(), w.next(), w.next());
            match (second, third, fourth) {
                (Some(v), None, _) => v.bytes().all(|c| c.is_ascii_digit() || c == b'K' || c == b'B'),
                (Some(_), Some(_), None) => t.ends_with("KB"),
                _ => false,
            }
        }
}

fn first_is_key(t: &str) -> bool {
    // `active_anon:123 inactive_anon:456 ...`
    let first = t.split_ascii_whitespace().next().unwrap_or("");
    match first.split_once(':') {
        Some((k, v)) => {
            !k.is_empty()
                && k.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
                && v.bytes().all(|c| c.is_ascii_digit())
                && !v.is_empty()
        }
        None => false,
    }
}

fn field_after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let i = s.find(key)?;
    let v = &s[i + key.len()..];
    Some(v.split([',', ' ']).next().unwrap_or(v))
}

fn kb(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_suffix("kB").or_else(|| s.strip_suffix("KB")).unwrap_or(s);
    s.trim().parse().ok()
}

/// `gfp_mask=0xcc0(GFP_KERNEL)` / `mode:0x24201ca(GFP_HIGHUSER_MOVABLE|__GFP_COLD)`.
fn parse_gfp(s: &str, key: &str, mem: &mut MemReport) {
    let Some(i) = s.find(key) else { return };
    let v = &s[i + key.len()..];
    let end = v.find([',', ' ']).unwrap_or(v.len());
    let v = &v[..end];
    let (hex, names) = match v.split_once('(') {
        Some((h, n)) => (h, n.trim_end_matches(')')),
        None => (v, ""),
    };
    mem.gfp_mask = Some(hex.to_string());
    mem.gfp_flags = names.split('|').filter(|n| !n.is_empty() && *n != "none").map(str::to_string).collect();
}

/// The `oom-kill:` summary (4.19+): `constraint=CONSTRAINT_MEMCG,...,oom_memcg=/a,task=x,pid=1,uid=0`.
fn parse_oom_kill(c: &str, mem: &mut MemReport) {
    for kv in c.split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            match k {
                "constraint" => {
                    mem.constraint = Some(v.to_string());
                    let scope = if v == "CONSTRAINT_MEMCG" { OomScope::Memcg } else { OomScope::System };
                    mem.oom_scope = Some(scope);
                    mem.oom_scope_by = Some(format!("constraint={v}"));
                }
                "oom_memcg" => mem.oom_memcg = Some(v.to_string()),
                "task_memcg" => mem.task_memcg = Some(v.to_string()),
                "task" => mem.victim = Some(v.to_string()),
                "pid" => mem.victim_pid = v.parse().ok(),
                _ => {}
            }
        }
    }
}

/// `memory: usage 102400kB, limit 102400kB, failcnt 117` (after `memory: usage `): the memcg's
/// charge, limit and how often the limit was hit, printed by `mem_cgroup_print_oom_meminfo`.
fn memcg_counters(r: &str, mem: &mut MemReport) {
    mem.memcg_usage_kb = kb(r.split(',').next().unwrap_or(""));
    mem.memcg_limit_kb = field_after(r, "limit ").and_then(|v| kb(v.trim_end_matches(',')));
    mem.memcg_failcnt = field_after(r, "failcnt ").and_then(|v| v.parse().ok());
}

/// Functions on the stack of an OOM only when a memory cgroup's charge invoked it (every version:
/// `mem_cgroup_out_of_memory` since 2.6.x, `mem_cgroup_oom_synchronize` 3.12-5.x, `try_charge_memcg`
/// since 5.13).
pub const MEMCG_OOM_FRAMES: &[&str] =
    &["mem_cgroup_out_of_memory", "mem_cgroup_oom_synchronize", "mem_cgroup_oom", "try_charge_memcg"];

/// A line that tells what an OOM was confined to (first one wins; a printed constraint overrides):
/// the memcg kill line, `Task in /x killed as a result of limit of /y` (before 4.19: /y is the
/// cgroup at its limit), the memcg's `memory: usage` and `Memory cgroup stats for /x` lines
/// (printed only for memcg OOMs); the global kill line `Out of memory: Kill(ed) process`. True
/// when the line told.
fn oom_scope_line(t: &str, mem: &mut MemReport) -> bool {
    let scope = if let Some(r) = t.strip_prefix("Task in ") {
        let Some((_, cg)) = r.split_once(" killed as a result of limit of ") else { return false };
        if mem.oom_memcg.is_none() && !cg.trim().is_empty() {
            mem.oom_memcg = Some(cg.trim().to_string());
        }
        OomScope::Memcg
    } else if let Some(r) = t.strip_prefix("Memory cgroup stats for ") {
        // Before 4.19, v1 prints one line per cgroup of the subtree, the one at its limit first,
        // each with that cgroup's own counters (`cache:0KB rss:868KB ...`): summed, the subtree's.
        let (cg, stats) = r.split_once(':').unwrap_or((r, ""));
        let cg = cg.trim();
        if mem.oom_memcg.is_none() && !cg.is_empty() {
            mem.oom_memcg = Some(cg.to_string());
        }
        for kv in stats.split_whitespace() {
            let Some((k, v)) = kv.split_once(':') else { continue };
            let Some(b) = v.strip_suffix("KB").and_then(|v| v.parse::<u64>().ok()) else { continue };
            let b = b.saturating_mul(1024);
            if let Some((_, x)) = mem.memcg_stats.iter_mut().find(|(n, _)| n == k) {
                *x = x.saturating_add(b);
            } else if mem.memcg_stats.len() < 128 {
                mem.memcg_stats.push((k.to_string(), b));
            }
        }
        OomScope::Memcg
    } else if t.starts_with("Memory cgroup out of memory") || t.starts_with("memory: usage ") {
        OomScope::Memcg
    } else if t.starts_with("Out of memory: Kill") {
        OomScope::System
    } else {
        return false;
    };
    if mem.oom_scope.is_none() {
        mem.oom_scope = Some(scope);
        let line: String = t.chars().take(80).collect();
        mem.oom_scope_by = Some(format!("`{line}`"));
    }
    true
}

/// `... Killed process 11452 (python3) total-vm:119016kB, anon-rss:101760kB, file-rss:6624kB, ...`
/// Also the pre-4.x `Out of memory: Kill process 1234 (x) score 900 or sacrifice child`.
fn parse_killed(t: &str, mem: &mut MemReport) {
    let r = match t.find("Killed process ") {
        Some(i) => &t[i + "Killed process ".len()..],
        None => match t.find("Kill process ") {
            Some(i) => &t[i + "Kill process ".len()..],
            None => return,
        },
    };
    let (pid, r) = r.split_once(' ').unwrap_or((r, ""));
    mem.victim_pid = mem.victim_pid.or(pid.parse().ok());
    if let Some(r) = r.strip_prefix('(') {
        // The comm may hold spaces and parentheses: it ends at the `)` before the first field.
        let end = [" total-vm:", " score "].iter().filter_map(|k| r.find(k)).min().unwrap_or(r.len());
        if let Some(j) = r[..end].rfind(')') {
            mem.victim.get_or_insert_with(|| r[..j].to_string());
        }
    }
    mem.victim_anon_rss_kb = field_after(t, "anon-rss:").and_then(kb);
    mem.victim_file_rss_kb = field_after(t, "file-rss:").and_then(kb);
}

/// `Node 0 Normal free:123kB min:..`, `Node 0 Normal: 360*4kB (UME) 12*8kB ... = 1234kB`,
/// `Node 0 active_anon:...` and `Node 0 hugepages_total=...` (per-node counters: skipped).
fn parse_node_line(r: &str, mem: &mut MemReport) {
    let (node, rest) = r.split_once(' ').unwrap_or((r, ""));
    let Ok(node) = node.parse::<u32>() else { return };
    let (zone, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if let Some(zone) = zone.strip_suffix(':') {
        // buddy list
        let mut blocks = Vec::new();
        let mut page_kb = None;
        for tok in rest.split_whitespace() {
            if tok == "=" {
                break;
            }
            if let Some((n, size)) = tok.split_once('*') {
                let (Ok(n), Some(sz)) = (n.parse::<u64>(), kb(size)) else { continue };
                let base = *page_kb.get_or_insert(sz);
                if base == 0 {
                    continue;
                }
                let order = (sz / base).max(1).trailing_zeros() as usize;
                if order < 20 {
                    if blocks.len() <= order {
                        blocks.resize(order + 1, 0);
                    }
                    blocks[order] = n;
                }
            }
        }
        let z = zone_mut(mem, node, zone);
        z.free_blocks = blocks;
        z.page_kb = page_kb;
        return;
    }
    if zone.contains(':') || zone.contains('=') {
        return; // per-node counters, `Node 0 hugepages_total=0 hugepages_free=0 ...`
    }
    let z = zone_mut(mem, node, zone);
    for kv in rest.split_whitespace() {
        if let Some((k, v)) = kv.split_once(':') {
            let v = kb(v);
            match k {
                "free" => z.free_kb = v,
                "boost" => z.boost_kb = v,
                "min" => z.min_kb = v,
                "low" => z.low_kb = v,
                "high" => z.high_kb = v,
                "managed" => z.managed_kb = v,
                _ => {}
            }
        }
    }
}

fn zone_mut<'a>(mem: &'a mut MemReport, node: u32, zone: &str) -> &'a mut ZoneState {
    let pos = mem.zones.iter().position(|z| z.node == node && z.zone == zone);
    match pos {
        Some(i) => &mut mem.zones[i],
        None => {
            mem.zones.push(ZoneState { node, zone: zone.to_string(), ..ZoneState::default() });
            let last = mem.zones.len() - 1;
            &mut mem.zones[last]
        }
    }
}

/// Lines that only belong inside a report (frames, registers, trace markers): used to detect a
/// report continuing after unrelated lines were interleaved into it.
pub fn is_strict_body(t: &str) -> bool {
    // A frame has `+` (func+off/size): most lines have none, and need not be parsed (or allocate).
    let has_plus = memchr::memchr(b'+', t.as_bytes()).is_some();
    let frame = if has_plus { parse_frame(t) } else { None };
    strict_body_and_regs(t, frame.as_ref(), has_plus).0
}

/// [`is_strict_body`] of a line whose `parse_frame` is `frame` (`has_plus`: whether the line has
/// a `+`), and how many registers the line has (`visit_registers`), which the builder then need
/// not count again.
pub fn strict_body_and_regs(t: &str, frame: Option<&Frame>, has_plus: bool) -> (bool, usize) {
    let regs = visit_registers(t, |_, _| {});
    (regs > 0 || frame.is_some() && has_plus || is_strict_body_rest(t), regs)
}

/// Whether a register line may name the pc: it holds `RIP` or `pc` (the only names whose values
/// the builder reads).
fn may_name_pc(t: &str) -> bool {
    let b = t.as_bytes();
    (0..b.len().saturating_sub(1)).any(|i| match b[i] {
        b'R' => b[i + 1..].starts_with(b"IP"),
        b'p' => b[i + 1] == b'c',
        _ => false,
    })
}

/// [`is_strict_body`] but for frames and registers.
fn is_strict_body_rest(t: &str) -> bool {
    matches!(t, "Call trace:" | "Call Trace:") || boundary(t).is_some() || t.starts_with("Code: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_filled_once() {
        let v = [
            ("{frame}", "kfree"),
            ("{cap}", "use-after-free"),
            ("{access}", "Read"),
            ("{header}", "a {cap} b"),
        ];
        assert_eq!(fill_title("KASAN: {cap} {access} in {frame}", &v), "KASAN: use-after-free Read in kfree");
        // A header holding a placeholder's text is copied as it is; an unknown `{...}` stays.
        assert_eq!(fill_title("{header} {x}", &v), "a {cap} b {x}");
        assert_eq!(fill_title("no placeholders", &v), "no placeholders");
        assert_eq!(fill_title("{", &v), "{");
    }
}
