//! `tocsin run`: not built yet (issue 5).

use super::{not_yet, CmdResult};

/// Arguments of `tocsin run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// Runs `tocsin run`.
pub fn run(_args: RunArgs) -> CmdResult {
    not_yet("run", 5)
}
