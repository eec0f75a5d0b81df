//! `tocsin gen`: realistic synthetic traffic with labelled attacks, as native JSON lines, and
//! its ground truth (`--truth FILE`). The work is [`crate::gen::generate_profile`]; this is the
//! glue.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::{CmdError, CmdResult};
use crate::gen::{self, AttackKind, GenConfig, Profile};
use crate::timefmt::{self, DAY_MS};

/// What `tocsin gen --help` adds after the options.
const PROFILES_HELP: &str = "\
Profiles:
  classic  The original French generator with fixed habits (default; its output is pinned
           byte for byte: tests, the demo and the benches depend on it). No MFA fatigue, no
           look-alike labels.
  tune     A French medical SaaS: France, Belgium and Switzerland, French carriers, RENATER
           hospitals, GPs' long days, printed prescriptions.
  holdout  An Iberian medical SaaS, designed separately: Spain (the Canaries included) and
           Portugal, other carriers and ASNs, morning/afternoon turns, split days with a long
           lunch, 17- and 24-hour guardias, electronic prescriptions, more searches, bigger
           exports, holidays in Latin America.

Tune detection on `tune`; report its figures on `holdout`. In both, every parameter (counts,
sizes, hours, durations, distances, days) is drawn from a distribution whose source is noted in
src/gen/profile/{tune,holdout}.rs, and the truth labels each honest session that belongs to a
look-alike family:
  integration, bulk_export, vacation_abroad, conference_abroad, moving_house, personal_vpn,
  private_relay, mobile_carrier, ipv6_privacy, tethering, night_shift, late_night,
  shared_ward_pc, locum, hospital_vpn, cookie_reset, new_device, browser_update,
  dormant_return, forgotten_password, mfa_retry, new_account
and each attack's variant and drawn parameters (`attack_label` lines). `tocsin eval` reports
false alerts per family and detection per attack kind and infostealer variant.";

/// Arguments of `tocsin gen`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = PROFILES_HELP)]
pub struct GenArgs {
    /// Traffic profile: `classic`, `tune` (tune detection on it) or `holdout` (report on it).
    /// See `--help` for what each one is.
    #[arg(long, value_enum, default_value = "classic")]
    pub profile: Profile,
    /// Accounts in the synthetic population.
    #[arg(long, default_value_t = 2000)]
    pub accounts: u32,
    /// Days of traffic.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed: the same seed and arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Attack kinds, comma-separated (`all`, `none`, or names such as `infostealer,session_hijack`;
    /// `mfa_fatigue` exists in the tune and holdout profiles only).
    #[arg(long, default_value = "all")]
    pub attacks: String,
    /// Write the ground truth (JSON lines) here.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// First day (`2025-11-03` or an RFC 3339 time; the day's UTC midnight is used).
    #[arg(long, value_name = "DATE", default_value = "2025-11-03")]
    pub start: String,
    /// Write events here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Parses `--attacks`.
pub fn parse_attacks(list: &str) -> Result<Vec<AttackKind>, GenArgError> {
    let mut kinds = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "all" => kinds.extend(AttackKind::ALL),
            "none" => {}
            _ => kinds.push(
                AttackKind::parse(name)
                    .ok_or_else(|| GenArgError::UnknownAttack(name.to_string()))?,
            ),
        }
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// An unusable `tocsin gen` argument.
#[derive(Debug, thiserror::Error)]
pub enum GenArgError {
    /// `--attacks` names a kind that does not exist.
    #[error("--attacks: unknown kind `{0}` (known: all, none, {known})", known = known_attacks())]
    UnknownAttack(String),
    /// `--start` is neither a date nor an RFC 3339 time.
    #[error("--start: `{0}` is not a date (YYYY-MM-DD) or an RFC 3339 time")]
    BadStart(String),
}

fn known_attacks() -> String {
    let known: Vec<&str> = AttackKind::ALL.iter().map(|k| k.as_str()).collect();
    known.join(", ")
}

/// Parses `--start` into the UTC midnight of that day.
pub fn parse_start(s: &str) -> Result<i64, GenArgError> {
    let ms = timefmt::parse_rfc3339(s)
        .or_else(|| timefmt::parse_rfc3339(&format!("{s}T00:00:00Z")))
        .ok_or_else(|| GenArgError::BadStart(s.to_string()))?;
    Ok(ms.div_euclid(DAY_MS) * DAY_MS)
}

/// Runs `tocsin gen`.
pub fn run(args: GenArgs) -> CmdResult {
    let attacks = parse_attacks(&args.attacks).map_err(|e| CmdError::Usage(e.to_string()))?;
    let start_ms = parse_start(&args.start).map_err(|e| CmdError::Usage(e.to_string()))?;
    if args.accounts == 0 || args.days == 0 {
        return Err(CmdError::Usage(
            "--accounts and --days must be at least 1".into(),
        ));
    }
    let names_fatigue = args.attacks.split(',').any(|k| k.trim() == "mfa_fatigue");
    if args.profile == Profile::Classic && names_fatigue {
        eprintln!(
            "tocsin gen: warning: the classic profile has no mfa_fatigue attack; use --profile tune or holdout"
        );
    }
    let cfg = GenConfig {
        accounts: args.accounts,
        days: args.days,
        seed: args.seed,
        attacks,
        start_ms,
        attack_day: None,
    };
    if !cfg.attacks.is_empty() && cfg.days <= gen::WARM_UP_DAYS {
        eprintln!(
            "tocsin gen: warning: attacks need more than {} days of warm-up; none injected",
            gen::WARM_UP_DAYS
        );
    }
    // Open the truth file first: a bad path should fail before minutes of generation.
    let truth_file = match &args.truth {
        Some(p) => Some(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        ),
        None => None,
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, &mut out);
    let started = Instant::now();
    let summary = gen::generate_profile(&cfg, args.profile, &mut |e| {
        e.write_json(&mut out)?;
        out.write_all(b"\n")
    });
    let summary = match summary {
        Ok(s) => s,
        // `tocsin gen | head` closes the pipe: that is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(anyhow::Error::from(e).context("writing events").into()),
    };
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        r => r.context("writing events")?,
    }
    let truth = summary.truth;
    if let Some(f) = truth_file {
        let mut w = BufWriter::new(f);
        truth
            .write_labelled(&summary.labels, &mut w)
            .and_then(|_| w.flush())
            .context("writing truth")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let s = &truth.summary;
    eprintln!(
        "tocsin gen: {} events ({} legitimate sessions, {} attacks) over {} accounts and {} days, profile {}, in {:.2}s ({:.0} events/s)",
        s.events,
        s.legit_sessions,
        truth.attacks.len(),
        s.accounts,
        s.days,
        args.profile.as_str(),
        secs,
        s.events as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_lists_parse_and_reject_typos() {
        assert_eq!(parse_attacks("all").unwrap().len(), AttackKind::ALL.len());
        assert!(parse_attacks("none").unwrap().is_empty());
        assert_eq!(
            parse_attacks("brute_force, infostealer,brute_force").unwrap(),
            vec![AttackKind::Infostealer, AttackKind::BruteForce]
        );
        assert!(parse_attacks("infostealr")
            .unwrap_err()
            .to_string()
            .contains("infostealr"));
    }

    #[test]
    fn start_accepts_a_date_or_a_time() {
        assert_eq!(
            parse_start("2025-11-03").unwrap(),
            parse_start("2025-11-03T17:00:00Z").unwrap()
        );
        assert!(parse_start("monday").is_err());
    }
}
