//! `memdx record`: samples this machine into the history database at a fixed interval.

use anyhow::{Context, Result};
use memdx_analyze::Case;
use memdx_core::units::parse_duration_ms;
use memdx_source::procs::ProcRss;
use memdx_store::sample::{Extras, MemcgCounts};
use memdx_store::{Retention, Store};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Record memory state every interval into a SQLite history (run it as a service).
///
/// Record meminfo, vmstat, every slab cache, buddyinfo, PSI, cgroup counts, the largest memory
/// cgroups and the largest processes into a SQLite history, for `memdx history` and
/// `memdx diagnose --db`.
///
/// Each sample is one transaction in a WAL-mode database: killing the recorder at any moment loses
/// at most the sample being written. Old samples are thinned: all kept for 6 hours, one a minute
/// for 2 days, one per 10 minutes up to --retention. Run it as a service (deploy/systemd/).
///
/// Examples:
///   memdx record                                   # every 10 s into /var/lib/memdx/history.db
///   memdx record --interval 1m --db ./h.db --retention 30d
///   memdx record --once --db ./h.db                # one sample, then exit
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Time between samples: 10s, 1m, 5m (at least 1s).
    #[arg(long, default_value = "10s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Database file (created with its directory when missing).
    #[arg(long, default_value = memdx_store::DEFAULT_DB)]
    pub db: PathBuf,
    /// Delete samples older than this: 14d, 36h, 4w.
    #[arg(long, default_value = "14d", value_parser = parse_interval)]
    pub retention: Duration,
    /// Take this many samples, then exit (0: run until killed).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Take one sample and exit (same as --count 1).
    #[arg(long)]
    pub once: bool,
    /// Read a root tree other than / (a captured or mounted one).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// How many of the largest processes to record.
    #[arg(long, default_value_t = 20)]
    pub top_procs: usize,
    /// How many of the largest memory cgroups to record.
    #[arg(long, default_value_t = 20)]
    pub top_memcgs: usize,
    /// Print a line per sample on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            interval: Duration::from_secs(10),
            db: PathBuf::from(memdx_store::DEFAULT_DB),
            retention: Duration::from_secs(14 * 86400),
            count: 0,
            once: false,
            root: PathBuf::from("/"),
            top_procs: 20,
            top_memcgs: 20,
            verbose: false,
        }
    }
}

pub fn parse_interval(s: &str) -> std::result::Result<Duration, String> {
    let ms = parse_duration_ms(s)?;
    if ms < 1000 {
        return Err(format!("{s:?}: must be at least 1s"));
    }
    Ok(Duration::from_millis(ms))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One reading of a root: the case, the memcg scan and the largest processes.
pub struct Reading {
    pub case: Case,
    pub memcg: Option<memdx_analyze::case::MemcgCount>,
    pub procs: Vec<ProcRss>,
}

impl Reading {
    pub fn extras(&self) -> Extras {
        Extras {
            memcg: self.memcg.as_ref().map(|m| MemcgCounts { live: m.live, dying: m.dying }),
            top_memcgs: self.memcg.as_ref().map(|m| m.top.clone()).unwrap_or_default(),
            top_procs: self.procs.iter().map(|p| (p.label(), p.rss_kb)).collect(),
        }
    }
}

/// Reads `root` the way `diagnose` does, plus memory cgroups and processes. `learn`: remember the
/// live cgroups in memdx's state directory (the recorder does; the exporter's scrapes do not write).
pub fn read(root: &Path, time: i64, top_procs: usize, top_memcgs: usize, learn: bool) -> Reading {
    let mut case = Case::new();
    case.live = root == Path::new("/");
    // One walk of the cgroup tree (in read_root); no kernel log: history does not keep it.
    let opts = memdx_source::live::ReadOptions {
        kernel_log: false,
        top_memcgs,
        cgroup_names: if learn { memdx_source::cgroup_names::state_dir() } else { None },
    };
    memdx_source::live::read_root_with(root, &mut case, Some(time), &opts);
    let memcg = case.memcgs.clone();
    let procs = if top_procs > 0 { memdx_source::procs::top_rss(root, top_procs) } else { Vec::new() };
    Reading { case, memcg, procs }
}

pub fn run(args: Args) -> Result<u8> {
    if !args.root.is_dir() {
        anyhow::bail!("--root {}: not a directory", args.root.display());
    }
    let mut store = Store::open(&args.db).with_context(|| "cannot open the history database".to_string())?;
    if let Some((aside, problem)) = &store.rotated {
        eprintln!(
            "memdx record: {} was damaged ({problem}); it was moved to {} and a new database started",
            args.db.display(),
            aside.display()
        );
    }
    let retention = Retention::with_retention(args.retention.as_secs() as i64);
    let count = if args.once { 1 } else { args.count };
    let start = Instant::now();
    let mut taken = 0u64;
    let mut last_downsample: Option<Instant> = None;
    let mut warned_missing = false;
    loop {
        let t = now();
        let reading = read(&args.root, t, args.top_procs, args.top_memcgs, true);
        if !warned_missing && !reading.case.missing.is_empty() {
            for m in &reading.case.missing {
                eprintln!("memdx record: not recorded: {}: {}", m.what, m.why);
            }
            warned_missing = true;
        }
        let sample = memdx_store::sample::from_case(t, &reading.case, &reading.extras());
        let written = store.write(&sample)?;
        taken += 1;
        if args.verbose {
            eprintln!(
                "memdx record: {} {} points{}",
                t,
                sample.points.len(),
                if written { "" } else { " (a sample at this second exists; skipped)" }
            );
        }
        // Thin old samples once an hour (and at start); the work is proportional to what is deleted.
        if last_downsample.is_none_or(|l| l.elapsed() >= Duration::from_secs(3600)) {
            let n = store.downsample(t, retention)?;
            if n > 0 {
                store.checkpoint()?;
            }
            last_downsample = Some(Instant::now());
        }
        if count > 0 && taken >= count {
            break;
        }
        // Sleep to the next tick of a fixed grid so the interval does not drift with collection time.
        let next = args.interval.saturating_mul(u32::try_from(taken).unwrap_or(u32::MAX));
        let elapsed = start.elapsed();
        if next > elapsed {
            std::thread::sleep(next - elapsed);
        }
    }
    Ok(super::EXIT_OK)
}
