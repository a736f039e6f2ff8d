//! `memdx trace`: tracepoint investigations. `reclaim` analyses saved trace text, or captures vmscan,
//! oom and cgroup events live in a private tracefs instance. Other investigations (`slab CACHE`,
//! `allocs`) plug in as further subcommands using the same `memdx_source::tracefs` guard.

use anyhow::{bail, Context};
use memdx_core::Severity;
use memdx_source::files::create_new;
use memdx_source::tracefs::{self, Instance, InstanceSpec, Tracefs};
use memdx_trace::{
    findings, parse_with, table_only, Analyzer, EpisodeKind, Formats, MemcgReclaim, Options, ReclaimReport,
    Scanner, WindowDelta,
};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "trace_allocs.rs"]
mod trace_allocs;
pub(crate) use trace_allocs::parse_size;
#[path = "trace_slab.rs"]
mod trace_slab;

/// Trace kernel events to investigate one problem.
///
/// Live captures need root and tracefs; each runs in a private tracefs instance that is removed on
/// every exit (end, error, Ctrl-C, SIGTERM, panic). --duration is at most 1h. Every subcommand also
/// analyses saved captures (--save output, ftrace text) given as FILEs, without root.
///
/// Examples:
///   sudo memdx trace reclaim --duration 30s
///   sudo memdx trace slab kernfs_node_cache --duration 10m
///   sudo memdx trace allocs --min-size 64K --live
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Remove what memdx runs killed without cleanup left (private instances with their events and
    /// triggers, private tracefs mounts), then exit. Every live capture does this first as well.
    #[arg(long)]
    cleanup: bool,
    #[command(subcommand)]
    cmd: Option<TraceCmd>,
}

#[derive(clap::Subcommand)]
enum TraceCmd {
    /// Reclaim episodes, latency, efficiency and shrinker time (vmscan, oom, cgroup events).
    ///
    /// With FILEs: analyse saved ftrace `trace`/`trace_pipe` text, `trace-cmd report` or `perf script`
    /// output. Without: capture vmscan, oom and cgroup mkdir/rmdir events live for --duration in a
    /// private tracefs instance (root), then print episodes per kind, task latency, LRU efficiency,
    /// shrinkers, throttling, OOM kills and the vmstat/PSI deltas of the window.
    ///
    /// Limits: --duration at most 1h (Ctrl-C stops early and analyses what was captured); the ring buffer
    /// is --buffer-kb per CPU and drops events when full (reported as LOST EVENTS).
    ///
    /// Examples:
    ///   sudo memdx trace reclaim                                   # 30 s, whole machine
    ///   sudo memdx trace reclaim --duration 5m --cgroup /sys/fs/cgroup/memory/kubepods --save r.trace
    ///   memdx trace reclaim r.trace --table                        # saved capture, per-CPU table
    ///   trace-cmd report | memdx trace reclaim - --formats formats.txt
    #[command(verbatim_doc_comment)]
    Reclaim(ReclaimArgs),
    /// One slab cache's allocations and frees by call path and task, without slub_debug.
    ///
    /// Live, traces kmem:kmem_cache_alloc/kmem_cache_free filtered to the cache (a merged alias is
    /// resolved through /sys/kernel/slab), with stacks, plus cgroup mkdir/rmdir, in a private tracefs
    /// instance (root; removed on every exit), then pairs allocations with frees by pointer and prints
    /// the call paths whose objects are still allocated, by task, and whether cgroup churn explains them.
    /// No slub_debug or reboot needed.
    ///
    /// Limits: --duration at most 1h (Ctrl-C stops early and analyses what was captured); a leak needs a
    /// run of 10 minutes or more to be called one; the ring buffer is --buffer-kb per CPU and drops events
    /// when full (reported as LOST EVENTS).
    ///
    /// Examples:
    ///   sudo memdx trace slab kernfs_node_cache --duration 10m
    ///   sudo memdx trace slab dentry --duration 30m --save dentry.trace --buffer-kb 65536
    ///   memdx trace slab dentry dentry.trace --json                # analyse a saved capture
    #[command(verbatim_doc_comment)]
    Slab(trace_slab::SlabArgs),
    /// Large kmalloc and page allocations by call path, size and order histograms, still-live view.
    ///
    /// Live, traces kmem:kmalloc (bytes_req >= --min-size) and kmem:mm_page_alloc (order >= --min-order)
    /// with stacks in a private tracefs instance (root; removed on every exit), then prints the top call
    /// paths by count and by bytes, a histogram of requested sizes and one of page orders. With --live it
    /// also traces the frees (kmem:kfree, unfiltered, and kmem:mm_page_free) and lists the allocations
    /// still not freed when the capture ends, by call path, with the oldest one's age.
    ///
    /// Limits: --duration at most 1h (Ctrl-C stops early and analyses what was captured); the ring buffer
    /// is --buffer-kb per CPU and drops events when full (reported as LOST EVENTS); at most 1,000,000
    /// allocations are followed for --live.
    ///
    /// Examples:
    ///   sudo memdx trace allocs                          # kmalloc >= 32K, pages of order >= 3, 30 s
    ///   sudo memdx trace allocs --min-size 4K --duration 2m --save allocs.trace
    ///   sudo memdx trace allocs --min-size 64K --live    # and what is still allocated at the end
    ///   memdx trace allocs allocs.trace --json           # analyse a saved capture
    #[command(verbatim_doc_comment)]
    Allocs(trace_allocs::AllocsArgs),
}

/// Options every live capture takes.
#[derive(clap::Args, Debug)]
pub struct CaptureArgs {
    /// Keep the raw capture in FILE for offline analysis. Without it the capture is analysed as it
    /// streams and nothing is written (no spool that would take RAM on a tmpfs /tmp).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Print the tracefs writes a live capture would make, and make none.
    #[arg(long)]
    pub dry_run: bool,
    /// Per-CPU ring buffer size of the live capture, KiB (64 to 1048576; all CPUs together at most a
    /// quarter of MemAvailable).
    #[arg(long, default_value_t = 16384, value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    pub buffer_kb: u32,
    /// Root directory of the system (for /proc, /sys and tracefs).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// The source named in findings of a live capture: the `--save` file, else the live stream.
pub(super) fn live_source(save: Option<&Path>) -> String {
    match save {
        Some(p) => p.display().to_string(),
        None => "live trace_pipe".to_string(),
    }
}

/// Longest line kept from a live stream; longer ones are dropped and counted.
const MAX_LINE: usize = 64 * 1024;

/// Splits a live byte stream into numbered lines for a push-style reader. Memory: one partial
/// line, at most [`MAX_LINE`].
#[derive(Default)]
pub(super) struct Lines {
    partial: Vec<u8>,
    lineno: usize,
    skipping: bool,
    pub overlong: u64,
}

impl Lines {
    pub fn push(&mut self, mut chunk: &[u8], f: &mut dyn FnMut(&str, usize)) {
        while let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            self.lineno += 1;
            if self.skipping {
                self.skipping = false;
            } else if self.partial.is_empty() {
                f(&String::from_utf8_lossy(&chunk[..i]), self.lineno);
            } else {
                self.partial.extend_from_slice(&chunk[..i]);
                f(&String::from_utf8_lossy(&self.partial), self.lineno);
            }
            self.partial.clear();
            chunk = &chunk[i + 1..];
        }
        if self.skipping {
            return;
        }
        if self.partial.len() + chunk.len() > MAX_LINE {
            self.partial.clear();
            self.skipping = true;
            self.overlong += 1;
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    pub fn finish(&mut self, f: &mut dyn FnMut(&str, usize)) {
        if !self.partial.is_empty() && !self.skipping {
            self.lineno += 1;
            f(&String::from_utf8_lossy(&self.partial), self.lineno);
        }
        self.partial.clear();
    }
}

/// What the reading loop hands the analysing thread.
pub(super) enum Msg {
    Data(Vec<u8>),
    /// A new pid filter (the tasks of `--cgroup`, sampled as the capture runs).
    Pids(BTreeSet<i32>),
}

/// What the analysing thread sees: lines in order, and pid filter changes between them.
pub(super) enum Item<'a> {
    Line(&'a str, usize),
    Pids(BTreeSet<i32>),
}

/// Chunks queued between the reader of `trace_pipe` and the analysis: the reader keeps draining
/// the ring buffer through bursts while the analysis catches up. Reads are gathered into chunks of
/// [`CHUNK`] bytes (a pipe read is often one page), so the queue holds at most
/// `QUEUE_CHUNKS x CHUNK` = 64 MiB plus one read: bounded, whatever the capture's size.
pub(super) const QUEUE_CHUNKS: usize = 256;
const CHUNK: usize = 256 * 1024;

/// The analysing side: every queued chunk split into lines for `handle`, in order. Returns the
/// number of lines longer than [`MAX_LINE`] that were skipped.
pub(super) fn analyse(rx: std::sync::mpsc::Receiver<Msg>, handle: &mut dyn FnMut(Item<'_>)) -> u64 {
    let mut lines = Lines::default();
    for m in rx {
        match m {
            Msg::Data(c) => lines.push(&c, &mut |l, n| handle(Item::Line(l, n))),
            Msg::Pids(p) => handle(Item::Pids(p)),
        }
    }
    lines.finish(&mut |l, n| handle(Item::Line(l, n)));
    lines.overlong
}

/// The reading side of a live capture: drains `trace_pipe` into `save` and the queue until
/// `duration` passes or SIGINT/SIGTERM, calls `at_stop`, stops tracing and drains what the ring
/// buffer still holds. `tick` runs between reads. Returns (seconds traced, interrupted).
pub(super) fn pump(
    inst: &mut Instance,
    stop: &std::sync::atomic::AtomicBool,
    duration: Duration,
    save: &mut Option<std::io::BufWriter<std::fs::File>>,
    tx: &std::sync::mpsc::SyncSender<Msg>,
    mut tick: impl FnMut(&std::sync::mpsc::SyncSender<Msg>),
    mut at_stop: impl FnMut(),
) -> anyhow::Result<(f64, bool)> {
    let t0 = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut interrupted = false;
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK);
    // Gathers reads; sends when a chunk is full, the pipe is empty (`flush`), or at the end.
    let mut chunk = |buf: &[u8],
                     flush: bool,
                     save: &mut Option<std::io::BufWriter<std::fs::File>>|
     -> anyhow::Result<()> {
        if let Some(s) = save.as_mut() {
            s.write_all(buf)?;
        }
        pending.extend_from_slice(buf);
        if (flush || pending.len() >= CHUNK) && !pending.is_empty() {
            let full = std::mem::replace(&mut pending, Vec::with_capacity(CHUNK));
            if tx.send(Msg::Data(full)).is_err() {
                bail!("the analysis of the live capture stopped");
            }
        }
        Ok(())
    };
    loop {
        let n = inst.read_pipe(&mut buf)?;
        chunk(&buf[..n], n == 0, save)?;
        tick(tx);
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if t0.elapsed() >= duration {
            break;
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    at_stop();
    inst.stop()?;
    let seconds = t0.elapsed().as_secs_f64();
    loop {
        let n = inst.read_pipe(&mut buf)?;
        chunk(&buf[..n], n == 0, save)?;
        if n == 0 {
            break;
        }
    }
    Ok((seconds, interrupted))
}

/// The memory cgroup of a task (`/proc/PID/cgroup`: the v1 `memory` line, else the v2 `0::` line).
fn memcg_of(root: &Path, pid: i32) -> Option<String> {
    let text = tracefs::read_rooted(root, &format!("proc/{pid}/cgroup")).ok()?;
    let line = |pred: &dyn Fn(&str) -> bool| {
        text.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            pred(ctrl).then(|| path.to_string())
        })
    };
    line(&|c| c.split(',').any(|x| x == "memory")).or_else(|| line(&|c| c.is_empty()))
}

/// Opens tracefs (mounting a private one if needed), installs the SIGINT/SIGTERM flag and creates the
/// instance. With `dry_run`, prints the tracefs writes it would make, makes none, and returns `None`.
pub(super) fn start_instance(
    root: &std::path::Path,
    dry_run: bool,
    spec: InstanceSpec,
) -> anyhow::Result<Option<(Instance, std::sync::Arc<std::sync::atomic::AtomicBool>)>> {
    // The signal guard first: a signal from here on stops the capture and runs the cleanup, even
    // one that arrives while tracefs is being mounted.
    let stop = tracefs::stop_flag().context("installing signal handlers")?;
    if !dry_run {
        report_stale(&tracefs::cleanup_stale(root));
        check_buffer(root, spec.buffer_kb)?;
    }
    let tfs = Tracefs::open(root, dry_run).context("opening tracefs")?;
    let mut inst = Instance::create(tfs, spec).context("creating the tracefs instance")?;
    if inst.dry_run() {
        inst.cleanup().map_err(|e| anyhow::anyhow!(e.join("; ")))?;
        for w in inst.writes() {
            println!("{w}");
        }
        return Ok(None);
    }
    Ok(Some((inst, stop)))
}

/// Prints what a stale-instance sweep removed or could not remove.
fn report_stale(st: &tracefs::Stale) {
    for r in &st.removed {
        eprintln!("memdx: removed a leftover of a killed memdx run: {r}");
    }
    for f in &st.failed {
        eprintln!("memdx: warning: cannot remove a leftover of a killed memdx run: {f}");
    }
}

/// Refuses ring buffers that would take more than a quarter of MemAvailable (they are allocated at
/// once, evicting page cache, before tracing starts).
fn check_buffer(root: &Path, buffer_kb: u32) -> anyhow::Result<()> {
    let avail = tracefs::read_rooted(root, "proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| {
            l.strip_prefix("MemAvailable:").and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
    });
    let cpus = tracefs::read_rooted(root, "proc/stat")
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
                .count() as u64
        })
        .unwrap_or(1)
        .max(1);
    let total = u64::from(buffer_kb).saturating_mul(cpus);
    if let Some(avail) = avail {
        if total > avail / 4 {
            bail!(
                "--buffer-kb {buffer_kb} x {cpus} CPUs = {} would take more than a quarter of MemAvailable ({}); use a smaller --buffer-kb",
                memdx_core::units::kib(total),
                memdx_core::units::kib(avail)
            );
        }
    }
    Ok(())
}

/// Reclaim episodes, latency, efficiency and shrinker time.
#[derive(clap::Args)]
pub struct ReclaimArgs {
    /// Saved trace text ('-' for stdin).
    files: Vec<PathBuf>,
    /// Live capture length, e.g. 30s, 500ms, 2m; at most 1h.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Only the tasks of this cgroup (sampled during the capture); its directory, e.g.
    /// /sys/fs/cgroup/memory/kubepods.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// Event `format` files (concatenated) of the traced kernel, for offline traces.
    #[arg(long)]
    formats: Option<PathBuf>,
    /// Print only the per-CPU per-second table of episode ends (fast path; the layout of the C tabulator
    /// used in the 4.18 arm64 memcg reclaim-storm investigation).
    #[arg(long)]
    table_only: bool,
    /// Print the per-CPU per-second table after the summary.
    #[arg(long)]
    table: bool,
    #[command(flatten)]
    capture: CaptureArgs,
}

/// `--duration` of a live capture: up to one hour.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let ms = memdx_core::units::parse_duration_ms(s)?;
    if ms == 0 || ms > 3_600_000 {
        return Err(format!("duration {s:?} must be between 0 and 1 hour"));
    }
    Ok(Duration::from_millis(ms))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.cleanup {
        let st = tracefs::cleanup_stale(Path::new("/"));
        report_stale(&st);
        if let Some(why) = &st.unlisted {
            bail!("cannot look for leftovers of killed memdx runs: {why}");
        }
        if st.removed.is_empty() && st.failed.is_empty() {
            eprintln!("memdx: no leftovers of killed memdx runs");
        }
        if !st.failed.is_empty() {
            return Ok(super::EXIT_USAGE);
        }
        if args.cmd.is_none() {
            return Ok(super::EXIT_OK);
        }
    }
    let Some(cmd) = args.cmd else {
        bail!("a subcommand (reclaim, slab, allocs) or --cleanup is needed; see memdx trace --help");
    };
    match cmd {
        TraceCmd::Reclaim(a) => reclaim(a),
        TraceCmd::Slab(a) => trace_slab::run(a),
        TraceCmd::Allocs(a) => trace_allocs::run(a),
    }
}

fn open_input(p: &Path) -> anyhow::Result<Box<dyn std::io::Read>> {
    let r = memdx_source::open_stream(p).with_context(|| format!("{}", p.display()))?;
    Ok(Box::new(r))
}

fn reclaim(a: ReclaimArgs) -> anyhow::Result<u8> {
    if a.table_only {
        let mut out = std::io::stdout().lock();
        for f in &a.files {
            let r = open_input(f)?;
            let stats = table_only(r, |row| {
                let _ = writeln!(out, "{}{}", row.c_tabulator_line(), if row.last { "  (last)" } else { "" });
            })
            .with_context(|| format!("{}", f.display()))?;
            if stats.damaged > 0 {
                eprintln!("memdx: {}: {} damaged reclaim_end lines skipped", f.display(), stats.damaged);
            }
        }
        return Ok(super::EXIT_OK);
    }
    let mut formats = Formats::builtin();
    if let Some(f) = &a.formats {
        let text = std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?;
        let (_, diags) =
            formats.add_format_files(&text, &memdx_core::SourceRef::new(f.display().to_string()));
        for d in diags {
            eprintln!("memdx: {d}");
        }
    }
    let mut reports = Vec::new();
    if a.files.is_empty() {
        match live(&a, formats)? {
            Some(r) => reports.push(r),
            None => return Ok(super::EXIT_OK),
        }
    } else {
        for f in &a.files {
            let r = open_input(f)?;
            let scan = parse_with(
                BufReader::with_capacity(1 << 20, r),
                &f.display().to_string(),
                formats.clone(),
                Options::default(),
            );
            reports.push(scan.reclaim);
        }
    }
    let mut worst = None;
    for r in &reports {
        let fs = findings(r);
        worst = worst.max(fs.iter().map(|f| f.severity).max());
        if a.capture.json {
            println!("{}", serde_json::to_string_pretty(&memdx_render::schema::ReclaimDoc::new(r, &fs))?);
        } else {
            print_report(r, &fs, a.table)?;
        }
    }
    Ok(if worst >= Some(Severity::Warning) { super::EXIT_FINDINGS } else { super::EXIT_OK })
}

fn cgroup_pids(dir: &Path, into: &mut BTreeSet<i32>) {
    for f in ["cgroup.procs", "tasks"] {
        if let Ok(t) = std::fs::read_to_string(dir.join(f)) {
            into.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
}

fn swap_total_kb(root: &Path) -> Option<u64> {
    let m = tracefs::read_rooted(root, "proc/meminfo").ok()?;
    m.lines()
        .find_map(|l| l.strip_prefix("SwapTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Live capture; `None` after a dry run.
fn live(a: &ReclaimArgs, mut formats: Formats) -> anyhow::Result<Option<ReclaimReport>> {
    let events: Vec<String> = ["vmscan", "oom", "cgroup/cgroup_mkdir", "cgroup/cgroup_rmdir"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let spec = InstanceSpec {
        name: tracefs::instance_name("reclaim"),
        events: events.clone(),
        buffer_kb: a.capture.buffer_kb,
        ..Default::default()
    };
    let Some((mut inst, stop)) = start_instance(&a.capture.root, a.capture.dry_run, spec)? else {
        return Ok(None);
    };
    // Layouts of this kernel's events.
    for sys in ["vmscan", "oom", "cgroup"] {
        if let Ok(rd) = std::fs::read_dir(inst.dir().join("events").join(sys)) {
            for ent in rd.flatten() {
                if let Ok(t) = std::fs::read_to_string(ent.path().join("format")) {
                    let _ = formats
                        .add_format_files(&t, &memdx_core::SourceRef::new(ent.path().display().to_string()));
                }
            }
        }
    }
    let mut save = match &a.capture.save {
        Some(p) => {
            Some(std::io::BufWriter::new(create_new(p).with_context(|| format!("{} (--save)", p.display()))?))
        }
        None => None,
    };
    let source = live_source(a.capture.save.as_deref());
    let src = memdx_core::SourceRef::new(source.as_str());
    let vm0 = tracefs::read_rooted(&a.capture.root, "proc/vmstat").unwrap_or_default();
    let psi0 = tracefs::read_rooted(&a.capture.root, "proc/pressure/memory").unwrap_or_default();
    let mut pids = BTreeSet::new();
    if let Some(cg) = &a.cgroup {
        if !cg.is_dir() {
            bail!("{}: not a cgroup directory", cg.display());
        }
        cgroup_pids(cg, &mut pids);
    }
    // Analysed as it streams, on its own thread: the scanner and analyzer hold episodes and
    // tables, not lines.
    let mut scanner = Scanner::new(src.clone(), formats);
    let mut analyzer =
        Analyzer::new(Options { pids: a.cgroup.as_ref().map(|_| pids.clone()), ..Options::default() });
    // Tasks in memcg reclaim -> their memcg, read when first seen (the events carry no memcg).
    const MAX_TASKS: usize = 4096;
    let mut memcg_tasks: HashMap<i32, (Option<String>, u64)> = HashMap::new();
    let root = a.capture.root.clone();
    let mut handle = |item: Item<'_>| match item {
        Item::Pids(p) => analyzer.set_pids(Some(p)),
        Item::Line(line, n) => {
            if let Some(rec) = scanner.line(line, n) {
                if let memdx_trace::Event::ReclaimBegin { kind: EpisodeKind::Memcg, .. } = rec.event {
                    let pid = rec.raw.pid;
                    if let Some(e) = memcg_tasks.get_mut(&pid) {
                        e.1 += 1;
                    } else if memcg_tasks.len() < MAX_TASKS {
                        memcg_tasks.insert(pid, (memcg_of(&root, pid), 1));
                    }
                }
                analyzer.record(&rec);
            }
        }
    };
    eprintln!(
        "memdx: tracing reclaim for {:.1} s in {} (Ctrl-C stops early)",
        a.duration.as_secs_f64(),
        inst.dir().display()
    );
    let mut last_sample = Instant::now();
    let (mut vm1, mut psi1) = (String::new(), String::new());
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CHUNKS);
    let ((secs, interrupted), overlong) = std::thread::scope(|s| -> anyhow::Result<_> {
        let parser = s.spawn(move || analyse(rx, &mut handle));
        let pumped = pump(
            &mut inst,
            &stop,
            a.duration,
            &mut save,
            &tx,
            |tx| {
                if let Some(cg) = &a.cgroup {
                    if last_sample.elapsed() >= Duration::from_millis(100) {
                        cgroup_pids(cg, &mut pids);
                        let _ = tx.send(Msg::Pids(pids.clone()));
                        last_sample = Instant::now();
                    }
                }
            },
            // The window ends when tracing stops; draining what the buffer still holds comes after.
            || {
                vm1 = tracefs::read_rooted(&a.capture.root, "proc/vmstat").unwrap_or_default();
                psi1 = tracefs::read_rooted(&a.capture.root, "proc/pressure/memory").unwrap_or_default();
            },
        );
        drop(tx);
        let overlong =
            parser.join().map_err(|_| anyhow::anyhow!("the analysis of the live capture panicked"))?;
        Ok((pumped?, overlong))
    })?;
    let stats = inst.buffer_stats();
    inst.cleanup().map_err(|e| anyhow::anyhow!("cleanup of {}: {}", inst.dir().display(), e.join("; ")))?;
    drop(inst);
    if let Some(mut s) = save {
        s.flush()?;
    }
    let lost: u64 = stats.iter().map(|s| s.overrun + s.dropped).sum();
    if interrupted {
        eprintln!("memdx: interrupted after {secs:.1} s; analysing what was captured");
    }
    if lost > 0 {
        eprintln!("memdx: the ring buffer dropped {lost} events (overrun + dropped); raise --buffer-kb");
    }
    let mut diags = std::mem::take(&mut scanner.diags);
    if overlong > 0 {
        diags.push(memdx_core::Diag::warning(
            src.clone(),
            format!("{overlong} lines longer than 64 KiB skipped"),
        ));
    }
    let mut r = analyzer.finish(&source, scanner.stats, diags);
    r.scan.lost_events += lost;
    r.context.swap_total_kb = swap_total_kb(&a.capture.root);
    r.context.cgroup = a.cgroup.as_ref().map(|c| c.display().to_string());
    r.context.window = Some(WindowDelta::from_texts(&vm0, &vm1, &psi0, &psi1, secs));
    let mut by_memcg: HashMap<String, (u64, u64)> = HashMap::new();
    for (path, episodes) in memcg_tasks.into_values() {
        let e = by_memcg.entry(path.unwrap_or_else(|| "(task exited)".into())).or_insert((0, 0));
        e.0 += episodes;
        e.1 += 1;
    }
    let mut memcgs: Vec<MemcgReclaim> =
        by_memcg.into_iter().map(|(path, (episodes, pids))| MemcgReclaim { path, episodes, pids }).collect();
    memcgs.sort_by(|a, b| b.episodes.cmp(&a.episodes).then_with(|| a.path.cmp(&b.path)));
    memcgs.truncate(10);
    r.context.memcgs = memcgs;
    if let Some(p) = &a.capture.save {
        eprintln!("memdx: raw capture saved to {}", p.display());
    }
    Ok(Some(r))
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn print_report(r: &ReclaimReport, fs: &[memdx_core::Finding], table: bool) -> std::io::Result<()> {
    println!(
        "memdx trace reclaim  ·  {}  ·  {} events over {:.3} s",
        r.source,
        r.scan.events,
        r.span_ns as f64 / 1e9
    );
    if let Some(c) = &r.context.cgroup {
        println!("cgroup {c}");
    }
    println!();
    println!(
        "episodes       count  complete  <32 pages  prio<=8  reclaimed  total ms   p50 ms   p99 ms   max ms"
    );
    for k in r.kinds.iter().filter(|k| k.begins + k.ends > 0) {
        println!(
            "{:<14} {:>5} {:>9} {:>10} {:>8} {:>10} {:>9.1} {:>8.3} {:>8.3} {:>8.3}",
            k.kind.label(),
            k.begins.max(k.ends),
            k.complete,
            k.under_32,
            k.priority_le_8,
            k.reclaimed,
            ms(k.total_ns),
            ms(k.p50_ns),
            ms(k.p99_ns),
            ms(k.max_ns)
        );
    }
    if !r.tasks.is_empty() {
        println!("\ntask latency (complete episodes)");
        println!(
            "{:<20} {:>8} {:>6} {:>10} {:>9} {:>9} {:>9}",
            "comm", "episodes", "pids", "<32 pages", "p50 ms", "p99 ms", "max ms"
        );
        for t in r.tasks.iter().take(15) {
            println!(
                "{:<20} {:>8} {:>6} {:>10} {:>9.3} {:>9.3} {:>9.3}",
                t.comm,
                t.episodes,
                t.pids,
                t.under_32,
                ms(t.p50_ns),
                ms(t.p99_ns),
                ms(t.max_ns)
            );
        }
    }
    println!(
        "\nLRU: anon scanned {} reclaimed {}; file scanned {} reclaimed {}; efficiency {}",
        r.anon.scanned,
        r.anon.reclaimed,
        r.file.scanned,
        r.file.reclaimed,
        r.efficiency.map_or("n/a".into(), |e| format!("{:.1}%", e * 100.0))
    );
    for i in &r.isolate {
        println!(
            "  isolate {:<14} calls {:>7} requested {:>9} taken {:>9}{}",
            i.lru.map_or("?", |l| l.label()),
            i.calls,
            i.requested,
            i.taken,
            if i.taken_over_requested > 0 {
                format!("  (large folios: {} calls took more than asked)", i.taken_over_requested)
            } else {
                String::new()
            }
        );
    }
    if let Some(s) = r.slab_share {
        println!("shrink_slab share of reclaim time: {:.1}%", s * 100.0);
    }
    for s in r.shrinkers.iter().take(5) {
        println!("  {:<32} calls {:>8}  {:>9.3} ms", s.shrinker, s.calls, ms(s.ns));
    }
    for t in &r.throttle {
        println!(
            "throttled {:<28} {:>6} times  {:>9.1} ms",
            t.reason,
            t.events,
            t.delayed_us as f64 / 1000.0
        );
    }
    for v in &r.oom_victims {
        println!(
            "OOM kill: pid {} {}",
            v.pid.map_or("?".into(), |p| p.to_string()),
            v.comm.as_deref().unwrap_or("?")
        );
    }
    if let Some(w) = &r.context.window {
        let get = |k: &str| w.vmstat.get(k).copied().unwrap_or(0);
        println!(
            "window {:.1} s: pgscan anon/file {}/{}  pgsteal anon/file {}/{}  allocstall {}  PSI memory some {} full {}",
            w.seconds,
            get("pgscan_anon"),
            get("pgscan_file"),
            get("pgsteal_anon"),
            get("pgsteal_file"),
            w.sum("allocstall", &[]),
            w.psi_some_us.map_or("n/a".into(), |v| format!("{:.1} ms", v as f64 / 1000.0)),
            w.psi_full_us.map_or("n/a".into(), |v| format!("{:.1} ms", v as f64 / 1000.0)),
        );
    }
    if r.scan.lost_events > 0 {
        println!("LOST EVENTS: {}", r.scan.lost_events);
    }
    for d in r.diags.iter().take(5) {
        println!("{d}");
    }
    println!();
    for f in fs {
        memdx_render::diagnose::finding(&mut std::io::stdout().lock(), f, memdx_render::Style::default())?;
    }
    if fs.is_empty() {
        println!("no reclaim problem found");
    }
    if table {
        println!("\nper-CPU per-second episode ends");
        for row in &r.cpu_seconds {
            let kind =
                if row.kind == EpisodeKind::Memcg { String::new() } else { format!("{} ", row.kind.label()) };
            println!("{kind}{}{}", row.c_tabulator_line(), if row.last { "  (last)" } else { "" });
        }
    }
    Ok(())
}
