//! `memdx memcg pins`: what pins the dying memory cgroups.

use super::{EXIT_FINDINGS, EXIT_OK};
use anyhow::{bail, Context, Result};
use memdx_render::Style;
use memdx_source::pins::{self, KpageOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Memory cgroups on the live machine.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: MemcgCmd,
}

#[derive(clap::Subcommand)]
enum MemcgCmd {
    /// Pages pinning dying memory cgroups, by live parent and kind, the files they cache, and the
    /// precise step that frees them (root: reads /proc/kpagecgroup and /proc/kpageflags). Removed
    /// cgroups are named when an earlier live diagnose, record or memcg pins run saw them alive (memdx
    /// remembers them in $MEMDX_STATE_DIR, by default /var/lib/memdx for root).
    Pins(PinsArgs),
}

#[derive(clap::Args)]
pub struct PinsArgs {
    /// Also find the files under these directories whose cached pages are charged there (maps each
    /// file read-only and looks only at pages already cached; stays on each directory's filesystem).
    #[arg(long, num_args = 1.., value_name = "DIR")]
    files: Vec<PathBuf>,
    /// Most page frames read per second from /proc/kpagecgroup and /proc/kpageflags (0: no limit).
    #[arg(long, default_value_t = 4 << 20)]
    rate: u64,
    /// Only the cgroups' memory.stat (no root needed, no page pass: no kinds by page flags, no files).
    #[arg(long, conflicts_with = "files")]
    stat_only: bool,
    /// Root directory of the system (for /proc and /sys).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// JSON output (schema in docs/json-schema.md).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    match args.cmd {
        MemcgCmd::Pins(a) => pins_cmd(a),
    }
}

/// The kernel fact every reader of the report needs.
const ANCESTOR_NOTE: &str = "the kernel reports a page charged to a dying memcg at its closest live ancestor \
(page_cgroup_ino walks up to an online memcg), and a removed cgroup keeps no directory or name: its pages are \
counted at that ancestor and told from the ancestor's own with memory.stat";

/// What that fact leaves out, said in every report so that no number is read as more than it is.
const UNATTRIBUTABLE_NOTE: &str = "attributed: pages and their kinds per closest live ancestor (memory.stat), \
and with --files the files whose cached pages the kernel reports there. Cannot be attributed from /proc: which \
dying memcg below an ancestor holds a page, how the pages split among several dying memcgs, and what the \
removed cgroups were called (see the next note); kpagecgroup also does not tell an ancestor's own pages from its dying \
descendants' (cgroup v1: the own count is given beside; v2: the pinned count is an upper bound)";

/// Where the names of removed cgroups come from, and what they do not prove.
const NAMES_NOTE: &str = "removed cgroups are named from memdx's own record of the cgroups it saw alive \
(every live diagnose, record sample and memcg pins run; the cgroup-names file of its state directory, \
MEMDX_STATE_DIR or /var/lib/memdx for root): one it saw and no longer finds was removed after it was last seen. \
Listed below the live parent whose dying memcgs they are; a removed cgroup stays listed until the kernel's counts \
say its parent holds no dying memcg (cgroup v2 per parent, v1 only machine-wide), so on v1 a listed one may \
already be freed. Dying memcgs removed before memdx ever saw them are counted, not named";

fn pins_cmd(args: PinsArgs) -> Result<u8> {
    let root = args.root.as_path();
    let cgroups = std::fs::read_to_string(root.join("proc/cgroups"))
        .ok()
        .and_then(|t| memdx_parse::cgroups::parse(&t, &memdx_core::SourceRef::new("/proc/cgroups")).ok())
        .map(|p| p.value);
    let Some(mut tree) = pins::read_tree(root, cgroups.as_ref()) else {
        bail!(
            "no memory cgroup hierarchy under {}: neither a v1 memory mount nor a v2 hierarchy listing `memory` in \
             cgroup.controllers (a kernel without CONFIG_MEMCG, or cgroup_disable=memory)",
            root.join("sys/fs/cgroup").display()
        );
    };
    if !args.files.is_empty() && root != Path::new("/") {
        bail!(
            "--files needs the live machine (--root /): it maps the files and reads this process's pagemap"
        );
    }
    // The live cgroups at this moment, remembered (and the removed ones named) once the page pass
    // below has run: a run that cannot read the pages ends with that error alone.
    let seen_at = super::record::now();
    let mut notes = vec![ANCESTOR_NOTE.to_string(), UNATTRIBUTABLE_NOTE.to_string(), NAMES_NOTE.to_string()];
    if tree.hierarchy == "v1" {
        notes.push(
            "cgroup v1 counts dying memcgs only machine-wide (/proc/cgroups): per parent, the pages tell where they are"
                .into(),
        );
    }
    let page_size = page_size(root);
    let (tally, charges) = if args.stat_only {
        (None, Vec::new())
    } else {
        let files = if args.files.is_empty() {
            pins::FilePages::default()
        } else {
            pins::file_pages(root, &args.files).context("--files")?
        };
        for (p, why) in files.skipped.iter().take(10) {
            eprintln!("memdx: {p}: not examined: {why}");
        }
        if files.truncated {
            notes.push(format!(
                "--files stopped at its cap ({} files or {} cached pages)",
                pins::MAX_FILES,
                pins::MAX_FILE_PFNS
            ));
        }
        let bar = progress();
        let b = bar.clone();
        let opts = KpageOptions { rate: args.rate, ..KpageOptions::default() };
        let tally = pins::scan_kpages(root, files.wanted.clone(), opts, &mut |n| b.set_position(n))
            .map_err(|e| anyhow::anyhow!("{e} (memdx memcg pins --stat-only needs no root)"))?;
        bar.finish_and_clear();
        let charges = pins::file_charges(&files, &tally);
        (Some(tally), charges)
    };
    if root == Path::new("/") {
        learn_names(&mut tree, seen_at);
    }
    let report = memdx_analyze::pins::join(&tree, tally.as_ref(), &charges, page_size);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        memdx_render::pins::json(&mut out, &report, &notes, page_size, env!("CARGO_PKG_VERSION"))?;
        writeln!(out)?;
    } else {
        let color =
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        memdx_render::pins::text(&mut out, &report, &notes, page_size, &Style { color })?;
    }
    out.flush()?;
    Ok(if report.parents.iter().any(|p| p.pinned > 0) { EXIT_FINDINGS } else { EXIT_OK })
}

/// Remembers the live cgroups in memdx's state directory and names the removed ones it saw earlier
/// (forgetting those whose memcgs the kernel's counts say are freed).
fn learn_names(tree: &mut memdx_analyze::pins::MemcgTree, now: i64) {
    let Some(dir) = memdx_source::cgroup_names::state_dir() else {
        eprintln!("memdx: note: no state directory (MEMDX_STATE_DIR, HOME): removed cgroups cannot be named");
        return;
    };
    let seen = pins::seen(tree);
    let t: &memdx_analyze::pins::MemcgTree = tree;
    let (removed, err) =
        memdx_source::cgroup_names::learn(&dir, Path::new("/"), t.hierarchy, &seen, now, &|all| {
            memdx_analyze::pins::freed_inos(t, all)
        });
    tree.removed = removed;
    if let Some(e) = err {
        eprintln!("memdx: note: removed cgroups cannot be named: {e}");
    }
}

/// The page size: 4 KiB unless `proc/self/smaps` of the live machine says otherwise.
fn page_size(root: &Path) -> u64 {
    std::fs::read_to_string(root.join("proc/self/smaps"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("KernelPageSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(4096)
}

fn progress() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} page frames  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar
}
