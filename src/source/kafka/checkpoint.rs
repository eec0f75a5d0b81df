//! Checkpoints of the Kafka source, in the two steps the module doc of `source::kafka`
//! describes: the barrier and freeze on the dispatcher (the workers drain, the state parts are
//! copied, a new output epoch opens), then the write on the `tocsin-checkpoint` thread once the
//! sink reports the closed epoch's outputs delivered, then the commit of the offsets.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::changelog::{ChangelogWriter, FrozenPartition};
use super::dispatch::{Core, Work};
use super::rebalance::SourceContext;
use super::{Epoch, KafkaSourceError, OutputSink};
use crate::checkpoint::{
    CheckpointError, CheckpointErrorKind, CheckpointStore, RestoreError, Snapshot, SourceOffsets,
};

/// A state part's bytes as they were at a checkpoint barrier, written while the workers go on.
struct Frozen(Vec<u8>);

impl Snapshot for Frozen {
    fn write_snapshot(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(&self.0)
    }

    fn read_snapshot(&self, _r: &mut dyn std::io::Read) -> Result<(), RestoreError> {
        Err(RestoreError::new("a frozen checkpoint copy is write-only"))
    }
}

/// A checkpoint frozen at a barrier, for the writer thread.
pub(super) struct CheckpointJob {
    offsets: SourceOffsets,
    parts: Vec<(String, Frozen)>,
    /// The partitions' state for the changelog, if state follows its partitions.
    changelog: Vec<FrozenPartition>,
    /// The epoch whose outputs must be acknowledged first.
    epoch: Epoch,
}

/// What the writer made of a [`CheckpointJob`].
pub(super) struct CheckpointDone {
    offsets: SourceOffsets,
    result: Result<(), KafkaSourceError>,
    /// The job's frozen buffers, emptied, for the next freeze to fill again.
    buffers: Vec<Vec<u8>>,
}

/// The checkpoint writer thread: for each job, waits until the sink has delivered every output
/// of its epoch, then writes the partitions' state to the changelog (if any) and the file.
/// Stops when the jobs channel closes.
pub(super) fn write_checkpoints(
    jobs: Receiver<CheckpointJob>,
    done: mpsc::Sender<CheckpointDone>,
    store: CheckpointStore,
    sink: Arc<dyn OutputSink>,
    abandon: Arc<AtomicBool>,
    changelog: Option<ChangelogWriter>,
) {
    // Kept across checkpoints, like the frozen buffers: the heap does not see a new buffer the
    // size of the state every few seconds.
    let mut body = Vec::new();
    for job in jobs {
        let result = sink
            .wait_delivered(job.epoch, &abandon)
            .map_err(KafkaSourceError::from)
            .and_then(|()| match &changelog {
                Some(w) if !job.changelog.is_empty() => w.write(&job.changelog),
                _ => Ok(()),
            })
            .and_then(|()| {
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
pub(super) struct InProgress {
    why: &'static str,
    started: Instant,
    /// How long the stream waited for the barrier and the freeze.
    stalled: Duration,
}

impl Core {
    /// Step 1 of a checkpoint: barrier, freeze, hand over to the writer. Only called when no
    /// checkpoint is in progress.
    pub(super) fn begin_checkpoint(&mut self, why: &'static str) -> Result<(), KafkaSourceError> {
        debug_assert!(self.in_progress.is_none());
        let started = Instant::now();
        // The epoch before the closed one is fully acknowledged (its checkpoint completed), so
        // its slot is free for the new epoch.
        let next = self.epoch.next();
        self.drain(next)?;
        // Every worker is idle at the barrier: the state reflects exactly `next_offsets`.
        let parts = self.freeze()?;
        let changelog = match &mut self.partitioned {
            Some(p) => {
                let input = p.input.clone();
                let offsets = &self.next_offsets;
                p.freeze(|part| offsets.get(&(input.clone(), part)).copied())?
            }
            None => Vec::new(),
        };
        let job = CheckpointJob {
            offsets: self.next_offsets.clone(),
            parts,
            changelog,
            epoch: self.epoch,
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

    /// Hands over the pending batches and waits until every worker has processed everything
    /// dispatched so far; from then on they tag their outputs with `epoch`.
    pub(super) fn drain(&mut self, epoch: Epoch) -> Result<(), KafkaSourceError> {
        let started = Instant::now();
        self.flush_pending()?;
        let (ack_tx, ack_rx) = mpsc::sync_channel(self.senders.len());
        for (i, s) in self.senders.iter().enumerate() {
            s.send(Work::Barrier(ack_tx.clone(), epoch))
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
        Ok(())
    }

    /// Copies every state part into memory (the workers are idle at the barrier).
    fn freeze(&mut self) -> Result<Vec<(String, Frozen)>, KafkaSourceError> {
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
        Ok(parts)
    }

    /// Step 2's end, without waiting: commits a checkpoint the writer has finished (a failed
    /// one stops the source).
    pub(super) fn collect_checkpoint(
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
    pub(super) fn checkpoint_now(
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
}
