//! `tocsin gen`: not built yet (issue 4).

use super::{not_yet, CmdResult};

/// Arguments of `tocsin gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {}

/// Runs `tocsin gen`.
pub fn run(_args: GenArgs) -> CmdResult {
    not_yet("gen", 4)
}
