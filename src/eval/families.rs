//! The backtest's figures about honest look-alikes and attack variants, for runs whose truth
//! carries labels (`tocsin gen --profile tune|holdout`): how often each honest family is
//! alerted high/critical or revoked, which rules raise the false alerts, and how each attack
//! variant fares. [`super::evaluate_labelled`] feeds it the false alerts as it meets them.
//!
//! A false alert names its session when it has one. One without a session (typically on
//! failed logins) counts against the labelled session of its account that it falls within
//! (from the first failed attempt to the last event), so a forgotten password's alerts are the
//! forgotten-password family's.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::alert::{Alert, Severity};
use crate::gen::{Labels, Lookalike};
use crate::timefmt;

/// Name of the row for honest sessions in no family.
pub const ORDINARY: &str = "ordinary";

/// Rules listed in the false-alert table.
pub const TOP_RULES: usize = 10;

/// Honest sessions of one look-alike family.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyReport {
    /// Family name ([`ORDINARY`] for sessions in none).
    pub family: String,
    /// Sessions in the family.
    pub sessions: u64,
    /// Of them, sessions with a `high` or `critical` alert.
    pub alerted_high_or_critical: u64,
    /// `alerted_high_or_critical / sessions`.
    pub alerted_high_or_critical_share: f64,
    /// Of them, sessions an alert asked to revoke.
    pub revoked: u64,
    /// `revoked / sessions`.
    pub revoked_share: f64,
    /// Of them, sessions with an alert of any severity.
    pub alerted: u64,
    /// `alerted / sessions`.
    pub alerted_share: f64,
}

/// False alerts of one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleReport {
    /// Rule id.
    pub rule: String,
    /// False alerts it raised.
    pub alerts: u64,
    /// Per 10,000 legitimate login attempts.
    pub per_10k_logins: f64,
    /// Of them, `high` or `critical`.
    pub high_or_critical: u64,
}

/// Results for one variant of an attack kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantReport {
    /// Attack kind.
    pub kind: String,
    /// Variant (the kind's name again when the truth has no labels).
    pub variant: String,
    /// Attacks of this variant.
    pub instances: u32,
    /// Attacks matched by at least one alert.
    pub detected: u32,
    /// `detected / instances`.
    pub detection_rate: f64,
    /// Attacks a revoking alert matched.
    pub revoked: u32,
    /// Attacks that read any records.
    pub with_records: u32,
    /// Share of those revoked before 50 records were read.
    pub revoked_before_50_records: Option<f64>,
}

/// Labelled sessions, indexed for the alert loop.
pub(crate) struct SessionIndex<'t> {
    labels: &'t Labels,
    by_key: HashMap<(&'t str, &'t str), usize>,
    /// Per account: (start, end, index) of its labelled sessions.
    by_account: HashMap<&'t str, Vec<(i64, i64, usize)>>,
}

impl<'t> SessionIndex<'t> {
    pub fn new(labels: &'t Labels) -> SessionIndex<'t> {
        let mut ix = SessionIndex {
            labels,
            by_key: HashMap::with_capacity(labels.sessions.len()),
            by_account: HashMap::new(),
        };
        for (i, s) in labels.sessions.iter().enumerate() {
            ix.by_key
                .insert((s.account.as_str(), s.session.as_str()), i);
            let start = timefmt::parse_rfc3339(&s.start).unwrap_or(i64::MIN);
            let end = timefmt::parse_rfc3339(&s.end).unwrap_or(i64::MAX);
            ix.by_account
                .entry(s.account.as_str())
                .or_default()
                .push((start, end, i));
        }
        ix
    }

    /// The session a false alert without a session of its own counts against: a labelled
    /// session of its account that its time falls within.
    pub fn attribute(&self, alert: &Alert, ts: Option<i64>) -> Option<(&'t str, &'t str)> {
        let ts = ts?;
        let list = self.by_account.get(alert.account.as_str())?;
        let &(_, _, i) = list.iter().find(|&&(s, e, _)| ts >= s && ts <= e)?;
        let s = &self.labels.sessions[i];
        Some((s.account.as_str(), s.session.as_str()))
    }
}

/// Per-family rates from the worst severity and revocation of every alerted honest session.
pub(crate) fn family_reports(
    ix: &SessionIndex<'_>,
    legit_sessions: u64,
    severity: &HashMap<(&str, &str), Severity>,
    revoked: &HashSet<(&str, &str)>,
) -> Vec<FamilyReport> {
    if ix.labels.sessions.is_empty() {
        return Vec::new();
    }
    // [sessions, high/critical, revoked, any] per family, then ordinary.
    let mut counts: Vec<[u64; 4]> = vec![[0; 4]; Lookalike::ALL.len() + 1];
    let ordinary = Lookalike::ALL.len();
    for s in &ix.labels.sessions {
        let key = (s.account.as_str(), s.session.as_str());
        let sev = severity.get(&key).copied();
        let row = [
            1,
            u64::from(sev.is_some_and(|v| v >= Severity::High)),
            u64::from(revoked.contains(&key)),
            u64::from(sev.is_some()),
        ];
        for name in &s.families {
            if let Some(f) = Lookalike::parse(name) {
                for (c, r) in counts[f as usize].iter_mut().zip(row) {
                    *c += r;
                }
            }
        }
    }
    // Ordinary sessions: every honest session minus the labelled ones; alerted ones are the
    // alerted keys no label names.
    counts[ordinary][0] = legit_sessions.saturating_sub(ix.labels.sessions.len() as u64);
    for (key, sev) in severity {
        if !ix.by_key.contains_key(key) {
            counts[ordinary][1] += u64::from(*sev >= Severity::High);
            counts[ordinary][3] += 1;
        }
    }
    counts[ordinary][2] = revoked
        .iter()
        .filter(|k| !ix.by_key.contains_key(*k))
        .count() as u64;
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let mut out: Vec<FamilyReport> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| c[0] > 0)
        .map(|(i, c)| FamilyReport {
            family: Lookalike::ALL
                .get(i)
                .map_or(ORDINARY, |f| f.as_str())
                .to_string(),
            sessions: c[0],
            alerted_high_or_critical: c[1],
            alerted_high_or_critical_share: share(c[1], c[0]),
            revoked: c[2],
            revoked_share: share(c[2], c[0]),
            alerted: c[3],
            alerted_share: share(c[3], c[0]),
        })
        .collect();
    out.sort_by(|a, b| {
        b.alerted_high_or_critical_share
            .total_cmp(&a.alerted_high_or_critical_share)
            .then(b.revoked_share.total_cmp(&a.revoked_share))
            .then(b.alerted_share.total_cmp(&a.alerted_share))
            .then(a.family.cmp(&b.family))
    });
    out
}

/// The rules with the most false alerts, most first (ties by name).
pub(crate) fn rule_reports(
    by_rule: &HashMap<&str, (u64, u64)>,
    legit_logins: u64,
) -> Vec<RuleReport> {
    let mut out: Vec<RuleReport> = by_rule
        .iter()
        .map(|(rule, &(alerts, hc))| RuleReport {
            rule: rule.to_string(),
            alerts,
            per_10k_logins: if legit_logins == 0 {
                0.0
            } else {
                alerts as f64 * 10_000.0 / legit_logins as f64
            },
            high_or_critical: hc,
        })
        .collect();
    out.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.rule.cmp(&b.rule)));
    out.truncate(TOP_RULES);
    out
}

/// Writes `rows` under `header`, columns aligned (the first to the left, the others right).
pub(crate) fn write_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    use std::fmt::Write as _;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(out, "{c:<w$}");
            } else {
                let _ = write!(out, "  {c:>w$}");
            }
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// The text tables of the false-alert rules, the families and the variants.
pub(crate) fn tables(report: &super::EvalReport, out: &mut String) {
    use std::fmt::Write as _;
    let f = &report.false_alerts;
    let _ = writeln!(
        out,
        "false alerts of any severity per 10k legitimate logins: {:.2}",
        f.per_10k_logins_any
    );
    if !f.top_rules.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = f
            .top_rules
            .iter()
            .map(|r| {
                vec![
                    r.rule.clone(),
                    r.alerts.to_string(),
                    format!("{:.2}", r.per_10k_logins),
                    r.high_or_critical.to_string(),
                ]
            })
            .collect();
        write_table(
            out,
            &[
                "rule (false alerts)",
                "alerts",
                "per 10k logins",
                "high/crit",
            ],
            &rows,
        );
    }
    if !report.families.is_empty() {
        let _ = writeln!(out, "\nhonest sessions by look-alike family, worst first");
        let rows: Vec<Vec<String>> = report
            .families
            .iter()
            .map(|r| {
                vec![
                    r.family.clone(),
                    r.sessions.to_string(),
                    r.alerted_high_or_critical.to_string(),
                    pct(r.alerted_high_or_critical_share),
                    r.revoked.to_string(),
                    pct(r.revoked_share),
                    pct(r.alerted_share),
                ]
            })
            .collect();
        write_table(
            out,
            &[
                "family",
                "sessions",
                "high/crit",
                "%",
                "revoked",
                "%",
                "any alert",
            ],
            &rows,
        );
    }
    if !report.variants.is_empty() {
        let _ = writeln!(out, "\ndetection by attack variant");
        let rows: Vec<Vec<String>> = report
            .variants
            .iter()
            .map(|v| {
                vec![
                    v.kind.clone(),
                    v.variant.clone(),
                    v.instances.to_string(),
                    pct(v.detection_rate),
                    v.revoked.to_string(),
                    v.with_records.to_string(),
                    v.revoked_before_50_records.map_or("-".into(), pct),
                ]
            })
            .collect();
        write_table(
            out,
            &[
                "kind", "variant", "n", "detected", "revoked", "w/ rec", "<50 rec",
            ],
            &rows,
        );
    }
}
