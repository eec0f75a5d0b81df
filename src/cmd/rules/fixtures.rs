//! Rule fixtures (`rules/tests/<case>/`), run by `cargo test` (`tests/rule_fixtures.rs`) and by
//! `tocsin rules test`.
//!
//! A case is a folder with `events.jsonl` (native schema, replayed in file order through the
//! same [`Pipeline`] as `tocsin replay` — decode → enrich → detect → guard, at event time — with
//! fresh state and every maturity loaded), `expected.toml` and a `README.md` saying what the
//! case proves. So a fixture sees exactly what `replay` would print for its events, guard and
//! panic refusal included. `expected.toml`:
//!
//! ```toml
//! max_severity = "medium"      # optional: no alert above this (honest look-alikes)
//! [[alert]]                    # alerts that must be raised (at least once each)
//! rule = "stolen_password.new_device_new_asn"
//! account = "dr.martin@cabinet-rouen"   # optional
//! severity = "high"                     # optional
//! [[absent]]                   # rules that must not fire (optionally for one account)
//! rule = "stolen_password.impossible_travel"
//! ```
//!
//! A case may bring a `signals.toml`: what an identity provider says about an account outside
//! the event stream, applied when the replay reaches its time (the API applies the same from
//! Shared Signals SETs):
//!
//! ```toml
//! [[leaked]]                   # RISC credential-compromise: the password leaked
//! account = "dr.martin@cabinet-rouen"
//! at = "2025-11-10T08:00:00Z"
//! ```
//!
//! A case may bring a `lists/` folder: its files replace (or add to) the rules directory's lists
//! of the same name for that case only. Deployments ship some lists empty (`tenant_networks`:
//! only the operator knows its customers' networks), so a case about a declared network says so
//! itself.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alert::{Alert, Severity};
use crate::detect::rules::Maturity;
use crate::event::Format;
use crate::pipeline::{Pipeline, RecordStats, Skip};
use crate::settings::{GeoipSettings, RulesSettings, Settings};

/// The outcome of every case of a rules directory.
#[derive(Debug, Default)]
pub struct RuleTestReport {
    /// A problem that stopped every case (rules or GeoIP that cannot load).
    pub error: Option<String>,
    /// One entry per case folder, in name order.
    pub cases: Vec<CaseReport>,
}

/// One case's outcome.
#[derive(Debug, Default)]
pub struct CaseReport {
    /// Folder name.
    pub name: String,
    /// First line of its README: what it proves.
    pub proves: String,
    /// Events replayed.
    pub events: usize,
    /// Lines that did not decode (a fixture bug: counted as a failure).
    pub rejected: usize,
    /// Alerts raised, in order.
    pub alerts: Vec<Alert>,
    /// Why the case failed; empty when it passed.
    pub failures: Vec<String>,
}

impl CaseReport {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl RuleTestReport {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.cases.iter().all(CaseReport::passed)
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed()).count()
    }
}

impl fmt::Display for RuleTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.error {
            return writeln!(f, "error: {e}");
        }
        for c in &self.cases {
            let status = if c.passed() { "ok  " } else { "FAIL" };
            writeln!(
                f,
                "{status} {} ({} events, {} alerts) — {}",
                c.name,
                c.events,
                c.alerts.len(),
                c.proves
            )?;
            for why in &c.failures {
                writeln!(f, "       {why}")?;
            }
        }
        writeln!(
            f,
            "{} cases, {} passed, {} failed",
            self.cases.len(),
            self.cases.len() - self.failed(),
            self.failed()
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    max_severity: Option<Severity>,
    #[serde(default)]
    alert: Vec<Expectation>,
    #[serde(default)]
    absent: Vec<Expectation>,
}

/// A case's `signals.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signals {
    #[serde(default)]
    leaked: Vec<Leaked>,
}

/// One leaked-password signal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Leaked {
    account: String,
    at: String,
}

impl Signals {
    /// The case's signals as (time, account), latest first; none without the file.
    fn read(dir: &Path) -> Result<Vec<(i64, String)>, String> {
        let s = match std::fs::read_to_string(dir.join("signals.toml")) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.to_string()),
        };
        let signals: Signals = toml::from_str(&s).map_err(|e| e.to_string())?;
        let mut out = signals
            .leaked
            .into_iter()
            .map(|l| {
                crate::timefmt::parse_rfc3339(&l.at)
                    .map(|t| (t, l.account))
                    .ok_or_else(|| format!("leaked.at {:?} is not an RFC 3339 time", l.at))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| b.cmp(a));
        Ok(out)
    }
}

/// The time of one native event line, for applying signals in order.
#[derive(Deserialize)]
struct EventTime<'a> {
    ts: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    rule: String,
    account: Option<String>,
    severity: Option<Severity>,
}

impl Expectation {
    fn matches(&self, a: &Alert) -> bool {
        a.rule == self.rule
            && self.account.as_ref().is_none_or(|acc| *acc == a.account)
            && self.severity.is_none_or(|s| s == a.severity)
    }

    fn describe(&self) -> String {
        let mut s = format!("rule {}", self.rule);
        if let Some(a) = &self.account {
            s.push_str(&format!(" for {a}"));
        }
        if let Some(sev) = self.severity {
            s.push_str(&format!(" at {sev}"));
        }
        s
    }
}

/// Why `expected.toml` could not be read.
#[derive(Debug, thiserror::Error)]
enum ExpectedError {
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
}

impl Expected {
    fn read(path: &Path) -> Result<Expected, ExpectedError> {
        Ok(toml::from_str(&std::fs::read_to_string(path)?)?)
    }
}

/// Runs every case under `rules_dir/tests` against the rules of `rules_dir` (all maturities),
/// enriching with `geo`; everything else is the default configuration.
pub fn run_rule_tests(rules_dir: &Path, geo: &GeoipSettings) -> RuleTestReport {
    let mut report = RuleTestReport::default();
    let settings = Settings {
        geoip: geo.clone(),
        rules: RulesSettings {
            dir: Some(rules_dir.to_path_buf()),
            maturity: Maturity::ALL
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
        },
        ..Settings::default()
    };
    // Build once to fail early with the databases' or the rules' own errors.
    if let Err(e) = Pipeline::from_settings(&settings) {
        report.error = Some(e.to_string());
        return report;
    }
    let dir = rules_dir.join("tests");
    let mut cases: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => {
            report.error = Some(format!("{}: {e}", dir.display()));
            return report;
        }
    };
    cases.sort();
    for case in cases {
        report.cases.push(run_case(&case, &settings));
    }
    report
}

fn run_case(dir: &Path, settings: &Settings) -> CaseReport {
    let mut r = CaseReport {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..CaseReport::default()
    };
    r.proves = std::fs::read_to_string(dir.join("README.md"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_default();
    if r.proves.is_empty() {
        r.failures
            .push("README.md missing or empty: say what the case proves".into());
    }
    let expected = match Expected::read(&dir.join("expected.toml")) {
        Ok(x) => x,
        Err(e) => {
            r.failures.push(format!("expected.toml: {e}"));
            return r;
        }
    };
    let mut signals = match Signals::read(dir) {
        Ok(s) => s,
        Err(e) => {
            r.failures.push(format!("signals.toml: {e}"));
            return r;
        }
    };
    let events = match std::fs::read(dir.join("events.jsonl")) {
        Ok(b) => b,
        Err(e) => {
            r.failures.push(format!("events.jsonl: {e}"));
            return r;
        }
    };
    // The case's own lists, if any, over a copy of the rules directory.
    let overlay = match with_case_lists(dir, settings) {
        Ok(o) => o,
        Err(e) => {
            r.failures.push(format!("lists/: {e}"));
            return r;
        }
    };
    let settings = overlay.as_ref().map_or(settings, |(_, s)| s);
    // A pipeline of its own: every case starts from empty baselines and an idle guard.
    let pipeline = match Pipeline::from_settings(settings) {
        Ok(p) => p,
        Err(e) => {
            r.failures.push(e.to_string());
            return r;
        }
    };
    let mut alerts: Vec<Alert> = Vec::new();
    let mut stats = RecordStats::default();
    for (n, line) in events.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let ts = (!signals.is_empty())
            .then(|| serde_json::from_slice::<EventTime<'_>>(line).ok())
            .flatten()
            .and_then(|e| crate::timefmt::parse_rfc3339(e.ts));
        while let (Some(t), Some((at, _))) = (ts, signals.last()) {
            if *at > t {
                break;
            }
            let (at, account) = signals.pop().expect("just seen");
            if !pipeline.detector().credential_leaked(&account, at) {
                r.failures.push(format!(
                    "signals.toml: {account} has no baseline when its leak is applied"
                ));
            }
        }
        pipeline.process_record(
            Format::Native,
            line,
            None,
            &mut stats,
            &mut alerts,
            &mut |skip| {
                if let Skip::Rejected(rej) = skip {
                    r.rejected += 1;
                    r.failures.push(format!("events.jsonl:{}: {}", n + 1, rej));
                }
            },
        );
    }
    r.events = stats.events as usize;
    for (_, account) in &signals {
        r.failures.push(format!(
            "signals.toml: the leak of {account} comes after the last event"
        ));
    }
    for e in &expected.alert {
        if !alerts.iter().any(|a| e.matches(a)) {
            r.failures.push(format!(
                "expected {}, got: {}",
                e.describe(),
                summary(&alerts)
            ));
        }
    }
    for e in &expected.absent {
        if let Some(a) = alerts.iter().find(|a| e.matches(a)) {
            r.failures.push(format!(
                "{} must not fire, but did at {}",
                e.describe(),
                a.ts
            ));
        }
    }
    if let Some(max) = expected.max_severity {
        for a in alerts.iter().filter(|a| a.severity > max) {
            r.failures.push(format!(
                "no alert above {max} allowed, got {} {} for {} at {}",
                a.severity, a.rule, a.account, a.ts
            ));
        }
    }
    for a in &alerts {
        if a.reasons.is_empty() {
            r.failures
                .push(format!("alert {} ({}) has no reasons", a.id, a.rule));
        }
    }
    r.alerts = alerts;
    r
}

/// When the case has a `lists/` folder: a temporary rules directory (kept alive by the returned
/// guard) with the rules' maturity folders and lists, the case's lists replacing those of the
/// same name, and settings pointing at it. `None` when the case brings no lists.
fn with_case_lists(
    case: &Path,
    settings: &Settings,
) -> std::io::Result<Option<(tempfile::TempDir, Settings)>> {
    let case_lists = case.join("lists");
    if !case_lists.is_dir() {
        return Ok(None);
    }
    let tmp = tempfile::tempdir()?;
    // `run_rule_tests` always names the directory; the built-in tree has no fixtures.
    let rules = settings
        .rules
        .dir
        .as_deref()
        .unwrap_or(Path::new(crate::detect::rules::BUILT_IN_ROOT));
    for m in Maturity::ALL {
        let from = rules.join(m.as_str());
        if from.is_dir() {
            copy_tree(&from, &tmp.path().join(m.as_str()))?;
        }
    }
    let lists = tmp.path().join("lists");
    std::fs::create_dir_all(&lists)?;
    for from in [rules.join("lists"), case_lists] {
        if from.is_dir() {
            copy_tree(&from, &lists)?;
        }
    }
    let mut s = settings.clone();
    s.rules.dir = Some(tmp.path().to_path_buf());
    Ok(Some((tmp, s)))
}

/// Copies the files of `from` into `to`, recursively (later copies replace earlier files).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

fn summary(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "no alerts".into();
    }
    let mut v: Vec<String> = alerts
        .iter()
        .map(|a| format!("{}/{}/{}", a.rule, a.account, a.severity))
        .collect();
    v.dedup();
    v.join(", ")
}
