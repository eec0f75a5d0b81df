//! `tocsin demo`: the whole system on loopback, playing a generated day of a medical SaaS with a
//! stolen-password takeover in it. The work is [`crate::demo::run`]; this is the glue: the
//! options, the story on a terminal or one JSON object with `--json`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use super::{CmdError, CmdResult};
use crate::demo::story::Story;
use crate::demo::{self, DemoConfig, Quiet};

/// Arguments of `tocsin demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Accounts in the synthetic population.
    #[arg(long, default_value_t = 300)]
    pub accounts: u32,
    /// Seed of the generated traffic: the same seed plays the same day.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Event-time speed-up while streaming the day (3600 plays an hour per second, the day in
    /// 24 s); 0 streams as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub speed: f64,
    /// Print the facts as one JSON object on stdout instead of the story.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tocsin demo`.
pub fn run(args: DemoArgs) -> CmdResult {
    if args.accounts < 10 {
        return Err(CmdError::Usage(
            "--accounts must be at least 10 (the population needs practices and clinics)".into(),
        ));
    }
    if !args.speed.is_finite() || args.speed < 0.0 {
        return Err(CmdError::Usage(
            "--speed must be 0 (as fast as possible) or a positive speed-up".into(),
        ));
    }
    let cfg = DemoConfig {
        accounts: args.accounts,
        seed: args.seed,
        speed: args.speed,
        ..DemoConfig::default()
    };
    let report = if args.json {
        demo::run(&cfg, &mut Quiet)?
    } else {
        let stdout = std::io::stdout();
        let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let mut story = Story::new(stdout.lock(), colour);
        let report = demo::run(&cfg, &mut story)?;
        story.finish(&report);
        report
    };
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}
