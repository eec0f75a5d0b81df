//! The Kafka source of `tocsin run`: a consumer group over the configured topics, processing
//! on worker threads, and checkpoints.
//!
//! The source only reads. What a record means is its [`RecordHandler`]'s business (the
//! pipeline: decode, enrich, detect); where the alerts and the refused records go, and when they
//! count as delivered, is its [`OutputSink`]'s (the engine's Kafka sink in the respond module:
//! the alerts, revocations and dead-letter topics and the responder). Both are traits defined
//! here, so the source depends on neither.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`KafkaSource`]: the consumer's set-up, the poll loop, shutdown |
//! | `dispatch.rs` | batches, the dispatcher's state and how records reach the workers |
//! | `worker.rs` | the worker threads: records to the handler, outputs to the sink |
//! | `checkpoint.rs` | checkpoint barriers, output epochs, the writer thread, commits |
//! | `rebalance.rs` | the consumer context: rebalance callbacks and consumer-lag statistics |
//! | `changelog.rs` | state that follows its partitions through a compacted changelog topic |
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
//!    next offset of every partition. The barrier also starts a new output [`Epoch`]: every dead
//!    letter and alert a worker hands to the sink is tagged with its epoch, and the sink counts
//!    their acknowledgements per epoch (in `tocsin run`, an alert is acknowledged once the
//!    brokers have it and the responder has acted on it durably). Then dispatching resumes.
//! 2. **Write** (in the background, on the `tocsin-checkpoint` thread): once the sink reports
//!    every output of the closed epoch delivered ([`OutputSink::wait_delivered`]), the frozen copy
//!    and its offsets are written as a [`crate::checkpoint`]; only then does the dispatcher commit
//!    those offsets to Kafka.
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

pub mod changelog;
mod checkpoint;
mod dispatch;
mod rebalance;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use crate::alert::Alert;
use crate::checkpoint::{CheckpointError, CheckpointStore, Snapshot, SourceOffsets};
use crate::metrics::Metrics;
use crate::settings::{secret_from_env, KafkaSettings};
use crate::source::decode::{Format, Rejection};

use changelog::{ChangelogTopic, ChangelogWriter, Partitioned, PartitionedState};
use checkpoint::{write_checkpoints, CheckpointDone, CheckpointJob};
use dispatch::{Batch, Core, Work, IDLE_POLL};
use rebalance::{SourceContext, PREFETCH_KBYTES, STATS_INTERVAL_MS};
use worker::{Counters, Worker};

/// What the workers do with each record: in `tocsin run`, the pipeline (decode, enrich, detect,
/// guard). A trait so that the source does not depend on the pipeline.
pub trait RecordHandler: Send + Sync + 'static {
    /// Counts a worker keeps from record to record and hands over once per batch.
    type Tally: Default + Send;

    /// Decodes `record` and processes every event in it with `now_ms` as the decision time;
    /// alerts go to `alerts`. Returns the first rejection when the record, or an event in it, was
    /// refused: the record then goes to the dead letters.
    fn handle(
        &self,
        tally: &mut Self::Tally,
        format: Format,
        record: &[u8],
        now_ms: i64,
        alerts: &mut Vec<Alert>,
    ) -> Option<Rejection>;

    /// The counts gathered in `tally` since the last call; leaves `tally` ready for the next
    /// batch.
    fn take_counts(&self, tally: &mut Self::Tally) -> HandledCounts;
}

/// What a worker's records amounted to, for the run's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandledCounts {
    /// Events processed.
    pub events: u64,
    /// Records skipped as not applicable.
    pub not_applicable: u64,
}

/// Where the source's outputs go: in `tocsin run`, every alert to the responder and the alerts
/// (and revocations) topic, every refused record to the dead-letter topic. Called from worker
/// threads; it may block (backpressure from the brokers or the responder then reaches the
/// workers, and the dispatcher), but not for long, since it holds up the worker's partitions.
pub trait OutputSink: Send + Sync {
    /// Takes an alert raised in `epoch`.
    fn alert(&self, epoch: Epoch, alert: &Alert);

    /// Takes a record refused in `epoch`.
    fn dead_letter(&self, epoch: Epoch, letter: &DeadLetter<'_>);

    /// Waits until every output of `epoch` is acknowledged downstream. Fails as soon as any
    /// output could not be delivered (no checkpoint may then cover it), or when `abandon` is set.
    fn wait_delivered(&self, epoch: Epoch, abandon: &AtomicBool) -> Result<(), OutputError>;

    /// Revocations produced so far, for the run's summary.
    fn revocations(&self) -> u64;
}

/// The output epoch a worker tags its outputs with. A checkpoint barrier closes the current
/// epoch and opens the next; the checkpoint is written once every output of the closed epoch is
/// acknowledged.
///
/// Two slots suffice: a barrier is only taken once the previous checkpoint has completed, that
/// is once the epoch before the closed one is fully acknowledged, so epochs alternate between
/// slot 0 and slot 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch(usize);

impl Epoch {
    /// The epoch's slot, 0 or 1: which of its two in-flight counts a sink adds an output to.
    pub fn slot(self) -> usize {
        self.0
    }

    /// The epoch a barrier opens after this one.
    fn next(self) -> Epoch {
        Epoch(1 - self.0)
    }
}

/// A record the handler refused, and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct DeadLetter<'a> {
    /// The topic it was consumed from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if it had one.
    pub key: Option<&'a [u8]>,
    /// Its payload, whole.
    pub payload: &'a [u8],
    /// Why it was refused (the first reason, when it held several events).
    pub rejection: &'a Rejection,
}

/// Why an epoch's outputs are not all delivered.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Outputs were refused or lost downstream.
    #[error("{count} outputs could not be delivered (last: {last})")]
    Failed {
        /// How many since start.
        count: u64,
        /// The last error.
        last: String,
    },
    /// The wait was given up (the source is stopping after a failure).
    #[error("checkpoint abandoned with {left} outputs not acknowledged")]
    Abandoned {
        /// Outputs of the epoch still unacknowledged.
        left: u64,
    },
}

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

impl From<OutputError> for KafkaSourceError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Failed { count, last } => KafkaSourceError::Delivery { count, last },
            abandoned @ OutputError::Abandoned { .. } => {
                KafkaSourceError::Quiesce(abandoned.to_string())
            }
        }
    }
}

/// The connection settings of every Kafka client of the engine: brokers, the client-wide
/// `properties` (security, sockets) and the SASL password from its environment variable. The
/// consumer adds its own settings; the output sink's producer builds on it too.
pub fn client_config(settings: &KafkaSettings) -> Result<ClientConfig, KafkaSourceError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers);
    for (k, v) in &settings.properties {
        if is_client_wide(k) {
            c.set(k, v);
        }
    }
    if let Some(var) = &settings.sasl_password_env {
        let pw = secret_from_env("source.kafka.sasl_password_env", var)
            .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
        c.set("sasl.password", pw);
    }
    Ok(c)
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

/// The Kafka source: build it with [`KafkaSource::new`], then [`KafkaSource::run`] it.
pub struct KafkaSource<H: RecordHandler> {
    settings: KafkaSettings,
    handler: Arc<H>,
    store: CheckpointStore,
    parts: Vec<StatePart>,
    sink: Arc<dyn OutputSink>,
    options: SourceOptions,
    metrics: Option<Arc<Metrics>>,
    ready: Arc<AtomicBool>,
    partitioned: Option<Arc<dyn PartitionedState>>,
}

/// The worker threads of a run, and the channels to them.
struct Workers {
    senders: Vec<SyncSender<Work>>,
    handles: Vec<JoinHandle<()>>,
    /// Emptied batches coming back from the workers.
    pool: Receiver<Batch>,
}

impl<H: RecordHandler> KafkaSource<H> {
    /// A source over `settings`' topics whose records go to `handler` and whose outputs go to
    /// `sink`; `parts` are saved in every checkpoint kept by `store`, and restored from it when
    /// [`KafkaSource::run`] starts.
    pub fn new(
        settings: KafkaSettings,
        handler: Arc<H>,
        store: CheckpointStore,
        parts: Vec<StatePart>,
        sink: Arc<dyn OutputSink>,
        options: SourceOptions,
    ) -> KafkaSource<H> {
        KafkaSource {
            settings,
            handler,
            store,
            parts,
            sink,
            options,
            metrics: None,
            ready: Arc::new(AtomicBool::new(false)),
            partitioned: None,
        }
    }

    /// Moves `state` with its input partitions through the changelog topic
    /// (`[state] changelog = "kafka"`; see [`changelog`]). The local checkpoint then keeps only
    /// the other state parts, and positions come from the changelog.
    pub fn with_partitioned_state(mut self, state: Arc<dyn PartitionedState>) -> KafkaSource<H> {
        self.partitioned = Some(state);
        self
    }

    /// Publishes the consumer lag of every partition in `metrics` from now on.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> KafkaSource<H> {
        self.metrics = Some(metrics);
        self
    }

    /// Becomes true once the state is restored and partitions are assigned (`/readyz`).
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Restores the checkpoint, consumes until `stop` is set, then drains, checkpoints and
    /// commits. Returns the run's counts, or why it had to stop early (state is then left at the
    /// last good checkpoint).
    pub fn run(self, stop: &AtomicBool) -> Result<RunSummary, KafkaSourceError> {
        let resume = self.restore()?;
        let base = client_config(&self.settings)?;
        let counters = Arc::new(Counters::default());
        let topics: Arc<[String]> = self.settings.topics.clone().into();
        let workers = self.start_workers(&counters, &topics)?;

        let partitioned = self.partitioned(&base)?;
        let changelog = match &partitioned {
            Some(p) => Some(ChangelogWriter::new(p.log.clone())?),
            None => None,
        };
        let abandon = Arc::new(AtomicBool::new(false));
        let (job_tx, job_rx) = mpsc::sync_channel::<CheckpointJob>(1);
        let (done_tx, done_rx) = mpsc::channel::<CheckpointDone>();
        let writer = {
            let store = self.store.clone();
            let sink = self.sink.clone();
            let abandon = abandon.clone();
            std::thread::Builder::new()
                .name("tocsin-checkpoint".into())
                .spawn(move || write_checkpoints(job_rx, done_tx, store, sink, abandon, changelog))
                .map_err(|e| {
                    KafkaSourceError::Quiesce(format!("cannot start the checkpoint writer: {e}"))
                })?
        };

        let count = workers.senders.len();
        let core = Core {
            senders: workers.senders,
            pending: (0..count).map(|_| None).collect(),
            pool: workers.pool,
            batch_records: self.options.batch_records.max(1),
            batch_max_delay: Duration::from_millis(self.settings.batch_max_delay_ms),
            pending_since: None,
            topics: topics.clone(),
            next_offsets: resume.unwrap_or_default(),
            dirty: false,
            last_checkpoint: Instant::now(),
            checkpoints: 0,
            epoch: Epoch::default(),
            in_progress: None,
            jobs: Some(job_tx),
            done: done_rx,
            spare: Vec::new(),
            store: self.store.clone(),
            parts: self.parts.clone(),
            quiesce_timeout: self.options.quiesce_timeout,
            fatal: None,
            records: 0,
            partitioned,
        };
        let consumer = self.consumer(&base, core, &topics)?;

        let result = self.consume(&consumer, stop);
        let shutdown = match &result {
            Ok(()) => self.final_checkpoint(&consumer),
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
        for h in workers.handles {
            let _ = h.join();
        }
        result?;
        shutdown?;
        Ok(counters.summary(checkpoints, self.sink.revocations()))
    }

    /// Restores the state parts; returns the offsets to resume from (`None`: no checkpoint).
    fn restore(&self) -> Result<Option<SourceOffsets>, KafkaSourceError> {
        let part_refs: Vec<(&str, &dyn Snapshot)> = self
            .parts
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_ref()))
            .collect();
        let mut resume = self.store.restore(&part_refs)?;
        if self.partitioned.is_some() {
            // Each partition's position comes with its state, from the changelog.
            resume = None;
        }
        match &resume {
            Some(o) => tracing::info!(partitions = o.len(), "restored checkpoint"),
            None => tracing::info!(
                path = %self.store.path().display(),
                "no checkpoint: starting from empty state and the group's committed offsets"
            ),
        }
        Ok(resume)
    }

    /// The dispatcher's side of partitioned state, when there is any.
    fn partitioned(&self, base: &ClientConfig) -> Result<Option<Partitioned>, KafkaSourceError> {
        let Some(state) = &self.partitioned else {
            return Ok(None);
        };
        let [input] = self.settings.topics.as_slice() else {
            return Err(KafkaSourceError::Config(
                "[state] changelog = \"kafka\" needs exactly one input topic in \
                 [source.kafka] topics (the changelog is co-partitioned with it)"
                    .into(),
            ));
        };
        let log = Arc::new(ChangelogTopic {
            topic: self.settings.changelog_topic(),
            client: base.clone(),
            fingerprint: state.fingerprint(),
            assigned: Mutex::new(Default::default()),
        });
        Ok(Some(Partitioned {
            state: state.clone(),
            log,
            input: input.clone(),
            owned: Default::default(),
            changed: Default::default(),
            generations: Default::default(),
        }))
    }

    fn start_workers(
        &self,
        counters: &Arc<Counters>,
        topics: &Arc<[String]>,
    ) -> Result<Workers, KafkaSourceError> {
        let workers = self.options.workers.max(1);
        let (pool_tx, pool_rx) =
            mpsc::sync_channel::<Batch>(workers * (self.options.queue_batches + 2));
        let mut senders = Vec::with_capacity(workers);
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Work>(self.options.queue_batches.max(1));
            senders.push(tx);
            let worker = Worker {
                handler: self.handler.clone(),
                sink: self.sink.clone(),
                format: self.settings.format,
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
        Ok(Workers {
            senders,
            handles,
            pool: pool_rx,
        })
    }

    /// The consumer, subscribed, with `core` in its context.
    fn consumer(
        &self,
        base: &ClientConfig,
        core: Core,
        topics: &[String],
    ) -> Result<BaseConsumer<SourceContext>, KafkaSourceError> {
        let context = SourceContext {
            core: Mutex::new(core),
            ready: self.ready.clone(),
            metrics: self.metrics.clone(),
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
        if self.metrics.is_some() {
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
        Ok(consumer)
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

    /// The shutdown checkpoint: drains the workers, waits for the outputs and writes.
    fn final_checkpoint(
        &self,
        consumer: &BaseConsumer<SourceContext>,
    ) -> Result<(), KafkaSourceError> {
        let timeout = self.options.quiesce_timeout;
        let mut core = consumer.context().core.lock();
        match core.checkpoint_now(consumer, "shutdown", true, timeout) {
            Ok(true) => Ok(()),
            Ok(false) => Err(KafkaSourceError::Quiesce(format!(
                "the final checkpoint did not complete within {timeout:?}: dead letters, \
                 alerts or revocations not acknowledged by the brokers"
            ))),
            Err(e) => Err(e),
        }
    }
}
