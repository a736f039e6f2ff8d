//! `memdx diagnose` (being built in this session).

#[derive(clap::Args, Default)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("memdx diagnose is not built yet")
}
