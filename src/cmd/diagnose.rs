//! `memdx diagnose`: ranked findings from files, bundles, a root tree, or the live machine.

use super::EXIT_USAGE;
use anyhow::Result;
use clap::ValueEnum;
use memdx_analyze::Case;
use memdx_render::diagnose::{exit_code, json, text, TextOptions};
use memdx_render::Style;
use memdx_source::{gather, live, GatherOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum ColorWhen {
    #[default]
    Auto,
    Always,
    Never,
}

/// Diagnose memory incidents from the files attached to a bug report, or from this machine.
///
/// Give it any mix of files, directories (walked) and archives (.tar, .tar.gz, .tar.xz, .tar.zst:
/// sosreport and supportconfig tarballs, `memdx snapshot` bundles). Each file is recognised by its
/// content, whatever its name: meminfo, slabinfo, slabtop output, buddyinfo, pagetypeinfo, zoneinfo,
/// vmstat, sysctl -a, /proc/cmdline, /proc/cgroups, PSI, memory.stat, crash `kmem -i`, and dumps
/// holding several of them under `== /proc/...` headers. With no arguments it reads this machine.
///
/// Examples:
///   memdx diagnose                                  # this machine (as root for /proc/slabinfo)
///   memdx diagnose meminfo.txt slabtop.out          # attachments of a bug report
///   memdx diagnose sosreport-host-2024.tar.xz       # a whole sosreport
///   memdx diagnose --root /mnt/capture              # a captured tree: DIR/proc/meminfo, DIR/sys/kernel/slab
///   memdx diagnose --json bundle.tar.zst | jq '.findings[].id'
#[derive(clap::Args, Debug, Default)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Files, directories or archives to read. None: the live machine.
    pub inputs: Vec<PathBuf>,
    /// Read a captured root tree: DIR/proc/meminfo, DIR/proc/sys/vm/*, DIR/sys/kernel/slab, ...
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print the report as JSON (schema: docs/json-schema.md).
    #[arg(long)]
    pub json: bool,
    /// Show every table, the skipped inputs and per-line diagnostics.
    #[arg(short, long)]
    pub verbose: bool,
    /// Kernel image with debug info: frames of kernel reports gain file:line and inline chains.
    #[arg(long, value_name = "FILE")]
    pub vmlinux: Option<PathBuf>,
    /// Directory of kernel modules (with debug info) for `[module]` frames; with --vmlinux.
    #[arg(long, value_name = "DIR", requires = "vmlinux")]
    pub modules: Option<PathBuf>,
    /// Colour the text report.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// Also write a self-contained HTML report (findings, charts, history) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Add history-aware findings and trends from a `memdx record` database.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Most bytes unpacked from one input (each nested archive layer counts; a run unpacks at most
    /// 4 times that): a decompression bomb stops there with a warning. Default 8G.
    #[arg(long, value_name = "SIZE", value_parser = super::trace::parse_size)]
    pub max_unpacked: Option<u64>,
    /// Most archive entries read from one input (a run: 4 times that). Default 200000.
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn run(args: Args) -> Result<u8> {
    let mut case = Case::new();
    let mut io_errors = Vec::new();
    if let Some(root) = &args.root {
        if !root.is_dir() {
            anyhow::bail!("--root {}: not a directory", root.display());
        }
        live::read_root(root, &mut case, None);
    }
    if !args.inputs.is_empty() {
        // Progress on stderr when it is a terminal: large sosreports and multi-GB logs take a while.
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} files  {elapsed}  {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let (b, b2) = (bar.clone(), bar.clone());
        let opts = GatherOptions {
            on_file: Some(Box::new(move |f: &str| {
                b.inc(1);
                b.set_message(f.to_string());
            })),
            on_limit: Some(Box::new(move |f: &str, msg: &str| {
                b2.suspend(|| eprintln!("memdx: warning: {f}: {msg}"))
            })),
            limits: memdx_source::UnpackLimits {
                bytes: args.max_unpacked.unwrap_or(memdx_source::UnpackLimits::default().bytes),
                entries: args.max_entries.unwrap_or(memdx_source::UnpackLimits::default().entries),
            },
        };
        io_errors = gather(&args.inputs, &mut case, &opts);
        bar.finish_and_clear();
    } else if args.root.is_none() {
        case.live = true;
        // The live machine: memdx also remembers its cgroups, to name them once removed.
        let opts = live::ReadOptions {
            cgroup_names: memdx_source::cgroup_names::state_dir(),
            ..live::ReadOptions::default()
        };
        live::read_root_with(std::path::Path::new("/"), &mut case, Some(now()), &opts);
    }
    for e in &io_errors {
        eprintln!("memdx: error: {e}");
    }
    // Inputs were given and none could be read: a usage error, not "nothing looks wrong".
    if !args.inputs.is_empty() && case.inputs.is_empty() {
        for s in &case.skipped {
            eprintln!("memdx: error: {}: {}", s.file, s.reason);
        }
        eprintln!(
            "memdx: error: none of the {} input(s) could be read as anything memdx knows",
            args.inputs.len()
        );
        return Ok(EXIT_USAGE);
    }
    if let Some(v) = &args.vmlinux {
        crate::symbolize_case::symbolize(&mut case, v, args.modules.as_deref())?;
    }
    let report = memdx_analyze::analyze(&case);
    let version = env!("CARGO_PKG_VERSION");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        json(&mut out, &case, &report, version)?;
    } else {
        let color = match args.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        text(
            &mut out,
            &case,
            &report,
            version,
            TextOptions { style: Style { color }, verbose: args.verbose },
        )?;
    }
    out.flush()?;
    drop(out);
    // History (--db) and the HTML report (--html): see cmd/history.rs.
    let hist_worst =
        super::history::diagnose_extras(&case, &report, args.db.as_deref(), args.html.as_deref(), args.json)?;
    // The process ends with this command: freeing the case's many small allocations one by one
    // costs more than reading some of the inputs did.
    std::mem::forget(case);
    if !io_errors.is_empty() {
        return Ok(EXIT_USAGE);
    }
    Ok(exit_code(&report).max(u8::from(hist_worst.is_some_and(|s| s >= memdx_core::Severity::Warning))))
}
