//! The dispatcher's side of the source: consumed messages copied into per-worker batches, handed
//! over when full, when due or when the poll is idle, and the next offset of every partition
//! noted as it goes. Checkpoint barriers (`checkpoint.rs`) and rebalance callbacks
//! (`rebalance.rs`) work on the same [`Core`].

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::Message;

use super::changelog::Partitioned;
use super::checkpoint::{CheckpointDone, CheckpointJob, InProgress};
use super::{Epoch, KafkaSourceError, StatePart};
use crate::checkpoint::{CheckpointStore, SourceOffsets};

/// Longest blocking poll when no batch is waiting to be handed over.
pub(super) const IDLE_POLL: Duration = Duration::from_millis(100);

/// One consumed record inside a [`Batch`]: where it came from and where its bytes are.
pub(super) struct RecordRef {
    pub(super) topic: usize,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<(usize, usize)>,
    pub(super) payload: (usize, usize),
}

/// Records for one worker, their bytes in one buffer. Batches are recycled through a pool, so in
/// steady state consuming allocates nothing per message.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) data: Vec<u8>,
    pub(super) records: Vec<RecordRef>,
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

/// What goes down a worker's queue.
pub(super) enum Work {
    Batch(Batch),
    /// Answered once everything queued before it is processed; from then on the worker tags its
    /// outputs with the given epoch.
    Barrier(SyncSender<()>, Epoch),
}

/// Dispatcher state, touched by the polling thread only (in the loop and in rebalance callbacks,
/// which librdkafka runs inside `poll` on that same thread). The mutex around it is never
/// contended; it exists because the consumer context must be `Sync`.
pub(super) struct Core {
    pub(super) senders: Vec<SyncSender<Work>>,
    pub(super) pending: Vec<Option<Batch>>,
    pub(super) pool: Receiver<Batch>,
    pub(super) batch_records: usize,
    pub(super) batch_max_delay: Duration,
    /// When the oldest record of the pending batches was dispatched.
    pub(super) pending_since: Option<Instant>,
    pub(super) topics: Arc<[String]>,
    /// Next offset of every partition dispatched so far; at a barrier, of every partition
    /// processed. Starts as the checkpoint's offsets.
    pub(super) next_offsets: SourceOffsets,
    /// Records dispatched since the last barrier.
    pub(super) dirty: bool,
    /// When the last barrier was taken.
    pub(super) last_checkpoint: Instant,
    pub(super) checkpoints: u64,
    /// The epoch the workers tag their outputs with.
    pub(super) epoch: Epoch,
    pub(super) in_progress: Option<InProgress>,
    /// To the writer thread; `None` once the source is stopping.
    pub(super) jobs: Option<SyncSender<CheckpointJob>>,
    pub(super) done: Receiver<CheckpointDone>,
    /// Buffers of the last checkpoint, back from the writer, for the next freeze.
    pub(super) spare: Vec<Vec<u8>>,
    pub(super) store: CheckpointStore,
    pub(super) parts: Vec<StatePart>,
    pub(super) quiesce_timeout: Duration,
    /// An error raised inside a rebalance callback, where it cannot be returned.
    pub(super) fatal: Option<KafkaSourceError>,
    pub(super) records: u64,
    /// State that follows its partitions (`[state] changelog = "kafka"`).
    pub(super) partitioned: Option<Partitioned>,
}

impl Core {
    pub(super) fn dispatch(&mut self, msg: &impl Message) -> Result<(), KafkaSourceError> {
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
        if let Some(p) = &mut self.partitioned {
            p.note(msg.partition(), msg.key());
        }
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

    pub(super) fn flush_pending(&mut self) -> Result<(), KafkaSourceError> {
        for w in 0..self.pending.len() {
            self.send_pending(w)?;
        }
        self.pending_since = None;
        Ok(())
    }

    /// Hands over the pending batches once their oldest record has waited `batch_max_delay`.
    pub(super) fn flush_due(&mut self) -> Result<(), KafkaSourceError> {
        match self.pending_since {
            Some(t) if t.elapsed() >= self.batch_max_delay => self.flush_pending(),
            _ => Ok(()),
        }
    }

    /// How long the next poll may block: never past the moment the pending batches are due.
    pub(super) fn poll_timeout(&self) -> Duration {
        match self.pending_since {
            None => IDLE_POLL,
            Some(t) => (t + self.batch_max_delay)
                .saturating_duration_since(Instant::now())
                .min(IDLE_POLL),
        }
    }
}

fn worker_for(topic: usize, partition: i32, workers: usize) -> usize {
    (topic.wrapping_mul(31).wrapping_add(partition as usize)) % workers
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
}
