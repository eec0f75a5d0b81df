//! `tocsin rules check|test`: validate rule files (check) and run their fixtures (test, not
//! wired yet).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{not_yet, CmdError, CmdResult};
use crate::detect::rules::{self, Maturity};

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
pub fn run(cmd: RulesCommand) -> CmdResult {
    match cmd {
        RulesCommand::Check { dir } => check(&dir.unwrap_or_else(|| PathBuf::from("rules"))),
        RulesCommand::Test { .. } => not_yet("rules test", 3),
    }
}

/// Loads every maturity folder of `dir` against the feature catalog. Prints a one-line summary
/// (exit 0) or every problem, one per line, as `file:line: rule id: reason` (exit 1).
fn check(dir: &Path) -> CmdResult {
    if !dir.is_dir() {
        return Err(CmdError::Usage(format!(
            "rules directory `{}` does not exist",
            dir.display()
        )));
    }
    let all: Vec<String> = Maturity::ALL
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    match rules::load_dir(dir, &all, rules::catalog()) {
        Ok(set) => {
            println!(
                "ok: {} rules (stable {}, incubating {}, sandbox {}), {} lists",
                set.rules.len(),
                set.count(Maturity::Stable),
                set.count(Maturity::Incubating),
                set.count(Maturity::Sandbox),
                set.lists.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            let mut files: Vec<&Path> = errors.0.iter().map(|e| e.file.as_path()).collect();
            files.dedup();
            eprintln!(
                "{} error{} in {} file{}",
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" },
                files.len(),
                if files.len() == 1 { "" } else { "s" },
            );
            Ok(ExitCode::from(1))
        }
    }
}
