//! `tocsin replay`: the pipeline over files, in file order, deterministic.
//!
//! Alerts go to stdout (or `--alerts OUT`) as JSON lines; every skipped record is reported on
//! stderr with its file, line and reason; a summary closes the run. Decision time is event time,
//! so the same input and configuration give byte-identical alerts.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::{CmdError, CmdResult};
use crate::pipeline::{Pipeline, RecordStats, Skip};
use crate::settings::Settings;
use crate::source::decode::{Format, RejectKind};
use crate::source::file;

/// Arguments of `tocsin replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Configuration file (default: `tocsin.toml` when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Input format (overrides the configuration's source format).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write alerts here instead of stdout.
    #[arg(long, value_name = "OUT")]
    pub alerts: Option<PathBuf>,
    /// Rules directory (overrides `[rules] dir`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Input files, in order (`-` = stdin, `.gz` accepted).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Runs `tocsin replay`.
pub fn run(args: ReplayArgs) -> CmdResult {
    let mut settings = Settings::load_or_default(args.config.as_deref())
        .map_err(|e| CmdError::Usage(e.to_string()))?;
    if let Some(dir) = &args.rules {
        settings.rules.dir = Some(dir.clone());
    }
    let format = args
        .format
        .or_else(|| settings.source.kafka.as_ref().map(|k| k.format))
        .unwrap_or_default();
    for f in &args.files {
        if f.as_os_str() != "-" && !f.is_file() {
            return Err(CmdError::Usage(format!("{}: no such file", f.display())));
        }
    }
    let pipeline =
        Pipeline::from_settings(&settings).map_err(|e| CmdError::Usage(e.to_string()))?;
    eprintln!(
        "rules: {} loaded from {}",
        pipeline.detector().rules().rules.len(),
        super::run::rules_origin(&settings)
    );

    let mut out: Box<dyn Write> = match &args.alerts {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut stats = RecordStats::default();
    for path in &args.files {
        replay_file(&pipeline, format, path, show_progress, &mut stats, &mut out)?;
    }
    out.flush().context("writing alerts")?;
    print_summary(&stats, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn replay_file(
    pipeline: &Pipeline,
    format: Format,
    path: &Path,
    show_progress: bool,
    stats: &mut RecordStats,
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    let name = path.display().to_string();
    let mut reader = file::open(path).with_context(|| format!("{name}: cannot open"))?;
    let progress = show_progress.then(|| progress_bar(path));
    let mut alerts = Vec::new();
    let mut write_err = None;
    let stderr = std::io::stderr();
    file::for_each_record(format, &mut *reader, &mut |line, record| {
        if let Some(pb) = &progress {
            if line % 4096 == 0 {
                pb.set_position(line);
            }
        }
        let record = match record {
            Ok(r) => r,
            Err(rej) => {
                stats.records += 1;
                *stats.rejected.entry(rej.kind).or_default() += 1;
                let _ = writeln!(stderr.lock(), "{name}:{line}: skipped: {rej}");
                return;
            }
        };
        pipeline.process_record(format, record, None, stats, &mut alerts, &mut |skip| {
            let _ = match skip {
                Skip::Rejected(rej) => writeln!(stderr.lock(), "{name}:{line}: skipped: {rej}"),
                Skip::NotApplicable(why) => {
                    writeln!(stderr.lock(), "{name}:{line}: not applicable: {why}")
                }
            };
        });
        for a in alerts.drain(..) {
            if let Err(e) = writeln!(out, "{}", a.to_json()) {
                write_err.get_or_insert(e);
            }
        }
    })
    .map_err(|e| {
        stats.rejected.entry(RejectKind::Io).or_default();
        anyhow::anyhow!("{name}: read error: {e}")
    })?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let Some(e) = write_err {
        return Err(anyhow::Error::from(e).context("writing alerts").into());
    }
    Ok(())
}

fn progress_bar(path: &Path) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} lines ({per_sec})")
            .expect("valid template"),
    );
    pb.set_message(path.display().to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

fn print_summary(stats: &RecordStats, secs: f64) {
    let mut e = std::io::stderr().lock();
    let rate = if secs > 0.0 {
        stats.events as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        e,
        "replay: {} records read, {} events used, {} not applicable, {} rejected; {} alerts; {:.0} events/s ({:.2} s)",
        stats.records,
        stats.events,
        stats.not_applicable,
        stats.rejected_total(),
        stats.alerts_total(),
        rate,
        secs
    );
    for (kind, n) in &stats.rejected {
        let _ = writeln!(e, "  rejected {:<16} {n}", kind.as_str());
    }
    for (rule, n) in &stats.alerts_by_rule {
        let _ = writeln!(e, "  alerts   {rule:<48} {n}");
    }
}
