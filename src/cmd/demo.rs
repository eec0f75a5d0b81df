//! `tocsin demo`: not built yet (issue 8).

use super::{not_yet, CmdResult};

/// Arguments of `tocsin demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `tocsin demo`.
pub fn run(_args: DemoArgs) -> CmdResult {
    not_yet("demo", 8)
}
