//! The engine's one way out for what the Kafka source produces: [`KafkaSink`]. Each alert goes
//! to the [`Responder`] (webhooks, revocation, the API's list) and to the alerts topic; each
//! revocation the responder records (automatic or by hand, and lifts) to the revocations topic;
//! each record the pipeline refused goes to the dead-letter topic. Every record produced is
//! counted against the output epoch the source tagged it with until the brokers acknowledge it,
//! and every alert until the responder reports it durable (revocation log and outbox fsynced),
//! so that a checkpoint is only written once its epoch's outputs are delivered (see the source's
//! module doc).
//!
//! Stops here: what an alert means is the pipeline's business, what the responder does with it
//! is [`Responder`]'s, and the epochs themselves are the source's.
//!
//! # Records
//!
//! - **Alerts topic**: key = the account, payload = the alert as JSON, as webhooks and the API show it.
//! - **Revocations topic**: key = the account, payload = the revocation exactly as
//!   `GET /v1/revocations` serves it ([`Revocation`]: `id`, the same `Idempotency-Key` the
//!   outbound call carries; `account`, `session`, `scope`, `reason`, `alert_id`, `created_at`,
//!   `expires_at`, `lifted_at` once lifted, `cursor`). A lift is published as the revocation's
//!   new state. Revocations made or lifted by hand are published too; they belong to no epoch.
//! - **Dead-letter topic**: the refused record's key and payload, with the headers
//!   `tocsin-reason` (a stable reason name), `tocsin-detail`, `tocsin-source-topic`,
//!   `tocsin-source-partition` and `tocsin-source-offset`. Payloads over
//!   [`DEAD_LETTER_MAX_PAYLOAD`] are cut to that size (header `tocsin-truncated-from` gives the
//!   original length), so one oversized message cannot make the dead-letter write fail and stall
//!   the partition.
//!
//! An empty topic name turns that output off.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::revoke::Revocation;
use super::{Outlet, Responder};
use crate::alert::Alert;
use crate::settings::KafkaSettings;
use crate::source::kafka::{
    client_config, DeadLetter, Epoch, KafkaSourceError, OutputError, OutputSink,
};

/// Dead-letter payloads are cut to this many bytes.
pub const DEAD_LETTER_MAX_PAYLOAD: usize = 512 * 1024;

/// Shown every alert on its way out, before the responder and the topics (the demo's story
/// watches the engine through it).
pub type AlertTap = Arc<dyn Fn(&Alert) + Send + Sync>;

/// The Kafka source's outputs: the alerts, revocations and dead-letter topics, and the
/// responder. Build it with [`KafkaSink::new`] and hand it to the source as its
/// [`OutputSink`].
pub struct KafkaSink {
    outputs: Arc<Outputs>,
    responder: Responder,
    tap: Option<AlertTap>,
}

/// The producer and its bookkeeping, shared by the sink (alerts, dead letters) and the
/// responder's [`Outlet`] (revocations, durable alerts).
struct Outputs {
    producer: ThreadedProducer<DeliveryContext>,
    delivery: Arc<Deliveries>,
    topics: OutputTopics,
    revocations: AtomicU64,
}

/// The delivery opaque of a record that belongs to no epoch (a revocation made by hand).
const NO_EPOCH: usize = usize::MAX;

impl KafkaSink {
    /// A sink producing to `settings`' output topics (with the source's connection settings)
    /// and handing every alert to `responder`, which publishes its revocations through it.
    pub fn new(
        settings: &KafkaSettings,
        responder: Responder,
    ) -> Result<KafkaSink, KafkaSourceError> {
        let delivery = Arc::new(Deliveries::default());
        let mut c = client_config(settings)?;
        c.set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        let producer = c
            .create_with_context(DeliveryContext(delivery.clone()))
            .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
        let outputs = Arc::new(Outputs {
            producer,
            delivery,
            topics: OutputTopics::from(settings),
            revocations: AtomicU64::new(0),
        });
        responder.set_outlet(outputs.clone());
        Ok(KafkaSink {
            outputs,
            responder,
            tap: None,
        })
    }

    /// Shows every alert to `tap` first.
    pub fn with_tap(mut self, tap: AlertTap) -> KafkaSink {
        self.tap = Some(tap);
        self
    }

    /// Hands an alert of `epoch` to the responder, counted in the epoch until the responder
    /// reports it durable. Blocks while the responder's bounded queue is full: backpressure
    /// reaches the consumer instead of memory growing.
    fn respond(&self, epoch: Epoch, alert: &Alert) {
        let delivery = &self.outputs.delivery;
        delivery.sent(epoch.slot());
        if self
            .responder
            .blocking_submit_in(alert.clone(), epoch)
            .is_err()
        {
            delivery.fail(format!(
                "the responder has stopped; alert {} not acted on",
                alert.id
            ));
            delivery.settled(epoch.slot());
        }
    }
}

impl Outputs {
    /// Hands a record to the producer, waiting while its queue is full (backpressure from the
    /// brokers reaches the workers, then the dispatcher). The record's opaque is its epoch slot,
    /// or [`NO_EPOCH`]. Other errors are delivery failures.
    fn produce(&self, mut record: BaseRecord<'_, [u8], [u8], usize>) {
        let slot = record.delivery_opaque;
        if slot != NO_EPOCH {
            self.delivery.sent(slot);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, back)) => {
                    self.delivery
                        .failed(slot, format!("to {}: {e}", back.topic));
                    return;
                }
            }
        }
    }
}

impl Outlet for Outputs {
    fn revocation(&self, rev: &Revocation, epoch: Option<Epoch>) {
        if self.topics.revocations.is_empty() {
            return;
        }
        let json = match serde_json::to_vec(rev) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(revocation_id = %rev.id, error = %e, "revocation not published");
                return;
            }
        };
        if epoch.is_some() {
            self.revocations.fetch_add(1, Ordering::Relaxed);
        }
        self.produce(
            BaseRecord::with_opaque_to(
                &self.topics.revocations,
                epoch.map_or(NO_EPOCH, Epoch::slot),
            )
            .key(rev.account.as_bytes())
            .payload(json.as_slice()),
        );
    }

    fn handled(&self, epoch: Epoch, durable: Result<(), String>) {
        if let Err(what) = durable {
            self.delivery.fail(what);
        }
        self.delivery.settled(epoch.slot());
    }
}

thread_local! {
    /// Each worker thread's buffer for the JSON it produces, kept from alert to alert.
    static JSON: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(2048));
}

impl OutputSink for KafkaSink {
    fn alert(&self, epoch: Epoch, alert: &Alert) {
        if let Some(tap) = &self.tap {
            tap(alert);
        }
        self.respond(epoch, alert);
        let out = &self.outputs;
        if out.topics.alerts.is_empty() {
            return;
        }
        JSON.with(|json| {
            let json = &mut *json.borrow_mut();
            json.clear();
            if serde_json::to_writer(&mut *json, alert).is_ok() {
                out.produce(
                    BaseRecord::with_opaque_to(&out.topics.alerts, epoch.slot())
                        .key(alert.account.as_bytes())
                        .payload(json.as_slice()),
                );
            }
        });
    }

    fn dead_letter(&self, epoch: Epoch, letter: &DeadLetter<'_>) {
        let out = &self.outputs;
        if out.topics.dead_letter.is_empty() {
            return;
        }
        let rej = letter.rejection;
        let partition = letter.partition.to_string();
        let offset = letter.offset.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(6)
            .insert(Header {
                key: "tocsin-reason",
                value: Some(rej.kind.as_str()),
            })
            .insert(Header {
                key: "tocsin-detail",
                value: Some(truncate_str(&rej.detail, 1024)),
            })
            .insert(Header {
                key: "tocsin-source-topic",
                value: Some(letter.topic),
            })
            .insert(Header {
                key: "tocsin-source-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "tocsin-source-offset",
                value: Some(offset.as_str()),
            });
        let payload = letter.payload;
        let body = if payload.len() > DEAD_LETTER_MAX_PAYLOAD {
            let len = payload.len().to_string();
            headers = headers.insert(Header {
                key: "tocsin-truncated-from",
                value: Some(len.as_str()),
            });
            &payload[..DEAD_LETTER_MAX_PAYLOAD]
        } else {
            payload
        };
        let mut record = BaseRecord::with_opaque_to(&out.topics.dead_letter, epoch.slot())
            .payload(body)
            .headers(headers);
        if let Some(k) = letter.key {
            record = record.key(k);
        }
        out.produce(record);
    }

    fn wait_delivered(&self, epoch: Epoch, abandon: &AtomicBool) -> Result<(), OutputError> {
        self.outputs.delivery.wait_settled(epoch.slot(), abandon)
    }

    fn revocations(&self) -> u64 {
        self.outputs.revocations.load(Ordering::Relaxed)
    }
}

/// Where the outputs go. Empty topic names turn an output off.
struct OutputTopics {
    dead_letter: String,
    alerts: String,
    revocations: String,
}

impl From<&KafkaSettings> for OutputTopics {
    fn from(s: &KafkaSettings) -> Self {
        OutputTopics {
            dead_letter: s.dead_letter_topic.clone(),
            alerts: s.alerts_topic.clone(),
            revocations: s.revocations_topic.clone(),
        }
    }
}

/// The outputs (dead letters, alerts, revocations) handed to the producer and not yet
/// acknowledged, and the alerts handed to the responder and not yet durable, per epoch slot, and the delivery failures since start (any one of them forbids
/// further checkpoints).
#[derive(Default)]
struct Deliveries {
    in_flight: [AtomicU64; 2],
    failures: AtomicU64,
    last: Mutex<String>,
    /// Signalled when a slot drains or a delivery fails.
    settled: Condvar,
    settled_lock: Mutex<()>,
}

impl Deliveries {
    fn sent(&self, slot: usize) {
        self.in_flight[slot].fetch_add(1, Ordering::AcqRel);
    }

    fn settled(&self, slot: usize) {
        if self.in_flight[slot].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake();
        }
    }

    /// A record with opaque `slot` was not delivered. One of an epoch forbids checkpoints; one
    /// of no epoch (a revocation made by hand, already in the revocation log) is only logged.
    fn failed(&self, slot: usize, what: String) {
        if slot == NO_EPOCH {
            tracing::error!(error = %what, "revocation made by hand not published");
        } else {
            self.fail(what);
            self.settled(slot);
        }
    }

    fn wake(&self) {
        let _guard = self.settled_lock.lock();
        self.settled.notify_all();
    }

    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = what;
        self.wake();
    }

    fn check(&self) -> Result<(), OutputError> {
        match self.failures.load(Ordering::Relaxed) {
            0 => Ok(()),
            count => Err(OutputError::Failed {
                count,
                last: self.last.lock().clone(),
            }),
        }
    }

    /// Waits until every output of `slot` is acknowledged. Fails when a delivery failed, or when
    /// `abandon` is set. Says so, once, when it waits long (the brokers are away).
    fn wait_settled(&self, slot: usize, abandon: &AtomicBool) -> Result<(), OutputError> {
        let started = Instant::now();
        let mut warned = false;
        let mut guard = self.settled_lock.lock();
        loop {
            self.check()?;
            let left = self.in_flight[slot].load(Ordering::Acquire);
            if left == 0 {
                return Ok(());
            }
            if abandon.load(Ordering::Relaxed) {
                return Err(OutputError::Abandoned { left });
            }
            if !warned && started.elapsed() >= Duration::from_secs(1) {
                warned = true;
                tracing::warn!(
                    outputs = left,
                    "checkpoint waits for dead letters, alerts or revocations to be acknowledged \
                     (brokers unreachable, or the responder behind?)"
                );
            }
            self.settled
                .wait_for(&mut guard, Duration::from_millis(100));
        }
    }
}

/// The producer's context: counts each acknowledgement (or failure) against its epoch slot.
struct DeliveryContext(Arc<Deliveries>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    /// The output's epoch slot.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: usize) {
        match result {
            Err((e, msg)) => self.0.failed(slot, format!("to {}: {e}", msg.topic())),
            Ok(_) if slot != NO_EPOCH => self.0.settled(slot),
            Ok(_) => {}
        }
    }
}

fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_truncation_respects_utf8() {
        assert_eq!(truncate_str("ééé", 3), "é");
        assert_eq!(truncate_str("abc", 10), "abc");
    }
}
