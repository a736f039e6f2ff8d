//! The `memdx` binary: command-line parsing and glue. The only place that uses `anyhow`.

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod symbolize_case;

/// memdx diagnoses Linux kernel memory incidents: slab leaks, memcg reclaim storms, OOM kills,
/// fragmentation and crashes in the allocators.
///
/// With no command it diagnoses the machine it runs on. Give it the files attached to a bug report
/// (meminfo, slabinfo, slabtop, buddyinfo, zoneinfo, vmstat, dmesg, sosreport tarballs, ...) and it
/// recognises each by its content.
#[derive(Parser)]
#[command(name = "memdx", version, propagate_version = true, after_help = cmd::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    Diagnose(cmd::diagnose::Args),
    Snapshot(cmd::snapshot::Args),
    Log(cmd::log::Args),
    #[cfg(feature = "symbolize")]
    Symbolize(cmd::symbolize::Args),
    Trace(cmd::trace::Args),
    Record(cmd::record::Args),
    History(cmd::history::Args),
    Serve(cmd::serve::Args),
    Memcg(cmd::memcg::Args),
    /// Write the man pages into DIR (for packaging).
    #[command(hide = true)]
    Man(cmd::docs::ManArgs),
    /// Print a shell completion script (for packaging).
    #[command(hide = true)]
    Completions(cmd::docs::CompletionsArgs),
}

/// True for the panic `println!` raises when stdout is a closed pipe (`memdx ... | head`).
fn broken_pipe_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.contains("Broken pipe")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes joined by ": ", each cause said once: error types that print their
/// cause in their own message and also return it as `source()` would repeat it.
fn chain_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for link in e.chain().map(|c| c.to_string()) {
        if !out.ends_with(&link) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&link);
        }
    }
    out
}

fn main() -> ExitCode {
    // A reader that stops early (`| head`) ends memdx quietly. SIGPIPE stays ignored (Rust's
    // default) so that a trace still removes its tracefs instance: the write fails, the stack
    // unwinds through the cleanup guards, and the failure is not reported.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !broken_pipe_panic(info.payload()) {
            default_hook(info);
        }
    }));
    match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(p) if broken_pipe_panic(p.as_ref()) => ExitCode::SUCCESS,
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        None => cmd::diagnose::run(cmd::diagnose::Args::default()),
        Some(Cmd::Diagnose(a)) => cmd::diagnose::run(a),
        Some(Cmd::Snapshot(a)) => cmd::snapshot::run(a),
        Some(Cmd::Log(a)) => cmd::log::run(a),
        #[cfg(feature = "symbolize")]
        Some(Cmd::Symbolize(a)) => cmd::symbolize::run(a),
        Some(Cmd::Trace(a)) => cmd::trace::run(a),
        Some(Cmd::Record(a)) => cmd::record::run(a),
        Some(Cmd::History(a)) => cmd::history::run(a),
        Some(Cmd::Serve(a)) => cmd::serve::run(a),
        Some(Cmd::Man(a)) => cmd::docs::man(a, Cli::command()),
        Some(Cmd::Completions(a)) => cmd::docs::completions(a, Cli::command()),
        Some(Cmd::Memcg(a)) => cmd::memcg::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memdx: error: {}", chain_text(&e));
            ExitCode::from(cmd::EXIT_USAGE)
        }
    }
}
