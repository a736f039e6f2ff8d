//! Files, directories and archives into a [`Case`], each file recognised by its content.

use crate::archive::{compression, decoder, is_tar, read_text, Compression, Text};
use crate::{SourceError, MAX_TEXT_FILE};
use memdx_analyze::{Case, Skipped};
use memdx_parse::sniff::{Format, SNIFF_BYTES};
use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// A callback told each file name as it is read.
pub type OnFile = Box<dyn Fn(&str)>;

/// A callback told an input's name and the warning when the input reached an unpack limit.
pub type OnLimit = Box<dyn Fn(&str, &str)>;

#[derive(Default)]
pub struct GatherOptions {
    /// Called with each file name as it is read (for progress display).
    pub on_file: Option<OnFile>,
    /// What may be unpacked from archives.
    pub limits: UnpackLimits,
    /// Called with an input's name and the warning when it reached an unpack limit (the warning is
    /// also a diagnostic of the case).
    pub on_limit: Option<OnLimit>,
}

/// What archives may unpack: bytes out of the decompressors and tar entries, for one input file
/// (each file of a walked directory is one) and, [`RUN_FACTOR`] times that, for the whole run. A
/// decompression bomb (gigabytes of zeros in a few KB of zstd, millions of empty tar entries,
/// archives nested in archives: each layer counts) stops at the limit with a warning naming it;
/// what came before is used and the other inputs are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Bytes out of decompressors for one input file, summed over its nested layers.
    pub bytes: u64,
    /// Tar entries for one input file, nested archives included.
    pub entries: u64,
}

impl Default for UnpackLimits {
    /// 8 GiB and 200,000 entries: several times the largest sosreport.
    fn default() -> Self {
        UnpackLimits { bytes: 8 << 30, entries: 200_000 }
    }
}

/// The run's limits are this many times the per-input ones.
pub const RUN_FACTOR: u64 = 4;

/// What this run has unpacked so far, and the limit reached, if any, for the current input.
pub(crate) struct Budget {
    limits: UnpackLimits,
    run_bytes: Cell<u64>,
    run_entries: Cell<u64>,
    bytes: Cell<u64>,
    entries: Cell<u64>,
    /// The archive member being read (named in the warning).
    at: RefCell<String>,
    hit: RefCell<Option<String>>,
    /// Reading a file apart from the case, on a worker thread (see [`read_apart`]).
    apart: bool,
    /// Apart: the names of the streams read.
    names: RefCell<Vec<String>>,
    /// Apart: the file held more than [`APART_HOLD`], and stopped.
    held_too_much: Cell<bool>,
}

impl Budget {
    fn new(limits: UnpackLimits) -> Budget {
        Budget {
            limits,
            run_bytes: Cell::new(0),
            run_entries: Cell::new(0),
            bytes: Cell::new(0),
            entries: Cell::new(0),
            at: RefCell::new(String::new()),
            hit: RefCell::new(None),
            apart: false,
            names: RefCell::new(Vec::new()),
            held_too_much: Cell::new(false),
        }
    }

    /// The budget of a file read apart.
    fn apart(limits: UnpackLimits) -> Budget {
        Budget { apart: true, ..Budget::new(limits) }
    }

    /// Stops reading a file apart that holds too much (see [`APART_HOLD`]).
    fn hold_too_much(&self) -> std::io::Error {
        self.held_too_much.set(true);
        std::io::Error::other("held too much to be read apart")
    }

    /// Counts what a file read apart unpacked against the run's limits.
    fn took_run(&self, bytes: u64, entries: u64) {
        self.run_bytes.set(self.run_bytes.get().saturating_add(bytes));
        self.run_entries.set(self.run_entries.get().saturating_add(entries));
    }

    fn start_input(&self, name: &str) {
        self.bytes.set(0);
        self.entries.set(0);
        self.at.replace(name.to_string());
        self.hit.replace(None);
    }

    fn exhausted(&self) -> bool {
        self.hit.borrow().is_some()
    }

    /// Bytes that may still be unpacked; records the limit reached at 0.
    fn bytes_left(&self) -> u64 {
        let input = self.limits.bytes.saturating_sub(self.bytes.get());
        let run = self.limits.bytes.saturating_mul(RUN_FACTOR).saturating_sub(self.run_bytes.get());
        if input.min(run) == 0 && !self.exhausted() {
            let what = if input == 0 {
                format!("unpacked more than {} from this input", memdx_core::units::bytes(self.limits.bytes))
            } else {
                format!(
                    "this run unpacked more than {} from archives in all",
                    memdx_core::units::bytes(self.limits.bytes.saturating_mul(RUN_FACTOR))
                )
            };
            self.hit.replace(Some(format!("{what} (at {})", self.at.borrow())));
        }
        input.min(run)
    }

    fn took_bytes(&self, n: usize) {
        self.bytes.set(self.bytes.get().saturating_add(n as u64));
        self.run_bytes.set(self.run_bytes.get().saturating_add(n as u64));
    }

    /// Counts one tar entry, `name`; false (and the limit recorded) when it is over a limit.
    fn take_entry(&self, name: &str) -> bool {
        self.at.replace(name.to_string());
        let (n, r) = (self.entries.get() + 1, self.run_entries.get() + 1);
        self.entries.set(n);
        self.run_entries.set(r);
        if n > self.limits.entries {
            self.hit.replace(Some(format!(
                "more than {} archive entries in this input (at {name})",
                self.limits.entries
            )));
        } else if r > self.limits.entries.saturating_mul(RUN_FACTOR) {
            self.hit.replace(Some(format!(
                "this run read more than {} archive entries in all (at {name})",
                self.limits.entries.saturating_mul(RUN_FACTOR)
            )));
        }
        !self.exhausted()
    }
}

/// A decompressor's output, counted against the [`Budget`]: at the limit it ends, as if the
/// archive ended there.
struct Counted<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<R: BufRead> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.budget.bytes_left()).unwrap_or(usize::MAX);
        let len = buf.len().min(left);
        let n = self.inner.read(&mut buf[..len])?;
        self.budget.took_bytes(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let left = self.budget.bytes_left();
        if left == 0 {
            return Ok(&[]);
        }
        let b = self.inner.fill_buf()?;
        Ok(&b[..b.len().min(usize::try_from(left).unwrap_or(usize::MAX))])
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.budget.took_bytes(n);
    }
}

/// How deep archives may nest, counting each compression layer and each tar level (a `.tar.gz`
/// is two): a `.tar.gz` inside a `.tar.gz` inside a `.tar.xz` (a sosreport attached to a support
/// bundle) is read, deeper nesting is skipped with a reason.
const MAX_NESTING: u32 = 6;

/// Reads every path into `case`. Paths that cannot be read at all are returned as errors; everything
/// else (unrecognised files, damaged archives) is recorded in the case and never stops the others.
///
/// Files are read on every core, each into a case of its own ([`Case::apart`]) merged into `case`
/// in input order: the result is the one of reading them one after the other.
pub fn gather(paths: &[PathBuf], case: &mut Case, opts: &GatherOptions) -> Vec<SourceError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    gather_on(paths, case, opts, cores.min(MAX_THREADS))
}

/// [`gather`] reading files on at most `threads` threads.
fn gather_on(paths: &[PathBuf], case: &mut Case, opts: &GatherOptions, threads: usize) -> Vec<SourceError> {
    let (mut items, mut jobs) = (Vec::new(), Vec::new());
    for p in paths {
        let name = p.display().to_string();
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let tree = Arc::new(Tree { path: p.clone(), resolved: std::fs::canonicalize(p).ok() });
                walk(&tree, p, &mut items, &mut jobs);
            }
            Ok(_) => {
                items.push(Item::File(jobs.len()));
                jobs.push(Job { name, path: p.clone(), root: None, symlink: false, resolved: None });
            }
            Err(e) => items.push(Item::Error(SourceError::Io { path: name, source: e })),
        }
    }
    let mut errors = Vec::new();
    let threads = threads.min(jobs.len());
    if threads < 2 {
        apply_items(items, &jobs, case, opts, &mut errors, &mut || None);
    } else {
        read_parallel(items, &jobs, threads, case, opts, &mut errors);
    }
    case.finish();
    errors
}

/// The most text a file read apart holds in memory at once (a log held whole for two readers, a
/// /proc-style file): a file holding more is read again on the caller's thread, so that the
/// threads together hold at most one large text, as when files are read one after the other.
const APART_HOLD: u64 = 4 << 20;

/// At most this many threads read files.
const MAX_THREADS: usize = 8;

/// How many files may be read ahead of the next one merged: bounds the memory held by cases not
/// merged yet when one file takes long.
const AHEAD: usize = 64;

/// What a walk found, in input order.
enum Item {
    /// A file to read: its index in the jobs.
    File(usize),
    Error(SourceError),
    /// A `sys/kernel/slab` directory: its symlinks (alias, target) are the slab alias map.
    SlabAliases {
        dir: String,
        links: Vec<(String, String)>,
    },
}

/// A directory given as input.
struct Tree {
    path: PathBuf,
    /// Its resolved path, when it resolved.
    resolved: Option<PathBuf>,
}

/// A file to read.
struct Job {
    name: String,
    path: PathBuf,
    /// The walked directory the file was found in (untrusted: read through [`crate::rooted`]);
    /// `None` for a file named on the command line, read as given.
    root: Option<Arc<Tree>>,
    /// The directory entry is a symlink.
    symlink: bool,
    /// A regular file of a walked tree (not a symlink): its resolved path, the tree's and the
    /// directories' below it (neither symlinks: a walk does not follow them) joined.
    resolved: Option<PathBuf>,
}

/// A file read apart from the case, on a worker thread.
struct Apart {
    case: Case,
    errors: Vec<SourceError>,
    /// The file was opened ([`GatherOptions::on_file`] is told).
    opened: bool,
    /// The warning when the file reached an unpack limit ([`GatherOptions::on_limit`] is told).
    limit: Option<String>,
    /// The names of the streams read: the file's and its archive members'.
    names: Vec<String>,
    /// The file holds more than [`APART_HOLD`]: it is read on the caller's thread.
    held_too_much: bool,
    /// Bytes unpacked and archive entries read.
    bytes: u64,
    entries: u64,
}

fn read_apart(job: &Job, limits: UnpackLimits) -> Apart {
    let mut case = Case::apart();
    let budget = Budget::apart(limits);
    let mut errors = Vec::new();
    let opened = Cell::new(false);
    let limit = RefCell::new(None);
    read_job(job, &mut case, &budget, &mut errors, &|_| opened.set(true), &|_, msg| {
        limit.replace(Some(msg.to_string()));
    });
    Apart {
        case,
        errors,
        opened: opened.get(),
        limit: limit.into_inner(),
        names: budget.names.take(),
        held_too_much: budget.held_too_much.get(),
        bytes: budget.run_bytes.get(),
        entries: budget.run_entries.get(),
    }
}

/// Reads the jobs on `threads` threads and applies the items in order on this one.
fn read_parallel(
    items: Vec<Item>,
    jobs: &[Job],
    threads: usize,
    case: &mut Case,
    opts: &GatherOptions,
    errors: &mut Vec<SourceError>,
) {
    type Done = (usize, std::thread::Result<Apart>);
    let next = AtomicUsize::new(0);
    // Jobs merged so far; `usize::MAX` stops the workers.
    let merged = Mutex::new(0usize);
    let moved = Condvar::new();
    let limits = opts.limits;
    /// Stops the workers however this thread leaves (a panic included).
    struct Stop<'a>(&'a Mutex<usize>, &'a Condvar);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = usize::MAX;
            self.1.notify_all();
        }
    }
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<Done>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, merged, moved) = (&next, &merged, &moved);
            s.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(k) else { break };
                {
                    let mut m = merged.lock().unwrap_or_else(PoisonError::into_inner);
                    while k >= m.saturating_add(AHEAD) {
                        m = moved.wait(m).unwrap_or_else(PoisonError::into_inner);
                    }
                    if *m == usize::MAX {
                        break;
                    }
                }
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_apart(job, limits)));
                if tx.send((k, done)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let _stop = Stop(&merged, &moved);
        let mut ready = std::collections::HashMap::new();
        let mut k = 0;
        let mut take = || {
            let done = loop {
                if let Some(d) = ready.remove(&k) {
                    break Some(d);
                }
                match rx.recv() {
                    Ok((i, d)) => {
                        ready.insert(i, d);
                    }
                    // Every worker ended: read it here.
                    Err(_) => break None,
                }
            };
            k += 1;
            let mut m = merged.lock().unwrap_or_else(PoisonError::into_inner);
            if *m != usize::MAX {
                *m = k;
            }
            drop(m);
            moved.notify_all();
            match done {
                Some(Ok(apart)) => Some(apart),
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => None,
            }
        };
        apply_items(items, jobs, case, opts, errors, &mut take);
    });
}

/// Applies the items to `case` in order. `apart` gives the next file read apart, if it was; a file
/// that was not, or whose reading apart cannot give the result of reading it here, is read here.
fn apply_items(
    items: Vec<Item>,
    jobs: &[Job],
    case: &mut Case,
    opts: &GatherOptions,
    errors: &mut Vec<SourceError>,
    apart: &mut dyn FnMut() -> Option<Apart>,
) {
    let budget = Budget::new(opts.limits);
    let on_file = |name: &str| {
        if let Some(cb) = &opts.on_file {
            cb(name);
        }
    };
    let on_limit = |name: &str, msg: &str| {
        if let Some(cb) = &opts.on_limit {
            cb(name, msg);
        }
    };
    // The names of the case's inputs (the first `known` of them).
    let mut names = std::collections::HashSet::new();
    let mut known = 0;
    for item in items {
        match item {
            Item::Error(e) => errors.push(e),
            Item::SlabAliases { dir, links } => {
                for (alias, target) in &links {
                    case.slab_aliases.insert(alias, target);
                }
                if !links.is_empty() {
                    case.slab_aliases.source.get_or_insert_with(|| memdx_core::SourceRef::new(dir.as_str()));
                    case.inputs.push(memdx_analyze::InputInfo {
                        file: dir,
                        format: "slab aliases".into(),
                        diagnostics: 0,
                    });
                }
            }
            Item::File(j) => {
                let job = &jobs[j];
                if let Some(a) = apart() {
                    names.extend(case.inputs[known..].iter().map(|i| i.file.clone()));
                    known = case.inputs.len();
                    // Read apart, the file cannot know whether an input before it has its name
                    // (a document nothing recognises is listed as skipped only when none has), nor
                    // the run's unpack limit below its own.
                    let same = a.names.iter().any(|n| names.contains(n));
                    let below = budget.run_bytes.get() <= opts.limits.bytes.saturating_mul(RUN_FACTOR - 1)
                        && budget.run_entries.get() <= opts.limits.entries.saturating_mul(RUN_FACTOR - 1);
                    if !same && below && !a.held_too_much {
                        if a.opened {
                            on_file(&job.name);
                        }
                        case.merge(a.case);
                        errors.extend(a.errors);
                        if let Some(msg) = &a.limit {
                            on_limit(&job.name, msg);
                        }
                        budget.took_run(a.bytes, a.entries);
                        continue;
                    }
                }
                read_job(job, case, &budget, errors, &on_file, &on_limit);
            }
        }
    }
}

/// Reads one file into `case`, telling `on_file` when it was opened and `on_limit` when it reached
/// an unpack limit.
fn read_job(
    job: &Job,
    case: &mut Case,
    budget: &Budget,
    errors: &mut Vec<SourceError>,
    on_file: &dyn Fn(&str),
    on_limit: &dyn Fn(&str, &str),
) {
    let name = job.name.as_str();
    let Some(root) = &job.root else {
        on_file(name);
        match std::fs::File::open(&job.path) {
            Ok(f) => read_opened(f, name, case, budget, on_limit),
            Err(e) => errors.push(SourceError::Io { path: name.to_string(), source: e }),
        }
        return;
    };
    // A directory given as input is untrusted: a symlink is followed only to a regular file
    // inside it (never to /etc/shadow or /dev/zero; a directory is not followed: loops,
    // /proc/self), FIFOs and devices are skipped, and the reason never quotes their content.
    let opened = match (&job.resolved, &root.resolved) {
        (Some(real), _) => crate::rooted::open_resolved(real),
        (None, Some(resolved)) => crate::rooted::open_under(resolved, &job.path),
        (None, None) => crate::rooted::open_in(&root.path, &job.path),
    };
    let file = match opened {
        Ok(f) => f,
        Err(crate::rooted::Refused::Io(e)) if job.symlink && e.kind() == std::io::ErrorKind::NotFound => {
            case.skipped.push(Skipped {
                file: name.to_string(),
                reason: "a symlink to nothing: not followed".into(),
            });
            return;
        }
        Err(crate::rooted::Refused::Io(e)) => {
            errors.push(SourceError::Io { path: name.to_string(), source: e });
            return;
        }
        Err(r) => {
            case.skipped.push(Skipped { file: name.to_string(), reason: r.to_string() });
            return;
        }
    };
    on_file(name);
    let Some(h) = structural(&job.path) else {
        read_opened(file, name, case, budget, on_limit);
        return;
    };
    match read_text(file, 1 << 20) {
        Ok(Text::Whole(text)) => apply_structural(case, name, &text, h, None),
        Ok(Text::TooLarge(reason)) => case.skipped.push(Skipped { file: name.to_string(), reason }),
        Ok(Text::Truncated(_, err)) | Err(err) => {
            case.skipped.push(Skipped { file: name.to_string(), reason: format!("read error: {err}") })
        }
    }
}

fn read_opened(
    f: std::fs::File,
    name: &str,
    case: &mut Case,
    budget: &Budget,
    on_limit: &dyn Fn(&str, &str),
) {
    let r = BufReader::with_capacity(256 * 1024, f);
    budget.start_input(name);
    let res = stream(case, name, Box::new(r), None, 0, budget);
    if budget.held_too_much.get() {
        // Read again in order: what was read apart is dropped.
        return;
    }
    if let Some(what) = budget.hit.borrow().as_deref() {
        let what = what.replace(&format!(" (at {name})"), "");
        let msg = format!(
            "{what}: a decompression bomb? The rest of this input is not read (what came before is \
             used; the other inputs are read); --max-unpacked SIZE and --max-entries N raise the limits"
        );
        on_limit(name, &msg);
        case.diags.push(memdx_core::Diag::warning(memdx_core::SourceRef::new(name), msg));
    }
    if let Err(e) = res {
        case.skipped.push(Skipped { file: name.to_string(), reason: format!("read error: {e}") });
    }
}

/// Lists a directory in sorted order. Symlinks are not followed, except that the symlinks of a
/// `sys/kernel/slab` directory are read as the slab alias map.
fn walk(tree: &Arc<Tree>, dir: &Path, items: &mut Vec<Item>, jobs: &mut Vec<Job>) {
    let root = tree.path.as_path();
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).collect(),
        Err(e) => {
            items.push(Item::Error(SourceError::Io { path: dir.display().to_string(), source: e }));
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    if rel.ends_with("sys/kernel/slab") || (rel.as_os_str().is_empty() && root.ends_with("sys/kernel/slab")) {
        let links = entries
            .iter()
            .filter_map(|e| {
                let target = std::fs::read_link(e.path()).ok()?;
                Some((e.file_name().to_string_lossy().into_owned(), target.to_string_lossy().into_owned()))
            })
            .collect();
        items.push(Item::SlabAliases { dir: dir.display().to_string(), links });
        return;
    }
    let resolved_dir = dir.strip_prefix(root).ok().zip(tree.resolved.as_ref()).map(|(rel, r)| r.join(rel));
    for e in entries {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(tree, &path, items, jobs);
            continue;
        }
        items.push(Item::File(jobs.len()));
        jobs.push(Job {
            name: path.display().to_string(),
            resolved: resolved_dir.as_ref().filter(|_| ft.is_file()).map(|d| d.join(e.file_name())),
            path,
            root: Some(tree.clone()),
            symlink: ft.is_symlink(),
        });
    }
}

/// Files whose meaning a root tree gives by their place, not their content: one number in
/// `proc/sys/vm/min_free_kbytes` says nothing alone, and PSI files look the same for every resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Structural {
    Sysctl(String),
    Psi(String),
    /// A snapshot's memcg walk ([`crate::memcg::BUNDLE_FILE`]).
    Memcg,
}

pub(crate) fn structural(path: &Path) -> Option<Structural> {
    let comps: Vec<String> =
        path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let n = comps.len();
    if n >= 4 && comps[n - 4] == "proc" && comps[n - 3] == "sys" && comps[n - 2] == "vm" {
        return Some(Structural::Sysctl(format!("vm.{}", comps[n - 1])));
    }
    if n >= 3 && comps[n - 3] == "proc" && comps[n - 2] == "pressure" {
        return Some(Structural::Psi(comps[n - 1].clone()));
    }
    if n >= 1 && comps[n - 1] == crate::memcg::BUNDLE_FILE {
        return Some(Structural::Memcg);
    }
    None
}

pub(crate) fn apply_structural(case: &mut Case, name: &str, text: &str, s: Structural, time: Option<i64>) {
    match s {
        Structural::Sysctl(key) => {
            let value = text.trim_end_matches('\n').replace(['\n', '\t'], " ");
            case.ingest_as(name, &format!("{key} = {value}\n"), Format::Sysctl, None, time);
        }
        Structural::Psi(res) => case.ingest_as(name, text, Format::Psi, Some(&res), time),
        Structural::Memcg => match crate::memcg::from_text(text) {
            Some(m) => {
                case.memcgs = Some(crate::memcg::to_case(m, memdx_core::SourceRef::new(name)));
                case.inputs.push(memdx_analyze::InputInfo {
                    file: name.into(),
                    format: "memcg walk".into(),
                    diagnostics: 0,
                });
            }
            None => case
                .skipped
                .push(memdx_analyze::Skipped { file: name.into(), reason: "not a memdx memcg walk".into() }),
        },
    }
}

/// Reads one stream: decompresses, unpacks tar archives, or sniffs and ingests text.
pub(crate) fn stream<'a>(
    case: &mut Case,
    name: &str,
    r: Box<dyn BufRead + 'a>,
    time: Option<i64>,
    depth: u32,
    budget: &'a Budget,
) -> std::io::Result<()> {
    if budget.apart {
        budget.names.borrow_mut().push(name.to_string());
    }
    let err = Rc::new(RefCell::new(None));
    let r: Box<dyn BufRead + 'a> = Box::new(BufReader::new(Latch { inner: r, err: err.clone() }));
    let before = case.inputs.len();
    let res = stream_inner(case, name, r, time, depth, budget);
    if let Some(e) = err.borrow_mut().take() {
        if case.inputs.len() > before {
            case.diags.push(memdx_core::Diag::warning(
                memdx_core::SourceRef::new(name),
                format!("input ends early ({e}): used what came before the damage"),
            ));
        } else {
            case.skipped.push(Skipped { file: name.into(), reason: format!("read error: {e}") });
        }
    }
    res
}

/// Turns a read error into end of input and keeps the error, so a truncated `.gz` or a damaged
/// archive still yields what came before the damage.
struct Latch<R> {
    inner: R,
    err: Rc<RefCell<Option<std::io::Error>>>,
}

impl<R: Read> Read for Latch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.err.borrow().is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                *self.err.borrow_mut() = Some(e);
                Ok(0)
            }
            ok => ok,
        }
    }
}

fn stream_inner<'a>(
    case: &mut Case,
    name: &str,
    mut r: Box<dyn BufRead + 'a>,
    time: Option<i64>,
    depth: u32,
    budget: &'a Budget,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut r).take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    let c = compression(&head);
    // `Chain` of two `BufRead`s is one: no third buffer (zeroing 256 KiB per file cost more than
    // reading a small file).
    let joined: Box<dyn BufRead + 'a> = Box::new(Cursor::new(head.clone()).chain(r));
    if c != Compression::None {
        if depth >= MAX_NESTING {
            case.skipped
                .push(Skipped { file: name.into(), reason: "compressed archives nested too deep".into() });
            return Ok(());
        }
        let inner = Counted { inner: decoder(joined, c)?, budget };
        return stream(case, name, Box::new(inner), time, depth + 1, budget);
    }
    if head.len() >= 1024 && head.iter().all(|&b| b == 0) {
        case.skipped
            .push(Skipped { file: name.into(), reason: "empty tar archive (only zero blocks)".into() });
        return Ok(());
    }
    if is_tar(&head) {
        if depth >= MAX_NESTING {
            case.skipped.push(Skipped { file: name.into(), reason: "archives nested too deep".into() });
            return Ok(());
        }
        return untar(case, name, joined, time, depth + 1, budget);
    }
    // /proc-style formats first (small, read whole); then kernel logs, which are streamed.
    // A shell session or `head` of several files may start like one /proc file: it is a document.
    let sniffed = memdx_parse::sniff::sniff(&head);
    let proc_style =
        sniffed.is_ok() && !memdx_parse::document::has_structure(&memdx_core::lines::lossy(&head));
    if !proc_style {
        return stream_events(case, name, joined, &head, sniffed, budget);
    }
    match read_held(joined, budget)? {
        Text::Whole(text) => {
            // What the head is was sniffed, unless reading the text changed its bytes.
            let known = Some(sniffed).filter(|_| same_head(&text, &head));
            case.ingest_sniffed(name, &text, time, known);
        }
        Text::Truncated(text, err) => {
            // Drop the last, possibly cut, line.
            let cut = text.rfind('\n').map(|p| p + 1).unwrap_or(0);
            let found = case.ingest(name, &text[..cut], time);
            if !found.is_empty() {
                case.diags.push(memdx_core::Diag::warning(
                    memdx_core::SourceRef::new(name),
                    format!("input ends early ({err}): used the {cut} bytes before the damage"),
                ));
            }
        }
        Text::TooLarge(reason) => case.skipped.push(Skipped { file: name.into(), reason }),
    }
    Ok(())
}

/// [`read_text`] of a /proc-style file or a tool's output, read whole (see [`APART_HOLD`]).
fn read_held<R: Read>(r: R, budget: &Budget) -> std::io::Result<Text> {
    if !budget.apart {
        return read_text(r, MAX_TEXT_FILE);
    }
    match read_text(r, APART_HOLD)? {
        Text::TooLarge(_) => Err(budget.hold_too_much()),
        text => Ok(text),
    }
}

/// Whether `text` (read and made UTF-8) starts with the very bytes `head` that were sniffed.
fn same_head(text: &str, head: &[u8]) -> bool {
    text.as_bytes()[..text.len().min(SNIFF_BYTES)] == *head
}

/// How much of a log is held in memory so that both the kernel log engine and the systemd/journal
/// analysis read it. Larger logs are streamed through the kernel log engine only.
const BOTH_PARSERS_LIMIT: u64 = 64 * 1024 * 1024;

/// Kernel logs, traces, journals and tool outputs: everything that is not a /proc-style file.
fn stream_events<'a>(
    case: &mut Case,
    name: &str,
    mut r: Box<dyn BufRead + 'a>,
    head: &[u8],
    sniffed: Result<Format, String>,
    budget: &Budget,
) -> std::io::Result<()> {
    let head_text = memdx_core::lines::lossy(head);
    let kmem_events = ["kmem_cache_alloc:", "kmem_cache_free:", "kmalloc:", "mm_page_alloc:"];
    if memdx_trace::sniff(head)
        || (kmem_events.iter().any(|e| head_text.contains(e)) && head_text.contains(": ["))
    {
        if kmem_events.iter().any(|e| head_text.contains(e)) {
            let k = memdx_slab::parse_kmem(r, name, memdx_slab::KmemOptions::default(), None);
            case.add_kmem_trace(name, k);
        } else {
            case.add_trace(name, memdx_trace::parse(r, name));
        }
        return Ok(());
    }
    let is_log = memdx_log::sniff(head);
    if let Some(fmt) = memdx_slab::tools::sniff(&head_text).filter(|_| !is_log) {
        match read_held(r, budget)? {
            Text::Whole(text) | Text::Truncated(text, _) => {
                case.add_tool_stacks(name, memdx_slab::tools::parse_as(&text, name, fmt))
            }
            Text::TooLarge(reason) => case.skipped.push(Skipped { file: name.into(), reason }),
        }
        return Ok(());
    }
    // Everything else is a document: a kernel log, a journal, a shell session, an issue body. The
    // document reader cuts out /proc-style blocks and streams the rest through the kernel log engine.
    let is_journal = memdx_slab::journal::sniff(&head_text);
    let mut buf = Vec::new();
    let hold = if budget.apart { APART_HOLD + 1 } else { BOTH_PARSERS_LIMIT };
    (&mut r).take(hold).read_to_end(&mut buf)?;
    if budget.apart && buf.len() as u64 > APART_HOLD {
        return Err(budget.hold_too_much());
    }
    let whole = (buf.len() as u64) < BOTH_PARSERS_LIMIT;
    if whole && !is_log && !is_journal {
        // Section dumps (`== /proc/x`, supportconfig) and documents.
        let text = memdx_core::lines::lossy(&buf);
        let known = Some(sniffed).filter(|_| same_head(&text, head));
        case.ingest_sniffed(name, &text, None, known);
        return Ok(());
    }
    if whole {
        if is_journal {
            case.add_journal(name, memdx_slab::parse_journal(&buf[..], name));
        }
        case.read_document(name, &buf[..], None);
        return Ok(());
    }
    let rest = BufReader::with_capacity(256 * 1024, Cursor::new(buf).chain(r));
    if is_journal && !is_log {
        case.add_journal(name, memdx_slab::parse_journal(rest, name));
        return Ok(());
    }
    if is_journal {
        case.diags.push(memdx_core::Diag::note(
            memdx_core::SourceRef::new(name),
            "larger than 64 MiB: read by the kernel log engine only, systemd unit failures not analysed",
        ));
    }
    case.read_document(name, rest, None);
    Ok(())
}

fn untar<'a>(
    case: &mut Case,
    name: &str,
    r: Box<dyn BufRead + 'a>,
    time: Option<i64>,
    depth: u32,
    budget: &'a Budget,
) -> std::io::Result<()> {
    let mut ar = tar::Archive::new(r);
    let mut files = 0usize;
    let mut aliases = 0usize;
    let mut time = time;
    let entries = match ar.entries() {
        Ok(e) => e,
        Err(e) => {
            case.skipped.push(Skipped { file: name.into(), reason: format!("damaged tar archive: {e}") });
            return Ok(());
        }
    };
    for entry in entries {
        if budget.exhausted() {
            // Cut at the limit: what follows is not damage, and is not read.
            break;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(_) if budget.exhausted() => break,
            Err(e) => {
                case.skipped.push(Skipped {
                    file: name.into(),
                    reason: format!("damaged tar archive after {files} files: {e}"),
                });
                break;
            }
        };
        let path = entry.path().map(|p| p.into_owned()).unwrap_or_default();
        let inner = format!("{name}:{}", path.display());
        if !budget.take_entry(&inner) {
            break;
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let comps: Vec<_> = path.components().collect();
            let n = comps.len();
            if n >= 4 && path.parent().is_some_and(|p| p.ends_with("sys/kernel/slab")) {
                if let Ok(Some(t)) = entry.link_name() {
                    let alias =
                        path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                    case.slab_aliases.insert(&alias, &t.to_string_lossy());
                    aliases += 1;
                    case.slab_aliases
                        .source
                        .get_or_insert_with(|| memdx_core::SourceRef::new(format!("{name}:sys/kernel/slab")));
                }
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        files += 1;
        // memdx snapshot bundles start with `memdx-snapshot.txt` carrying `# time=`.
        if path.file_name().is_some_and(|f| f == "memdx-snapshot.txt") {
            let mut entry = entry;
            if let Ok(Text::Whole(text)) = read_text(&mut entry, 1 << 20) {
                time = memdx_parse::sections::capture_time(&text).or(time);
                case.inputs.push(memdx_analyze::InputInfo {
                    file: inner,
                    format: "memdx snapshot header".into(),
                    diagnostics: 0,
                });
            }
            continue;
        }
        if let Some(s) = structural(&path) {
            let mut entry = entry;
            match read_text(&mut entry, 1 << 20)? {
                Text::Whole(text) => apply_structural(case, &inner, &text, s, time),
                Text::TooLarge(reason) => case.skipped.push(Skipped { file: inner, reason }),
                Text::Truncated(_, err) => {
                    case.skipped.push(Skipped { file: inner, reason: format!("read error: {err}") })
                }
            }
            continue;
        }
        let cap = usize::try_from(entry.size()).unwrap_or(usize::MAX).saturating_add(1).clamp(512, 64 * 1024);
        let r: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(cap, entry));
        stream(case, &inner, r, time, depth, budget)?;
    }
    if aliases > 0 {
        let file = format!("{name}:sys/kernel/slab");
        case.inputs.push(memdx_analyze::InputInfo { file, format: "slab aliases".into(), diagnostics: 0 });
    }
    if files == 0 && !budget.exhausted() {
        case.skipped.push(Skipped { file: name.into(), reason: "archive holds no files".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_paths() {
        assert_eq!(
            structural(Path::new("x/proc/sys/vm/min_free_kbytes")),
            Some(Structural::Sysctl("vm.min_free_kbytes".into()))
        );
        assert_eq!(structural(Path::new("/proc/pressure/memory")), Some(Structural::Psi("memory".into())));
        assert_eq!(structural(Path::new("meminfo")), None);
    }

    #[test]
    fn files_read_apart_give_the_case_read_in_order() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(data.join("diagnose"))
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path().join("inputs")))
            .filter(|p| p.is_dir())
            .collect();
        paths.sort();
        paths.push(data.join("log"));
        // Named twice (a document nothing recognises is skipped only the first time: the second
        // reading sees the first one's input), and a file holding a whole snapshot.
        paths.push(data.join("diagnose/bad_inputs/inputs/prose.txt"));
        paths.push(data.join("diagnose/bad_inputs/inputs/prose.txt"));
        paths.push(data.join("diagnose/live-6.18-dying-memcg/snapshot.tar.zst"));
        // A file with the name of an archive member before it: prose there is not listed as
        // skipped, since an input of its name (the member) was read.
        let dir = std::env::temp_dir().join(format!("memdx-gather-apart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let meminfo = std::fs::read(data.join("diagnose/live618_snapshot/inputs/proc_meminfo.txt")).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(meminfo.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "b", &meminfo[..]).unwrap();
        std::fs::write(dir.join("a.tar"), b.into_inner().unwrap()).unwrap();
        std::fs::write(dir.join("a.tar:b"), "nothing a reader knows here\n").unwrap();
        // More than a file read apart may hold: read again in order.
        let mut big = std::fs::read(data.join("log/qemu61_global_oom.dmesg")).unwrap();
        big.resize(big.len() + (APART_HOLD as usize), b'\n');
        std::fs::write(dir.join("big.dmesg"), big).unwrap();
        paths.push(dir.clone());
        let read = |threads| {
            let mut case = Case::new();
            let errors = gather_on(&paths, &mut case, &GatherOptions::default(), threads);
            let report = memdx_analyze::analyze(&case);
            let all = format!(
                "{:?}\n{:?}\n{:?}\n{:?}\n{errors:?}\n{report:?}",
                case.inputs, case.skipped, case.diags, case.missing
            );
            (all, case.inputs.len())
        };
        let (one, inputs) = read(1);
        let others: Vec<_> = [2, 3, 8].into_iter().map(|t| (t, read(t).0)).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(inputs > 200, "{inputs} inputs");
        for (threads, apart) in others {
            let at = one
                .bytes()
                .zip(apart.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(one.len().min(apart.len()));
            assert!(
                one == apart,
                "{threads} threads differ at byte {at}: {:.300}",
                &apart[at.saturating_sub(100)..]
            );
        }
        assert!(!one.contains("a.tar:b\", reason"), "{one:.300}");
    }

    #[test]
    fn tar_gz_in_memory() {
        let mut b = tar::Builder::new(Vec::new());
        let data = b"MemTotal: 10 kB\nMemFree: 5 kB\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "sosreport-x/proc/meminfo", &data[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(6);
        h.set_cksum();
        b.append_data(&mut h, "sosreport-x/proc/sys/vm/overcommit_memory", &b"2\n\n\n\n\n"[..]).unwrap();
        let tarball = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tarball).unwrap();
        let bytes = gz.finish().unwrap();
        let mut case = Case::new();
        let budget = Budget::new(UnpackLimits::default());
        stream(&mut case, "bug.tgz", Box::new(Cursor::new(bytes)), None, 0, &budget).unwrap();
        assert_eq!(case.meminfo.as_ref().unwrap().kb("MemFree"), Some(5));
        assert_eq!(case.meminfo.as_ref().unwrap().source.file.as_ref(), "bug.tgz:sosreport-x/proc/meminfo");
        assert_eq!(case.sysctl.as_ref().unwrap().int("vm.overcommit_memory"), Some(2));
    }

    #[test]
    fn empty_and_junk() {
        let mut case = Case::new();
        let budget = Budget::new(UnpackLimits::default());
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        // An empty tar is 1024 zero bytes: not `ustar`, so it is sniffed as binary content.
        stream(&mut case, "empty.tar", Box::new(Cursor::new(empty)), None, 0, &budget).unwrap();
        stream(&mut case, "trunc.gz", Box::new(Cursor::new(vec![0x1f, 0x8b, 8, 0, 0])), None, 0, &budget)
            .unwrap_or(());
        assert!(!case.skipped.is_empty());
    }
}
