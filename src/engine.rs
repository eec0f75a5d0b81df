//! The long-running engine's glue: what `tocsin run` and `tocsin demo` share around the
//! [`Pipeline`] — the state parts saved in checkpoints, the bridge from the Kafka workers to the
//! [`Responder`], and the HTTP API next to them.
//!
//! Kept apart from `cmd/` so the demo runs exactly the production assembly, not a copy of it.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::alert::Alert;
use crate::api::{ApiState, TlsConfig, Tokens};
use crate::checkpoint::Snapshot;
use crate::pipeline::Pipeline;
use crate::respond::revoke::RevocationStore;
use crate::respond::Responder;
use crate::source::kafka::{AlertSink, StatePart};

/// The detector's baselines as a checkpoint part.
pub struct DetectorState(pub Arc<Pipeline>);

impl Snapshot for DetectorState {
    fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.0
            .detector
            .write_snapshot(w)
            .map_err(std::io::Error::other)
    }

    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), String> {
        self.0.detector.read_snapshot(r).map_err(|e| e.to_string())
    }
}

/// The revocation store as a checkpoint part (it also keeps its own append log; the checkpoint
/// copy is what a restore on another machine starts from).
pub struct RevocationState(pub Arc<RevocationStore>);

impl Snapshot for RevocationState {
    fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.0.write_snapshot(&mut &mut *w)
    }

    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), String> {
        self.0
            .read_snapshot(std::io::BufReader::new(r))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The checkpoint parts of a running engine, in a fixed order.
pub fn state_parts(pipeline: &Arc<Pipeline>, responder: &Responder) -> Vec<StatePart> {
    vec![
        (
            "detector".to_string(),
            Arc::new(DetectorState(pipeline.clone())) as Arc<dyn Snapshot>,
        ),
        (
            "revocations".to_string(),
            Arc::new(RevocationState(responder.revocations())),
        ),
    ]
}

/// Hands the Kafka workers' alerts to the responder. Blocks when the responder's bounded queue
/// is full: backpressure reaches the consumer instead of memory growing.
pub struct ResponderSink(pub Responder);

impl AlertSink for ResponderSink {
    fn submit(&self, alert: &Alert) {
        if self.0.blocking_submit(alert.clone()).is_err() {
            tracing::error!(alert = %alert.id, "responder stopped; alert kept only on the alerts topic");
        }
    }
}

/// Where the API listens and who may use it.
pub struct ApiEndpoint {
    /// The bound listener (`[api] listen`).
    pub listener: std::net::TcpListener,
    /// The bearer tokens and their roles.
    pub tokens: Tokens,
    /// HTTPS when given, plain HTTP otherwise.
    pub tls: Option<TlsConfig>,
}

/// Starts the HTTP API on `endpoint`; `/readyz` follows `ready` (set by the source once state
/// is restored and it consumes). Also refreshes the state-size gauges every few seconds.
pub fn spawn_api(
    rt: &tokio::runtime::Handle,
    endpoint: ApiEndpoint,
    pipeline: Arc<Pipeline>,
    responder: Responder,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let _guard = rt.enter();
    let ApiEndpoint {
        listener,
        tokens,
        tls,
    } = endpoint;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let metrics = responder.metrics();
    let state = ApiState::new(responder, pipeline.clone(), tokens);
    let readiness = state.ready.clone();
    let until = stop.clone();
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !until.load(Ordering::Relaxed) {
            tick.tick().await;
            readiness.set(ready.load(Ordering::Relaxed));
            let stats = pipeline.detector.stats();
            metrics.set_accounts_tracked(stats.accounts);
            metrics.set_accounts_evicted(stats.evicted);
            metrics.set_tenants(stats.tenants, stats.tenants_evicted);
            metrics.set_state_bytes(stats.state_bytes as u64);
        }
    });
    Ok(match tls {
        Some(tls) => rt.spawn(crate::api::serve_tls(listener, state, tls, stopped(stop))),
        None => rt.spawn(crate::api::serve(listener, state, stopped(stop))),
    })
}

/// A future that completes once `stop` is set (polled every 50 ms): the shutdown signal for the
/// async parts of an engine whose source runs on plain threads.
pub async fn stopped(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
