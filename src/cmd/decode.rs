//! `tocsin decode`: being built (issue 2).

use std::path::PathBuf;

use super::{not_yet, CmdResult};
use crate::source::decode::Format;

/// Arguments of `tocsin decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Input format.
    #[arg(long, value_enum, default_value = "native")]
    pub format: Format,
    /// Input files (`-` = stdin, `.gz` accepted).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `tocsin decode`.
pub fn run(_args: DecodeArgs) -> CmdResult {
    not_yet("decode", 2)
}
