//! `tocsin rules check|test|dump`: validate rule files (check), run the fixtures shipped with
//! them under `<dir>/tests/` (test), and write out the rules built into the binary (dump). The
//! fixture runner is [`fixtures`]: it sits above the
//! pipeline it replays the cases through, which is why it is here and not in `detect`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CmdError, CmdResult};
use crate::detect::rules::{self, Maturity};

pub mod fixtures;

/// `tocsin rules ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RulesCommand {
    /// Validate every rule file.
    Check {
        /// Rules directory.
        dir: Option<std::path::PathBuf>,
    },
    /// Run the fixtures shipped with the rules.
    Test {
        /// Rules directory.
        dir: Option<std::path::PathBuf>,
        /// City database for the fixtures' addresses (default: the repository's fixture database
        /// `testdata/geo/GeoLite2-City-Test.mmdb`, which the shipped fixtures are written against).
        #[arg(long)]
        geoip_city: Option<PathBuf>,
        /// ASN database (default: `testdata/geo/GeoLite2-ASN-Test.mmdb`).
        #[arg(long)]
        geoip_asn: Option<PathBuf>,
    },
    /// Write the rules built into the binary (used when no `[rules] dir` is configured) to DIR:
    /// stable/, incubating/, sandbox/, lists/ and README.md, to start a custom set from.
    Dump {
        /// Destination folder; it must not exist yet, or be empty.
        dir: PathBuf,
    },
}

/// Runs `tocsin rules ...`.
pub(crate) fn run(cmd: RulesCommand) -> CmdResult {
    match cmd {
        RulesCommand::Check { dir } => check(&dir.unwrap_or_else(|| PathBuf::from("rules"))),
        RulesCommand::Test {
            dir,
            geoip_city,
            geoip_asn,
        } => test(
            &dir.unwrap_or_else(|| PathBuf::from("rules")),
            geoip_city.unwrap_or_else(|| PathBuf::from("testdata/geo/GeoLite2-City-Test.mmdb")),
            geoip_asn.unwrap_or_else(|| PathBuf::from("testdata/geo/GeoLite2-ASN-Test.mmdb")),
        ),
        RulesCommand::Dump { dir } => dump(&dir),
    }
}

/// Writes the built-in tree to `dir` and says how to use it.
fn dump(dir: &Path) -> CmdResult {
    let written = rules::tree::dump(dir).map_err(|e| match e {
        rules::tree::DumpError::NotEmpty(_) => CmdError::Usage(e.to_string()),
        rules::tree::DumpError::Write { .. } => CmdError::Failed(e.into()),
    })?;
    println!(
        "wrote {written} files to {}; use them with `[rules] dir = \"{}\"`",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
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

fn test(dir: &Path, city: PathBuf, asn: PathBuf) -> CmdResult {
    if !dir.is_dir() {
        return Err(CmdError::Usage(format!(
            "{}: no such rules directory",
            dir.display()
        )));
    }
    for db in [&city, &asn] {
        if !db.is_file() {
            return Err(CmdError::Usage(format!(
                "{}: GeoIP database not found (the fixtures need the test databases; pass \
                 --geoip-city/--geoip-asn or run from the repository root)",
                db.display()
            )));
        }
    }
    let geo = crate::settings::GeoipSettings {
        city: vec![city],
        asn: Some(asn),
        ..Default::default()
    };
    let report = fixtures::run_rule_tests(dir, &geo);
    print!("{report}");
    if report.error.is_some() {
        return Err(CmdError::Usage("rule fixtures could not run".into()));
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
