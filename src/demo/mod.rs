//! `tocsin demo`: a day of a medical SaaS with a stolen-password takeover in it, played end to
//! end on one machine with nothing to install.
//!
//! What runs, all in this process or on loopback:
//!
//! - librdkafka's mock cluster (a Kafka-protocol broker inside librdkafka) with the input,
//!   alerts, revocations and dead-letter topics;
//! - the engine, started by [`crate::engine::Engine::start`] exactly as `tocsin run` starts it:
//!   pipeline, responder, Kafka source and sink, the HTTP API ([`crate::api`]);
//! - the SOC's webhook receiver and the SaaS's revocation endpoint ([`receivers`]), and the
//!   SaaS's Shared Signals receiver, subscribed to the engine's CAEP `session-revoked` ([`ssf`]).
//!
//! The scenario comes from [`crate::gen`]: [`HISTORY_DAYS`] days of honest traffic are learned
//! first, straight through the engine's pipeline (as `tocsin replay` would), so baselines are
//! warm; then the last day, which holds the `infostealer` takeovers, is produced to the mock
//! topic in event time order and consumed by the engine. Every number the demo reports is
//! measured or comes from the generator's ground truth; if the detector misses the takeover, the
//! report says so.
//!
//! The driver ([`run`]) reports each step to an [`Observer`] as it happens (the terminal story
//! in [`story`]) and returns a [`DemoReport`] (the summary, and the `--json` output).
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the driver, its configuration, errors and the steps it reports |
//! | `assembly.rs` | what runs: the receivers, the mock cluster, the engine's settings and options |
//! | `history.rs` | the generated scenario and the history learned before the day |
//! | `stream.rs` | producing the day and following what happens until it is all delivered |
//! | `report.rs` | the report and the ledger of each takeover's fate |
//! | [`receivers`] | the SOC's webhook receiver and the SaaS's revocation endpoint |
//! | [`ssf`] | the SaaS's Shared Signals receiver: subscribes, checks each pushed SET |
//! | [`story`] | the terminal story |

mod assembly;
mod history;
pub mod receivers;
mod report;
pub mod ssf;
pub mod story;
mod stream;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;

use crate::alert::{Alert, Severity};
use crate::engine::EngineError;
use crate::gen::AttackTruth;
use crate::timefmt::{days_from_civil, DAY_MS};

pub use report::{DemoReport, LatencyMs, TakeoverReport};

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
    /// The engine could not start, or its Kafka source stopped early.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The mock cluster or the producer failed.
    #[error("kafka mock cluster: {context}: {source}")]
    Kafka {
        /// What the demo was doing.
        context: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
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
    /// The SaaS's Shared Signals receiver got a SET.
    SharedSignal {
        /// The event's short name (`session-revoked`).
        event: String,
        /// `sub_id` user.
        account: String,
        /// `sub_id` session.
        session: Option<String>,
        /// The SET's `jti`.
        jti: String,
        /// The receiver's check of signature, `typ`, `iss` and `aud`.
        verified: Result<(), String>,
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
    /// The SaaS's Shared Signals receiver subscribed (a push stream).
    Subscribed {
        /// The stream id.
        stream_id: &'a str,
    },
    /// The SaaS's Shared Signals receiver got a SET.
    SharedSignal {
        /// The event's short name.
        event: &'a str,
        /// Account.
        account: &'a str,
        /// Session.
        session: Option<&'a str>,
        /// `jti`.
        jti: &'a str,
        /// Its check.
        verified: Result<(), &'a str>,
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

/// Plays the demo, reporting each step to `observer`.
pub fn run(cfg: &DemoConfig, observer: &mut dyn Observer) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<Happening>();
    let demo = assembly::Demo::start(cfg, tx)?;

    observer.note(Note::Learning {
        days: HISTORY_DAYS,
        accounts: cfg.accounts,
    });
    let learn_start = Instant::now();
    // Nothing is on the input topic yet: the engine idles while its pipeline learns.
    let scenario = history::prepare(cfg, demo.engine.pipeline());
    observer.note(Note::Learned {
        events: scenario.history_events,
        alerts: scenario.history_alerts,
        secs: learn_start.elapsed().as_secs_f64(),
    });

    observer.note(Note::Joining {
        brokers: &demo.brokers,
        soc: &demo.soc_url,
        saas: &demo.saas_url,
        api: demo.engine.api_url(),
    });
    let join_deadline = Instant::now() + Duration::from_secs(30);
    while !demo.engine.is_ready() {
        if demo.engine.source_finished() || Instant::now() > join_deadline {
            let _ = demo.stop();
            return Err(DemoError::Stalled(
                "the engine's consumer group got no partitions within 30 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let subscribed = demo.rt.block_on(ssf::subscribe(
        &demo.ssf,
        demo.engine.api_url(),
        &demo.ssf_token,
        &demo.ssf_url,
    ));
    match subscribed {
        Ok(stream_id) => observer.note(Note::Subscribed {
            stream_id: &stream_id,
        }),
        Err(e) => {
            let _ = demo.stop();
            return Err(DemoError::Stalled(format!(
                "the SaaS could not subscribe to shared signals: {e}"
            )));
        }
    }

    let result = stream::stream_and_watch(cfg, observer, &demo, scenario, &rx);
    let stopped = demo.stop();
    let mut report = result?;
    stopped?;
    report.wall_secs = started.elapsed().as_secs_f64();
    Ok(report)
}
