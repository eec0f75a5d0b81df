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
//! Periodically, when partitions are revoked and on shutdown the dispatcher takes a checkpoint
//! in two steps, so that the stream stalls only for the first:
//!
//! 1. **Barrier and freeze** (the stream waits): the dispatcher stops dispatching, sends a barrier
//!    down every worker queue and waits until each worker has reached it, so the state reflects
//!    exactly the records dispatched so far; it copies the state parts into memory and notes the
//!    next offset of every partition. The barrier also starts a new *output epoch*: every dead
//!    letter, alert and revocation a worker produces is tagged with its epoch, and the
//!    acknowledgements are counted per epoch. Then dispatching resumes.
//! 2. **Write** (in the background, on the `tocsin-checkpoint` thread): once every output of the
//!    closed epoch is acknowledged by the brokers, the frozen copy and its offsets are written as
//!    a [`crate::checkpoint`]; only then does the dispatcher commit those offsets to Kafka.
//!
//! So a checkpoint never holds offsets ahead of its state, and never covers a record whose outputs
//! are not yet acknowledged (at-least-once). One checkpoint is in progress at a time. While the
//! brokers are unreachable the write simply waits (librdkafka keeps retrying the outputs); a
//! periodic checkpoint is then late, not fatal. A checkpoint taken because partitions are being
//! revoked, or at shutdown, is waited for (up to [`SourceOptions::quiesce_timeout`]).
//!
//! On start the checkpoint is restored and every assigned partition is positioned at its
//! checkpointed offset in the rebalance callback, so the state and the position always agree.
//! After a crash the engine re-processes the records since the last checkpoint; alert ids are
//! deterministic, so the alerts it re-emits carry the same ids and receivers de-duplicate them
//! (at-least-once).
//!
//! # Latency
//!
//! Records are handed to a worker when its batch is full ([`SourceOptions::batch_records`]), or
//! once the oldest record waiting in a batch is `[source.kafka] batch_max_delay_ms` old (checked
//! on every poll; the poll never blocks past that moment), or when the poll finds nothing new.
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

use parking_lot::{Condvar, Mutex};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;

use crate::alert::{Alert, ResponseAction};
use crate::checkpoint::{
    CheckpointError, CheckpointErrorKind, CheckpointStore, Snapshot, SourceOffsets,
};
use crate::metrics::Metrics;
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
    /// How long a checkpoint may wait for workers to drain, and a revoke or shutdown checkpoint
    /// for its outputs to be acknowledged and its file written.
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
        let delivery = Arc::new(Deliveries::default());
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

        let abandon = Arc::new(AtomicBool::new(false));
        let (job_tx, job_rx) = mpsc::sync_channel::<CheckpointJob>(1);
        let (done_tx, done_rx) = mpsc::channel::<CheckpointDone>();
        let writer = {
            let store = self.store.clone();
            let delivery = delivery.clone();
            let abandon = abandon.clone();
            std::thread::Builder::new()
                .name("tocsin-checkpoint".into())
                .spawn(move || write_checkpoints(job_rx, done_tx, store, delivery, abandon))
                .map_err(|e| {
                    KafkaSourceError::Quiesce(format!("cannot start the checkpoint writer: {e}"))
                })?
        };

        let core = Core {
            senders,
            pending: (0..workers).map(|_| None).collect(),
            pool: pool_rx,
            batch_records: self.options.batch_records.max(1),
            batch_max_delay: Duration::from_millis(self.settings.batch_max_delay_ms),
            pending_since: None,
            topics: topics.clone(),
            next_offsets: resume.unwrap_or_default(),
            dirty: false,
            last_checkpoint: Instant::now(),
            checkpoints: 0,
            epoch: 0,
            in_progress: None,
            jobs: Some(job_tx),
            done: done_rx,
            spare: Vec::new(),
            store: self.store.clone(),
            parts: self.parts.clone(),
            quiesce_timeout: self.options.quiesce_timeout,
            fatal: None,
            records: 0,
        };
        let metrics = self.pipeline.metrics().cloned();
        let context = SourceContext {
            core: Mutex::new(core),
            ready: self.ready.clone(),
            metrics: metrics.clone(),
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
            .set("fetch.wait.max.ms", "10")
            // librdkafka pre-fetches up to 64 MiB by default, which a consumer that is behind
            // fills and keeps: memory that no state budget accounts for (the soak test saw RSS
            // double once a backlog formed). 16 MiB is still ~60,000 typical events ahead.
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES);
        if metrics.is_some() {
            // Per-partition consumer lag for `tocsin_consumer_lag_messages`.
            consumer_config.set("statistics.interval.ms", STATS_INTERVAL_MS);
        }
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
            Ok(()) => {
                let timeout = self.options.quiesce_timeout;
                let mut core = consumer.context().core.lock();
                match core.checkpoint_now(&consumer, "shutdown", true, timeout) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(KafkaSourceError::Quiesce(format!(
                        "the final checkpoint did not complete within {timeout:?}: dead letters, \
                         alerts or revocations not acknowledged by the brokers"
                    ))),
                    Err(e) => Err(e),
                }
            }
            Err(_) => Ok(()),
        };
        let checkpoints = {
            let mut core = consumer.context().core.lock();
            // Closing the consumer below revokes the partitions; nothing is left to checkpoint,
            // and after a failure nothing must be.
            core.dirty = false;
            core.in_progress = None;
            core.fatal = None;
            core.senders.clear();
            core.jobs = None;
            core.checkpoints
        };
        // A checkpoint still waiting for its outputs after a failure is given up: the previous
        // one stays valid.
        abandon.store(true, Ordering::Relaxed);
        let _ = writer.join();
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
        let mut timeout = IDLE_POLL;
        while !stop.load(Ordering::Relaxed) {
            let polled = consumer.poll(timeout);
            let mut core = consumer.context().core.lock();
            match polled {
                None => core.flush_pending()?,
                Some(Ok(msg)) => core.dispatch(&msg)?,
                Some(Err(e)) => tracing::warn!(error = %e, "kafka consumer error"),
            }
            core.flush_due()?;
            if let Some(e) = core.fatal.take() {
                return Err(e);
            }
            core.collect_checkpoint(consumer)?;
            if core.dirty
                && core.in_progress.is_none()
                && core.last_checkpoint.elapsed() >= interval
            {
                core.begin_checkpoint("periodic")?;
            }
            timeout = core.poll_timeout();
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
                .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
            c.set("sasl.password", pw);
        }
        Ok(c)
    }

    fn producer(
        &self,
        base: &ClientConfig,
        delivery: Arc<Deliveries>,
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
    /// Answered once everything queued before it is processed; from then on the worker tags its
    /// outputs with the given epoch slot.
    Barrier(SyncSender<()>, usize),
}

/// Longest blocking poll when no batch is waiting to be handed over.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// A state part's bytes as they were at a checkpoint barrier, written while the workers go on.
struct Frozen(Vec<u8>);

impl Snapshot for Frozen {
    fn write_snapshot(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(&self.0)
    }

    fn read_snapshot(&self, _r: &mut dyn std::io::Read) -> Result<(), String> {
        Err("a frozen checkpoint copy is write-only".into())
    }
}

/// A checkpoint frozen at a barrier, for the writer thread.
struct CheckpointJob {
    offsets: SourceOffsets,
    parts: Vec<(String, Frozen)>,
    /// The epoch slot whose outputs must be acknowledged first.
    slot: usize,
}

/// What the writer made of a [`CheckpointJob`].
struct CheckpointDone {
    offsets: SourceOffsets,
    result: Result<(), KafkaSourceError>,
    /// The job's frozen buffers, emptied, for the next freeze to fill again.
    buffers: Vec<Vec<u8>>,
}

/// The checkpoint writer thread: for each job, waits until the outputs of its epoch are
/// acknowledged, then writes the file. Stops when the jobs channel closes.
fn write_checkpoints(
    jobs: Receiver<CheckpointJob>,
    done: mpsc::Sender<CheckpointDone>,
    store: CheckpointStore,
    delivery: Arc<Deliveries>,
    abandon: Arc<AtomicBool>,
) {
    // Kept across checkpoints, like the frozen buffers: the heap does not see a new buffer the
    // size of the state every few seconds.
    let mut body = Vec::new();
    for job in jobs {
        let result = delivery.wait_settled(job.slot, &abandon).and_then(|()| {
            let parts: Vec<(&str, &dyn Snapshot)> = job
                .parts
                .iter()
                .map(|(n, p)| (n.as_str(), p as &dyn Snapshot))
                .collect();
            store
                .write_with(&mut body, &job.offsets, &parts)
                .map_err(Into::into)
        });
        let out = CheckpointDone {
            offsets: job.offsets,
            result,
            buffers: job.parts.into_iter().map(|(_, f)| f.0).collect(),
        };
        if done.send(out).is_err() {
            return;
        }
    }
}

/// A checkpoint between its barrier and its write.
struct InProgress {
    why: &'static str,
    started: Instant,
    /// How long the stream waited for the barrier and the freeze.
    stalled: Duration,
}

/// Dispatcher state, touched by the polling thread only (in the loop and in rebalance callbacks,
/// which librdkafka runs inside `poll` on that same thread). The mutex is never contended; it
/// exists because the consumer context must be `Sync`.
struct Core {
    senders: Vec<SyncSender<Work>>,
    pending: Vec<Option<Batch>>,
    pool: Receiver<Batch>,
    batch_records: usize,
    batch_max_delay: Duration,
    /// When the oldest record of the pending batches was dispatched.
    pending_since: Option<Instant>,
    topics: Arc<[String]>,
    /// Next offset of every partition dispatched so far; at a barrier, of every partition
    /// processed. Starts as the checkpoint's offsets.
    next_offsets: SourceOffsets,
    /// Records dispatched since the last barrier.
    dirty: bool,
    /// When the last barrier was taken.
    last_checkpoint: Instant,
    checkpoints: u64,
    /// The epoch slot the workers tag their outputs with (see [`Deliveries`]).
    epoch: usize,
    in_progress: Option<InProgress>,
    /// To the writer thread; `None` once the source is stopping.
    jobs: Option<SyncSender<CheckpointJob>>,
    done: Receiver<CheckpointDone>,
    /// Buffers of the last checkpoint, back from the writer, for the next freeze.
    spare: Vec<Vec<u8>>,
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
        if self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
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
        self.pending_since = None;
        Ok(())
    }

    /// Hands over the pending batches once their oldest record has waited `batch_max_delay`.
    fn flush_due(&mut self) -> Result<(), KafkaSourceError> {
        match self.pending_since {
            Some(t) if t.elapsed() >= self.batch_max_delay => self.flush_pending(),
            _ => Ok(()),
        }
    }

    /// How long the next poll may block: never past the moment the pending batches are due.
    fn poll_timeout(&self) -> Duration {
        match self.pending_since {
            None => IDLE_POLL,
            Some(t) => (t + self.batch_max_delay)
                .saturating_duration_since(Instant::now())
                .min(IDLE_POLL),
        }
    }

    /// Step 1 of a checkpoint (see the module doc): barrier, freeze, hand over to the writer.
    /// Only called when no checkpoint is in progress.
    fn begin_checkpoint(&mut self, why: &'static str) -> Result<(), KafkaSourceError> {
        debug_assert!(self.in_progress.is_none());
        let started = Instant::now();
        self.flush_pending()?;
        // The epoch before the closed one is fully acknowledged (its checkpoint completed), so
        // its slot is free for the new epoch.
        let next = 1 - self.epoch;
        let (ack_tx, ack_rx) = mpsc::sync_channel(self.senders.len());
        for (i, s) in self.senders.iter().enumerate() {
            s.send(Work::Barrier(ack_tx.clone(), next))
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
        // Every worker is idle at the barrier: the state reflects exactly `next_offsets`.
        let mut parts = Vec::with_capacity(self.parts.len());
        // Each part refills the buffer it filled last time (the writer gives them back in part
        // order), so no buffer grows to the largest part's size.
        let mut spare = std::mem::take(&mut self.spare).into_iter();
        for (name, part) in &self.parts {
            let mut bytes = spare.next().unwrap_or_default();
            crate::checkpoint::clear_for_reuse(&mut bytes);
            part.write_snapshot(&mut bytes)
                .map_err(|e| CheckpointError {
                    path: self.store.path(),
                    kind: CheckpointErrorKind::Io(e),
                })?;
            parts.push((name.clone(), Frozen(bytes)));
        }
        let job = CheckpointJob {
            offsets: self.next_offsets.clone(),
            parts,
            slot: self.epoch,
        };
        self.epoch = next;
        self.jobs
            .as_ref()
            .ok_or_else(|| KafkaSourceError::Quiesce("the source is stopping".into()))?
            .send(job)
            .map_err(|_| KafkaSourceError::Quiesce("the checkpoint writer has stopped".into()))?;
        self.in_progress = Some(InProgress {
            why,
            started,
            stalled: started.elapsed(),
        });
        self.dirty = false;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Step 2's end, without waiting: commits a checkpoint the writer has finished (a failed
    /// one stops the source).
    fn collect_checkpoint(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
    ) -> Result<(), KafkaSourceError> {
        match self.done.try_recv() {
            Ok(done) => self.finish_checkpoint(consumer, done, CommitMode::Async),
            Err(_) => Ok(()),
        }
    }

    /// Takes a checkpoint and waits for it (revoke, shutdown): first the one in progress, if
    /// any, then a new one if records were dispatched since (or if `always`). `Ok(false)` when
    /// it did not complete within `timeout` (outputs not acknowledged: the brokers are away);
    /// it then goes on in the background and the previous checkpoint stays valid meanwhile.
    fn checkpoint_now(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        why: &'static str,
        always: bool,
        timeout: Duration,
    ) -> Result<bool, KafkaSourceError> {
        let deadline = Instant::now() + timeout;
        if self.in_progress.is_some() && !self.wait_checkpoint(consumer, deadline)? {
            return Ok(false);
        }
        if !self.dirty && !always {
            return Ok(true);
        }
        self.begin_checkpoint(why)?;
        self.wait_checkpoint(consumer, deadline)
    }

    fn wait_checkpoint(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        deadline: Instant,
    ) -> Result<bool, KafkaSourceError> {
        match self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(done) => {
                self.finish_checkpoint(consumer, done, CommitMode::Sync)?;
                Ok(true)
            }
            Err(RecvTimeoutError::Timeout) => Ok(false),
            Err(RecvTimeoutError::Disconnected) => Err(KafkaSourceError::Quiesce(
                "the checkpoint writer has stopped".into(),
            )),
        }
    }

    fn finish_checkpoint(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        done: CheckpointDone,
        mode: CommitMode,
    ) -> Result<(), KafkaSourceError> {
        let Some(p) = self.in_progress.take() else {
            return Ok(());
        };
        self.spare = done.buffers;
        done.result?;
        self.checkpoints += 1;
        self.commit(consumer, &done.offsets, mode);
        tracing::debug!(
            reason = p.why,
            partitions = done.offsets.len(),
            records = self.records,
            stalled_ms = p.stalled.as_secs_f64() * 1e3,
            ms = p.started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }

    /// Reports a checkpoint's offsets of the assigned partitions to Kafka. A failed commit is
    /// only logged: the checkpoint, not the commit, is what the engine resumes from.
    fn commit(
        &self,
        consumer: &BaseConsumer<SourceContext>,
        offsets: &SourceOffsets,
        mode: CommitMode,
    ) {
        let assigned = match consumer.assignment() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the assignment; offsets not committed");
                return;
            }
        };
        let mut tpl = TopicPartitionList::new();
        for e in assigned.elements() {
            if let Some(&o) = offsets.get(&(e.topic().to_string(), e.partition())) {
                let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o));
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, mode) {
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
    metrics: Option<Arc<Metrics>>,
}

/// Default `queued.max.messages.kbytes` of the consumer (see where it is set).
const PREFETCH_KBYTES: &str = "16384";
/// How often librdkafka reports its statistics (consumer lag), when there are metrics.
const STATS_INTERVAL_MS: &str = "5000";

impl ClientContext for SourceContext {
    /// Called from `poll` every `statistics.interval.ms`: publishes the lag of every partition
    /// this consumer is fetching (librdkafka reports -1 while it does not know it yet).
    fn stats(&self, statistics: Statistics) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        for (name, topic) in &statistics.topics {
            for (&id, p) in &topic.partitions {
                if id >= 0 && p.consumer_lag >= 0 && p.fetch_state == "active" {
                    metrics.set_consumer_lag(name, id, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed; the checkpoint stays authoritative");
        }
    }

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
                if (core.dirty || core.in_progress.is_some()) && core.fatal.is_none() {
                    let timeout = core.quiesce_timeout;
                    match core.checkpoint_now(consumer, "revoke", false, timeout) {
                        Ok(true) => {}
                        // The state and the in-memory positions still agree; the checkpoint
                        // completes when the brokers are back.
                        Ok(false) => tracing::warn!(
                            ?timeout,
                            "checkpoint before revocation not complete in time; partitions \
                             released with the previous checkpoint's offsets committed"
                        ),
                        Err(e) => core.fatal = Some(e),
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

/// The outputs (dead letters, alerts, revocations) handed to the producer and not yet
/// acknowledged, per output epoch, and the delivery failures since start (any one of them
/// forbids further checkpoints).
///
/// A worker tags each output with its current epoch *slot*; checkpoint barriers flip the slot.
/// Two slots suffice: a barrier is only taken once the previous checkpoint has completed, that
/// is once the epoch before the closed one is fully acknowledged.
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

    fn wake(&self) {
        let _guard = self.settled_lock.lock();
        self.settled.notify_all();
    }

    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = what;
        self.wake();
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

    /// Waits until every output of `slot` is acknowledged. Fails when a delivery failed, or when
    /// `abandon` is set. Says so, once, when it waits long (the brokers are away).
    fn wait_settled(&self, slot: usize, abandon: &AtomicBool) -> Result<(), KafkaSourceError> {
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
                return Err(KafkaSourceError::Quiesce(format!(
                    "checkpoint abandoned with {left} outputs not acknowledged"
                )));
            }
            if !warned && started.elapsed() >= Duration::from_secs(1) {
                warned = true;
                tracing::warn!(
                    outputs = left,
                    "checkpoint waits for dead letters, alerts or revocations to be acknowledged \
                     (brokers unreachable?)"
                );
            }
            self.settled
                .wait_for(&mut guard, Duration::from_millis(100));
        }
    }
}

struct DeliveryContext(Arc<Deliveries>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    /// The output's epoch slot.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: usize) {
        if let Err((e, msg)) = result {
            self.0.fail(format!("to {}: {e}", msg.topic()));
        }
        self.0.settled(slot);
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

/// A revocation as produced to the revocations topic (the fields of the outbound revocation call,
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

/// A worker's output buffers for one batch, and the epoch slot its outputs carry.
struct Outputs<'a> {
    slot: usize,
    alerts: &'a mut Vec<Alert>,
    json: &'a mut Vec<u8>,
}

struct Worker {
    pipeline: Arc<Pipeline>,
    producer: Arc<ThreadedProducer<DeliveryContext>>,
    delivery: Arc<Deliveries>,
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
        let mut slot = 0;
        while let Ok(work) = rx.recv() {
            let mut batch = match work {
                Work::Batch(b) => b,
                Work::Barrier(ack, next) => {
                    slot = next;
                    let _ = ack.send(());
                    continue;
                }
            };
            let now_ms = wall_clock_ms();
            let mut out = Outputs {
                slot,
                alerts: &mut alerts,
                json: &mut json,
            };
            for r in &batch.records {
                self.process(&batch, r, now_ms, &mut stats, &mut out);
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
        out: &mut Outputs<'_>,
    ) {
        let slot = out.slot;
        let payload = &batch.data[r.payload.0..r.payload.1];
        let key = r.key.map(|(a, b)| &batch.data[a..b]);
        let mut rejected: Option<Rejection> = None;
        self.pipeline.process_record(
            self.settings.format,
            payload,
            Some(now_ms),
            stats,
            out.alerts,
            &mut |skip| {
                if let Skip::Rejected(rej) = skip {
                    // A record can carry several events; the first rejection names it.
                    rejected.get_or_insert_with(|| rej.clone());
                }
            },
        );
        if let Some(rej) = rejected {
            self.dead_letter(slot, r, key, payload, &rej);
        }
        let json = &mut *out.json;
        for alert in out.alerts.drain(..) {
            self.sink.submit(&alert);
            self.counters.alerts.fetch_add(1, Ordering::Relaxed);
            if !self.settings.alerts.is_empty() {
                json.clear();
                if serde_json::to_writer(&mut *json, &alert).is_ok() {
                    self.produce(
                        slot,
                        BaseRecord::with_opaque_to(&self.settings.alerts, slot)
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
                        slot,
                        BaseRecord::with_opaque_to(&self.settings.revocations, slot)
                            .key(alert.account.as_bytes())
                            .payload(json.as_slice()),
                    );
                }
            }
        }
    }

    fn dead_letter(
        &self,
        slot: usize,
        r: &RecordRef,
        key: Option<&[u8]>,
        payload: &[u8],
        rej: &Rejection,
    ) {
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
        let mut record = BaseRecord::with_opaque_to(&self.settings.dead_letter, slot)
            .payload(body)
            .headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        self.produce(slot, record);
    }

    /// Hands a record of epoch `slot` to the producer, waiting while its queue is full
    /// (backpressure from the brokers reaches the workers, then the dispatcher). Other errors are
    /// delivery failures.
    fn produce(&self, slot: usize, mut record: BaseRecord<'_, [u8], [u8], usize>) {
        self.delivery.sent(slot);
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, back)) => {
                    self.delivery.fail(format!("to {}: {e}", back.topic));
                    self.delivery.settled(slot);
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
