//! The command line: clap types and dispatch. Each command's arguments and code live in
//! `cmd/<command>.rs`, and so do the exit codes ([`cmd::CmdError::exit_code`]); this file only
//! routes, and nothing under `cmd` refers back to it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;

/// Tocsin: detects stolen-password account takeovers in real time and revokes the attacker's session.
#[derive(Debug, Parser)]
#[command(name = "tocsin", version, about, long_about = None)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands (`tocsin --help`; README.md shows each in use).
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The long-running pipeline: Kafka → detect → respond, plus the HTTP API.
    Run(cmd::run::RunArgs),
    /// The same pipeline over files; alerts as JSON lines.
    Replay(cmd::replay::ReplayArgs),
    /// A self-contained demonstration: a day of a medical SaaS with a takeover in it.
    Demo(cmd::demo::DemoArgs),
    /// Realistic synthetic traffic with labelled attacks.
    Gen(cmd::gen::GenArgs),
    /// Validate, test or write out rules.
    #[command(subcommand)]
    Rules(cmd::rules::RulesCommand),
    /// Precision, recall and latency of alerts against ground truth.
    Eval(cmd::eval::EvalArgs),
    /// Print each input as the normalised event, or why it was rejected.
    Decode(cmd::decode::DecodeArgs),
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Gen(a) => cmd::gen::run(a),
        Command::Rules(a) => cmd::rules::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Decode(a) => cmd::decode::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tocsin: error: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
