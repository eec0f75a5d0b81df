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
    /// Create the Kafka topics a configuration needs.
    #[command(subcommand)]
    Topics(cmd::topics::TopicsCommand),
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
        Command::Topics(a) => cmd::topics::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tocsin: error: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every help text (`tocsin --help`, each command's and sub-command's `--help`), by command.
    fn help_texts() -> Vec<(String, String)> {
        fn walk(cmd: &mut clap::Command, path: String, out: &mut Vec<(String, String)>) {
            out.push((path.clone(), cmd.render_long_help().to_string()));
            for sub in cmd.get_subcommands_mut() {
                let name = format!("{path} {}", sub.get_name());
                walk(sub, name, out);
            }
        }
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut out = Vec::new();
        walk(&mut cmd, "tocsin".into(), &mut out);
        out
    }

    #[test]
    fn help_texts_point_only_at_what_users_have() {
        let helps = help_texts();
        assert!(
            helps.iter().any(|(p, _)| p == "tocsin rules dump"),
            "every sub-command is walked: {:?}",
            helps.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        for (path, help) in &helps {
            let lower = help.to_lowercase();
            // Users have the repository (README.md, docs/, rules/README.md), not the pages or
            // tickets the project was planned with.
            for gone in ["contract", "../shared", "shared/", "issue"] {
                assert!(
                    !lower.contains(gone),
                    "`{path} --help` mentions {gone}:\n{help}"
                );
            }
            // A section sign names a section of some document: only of one in the repository.
            for (i, _) in help.match_indices('§') {
                assert!(
                    help[..i].trim_end().ends_with(".md"),
                    "`{path} --help` cites a section of no file:\n{help}"
                );
            }
        }
    }
}
