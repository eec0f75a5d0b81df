//! What the demo runs around the engine, and the settings it runs the engine with: the SOC and
//! SaaS receivers, librdkafka's mock cluster, a throw-away state directory, and the engine itself
//! started through [`Engine::start`], like `tocsin run` — only its settings and a few
//! [`EngineOptions`] differ. Torn down by [`Demo::stop`] in the engine's own order, then the
//! receivers and the cluster.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::{io, kafka, locate, receivers, ssf, DemoConfig, DemoError, Happening};
use super::{PARTITIONS, SOC_MIN_SEVERITY, TOPIC};
use crate::alert::Alert;
use crate::api::Tokens;
use crate::engine::{self, CheckpointParts, Engine, EngineOptions};
use crate::settings::{KafkaSettings, Role, Settings, WebhookFormat, WebhookSettings};
use crate::source::decode::Format;

/// The output topics on the mock cluster: alerts, revocations, dead letters.
const OUTPUT_TOPICS: [&str; 3] = ["tocsin-alerts", "tocsin-revocations", "tocsin-dead-letter"];

/// Everything running while the day streams.
pub(super) struct Demo {
    /// The engine, as `tocsin run` assembles it.
    pub(super) engine: Engine,
    /// The runtime of the receivers, the engine's responder and API, and the driver's API calls.
    pub(super) rt: tokio::runtime::Runtime,
    /// The mock cluster's bootstrap servers.
    pub(super) brokers: String,
    /// Where the SOC receives webhooks.
    pub(super) soc_url: String,
    /// Where the SaaS receives revocations.
    pub(super) saas_url: String,
    /// The API's reader token.
    pub(super) api_token: String,
    /// The SaaS's Shared Signals receiver.
    pub(super) ssf: Arc<ssf::SsfReceiver>,
    /// Where it takes pushes.
    pub(super) ssf_url: String,
    /// Its `receiver` token.
    pub(super) ssf_token: String,
    /// The detector's default time zone, for the story's local times.
    pub(super) zone: jiff::tz::TimeZone,
    /// Its name.
    pub(super) zone_name: String,
    receivers: tokio::task::JoinHandle<()>,
    stop_receivers: Arc<AtomicBool>,
    cluster: MockCluster<'static, DefaultProducerContext>,
    /// The engine's state directory; removed last.
    state: tempfile::TempDir,
}

impl Demo {
    /// Starts the receivers, the mock cluster and the engine; every alert the engine raises is
    /// also reported on `tx`, with the receivers' webhooks and revocations.
    pub(super) fn start(cfg: &DemoConfig, tx: mpsc::Sender<Happening>) -> Result<Demo, DemoError> {
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
        // The receivers stop after the engine, so that every delivery it makes lands.
        let stop_receivers = Arc::new(AtomicBool::new(false));
        let ssf = Arc::new(ssf::SsfReceiver {
            subscription: Default::default(),
            tx: tx.clone(),
        });
        let (soc_addr, saas_addr, receivers_task) = rt
            .block_on(receivers::start(
                webhook_secret.to_vec(),
                ssf.clone(),
                tx.clone(),
                engine::stopped(stop_receivers.clone()),
            ))
            .map_err(io("starting the SOC and SaaS receivers"))?;
        let soc_url = format!("http://{soc_addr}{}", receivers::SOC_PATH);
        let saas_url = format!("http://{saas_addr}{}", receivers::SAAS_PATH);
        let ssf_url = format!("http://{saas_addr}{}", ssf::SSF_PATH);
        let ssf_token = format!("demo-ssf-{:032x}", rand::random::<u128>());

        let cluster = mock_cluster()?;
        let brokers = cluster.bootstrap_servers();
        let mut settings = settings(state.path(), &brokers, &soc_url, &saas_url, whsec)?;
        // Shared Signals name their issuer, the API's URL, before the API starts: take a free
        // loopback port now and have the API listen there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io("finding a free port for the API"))?
            .port();
        settings.api.listen = SocketAddr::from(([127, 0, 0, 1], port));
        settings.ssf = Some(
            toml::from_str(&format!("issuer = \"http://127.0.0.1:{port}\""))
                .expect("a valid [ssf] section"),
        );
        let zone_name = settings.detect.default_timezone.clone();
        let zone = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);

        let options = EngineOptions {
            // Progress is read back from the checkpoints, so take them often; not too often,
            // since each one pauses dispatching while the workers drain.
            checkpoint_interval: Some(Duration::from_millis(200)),
            workers: Some(2),
            // When paced, hand each message over at once rather than wait for a batch.
            batch_records: Some(if cfg.speed > 0.0 { 1 } else { 64 }),
            // `tocsin run` saves the detector and revocations in every checkpoint so a restart
            // resumes; the demo never restarts, and its checkpoints only report progress, so
            // they carry the offsets alone and stay cheap at five a second.
            checkpoint_parts: CheckpointParts::OffsetsOnly,
            api_tokens: Some(
                Tokens::default()
                    .with_token("demo", Role::Reader, &api_token)
                    .with_token("saas-ssf", Role::Receiver, &ssf_token),
            ),
            runtime: Some(rt.handle().clone()),
            alert_tap: Some(Arc::new(move |alert: &Alert| {
                let at = Instant::now();
                let _ = tx.send(Happening::Alert {
                    alert: Box::new(alert.clone()),
                    at,
                });
            })),
        };
        let engine = Engine::start(&settings, options, Arc::new(AtomicBool::new(false)))?;
        Ok(Demo {
            engine,
            rt,
            brokers,
            soc_url,
            saas_url,
            api_token,
            ssf,
            ssf_url,
            ssf_token,
            zone,
            zone_name,
            receivers: receivers_task,
            stop_receivers,
            cluster,
            state,
        })
    }

    /// Stops the engine (source, responder, API, in its order), then the receivers, then the
    /// cluster.
    pub(super) fn stop(self) -> Result<(), DemoError> {
        let Demo {
            engine,
            rt,
            receivers,
            stop_receivers,
            cluster,
            state,
            ..
        } = self;
        let stopped = engine.stop();
        stop_receivers.store(true, Ordering::Relaxed);
        let _ = rt.block_on(receivers);
        drop(cluster);
        drop(rt);
        drop(state);
        stopped?;
        Ok(())
    }
}

/// The mock cluster with the input and output topics.
fn mock_cluster() -> Result<MockCluster<'static, DefaultProducerContext>, DemoError> {
    let cluster = MockCluster::new(1).map_err(kafka("starting"))?;
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .map_err(kafka("creating the input topic"))?;
    for t in OUTPUT_TOPICS {
        cluster
            .create_topic(t, 1, 1)
            .map_err(kafka("creating an output topic"))?;
    }
    Ok(cluster)
}

/// The engine's settings: the shipped rules and GeoIP test databases, state in `state`, the API
/// on a free loopback port, the SOC's webhook, the SaaS's revocation endpoint, and the mock
/// cluster's topics.
fn settings(
    state: &Path,
    brokers: &str,
    soc_url: &str,
    saas_url: &str,
    whsec: String,
) -> Result<Settings, DemoError> {
    let mut settings = Settings::default();
    settings.geoip.city = vec![locate("testdata/geo/GeoLite2-City-Test.mmdb")?];
    settings.geoip.asn = Some(locate("testdata/geo/GeoLite2-ASN-Test.mmdb")?);
    settings.state.dir = state.join("engine");
    settings.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.sinks.webhook = vec![WebhookSettings {
        url: soc_url.to_string(),
        name: Some("soc".into()),
        secret: Some(whsec.into()),
        secret_env: None,
        min_severity: SOC_MIN_SEVERITY,
        format: WebhookFormat::Json,
        headers: BTreeMap::new(),
        max_attempts: 12,
        timeout_ms: 5_000,
        allow_insecure_http: false,
    }];
    settings.revocation.url = Some(saas_url.to_string());
    settings.source.kafka = Some(KafkaSettings {
        brokers: brokers.to_string(),
        topics: vec![TOPIC.to_string()],
        group_id: "tocsin-demo".into(),
        format: Format::Native,
        dead_letter_topic: OUTPUT_TOPICS[2].into(),
        alerts_topic: OUTPUT_TOPICS[0].into(),
        revocations_topic: OUTPUT_TOPICS[1].into(),
        batch_max_delay_ms: crate::settings::default_batch_max_delay_ms(),
        // The broker holds an empty fetch this long: short, so a trickle is seen at once.
        properties: BTreeMap::from([("fetch.wait.max.ms".to_string(), "5".to_string())]),
        sasl_password_env: None,
    });
    Ok(settings)
}
