//! State that follows its input partition (`[state] changelog = "kafka"`): the accounts of
//! each input partition are written to a compacted changelog topic, co-partitioned with the
//! input, at every checkpoint; an instance that is assigned a partition restores exactly its
//! accounts from there and resumes at the input offset that state was taken at; on revocation
//! it checkpoints and drops them. Placement and failover are the consumer group's; nothing
//! here talks to another instance.
//!
//! # Which accounts belong to a partition
//!
//! The accounts whose records were consumed from it: the record's Kafka key is the account
//! name (how producers should key anyway), hashed like the state hashes accounts
//! ([`PartitionedState::key_of`]). A record without a key adds no account to any partition;
//! its account's state then stays with whichever instance saw it.
//!
//! # Changelog records
//!
//! Each checkpoint writes the state of every partition whose records changed it, as one
//! snapshot in chunks of at most [`CHUNK_BYTES`]: key `<slot>/<index>`, value a header
//! ([`Header`]: generation, the next input offset, chunk index and count, a fingerprint of the
//! installation's name key) and the chunk. Generations alternate between two slots (`a`, `b`),
//! so compaction, which keeps the latest value of each key, always keeps the last complete
//! generation whole while the next one is being written; a restore takes the newest generation
//! whose chunks are all there. The input offset in the header — not the group's committed
//! offset — is where the state resumes: the state at offset X always goes with X.
//!
//! Only the instance assigned a partition writes its changelog. An instance stopped by SIGKILL
//! writes nothing more; one that lost its partitions while its brokers were away may finish a
//! checkpoint late — its chunks then carry another writer's nonce, a mixed generation is not
//! complete, and the restore falls back to the other slot.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::KafkaSourceError;
pub use crate::baseline::store::partition::AccountSet;
use crate::checkpoint::RestoreError;

/// Largest chunk of a partition's state in one changelog record (brokers refuse records over
/// 1 MiB by default).
pub const CHUNK_BYTES: usize = 512 * 1024;
const MAGIC: &[u8; 8] = b"TOCSCHG1";
const HEADER_BYTES: usize = 48;
/// Longest time a restore may take to read one changelog partition.
const RESTORE_LIMIT: Duration = Duration::from_secs(120);
/// How long a restore waits for more records once past the reported end of the changelog.
const QUIET: Duration = Duration::from_millis(300);
/// Longest time a checkpoint waits for the brokers to take its changelog records.
const WRITE_LIMIT: Duration = Duration::from_secs(30);

/// The per-account state the source moves with its partitions: in `tocsin run`, the
/// detector's accounts. The source calls it only while its workers are idle.
pub trait PartitionedState: Send + Sync + 'static {
    /// The state's key of the account named by a record's Kafka key.
    fn key_of(&self, record_key: &[u8]) -> Option<u64>;
    /// A value that differs between installations that hash account names differently (their
    /// states cannot be mixed). It must reveal nothing about the names.
    fn fingerprint(&self) -> u64;
    /// The state of each group of accounts.
    fn export(&self, groups: &[&AccountSet]) -> Result<Vec<Vec<u8>>, RestoreError>;
    /// Adds exported states; returns the accounts of each.
    fn import(&self, parts: &[&[u8]]) -> Result<Vec<AccountSet>, RestoreError>;
    /// Forgets the state of `accounts`.
    fn forget(&self, accounts: &AccountSet) -> Result<(), RestoreError>;
}

/// The changelog header of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    fingerprint: u64,
    generation: u64,
    /// Distinguishes two writers of the same generation (see the module doc).
    nonce: u64,
    /// The input offset the state was taken at (the next record to process).
    next_offset: i64,
    index: u32,
    count: u32,
}

impl Header {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(&self.next_offset.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
    }

    fn read(v: &[u8]) -> Option<(Header, &[u8])> {
        if v.len() < HEADER_BYTES || &v[..8] != MAGIC {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(v[i..i + 8].try_into().unwrap_or_default());
        let u32_at = |i: usize| u32::from_le_bytes(v[i..i + 4].try_into().unwrap_or_default());
        let h = Header {
            fingerprint: u64_at(8),
            generation: u64_at(16),
            nonce: u64_at(24),
            next_offset: u64_at(32) as i64,
            index: u32_at(40),
            count: u32_at(44),
        };
        (h.count > 0 && h.index < h.count).then_some((h, &v[HEADER_BYTES..]))
    }
}

/// The key of chunk `index` of a generation.
fn chunk_key(generation: u64, index: u32) -> String {
    let slot = if generation % 2 == 0 { 'a' } else { 'b' };
    format!("{slot}/{index}")
}

/// One partition's state frozen at a checkpoint barrier.
pub(super) struct FrozenPartition {
    pub(super) partition: i32,
    pub(super) generation: u64,
    pub(super) next_offset: i64,
    pub(super) bytes: Vec<u8>,
}

/// What a restore found in one changelog partition.
pub(super) struct Restored {
    pub(super) generation: u64,
    pub(super) next_offset: i64,
    pub(super) bytes: Vec<u8>,
}

/// The changelog topic and how to reach it.
pub(super) struct ChangelogTopic {
    pub(super) topic: String,
    pub(super) client: ClientConfig,
    pub(super) fingerprint: u64,
    /// The partitions this instance owns now: a checkpoint finishing after a revocation does
    /// not write the partitions that left.
    pub(super) assigned: Mutex<BTreeSet<i32>>,
}

/// Counts the changelog producer's failed deliveries.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    last: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            *self.last.lock() = Some(e.to_string());
        }
    }
}

/// Writes frozen partitions to the changelog; lives on the checkpoint writer thread.
pub(super) struct ChangelogWriter {
    log: Arc<ChangelogTopic>,
    producer: BaseProducer<Deliveries>,
    nonce: u64,
}

impl ChangelogWriter {
    pub(super) fn new(log: Arc<ChangelogTopic>) -> Result<ChangelogWriter, KafkaSourceError> {
        let mut c = log.client.clone();
        c.set("linger.ms", "5")
            .set("message.max.bytes", (CHUNK_BYTES + 64 * 1024).to_string());
        let producer = c
            .create_with_context(Deliveries::default())
            .map_err(|e| KafkaSourceError::Config(format!("changelog producer: {e}")))?;
        Ok(ChangelogWriter {
            log,
            producer,
            nonce: rand::random(),
        })
    }

    /// Writes every frozen partition still assigned and waits until the brokers have all of
    /// it. Fails if any record was refused: the checkpoint then does not count.
    pub(super) fn write(&self, parts: &[FrozenPartition]) -> Result<(), KafkaSourceError> {
        let before = self.producer.context().failed.load(Ordering::Relaxed);
        let mut value = Vec::with_capacity(CHUNK_BYTES + HEADER_BYTES);
        for p in parts {
            if !self.log.assigned.lock().contains(&p.partition) {
                continue;
            }
            let chunks: Vec<&[u8]> = p.bytes.chunks(CHUNK_BYTES).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                value.clear();
                Header {
                    fingerprint: self.log.fingerprint,
                    generation: p.generation,
                    nonce: self.nonce,
                    next_offset: p.next_offset,
                    index: i as u32,
                    count: chunks.len() as u32,
                }
                .write(&mut value);
                value.extend_from_slice(chunk);
                let key = chunk_key(p.generation, i as u32);
                self.send(p.partition, &key, &value)?;
            }
        }
        self.producer
            .flush(WRITE_LIMIT)
            .map_err(|source| KafkaSourceError::Kafka {
                context: "writing the state changelog",
                source,
            })?;
        let ctx = self.producer.context();
        let failed = ctx.failed.load(Ordering::Relaxed) - before;
        if failed > 0 {
            return Err(KafkaSourceError::Delivery {
                count: failed,
                last: ctx.last.lock().clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn send(&self, partition: i32, key: &str, value: &[u8]) -> Result<(), KafkaSourceError> {
        loop {
            let record = BaseRecord::to(&self.log.topic)
                .partition(partition)
                .key(key)
                .payload(value);
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((source, _)) => {
                    return Err(KafkaSourceError::Kafka {
                        context: "writing the state changelog",
                        source,
                    })
                }
            }
        }
    }
}

impl ChangelogTopic {
    /// Reads changelog partitions `partitions` to their end; returns, for each that has one,
    /// its newest complete generation.
    ///
    /// The end is the high watermark and then a quiet moment: some brokers (tansu 0.6) report
    /// the base offset of the last record batch as the watermark, short of the real end.
    pub(super) fn restore(
        &self,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, Restored>, KafkaSourceError> {
        let kafka = |source| KafkaSourceError::Kafka {
            context: "reading the state changelog",
            source,
        };
        let mut c = self.client.clone();
        c.set("enable.auto.commit", "false")
            .set("group.id", format!("{}-restore", self.topic))
            .set("fetch.wait.max.ms", "10")
            .set("fetch.message.max.bytes", (2 * CHUNK_BYTES).to_string());
        let consumer: BaseConsumer = c.create().map_err(kafka)?;
        let mut tpl = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for &p in partitions {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, p, Duration::from_secs(10))
                .map_err(kafka)?;
            if high > low {
                tpl.add_partition_offset(&self.topic, p, Offset::Offset(low))
                    .map_err(kafka)?;
                ends.insert(p, (low, high));
            }
        }
        let mut gens: BTreeMap<i32, Generations> = BTreeMap::new();
        if ends.is_empty() {
            return Ok(BTreeMap::new());
        }
        consumer.assign(&tpl).map_err(kafka)?;
        let deadline = Instant::now() + RESTORE_LIMIT;
        let mut quiet_since: Option<Instant> = None;
        loop {
            let behind = ends.values().any(|(next, high)| next < high);
            if !behind && quiet_since.is_some_and(|t| t.elapsed() >= QUIET) {
                break;
            }
            if Instant::now() > deadline {
                return Err(KafkaSourceError::Quiesce(format!(
                    "restoring the state changelog took longer than {RESTORE_LIMIT:?}"
                )));
            }
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => {
                    quiet_since = None;
                    if let Some(e) = ends.get_mut(&m.partition()) {
                        e.0 = e.0.max(m.offset() + 1);
                    }
                    if let Some(v) = m.payload() {
                        gens.entry(m.partition()).or_default().add(
                            v,
                            self.fingerprint,
                            m.partition(),
                        )?;
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "changelog read"),
                None => {
                    quiet_since.get_or_insert_with(Instant::now);
                }
            }
        }
        Ok(gens
            .into_iter()
            .filter_map(|(p, g)| g.newest_complete().map(|r| (p, r)))
            .collect())
    }
}

/// The chunks of one generation seen so far: its input offset and each chunk, if seen.
type Chunks = (i64, Vec<Option<Vec<u8>>>);

/// Chunks seen in a changelog partition, by generation and writer.
#[derive(Default)]
struct Generations {
    seen: BTreeMap<(u64, u64), Chunks>,
}

impl Generations {
    fn add(
        &mut self,
        value: &[u8],
        fingerprint: u64,
        partition: i32,
    ) -> Result<(), KafkaSourceError> {
        let Some((h, chunk)) = Header::read(value) else {
            tracing::warn!(
                partition,
                "changelog record that is not a state chunk ignored"
            );
            return Ok(());
        };
        if h.fingerprint != fingerprint {
            return Err(KafkaSourceError::Config(
                "the state changelog was written by an instance that hashes account names with \
                 another key: every instance of the consumer group needs the same `name-key` \
                 file in its state directory"
                    .into(),
            ));
        }
        let entry = self
            .seen
            .entry((h.generation, h.nonce))
            .or_insert_with(|| (h.next_offset, vec![None; h.count as usize]));
        if let Some(slot) = entry.1.get_mut(h.index as usize) {
            *slot = Some(chunk.to_vec());
        }
        Ok(())
    }

    fn newest_complete(self) -> Option<Restored> {
        self.seen
            .into_iter()
            .rev()
            .find(|(_, (_, chunks))| chunks.iter().all(Option::is_some))
            .map(|((generation, _), (next_offset, chunks))| Restored {
                generation,
                next_offset,
                bytes: chunks.into_iter().flatten().flatten().collect(),
            })
    }
}

/// The dispatcher's side of partitioned state: which accounts each owned partition holds,
/// which partitions changed since the last checkpoint, and each one's changelog generation.
pub(super) struct Partitioned {
    pub(super) state: Arc<dyn PartitionedState>,
    pub(super) log: Arc<ChangelogTopic>,
    /// The input topic (one: the changelog is co-partitioned with it).
    pub(super) input: String,
    pub(super) owned: BTreeMap<i32, AccountSet>,
    pub(super) changed: BTreeSet<i32>,
    pub(super) generations: BTreeMap<i32, u64>,
}

impl Partitioned {
    /// Notes a dispatched record: its partition changed, and its account belongs to it. No
    /// allocation once the partition and the account are known.
    #[inline]
    pub(super) fn note(&mut self, partition: i32, key: Option<&[u8]>) {
        if !self.changed.contains(&partition) {
            self.changed.insert(partition);
        }
        if let Some(k) = key.and_then(|k| self.state.key_of(k)) {
            self.owned.entry(partition).or_default().insert(k);
        }
    }

    /// Copies the state of every partition changed since the last checkpoint, with the input
    /// offset it was taken at (`next_offset`), and moves each to its next generation.
    pub(super) fn freeze(
        &mut self,
        next_offset: impl Fn(i32) -> Option<i64>,
    ) -> Result<Vec<FrozenPartition>, KafkaSourceError> {
        let changed: Vec<(i32, i64)> = std::mem::take(&mut self.changed)
            .into_iter()
            .filter_map(|p| next_offset(p).map(|o| (p, o)))
            .collect();
        for (p, _) in &changed {
            self.owned.entry(*p).or_default();
        }
        let groups: Vec<&AccountSet> = changed
            .iter()
            .filter_map(|(p, _)| self.owned.get(p))
            .collect();
        let bytes = self
            .state
            .export(&groups)
            .map_err(|e| KafkaSourceError::Quiesce(format!("exporting partition state: {e}")))?;
        Ok(changed
            .into_iter()
            .zip(bytes)
            .map(|((partition, next_offset), bytes)| {
                let g = self.generations.entry(partition).or_insert(0);
                *g += 1;
                FrozenPartition {
                    partition,
                    generation: *g,
                    next_offset,
                    bytes,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(generation: u64, nonce: u64, index: u32, count: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        Header {
            fingerprint: 7,
            generation,
            nonce,
            next_offset: generation as i64 * 100,
            index,
            count,
        }
        .write(&mut v);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn the_header_reads_back() {
        let v = chunk(3, 9, 1, 2, b"xyz");
        let (h, body) = Header::read(&v).unwrap();
        assert_eq!(
            (h.generation, h.nonce, h.next_offset, h.index, h.count),
            (3, 9, 300, 1, 2)
        );
        assert_eq!(body, b"xyz");
        assert!(Header::read(&v[..HEADER_BYTES - 1]).is_none());
        assert!(
            Header::read(&chunk(3, 9, 2, 2, b"")).is_none(),
            "index past count"
        );
    }

    #[test]
    fn generations_alternate_slots() {
        assert_eq!(chunk_key(4, 0), "a/0");
        assert_eq!(chunk_key(5, 12), "b/12");
    }

    /// A generation cut short (a crash mid-write), or mixed from two writers, is skipped for the
    /// newest complete one, whose chunks are joined in order.
    #[test]
    fn the_newest_complete_generation_wins() {
        let mut g = Generations::default();
        for v in [
            chunk(1, 1, 1, 2, b"-B"),
            chunk(1, 1, 0, 2, b"A"),
            chunk(2, 1, 0, 2, b"new"),
            chunk(3, 1, 0, 1, b"other writer"),
            chunk(3, 2, 0, 2, b"x"),
        ] {
            g.add(&v, 7, 0).unwrap();
        }
        let r = g.newest_complete().unwrap();
        assert_eq!((r.generation, r.next_offset), (3, 300));
        assert_eq!(r.bytes, b"other writer");

        let mut g = Generations::default();
        g.add(&chunk(1, 1, 1, 2, b"-B"), 7, 0).unwrap();
        g.add(&chunk(1, 1, 0, 2, b"A"), 7, 0).unwrap();
        g.add(&chunk(2, 1, 0, 2, b"half"), 7, 0).unwrap();
        let r = g.newest_complete().unwrap();
        assert_eq!((r.generation, r.bytes.as_slice()), (1, &b"A-B"[..]));
    }

    #[test]
    fn another_installations_changelog_is_refused() {
        let mut g = Generations::default();
        assert!(matches!(
            g.add(&chunk(1, 1, 0, 1, b""), 8, 0),
            Err(KafkaSourceError::Config(_))
        ));
        g.add(b"garbage", 7, 0).unwrap();
        assert!(g.newest_complete().is_none());
    }
}
