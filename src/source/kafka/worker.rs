//! The worker threads: each takes the batches of its partitions in order, hands every record to
//! the [`RecordHandler`], and every alert and refused record to the [`OutputSink`], tagged with
//! the output epoch of the last barrier it passed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::SystemTime;

use super::dispatch::{Batch, RecordRef, Work};
use super::{DeadLetter, Epoch, OutputSink, RecordHandler, RunSummary};
use crate::alert::Alert;
use crate::source::decode::{Format, Rejection};

/// Counts shared by the workers.
#[derive(Default)]
pub(super) struct Counters {
    records: AtomicU64,
    events: AtomicU64,
    not_applicable: AtomicU64,
    dead_letters: AtomicU64,
    alerts: AtomicU64,
}

impl Counters {
    /// The run's summary; checkpoints and revocations are counted elsewhere.
    pub(super) fn summary(&self, checkpoints: u64, revocations: u64) -> RunSummary {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RunSummary {
            records: get(&self.records),
            events: get(&self.events),
            not_applicable: get(&self.not_applicable),
            dead_letters: get(&self.dead_letters),
            alerts: get(&self.alerts),
            revocations,
            checkpoints,
        }
    }
}

pub(super) struct Worker<H: RecordHandler> {
    pub(super) handler: Arc<H>,
    pub(super) sink: Arc<dyn OutputSink>,
    pub(super) format: Format,
    pub(super) topics: Arc<[String]>,
    pub(super) counters: Arc<Counters>,
    pub(super) pool: SyncSender<Batch>,
}

impl<H: RecordHandler> Worker<H> {
    pub(super) fn run(self, rx: Receiver<Work>) {
        let mut alerts = Vec::new();
        let mut tally = H::Tally::default();
        let mut epoch = Epoch::default();
        while let Ok(work) = rx.recv() {
            let mut batch = match work {
                Work::Batch(b) => b,
                Work::Barrier(ack, next) => {
                    epoch = next;
                    let _ = ack.send(());
                    continue;
                }
            };
            let now_ms = wall_clock_ms();
            for r in &batch.records {
                self.process(&batch, r, now_ms, epoch, &mut tally, &mut alerts);
            }
            self.publish(&mut tally, batch.records.len() as u64);
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
        epoch: Epoch,
        tally: &mut H::Tally,
        alerts: &mut Vec<Alert>,
    ) {
        let payload = &batch.data[r.payload.0..r.payload.1];
        if let Some(rej) = self
            .handler
            .handle(tally, self.format, payload, now_ms, alerts)
        {
            let key = r.key.map(|(a, b)| &batch.data[a..b]);
            self.dead_letter(epoch, r, key, payload, &rej);
        }
        for alert in alerts.drain(..) {
            self.counters.alerts.fetch_add(1, Ordering::Relaxed);
            self.sink.alert(epoch, &alert);
        }
    }

    fn dead_letter(
        &self,
        epoch: Epoch,
        r: &RecordRef,
        key: Option<&[u8]>,
        payload: &[u8],
        rejection: &Rejection,
    ) {
        self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
        let topic = self.topics[r.topic].as_str();
        tracing::debug!(
            topic = %topic,
            partition = r.partition,
            offset = r.offset,
            reason = rejection.kind.as_str(),
            "dead letter"
        );
        self.sink.dead_letter(
            epoch,
            &DeadLetter {
                topic,
                partition: r.partition,
                offset: r.offset,
                key,
                payload,
                rejection,
            },
        );
    }

    fn publish(&self, tally: &mut H::Tally, records: u64) {
        let counts = self.handler.take_counts(tally);
        self.counters.records.fetch_add(records, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(counts.events, Ordering::Relaxed);
        self.counters
            .not_applicable
            .fetch_add(counts.not_applicable, Ordering::Relaxed);
    }
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
