//! Every Prometheus metric Tocsin exports, named in one place, with the methods the pipeline,
//! the run loop and the responder call to update them.
//!
//! Names follow `tocsin_<noun>_<unit>_total` for counters. Labels are bounded sets only (event
//! type, outcome, rule, severity, destination, partition, reason): never an account, an IP or a
//! session, whose cardinality is unbounded. Processing latency is kept twice: a Prometheus
//! histogram (aggregatable across instances) and an HDR histogram whose p50/p99/p99.9 are
//! exported as gauges with a `quantile` label, refreshed on every scrape.

use std::sync::atomic::{AtomicBool, Ordering};

use hdrhistogram::Histogram as Hdr;
use parking_lot::Mutex;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// The quantiles exported from the HDR latency histogram.
const LATENCY_QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.99, "0.99"), (0.999, "0.999")];

/// Every metric, registered once. Shared as `Arc<Metrics>`; every update is lock-free except
/// the HDR latency record, a short uncontended mutex that is never held across `.await`.
pub struct Metrics {
    registry: Registry,
    events: IntCounterVec,
    events_without_ip: IntCounterVec,
    not_applicable: IntCounter,
    intake_records: IntCounterVec,
    rejected: IntCounterVec,
    alerts: IntCounterVec,
    revocations: IntCounterVec,
    guard_trips: IntCounter,
    deliveries: IntCounterVec,
    outbox_refused: IntCounterVec,
    ssf_sets: IntCounterVec,
    outbox_depth: IntGauge,
    recent_alerts: IntGauge,
    consumer_lag: IntGaugeVec,
    latency: Histogram,
    latency_quantiles: prometheus::GaugeVec,
    accounts_tracked: IntGauge,
    accounts_evicted: IntCounter,
    tenants_tracked: IntGauge,
    tenants_evicted: IntCounter,
    state_bytes: IntGauge,
    checkpoint_duration: Histogram,
    last_checkpoint_seconds: Gauge,
    // A std-style mutex, not an async one: recording is a few nanoseconds and never awaits.
    latency_hdr: Mutex<Hdr<u64>>,
    hdr_overflowed: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric names are valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
}

impl Metrics {
    /// Creates and registers every metric in a fresh registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let events = counter_vec(
            &registry,
            "tocsin_events_total",
            "Events processed, by type and outcome.",
            &["type", "outcome"],
        );
        let events_without_ip = counter_vec(
            &registry,
            "tocsin_events_without_ip_total",
            "Logins and MFA steps used without a client address (geo and network features missing), by type.",
            &["type"],
        );
        let not_applicable = IntCounter::new(
            "tocsin_not_applicable_records_total",
            "Well-formed records that are not a sign-in or data access (a vendor's admin event), skipped.",
        )
        .expect("valid");
        registry
            .register(Box::new(not_applicable.clone()))
            .expect("each metric is registered once");
        let intake_records = counter_vec(
            &registry,
            "tocsin_intake_records_total",
            "Records posted to the HTTP intake, by outcome: rejected, not_applicable; and their events: stored, unavailable (Kafka did not acknowledge).",
            &["outcome"],
        );
        let rejected = counter_vec(
            &registry,
            "tocsin_rejected_events_total",
            "Records that could not be used, by reason.",
            &["reason"],
        );
        let alerts = counter_vec(
            &registry,
            "tocsin_alerts_total",
            "Alerts raised, by rule and severity.",
            &["rule", "severity"],
        );
        let revocations = counter_vec(
            &registry,
            "tocsin_revocations_total",
            "Revocations recorded, by origin (auto or manual).",
            &["origin"],
        );
        let deliveries = counter_vec(
            &registry,
            "tocsin_deliveries_total",
            "Delivery attempts by destination and outcome (delivered, retry, dead_letter).",
            &["destination", "outcome"],
        );
        let outbox_refused = counter_vec(
            &registry,
            "tocsin_outbox_refused_total",
            "Deliveries refused because the outbox was full, by destination.",
            &["destination"],
        );
        let ssf_sets = counter_vec(
            &registry,
            "tocsin_ssf_sets_total",
            "Shared Signals SETs by direction (sent, received), event (last segment of its type) and outcome.",
            &["direction", "event", "outcome"],
        );
        let guard_trips = IntCounter::new(
            "tocsin_guard_trips_total",
            "Times the blast-radius guard started withholding automatic revocations.",
        )
        .expect("valid");
        let outbox_depth = IntGauge::new(
            "tocsin_outbox_entries",
            "Deliveries waiting in the durable outbox.",
        )
        .expect("valid");
        let recent_alerts = IntGauge::new(
            "tocsin_recent_alerts",
            "Alerts held in memory for the API (at most `[api] recent_alerts`).",
        )
        .expect("valid");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "tocsin_consumer_lag_messages",
                "Kafka consumer lag per topic partition.",
            ),
            &["topic", "partition"],
        )
        .expect("valid");
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "tocsin_processing_latency_seconds",
                "Time from receiving an event to having its alerts, seconds.",
            )
            .buckets(vec![
                1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 1e-2, 0.1, 1.0,
            ]),
        )
        .expect("valid");
        let latency_quantiles = prometheus::GaugeVec::new(
            Opts::new(
                "tocsin_processing_latency_quantile_seconds",
                "Processing latency percentiles since start (HDR histogram), seconds.",
            ),
            &["quantile"],
        )
        .expect("valid");
        let accounts_tracked = IntGauge::new(
            "tocsin_accounts_tracked",
            "Accounts with a baseline in memory.",
        )
        .expect("valid");
        let accounts_evicted = IntCounter::new(
            "tocsin_accounts_evicted_total",
            "Baselines evicted to keep detect.max_accounts (a flood of account names, or growth).",
        )
        .expect("valid");
        let tenants_tracked = IntGauge::new(
            "tocsin_tenants_tracked",
            "Tenants whose shared networks are remembered.",
        )
        .expect("valid");
        let tenants_evicted = IntCounter::new(
            "tocsin_tenants_evicted_total",
            "Tenants forgotten to keep the tenant tables within their budget (64 bytes per detect.max_accounts).",
        )
        .expect("valid");
        let state_bytes = IntGauge::new(
            "tocsin_state_bytes",
            "Estimated bytes of detection state in memory.",
        )
        .expect("valid");
        let checkpoint_duration = Histogram::with_opts(
            HistogramOpts::new(
                "tocsin_checkpoint_duration_seconds",
                "Time to write a checkpoint, seconds.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )
        .expect("valid");
        let last_checkpoint_seconds = Gauge::new(
            "tocsin_last_checkpoint_timestamp_seconds",
            "Unix time of the last completed checkpoint.",
        )
        .expect("valid");
        for c in [
            Box::new(guard_trips.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(outbox_depth.clone()),
            Box::new(recent_alerts.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(latency.clone()),
            Box::new(latency_quantiles.clone()),
            Box::new(accounts_tracked.clone()),
            Box::new(accounts_evicted.clone()),
            Box::new(tenants_tracked.clone()),
            Box::new(tenants_evicted.clone()),
            Box::new(state_bytes.clone()),
            Box::new(checkpoint_duration.clone()),
            Box::new(last_checkpoint_seconds.clone()),
        ] {
            registry
                .register(c)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            events,
            events_without_ip,
            not_applicable,
            intake_records,
            rejected,
            alerts,
            revocations,
            guard_trips,
            deliveries,
            outbox_refused,
            ssf_sets,
            outbox_depth,
            recent_alerts,
            consumer_lag,
            latency,
            latency_quantiles,
            accounts_tracked,
            accounts_evicted,
            tenants_tracked,
            tenants_evicted,
            state_bytes,
            checkpoint_duration,
            last_checkpoint_seconds,
            // 1 ns .. 60 s at 3 significant digits.
            latency_hdr: Mutex::new(
                Hdr::new_with_bounds(1, 60_000_000_000, 3).expect("valid HDR bounds"),
            ),
            hdr_overflowed: AtomicBool::new(false),
        }
    }

    /// One event processed (`kind` e.g. `login`, `outcome` e.g. `success` or `none`).
    pub fn event(&self, kind: &str, outcome: &str) {
        self.events.with_label_values(&[kind, outcome]).inc();
    }

    /// One login or MFA step used without a client address.
    pub fn event_without_ip(&self, kind: &str) {
        self.events_without_ip.with_label_values(&[kind]).inc();
    }

    /// One well-formed record skipped as not a sign-in or data access.
    pub fn not_applicable(&self) {
        self.not_applicable.inc();
    }

    /// `n` records posted to the HTTP intake ended with `outcome`.
    pub fn intake_records(&self, outcome: &str, n: usize) {
        self.intake_records
            .with_label_values(&[outcome])
            .inc_by(n as u64);
    }

    /// One record rejected, by the decoder's reason kind.
    pub fn rejected(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
    }

    /// One alert raised. Called by the responder only, once per alert id it acts on: the
    /// pipeline that detects does not count, so `tocsin run` counts each alert once.
    pub fn alert(&self, rule: &str, severity: &str) {
        self.alerts.with_label_values(&[rule, severity]).inc();
    }

    /// One revocation recorded; `manual` for the API, automatic otherwise.
    pub fn revocation(&self, manual: bool) {
        self.revocations
            .with_label_values(&[if manual { "manual" } else { "auto" }])
            .inc();
    }

    /// The blast-radius guard tripped once.
    pub fn guard_trip(&self) {
        self.guard_trips.inc();
    }

    /// One delivery attempt's outcome (`delivered`, `retry`, `dead_letter`).
    pub fn delivery(&self, destination: &str, outcome: &str) {
        self.deliveries
            .with_label_values(&[destination, outcome])
            .inc();
    }

    /// One Shared Signals SET outcome (`direction` sent or received; `event` e.g.
    /// `session-revoked`; `outcome` e.g. `queued`, `delivered`, `accepted`, `invalid_key`).
    pub fn ssf_set(&self, direction: &str, event: &str, outcome: &str) {
        self.ssf_sets
            .with_label_values(&[direction, event, outcome])
            .inc();
    }

    /// Shared Signals SETs dropped unacknowledged after `[ssf] retention_secs`.
    pub fn ssf_sets_expired(&self, n: u64) {
        self.ssf_sets
            .with_label_values(&["sent", "any", "expired"])
            .inc_by(n);
    }

    /// The outbox refused a delivery because it was full.
    pub fn outbox_refused(&self, destination: &str) {
        self.outbox_refused.with_label_values(&[destination]).inc();
    }

    /// Alerts held for the API.
    pub fn set_recent_alerts(&self, alerts: usize) {
        self.recent_alerts.set(alerts as i64);
    }

    /// Entries pending in the outbox.
    pub fn set_outbox_depth(&self, entries: usize) {
        self.outbox_depth.set(entries as i64);
    }

    /// Consumer lag of one partition, messages.
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        // Called periodically by the consumer, not per event: the small allocation is fine.
        self.consumer_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    }

    /// Time one event took from receipt to alerts, nanoseconds.
    pub fn observe_latency_ns(&self, ns: u64) {
        self.latency.observe(ns as f64 * 1e-9);
        let ns = ns.max(1);
        if self.latency_hdr.lock().record(ns).is_err() {
            // Beyond 60 s: the histogram keeps its bound; say so once instead of per event.
            if !self.hdr_overflowed.swap(true, Ordering::Relaxed) {
                tracing::warn!(ns, "processing latency beyond the histogram's 60 s bound");
            }
        }
    }

    /// Accounts with a baseline in memory.
    pub fn set_accounts_tracked(&self, n: usize) {
        self.accounts_tracked.set(n as i64);
    }

    /// Raises the evicted-accounts counter to `total` (the detector's own count since start).
    pub fn set_accounts_evicted(&self, total: u64) {
        raise_to(&self.accounts_evicted, total);
    }

    /// Tenants tracked, and the evicted-tenants counter raised to `evicted` (the detector's
    /// own count since start).
    pub fn set_tenants(&self, tracked: usize, evicted: u64) {
        self.tenants_tracked.set(tracked as i64);
        raise_to(&self.tenants_evicted, evicted);
    }

    /// Estimated bytes of detection state in memory.
    pub fn set_state_bytes(&self, n: u64) {
        self.state_bytes.set(n as i64);
    }

    /// A checkpoint took `seconds` and finished at `unix_seconds`.
    pub fn checkpoint(&self, seconds: f64, unix_seconds: f64) {
        self.checkpoint_duration.observe(seconds);
        self.last_checkpoint_seconds.set(unix_seconds);
    }

    /// Processing latency quantile `q` (0..1) since start, nanoseconds; `None` before any event.
    pub fn latency_quantile_ns(&self, q: f64) -> Option<u64> {
        let h = self.latency_hdr.lock();
        (!h.is_empty()).then(|| h.value_at_quantile(q))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        for (q, label) in LATENCY_QUANTILES {
            if let Some(ns) = self.latency_quantile_ns(q) {
                self.latency_quantiles
                    .with_label_values(&[label])
                    .set(ns as f64 * 1e-9);
            }
        }
        let mut buf = Vec::with_capacity(8 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding of gathered metrics does not fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// Raises a counter that mirrors a running total kept elsewhere (a counter only goes up).
fn raise_to(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_the_documented_names_and_no_personal_labels() {
        let m = Metrics::new();
        m.event("login", "success");
        m.alert("stolen_password.new_device_new_asn", "high");
        m.revocation(false);
        m.delivery("soc", "delivered");
        m.set_consumer_lag("auth-events", 3, 42);
        m.observe_latency_ns(2_000);
        let text = m.render();
        assert!(text.contains("tocsin_events_total{outcome=\"success\",type=\"login\"} 1"));
        assert!(text.contains("tocsin_revocations_total{origin=\"auto\"} 1"));
        assert!(
            text.contains("tocsin_consumer_lag_messages{partition=\"3\",topic=\"auth-events\"} 42")
        );
        assert!(text.contains("tocsin_processing_latency_quantile_seconds{quantile=\"0.99\"}"));
        assert!(!text.contains("account="));
    }
}
