//! The played day on the wire: the day produced to the mock cluster in event-time order (paced
//! by `--speed`), and the driver's loop that follows what happens — alerts from the engine,
//! webhooks at the SOC, revocations at the SaaS, the API's answer — until the engine has
//! processed the day and every delivery it asked for has landed, or time is up.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::assembly::Demo;
use super::history::{event_id, LiveEvent, Scenario};
use super::report::{DemoReport, Ledger};
use super::DELIVERY_WAIT;
use super::{io, kafka, DemoConfig, DemoError, Happening, Note, Observer, PARTITIONS, TOPIC};
use crate::checkpoint::CheckpointStore;
use crate::timefmt::DAY_MS;

/// When each event of the day was handed to the producer, microseconds after `t0` plus one
/// (0: not yet).
pub(super) struct ProduceClock {
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
    pub(super) fn produced(&self, events: &[String]) -> Option<Instant> {
        events
            .iter()
            .filter_map(|id| self.index.get(id))
            .map(|&i| self.at[i as usize].load(Ordering::Acquire))
            .filter(|&us| us > 0)
            .max()
            .map(|us| self.t0 + Duration::from_micros(us - 1))
    }
}

/// Streams the day into Kafka and follows what happens until the engine has processed it and
/// every delivery it asked for has landed (or time is up).
pub(super) fn stream_and_watch(
    cfg: &DemoConfig,
    observer: &mut dyn Observer,
    demo: &Demo,
    scenario: Scenario,
    rx: &mpsc::Receiver<Happening>,
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
    let mut ledger = Ledger::new(
        &truth,
        clock.clone(),
        cfg.day_ms,
        &demo.zone,
        &demo.zone_name,
    )?;
    observer.note(Note::Streaming {
        events: live.len(),
        day: &day,
        speed: cfg.speed,
    });
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &demo.brokers)
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
    let mut awaited_sets = SetTally::default();

    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(happening) => {
                on_happening(happening, &mut ledger, &mut awaited_sets, demo, observer)
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
                .is_some_and(|ends| consumed_up_to(demo.engine.checkpoints(), ends))
        {
            processed_at = Some(Instant::now());
            delivery_deadline = Some(Instant::now() + DELIVERY_WAIT);
            observer.note(Note::Processed);
        }
        if let Some(deadline) = delivery_deadline {
            if ledger.delivered() && awaited_sets.complete() {
                break;
            }
            if Instant::now() > deadline {
                if !ledger.delivered() {
                    incomplete.push(ledger.undelivered());
                }
                if !awaited_sets.complete() {
                    incomplete.push("a revoked session's session-revoked SET did not reach the SaaS's SSF receiver".into());
                }
                break;
            }
        }
        if demo.engine.source_finished() {
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
        shared_signals_verified: awaited_sets.signalled.len() as u64,
        ..ledger.into_report(&truth)
    })
}

/// Sessions the SaaS revoked, and those whose verified `session-revoked` SET reached its
/// Shared Signals receiver (either may come first).
#[derive(Default)]
struct SetTally {
    revoked: std::collections::HashSet<(String, String)>,
    signalled: std::collections::HashSet<(String, String)>,
}

impl SetTally {
    /// Every revoked session has had its SET.
    fn complete(&self) -> bool {
        self.revoked.is_subset(&self.signalled)
    }
}

/// Enters one happening in the ledger. When a revocation cuts a takeover off, asks the API
/// what an enforcement point would ask: is this session revoked?
fn on_happening(
    happening: Happening,
    ledger: &mut Ledger<'_>,
    awaited_sets: &mut SetTally,
    demo: &Demo,
    observer: &mut dyn Observer,
) {
    match happening {
        Happening::SharedSignal {
            event,
            account,
            session,
            jti,
            verified,
            ..
        } => {
            // Later alerts on a revoked session revoke it again, each with its own SET (its
            // own `jti`); the story shows the first, like the SaaS's revocations.
            let first = match (&session, &verified) {
                (Some(s), Ok(())) => awaited_sets.signalled.insert((account.clone(), s.clone())),
                _ => true,
            };
            if !first {
                return;
            }
            observer.note(Note::SharedSignal {
                event: &event,
                account: &account,
                session: session.as_deref(),
                jti: &jti,
                verified: verified.as_ref().map(|_| ()).map_err(String::as_str),
            });
        }
        Happening::Alert { alert, at } => ledger.on_alert(*alert, at, observer),
        Happening::Webhook {
            webhook_id,
            alert_id,
            verified,
            ..
        } => ledger.on_webhook(&webhook_id, alert_id, verified, observer),
        Happening::Revocation {
            account,
            session,
            scope,
            alert_id,
            at,
            ..
        } => {
            if let (Some(s), "session") = (&session, scope.as_str()) {
                awaited_sets.revoked.insert((account.clone(), s.clone()));
            }
            let cut =
                ledger.on_revocation(&account, session.as_deref(), &scope, alert_id, at, observer);
            if let Some(i) = cut {
                let request = format!(
                    "/v1/revocations/check?account={account}&session={}",
                    session.as_deref().unwrap_or("")
                );
                let answer = demo
                    .rt
                    .block_on(api_get(demo.engine.api_url(), &request, &demo.api_token))
                    .unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}).to_string());
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
    }
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
