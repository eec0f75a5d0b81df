//! The long-running engine, assembled in one place: [`Engine::start`] builds the metrics, the
//! [`Pipeline`], the async runtime, the [`Responder`], the Kafka sink and source, the checkpoint
//! store with its state parts, and the HTTP API; [`Engine::wait`] (or [`Engine::stop`]) takes
//! them down in one order. `tocsin run`, `tocsin demo` and the Kafka integration tests all run
//! this assembly; what differs between them is an [`EngineOptions`] field, not a second copy.
//!
//! # Stop sequence
//!
//! Once the `shutdown` flag is set (or the source fails):
//!
//! 1. the source stops consuming;
//! 2. it drains its workers at a last checkpoint barrier;
//! 3. it writes the final checkpoint once the sink reports every output delivered, and commits;
//! 4. the responder is stopped and joined: every alert it was handed is in its durable outbox;
//! 5. the API stops.
//!
//! Also here: the glue between the source's traits and the rest of the crate — the pipeline as
//! the source's [`RecordHandler`], the detector and the revocation store as checkpoint parts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::alert::Alert;
use crate::api::auth::TokenConfigError;
use crate::api::tls::TlsConfigError;
use crate::api::{ApiState, TlsConfig, Tokens};
use crate::baseline::store::partition;
use crate::checkpoint::{CheckpointStore, RestoreError, Snapshot};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineError, RecordStats, Skip};
use crate::respond::kafka::{AlertTap, KafkaSink};
use crate::respond::revoke::RevocationStore;
use crate::respond::{RespondError, Responder, ResponderSettings};
use crate::settings::{Changelog, KafkaSettings, Settings};
use crate::source::decode::{Format, Rejection};
use crate::source::kafka::changelog::{AccountSet, PartitionedState};
use crate::source::kafka::{
    HandledCounts, KafkaSource, KafkaSourceError, RecordHandler, RunSummary, SourceOptions,
    StatePart,
};

/// How long the responder may take, once stopped, to put the alerts it holds into its outbox.
pub const RESPONDER_JOIN_LIMIT: Duration = Duration::from_secs(5);
/// How long the API may take to close its connections.
pub const API_STOP_LIMIT: Duration = Duration::from_secs(1);

/// The detector's baselines as a checkpoint part.
pub struct DetectorState(pub Arc<Pipeline>);

impl Snapshot for DetectorState {
    fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.0
            .detector()
            .write_snapshot(w)
            .map_err(std::io::Error::other)
    }

    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError> {
        self.0
            .detector()
            .read_snapshot(r)
            .map_err(RestoreError::new)
    }
}

/// The blast-radius guard's windows and trips as a checkpoint part: a restart neither forgets
/// a trip nor lets a storm start counting afresh.
pub struct GuardState(pub Arc<Pipeline>);

impl Snapshot for GuardState {
    fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.0.guard().write_snapshot(w)
    }

    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError> {
        self.0.guard().read_snapshot(r).map_err(RestoreError::new)
    }
}

/// The revocation store as a checkpoint part (it also keeps its own append log; the checkpoint
/// copy is what a restore on another machine starts from).
pub struct RevocationState(pub Arc<RevocationStore>);

impl Snapshot for RevocationState {
    fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.0.write_snapshot(&mut &mut *w)
    }

    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError> {
        self.0
            .read_snapshot(std::io::BufReader::new(r))
            .map(|_| ())
            .map_err(RestoreError::new)
    }
}

/// The detector's accounts as state that follows its input partitions
/// (`[state] changelog = "kafka"`): cut out of and merged into the detector's snapshot.
pub struct AccountsByPartition(pub Arc<Pipeline>);

impl AccountsByPartition {
    fn rule_ids(&self) -> Vec<&str> {
        let rules = &self.0.detector().rules().rules;
        rules.iter().map(|r| r.id.as_str()).collect()
    }

    fn snapshot(&self) -> Result<Vec<u8>, RestoreError> {
        let mut v = Vec::new();
        self.0
            .detector()
            .write_snapshot(&mut v)
            .map_err(RestoreError::new)?;
        Ok(v)
    }
}

impl PartitionedState for AccountsByPartition {
    fn key_of(&self, record_key: &[u8]) -> Option<u64> {
        std::str::from_utf8(record_key)
            .ok()
            .map(crate::baseline::name_key64)
    }

    fn fingerprint(&self) -> u64 {
        // A hash of a fixed name: equal under equal keys, and says nothing about the key.
        crate::baseline::name_key64("\0tocsin changelog fingerprint")
    }

    fn export(&self, groups: &[&AccountSet]) -> Result<Vec<Vec<u8>>, RestoreError> {
        partition::export_groups(&self.snapshot()?, groups, &self.rule_ids())
            .map_err(RestoreError::new)
    }

    fn import(&self, parts: &[&[u8]]) -> Result<Vec<AccountSet>, RestoreError> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let (merged, keys) = partition::import_parts(&mut self.snapshot()?.as_slice(), parts)
            .map_err(RestoreError::new)?;
        self.0
            .detector()
            .read_snapshot(&mut merged.as_slice())
            .map_err(RestoreError::new)?;
        Ok(keys)
    }

    fn forget(&self, accounts: &AccountSet) -> Result<(), RestoreError> {
        let left =
            partition::drop_accounts(&mut self.snapshot()?.as_slice(), accounts, &self.rule_ids())
                .map_err(RestoreError::new)?;
        self.0
            .detector()
            .read_snapshot(&mut left.as_slice())
            .map_err(RestoreError::new)
    }
}

/// The detector's checkpoint part when its accounts live in the changelog: the local file
/// keeps none (a restart restores the partitions it is assigned, not the ones it had), and a
/// file written by a single instance is not loaded into a group member.
pub struct InChangelog;

impl Snapshot for InChangelog {
    fn write_snapshot(&self, _w: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }

    fn read_snapshot(&self, _r: &mut dyn Read) -> Result<(), RestoreError> {
        tracing::info!("accounts come from the state changelog, not the local checkpoint");
        Ok(())
    }
}

/// The Kafka workers hand each record to the pipeline.
impl RecordHandler for Pipeline {
    type Tally = RecordStats;

    fn handle(
        &self,
        stats: &mut RecordStats,
        format: Format,
        record: &[u8],
        now_ms: i64,
        alerts: &mut Vec<Alert>,
    ) -> Option<Rejection> {
        let mut rejected: Option<Rejection> = None;
        self.process_record(format, record, Some(now_ms), stats, alerts, &mut |skip| {
            if let Skip::Rejected(rej) = skip {
                // A record can carry several events; the first rejection names it.
                rejected.get_or_insert_with(|| rej.clone());
            }
        });
        rejected
    }

    fn take_counts(&self, stats: &mut RecordStats) -> HandledCounts {
        let counts = HandledCounts {
            events: std::mem::take(&mut stats.events),
            not_applicable: std::mem::take(&mut stats.not_applicable),
        };
        stats.records = 0;
        stats.rejected.clear();
        stats.alerts_by_rule.clear();
        counts
    }
}

/// What every checkpoint saves besides the offsets.
#[derive(Default)]
pub enum CheckpointParts {
    /// The detector's baselines, the revocation store and the guard: a restart resumes where
    /// the engine stopped (`tocsin run`).
    #[default]
    Engine,
    /// Nothing: the checkpoints only record progress (the demo, which never restarts and
    /// checkpoints five times a second).
    OffsetsOnly,
    /// These parts instead of the engine's (a test's stand-in state).
    Custom(Vec<StatePart>),
}

/// What differs between the engines of `tocsin run`, the demo and the tests;
/// [`EngineOptions::default`] is `tocsin run`'s.
#[derive(Default)]
pub struct EngineOptions {
    /// Time between periodic checkpoints, instead of `[state] checkpoint_interval_secs` (tests
    /// and the demo take them more often than once a second).
    pub checkpoint_interval: Option<Duration>,
    /// Kafka worker threads (default: the machine's cores).
    pub workers: Option<usize>,
    /// Records handed to a worker at once (default: [`SourceOptions::default`]'s).
    pub batch_records: Option<usize>,
    /// What every checkpoint saves besides the offsets.
    pub checkpoint_parts: CheckpointParts,
    /// The API's tokens, instead of `[[api.tokens]]` (the demo makes one up).
    pub api_tokens: Option<Tokens>,
    /// A runtime for the responder and the API, instead of one of the engine's own (the demo
    /// runs its receivers on the same one).
    pub runtime: Option<Handle>,
    /// Shown every alert on its way out (the demo's story).
    pub alert_tap: Option<AlertTap>,
}

/// Why the engine could not start, or why it stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration has no `[source.kafka]`.
    #[error("`tocsin run` needs a [source.kafka] section in the configuration")]
    NoKafka,
    /// `[[api.tokens]]` is unusable.
    #[error(transparent)]
    Tokens(#[from] TokenConfigError),
    /// The API's TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// `[api] listen` cannot be bound.
    #[error("api.listen: cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The pipeline could not be built (rules, GeoIP databases).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The responder could not start (sinks, revocation endpoint, state directory).
    #[error(transparent)]
    Respond(#[from] RespondError),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The API could not start.
    #[error("cannot start the API: {0}")]
    Api(std::io::Error),
    /// `[intake]` is enabled but cannot work.
    #[error(transparent)]
    Intake(#[from] crate::api::intake::IntakeError),
    /// The source's thread could not start.
    #[error("cannot start the Kafka source: {0}")]
    Thread(std::io::Error),
    /// The Kafka source failed to start, or stopped early.
    #[error(transparent)]
    Source(#[from] KafkaSourceError),
    /// The Kafka source's thread panicked.
    #[error("the Kafka source thread panicked")]
    Panicked,
}

impl EngineError {
    /// True when the configuration is at fault (`tocsin run` exits 2), not the run.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            EngineError::NoKafka
                | EngineError::Tokens(_)
                | EngineError::Tls(_)
                | EngineError::Listen { .. }
                | EngineError::Pipeline(_)
                | EngineError::Respond(_)
        )
    }
}

/// A running engine: the Kafka source on its own thread, the responder and the API on the
/// runtime. End it with [`Engine::wait`] or [`Engine::stop`].
pub struct Engine {
    /// The runtime the engine built, if it was not given one.
    runtime: Option<Runtime>,
    handle: Handle,
    pipeline: Arc<Pipeline>,
    responder: Responder,
    metrics: Arc<Metrics>,
    checkpoints: CheckpointStore,
    ready: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    source: JoinHandle<Result<RunSummary, KafkaSourceError>>,
    stop_responder: Arc<AtomicBool>,
    stop_api: Arc<AtomicBool>,
    api: tokio::task::JoinHandle<std::io::Result<()>>,
    api_url: String,
}

/// The parts of an engine that exist before its API and source start.
struct Core {
    pipeline: Arc<Pipeline>,
    responder: Responder,
    metrics: Arc<Metrics>,
    stop_responder: Arc<AtomicBool>,
    stop_api: Arc<AtomicBool>,
}

impl Engine {
    /// Builds and starts everything `settings` describe; the source consumes until `shutdown`
    /// is set.
    pub fn start(
        settings: &Settings,
        mut options: EngineOptions,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Engine, EngineError> {
        let kafka = settings.source.kafka.clone().ok_or(EngineError::NoKafka)?;
        let tokens = match options.api_tokens.take() {
            Some(t) => t,
            None => Tokens::from_api_settings(&settings.api)?,
        };
        // Checked before anything starts: a bad [intake] fails the start cleanly.
        let intake = match settings.intake.enabled {
            true => Some(Arc::new(crate::api::intake::Intake::new(
                settings.source.kafka.as_ref(),
                &settings.intake,
            )?)),
            false => None,
        };
        let tls = TlsConfig::from_settings(&settings.api)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener =
            TcpListener::bind(settings.api.listen).map_err(|source| EngineError::Listen {
                addr: settings.api.listen,
                source,
            })?;
        let metrics = Arc::new(Metrics::new());
        let pipeline = Arc::new(Pipeline::from_settings(settings)?.with_metrics(metrics.clone()));
        // The responder (webhooks, outbound revocation, revocation store) and the API run on a
        // small tokio runtime; the Kafka workers are plain threads and hand alerts over through
        // a bounded channel.
        let (runtime, handle) = match options.runtime.take() {
            Some(handle) => (None, handle),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("tocsin-respond")
                    .enable_all()
                    .build()
                    .map_err(EngineError::Runtime)?;
                let handle = rt.handle().clone();
                (Some(rt), handle)
            }
        };
        let stop_responder = Arc::new(AtomicBool::new(false));
        let responder = {
            let _enter = handle.enter();
            Responder::start(
                ResponderSettings::of(settings),
                metrics.clone(),
                stopped(stop_responder.clone()),
            )?
        };
        // The API resets the guard the pipeline checks alerts with.
        responder.set_guard(pipeline.guard().clone());
        let core = Core {
            pipeline,
            responder,
            metrics,
            stop_responder: stop_responder.clone(),
            stop_api: Arc::new(AtomicBool::new(false)),
        };
        let stop_api = core.stop_api.clone();
        let endpoint = ApiEndpoint {
            listener,
            tokens,
            tls,
            scheme,
            intake,
        };
        match Self::start_source_and_api(
            settings, kafka, options, core, endpoint, &handle, shutdown,
        ) {
            Ok(engine) => Ok(Engine { runtime, ..engine }),
            Err(e) => {
                // What did start stops: with the runtime, or now on a runtime given.
                stop_responder.store(true, Ordering::Relaxed);
                stop_api.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The second half of [`Engine::start`]: the sink, the source, the API. Returns an engine
    /// whose `runtime` the caller fills in.
    fn start_source_and_api(
        settings: &Settings,
        kafka: KafkaSettings,
        options: EngineOptions,
        core: Core,
        endpoint: ApiEndpoint,
        handle: &Handle,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Engine, EngineError> {
        let mut sink = KafkaSink::new(&kafka, core.responder.clone())?;
        if let Some(tap) = options.alert_tap {
            sink = sink.with_tap(tap);
        }
        let checkpoints = CheckpointStore::new(&settings.state.dir);
        let changelog = settings.state.changelog == Changelog::Kafka;
        let parts = match options.checkpoint_parts {
            CheckpointParts::Engine if changelog => {
                let mut parts = state_parts(&core.pipeline, &core.responder);
                parts[0].1 = Arc::new(InChangelog);
                parts
            }
            CheckpointParts::Engine => state_parts(&core.pipeline, &core.responder),
            CheckpointParts::OffsetsOnly => Vec::new(),
            CheckpointParts::Custom(parts) => parts,
        };
        let defaults = SourceOptions::default();
        let source_options = SourceOptions {
            checkpoint_interval: options.checkpoint_interval.unwrap_or(Duration::from_secs(
                settings.state.checkpoint_interval_secs.max(1),
            )),
            workers: options.workers.unwrap_or(defaults.workers),
            batch_records: options.batch_records.unwrap_or(defaults.batch_records),
            ..defaults
        };
        let mut source = KafkaSource::new(
            kafka,
            core.pipeline.clone(),
            checkpoints.clone(),
            parts,
            Arc::new(sink),
            source_options,
        )
        .with_metrics(core.metrics.clone());
        if changelog {
            source =
                source.with_partitioned_state(Arc::new(AccountsByPartition(core.pipeline.clone())));
        }
        let ready = source.ready_flag();
        let scheme = endpoint.scheme;
        let addr = endpoint.listener.local_addr().map_err(EngineError::Api)?;
        let api = spawn_api(
            handle,
            endpoint,
            core.pipeline.clone(),
            core.responder.clone(),
            ready.clone(),
            core.stop_api.clone(),
        )
        .map_err(EngineError::Api)?;
        tracing::info!(%addr, "API listening");
        let source = std::thread::Builder::new()
            .name("tocsin-source".into())
            .spawn({
                let shutdown = shutdown.clone();
                move || source.run(&shutdown)
            })
            .map_err(EngineError::Thread)?;
        Ok(Engine {
            runtime: None,
            handle: handle.clone(),
            pipeline: core.pipeline,
            responder: core.responder,
            metrics: core.metrics,
            checkpoints,
            ready,
            shutdown,
            source,
            stop_responder: core.stop_responder,
            stop_api: core.stop_api,
            api,
            api_url: format!("{scheme}://{addr}"),
        })
    }

    /// The pipeline the source feeds (its detector holds the baselines).
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// The responder the alerts go to.
    pub fn responder(&self) -> &Responder {
        &self.responder
    }

    /// The engine's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The checkpoint the source writes (`[state] dir`).
    pub fn checkpoints(&self) -> &CheckpointStore {
        &self.checkpoints
    }

    /// True once the state is restored and the source has partitions (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// True once the source has stopped: after `shutdown`, or early on a failure.
    pub fn source_finished(&self) -> bool {
        self.source.is_finished()
    }

    /// The API's base URL, `http://127.0.0.1:8088` say.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The runtime the responder and the API run on.
    pub fn runtime(&self) -> &Handle {
        &self.handle
    }

    /// Sets `shutdown` and waits for the engine to stop.
    pub fn stop(self) -> Result<RunSummary, EngineError> {
        self.shutdown.store(true, Ordering::Relaxed);
        self.wait()
    }

    /// Waits until the source stops (once `shutdown` is set, or early on a failure), then takes
    /// the rest down in order (see the module doc). Returns the source's counts, or why it
    /// stopped early.
    pub fn wait(self) -> Result<RunSummary, EngineError> {
        // Steps 1 to 3 happen inside the source's run.
        let source = self.source.join();
        // Only now: the source's last alerts have reached the responder.
        self.stop_responder.store(true, Ordering::Relaxed);
        let responder = self.responder.clone();
        self.handle.block_on(async move {
            if tokio::time::timeout(RESPONDER_JOIN_LIMIT, responder.join())
                .await
                .is_err()
            {
                tracing::warn!(
                    limit = ?RESPONDER_JOIN_LIMIT,
                    "the responder did not stop in time; its outbox resumes on the next start"
                );
            }
        });
        self.stop_api.store(true, Ordering::Relaxed);
        let api = self.api;
        self.handle.block_on(async move {
            if let Ok(Ok(Err(e))) = tokio::time::timeout(API_STOP_LIMIT, api).await {
                tracing::warn!(error = %e, "the API stopped with an error");
            }
        });
        drop(self.runtime);
        match source {
            Ok(result) => Ok(result?),
            Err(_) => Err(EngineError::Panicked),
        }
    }
}

/// The checkpoint parts of a running engine, in a fixed order.
fn state_parts(pipeline: &Arc<Pipeline>, responder: &Responder) -> Vec<StatePart> {
    vec![
        (
            "detector".to_string(),
            Arc::new(DetectorState(pipeline.clone())) as Arc<dyn Snapshot>,
        ),
        (
            "revocations".to_string(),
            Arc::new(RevocationState(responder.revocations())),
        ),
        ("guard".to_string(), Arc::new(GuardState(pipeline.clone()))),
    ]
}

/// Where the API listens and who may use it.
struct ApiEndpoint {
    /// The bound listener (`[api] listen`).
    listener: TcpListener,
    /// The bearer tokens and their roles.
    tokens: Tokens,
    /// HTTPS when given, plain HTTP otherwise.
    tls: Option<TlsConfig>,
    /// `https` or `http`.
    scheme: &'static str,
    /// `[intake]`, when enabled.
    intake: Option<Arc<crate::api::intake::Intake>>,
}

/// Starts the HTTP API on `endpoint`; `/readyz` follows `ready` (set by the source once state
/// is restored and it consumes). Also refreshes the state-size gauges every few seconds.
fn spawn_api(
    rt: &Handle,
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
        intake,
        ..
    } = endpoint;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let metrics = responder.metrics();
    let mut state = ApiState::new(responder, pipeline.clone(), tokens);
    state.intake = intake;
    let readiness = state.ready.clone();
    let until = stop.clone();
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !until.load(Ordering::Relaxed) {
            tick.tick().await;
            readiness.set(ready.load(Ordering::Relaxed));
            let stats = pipeline.detector().stats();
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
