//! `memdx man DIR` and `memdx completions SHELL` (hidden): man pages and shell completions generated
//! from the clap definition itself, so they never drift from `--help`. `dist/build.sh` and the .deb
//! ship their output.

use anyhow::Context;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Write one man page per command and subcommand (memdx.1, memdx-diagnose.1, memdx-trace-slab.1, ...).
#[derive(clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into; it must exist, and the pages must not (files are never
    /// overwritten or followed through symlinks).
    dir: PathBuf,
}

/// Print a shell completion script for memdx on stdout.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// Writes `bytes` into a new file `dir/name`: O_EXCL and O_NOFOLLOW, so an existing file or a planted
/// symlink is an error instead of a target.
fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("{}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("{}", path.display()))?;
    Ok(path)
}

pub fn man(a: ManArgs, cmd: clap::Command) -> anyhow::Result<u8> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    man_pages(&cmd, &a.dir, &mut written)?;
    for p in written {
        println!("{}", p.display());
    }
    Ok(super::EXIT_OK)
}

fn man_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render(&mut page)?;
    written.push(write_new(dir, &man.get_filename(), &page)?);
    Ok(())
}

pub fn completions(a: CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<u8> {
    clap_complete::generate(a.shell, &mut cmd, "memdx", &mut std::io::stdout().lock());
    Ok(super::EXIT_OK)
}
