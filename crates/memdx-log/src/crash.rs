//! `crash` session outputs: `bt` (with `-l`), `ps`, `kmem -i`, `mount`, `swap`. `log` output is
//! ordinary kernel log and goes through the report engine.

use crate::builder::Builder;
use crate::model::*;
use memdx_core::SourceRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Bt,
    Ps,
    Kmem,
    Mount,
    Swap,
    Log,
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
}

impl Session {
    pub fn begin(&mut self, cmd: Cmd, text: String) {
        self.case.commands.push(text);
        match cmd {
            Cmd::Mount => self.case.mounts = Some(0),
            Cmd::Swap => self.case.swap_devices = Some(0),
            _ => {}
        }
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
            Cmd::Log | Cmd::Other => {}
        }
        None
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
        let (Ok(pid), Ok(vsz), Ok(rss)) = (toks[0].parse(), toks[6].parse(), toks[7].parse()) else { return };
        self.case.task_count += 1;
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
            b.pid = r.split_whitespace().next().and_then(|p| p.parse().ok());
            b.cpu = crate::builder_field(t, "CPU: ").and_then(|c| c.parse().ok());
            b.comm = t.split_once("COMMAND: \"").map(|(_, c)| c.trim_end_matches('"').to_string());
            self.case.bt_pid = b.pid;
            self.case.bt_cpu = b.cpu;
            self.case.bt_comm = b.comm.clone();
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
            b.corrupted = Some("bt output cut: frames are missing".into());
            self.bt = Some(b);
            return None;
        }
        let b = self.bt.as_mut()?;
        b.lines += 1;
        b.last_line = line;
        if t == "..." {
            b.corrupted.get_or_insert_with(|| "bt output cut: frames are missing".into());
        } else if let Some(rip) = t.strip_prefix("[exception RIP: ") {
            // [exception RIP: oom_evaluate_task+291]
            let sym = rip.trim_end_matches(']');
            b.pc = Some(sym.to_string());
            push_sym(b, sym, Some("exception"));
        } else if t.starts_with('#') {
            // #8 [ffff8003ffec1640] kmem_cache_free at ffff000008268b58 [module]
            let after = t.split_once("] ").map(|(_, a)| a).unwrap_or("");
            let mut it = after.split_whitespace();
            if let Some(func) = it.next() {
                let module = after.rsplit_once('[').map(|(_, m)| m.trim_end_matches(']').to_string());
                b.frames.push(Frame {
                    func: func.to_string(),
                    offset: None,
                    size: None,
                    module,
                    reliable: true,
                    context: None,
                    location: None,
                });
            }
        } else if t.starts_with('/') && t.contains(": ") {
            if let Some(f) = b.frames.last_mut() {
                if f.location.is_none() {
                    f.location = Some(t.replacen(": ", ":", 1));
                }
            }
        } else if t.starts_with("--- <") {
            b.frames.push(Frame {
                func: t.to_string(),
                offset: None,
                size: None,
                module: None,
                reliable: false,
                context: Some("boundary".into()),
                location: None,
            });
        } else if let Some(r) = t.strip_prefix("PC: ") {
            // arm64 exception frame: `PC: ffff000008268b5c  [kmem_cache_free+252]`
            if let Some(sym) = r.split_once('[').map(|(_, s)| s.trim_end_matches(']')) {
                if b.pc.is_none() {
                    b.pc = Some(sym.split(']').next().unwrap_or(sym).to_string());
                }
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
        self.case.summary = s.join("; ");
        Some(self.case.clone())
    }
}

fn push_sym(b: &mut Builder, sym: &str, ctx: Option<&str>) {
    let (func, off) = match sym.split_once('+') {
        Some((f, o)) => (f, o.parse::<u64>().ok()),
        None => (sym, None),
    };
    b.frames.push(Frame {
        func: func.to_string(),
        offset: off,
        size: None,
        module: None,
        reliable: true,
        context: ctx.map(str::to_string),
        location: None,
    });
}
