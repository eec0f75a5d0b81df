//! `tocsin eval`: not built yet (issue 4).

use super::{not_yet, CmdResult};

/// Arguments of `tocsin eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {}

/// Runs `tocsin eval`.
pub fn run(_args: EvalArgs) -> CmdResult {
    not_yet("eval", 4)
}
