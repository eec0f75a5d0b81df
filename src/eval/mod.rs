//! Backtesting (`tocsin eval`): how well a set of alerts covers the labelled attacks of
//! a generated run, how fast, how many records the attacker read before a revocation cut them
//! off, and how much honest traffic was alerted or revoked. Pure: [`evaluate`] takes the truth
//! and the alerts and returns an [`EvalReport`]; the command only reads files and prints.
//!
//! An alert *matches* an attack when it names one of the attack's events, or the attack's
//! account and one of its sessions (at or after the attack's start), or — for attacks without a session of their own
//! (credential stuffing, spraying, brute force) — the attack's source address or one of the
//! accounts it touched, at a time within `[start, end + 1 h]`. Alerts matching no attack are
//! false alerts.
//!
//! When the truth carries labels (the `tune` and `holdout` profiles), [`evaluate_labelled`]
//! adds the figures of [`families`]: honest sessions by look-alike family, the rules behind
//! the false alerts, and detection by attack variant (the infostealer family's plain,
//! residential-proxy and copied-user-agent logins, among others).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::alert::{Alert, Severity};
use crate::gen::{AttackKind, Labels, Truth};
use crate::timefmt;

pub mod families;

pub use families::{FamilyReport, RuleReport, VariantReport};

/// How long after an attack's last event an alert on its source or accounts still counts.
pub const MATCH_GRACE_MS: i64 = 3_600_000;

/// Records an attacker may read before revocation for the attack to count as contained.
pub const CONTAINED_RECORDS: u64 = 50;

/// One number per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BySeverity<T> {
    /// `low`.
    pub low: T,
    /// `medium`.
    pub medium: T,
    /// `high`.
    pub high: T,
    /// `critical`.
    pub critical: T,
}

impl<T: Copy> BySeverity<T> {
    fn get_mut(&mut self, s: Severity) -> &mut T {
        match s {
            Severity::Low => &mut self.low,
            Severity::Medium => &mut self.medium,
            Severity::High => &mut self.high,
            Severity::Critical => &mut self.critical,
        }
    }

    fn map<U>(&self, f: impl Fn(T) -> U) -> BySeverity<U> {
        BySeverity {
            low: f(self.low),
            medium: f(self.medium),
            high: f(self.high),
            critical: f(self.critical),
        }
    }
}

/// Results for one attack kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindReport {
    /// Attack kind.
    pub kind: String,
    /// Attacks of this kind in the truth.
    pub instances: u32,
    /// Attacks matched by at least one alert.
    pub detected: u32,
    /// `detected / instances`.
    pub detection_rate: f64,
    /// Detected attacks whose first alert is at (or before) their first event.
    pub alerted_at_first_event: u32,
    /// Median delay from the first attack event to the first alert, seconds of event time.
    pub delay_median_s: Option<f64>,
    /// Largest such delay, seconds.
    pub delay_max_s: Option<f64>,
    /// Attacks a revoking alert matched.
    pub revoked: u32,
    /// Attacks that read any records (the base of the record figures below).
    pub with_records: u32,
    /// Median records the attacker touched up to the first revocation (all, if never revoked).
    pub records_before_revocation_median: Option<f64>,
    /// 95th percentile of the same.
    pub records_before_revocation_p95: Option<f64>,
    /// Share of attacks with records that were revoked before `CONTAINED_RECORDS` records.
    pub revoked_before_50_records: Option<f64>,
}

/// Alerts that match no attack.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FalseAlerts {
    /// Count.
    pub total: u64,
    /// Count by severity.
    pub by_severity: BySeverity<u64>,
    /// Per 10,000 legitimate login attempts, by severity.
    pub per_10k_logins: BySeverity<f64>,
    /// Legitimate sessions alerted, by the highest severity they got.
    pub sessions_alerted: BySeverity<u64>,
    /// Share of legitimate sessions alerted, by highest severity.
    pub sessions_alerted_share: BySeverity<f64>,
    /// Share of legitimate sessions with a `high` or `critical` false alert.
    pub sessions_alerted_high_or_critical_share: f64,
    /// Legitimate sessions revoked (by session, or by an account revocation naming the session).
    pub sessions_revoked: u64,
    /// Share of legitimate sessions revoked.
    pub sessions_revoked_share: f64,
    /// False alerts of any severity per 10,000 legitimate login attempts.
    pub per_10k_logins_any: f64,
    /// The rules raising the most false alerts, most first.
    pub top_rules: Vec<RuleReport>,
}

/// The backtest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// Alerts read.
    pub alerts: u64,
    /// Alerts that matched some attack.
    pub true_alerts: u64,
    /// Legitimate login attempts in the run.
    pub legit_logins: u64,
    /// Legitimate sessions in the run.
    pub legit_sessions: u64,
    /// Per attack kind, in the generator's order; kinds without instances are left out.
    pub kinds: Vec<KindReport>,
    /// Every kind together.
    pub all: KindReport,
    /// False alerts.
    pub false_alerts: FalseAlerts,
    /// Honest sessions by look-alike family, worst first (labelled truths only).
    pub families: Vec<FamilyReport>,
    /// Detection by attack kind and variant, in the generator's kind order (the kind's name
    /// stands for the variant when the truth has no labels).
    pub variants: Vec<VariantReport>,
}

/// Per-attack outcome, before aggregation.
#[derive(Clone, Copy, Debug, Default)]
struct AttackOutcome {
    first_alert: Option<i64>,
    first_revocation: Option<i64>,
}

struct Index<'t> {
    by_event: HashMap<&'t str, usize>,
    by_session: HashMap<(&'t str, &'t str), Vec<usize>>,
    /// Sessionless attacks by source address and by account, with their time window.
    by_ip: HashMap<&'t str, Vec<usize>>,
    by_account: HashMap<&'t str, Vec<usize>>,
    windows: Vec<(i64, i64)>,
}

fn ms(ts: &str) -> Option<i64> {
    timefmt::parse_rfc3339(ts)
}

fn index(truth: &Truth) -> Index<'_> {
    let mut ix = Index {
        by_event: HashMap::new(),
        by_session: HashMap::new(),
        by_ip: HashMap::new(),
        by_account: HashMap::new(),
        windows: Vec::with_capacity(truth.attacks.len()),
    };
    for (i, a) in truth.attacks.iter().enumerate() {
        let start = ms(&a.start).unwrap_or(i64::MIN);
        let end = ms(&a.end)
            .unwrap_or(i64::MAX)
            .saturating_add(MATCH_GRACE_MS);
        ix.windows.push((start, end));
        for e in &a.events {
            ix.by_event.insert(&e.id, i);
        }
        let mut accounts: Vec<&str> = a.accounts.iter().map(String::as_str).collect();
        if accounts.is_empty() {
            accounts.push(&a.account);
        }
        for e in &a.events {
            if !e.account.is_empty() && !accounts.contains(&e.account.as_str()) {
                accounts.push(&e.account);
            }
        }
        for s in &a.sessions {
            for acc in &accounts {
                ix.by_session.entry((acc, s)).or_default().push(i);
            }
        }
        let sessionless = a.sessions.is_empty()
            || !a.accounts.is_empty()
            || AttackKind::parse(&a.kind).is_some_and(|k| k.is_sessionless());
        if sessionless {
            for ip in &a.source_ips {
                ix.by_ip.entry(ip).or_default().push(i);
            }
            for acc in accounts {
                ix.by_account.entry(acc).or_default().push(i);
            }
        }
    }
    ix
}

impl Index<'_> {
    /// Every attack `alert` matches, deduplicated, into `out`.
    fn matches(&self, alert: &Alert, ts: Option<i64>, out: &mut Vec<usize>) {
        out.clear();
        for id in &alert.events {
            if let Some(&i) = self.by_event.get(id.as_str()) {
                out.push(i);
            }
        }
        if let Some(s) = &alert.session {
            if let Some(v) = self.by_session.get(&(alert.account.as_str(), s.as_str())) {
                // A hijacked session is the owner's before it is the attacker's: an alert on
                // it before the attack began is about the owner.
                out.extend(
                    v.iter()
                        .filter(|i| ts.is_none_or(|t| t >= self.windows[**i].0)),
                );
            }
        }
        if let Some(ts) = ts {
            let in_window = |i: &usize| {
                let (s, e) = self.windows[*i];
                ts >= s && ts <= e
            };
            if let Some(ip) = alert.ip {
                if let Some(v) = self.by_ip.get(ip.to_string().as_str()) {
                    out.extend(v.iter().filter(|i| in_window(i)));
                }
            }
            if let Some(v) = self.by_account.get(alert.account.as_str()) {
                out.extend(v.iter().filter(|i| in_window(i)));
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank: the smallest value with at least p of the data at or below it.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn median(sorted: &[f64]) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

fn kind_report(
    kind: &str,
    truth: &Truth,
    outcomes: &[AttackOutcome],
    members: &[usize],
) -> KindReport {
    let mut delays = Vec::new();
    let mut records = Vec::new();
    let (mut detected, mut at_first, mut revoked, mut contained) = (0, 0, 0, 0);
    for &i in members {
        let a = &truth.attacks[i];
        let o = outcomes[i];
        let start = ms(&a.start);
        if let Some(first) = o.first_alert {
            detected += 1;
            if let Some(start) = start {
                delays.push((first - start).max(0) as f64 / 1000.0);
                if first <= start {
                    at_first += 1;
                }
            }
        }
        if o.first_revocation.is_some() {
            revoked += 1;
        }
        let total: u64 = a.events.iter().map(|e| e.count as u64).sum();
        if total > 0 {
            let cut = o.first_revocation.unwrap_or(i64::MAX);
            let before: u64 = a
                .events
                .iter()
                .filter(|e| ms(&e.ts).is_some_and(|t| t <= cut))
                .map(|e| e.count as u64)
                .sum();
            if o.first_revocation.is_some() && before < CONTAINED_RECORDS {
                contained += 1;
            }
            records.push(before as f64);
        }
    }
    delays.sort_by(f64::total_cmp);
    records.sort_by(f64::total_cmp);
    let instances = members.len() as u32;
    KindReport {
        kind: kind.to_string(),
        instances,
        detected,
        detection_rate: if instances == 0 {
            0.0
        } else {
            detected as f64 / instances as f64
        },
        alerted_at_first_event: at_first,
        delay_median_s: median(&delays),
        delay_max_s: delays.last().copied(),
        revoked,
        with_records: records.len() as u32,
        records_before_revocation_median: median(&records),
        records_before_revocation_p95: percentile(&records, 0.95),
        revoked_before_50_records: (!records.is_empty())
            .then(|| contained as f64 / records.len() as f64),
    }
}

/// Scores `alerts` against `truth`.
pub fn evaluate(truth: &Truth, alerts: &[Alert]) -> EvalReport {
    evaluate_labelled(truth, &Labels::default(), alerts)
}

/// Scores `alerts` against `truth` and its `labels` (empty labels: the figures of
/// [`evaluate`]).
pub fn evaluate_labelled(truth: &Truth, labels: &Labels, alerts: &[Alert]) -> EvalReport {
    let ix = index(truth);
    let sessions = families::SessionIndex::new(labels);
    let mut by_rule: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut outcomes = vec![AttackOutcome::default(); truth.attacks.len()];
    let mut matched = Vec::new();
    let mut false_alerts = FalseAlerts::default();
    let mut session_severity: HashMap<(&str, &str), Severity> = HashMap::new();
    let mut revoked_sessions: HashSet<(&str, &str)> = HashSet::new();
    let mut true_alerts = 0;
    for alert in alerts {
        let ts = ms(&alert.ts);
        ix.matches(alert, ts, &mut matched);
        if matched.is_empty() {
            false_alerts.total += 1;
            *false_alerts.by_severity.get_mut(alert.severity) += 1;
            let rule = by_rule.entry(alert.rule.as_str()).or_default();
            rule.0 += 1;
            rule.1 += u64::from(alert.severity >= Severity::High);
            let key = match &alert.session {
                Some(s) => Some((alert.account.as_str(), s.as_str())),
                None => sessions.attribute(alert, ts),
            };
            if let Some(key) = key {
                let worst = session_severity.entry(key).or_insert(alert.severity);
                *worst = (*worst).max(alert.severity);
                if alert.wants_revocation() {
                    revoked_sessions.insert(key);
                }
            }
            continue;
        }
        true_alerts += 1;
        let t = ts.unwrap_or(i64::MAX);
        for &i in &matched {
            let o = &mut outcomes[i];
            o.first_alert = Some(o.first_alert.map_or(t, |f| f.min(t)));
            if alert.wants_revocation() {
                o.first_revocation = Some(o.first_revocation.map_or(t, |f| f.min(t)));
            }
        }
    }
    let legit_logins = truth.summary.legit_logins;
    let legit_sessions = truth.summary.legit_sessions;
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    for sev in session_severity.values() {
        *false_alerts.sessions_alerted.get_mut(*sev) += 1;
    }
    false_alerts.per_10k_logins = false_alerts
        .by_severity
        .map(|n| share(n, legit_logins) * 10_000.0);
    false_alerts.sessions_alerted_share = false_alerts
        .sessions_alerted
        .map(|n| share(n, legit_sessions));
    false_alerts.sessions_alerted_high_or_critical_share = share(
        false_alerts.sessions_alerted.high + false_alerts.sessions_alerted.critical,
        legit_sessions,
    );
    false_alerts.sessions_revoked = revoked_sessions.len() as u64;
    false_alerts.sessions_revoked_share = share(revoked_sessions.len() as u64, legit_sessions);
    false_alerts.per_10k_logins_any = share(false_alerts.total, legit_logins) * 10_000.0;
    false_alerts.top_rules = families::rule_reports(&by_rule, legit_logins);
    let family_reports = families::family_reports(
        &sessions,
        legit_sessions,
        &session_severity,
        &revoked_sessions,
    );

    let mut kinds = Vec::new();
    let mut names: Vec<String> = AttackKind::ALL
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    for a in &truth.attacks {
        if !names.contains(&a.kind) {
            names.push(a.kind.clone());
        }
    }
    for name in names {
        let members: Vec<usize> = (0..truth.attacks.len())
            .filter(|&i| truth.attacks[i].kind == name)
            .collect();
        if !members.is_empty() {
            kinds.push(kind_report(&name, truth, &outcomes, &members));
        }
    }
    let everyone: Vec<usize> = (0..truth.attacks.len()).collect();
    EvalReport {
        alerts: alerts.len() as u64,
        true_alerts,
        legit_logins,
        legit_sessions,
        variants: variant_reports(truth, labels, &outcomes, &kinds),
        kinds,
        all: kind_report("all", truth, &outcomes, &everyone),
        false_alerts,
        families: family_reports,
    }
}

/// Detection by (kind, variant), kinds in the order of `kinds`, variants by name.
fn variant_reports(
    truth: &Truth,
    labels: &Labels,
    outcomes: &[AttackOutcome],
    kinds: &[KindReport],
) -> Vec<VariantReport> {
    let variant_of: HashMap<&str, &str> = labels
        .attacks
        .iter()
        .map(|l| (l.id.as_str(), l.variant.as_str()))
        .collect();
    let mut out = Vec::new();
    for k in kinds {
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, a) in truth.attacks.iter().enumerate() {
            if a.kind != k.kind {
                continue;
            }
            let v = variant_of
                .get(a.id.as_str())
                .copied()
                .unwrap_or(a.kind.as_str());
            match groups.iter_mut().find(|(name, _)| *name == v) {
                Some((_, members)) => members.push(i),
                None => groups.push((v, vec![i])),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(b.0));
        for (variant, members) in groups {
            let r = kind_report(&k.kind, truth, outcomes, &members);
            out.push(VariantReport {
                kind: k.kind.clone(),
                variant: variant.to_string(),
                instances: r.instances,
                detected: r.detected,
                detection_rate: r.detection_rate,
                revoked: r.revoked,
                with_records: r.with_records,
                revoked_before_50_records: r.revoked_before_50_records,
            });
        }
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

impl EvalReport {
    /// The report as aligned text tables for a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let header = [
            "kind",
            "n",
            "detected",
            "rate",
            "at 1st",
            "delay p50",
            "delay max",
            "revoked",
            "w/ rec",
            "rec p50",
            "rec p95",
            "<50 rec",
        ];
        let mut rows: Vec<[String; 12]> = Vec::new();
        for k in self.kinds.iter().chain(std::iter::once(&self.all)) {
            rows.push([
                k.kind.clone(),
                k.instances.to_string(),
                k.detected.to_string(),
                pct(k.detection_rate),
                k.alerted_at_first_event.to_string(),
                k.delay_median_s.map_or("-".into(), fmt_secs),
                k.delay_max_s.map_or("-".into(), fmt_secs),
                k.revoked.to_string(),
                k.with_records.to_string(),
                opt(k.records_before_revocation_median, 0),
                opt(k.records_before_revocation_p95, 0),
                k.revoked_before_50_records.map_or("-".into(), pct),
            ]);
        }
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let line = |out: &mut String, cells: &[&str]| {
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    let _ = write!(out, "{c:<w$}");
                } else {
                    let _ = write!(out, "  {c:>w$}");
                }
            }
            out.push('\n');
        };
        line(&mut out, &header);
        for r in &rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(&mut out, &cells);
        }
        let f = &self.false_alerts;
        let _ = writeln!(
            out,
            "\n{} alerts: {} matched an attack, {} false; {} legitimate logins, {} legitimate sessions",
            self.alerts, self.true_alerts, f.total, self.legit_logins, self.legit_sessions
        );
        let _ = writeln!(
            out,
            "\n{:<28}  {:>10}  {:>10}  {:>10}  {:>10}",
            "false alerts", "low", "medium", "high", "critical"
        );
        let sev = |out: &mut String, label: &str, v: [String; 4]| {
            let _ = writeln!(
                out,
                "{label:<28}  {:>10}  {:>10}  {:>10}  {:>10}",
                v[0], v[1], v[2], v[3]
            );
        };
        let b = &f.by_severity;
        sev(
            &mut out,
            "count",
            [b.low, b.medium, b.high, b.critical].map(|n| n.to_string()),
        );
        let r = &f.per_10k_logins;
        sev(
            &mut out,
            "per 10k legitimate logins",
            [r.low, r.medium, r.high, r.critical].map(|v| format!("{v:.2}")),
        );
        let s = &f.sessions_alerted_share;
        sev(
            &mut out,
            "legitimate sessions alerted",
            [s.low, s.medium, s.high, s.critical].map(|v| format!("{:.3}%", v * 100.0)),
        );
        let _ = writeln!(
            out,
            "\nlegitimate sessions alerted high/critical: {:.3}%   revoked: {} ({:.3}%)",
            f.sessions_alerted_high_or_critical_share * 100.0,
            f.sessions_revoked,
            f.sessions_revoked_share * 100.0
        );
        families::tables(self, &mut out);
        out
    }
}

fn fmt_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.1}m", s / 60.0)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::ResponseAction;
    use crate::gen::{AttackTruth, TruthEvent, TruthSummary};

    const T0: i64 = 1_762_817_462_000; // 2025-11-10T23:31:02Z

    fn at(offset_s: i64) -> String {
        timefmt::rfc3339(T0 + offset_s * 1000)
    }

    fn ev(id: &str, offset_s: i64, count: u32, account: &str) -> TruthEvent {
        TruthEvent {
            id: id.into(),
            ts: at(offset_s),
            count,
            kind: if count > 0 { "access" } else { "login" }.into(),
            account: account.into(),
            outcome: None,
        }
    }

    fn attack(
        id: &str,
        kind: &str,
        account: &str,
        sessions: &[&str],
        events: Vec<TruthEvent>,
    ) -> AttackTruth {
        AttackTruth {
            record: "attack".into(),
            id: id.into(),
            kind: kind.into(),
            account: account.into(),
            accounts: Vec::new(),
            tenant: None,
            sessions: sessions.iter().map(|s| s.to_string()).collect(),
            source_ips: vec!["198.51.100.9".into()],
            start: events.first().map(|e| e.ts.clone()).unwrap_or_default(),
            end: events.last().map(|e| e.ts.clone()).unwrap_or_default(),
            events,
        }
    }

    /// An infostealer takeover that reads 30 then exports 500 records, and a stuffing run
    /// against two accounts, among 20,000 honest logins in 10,000 sessions.
    fn truth() -> Truth {
        let steal = attack(
            "atk-001",
            "infostealer",
            "a@t",
            &["s1"],
            vec![
                ev("e1", 0, 0, "a@t"),
                ev("e2", 60, 30, "a@t"),
                ev("e3", 120, 500, "a@t"),
            ],
        );
        let mut stuff = attack(
            "atk-002",
            "credential_stuffing",
            "b@t",
            &[],
            vec![ev("e10", 1000, 0, "b@t"), ev("e11", 1600, 0, "c@t")],
        );
        stuff.accounts = vec!["b@t".into(), "c@t".into()];
        Truth {
            attacks: vec![steal, stuff],
            summary: TruthSummary {
                events: 1_000_000,
                legit_logins: 20_000,
                legit_sessions: 10_000,
                accounts: 100,
                days: 30,
                seed: 1,
            },
        }
    }

    fn alert(
        account: &str,
        session: Option<&str>,
        offset_s: i64,
        severity: Severity,
        revoke: bool,
    ) -> Alert {
        let mut actions = vec![ResponseAction::Alert];
        if revoke {
            actions.push(ResponseAction::RevokeSession);
        }
        Alert {
            id: format!("al_{account}_{offset_s}"),
            rule: "test.rule".into(),
            title: "test".into(),
            severity,
            risk: 0.9,
            ts: at(offset_s),
            detected_at: at(offset_s),
            account: account.into(),
            tenant: None,
            session: session.map(str::to_string),
            ip: None,
            geo: None,
            device: None,
            reasons: Vec::new(),
            actions,
            mitre: Vec::new(),
            events: Vec::new(),
            mode: None,
        }
    }

    #[test]
    fn takeover_revoked_at_first_export_counts_as_contained() {
        let alerts = vec![alert("a@t", Some("s1"), 60, Severity::High, true)];
        let r = evaluate(&truth(), &alerts);
        let k = &r.kinds[0];
        assert_eq!(
            (k.kind.as_str(), k.instances, k.detected),
            ("infostealer", 1, 1)
        );
        assert_eq!(k.delay_median_s, Some(60.0));
        assert_eq!(k.alerted_at_first_event, 0);
        assert_eq!(k.records_before_revocation_median, Some(30.0));
        assert_eq!(k.revoked_before_50_records, Some(1.0));
        assert_eq!(r.false_alerts.total, 0);
    }

    #[test]
    fn alert_without_revocation_leaves_every_record_read() {
        let alerts = vec![alert("a@t", Some("s1"), 0, Severity::Medium, false)];
        let k = &evaluate(&truth(), &alerts).kinds[0];
        assert_eq!(k.alerted_at_first_event, 1);
        assert_eq!(k.revoked, 0);
        assert_eq!(k.records_before_revocation_median, Some(530.0));
        assert_eq!(k.revoked_before_50_records, Some(0.0));
    }

    #[test]
    fn sessionless_attacks_match_by_source_or_account_inside_the_window_only() {
        let mut by_ip = alert("zzz@t", None, 1300, Severity::Medium, false);
        by_ip.ip = Some("198.51.100.9".parse().unwrap());
        let late = alert("b@t", None, 1600 + 3601, Severity::Low, false);
        let r = evaluate(&truth(), &[by_ip, late]);
        let stuffing = r
            .kinds
            .iter()
            .find(|k| k.kind == "credential_stuffing")
            .unwrap();
        assert_eq!(stuffing.detected, 1);
        assert_eq!(stuffing.delay_median_s, Some(300.0));
        assert_eq!(stuffing.with_records, 0);
        assert_eq!(
            r.false_alerts.total, 1,
            "the alert an hour after the end is false"
        );
        assert_eq!(r.false_alerts.by_severity.low, 1);
    }

    #[test]
    fn an_alert_naming_an_attack_event_matches_it() {
        let mut a = alert("other@t", Some("s-other"), 130, Severity::High, false);
        a.events = vec!["e3".into()];
        assert_eq!(evaluate(&truth(), &[a]).kinds[0].detected, 1);
    }

    #[test]
    fn false_alerts_are_rated_per_login_and_per_session() {
        let alerts = vec![
            alert("d@t", Some("s9"), 50, Severity::High, true),
            alert("d@t", Some("s9"), 70, Severity::Medium, false),
            alert("e@t", Some("s8"), 50, Severity::Low, false),
            // Same account as the takeover, but the owner's own session: not the attack.
            alert("a@t", Some("s-owner"), 5000, Severity::Medium, false),
        ];
        let r = evaluate(&truth(), &alerts);
        let f = &r.false_alerts;
        assert_eq!(f.total, 4);
        assert_eq!(
            (f.by_severity.low, f.by_severity.medium, f.by_severity.high),
            (1, 2, 1)
        );
        assert!((f.per_10k_logins.medium - 1.0).abs() < 1e-9);
        // s9 counts once, at its worst severity.
        assert_eq!(
            (
                f.sessions_alerted.high,
                f.sessions_alerted.medium,
                f.sessions_alerted.low
            ),
            (1, 1, 1)
        );
        assert!((f.sessions_alerted_high_or_critical_share - 0.0001).abs() < 1e-12);
        assert_eq!(f.sessions_revoked, 1);
        assert_eq!(r.kinds[0].detected, 0);
    }

    #[test]
    fn alert_on_a_hijacked_session_before_the_hijack_is_about_the_owner() {
        let mut t = truth();
        t.attacks[0].kind = "session_hijack".into();
        let early = alert("a@t", Some("s1"), -600, Severity::Medium, false);
        let r = evaluate(&t, &[early]);
        assert_eq!(r.kinds[0].detected, 0);
        assert_eq!(r.false_alerts.total, 1);
    }

    #[test]
    fn shadow_alerts_detect_but_never_revoke() {
        let mut a = alert("a@t", Some("s1"), 60, Severity::High, true);
        a.mode = Some("shadow".into());
        let k = &evaluate(&truth(), &[a]).kinds[0];
        assert_eq!((k.detected, k.revoked), (1, 0));
    }

    #[test]
    fn table_lists_every_kind_and_the_total() {
        let t = evaluate(&truth(), &[]).to_table();
        for needle in [
            "infostealer",
            "credential_stuffing",
            "all",
            "per 10k legitimate logins",
        ] {
            assert!(t.contains(needle), "{needle} missing from\n{t}");
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), Some(19.0));
        assert_eq!(median(&v), Some(10.5));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
