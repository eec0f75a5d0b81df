//! The consumer's context: rebalance callbacks checkpoint before partitions leave and seek to the
//! checkpoint when they arrive; librdkafka's statistics feed the consumer-lag metric.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::changelog::{AccountSet, Restored};
use super::dispatch::Core;
use super::KafkaSourceError;
use crate::metrics::Metrics;

/// Default `queued.max.messages.kbytes` of the consumer (see where it is set).
pub(super) const PREFETCH_KBYTES: &str = "16384";
/// How often librdkafka reports its statistics (consumer lag), when there are metrics.
pub(super) const STATS_INTERVAL_MS: &str = "5000";

/// The consumer context: the dispatcher's state, shared with the poll loop, and the readiness
/// flag it raises once partitions are assigned.
pub(super) struct SourceContext {
    pub(super) core: Mutex<Core>,
    pub(super) ready: Arc<AtomicBool>,
    pub(super) metrics: Option<Arc<Metrics>>,
}

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
                if let Err(e) = core.restore_partitions(tpl) {
                    tracing::error!(error = %e, "restoring the assigned partitions' state failed");
                    core.fatal = Some(e);
                }
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
                if core.fatal.is_none() {
                    if let Err(e) = core.release_partitions(tpl) {
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

impl Core {
    /// With state that follows its partitions: restores the state of the newly assigned
    /// partitions from the changelog and notes the input offset it goes with. The workers are
    /// drained first (the state is replaced while they are idle).
    fn restore_partitions(&mut self, tpl: &TopicPartitionList) -> Result<(), KafkaSourceError> {
        let Some(input) = self.partitioned.as_ref().map(|p| p.input.clone()) else {
            return Ok(());
        };
        let assigned: Vec<i32> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == input)
            .map(|e| e.partition())
            .collect();
        if assigned.is_empty() {
            return Ok(());
        }
        self.drain(self.epoch)?;
        let started = Instant::now();
        let Some(p) = self.partitioned.as_mut() else {
            return Ok(());
        };
        p.log.assigned.lock().extend(assigned.iter().copied());
        let found = p.log.restore(&assigned)?;
        for &part in &assigned {
            if !found.contains_key(&part) {
                // No state in the changelog: the partition's history is read again from its
                // start. Its committed offset cannot be trusted without state, since offsets are
                // only committed once the state that goes with them is in the changelog.
                self.next_offsets.insert((input.clone(), part), 0);
            }
        }
        let found: Vec<(i32, Restored)> = found.into_iter().collect();
        let read_ms = started.elapsed().as_millis() as u64;
        let blobs: Vec<&[u8]> = found.iter().map(|(_, r)| r.bytes.as_slice()).collect();
        let sets = p
            .state
            .import(&blobs)
            .map_err(|e| KafkaSourceError::Quiesce(format!("importing partition state: {e}")))?;
        let bytes: usize = blobs.iter().map(|b| b.len()).sum();
        let mut accounts = 0;
        for ((part, r), set) in found.into_iter().zip(sets) {
            accounts += set.len();
            p.owned.insert(part, set);
            p.generations.insert(part, r.generation);
            self.next_offsets
                .insert((input.clone(), part), r.next_offset);
        }
        tracing::info!(
            partitions = assigned.len(),
            accounts,
            bytes,
            read_ms,
            ms = started.elapsed().as_millis() as u64,
            "partition state restored from the changelog"
        );
        Ok(())
    }

    /// With state that follows its partitions: forgets the state of revoked partitions (it is
    /// in the changelog, and their next owner restores it from there).
    fn release_partitions(&mut self, tpl: &TopicPartitionList) -> Result<(), KafkaSourceError> {
        let Some(input) = self.partitioned.as_ref().map(|p| p.input.clone()) else {
            return Ok(());
        };
        if self.jobs.is_none() {
            // The source is stopping: its state goes with it.
            return Ok(());
        }
        self.drain(self.epoch)?;
        let Some(p) = self.partitioned.as_mut() else {
            return Ok(());
        };
        let mut gone = AccountSet::default();
        for e in tpl.elements().iter().filter(|e| e.topic() == input) {
            let part = e.partition();
            p.log.assigned.lock().remove(&part);
            if let Some(set) = p.owned.remove(&part) {
                gone.extend(set);
            }
            p.changed.remove(&part);
            p.generations.remove(&part);
            self.next_offsets.remove(&(input.clone(), part));
        }
        if !gone.is_empty() {
            p.state
                .forget(&gone)
                .map_err(|e| KafkaSourceError::Quiesce(format!("dropping partition state: {e}")))?;
        }
        tracing::info!(accounts = gone.len(), "revoked partitions' state dropped");
        Ok(())
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
