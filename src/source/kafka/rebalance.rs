//! The consumer's context: rebalance callbacks checkpoint before partitions leave and seek to the
//! checkpoint when they arrive; librdkafka's statistics feed the consumer-lag metric.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::dispatch::Core;
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

impl Core {
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
