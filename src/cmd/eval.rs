//! `tocsin eval --truth FILE ALERTS [--json]`: backtests alerts (JSON lines, as
//! `tocsin replay` writes them) against the ground truth of `tocsin gen`, with its labels when
//! it has some (profiles `tune` and `holdout`: figures per look-alike family and attack
//! variant). The scoring is [`crate::eval::evaluate_labelled`]; this reads the files and prints.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{CmdError, CmdResult};
use crate::alert::Alert;
use crate::eval;
use crate::gen::Truth;

/// Arguments of `tocsin eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Ground truth written by `tocsin gen --truth`.
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Alerts, one JSON object per line (`-` = stdin).
    #[arg(value_name = "ALERTS")]
    pub alerts: PathBuf,
}

/// Reads alerts, skipping (and reporting on stderr) lines that are not alerts.
pub fn read_alerts(input: impl BufRead, name: &str) -> std::io::Result<(Vec<Alert>, u64)> {
    let mut alerts = Vec::new();
    let mut skipped = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Alert>(&line) {
            Ok(a) => alerts.push(a),
            Err(e) => {
                skipped += 1;
                if skipped <= 10 {
                    eprintln!("{name}:{}: skipped: not an alert: {e}", i + 1);
                }
            }
        }
    }
    Ok((alerts, skipped))
}

/// Runs `tocsin eval`.
pub fn run(args: EvalArgs) -> CmdResult {
    let truth_file = File::open(&args.truth)
        .map_err(|e| CmdError::Usage(format!("{}: {e}", args.truth.display())))?;
    let (truth, labels) = Truth::read_labelled(BufReader::new(truth_file))
        .map_err(|e| CmdError::Usage(format!("{}: {e}", args.truth.display())))?;
    let name = args.alerts.display().to_string();
    let (alerts, skipped) = if name == "-" {
        read_alerts(std::io::stdin().lock(), "-")
    } else {
        let f = File::open(&args.alerts).map_err(|e| CmdError::Usage(format!("{name}: {e}")))?;
        read_alerts(BufReader::new(f), &name)
    }
    .with_context(|| format!("{name}: reading alerts"))?;
    if skipped > 0 {
        eprintln!("tocsin eval: {skipped} lines of {name} were not alerts and were skipped");
    }
    let report = eval::evaluate_labelled(&truth, &labels, &alerts);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("writing report")?;
        writeln!(out).context("writing report")?;
    } else {
        out.write_all(report.to_table().as_bytes())
            .context("writing report")?;
    }
    Ok(ExitCode::SUCCESS)
}
