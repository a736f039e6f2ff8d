//! `memdx symbolize`: file, line and inline chain for kernel stack frames.
//!
//! Two modes. Given log files (or stdin), the log is re-emitted with every frame annotated, like the
//! kernel's `decode_stacktrace.sh`. Given frames as arguments (`func+0xoff/0xlen`, `func+0xoff`,
//! `func+0x1/0x2 [module]`, `0xffffffff81234567`) or `--frame-list`, each is printed in the kernel's
//! `scripts/faddr2line` format.

use anyhow::{bail, Context};
use memdx_symbolize::{parse_frame_arg, FrameRef, Resolution, SourceTree, Symbolizer};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Version of the `memdx symbolize --json` documents (docs/json-schema.md): `{"schema_version",
/// "frames": [resolution…]}` for frames given as arguments, `{"schema_version", "lines": [{"source",
/// "line", "text", "frames"}…]}` per annotated input.
const SCHEMA_VERSION: u32 = 1;

/// `{"schema_version", "frames"}`: the document of frames given as arguments.
#[derive(serde::Serialize)]
struct FramesDoc<'a> {
    schema_version: u32,
    frames: &'a [Resolution],
}

/// One annotated line of `{"schema_version", "lines": [...]}` (written one at a time, so memory stays
/// flat however long the log).
#[derive(serde::Serialize)]
struct LineDoc<'a> {
    source: &'a str,
    line: usize,
    text: &'a str,
    frames: &'a [Resolution],
}

/// Add source file and line (and inline chains) to kernel stack frames.
///
/// Annotates a kernel log (files, or stdin when none is given), or resolves frames given as
/// arguments the way `scripts/faddr2line` does, in one pass and without spawning addr2line.
/// Without --vmlinux the debug vmlinux is looked for in /usr/lib/debug/boot/vmlinux-<release>,
/// /usr/lib/debug/lib/modules/<release>/vmlinux, /boot/vmlinux-<release>, by build-id under
/// /usr/lib/debug/.build-id/, then any /boot/vmlinux-*; <release> is the one the log names,
/// else the running kernel's.
#[derive(clap::Args, Default)]
#[command(
    after_help = "Exit codes:\n  0  done (unresolved frames are reported on stderr)\n  2  usage or I/O error"
)]
pub struct Args {
    /// Kernel logs to annotate ("-" for stdin), or frames such as kmem_cache_free+0xfc/0x1c8.
    pub inputs: Vec<String>,
    /// vmlinux with DWARF debug info.
    #[arg(long, value_name = "FILE")]
    pub vmlinux: Option<PathBuf>,
    /// Directory searched (recursively) for module .ko / .ko.xz / .ko.zst / .ko.gz files.
    #[arg(long, value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// Kernel source tree: print the source line of each location.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Read frames to resolve from FILE, one per line ("-" for stdin), faddr2line-style output.
    #[arg(long, value_name = "FILE")]
    pub frame_list: Option<String>,
    /// KASLR offset (hex) subtracted from raw runtime addresses.
    #[arg(long, value_name = "HEX")]
    pub kaslr_offset: Option<String>,
    /// Root directory for the default debug-file locations.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Print load and resolution times and counts to stderr.
    #[arg(long)]
    pub stats: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let frames_mode = args.frame_list.is_some()
        || (!args.inputs.is_empty()
            && args.inputs.iter().all(|a| parse_frame_arg(a).is_some() && !Path::new(a).exists()));

    let t0 = Instant::now();
    let sym = open(&args, frames_mode)?;
    if let Some(k) = &args.kaslr_offset {
        let k = k.trim_start_matches("0x");
        let v =
            u64::from_str_radix(k, 16).with_context(|| format!("--kaslr-offset {k}: not a hex number"))?;
        sym.set_kaslr_offset(v);
    }
    let load = t0.elapsed();
    let t1 = Instant::now();
    let mut source = args.source.as_deref().map(SourceTree::new);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut frames = 0usize;
    let mut resolved = 0usize;

    if frames_mode {
        let mut list: Vec<String> = args.inputs.clone();
        if let Some(fl) = &args.frame_list {
            let (_, diags) = memdx_core::lines::for_each_line(
                open_input(fl)?,
                &memdx_core::SourceRef::new(fl.as_str()),
                |line, _| {
                    if !line.trim().is_empty() {
                        list.push(line.to_string());
                    }
                },
            );
            for d in diags {
                if d.level == memdx_core::DiagLevel::Error {
                    bail!("{d}");
                }
                eprintln!("memdx: warning: {d}");
            }
        }
        let mut all = Vec::new();
        for (i, text) in list.iter().enumerate() {
            let Some(f) = parse_frame_arg(text) else {
                eprintln!("memdx: warning: frame {}: cannot parse {text:?}", i + 1);
                continue;
            };
            let r = sym.resolve_frame(&f);
            frames += 1;
            if r.is_resolved() {
                resolved += 1;
            }
            if args.json {
                all.push(r);
            } else {
                print_faddr2line(&mut out, &f, &r, source.as_mut())?;
            }
        }
        if args.json {
            let doc = FramesDoc { schema_version: SCHEMA_VERSION, frames: &all };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    } else {
        let inputs = if args.inputs.is_empty() { vec!["-".to_string()] } else { args.inputs.clone() };
        for input in &inputs {
            let reader = open_input(input)?;
            let (f, r) = if args.json || source.is_some() {
                annotate_detailed(&sym, reader, input, &mut out, args.json, source.as_mut())?
            } else {
                let stats = sym.annotate(reader, input, &mut out).with_context(|| input.clone())?;
                for d in &stats.diags {
                    eprintln!("memdx: {d}");
                }
                (stats.frames, stats.resolved)
            };
            frames += f;
            resolved += r;
        }
    }
    out.flush()?;
    if args.stats {
        eprintln!(
            "memdx symbolize: index load {:.3} s, {} frames ({} resolved) in {:.3} s, {} symbols in {}",
            load.as_secs_f64(),
            frames,
            resolved,
            t1.elapsed().as_secs_f64(),
            sym.symbol_count(),
            sym.vmlinux_path().display()
        );
    }
    Ok(super::EXIT_OK)
}

fn open(args: &Args, frames_mode: bool) -> anyhow::Result<Symbolizer> {
    if let Some(v) = &args.vmlinux {
        return Symbolizer::open_in(&args.root, v, args.modules.as_deref()).map_err(Into::into);
    }
    // The release the log names picks the vmlinux; the first lines that name one are enough.
    let mut release = None;
    if !frames_mode {
        for input in args.inputs.iter().filter(|i| i.as_str() != "-") {
            let f = File::open(input).with_context(|| input.clone())?;
            for line in BufReader::new(f).split(b'\n').map_while(Result::ok) {
                if let Some(r) = memdx_symbolize::log_release(&String::from_utf8_lossy(&line)) {
                    release = Some(r.to_string());
                    break;
                }
            }
            if release.is_some() {
                break;
            }
        }
    }
    Symbolizer::discover(&args.root, release.as_deref(), args.modules.as_deref())
        .context("pass the debug vmlinux with --vmlinux")
}

fn open_input(name: &str) -> anyhow::Result<Box<dyn BufRead>> {
    if name == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = File::open(name).with_context(|| format!("cannot open {name}"))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        bail!("{name}: is a directory");
    }
    Ok(Box::new(BufReader::new(f)))
}

fn print_source(
    out: &mut impl Write,
    tree: &mut SourceTree,
    file: Option<&str>,
    line: Option<u32>,
) -> std::io::Result<()> {
    if let (Some(file), Some(line)) = (file, line) {
        if let Some(text) = tree.line(file, line) {
            writeln!(out, "    {line:>5} | {text}")?;
        }
    }
    Ok(())
}

fn print_faddr2line(
    out: &mut impl Write,
    f: &FrameRef,
    r: &Resolution,
    mut source: Option<&mut SourceTree>,
) -> std::io::Result<()> {
    for w in &r.warnings {
        eprintln!("memdx: warning: {}: {w}", f.text());
    }
    if r.matches.is_empty() {
        writeln!(out, "{}: no match", f.text())?;
        return Ok(());
    }
    if r.ambiguous {
        eprintln!("memdx: warning: {}: {} symbols match; all are shown", f.text(), r.matches.len());
    }
    for m in &r.matches {
        writeln!(out, "{}+{:#x}/{:#x}:", m.symbol, m.address.wrapping_sub(m.symbol_value), m.symbol_size)?;
        if m.frames.is_empty() {
            writeln!(out, "{} at ??:?", m.symbol)?;
        }
        for (i, sf) in m.frames.iter().enumerate() {
            let prefix = if i == 0 { "" } else { "(inlined by) " };
            writeln!(out, "{prefix}{} at {}", sf.function, sf.location())?;
            if let Some(t) = source.as_deref_mut() {
                print_source(out, t, sf.file.as_deref(), sf.line)?;
            }
        }
    }
    Ok(())
}

/// Annotation with source lines or JSON: per line, so memory stays flat however long the log.
fn annotate_detailed(
    sym: &Symbolizer,
    mut reader: Box<dyn BufRead>,
    name: &str,
    out: &mut impl Write,
    json: bool,
    mut source: Option<&mut SourceTree>,
) -> anyhow::Result<(usize, usize)> {
    let (mut frames, mut resolved) = (0, 0);
    let mut first = true;
    let mut release_checked = false;
    if json {
        writeln!(out, "{{\"schema_version\": {SCHEMA_VERSION}, \"lines\": [")?;
    }
    // Capped lines: an overlong line is passed through cut to the cap, with a warning at the end.
    let mut lr = memdx_core::lines::LineReader::new(&mut reader);
    loop {
        let at = lr.lines() + 1;
        let Some(l) = lr.next_line().with_context(|| format!("{name}:{at}"))? else { break };
        let n = l.number;
        let text = l.text();
        let line = text.trim_end_matches('\r');
        if !release_checked {
            if let Some(rel) = memdx_symbolize::log_release(line) {
                release_checked = true;
                if let Some(d) = sym.check_release(rel, memdx_core::SourceRef::new(name).at(n)) {
                    eprintln!("memdx: {d}");
                }
            }
        }
        let (annotated, rs) = sym.annotate_line_detailed(line);
        frames += rs.len();
        resolved += rs.iter().filter(|r| r.is_resolved()).count();
        if json {
            if rs.is_empty() {
                continue;
            }
            if !first {
                writeln!(out, ",")?;
            }
            first = false;
            serde_json::to_writer(&mut *out, &LineDoc { source: name, line: n, text: line, frames: &rs })?;
        } else {
            writeln!(out, "{}", annotated.as_deref().unwrap_or(line))?;
            if let Some(t) = source.as_deref_mut() {
                for r in &rs {
                    if let Some(sf) = r.matches.first().and_then(|m| m.frames.first()) {
                        print_source(out, t, sf.file.as_deref(), sf.line)?;
                    }
                }
            }
        }
    }
    if json {
        writeln!(out, "\n]}}")?;
    }
    if let Some(d) = lr.long_lines_diag(&memdx_core::SourceRef::new(name), "cut to that length") {
        eprintln!("memdx: {d}");
    }
    Ok((frames, resolved))
}
