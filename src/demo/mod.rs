//! `tocsin demo`: a day of a medical SaaS with a stolen-password takeover in it, played end to
//! end on one machine with nothing to install.
//!
//! What runs, all in this process or on loopback:
//!
//! - librdkafka's mock cluster (a Kafka-protocol broker inside librdkafka) with the input,
//!   alerts, revocations and dead-letter topics;
//! - the engine: the same [`Pipeline`] and [`KafkaSource`] as `tocsin run`, with the
//!   [`Responder`] as its alert sink and the HTTP API ([`crate::api`]);
//! - the SOC's webhook receiver and the SaaS's revocation endpoint ([`receivers`]).
//!
//! The scenario comes from [`crate::gen`]: [`HISTORY_DAYS`] days of honest traffic are learned
//! first, straight through the pipeline (as `tocsin replay` would), so baselines are warm; then
//! the last day, which holds the `infostealer` takeovers, is produced to the mock topic in event
//! time order and consumed by the engine. Every number the demo reports is measured or comes
//! from the generator's ground truth; if the detector misses the takeover, the report says so.
//!
//! The driver ([`run`]) reports each step to an [`Observer`] as it happens (the terminal story
//! in [`story`]) and returns a [`DemoReport`] (the summary, and the `--json` output).

pub mod receivers;
pub mod story;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde::Serialize;

use crate::alert::{Alert, Severity};
use crate::api::Tokens;
use crate::checkpoint::CheckpointStore;
use crate::engine::{self, ResponderSink};
use crate::eval;
use crate::gen::{self, AttackKind, AttackTruth, GenConfig, Truth};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineError, RecordStats};
use crate::respond::revoke::NewRevocation;
use crate::respond::{RespondError, Responder};
use crate::settings::{KafkaSettings, Role, Settings, WebhookFormat, WebhookSettings};
use crate::source::decode::Format;
use crate::source::kafka::{AlertSink, KafkaSource, KafkaSourceError, SourceOptions};
use crate::timefmt::{days_from_civil, DAY_MS};

/// Days of history learned before the played day (Entra ID Protection wants at least 5 days
/// and 10 logins; three weeks gives every weekly habit a few repetitions).
pub const HISTORY_DAYS: u32 = 20;
/// Input topic on the mock cluster.
pub const TOPIC: &str = "auth-events";
/// Partitions of the input topic (events are keyed by account, so an account stays ordered).
pub const PARTITIONS: i32 = 4;
/// Webhooks below this severity are not sent to the SOC.
pub const SOC_MIN_SEVERITY: Severity = Severity::Medium;
/// How long the demo waits, after the engine has processed the day, for deliveries to land.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(15);

/// What to play.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Accounts in the synthetic population.
    pub accounts: u32,
    /// Seed of the generator.
    pub seed: u64,
    /// Event-time speed-up while streaming the day (3600: an hour per second); 0 streams as
    /// fast as possible.
    pub speed: f64,
    /// The played day, epoch milliseconds of its UTC midnight.
    pub day_ms: i64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            accounts: 300,
            seed: 1,
            speed: 0.0,
            // Monday 10 November 2025: the evening of the incident in DOMAIN.md.
            day_ms: days_from_civil(2025, 11, 10) * DAY_MS,
        }
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file the demo reads (rules, GeoIP fixtures) is not where it should be.
    #[error("{0} not found: run the demo from the repository's root directory")]
    Missing(PathBuf),
    /// The pipeline could not be built from the shipped rules and fixtures.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The responder could not start.
    #[error(transparent)]
    Respond(#[from] RespondError),
    /// The mock cluster or the producer failed.
    #[error("kafka mock cluster: {context}: {source}")]
    Kafka {
        /// What the demo was doing.
        context: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The engine's Kafka source stopped.
    #[error(transparent)]
    Source(#[from] KafkaSourceError),
    /// A local resource (temporary directory, socket, runtime) failed.
    #[error("{context}: {source}")]
    Io {
        /// What the demo was doing.
        context: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A step did not finish in time.
    #[error("{0}")]
    Stalled(String),
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> DemoError {
    move |source| DemoError::Io { context, source }
}

fn kafka(context: &'static str) -> impl FnOnce(KafkaError) -> DemoError {
    move |source| DemoError::Kafka { context, source }
}

/// Something the outside parties or the engine did, reported to the driver as it happens.
#[derive(Debug)]
pub enum Happening {
    /// The engine raised an alert (reported by its alert sink).
    Alert {
        /// The alert.
        alert: Box<Alert>,
        /// When the sink got it.
        at: Instant,
    },
    /// The SOC receiver got a webhook.
    Webhook {
        /// `webhook-id`.
        webhook_id: String,
        /// The alert in the body, if it parsed.
        alert_id: Option<String>,
        /// The receiver's own signature check.
        verified: Result<(), receivers::SignatureError>,
        /// When it arrived.
        at: Instant,
    },
    /// The SaaS accepted a revocation.
    Revocation {
        /// `Idempotency-Key`.
        idempotency_key: String,
        /// Account revoked.
        account: String,
        /// Session revoked (`None`: every session).
        session: Option<String>,
        /// `session` or `account`.
        scope: String,
        /// The alert behind it.
        alert_id: Option<String>,
        /// When it arrived.
        at: Instant,
    },
}

/// One step of the demo, for the story.
#[derive(Debug)]
pub enum Note<'a> {
    /// Generating and learning the history.
    Learning {
        /// Days of history.
        days: u32,
        /// Accounts.
        accounts: u32,
    },
    /// History learned.
    Learned {
        /// Events learned.
        events: u64,
        /// Alerts raised while learning (not sent anywhere).
        alerts: u64,
        /// Seconds it took, generation included.
        secs: f64,
    },
    /// Everything is up; waiting for the engine's consumer group to get its partitions.
    Joining {
        /// Mock cluster bootstrap servers.
        brokers: &'a str,
        /// SOC receiver URL.
        soc: &'a str,
        /// SaaS revocation URL.
        saas: &'a str,
        /// API base URL.
        api: &'a str,
    },
    /// The played day starts streaming.
    Streaming {
        /// Events of the day.
        events: usize,
        /// The day, `YYYY-MM-DD`.
        day: &'a str,
        /// The speed-up (0: as fast as possible).
        speed: f64,
    },
    /// An alert on the played day.
    Alert {
        /// The alert.
        alert: &'a Alert,
        /// The takeover it belongs to, per the ground truth (`None`: a false alert).
        takeover: Option<&'a AttackTruth>,
        /// Local time of the triggering event in the account's time zone, `HH:MM`.
        local_time: &'a str,
        /// The zone.
        zone: &'a str,
        /// Whether this is the first alert on that takeover.
        first: bool,
    },
    /// The SOC received an alert.
    Webhook {
        /// `webhook-id`.
        webhook_id: &'a str,
        /// The alert, when the driver knows it.
        alert: Option<&'a Alert>,
        /// Signature check.
        verified: Result<(), receivers::SignatureError>,
        /// Whether the alert is about a takeover.
        takeover: bool,
    },
    /// The SaaS accepted a revocation.
    Revocation {
        /// Account.
        account: &'a str,
        /// Session.
        session: Option<&'a str>,
        /// Scope.
        scope: &'a str,
        /// The takeover it is about, per the ground truth (`None`: an honest user's session).
        takeover: Option<&'a TakeoverReport>,
        /// Whether this session (or account) is revoked for the first time: later alerts on it
        /// revoke it again, and the SaaS de-duplicates.
        first: bool,
    },
    /// The API's answer to `GET /v1/revocations/check` after a takeover's revocation.
    Check {
        /// The request path and query.
        request: &'a str,
        /// The answer body.
        answer: &'a str,
    },
    /// The engine processed the whole day.
    Processed,
}

/// Receives the demo's steps as they happen.
pub trait Observer {
    /// One step.
    fn note(&mut self, note: Note<'_>);
}

/// An observer that shows nothing (`--json`).
pub struct Quiet;

impl Observer for Quiet {
    fn note(&mut self, _: Note<'_>) {}
}

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
    /// Event produced to Kafka → alert emitted by the engine.
    pub latency_ms: LatencyMs,
    /// Wall-clock seconds of the whole demo.
    pub wall_secs: f64,
    /// Steps that did not complete (deliveries still pending at the end, say); empty when
    /// everything did.
    pub incomplete: Vec<String>,
}

/// Finds a shipped file relative to the working directory, else to the source tree this binary
/// was built from (so `cargo run` works from any directory of the checkout).
fn locate(rel: &str) -> Result<PathBuf, DemoError> {
    let here = Path::new(rel);
    if here.exists() {
        return Ok(here.to_path_buf());
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if built.exists() {
        return Ok(built);
    }
    Err(DemoError::Missing(here.to_path_buf()))
}

/// One event of the played day, ready to produce.
struct LiveEvent {
    ts_ms: i64,
    account_end: usize,
    /// Key (the account) followed by the JSON payload.
    bytes: Vec<u8>,
}

impl LiveEvent {
    fn key(&self) -> &[u8] {
        &self.bytes[..self.account_end]
    }
    fn payload(&self) -> &[u8] {
        &self.bytes[self.account_end..]
    }
}

/// When each event of the day was handed to the producer, microseconds after `t0` plus one
/// (0: not yet).
struct ProduceClock {
    t0: Instant,
    at: Vec<AtomicU64>,
    index: HashMap<String, u32>,
}

impl ProduceClock {
    fn mark(&self, i: usize) {
        let us = self.t0.elapsed().as_micros() as u64 + 1;
        self.at[i].store(us, Ordering::Release);
    }

    /// The latest produce time among `events` (the triggering event is the last one produced).
    fn produced(&self, events: &[String]) -> Option<Instant> {
        events
            .iter()
            .filter_map(|id| self.index.get(id))
            .map(|&i| self.at[i as usize].load(Ordering::Acquire))
            .filter(|&us| us > 0)
            .max()
            .map(|us| self.t0 + Duration::from_micros(us - 1))
    }
}

/// The engine's alert sink in the demo: `tocsin run`'s own sink (the responder: webhooks,
/// revocations, the API), plus a report of each alert to the driver.
struct DemoSink {
    production: ResponderSink,
    tx: mpsc::Sender<Happening>,
}

impl AlertSink for DemoSink {
    fn submit(&self, alert: &Alert) {
        let at = Instant::now();
        let _ = self.tx.send(Happening::Alert {
            alert: Box::new(alert.clone()),
            at,
        });
        self.production.submit(alert);
    }
}

/// The scenario: history learned, the day serialised, the truth of the day.
struct Scenario {
    live: Vec<LiveEvent>,
    truth: Truth,
    history_events: u64,
    history_alerts: u64,
}

/// Generates `HISTORY_DAYS + 1` days with the takeovers on the last; learns the history through
/// `pipeline` in event time and keeps the last day as native JSON.
fn prepare(cfg: &DemoConfig, pipeline: &Pipeline) -> Scenario {
    let gen_cfg = GenConfig {
        accounts: cfg.accounts,
        days: HISTORY_DAYS + 1,
        seed: cfg.seed,
        attacks: vec![AttackKind::Infostealer],
        start_ms: cfg.day_ms - HISTORY_DAYS as i64 * DAY_MS,
        attack_day: Some(HISTORY_DAYS),
    };
    let mut live = Vec::new();
    let mut stats = RecordStats::default();
    let mut alerts = Vec::new();
    let mut line = Vec::with_capacity(512);
    let summary = gen::generate(&gen_cfg, &mut |ev| {
        if ev.ts_ms < cfg.day_ms {
            line.clear();
            ev.write_json(&mut line)?;
            pipeline.process_record(
                Format::Native,
                &line,
                None,
                &mut stats,
                &mut alerts,
                &mut |_| {},
            );
            alerts.clear();
        } else {
            let mut bytes = Vec::with_capacity(ev.account.len() + 320);
            bytes.extend_from_slice(ev.account.as_bytes());
            let account_end = bytes.len();
            ev.write_json(&mut bytes)?;
            live.push(LiveEvent {
                ts_ms: ev.ts_ms,
                account_end,
                bytes,
            });
        }
        Ok(())
    });
    // The sink above only fails on a write into a Vec, which cannot fail.
    let truth = summary.map(|s| s.truth).unwrap_or_default();
    Scenario {
        live,
        truth,
        history_events: stats.events,
        history_alerts: stats.alerts_total(),
    }
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

/// Everything running while the day streams; torn down by [`Engine::stop`].
struct Engine {
    rt: tokio::runtime::Runtime,
    stop_source: Arc<AtomicBool>,
    source: std::thread::JoinHandle<Result<crate::source::kafka::RunSummary, KafkaSourceError>>,
    stop_async: Arc<AtomicBool>,
    responder: Responder,
    receivers: tokio::task::JoinHandle<()>,
    api: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Engine {
    fn stop(self) -> Result<(), DemoError> {
        self.stop_source.store(true, Ordering::Relaxed);
        let source = self
            .source
            .join()
            .map_err(|_| DemoError::Stalled("the Kafka source thread panicked".into()))?;
        // Only now: the source's last alerts have reached the responder.
        self.stop_async.store(true, Ordering::Relaxed);
        let (responder, receivers, api) = (self.responder, self.receivers, self.api);
        self.rt.block_on(async move {
            responder.join().await;
            let _ = receivers.await;
            if let Ok(Err(e)) = api.await {
                tracing::warn!(error = %e, "demo API stopped with an error");
            }
        });
        source?;
        Ok(())
    }
}

/// Plays the demo, reporting each step to `observer`.
pub fn run(cfg: &DemoConfig, observer: &mut dyn Observer) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let state = tempfile::Builder::new()
        .prefix("tocsin-demo-")
        .tempdir()
        .map_err(io("creating the demo's state directory"))?;
    let webhook_secret: [u8; 24] = rand::random();
    let whsec = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, webhook_secret)
    );
    let api_token = format!("demo-{:032x}", rand::random::<u128>());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))?;
    let (tx, rx) = mpsc::channel::<Happening>();
    // The async parts (receivers, responder, API) stop once this is set, after the source.
    let stop_async = Arc::new(AtomicBool::new(false));
    let stopped = || engine::stopped(stop_async.clone());

    let (soc_addr, saas_addr, receivers_task) = rt
        .block_on(receivers::start(
            webhook_secret.to_vec(),
            tx.clone(),
            stopped(),
        ))
        .map_err(io("starting the SOC and SaaS receivers"))?;

    let mut settings = Settings::default();
    settings.geoip.city = vec![locate("testdata/geo/GeoLite2-City-Test.mmdb")?];
    settings.geoip.asn = Some(locate("testdata/geo/GeoLite2-ASN-Test.mmdb")?);
    settings.rules.dir = locate("rules")?;
    settings.state.dir = state.path().join("engine");
    settings.sinks.webhook = vec![WebhookSettings {
        url: format!("http://{soc_addr}{}", receivers::SOC_PATH),
        name: Some("soc".into()),
        secret: Some(whsec.into()),
        secret_env: None,
        min_severity: SOC_MIN_SEVERITY,
        format: WebhookFormat::Json,
        headers: BTreeMap::new(),
        max_attempts: 12,
        timeout_ms: 5_000,
    }];
    settings.revocation.url = Some(format!("http://{saas_addr}{}", receivers::SAAS_PATH));
    let zone_name = settings.detect.default_timezone.clone();
    let zone = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);

    let pipeline = Arc::new(Pipeline::from_settings(&settings)?);

    observer.note(Note::Learning {
        days: HISTORY_DAYS,
        accounts: cfg.accounts,
    });
    let learn_start = Instant::now();
    let scenario = prepare(cfg, &pipeline);
    observer.note(Note::Learned {
        events: scenario.history_events,
        alerts: scenario.history_alerts,
        secs: learn_start.elapsed().as_secs_f64(),
    });

    let metrics = Arc::new(Metrics::new());
    let responder = {
        let _guard = rt.enter();
        Responder::start(&settings, metrics, stopped())?
    };

    let cluster = MockCluster::new(1).map_err(kafka("starting"))?;
    let topics = ["tocsin-alerts", "tocsin-revocations", "tocsin-dead-letter"];
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .map_err(kafka("creating the input topic"))?;
    for t in topics {
        cluster
            .create_topic(t, 1, 1)
            .map_err(kafka("creating an output topic"))?;
    }
    let brokers = cluster.bootstrap_servers();
    let kafka_settings = KafkaSettings {
        brokers: brokers.clone(),
        topics: vec![TOPIC.to_string()],
        group_id: "tocsin-demo".into(),
        format: Format::Native,
        dead_letter_topic: topics[2].into(),
        alerts_topic: topics[0].into(),
        revocations_topic: topics[1].into(),
        batch_max_delay_ms: crate::settings::default_batch_max_delay_ms(),
        // The broker holds an empty fetch this long: short, so a trickle is seen at once.
        properties: BTreeMap::from([("fetch.wait.max.ms".to_string(), "5".to_string())]),
        sasl_password_env: None,
    };
    let checkpoints = CheckpointStore::new(state.path().join("checkpoint"));
    let sink = Arc::new(DemoSink {
        production: ResponderSink(responder.clone()),
        tx: tx.clone(),
    });
    let source = KafkaSource::new(
        kafka_settings,
        pipeline.clone(),
        checkpoints.clone(),
        // `tocsin run` saves the detector and revocations in every checkpoint so a restart
        // resumes; the demo never restarts, and its checkpoints only report progress, so they
        // carry the offsets alone and stay cheap at five a second.
        Vec::new(),
        sink,
        SourceOptions {
            workers: 2,
            // Progress is read back from the checkpoints, so take them often; not too often,
            // since each one pauses dispatching while the workers drain.
            checkpoint_interval: Duration::from_millis(200),
            // When paced, hand each message over at once rather than wait for a batch.
            batch_records: if cfg.speed > 0.0 { 1 } else { 64 },
            ..SourceOptions::default()
        },
    );
    let ready = source.ready_flag();
    let stop_source = Arc::new(AtomicBool::new(false));
    let source_thread = std::thread::Builder::new()
        .name("tocsin-demo-source".into())
        .spawn({
            let stop = stop_source.clone();
            move || source.run(&stop)
        })
        .map_err(io("starting the Kafka source"))?;
    let api_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("binding the API"))?;
    let api_addr = api_listener
        .local_addr()
        .map_err(io("reading the API's address"))?;
    let api = engine::spawn_api(
        rt.handle(),
        engine::ApiEndpoint {
            listener: api_listener,
            tokens: Tokens::default().with_token("demo", Role::Reader, &api_token),
            tls: None,
        },
        pipeline.clone(),
        responder.clone(),
        ready.clone(),
        stop_async.clone(),
    )
    .map_err(io("starting the API"))?;
    let engine = Engine {
        rt,
        stop_source,
        source: source_thread,
        stop_async,
        responder,
        receivers: receivers_task,
        api,
    };

    let soc_url = format!("http://{soc_addr}{}", receivers::SOC_PATH);
    let saas_url = format!("http://{saas_addr}{}", receivers::SAAS_PATH);
    let api_url = format!("http://{api_addr}");
    observer.note(Note::Joining {
        brokers: &brokers,
        soc: &soc_url,
        saas: &saas_url,
        api: &api_url,
    });
    let join_deadline = Instant::now() + Duration::from_secs(30);
    while !ready.load(Ordering::Relaxed) {
        if engine.source.is_finished() || Instant::now() > join_deadline {
            let _ = engine.stop();
            return Err(DemoError::Stalled(
                "the engine's consumer group got no partitions within 30 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let result = stream_and_watch(
        cfg,
        observer,
        &engine,
        &brokers,
        scenario,
        &rx,
        &checkpoints,
        ApiAccess {
            url: &api_url,
            token: &api_token,
        },
        &zone,
        &zone_name,
    );
    let stopped = engine.stop();
    drop(cluster);
    let mut report = result?;
    stopped?;
    report.wall_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Per-takeover bookkeeping while the day plays.
struct Tracked {
    truth: AttackTruth,
    /// The ground truth of this attack alone, to ask [`eval`] whether an alert is about it.
    alone: Truth,
    report: TakeoverReport,
}

/// Everything observed on the played day: the alerts, what reached the SOC and the SaaS, and
/// each takeover's fate. Fed one [`Happening`] at a time by the driver's loop.
struct Ledger<'a> {
    day_ms: i64,
    zone: &'a jiff::tz::TimeZone,
    zone_name: &'a str,
    clock: Arc<ProduceClock>,
    tracked: Vec<Tracked>,
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
    fn new(
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

    fn on_alert(&mut self, alert: Alert, at: Instant, observer: &mut dyn Observer) {
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

    fn on_webhook(
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
    fn on_revocation(
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
    fn delivered(&self) -> bool {
        self.expected_webhooks
            .iter()
            .all(|id| self.webhooks.contains(id))
            && self
                .expected_revocations
                .iter()
                .all(|id| self.revoked_alerts.contains(id))
    }

    fn undelivered(&self) -> String {
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

    fn into_report(self, truth: &Truth) -> DemoReport {
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

/// Where the driver reaches the engine's API.
struct ApiAccess<'a> {
    url: &'a str,
    token: &'a str,
}

/// Streams the day into Kafka and follows what happens until the engine has processed it and
/// every delivery it asked for has landed (or time is up).
// The driver needs every piece of the running demo; bundling them in a struct would only
// rename the arguments.
#[allow(clippy::too_many_arguments)]
fn stream_and_watch(
    cfg: &DemoConfig,
    observer: &mut dyn Observer,
    engine: &Engine,
    brokers: &str,
    scenario: Scenario,
    rx: &mpsc::Receiver<Happening>,
    checkpoints: &CheckpointStore,
    api: ApiAccess<'_>,
    zone: &jiff::tz::TimeZone,
    zone_name: &str,
) -> Result<DemoReport, DemoError> {
    let Scenario {
        live,
        truth,
        history_events,
        history_alerts,
    } = scenario;
    let day = crate::timefmt::rfc3339(cfg.day_ms)[..10].to_string();
    let mut index = HashMap::with_capacity(live.len());
    for (i, ev) in live.iter().enumerate() {
        if let Some(id) = event_id(ev.payload()) {
            index.insert(id, i as u32);
        }
    }
    let clock = Arc::new(ProduceClock {
        t0: Instant::now(),
        at: (0..live.len()).map(|_| AtomicU64::new(0)).collect(),
        index,
    });
    let mut ledger = Ledger::new(&truth, clock.clone(), cfg.day_ms, zone, zone_name)?;
    observer.note(Note::Streaming {
        events: live.len(),
        day: &day,
        speed: cfg.speed,
    });
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "1")
        .create()
        .map_err(kafka("creating the producer"))?;
    let producer = Arc::new(producer);
    let produced_events = live.len() as u64;
    let stream_start = Instant::now();
    let mut producing = Some(
        std::thread::Builder::new()
            .name("tocsin-demo-producer".into())
            .spawn({
                let producer = producer.clone();
                let speed = cfg.speed;
                move || produce(&producer, &live, &clock, speed)
            })
            .map_err(io("starting the producer"))?,
    );

    let mut end_offsets: Option<BTreeMap<i32, i64>> = None;
    let mut processed_at: Option<Instant> = None;
    let mut delivery_deadline = None;
    let mut incomplete = Vec::new();
    let pace = if cfg.speed > 0.0 {
        Duration::from_secs_f64(DAY_MS as f64 / 1000.0 / cfg.speed)
    } else {
        Duration::ZERO
    };
    let overall_deadline = Instant::now() + pace + Duration::from_secs(60);

    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(Happening::Alert { alert, at }) => ledger.on_alert(*alert, at, observer),
            Ok(Happening::Webhook {
                webhook_id,
                alert_id,
                verified,
                ..
            }) => ledger.on_webhook(&webhook_id, alert_id, verified, observer),
            Ok(Happening::Revocation {
                account,
                session,
                scope,
                alert_id,
                at,
                ..
            }) => {
                let cut = ledger.on_revocation(
                    &account,
                    session.as_deref(),
                    &scope,
                    alert_id,
                    at,
                    observer,
                );
                if let Some(i) = cut {
                    // Ask the API what an enforcement point would ask: is this session revoked?
                    let request = format!(
                        "/v1/revocations/check?account={account}&session={}",
                        session.as_deref().unwrap_or("")
                    );
                    let answer = engine
                        .rt
                        .block_on(api_get(api.url, &request, api.token))
                        .unwrap_or_else(|e| {
                            serde_json::json!({"error": e.to_string()}).to_string()
                        });
                    ledger.tracked[i].report.check_revoked =
                        serde_json::from_str::<serde_json::Value>(&answer)
                            .ok()
                            .and_then(|v| v.get("revoked").and_then(|r| r.as_bool()));
                    observer.note(Note::Check {
                        request: &request,
                        answer: &answer,
                    });
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }

        if producing.as_ref().is_some_and(|p| p.is_finished()) {
            if let Some(p) = producing.take() {
                p.join()
                    .map_err(|_| DemoError::Stalled("the producer thread panicked".into()))??;
                end_offsets = Some(high_watermarks(&producer)?);
            }
        }
        if processed_at.is_none()
            && end_offsets
                .as_ref()
                .is_some_and(|ends| consumed_up_to(checkpoints, ends))
        {
            processed_at = Some(Instant::now());
            delivery_deadline = Some(Instant::now() + DELIVERY_WAIT);
            observer.note(Note::Processed);
        }
        if let Some(deadline) = delivery_deadline {
            if ledger.delivered() {
                break;
            }
            if Instant::now() > deadline {
                incomplete.push(ledger.undelivered());
                break;
            }
        }
        if engine.source.is_finished() {
            incomplete.push("the engine's Kafka source stopped early".into());
            break;
        }
        if Instant::now() > overall_deadline {
            incomplete.push(match processed_at {
                None => "the engine had not processed the whole day in time".into(),
                Some(_) => "deliveries had not finished in time".into(),
            });
            break;
        }
    }

    let elapsed = processed_at
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(stream_start)
        .as_secs_f64();
    Ok(DemoReport {
        day,
        accounts: cfg.accounts,
        seed: cfg.seed,
        history_events,
        history_alerts,
        events: produced_events,
        events_per_sec: if elapsed > 0.0 {
            produced_events as f64 / elapsed
        } else {
            0.0
        },
        incomplete,
        ..ledger.into_report(&truth)
    })
}

/// The `id` of a native event, read back from its JSON.
fn event_id(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_slice::<Id>(payload).ok()?.id
}

/// Produces the day in event-time order, keyed by account, paced by `speed`; flushes at the end.
fn produce(
    producer: &ThreadedProducer<DefaultProducerContext>,
    live: &[LiveEvent],
    clock: &ProduceClock,
    speed: f64,
) -> Result<(), DemoError> {
    let first_ts = live.first().map_or(0, |e| e.ts_ms);
    let start = Instant::now();
    for (i, ev) in live.iter().enumerate() {
        if speed > 0.0 {
            let due =
                start + Duration::from_secs_f64((ev.ts_ms - first_ts) as f64 / 1000.0 / speed);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        clock.mark(i);
        let mut record = BaseRecord::to(TOPIC).key(ev.key()).payload(ev.payload());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(kafka("producing the day")(e)),
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .map_err(kafka("flushing the producer"))
}

/// The next offset of every partition of the input topic.
fn high_watermarks(
    producer: &ThreadedProducer<DefaultProducerContext>,
) -> Result<BTreeMap<i32, i64>, DemoError> {
    let mut out = BTreeMap::new();
    for p in 0..PARTITIONS {
        let (_, high) = producer
            .client()
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .map_err(kafka("reading the topic's end offsets"))?;
        out.insert(p, high);
    }
    Ok(out)
}

/// True once the engine's last checkpoint covers every message up to `ends`. The source writes
/// a checkpoint only after its workers have drained, so every alert of those messages has
/// reached the sink by then.
fn consumed_up_to(store: &CheckpointStore, ends: &BTreeMap<i32, i64>) -> bool {
    let Ok(Some(loaded)) = store.load() else {
        return ends.values().all(|&e| e == 0);
    };
    ends.iter().all(|(&p, &end)| {
        end == 0
            || loaded
                .offsets
                .get(&(TOPIC.to_string(), p))
                .is_some_and(|&o| o >= end)
    })
}

/// `GET` on the demo's API with its reader token; the body as text.
async fn api_get(base: &str, path: &str, token: &str) -> Result<String, reqwest::Error> {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .text()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_played_day_holds_the_takeovers_and_the_history_warms_the_baselines() {
        let mut settings = Settings::default();
        settings.geoip.city = vec![locate("testdata/geo/GeoLite2-City-Test.mmdb").unwrap()];
        settings.geoip.asn = Some(locate("testdata/geo/GeoLite2-ASN-Test.mmdb").unwrap());
        settings.rules.dir = locate("rules").unwrap();
        let pipeline = Pipeline::from_settings(&settings).unwrap();
        let cfg = DemoConfig {
            accounts: 60,
            ..DemoConfig::default()
        };
        let s = prepare(&cfg, &pipeline);
        assert!(!s.truth.attacks.is_empty());
        for a in &s.truth.attacks {
            assert_eq!(a.kind, "infostealer");
            assert!(a.start.starts_with("2025-11-10"), "{}", a.start);
        }
        assert!(s.history_events > 10 * s.live.len() as u64);
        assert!(s.live.iter().all(|e| e.ts_ms >= cfg.day_ms));
        assert!(s.live.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
        let attack_events: HashSet<&str> = s.truth.attacks[0]
            .events
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        let streamed = s
            .live
            .iter()
            .filter_map(|e| event_id(e.payload()))
            .filter(|id| attack_events.contains(id.as_str()))
            .count();
        assert_eq!(
            streamed,
            attack_events.len(),
            "every attack event is streamed"
        );
        let first: serde_json::Value = serde_json::from_slice(s.live[0].payload()).unwrap();
        assert_eq!(
            first["account"].as_str().unwrap().as_bytes(),
            s.live[0].key()
        );
    }
}
