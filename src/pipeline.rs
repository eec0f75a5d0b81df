//! The per-event path every command shares: decode → enrich → baseline/detect → guard.
//!
//! `replay`, `run`, `demo`, `rules test` and the benches all go through [`Pipeline`], so they
//! cannot disagree about what an event means. The pipeline does no I/O; `now_ms` is passed in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::alert::Alert;
use crate::detect::Detector;
use crate::enrich::Enricher;
use crate::event::{Event, EventKind};
use crate::metrics::Metrics;
use crate::respond::guard::{Guard, GuardLimits};
use crate::settings::Settings;
use crate::source::decode::{self, Decoded, Format, RejectKind, Rejection};

/// Decode → enrich → detect → guard. `Send + Sync`.
pub struct Pipeline {
    /// Enrichment stage.
    enricher: Enricher,
    /// Baselines, risk and rules.
    detector: Detector,
    /// Blast-radius guard on automatic revocations.
    guard: Guard,
    /// Prometheus metrics, when the pipeline runs inside `tocsin run` or the demo.
    metrics: Option<Arc<Metrics>>,
}

/// Why a pipeline could not be built: always a configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A GeoIP database could not be used.
    #[error(transparent)]
    Enrich(#[from] crate::enrich::EnrichError),
    /// The rules could not be loaded.
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
}

impl Pipeline {
    /// Builds every stage from the configuration.
    pub fn from_settings(s: &Settings) -> Result<Pipeline, PipelineError> {
        Ok(Pipeline {
            enricher: Enricher::from_settings(&s.geoip)?,
            detector: Detector::from_settings(&s.rules, &s.detect)?,
            guard: Guard::with_limits(GuardLimits::from_settings(&s.revocation)),
            metrics: None,
        })
    }

    /// Counts events, rejections, alerts and per-record latency in `metrics` from now on.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Pipeline {
        self.metrics = Some(metrics);
        self
    }

    /// The detector: its state store (stats, snapshots, account views, feedback) and rules.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The enrichment stage.
    pub fn enricher(&self) -> &Enricher {
        &self.enricher
    }

    /// The blast-radius guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The metrics this pipeline reports to, if any.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Runs one decoded event through enrichment, detection and the guard; alerts go to `out`.
    /// `now_ms` is the decision time; `None` means event time (deterministic replay).
    pub fn process_event(&self, ev: &Event<'_>, now_ms: Option<i64>, out: &mut Vec<Alert>) {
        let now = now_ms.unwrap_or(ev.ts_ms);
        let enriched = self.enricher.enrich(ev);
        let first = out.len();
        self.detector.process(ev, &enriched, now, out);
        let mut i = first;
        let mut extra = Vec::new();
        while i < out.len() {
            self.guard.check_at(&mut out[i], ev.ts_ms, now, &mut extra);
            i += 1;
        }
        out.append(&mut extra);
    }

    /// Decodes one record and processes every event in it. Rejections and not-applicable
    /// records are counted in `stats` and reported to `on_skip`.
    pub fn process_record(
        &self,
        format: Format,
        record: &[u8],
        now_ms: Option<i64>,
        stats: &mut RecordStats,
        out: &mut Vec<Alert>,
        on_skip: &mut dyn FnMut(Skip<'_>),
    ) {
        stats.records += 1;
        let started = self.metrics.as_ref().map(|_| Instant::now());
        // A panic here is a bug in Tocsin, but the record that triggers it must not stop the
        // engine (or let a stranger stop it at will): it is refused like a malformed record,
        // dead-lettered by the caller, counted and logged. Decoding is pure and the detector's
        // maps do not poison, so the state stays usable.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            #[cfg(test)]
            if record.starts_with(tests::PANIC_MARKER) {
                panic!("injected by a test");
            }
            decode::decode(format, record, &mut |r| match r {
                Ok(Decoded::Event(ev)) => {
                    stats.events += 1;
                    let before = out.len();
                    self.process_event(&ev, now_ms, out);
                    for a in &out[before..] {
                        *stats.alerts_by_rule.entry(a.rule.clone()).or_default() += 1;
                    }
                    // Alerts are counted once, by the responder, which also knows a re-raised
                    // alert (same id after a restart) from a new one.
                    if let Some(m) = &self.metrics {
                        m.event(ev.kind.as_str(), ev.outcome.map_or("none", |o| o.as_str()));
                        if ev.ip.is_none() && matches!(ev.kind, EventKind::Login | EventKind::Mfa) {
                            m.event_without_ip(ev.kind.as_str());
                        }
                    }
                }
                Ok(Decoded::NotApplicable(why)) => {
                    stats.not_applicable += 1;
                    if let Some(m) = &self.metrics {
                        m.not_applicable();
                    }
                    on_skip(Skip::NotApplicable(&why));
                }
                Err(rej) => self.refuse(&rej, stats, on_skip),
            });
        }));
        if caught.is_err() {
            tracing::error!(
                format = format.as_str(),
                bytes = record.len(),
                "record processing panicked; record refused (a bug: please report it)"
            );
            let rej = Rejection::new(
                RejectKind::Internal,
                "Tocsin failed on this record (a bug): please report it with the record",
            );
            self.refuse(&rej, stats, on_skip);
        }
        if let (Some(m), Some(t)) = (&self.metrics, started) {
            m.observe_latency_ns(t.elapsed().as_nanos() as u64);
        }
    }

    /// Counts a refused record and reports it to `on_skip`.
    fn refuse(&self, rej: &Rejection, stats: &mut RecordStats, on_skip: &mut dyn FnMut(Skip<'_>)) {
        *stats.rejected.entry(rej.kind).or_default() += 1;
        if let Some(m) = &self.metrics {
            m.rejected(rej.kind.as_str());
        }
        on_skip(Skip::Rejected(rej));
    }
}

/// A record that produced no event.
#[derive(Debug)]
pub enum Skip<'a> {
    /// Malformed.
    Rejected(&'a Rejection),
    /// Well-formed but not a sign-in or data access.
    NotApplicable(&'a str),
}

/// Counts kept while processing records (the `replay` summary).
#[derive(Clone, Debug, Default)]
pub struct RecordStats {
    /// Records read (lines, messages or document elements).
    pub records: u64,
    /// Events used.
    pub events: u64,
    /// Records skipped as not applicable.
    pub not_applicable: u64,
    /// Records rejected, by reason.
    pub rejected: BTreeMap<RejectKind, u64>,
    /// Alerts raised, by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
}

impl RecordStats {
    /// Records rejected, all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Alerts raised, all rules.
    pub fn alerts_total(&self) -> u64 {
        self.alerts_by_rule.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records starting with this make `process_record` panic (fault injection).
    pub(super) const PANIC_MARKER: &[u8] = b"\xffinjected-panic";

    #[test]
    fn a_record_that_panics_is_refused_and_the_next_one_is_processed() {
        let pipeline = Pipeline::from_settings(&Settings::default()).expect("default pipeline");
        let mut stats = RecordStats::default();
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        let good = br#"{"ts":"2025-11-10T09:00:00Z","type":"login","outcome":"success","account":"a","ip":"203.0.113.7"}"#;
        for record in [PANIC_MARKER, &good[..]] {
            pipeline.process_record(
                Format::Native,
                record,
                None,
                &mut stats,
                &mut out,
                &mut |s| {
                    if let Skip::Rejected(r) = s {
                        skipped.push(r.clone());
                    }
                },
            );
        }
        assert_eq!(stats.records, 2);
        assert_eq!(stats.events, 1, "the record after the panic is processed");
        assert_eq!(stats.rejected.get(&RejectKind::Internal), Some(&1));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].kind.as_str(), "internal_error");
        assert!(skipped[0].detail.contains("bug"));
    }
}
