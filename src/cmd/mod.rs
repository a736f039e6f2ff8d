//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<u8>`
//! returning the process exit code.

pub mod diagnose;
pub mod docs;
pub mod history;
pub mod log;
pub mod memcg;
pub mod record;
pub mod serve;
pub mod snapshot;
#[cfg(feature = "symbolize")]
pub mod symbolize;
pub mod trace;

/// Nothing at warning or above.
pub const EXIT_OK: u8 = 0;
/// Findings at warning or above.
pub const EXIT_FINDINGS: u8 = 1;
/// Usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  nothing at warning or above
  1  findings at warning or above
  2  usage or I/O error";
