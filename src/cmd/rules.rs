//! `tocsin rules check|test`: not built yet (issue 3).

use super::{not_yet, CmdResult};

/// `tocsin rules ...`
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate every rule file.
    Check {
        /// Rules directory.
        dir: Option<std::path::PathBuf>,
    },
    /// Run the fixtures shipped with the rules.
    Test {
        /// Rules directory.
        dir: Option<std::path::PathBuf>,
    },
}

/// Runs `tocsin rules ...`.
pub fn run(_cmd: RulesCommand) -> CmdResult {
    not_yet("rules", 3)
}
