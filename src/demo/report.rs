//! What the demo observed and reports: the [`DemoReport`] (`--json` prints exactly it), and the
//! [`Ledger`] the driver feeds each alert, webhook and revocation to as it happens, which follows
//! each takeover of the ground truth to its detection, its revocation and the API's answer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::stream::ProduceClock;
use super::{receivers, DemoError, Note, Observer, DELIVERY_WAIT, SOC_MIN_SEVERITY};
use crate::alert::Alert;
use crate::eval;
use crate::gen::{AttackTruth, Truth};
use crate::respond::revoke::NewRevocation;

/// What happened to one takeover of the played day.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TakeoverReport {
    /// Attack id in the ground truth.
    pub attack_id: String,
    /// Victim account.
    pub account: String,
    /// Start of the attack, RFC 3339.
    pub start: String,
    /// At least one alert matched it.
    pub detected: bool,
    /// The first alert on it.
    pub alert_id: Option<String>,
    /// Its rule.
    pub rule: Option<String>,
    /// The SaaS accepted a revocation of the attacker's session or account.
    pub revoked: bool,
    /// The alert whose revocation the SaaS accepted first.
    pub revoking_alert_id: Option<String>,
    /// Records in the attack's data accesses up to the revoking alert's event time.
    pub records_before_revocation: Option<u64>,
    /// Records the attack touched in all.
    pub records_total: u64,
    /// Wall-clock milliseconds from the revoking alert's triggering event being produced to the
    /// revocation arriving at the SaaS.
    pub event_to_revocation_ms: Option<f64>,
    /// The SOC received the first alert with a valid signature.
    pub signature_verified: bool,
    /// The webhook-id it came with.
    pub webhook_id: Option<String>,
    /// `GET /v1/revocations/check` answered `revoked: true` for the attacker's session.
    pub check_revoked: Option<bool>,
}

/// Latency percentiles, milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyMs {
    /// Alerts measured.
    pub count: u64,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
}

/// The demo's facts (`--json` prints exactly this).
#[derive(Clone, Debug, Default, Serialize)]
pub struct DemoReport {
    /// The played day, `YYYY-MM-DD`.
    pub day: String,
    /// Accounts in the population.
    pub accounts: u32,
    /// Generator seed.
    pub seed: u64,
    /// Events of the history learned before the day.
    pub history_events: u64,
    /// Alerts raised while learning the history (not sent).
    pub history_alerts: u64,
    /// Events of the played day that went through Kafka.
    pub events: u64,
    /// Events of the day the engine processed per second of wall clock (first produced to last
    /// processed; bounded by `--speed` when it is set).
    pub events_per_sec: f64,
    /// Alerts on the played day, by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// The first takeover of the day (the story's).
    pub takeover: Option<TakeoverReport>,
    /// Every takeover of the day.
    pub takeovers: Vec<TakeoverReport>,
    /// Alerts of the day that match no attack in the ground truth.
    pub false_alerts: u64,
    /// Signed webhooks the SOC received, and how many verified.
    pub webhooks_received: u64,
    /// Webhooks whose signature the SOC verified.
    pub webhooks_verified: u64,
    /// Sessions (or whole accounts) the SaaS revoked; several alerts on one session count once.
    pub revocations: u64,
    /// Of which an attacker's.
    pub true_revocations: u64,
    /// Of which an honest user's, per the ground truth.
    pub false_revocations: u64,
    /// Sessions whose CAEP `session-revoked` SET the SaaS's Shared Signals receiver got by push
    /// and verified against the engine's `jwks_uri`.
    pub shared_signals_verified: u64,
    /// Event produced to Kafka → alert emitted by the engine.
    pub latency_ms: LatencyMs,
    /// Wall-clock seconds of the whole demo.
    pub wall_secs: f64,
    /// Steps that did not complete (deliveries still pending at the end, say); empty when
    /// everything did.
    pub incomplete: Vec<String>,
}

/// Records touched by `attack` at or before `cut_ms` (event time).
fn records_until(attack: &AttackTruth, cut_ms: i64) -> u64 {
    attack
        .events
        .iter()
        .filter(|e| crate::timefmt::parse_rfc3339(&e.ts).is_some_and(|t| t <= cut_ms))
        .map(|e| e.count as u64)
        .sum()
}

/// `HH:MM` of `ms` in `zone`.
fn local_hhmm(ms: i64, zone: &jiff::tz::TimeZone) -> String {
    let offset_s = jiff::Timestamp::from_millisecond(ms)
        .map(|t| zone.to_offset(t).seconds() as i64)
        .unwrap_or(0);
    let minute_of_day = (ms / 1000 + offset_s).div_euclid(60).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// Per-takeover bookkeeping while the day plays.
pub(super) struct Tracked {
    truth: AttackTruth,
    /// The ground truth of this attack alone, to ask [`eval`] whether an alert is about it.
    alone: Truth,
    pub(super) report: TakeoverReport,
}

/// Everything observed on the played day: the alerts, what reached the SOC and the SaaS, and
/// each takeover's fate. Fed one [`Happening`] at a time by the driver's loop.
pub(super) struct Ledger<'a> {
    day_ms: i64,
    zone: &'a jiff::tz::TimeZone,
    zone_name: &'a str,
    clock: Arc<ProduceClock>,
    pub(super) tracked: Vec<Tracked>,
    alerts: Vec<Alert>,
    alert_index: HashMap<String, usize>,
    /// Event produced → alert emitted, microseconds.
    latency: Histogram<u64>,
    expected_webhooks: HashSet<String>,
    expected_revocations: HashSet<String>,
    /// Alert ids the SOC received.
    webhooks: HashSet<String>,
    webhooks_received: u64,
    webhooks_verified: u64,
    /// Alert ids whose revocation the SaaS accepted.
    revoked_alerts: HashSet<String>,
    /// (account, session) revoked at the SaaS → true while only honest activity explains it.
    revoked_targets: HashMap<(String, Option<String>), bool>,
}

impl<'a> Ledger<'a> {
    pub(super) fn new(
        truth: &Truth,
        clock: Arc<ProduceClock>,
        day_ms: i64,
        zone: &'a jiff::tz::TimeZone,
        zone_name: &'a str,
    ) -> Result<Ledger<'a>, DemoError> {
        let mut tracked: Vec<Tracked> = truth
            .attacks
            .iter()
            .map(|a| Tracked {
                truth: a.clone(),
                alone: Truth {
                    attacks: vec![a.clone()],
                    summary: truth.summary.clone(),
                },
                report: TakeoverReport {
                    attack_id: a.id.clone(),
                    account: a.account.clone(),
                    start: a.start.clone(),
                    records_total: a.events.iter().map(|e| e.count as u64).sum(),
                    ..TakeoverReport::default()
                },
            })
            .collect();
        tracked.sort_by(|a, b| a.report.start.cmp(&b.report.start));
        Ok(Ledger {
            day_ms,
            zone,
            zone_name,
            clock,
            tracked,
            alerts: Vec::new(),
            alert_index: HashMap::new(),
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)
                .map_err(|e| DemoError::Stalled(format!("latency histogram: {e}")))?,
            expected_webhooks: HashSet::new(),
            expected_revocations: HashSet::new(),
            webhooks: HashSet::new(),
            webhooks_received: 0,
            webhooks_verified: 0,
            revoked_alerts: HashSet::new(),
            revoked_targets: HashMap::new(),
        })
    }

    /// The takeover `alert` is about, per the ground truth.
    fn takeover_of(&self, alert: &Alert) -> Option<usize> {
        self.tracked
            .iter()
            .position(|t| eval::evaluate(&t.alone, std::slice::from_ref(alert)).true_alerts > 0)
    }

    fn alert(&self, id: Option<&String>) -> Option<&Alert> {
        id.and_then(|id| self.alert_index.get(id))
            .map(|&i| &self.alerts[i])
    }

    pub(super) fn on_alert(&mut self, alert: Alert, at: Instant, observer: &mut dyn Observer) {
        if let Some(produced) = self.clock.produced(&alert.events) {
            let us = at.saturating_duration_since(produced).as_micros() as u64;
            let _ = self.latency.record(us.max(1));
        }
        if alert.mode.is_none() && alert.severity >= SOC_MIN_SEVERITY {
            self.expected_webhooks.insert(alert.id.clone());
        }
        if NewRevocation::from_alert(&alert).is_some() {
            self.expected_revocations.insert(alert.id.clone());
        }
        let ts = crate::timefmt::parse_rfc3339(&alert.ts).unwrap_or(self.day_ms);
        let local = local_hhmm(ts, self.zone);
        let hit = self.takeover_of(&alert);
        let mut first = false;
        if let Some(i) = hit {
            let r = &mut self.tracked[i].report;
            if !r.detected {
                first = true;
                r.detected = true;
                r.alert_id = Some(alert.id.clone());
                r.rule = Some(alert.rule.clone());
            }
        }
        observer.note(Note::Alert {
            alert: &alert,
            takeover: hit.map(|i| &self.tracked[i].truth),
            local_time: &local,
            zone: self.zone_name,
            first,
        });
        self.alert_index
            .entry(alert.id.clone())
            .or_insert(self.alerts.len());
        self.alerts.push(alert);
    }

    pub(super) fn on_webhook(
        &mut self,
        webhook_id: &str,
        alert_id: Option<String>,
        verified: Result<(), receivers::SignatureError>,
        observer: &mut dyn Observer,
    ) {
        self.webhooks_received += 1;
        if verified.is_ok() {
            self.webhooks_verified += 1;
        }
        let mut takeover = false;
        if let Some(id) = &alert_id {
            self.webhooks.insert(id.clone());
            for t in self.tracked.iter_mut() {
                if t.report.alert_id.as_ref() == Some(id) {
                    takeover = true;
                    t.report.signature_verified = verified.is_ok();
                    t.report.webhook_id = Some(webhook_id.to_string());
                }
            }
        }
        observer.note(Note::Webhook {
            webhook_id,
            alert: self.alert(alert_id.as_ref()),
            verified,
            takeover,
        });
    }

    /// Records a revocation the SaaS accepted; returns the takeover it cut off first, if any.
    pub(super) fn on_revocation(
        &mut self,
        account: &str,
        session: Option<&str>,
        scope: &str,
        alert_id: Option<String>,
        at: Instant,
        observer: &mut dyn Observer,
    ) -> Option<usize> {
        let hit = self
            .alert(alert_id.as_ref())
            .and_then(|a| self.takeover_of(a));
        if let Some(id) = alert_id.clone() {
            self.revoked_alerts.insert(id);
        }
        // A target revoked for an attack is a true revocation, whatever else also revoked it.
        let target = (account.to_string(), session.map(str::to_string));
        let new_target = !self.revoked_targets.contains_key(&target);
        *self.revoked_targets.entry(target).or_insert(true) &= hit.is_none();
        let mut cut = None;
        if let Some(i) = hit.filter(|&i| !self.tracked[i].report.revoked) {
            if let Some(alert) = self.alert(alert_id.as_ref()) {
                let ts = crate::timefmt::parse_rfc3339(&alert.ts).unwrap_or(i64::MAX);
                let records = records_until(&self.tracked[i].truth, ts);
                let elapsed = self
                    .clock
                    .produced(&alert.events)
                    .map(|p| at.saturating_duration_since(p).as_secs_f64() * 1000.0);
                let id = alert.id.clone();
                let r = &mut self.tracked[i].report;
                r.revoked = true;
                r.revoking_alert_id = Some(id);
                r.records_before_revocation = Some(records);
                r.event_to_revocation_ms = elapsed;
                cut = Some(i);
            }
        }
        observer.note(Note::Revocation {
            account,
            session,
            scope,
            takeover: hit.map(|i| &self.tracked[i].report),
            first: new_target,
        });
        cut
    }

    /// Every webhook and revocation the engine's alerts call for has arrived.
    pub(super) fn delivered(&self) -> bool {
        self.expected_webhooks
            .iter()
            .all(|id| self.webhooks.contains(id))
            && self
                .expected_revocations
                .iter()
                .all(|id| self.revoked_alerts.contains(id))
    }

    pub(super) fn undelivered(&self) -> String {
        let w = self
            .expected_webhooks
            .iter()
            .filter(|id| !self.webhooks.contains(*id))
            .count();
        let r = self
            .expected_revocations
            .iter()
            .filter(|id| !self.revoked_alerts.contains(*id))
            .count();
        format!(
            "{w} webhooks and {r} revocations not delivered within {} s",
            DELIVERY_WAIT.as_secs()
        )
    }

    pub(super) fn into_report(self, truth: &Truth) -> DemoReport {
        let mut alerts_by_rule = BTreeMap::new();
        for a in &self.alerts {
            *alerts_by_rule.entry(a.rule.clone()).or_insert(0u64) += 1;
        }
        let false_revocations = self.revoked_targets.values().filter(|&&h| h).count() as u64;
        let latency = &self.latency;
        let ms = |v: u64| v as f64 / 1000.0;
        let takeovers: Vec<TakeoverReport> = self.tracked.into_iter().map(|t| t.report).collect();
        DemoReport {
            alerts_by_rule,
            takeover: takeovers.first().cloned(),
            takeovers,
            false_alerts: eval::evaluate(truth, &self.alerts).false_alerts.total,
            webhooks_received: self.webhooks_received,
            webhooks_verified: self.webhooks_verified,
            revocations: self.revoked_targets.len() as u64,
            true_revocations: self.revoked_targets.len() as u64 - false_revocations,
            false_revocations,
            latency_ms: LatencyMs {
                count: latency.len(),
                p50: (!latency.is_empty()).then(|| ms(latency.value_at_quantile(0.5))),
                p90: (!latency.is_empty()).then(|| ms(latency.value_at_quantile(0.9))),
                p99: (!latency.is_empty()).then(|| ms(latency.value_at_quantile(0.99))),
                max: (!latency.is_empty()).then(|| ms(latency.max())),
            },
            ..DemoReport::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen;

    #[test]
    fn records_before_revocation_count_accesses_up_to_the_cut() {
        let ev = |ts: &str, count| gen::TruthEvent {
            id: "e".into(),
            ts: ts.into(),
            count,
            kind: "access".into(),
            account: "a".into(),
            outcome: None,
        };
        let attack = AttackTruth {
            record: "attack".into(),
            id: "atk-001".into(),
            kind: "infostealer".into(),
            account: "a".into(),
            accounts: vec![],
            tenant: None,
            sessions: vec![],
            source_ips: vec![],
            start: "2025-11-10T23:00:00Z".into(),
            end: "2025-11-10T23:10:00Z".into(),
            events: vec![
                ev("2025-11-10T23:00:00Z", 0),
                ev("2025-11-10T23:01:00Z", 40),
                ev("2025-11-10T23:02:00Z", 500),
                ev("2025-11-10T23:03:00Z", 500),
            ],
        };
        let cut = crate::timefmt::parse_rfc3339("2025-11-10T23:02:00Z").unwrap();
        assert_eq!(records_until(&attack, cut), 540);
        assert_eq!(records_until(&attack, cut - 1), 40);
    }
}
