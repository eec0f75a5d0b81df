//! The Kafka source of `tocsin run`: a consumer group over the configured topics, processing
//! on worker threads, dead letters, alerts and revocations back to Kafka, and checkpoints.
//!
//! # Threads and ordering
//!
//! One *dispatcher* thread polls the consumer (rdkafka's `BaseConsumer`; rebalance callbacks run
//! on it too) and hands messages to `workers` threads in batches over **bounded** channels: when
//! the workers fall behind, the dispatcher blocks and the consumer stops fetching, so memory stays
//! bounded whatever the lag. A partition always goes to the same worker, and each worker handles
//! its queue in order, so records of one partition are processed in offset order.
//!
//! Producers should key messages by account: Kafka then puts all of an account's events in one
//! partition and the engine sees them in order, which the baselines rely on (a login before the
//! exports of its session). Without keys the producer spreads an account's events over
//! partitions; they are then processed by several workers concurrently, so an account's events
//! may be seen out of order and a session's exports may be judged before its login. Detection
//! still runs, but with weaker session context.
//!
//! # Offsets and checkpoints
//!
//! Offsets are managed by hand (`enable.auto.commit=false`, `enable.auto.offset.store=false`).
//! Periodically, when partitions are revoked and on shutdown the dispatcher *quiesces*: it stops
//! dispatching, waits until every worker has drained its queue, flushes the producer (so every
//! dead letter, alert and revocation of the processed records is acknowledged by the brokers),
//! writes a [`crate::checkpoint`] holding the state parts and the next offset of every partition,
//! and only then commits those offsets to Kafka. On start the checkpoint is restored and every
//! assigned partition is positioned at its checkpointed offset in the rebalance callback, so the
//! state and the position always agree. After a crash the engine re-processes the records since
//! the last checkpoint; alert ids are deterministic, so the alerts it re-emits carry the same ids
//! and receivers de-duplicate them (at-least-once).
//!
//! A new consumer group with no checkpoint starts at the earliest offset (`auto.offset.reset`),
//! so history already in the topic builds the baselines.
//!
//! # Dead letters
//!
//! A record that cannot be decoded is copied to the dead-letter topic with its key and payload
//! and the headers `tocsin-reason` (a stable reason name), `tocsin-detail`,
//! `tocsin-source-topic`, `tocsin-source-partition` and `tocsin-source-offset`. Payloads over
//! [`DEAD_LETTER_MAX_PAYLOAD`] are cut to that size (header `tocsin-truncated-from` gives the
//! original length), so one oversized message cannot make the dead-letter write fail and stall the
//! partition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;

use crate::alert::{Alert, ResponseAction};
use crate::checkpoint::{CheckpointError, CheckpointStore, Snapshot, SourceOffsets};
use crate::pipeline::{Pipeline, RecordStats, Skip};
use crate::settings::{secret_from_env, KafkaSettings};
use crate::source::decode::{Format, Rejection};

/// Receives every alert the Kafka source raises, besides the alerts topic (the lead connects
/// the responder: webhooks, revocations, the API's alert list). Called from worker threads;
/// must not block for long, since it holds up the worker's partitions.
pub trait AlertSink: Send + Sync {
    /// Takes one alert.
    fn submit(&self, alert: &Alert);
}

/// An [`AlertSink`] that drops alerts (they still go to the alerts topic).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAlertSink;

impl AlertSink for NoAlertSink {
    fn submit(&self, _alert: &Alert) {}
}

/// Dead-letter payloads are cut to this many bytes.
pub const DEAD_LETTER_MAX_PAYLOAD: usize = 512 * 1024;

/// A named piece of state saved in every checkpoint.
pub type StatePart = (String, Arc<dyn Snapshot>);

/// Tuning of the source; [`SourceOptions::default`] suits production.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Worker threads (default: the machine's cores).
    pub workers: usize,
    /// Time between periodic checkpoints (`[state] checkpoint_interval_secs`).
    pub checkpoint_interval: Duration,
    /// Records handed to a worker at once.
    pub batch_records: usize,
    /// Batches queued per worker before the dispatcher waits (backpressure).
    pub queue_batches: usize,
    /// How long a checkpoint may wait for workers to drain and the producer to flush.
    pub quiesce_timeout: Duration,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            checkpoint_interval: Duration::from_secs(10),
            batch_records: 256,
            queue_batches: 4,
            quiesce_timeout: Duration::from_secs(30),
        }
    }
}

/// Counts of one run, reported when it ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Messages consumed.
    pub records: u64,
    /// Events processed.
    pub events: u64,
    /// Records skipped as not applicable.
    pub not_applicable: u64,
    /// Records copied to the dead-letter topic.
    pub dead_letters: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Revocations produced.
    pub revocations: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

/// Why the Kafka source stopped: whose fault, in the message.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    /// The configuration was refused by librdkafka or is incomplete.
    #[error("kafka configuration: {0}")]
    Config(String),
    /// The broker or client failed in a way that needs a restart.
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What the engine was doing.
        context: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Produced records were not acknowledged: the engine stops without checkpointing, so on
    /// restart it re-processes them rather than lose them.
    #[error("{count} dead letters, alerts or revocations could not be produced (last: {last}); stopping without checkpoint so they are re-produced on restart")]
    Delivery {
        /// How many.
        count: u64,
        /// The last error.
        last: String,
    },
    /// The checkpoint could not be written or restored.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Workers did not drain in time, or one of them died.
    #[error("quiesce for checkpoint failed: {0}")]
    Quiesce(String),
}

/// The Kafka source: build it with [`KafkaSource::new`], then [`KafkaSource::run`] it.
pub struct KafkaSource {
    settings: KafkaSettings,
    pipeline: Arc<Pipeline>,
    store: CheckpointStore,
    parts: Vec<StatePart>,
    sink: Arc<dyn AlertSink>,
    options: SourceOptions,
    ready: Arc<AtomicBool>,
}

impl KafkaSource {
    /// A source over `settings`' topics feeding `pipeline`; `parts` are saved in every checkpoint
    /// kept by `store`, and restored from it when [`KafkaSource::run`] starts.
    pub fn new(
        settings: KafkaSettings,
        pipeline: Arc<Pipeline>,
        store: CheckpointStore,
        parts: Vec<StatePart>,
        sink: Arc<dyn AlertSink>,
        options: SourceOptions,
    ) -> KafkaSource {
        KafkaSource {
            settings,
            pipeline,
            store,
            parts,
            sink,
            options,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Becomes true once the state is restored and partitions are assigned (`/readyz`).
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Restores the checkpoint, consumes until `stop` is set, then drains, checkpoints and
    /// commits. Returns the run's counts, or why it had to stop early (state is then left at the
    /// last good checkpoint).
    pub fn run(self, stop: &AtomicBool) -> Result<RunSummary, KafkaSourceError> {
        let part_refs: Vec<(&str, &dyn Snapshot)> = self
            .parts
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_ref()))
            .collect();
        let resume = self.store.restore(&part_refs)?;
        match &resume {
            Some(o) => tracing::info!(partitions = o.len(), "restored checkpoint"),
            None => tracing::info!(
                path = %self.store.path().display(),
                "no checkpoint: starting from empty state and the group's committed offsets"
            ),
        }
        drop(part_refs);

        let base = self.client_config()?;
        let delivery = Arc::new(DeliveryReport::default());
        let producer = Arc::new(self.producer(&base, delivery.clone())?);
        let counters = Arc::new(Counters::default());
        let topics: Arc<[String]> = self.settings.topics.clone().into();
        let workers = self.options.workers.max(1);
        let (pool_tx, pool_rx) =
            mpsc::sync_channel::<Batch>(workers * (self.options.queue_batches + 2));
        let mut senders = Vec::with_capacity(workers);
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Work>(self.options.queue_batches.max(1));
            senders.push(tx);
            let worker = Worker {
                pipeline: self.pipeline.clone(),
                producer: producer.clone(),
                delivery: delivery.clone(),
                sink: self.sink.clone(),
                settings: OutputTopics::from(&self.settings),
                topics: topics.clone(),
                counters: counters.clone(),
                pool: pool_tx.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("tocsin-worker-{i}"))
                .spawn(move || worker.run(rx))
                .map_err(|e| KafkaSourceError::Quiesce(format!("cannot start worker: {e}")))?;
            handles.push(handle);
        }
        drop(pool_tx);

        let core = Core {
            senders,
            pending: (0..workers).map(|_| None).collect(),
            pool: pool_rx,
            batch_records: self.options.batch_records.max(1),
            topics: topics.clone(),
            next_offsets: resume.unwrap_or_default(),
            dirty: false,
            last_checkpoint: Instant::now(),
            checkpoints: 0,
            producer: producer.clone(),
            delivery: delivery.clone(),
            store: self.store.clone(),
            parts: self.parts.clone(),
            quiesce_timeout: self.options.quiesce_timeout,
            fatal: None,
            records: 0,
        };
        let context = SourceContext {
            core: Mutex::new(core),
            ready: self.ready.clone(),
        };
        let mut consumer_config = base.clone();
        consumer_config
            .set("group.id", &self.settings.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // librdkafka waits up to 500 ms for a fetch to fill by default: on a quiet stream
            // that is most of the event-to-alert latency (BENCHMARKS.md). Detection wants the
            // event now; `properties` can still override it.
            .set("fetch.wait.max.ms", "10");
        apply_properties(&mut consumer_config, &self.settings.properties);
        let consumer: BaseConsumer<SourceContext> = consumer_config
            .create_with_context(context)
            .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topic_refs)
            .map_err(|source| KafkaSourceError::Kafka {
                context: "subscribing",
                source,
            })?;

        let result = self.consume(&consumer, stop);
        let shutdown = match &result {
            Ok(()) => consumer
                .context()
                .core
                .lock()
                .checkpoint(&consumer, "shutdown"),
            Err(_) => Ok(()),
        };
        let checkpoints = {
            let mut core = consumer.context().core.lock();
            // Closing the consumer below revokes the partitions; nothing is left to checkpoint,
            // and after a failure nothing must be.
            core.dirty = false;
            core.fatal = None;
            core.senders.clear();
            core.checkpoints
        };
        drop(consumer);
        for h in handles {
            let _ = h.join();
        }
        result?;
        shutdown?;
        Ok(counters.summary(checkpoints))
    }

    fn consume(
        &self,
        consumer: &BaseConsumer<SourceContext>,
        stop: &AtomicBool,
    ) -> Result<(), KafkaSourceError> {
        let interval = self.options.checkpoint_interval;
        while !stop.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                None => consumer.context().core.lock().flush_pending()?,
                Some(Ok(msg)) => consumer.context().core.lock().dispatch(&msg)?,
                Some(Err(e)) => tracing::warn!(error = %e, "kafka consumer error"),
            }
            let mut core = consumer.context().core.lock();
            if let Some(e) = core.fatal.take() {
                return Err(e);
            }
            if core.dirty && core.last_checkpoint.elapsed() >= interval {
                core.checkpoint(consumer, "periodic")?;
            }
        }
        Ok(())
    }

    fn client_config(&self) -> Result<ClientConfig, KafkaSourceError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.settings.brokers);
        for (k, v) in &self.settings.properties {
            if is_client_wide(k) {
                c.set(k, v);
            }
        }
        if let Some(var) = &self.settings.sasl_password_env {
            let pw = secret_from_env("source.kafka.sasl_password_env", var)
                .map_err(KafkaSourceError::Config)?;
            c.set("sasl.password", pw);
        }
        Ok(c)
    }

    fn producer(
        &self,
        base: &ClientConfig,
        delivery: Arc<DeliveryReport>,
    ) -> Result<ThreadedProducer<DeliveryContext>, KafkaSourceError> {
        let mut c = base.clone();
        c.set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        c.create_with_context(DeliveryContext(delivery))
            .map_err(|e| KafkaSourceError::Config(e.to_string()))
    }
}

/// Properties that are meaningful for both the consumer and the producer (connection and
/// security); the rest go to the consumer only.
fn is_client_wide(key: &str) -> bool {
    key.starts_with("security.")
        || key.starts_with("sasl.")
        || key.starts_with("ssl.")
        || key.starts_with("client.")
        || key.starts_with("socket.")
        || key.starts_with("broker.")
        || key == "debug"
}

fn apply_properties(c: &mut ClientConfig, props: &BTreeMap<String, String>) {
    for (k, v) in props {
        c.set(k, v);
    }
}

/// One consumed record inside a [`Batch`]: where it came from and where its bytes are.
struct RecordRef {
    topic: usize,
    partition: i32,
    offset: i64,
    key: Option<(usize, usize)>,
    payload: (usize, usize),
}

/// Records for one worker, their bytes in one buffer. Batches are recycled through a pool, so in
/// steady state consuming allocates nothing per message.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    records: Vec<RecordRef>,
}

impl Batch {
    fn push(&mut self, topic: usize, msg: &impl Message) {
        let key = msg.key().map(|k| {
            let start = self.data.len();
            self.data.extend_from_slice(k);
            (start, self.data.len())
        });
        let start = self.data.len();
        self.data
            .extend_from_slice(msg.payload().unwrap_or_default());
        self.records.push(RecordRef {
            topic,
            partition: msg.partition(),
            offset: msg.offset(),
            key,
            payload: (start, self.data.len()),
        });
    }
}

enum Work {
    Batch(Batch),
    /// Answered once everything queued before it is processed.
    Barrier(SyncSender<()>),
}

/// Dispatcher state, touched by the polling thread only (in the loop and in rebalance callbacks,
/// which librdkafka runs inside `poll` on that same thread). The mutex is never contended; it
/// exists because the consumer context must be `Sync`.
struct Core {
    senders: Vec<SyncSender<Work>>,
    pending: Vec<Option<Batch>>,
    pool: Receiver<Batch>,
    batch_records: usize,
    topics: Arc<[String]>,
    /// Next offset of every partition dispatched so far; after a quiesce, of every partition
    /// processed. Starts as the checkpoint's offsets.
    next_offsets: SourceOffsets,
    dirty: bool,
    last_checkpoint: Instant,
    checkpoints: u64,
    producer: Arc<ThreadedProducer<DeliveryContext>>,
    delivery: Arc<DeliveryReport>,
    store: CheckpointStore,
    parts: Vec<StatePart>,
    quiesce_timeout: Duration,
    /// An error raised inside a rebalance callback, where it cannot be returned.
    fatal: Option<KafkaSourceError>,
    records: u64,
}

impl Core {
    fn dispatch(&mut self, msg: &impl Message) -> Result<(), KafkaSourceError> {
        let Some(topic) = self.topics.iter().position(|t| t == msg.topic()) else {
            tracing::warn!(
                topic = msg.topic(),
                "message from an unsubscribed topic ignored"
            );
            return Ok(());
        };
        let worker = worker_for(topic, msg.partition(), self.senders.len());
        let batch = match &mut self.pending[worker] {
            Some(b) => b,
            slot => slot.insert(self.pool.try_recv().unwrap_or_default()),
        };
        batch.push(topic, msg);
        let full = batch.records.len() >= self.batch_records;
        self.record_position(topic, msg.partition(), msg.offset());
        if full {
            self.send_pending(worker)?;
        }
        Ok(())
    }

    fn record_position(&mut self, topic: usize, partition: i32, offset: i64) {
        self.records += 1;
        self.dirty = true;
        let next = offset + 1;
        // Lookup by borrowed key first: the map only allocates for a partition's first record.
        let topic_name = &self.topics[topic];
        match self
            .next_offsets
            .iter_mut()
            .find(|((t, p), _)| *p == partition && t == topic_name)
        {
            Some((_, o)) => *o = next,
            None => {
                self.next_offsets
                    .insert((topic_name.clone(), partition), next);
            }
        }
    }

    fn send_pending(&mut self, worker: usize) -> Result<(), KafkaSourceError> {
        if let Some(batch) = self.pending[worker].take() {
            // Blocks while the worker's queue is full: this is the backpressure.
            self.senders[worker]
                .send(Work::Batch(batch))
                .map_err(|_| KafkaSourceError::Quiesce(format!("worker {worker} has stopped")))?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<(), KafkaSourceError> {
        for w in 0..self.pending.len() {
            self.send_pending(w)?;
        }
        Ok(())
    }

    /// Quiesce, flush, write the checkpoint, commit. See the module doc.
    fn checkpoint(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        why: &'static str,
    ) -> Result<(), KafkaSourceError> {
        let started = Instant::now();
        self.flush_pending()?;
        let (ack_tx, ack_rx) = mpsc::sync_channel(self.senders.len());
        for (i, s) in self.senders.iter().enumerate() {
            s.send(Work::Barrier(ack_tx.clone()))
                .map_err(|_| KafkaSourceError::Quiesce(format!("worker {i} has stopped")))?;
        }
        let deadline = started + self.quiesce_timeout;
        for _ in 0..self.senders.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match ack_rx.recv_timeout(left) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(KafkaSourceError::Quiesce(format!(
                        "workers did not drain within {:?}",
                        self.quiesce_timeout
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(KafkaSourceError::Quiesce("a worker has stopped".into()))
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.producer
            .flush(left)
            .map_err(|source| KafkaSourceError::Kafka {
                context: "flushing dead letters, alerts and revocations",
                source,
            })?;
        self.delivery.check()?;
        let parts: Vec<(&str, &dyn Snapshot)> = self
            .parts
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_ref()))
            .collect();
        self.store.write(&self.next_offsets, &parts)?;
        self.dirty = false;
        self.last_checkpoint = Instant::now();
        self.checkpoints += 1;
        self.commit(consumer);
        tracing::debug!(
            reason = why,
            partitions = self.next_offsets.len(),
            records = self.records,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }

    /// Reports the checkpointed offsets of the assigned partitions to Kafka. A failed commit is
    /// only logged: the checkpoint, not the commit, is what the engine resumes from.
    fn commit(&self, consumer: &BaseConsumer<SourceContext>) {
        let assigned = match consumer.assignment() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the assignment; offsets not committed");
                return;
            }
        };
        let mut tpl = TopicPartitionList::new();
        for e in assigned.elements() {
            if let Some(&o) = self
                .next_offsets
                .get(&(e.topic().to_string(), e.partition()))
            {
                let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o));
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "offset commit failed; the checkpoint stays authoritative");
            }
        }
    }

    /// Positions newly assigned partitions at their checkpointed offsets; partitions the
    /// checkpoint does not know start from the group's committed offset.
    fn position(&self, tpl: &mut TopicPartitionList) {
        let assigned: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        for (topic, partition) in assigned {
            if let Some(&o) = self.next_offsets.get(&(topic.clone(), partition)) {
                if let Err(e) = tpl.set_partition_offset(&topic, partition, Offset::Offset(o)) {
                    tracing::warn!(topic, partition, error = %e, "cannot seek to checkpoint");
                }
            }
        }
    }
}

fn worker_for(topic: usize, partition: i32, workers: usize) -> usize {
    (topic.wrapping_mul(31).wrapping_add(partition as usize)) % workers
}

/// The consumer context: rebalance callbacks checkpoint before partitions leave and seek to the
/// checkpoint when they arrive.
struct SourceContext {
    core: Mutex<Core>,
    ready: Arc<AtomicBool>,
}

impl ClientContext for SourceContext {}

impl ConsumerContext for SourceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let mut core = self.core.lock();
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                core.position(tpl);
                tracing::info!(partitions = tpl.count(), "partitions assigned");
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if r.is_ok() {
                    self.ready.store(true, Ordering::Relaxed);
                }
                r
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                if core.dirty && core.fatal.is_none() {
                    if let Err(e) = core.checkpoint(consumer, "revoke") {
                        core.fatal = Some(e);
                    }
                }
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "applying the rebalance failed");
        }
    }
}

/// Counts shared by the workers.
#[derive(Default)]
struct Counters {
    records: AtomicU64,
    events: AtomicU64,
    not_applicable: AtomicU64,
    dead_letters: AtomicU64,
    alerts: AtomicU64,
    revocations: AtomicU64,
}

impl Counters {
    fn summary(&self, checkpoints: u64) -> RunSummary {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RunSummary {
            records: get(&self.records),
            events: get(&self.events),
            not_applicable: get(&self.not_applicable),
            dead_letters: get(&self.dead_letters),
            alerts: get(&self.alerts),
            revocations: get(&self.revocations),
            checkpoints,
        }
    }
}

/// Delivery failures since start: any one of them forbids further checkpoints.
#[derive(Default)]
struct DeliveryReport {
    failures: AtomicU64,
    last: Mutex<String>,
}

impl DeliveryReport {
    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = what;
    }

    fn check(&self) -> Result<(), KafkaSourceError> {
        match self.failures.load(Ordering::Relaxed) {
            0 => Ok(()),
            count => Err(KafkaSourceError::Delivery {
                count,
                last: self.last.lock().clone(),
            }),
        }
    }
}

struct DeliveryContext(Arc<DeliveryReport>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, msg)) = result {
            self.0.fail(format!("to {}: {e}", msg.topic()));
        }
    }
}

/// Where a worker's outputs go. Empty topic names turn an output off.
#[derive(Clone)]
struct OutputTopics {
    format: Format,
    dead_letter: String,
    alerts: String,
    revocations: String,
}

impl From<&KafkaSettings> for OutputTopics {
    fn from(s: &KafkaSettings) -> Self {
        OutputTopics {
            format: s.format,
            dead_letter: s.dead_letter_topic.clone(),
            alerts: s.alerts_topic.clone(),
            revocations: s.revocations_topic.clone(),
        }
    }
}

/// A revocation as produced to the revocations topic (the fields of CONTRACT §4's outbound call,
/// plus an id derived from the alert's, so a re-emitted revocation has the same id).
#[derive(Serialize)]
struct RevocationRecord<'a> {
    id: String,
    account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    scope: &'static str,
    reason: &'a str,
    alert_id: &'a str,
    created_at: &'a str,
}

struct Worker {
    pipeline: Arc<Pipeline>,
    producer: Arc<ThreadedProducer<DeliveryContext>>,
    delivery: Arc<DeliveryReport>,
    sink: Arc<dyn AlertSink>,
    settings: OutputTopics,
    topics: Arc<[String]>,
    counters: Arc<Counters>,
    pool: SyncSender<Batch>,
}

impl Worker {
    fn run(self, rx: Receiver<Work>) {
        let mut alerts = Vec::new();
        let mut stats = RecordStats::default();
        let mut json = Vec::with_capacity(2048);
        while let Ok(work) = rx.recv() {
            let mut batch = match work {
                Work::Batch(b) => b,
                Work::Barrier(ack) => {
                    let _ = ack.send(());
                    continue;
                }
            };
            let now_ms = wall_clock_ms();
            for r in &batch.records {
                self.process(&batch, r, now_ms, &mut stats, &mut alerts, &mut json);
            }
            self.publish(&mut stats, batch.records.len() as u64);
            batch.records.clear();
            batch.data.clear();
            if let Err(TrySendError::Disconnected(_)) = self.pool.try_send(batch) {
                // The dispatcher is gone; the batch is simply dropped.
            }
        }
    }

    fn process(
        &self,
        batch: &Batch,
        r: &RecordRef,
        now_ms: i64,
        stats: &mut RecordStats,
        alerts: &mut Vec<Alert>,
        json: &mut Vec<u8>,
    ) {
        let payload = &batch.data[r.payload.0..r.payload.1];
        let key = r.key.map(|(a, b)| &batch.data[a..b]);
        let mut rejected: Option<Rejection> = None;
        self.pipeline.process_record(
            self.settings.format,
            payload,
            Some(now_ms),
            stats,
            alerts,
            &mut |skip| {
                if let Skip::Rejected(rej) = skip {
                    // A record can carry several events; the first rejection names it.
                    rejected.get_or_insert_with(|| rej.clone());
                }
            },
        );
        if let Some(rej) = rejected {
            self.dead_letter(r, key, payload, &rej);
        }
        for alert in alerts.drain(..) {
            self.sink.submit(&alert);
            self.counters.alerts.fetch_add(1, Ordering::Relaxed);
            if !self.settings.alerts.is_empty() {
                json.clear();
                if serde_json::to_writer(&mut *json, &alert).is_ok() {
                    self.produce(
                        BaseRecord::to(&self.settings.alerts)
                            .key(alert.account.as_bytes())
                            .payload(json.as_slice()),
                    );
                }
            }
            if alert.wants_revocation() && !self.settings.revocations.is_empty() {
                let scope = if alert.actions.contains(&ResponseAction::RevokeAccount) {
                    "account"
                } else {
                    "session"
                };
                let rev = RevocationRecord {
                    id: format!("rv_{}", alert.id.strip_prefix("al_").unwrap_or(&alert.id)),
                    account: &alert.account,
                    session: alert.session.as_deref(),
                    scope,
                    reason: &alert.title,
                    alert_id: &alert.id,
                    created_at: &alert.detected_at,
                };
                json.clear();
                if serde_json::to_writer(&mut *json, &rev).is_ok() {
                    self.counters.revocations.fetch_add(1, Ordering::Relaxed);
                    self.produce(
                        BaseRecord::to(&self.settings.revocations)
                            .key(alert.account.as_bytes())
                            .payload(json.as_slice()),
                    );
                }
            }
        }
    }

    fn dead_letter(&self, r: &RecordRef, key: Option<&[u8]>, payload: &[u8], rej: &Rejection) {
        self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            topic = %self.topics[r.topic],
            partition = r.partition,
            offset = r.offset,
            reason = rej.kind.as_str(),
            "dead letter"
        );
        if self.settings.dead_letter.is_empty() {
            return;
        }
        let partition = r.partition.to_string();
        let offset = r.offset.to_string();
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
                value: Some(self.topics[r.topic].as_str()),
            })
            .insert(Header {
                key: "tocsin-source-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "tocsin-source-offset",
                value: Some(offset.as_str()),
            });
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
        let mut record = BaseRecord::to(&self.settings.dead_letter)
            .payload(body)
            .headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        self.produce(record);
    }

    /// Hands a record to the producer, waiting while its queue is full (backpressure from the
    /// brokers reaches the workers, then the dispatcher). Other errors are delivery failures.
    fn produce(&self, mut record: BaseRecord<'_, [u8], [u8]>) {
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, back)) => {
                    self.delivery.fail(format!("to {}: {e}", back.topic));
                    return;
                }
            }
        }
    }

    fn publish(&self, stats: &mut RecordStats, records: u64) {
        self.counters.records.fetch_add(records, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(std::mem::take(&mut stats.events), Ordering::Relaxed);
        self.counters
            .not_applicable
            .fetch_add(std::mem::take(&mut stats.not_applicable), Ordering::Relaxed);
        stats.records = 0;
        stats.rejected.clear();
        stats.alerts_by_rule.clear();
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

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_always_maps_to_the_same_worker() {
        for workers in 1..6 {
            for p in 0..32 {
                let w = worker_for(0, p, workers);
                assert!(w < workers);
                assert_eq!(w, worker_for(0, p, workers));
            }
        }
        // Partitions spread over every worker rather than piling on one.
        let used: std::collections::BTreeSet<_> = (0..8).map(|p| worker_for(1, p, 4)).collect();
        assert_eq!(used.len(), 4);
    }

    #[test]
    fn batch_keeps_keys_and_payloads_apart() {
        use rdkafka::message::OwnedMessage;
        use rdkafka::Timestamp;
        let mut b = Batch::default();
        let m1 = OwnedMessage::new(
            Some(b"{\"a\":1}".to_vec()),
            Some(b"dr.martin".to_vec()),
            "auth-events".into(),
            Timestamp::NotAvailable,
            2,
            41,
            None,
        );
        let m2 = OwnedMessage::new(
            None,
            None,
            "auth-events".into(),
            Timestamp::NotAvailable,
            2,
            42,
            None,
        );
        b.push(0, &m1);
        b.push(0, &m2);
        let r = &b.records[0];
        assert_eq!(&b.data[r.payload.0..r.payload.1], b"{\"a\":1}");
        assert_eq!(r.key.map(|(a, z)| &b.data[a..z]), Some(&b"dr.martin"[..]));
        assert_eq!((r.partition, r.offset), (2, 41));
        let r = &b.records[1];
        assert_eq!(r.payload.0, r.payload.1);
        assert!(r.key.is_none());
    }

    #[test]
    fn detail_truncation_respects_utf8() {
        assert_eq!(truncate_str("ééé", 3), "é");
        assert_eq!(truncate_str("abc", 10), "abc");
    }
}
