//! `memdx trace slab CACHE`: which call paths allocate objects of one slab cache that are not freed,
//! without slub_debug or a reboot. Traces `kmem:kmem_cache_alloc`/`kmem_cache_free` filtered to the
//! cache (merged caches resolved through the `/sys/kernel/slab` symlinks), with `options/stacktrace`,
//! plus `cgroup:cgroup_mkdir`/`rmdir`, in a private tracefs instance that is always removed.
//! With FILEs, analyses a saved capture instead.

use anyhow::{bail, Context};
use memdx_core::{Finding, Severity};
use memdx_render::schema::SlabWindow;
use memdx_slab::cgroup::{resolve_merged, MergedCache};
use memdx_slab::kmem::{parse_kmem, KmemOptions, KmemReport, KmemTrace};
use memdx_slab::SlabEvidence;
use memdx_source::files::create_new;
use memdx_source::tracefs::{self, InstanceSpec};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Trace one slab cache's allocations and frees with their stacks.
#[derive(clap::Args)]
pub struct SlabArgs {
    /// Cache name as in /proc/slabinfo or /sys/kernel/slab (a merged alias is resolved).
    cache: String,
    /// Saved captures (`--save` output or ftrace text) to analyse instead of tracing live.
    files: Vec<PathBuf>,
    /// Live capture length, e.g. 60s, 500ms, 2m; at most 1h.
    #[arg(long, default_value = "60s", value_parser = super::parse_duration)]
    duration: Duration,
    #[command(flatten)]
    capture: super::CaptureArgs,
}

/// Parses a saved capture (`--save` output or ftrace text; compressed ones too).
pub(super) fn parse_saved(f: &Path, opts: KmemOptions) -> anyhow::Result<memdx_slab::KmemReport> {
    let r = memdx_source::open_stream(f).with_context(|| format!("{}", f.display()))?;
    Ok(parse_kmem(r, &f.display().to_string(), opts, None))
}

/// Runs a live kmem capture and analyses it as it streams (memory: the events held for ordering,
/// not the capture); the raw text is written only to `--save`.
pub(super) fn capture_kmem(
    c: &super::CaptureArgs,
    spec: InstanceSpec,
    duration: Duration,
    what: &str,
    opts: KmemOptions,
    at_stop: impl FnMut(),
) -> anyhow::Result<Option<(KmemReport, Capture)>> {
    let source = super::live_source(c.save.as_deref());
    let mut k = KmemTrace::new(&source, opts);
    let Some(cap) =
        capture(&c.root, spec, duration, c.save.as_deref(), c.dry_run, what, at_stop, &mut |l, n| {
            k.line(l, n)
        })?
    else {
        return Ok(None);
    };
    let mut r = k.finish(Some(cap.seconds));
    r.lost += cap.lost;
    if cap.lost > 0 && !r.diags.iter().any(|d| d.message.contains("dropped")) {
        r.diags.push(memdx_core::Diag::warning(
            memdx_core::SourceRef::new(source.as_str()),
            format!(
                "the ring buffer dropped {} events (per-CPU overrun + dropped): counts are lower bounds",
                cap.lost
            ),
        ));
    }
    if let Some(p) = &c.save {
        eprintln!("memdx: raw capture saved to {}", p.display());
    }
    Ok(Some((r, cap)))
}

/// What was measured around a live capture.
pub(super) struct Capture {
    pub seconds: f64,
    pub lost: u64,
    pub interrupted: bool,
}

/// Runs a capture in a private instance, handing every line of `trace_pipe` to `on_line` as it
/// arrives and writing it to `save` when given. `None` after a dry run (the writes are printed). The
/// instance, its filters, triggers and options are removed on every path out: `cleanup` here, and
/// `Drop` on error or panic.
#[allow(clippy::too_many_arguments)]
pub(super) fn capture(
    root: &Path,
    spec: InstanceSpec,
    duration: Duration,
    save: Option<&Path>,
    dry_run: bool,
    what: &str,
    mut at_stop: impl FnMut(),
    on_line: &mut (dyn FnMut(&str, usize) + Send),
) -> anyhow::Result<Option<Capture>> {
    let Some((mut inst, stop)) = super::start_instance(root, dry_run, spec)? else {
        return Ok(None);
    };
    let mut out = match save {
        Some(p) => {
            Some(std::io::BufWriter::new(create_new(p).with_context(|| format!("{} (--save)", p.display()))?))
        }
        None => None,
    };
    eprintln!(
        "memdx: tracing {what} for {:.1} s in {} (Ctrl-C stops early)",
        duration.as_secs_f64(),
        inst.dir().display()
    );
    let (tx, rx) = std::sync::mpsc::sync_channel(super::QUEUE_CHUNKS);
    let (seconds, interrupted) = std::thread::scope(|s| -> anyhow::Result<_> {
        let parser = s.spawn(move || {
            super::analyse(rx, &mut |item| {
                if let super::Item::Line(l, n) = item {
                    on_line(l, n)
                }
            })
        });
        let pumped = super::pump(&mut inst, &stop, duration, &mut out, &tx, |_| {}, &mut at_stop);
        drop(tx);
        parser.join().map_err(|_| anyhow::anyhow!("the analysis of the live capture panicked"))?;
        pumped
    })?;
    let lost = inst.buffer_stats().iter().map(|s| s.overrun + s.dropped).sum();
    inst.cleanup().map_err(|e| anyhow::anyhow!("cleanup of {}: {}", inst.dir().display(), e.join("; ")))?;
    drop(inst);
    if let Some(mut o) = out {
        o.flush()?;
    }
    Ok(Some(Capture { seconds, lost, interrupted }))
}

/// `(name, symlink target)` of every entry of `<root>/sys/kernel/slab`.
fn slab_links(root: &Path) -> Vec<(String, Option<String>)> {
    let dir = root.join("sys/kernel/slab");
    let Ok(rd) = std::fs::read_dir(&dir) else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let target = std::fs::read_link(e.path())
                .ok()
                .and_then(|t| t.file_name().and_then(|f| f.to_str()).map(str::to_string));
            Some((name, target))
        })
        .collect()
}

/// Active objects of `cache` in `<root>/proc/slabinfo`.
fn slabinfo_active(root: &Path, cache: &str) -> Option<u64> {
    let text = tracefs::read_rooted(root, "proc/slabinfo").ok()?;
    let t = memdx_parse::slabinfo::parse(&text, &memdx_core::SourceRef::new("/proc/slabinfo")).ok()?.value;
    t.get(cache).map(|c| c.active_objs)
}

fn slabinfo_names(root: &Path) -> Vec<String> {
    tracefs::read_rooted(root, "proc/slabinfo")
        .map(|t| t.lines().skip(2).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Whether this kernel's `kmem_cache_alloc` carries the cache `name` (since 6.1); unknown = true.
fn has_name_field(root: &Path) -> bool {
    let Some(dir) = tracefs::locate(root) else { return true };
    match std::fs::read_to_string(dir.join("events/kmem/kmem_cache_alloc/format")) {
        Ok(f) => f.contains(" name;"),
        Err(_) => true,
    }
}

pub fn run(a: SlabArgs) -> anyhow::Result<u8> {
    let links = slab_links(&a.capture.root);
    let names = slabinfo_names(&a.capture.root);
    let merged = match resolve_merged(&a.cache, &links, &names) {
        Some(m) => m,
        None if !a.files.is_empty() || links.is_empty() => MergedCache {
            asked: a.cache.clone(),
            canonical: a.cache.clone(),
            aliases: vec![a.cache.clone()],
            target: None,
        },
        None => bail!(
            "no slab cache named {:?} under {}",
            a.cache,
            a.capture.root.join("sys/kernel/slab").display()
        ),
    };
    if merged.aliases.len() > 1 {
        eprintln!(
            "memdx: {} is merged with {} (one cache, {}); the kernel names it {}: tracing that name, which counts all of them",
            merged.asked,
            merged.aliases.iter().filter(|n| **n != merged.asked).cloned().collect::<Vec<_>>().join(", "),
            merged.target.as_deref().unwrap_or("?"),
            merged.canonical
        );
    }
    let mut opts = KmemOptions { caches: vec![merged.canonical.clone()], ..Default::default() };
    if !a.files.is_empty() {
        opts.fallback_label = Some(merged.canonical.clone());
        let mut worst = None;
        for f in &a.files {
            let r = parse_saved(f, opts.clone())?;
            let fs = findings(&r);
            worst = worst.max(fs.iter().map(|f| f.severity).max());
            print(&merged, &r, None, &fs, a.capture.json)?;
        }
        return Ok(exit(worst));
    }
    let name_field = has_name_field(&a.capture.root);
    let cache = &merged.canonical;
    let flag = |attr: &str| {
        tracefs::read_rooted(&a.capture.root, &format!("sys/kernel/slab/{cache}/{attr}"))
            .is_ok_and(|v| v.trim() == "1")
    };
    if flag("reclaim_account") {
        opts.reclaimable.push(cache.clone());
    }
    if flag("destroy_by_rcu") {
        opts.typesafe_rcu.push(cache.clone());
    }
    let mut spec = InstanceSpec {
        name: tracefs::instance_name("slab"),
        events: [
            "kmem/kmem_cache_alloc",
            "kmem/kmem_cache_free",
            "cgroup/cgroup_mkdir",
            "cgroup/cgroup_rmdir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        options: vec![("stacktrace".into(), true)],
        buffer_kb: a.capture.buffer_kb,
        ..Default::default()
    };
    if name_field {
        let f = format!("name == \"{cache}\"");
        spec.filters = vec![("kmem/kmem_cache_alloc".into(), f.clone()), ("kmem/kmem_cache_free".into(), f)];
    } else {
        let size = tracefs::read_rooted(&a.capture.root, &format!("sys/kernel/slab/{cache}/slab_size"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .context(
                "this kernel's kmem_cache_alloc has no `name` field and the cache's slab_size is unreadable",
            )?;
        eprintln!(
            "memdx: kmem_cache_alloc has no `name` field on this kernel (before 6.1): filtering allocations on \
             bytes_alloc == {size}, which also counts every other cache of that object size, and frees cannot be \
             filtered (all frees are traced, only those of objects seen allocated are counted): expect more load \
             and lost events"
        );
        spec.filters = vec![("kmem/kmem_cache_alloc".into(), format!("bytes_alloc == {size}"))];
        opts.fallback_label = Some(cache.clone());
        opts.fallback_size = Some(size);
    }
    let before = if a.capture.dry_run { None } else { slabinfo_active(&a.capture.root, cache) };
    // Read right before tracing stops, so both figures cover the same window.
    let mut after = None;
    let Some((r, cap)) = capture_kmem(&a.capture, spec, a.duration, "slab", opts, || {
        after = slabinfo_active(&a.capture.root, cache);
    })?
    else {
        return Ok(crate::cmd::EXIT_OK);
    };
    if cap.interrupted {
        eprintln!("memdx: interrupted after {:.1} s; analysing what was captured", cap.seconds);
    }
    let c = r.slab.cache(cache);
    let traced_net = c.map_or(0, |c| c.net);
    let delta = before.zip(after).map(|(b, a)| a as i64 - b as i64);
    let window = SlabWindow {
        seconds: cap.seconds,
        slabinfo_before: before,
        slabinfo_after: after,
        slabinfo_delta: delta,
        traced_net,
        disagreement: delta.map(|d| (traced_net - d).abs() as f64 / (d.abs() as f64).max(1.0)),
        lost_events: r.lost,
        interrupted: cap.interrupted,
        name_fallback: r.name_fallback,
    };
    let fs = findings(&r);
    print(&merged, &r, Some(&window), &fs, a.capture.json)?;
    Ok(exit(fs.iter().map(|f| f.severity).max()))
}

fn exit(worst: Option<Severity>) -> u8 {
    if worst >= Some(Severity::Warning) {
        crate::cmd::EXIT_FINDINGS
    } else {
        crate::cmd::EXIT_OK
    }
}

fn findings(r: &KmemReport) -> Vec<Finding> {
    memdx_slab::findings(&SlabEvidence { kmem: Some(r), ..Default::default() })
}

fn print(
    m: &MergedCache,
    r: &KmemReport,
    w: Option<&SlabWindow>,
    fs: &[Finding],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let v = memdx_render::schema::SlabDoc::new(m, w, r, fs);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("memdx trace slab {}  ·  {}  ·  {} events", m.canonical, r.source, r.events);
    if m.aliases.len() > 1 {
        println!("merged cache {}: {}", m.target.as_deref().unwrap_or("?"), m.aliases.join(", "));
    }
    let Some(c) = r.slab.cache(&m.canonical) else {
        println!("no allocation or free of {} was traced", m.canonical);
        return Ok(());
    };
    let span = r.span_s.unwrap_or(0.0);
    println!(
        "\n{} allocs, {} frees in {:.1} s (net {:+}, {:+.0}/h); {} allocated in the window still live; {} frees of older objects; {} repeated frees",
        c.allocs,
        c.frees,
        span,
        c.net,
        c.net_per_hour.unwrap_or(0.0),
        c.outstanding,
        c.freed_unallocated,
        c.repeated_frees
    );
    if let Some(w) = w {
        if let Some(d) = w.slabinfo_delta {
            println!(
                "/proc/slabinfo active objects {} -> {} ({d:+}); traced alloc - free {:+}",
                w.slabinfo_before.unwrap_or(0),
                w.slabinfo_after.unwrap_or(0),
                w.traced_net
            );
        }
        if w.lost_events > 0 {
            println!("LOST EVENTS: {} (raise --buffer-kb)", w.lost_events);
        }
    }
    println!("\nallocations by driver and task");
    for d in &c.drivers {
        println!(
            "  {:>8} allocs {:>8} live  {:<32} {}",
            d.allocs,
            d.outstanding,
            d.driver,
            d.comm.as_deref().unwrap_or("?")
        );
    }
    println!("\nlive objects by allocation path");
    for p in c.outstanding_by_path.iter().take(5) {
        println!("  {:>8}  {}  [{}]", p.count, p.short(8), p.comm.as_deref().unwrap_or("?"));
    }
    println!("\nfrees by path");
    for p in c.frees_by_path.iter().take(3) {
        println!("  {:>8}  {}  [{}]", p.count, p.short(8), p.comm.as_deref().unwrap_or("?"));
    }
    if r.cgroup.mkdir + r.cgroup.rmdir > 0 {
        println!(
            "\ncgroup mkdir {} rmdir {} ({:.1}/s)",
            r.cgroup.mkdir,
            r.cgroup.rmdir,
            r.cgroup.mkdir as f64 / span.max(0.001)
        );
        for cc in r.cgroup.by_comm.iter().take(5) {
            println!("  {:<16} mkdir {:>7} rmdir {:>7}", cc.comm, cc.mkdir, cc.rmdir);
        }
    }
    for d in r.diags.iter().take(5) {
        println!("{d}");
    }
    println!();
    for f in fs {
        memdx_render::diagnose::finding(&mut std::io::stdout().lock(), f, memdx_render::Style::default())?;
    }
    Ok(())
}
