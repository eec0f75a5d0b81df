//! The durable outbox: every webhook delivery and outbound revocation call waits here, on disk,
//! until the receiver takes it or the retry budget is spent (then it goes to
//! `dead-letter.jsonl` with the last error). Nothing is dropped silently.
//!
//! The dead-letter file is bounded too (`dead_letter_max_bytes`): when a letter would take it
//! past the bound it is renamed `dead-letter.jsonl.1`, replacing the previous rotated file, and
//! a new one starts. Letters rotated, and letters discarded with the replaced file, are counted
//! ([`Outbox::dead_letter_counts`]) and logged (an ERROR when any are discarded). Both files, like
//! every state file, are `0600` in a `0700` directory (`crate::statedir`).
//!
//! The file `outbox.jsonl` in the state directory is an append-only log of records: `enqueue`
//! (fsynced before [`Outbox::enqueue`] returns, so an accepted delivery survives a crash),
//! `attempt` (a failure and when to try again) and `ack` (delivered or dead-lettered). Those two
//! are written without fsync: losing one to a power cut only repeats a delivery, which
//! at-least-once permits and the stable `webhook-id` lets receivers absorb. Opening replays the
//! log, skips a torn last line with a warning, and rewrites it compacted; compaction also runs
//! whenever dead records outnumber live ones.
//!
//! The outbox is bounded by entries and bytes. When full, [`Outbox::enqueue`] refuses with
//! [`OutboxError::Full`]; the caller counts and logs it loudly. A share of both bounds
//! (`revocation_reserve_percent`) is kept for outbound revocation calls: webhook deliveries
//! that back up while a receiver is down fill the rest, and revocations still find room. Retries back off exponentially
//! with jitter; the jitter is a hash of the delivery id and attempt number, so it spreads
//! receivers' load like random jitter does, yet tests and replays see the same schedule.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[outbox]` lives with the rest of the configuration; re-exported where it is used.
pub use crate::settings::OutboxSettings;

/// The outbox file's name inside the state directory.
pub const OUTBOX_FILE: &str = "outbox.jsonl";
/// The dead-letter file's name inside the state directory.
pub const DEAD_LETTER_FILE: &str = "dead-letter.jsonl";
/// The rotated dead-letter file's name.
pub const DEAD_LETTER_ROTATED: &str = "dead-letter.jsonl.1";

/// Letters moved to the rotated dead-letter file, and letters lost when it was replaced, since
/// the outbox was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterCounts {
    /// Letters moved to `dead-letter.jsonl.1`.
    pub rotated: u64,
    /// Letters discarded with a replaced `dead-letter.jsonl.1`.
    pub discarded: u64,
}

/// One request to make: where, with which stable delivery id, and the body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The destination's name (a webhook's name, or [`REVOCATION_DESTINATION`]).
    pub destination: String,
    /// Stable across retries and restarts: the `webhook-id`, or the revocation's
    /// `Idempotency-Key`.
    pub delivery_id: String,
    /// The request body, rendered once at enqueue time.
    pub body: String,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
}

/// The destination name of outbound revocation calls.
pub const REVOCATION_DESTINATION: &str = "revocation";

/// A job waiting in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// Position in the outbox.
    pub seq: u64,
    /// What to send.
    pub job: Job,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Earliest time of the next attempt, epoch ms.
    pub next_at_ms: i64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// What happened to a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// It will be tried again at this time (epoch ms).
    Retry(i64),
    /// The retry budget is spent, or the failure was permanent: it is in the dead-letter file.
    DeadLettered,
}

/// Why the outbox refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox is at its configured bound; the delivery was not accepted.
    #[error("outbox full ({entries} entries, {bytes} bytes; limits {max_entries} entries, {max_bytes} bytes): delivery to {destination} refused")]
    Full {
        /// The refused job's destination.
        destination: String,
        /// Entries pending.
        entries: usize,
        /// Bytes pending.
        bytes: u64,
        /// The entries limit.
        max_entries: usize,
        /// The bytes limit.
        max_bytes: u64,
    },
    /// The outbox or dead-letter file could not be written: the state directory is unusable.
    #[error("outbox file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    Enqueue {
        seq: u64,
        at: i64,
        job: Job,
    },
    Attempt {
        seq: u64,
        attempts: u32,
        next_at: i64,
        error: String,
    },
    Ack {
        seq: u64,
    },
}

/// A line of the dead-letter file.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was given up, epoch ms.
    pub at: i64,
    /// The destination.
    pub destination: String,
    /// The delivery id it was sent with.
    pub delivery_id: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
    /// The body that was not delivered, for a manual re-send.
    pub body: String,
}

/// The durable queue of deliveries. Synchronous and single-owner: the responder keeps it
/// behind a mutex and calls it from blocking tasks.
pub struct Outbox {
    dir: PathBuf,
    file: File,
    settings: OutboxSettings,
    entries: BTreeMap<u64, Pending>,
    in_flight: HashSet<u64>,
    next_seq: u64,
    bytes: u64,
    /// Records in the file that no longer describe a live entry.
    dead_records: u64,
    dead_letters: DeadLetterCounts,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` and resumes its pending entries.
    pub fn open(dir: &Path, settings: OutboxSettings) -> Result<Outbox, OutboxError> {
        let path = dir.join(OUTBOX_FILE);
        let io_err = |source| OutboxError::Io {
            path: path.clone(),
            source,
        };
        crate::statedir::create_dir(dir).map_err(io_err)?;
        let mut entries = BTreeMap::new();
        let mut next_seq = 1;
        match File::open(&path) {
            Ok(f) => {
                let lines: Vec<String> = BufReader::new(f)
                    .lines()
                    .collect::<Result<_, _>>()
                    .map_err(io_err)?;
                let last = lines.len();
                for (i, line) in lines.iter().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Record>(line) {
                        Ok(r) => apply(&mut entries, &mut next_seq, r),
                        Err(e) if i + 1 == last => tracing::warn!(
                            file = %path.display(), line = i + 1, error = %e,
                            "ignoring torn last outbox record (crash during a write)"
                        ),
                        Err(e) => tracing::warn!(
                            file = %path.display(), line = i + 1, error = %e,
                            "ignoring unreadable outbox record"
                        ),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let bytes = entries
            .values()
            .map(|p: &Pending| p.job.body.len() as u64)
            .sum();
        let file = rewrite(dir, &entries).map_err(io_err)?;
        if !entries.is_empty() {
            tracing::info!(pending = entries.len(), "outbox resumed pending deliveries");
        }
        Ok(Outbox {
            dir: dir.to_path_buf(),
            file,
            settings,
            entries,
            in_flight: HashSet::new(),
            next_seq,
            bytes,
            dead_records: 0,
            dead_letters: DeadLetterCounts::default(),
        })
    }

    fn io_err(&self, name: &str, source: io::Error) -> OutboxError {
        OutboxError::Io {
            path: self.dir.join(name),
            source,
        }
    }

    fn write(&mut self, r: &Record, sync: bool) -> Result<(), OutboxError> {
        let mut line = serde_json::to_vec(r).map_err(|e| self.io_err(OUTBOX_FILE, e.into()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) })
            .map_err(|e| self.io_err(OUTBOX_FILE, e))
    }

    /// The bounds `job` must fit in: the whole outbox for a revocation call, the outbox less
    /// the revocations' reserve for anything else.
    fn bounds_for(&self, job: &Job) -> (usize, u64) {
        let s = &self.settings;
        if job.destination == REVOCATION_DESTINATION {
            return (s.max_entries, s.max_bytes);
        }
        let pct = u64::from(s.revocation_reserve_percent.min(100));
        let reserved_entries = (s.max_entries as u64 * pct / 100) as usize;
        let reserved_bytes = (u128::from(s.max_bytes) * u128::from(pct) / 100) as u64;
        (
            s.max_entries - reserved_entries,
            s.max_bytes - reserved_bytes,
        )
    }

    /// Accepts a job, durably, due at once. Refuses when the outbox is at its bound (for a
    /// webhook delivery: at its bound less the revocations' reserve).
    pub fn enqueue(&mut self, job: Job, now_ms: i64) -> Result<u64, OutboxError> {
        let size = job.body.len() as u64;
        let (max_entries, max_bytes) = self.bounds_for(&job);
        if self.entries.len() >= max_entries || self.bytes + size > max_bytes {
            return Err(OutboxError::Full {
                destination: job.destination,
                entries: self.entries.len(),
                bytes: self.bytes,
                max_entries,
                max_bytes,
            });
        }
        let seq = self.next_seq;
        let rec = Record::Enqueue {
            seq,
            at: now_ms,
            job,
        };
        self.write(&rec, true)?;
        let Record::Enqueue { job, .. } = rec else {
            unreachable!("constructed above")
        };
        self.next_seq += 1;
        self.bytes += size;
        self.entries.insert(
            seq,
            Pending {
                seq,
                job,
                attempts: 0,
                next_at_ms: now_ms,
                last_error: None,
            },
        );
        Ok(seq)
    }

    /// Moves up to `max` entries due at `now_ms` into `out` and marks them in flight, so they
    /// are not handed out twice before their outcome is known.
    pub fn take_due(&mut self, now_ms: i64, max: usize, out: &mut Vec<Pending>) {
        for p in self.entries.values() {
            if out.len() >= max {
                break;
            }
            if p.next_at_ms <= now_ms && !self.in_flight.contains(&p.seq) {
                out.push(p.clone());
            }
        }
        for p in out.iter() {
            self.in_flight.insert(p.seq);
        }
    }

    /// The earliest time an entry not in flight becomes due.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.entries
            .values()
            .filter(|p| !self.in_flight.contains(&p.seq))
            .map(|p| p.next_at_ms)
            .min()
    }

    /// The entry was delivered: forget it.
    pub fn delivered(&mut self, seq: u64) -> Result<(), OutboxError> {
        self.in_flight.remove(&seq);
        if let Some(p) = self.entries.remove(&seq) {
            self.bytes -= p.job.body.len() as u64;
            self.write(&Record::Ack { seq }, false)?;
            self.dead_records += 2 + p.attempts as u64;
            self.maybe_compact()?;
        }
        Ok(())
    }

    /// The entry failed at `now_ms`. A `permanent` failure, or one that spends the retry
    /// budget, goes to the dead-letter file; otherwise the entry is scheduled again.
    pub fn failed(
        &mut self,
        seq: u64,
        error: &str,
        permanent: bool,
        now_ms: i64,
    ) -> Result<AfterFailure, OutboxError> {
        self.in_flight.remove(&seq);
        let Some(p) = self.entries.get_mut(&seq) else {
            return Ok(AfterFailure::DeadLettered);
        };
        p.attempts += 1;
        p.last_error = Some(error.to_string());
        if permanent || p.attempts >= p.job.max_attempts.max(1) {
            let p = p.clone();
            self.dead_letter(&p, error, now_ms)?;
            self.entries.remove(&seq);
            self.bytes -= p.job.body.len() as u64;
            self.write(&Record::Ack { seq }, false)?;
            self.dead_records += 2 + p.attempts as u64;
            self.maybe_compact()?;
            return Ok(AfterFailure::DeadLettered);
        }
        let delay = backoff_ms(&self.settings, &p.job.delivery_id, p.attempts);
        p.next_at_ms = now_ms.saturating_add(delay as i64);
        let rec = Record::Attempt {
            seq,
            attempts: p.attempts,
            next_at: p.next_at_ms,
            error: error.to_string(),
        };
        let at = p.next_at_ms;
        self.write(&rec, false)?;
        Ok(AfterFailure::Retry(at))
    }

    fn dead_letter(&mut self, p: &Pending, error: &str, now_ms: i64) -> Result<(), OutboxError> {
        let line = DeadLetter {
            at: now_ms,
            destination: p.job.destination.clone(),
            delivery_id: p.job.delivery_id.clone(),
            attempts: p.attempts,
            last_error: error.to_string(),
            body: p.job.body.clone(),
        };
        let mut bytes =
            serde_json::to_vec(&line).map_err(|e| self.io_err(DEAD_LETTER_FILE, e.into()))?;
        bytes.push(b'\n');
        self.rotate_dead_letters_for(bytes.len() as u64)
            .map_err(|e| self.io_err(DEAD_LETTER_FILE, e))?;
        let mut f = crate::statedir::open_append(&self.dir.join(DEAD_LETTER_FILE), true)
            .map_err(|e| self.io_err(DEAD_LETTER_FILE, e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_data())
            .map_err(|e| self.io_err(DEAD_LETTER_FILE, e))?;
        tracing::error!(
            destination = %p.job.destination,
            delivery_id = %p.job.delivery_id,
            attempts = p.attempts,
            error,
            "delivery given up; written to the dead-letter file"
        );
        Ok(())
    }

    /// Rotates the dead-letter file when `adding` bytes would take it past its bound (a file
    /// holding nothing yet is never rotated: one letter larger than the bound still goes in).
    fn rotate_dead_letters_for(&mut self, adding: u64) -> io::Result<()> {
        let path = self.dir.join(DEAD_LETTER_FILE);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if len == 0 || len.saturating_add(adding) <= self.settings.dead_letter_max_bytes {
            return Ok(());
        }
        let rotated = self.dir.join(DEAD_LETTER_ROTATED);
        let discarded = count_lines(&rotated)?;
        std::fs::rename(&path, &rotated)?;
        let moved = count_lines(&rotated)?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.dead_letters.rotated += moved;
        self.dead_letters.discarded += discarded;
        if discarded > 0 {
            tracing::error!(
                discarded,
                rotated = moved,
                limit_bytes = self.settings.dead_letter_max_bytes,
                "dead-letter file rotated; the letters of the previous rotated file are discarded"
            );
        } else {
            tracing::warn!(
                rotated = moved,
                limit_bytes = self.settings.dead_letter_max_bytes,
                "dead-letter file rotated to {DEAD_LETTER_ROTATED}"
            );
        }
        Ok(())
    }

    /// Letters rotated and discarded since the outbox was opened.
    pub fn dead_letter_counts(&self) -> DeadLetterCounts {
        self.dead_letters
    }

    fn maybe_compact(&mut self) -> Result<(), OutboxError> {
        if self.dead_records > 1_000 && self.dead_records > 2 * self.entries.len() as u64 {
            self.file =
                rewrite(&self.dir, &self.entries).map_err(|e| self.io_err(OUTBOX_FILE, e))?;
            self.dead_records = 0;
        }
        Ok(())
    }

    /// Entries pending (in flight included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of bodies pending.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

fn apply(entries: &mut BTreeMap<u64, Pending>, next_seq: &mut u64, r: Record) {
    match r {
        Record::Enqueue { seq, at, job } => {
            *next_seq = (*next_seq).max(seq + 1);
            entries.insert(
                seq,
                Pending {
                    seq,
                    job,
                    attempts: 0,
                    next_at_ms: at,
                    last_error: None,
                },
            );
        }
        Record::Attempt {
            seq,
            attempts,
            next_at,
            error,
        } => {
            if let Some(p) = entries.get_mut(&seq) {
                p.attempts = attempts;
                p.next_at_ms = next_at;
                p.last_error = Some(error);
            }
        }
        Record::Ack { seq } => {
            entries.remove(&seq);
        }
    }
}

/// Lines in `path`; 0 when it does not exist.
fn count_lines(path: &Path) -> io::Result<u64> {
    match File::open(path) {
        Ok(f) => {
            let mut n = 0;
            for line in BufReader::new(f).split(b'\n') {
                line?;
                n += 1;
            }
            Ok(n)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Writes the live entries to a fresh file, swaps it in atomically and returns it open for
/// appending.
fn rewrite(dir: &Path, entries: &BTreeMap<u64, Pending>) -> io::Result<File> {
    let path = dir.join(OUTBOX_FILE);
    let tmp = dir.join(format!("{OUTBOX_FILE}.tmp"));
    {
        let mut w = io::BufWriter::new(crate::statedir::create_file(&tmp)?);
        for p in entries.values() {
            let enq = Record::Enqueue {
                seq: p.seq,
                at: p.next_at_ms,
                job: p.job.clone(),
            };
            serde_json::to_writer(&mut w, &enq)?;
            w.write_all(b"\n")?;
            if let Some(e) = &p.last_error {
                let att = Record::Attempt {
                    seq: p.seq,
                    attempts: p.attempts,
                    next_at: p.next_at_ms,
                    error: e.clone(),
                };
                serde_json::to_writer(&mut w, &att)?;
                w.write_all(b"\n")?;
            }
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = File::open(dir) {
        // Make the rename itself durable.
        let _ = d.sync_all();
    }
    crate::statedir::open_append(&path, false)
}

/// Delay before retry number `attempts` (1-based) of `delivery_id`: exponential from
/// `backoff_initial_ms`, capped at `backoff_max_ms`, with "equal jitter" (half fixed, half
/// spread) derived from a hash of the delivery id and the attempt.
pub fn backoff_ms(s: &OutboxSettings, delivery_id: &str, attempts: u32) -> u64 {
    let exp = attempts.saturating_sub(1).min(32);
    let base = s
        .backoff_initial_ms
        .saturating_mul(1u64 << exp)
        .min(s.backoff_max_ms)
        .max(1);
    let half = base / 2;
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(delivery_id.as_bytes(), attempts as u64);
    half + h % (base - half + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn job(n: u32, dest: &str) -> Job {
        Job {
            destination: dest.into(),
            delivery_id: format!("msg_{n}"),
            body: format!("{{\"n\":{n}}}"),
            max_attempts: 3,
        }
    }

    fn settings() -> OutboxSettings {
        OutboxSettings {
            max_entries: 3,
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            ..OutboxSettings::default()
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jitter_is_deterministic() {
        let s = settings();
        let d1 = backoff_ms(&s, "msg_a", 1);
        assert!((50..=100).contains(&d1), "{d1}");
        let d3 = backoff_ms(&s, "msg_a", 3);
        assert!((200..=400).contains(&d3), "{d3}");
        assert!(backoff_ms(&s, "msg_a", 30) <= 1_000);
        assert_eq!(backoff_ms(&s, "msg_a", 2), backoff_ms(&s, "msg_a", 2));
    }

    #[test]
    fn full_outbox_refuses_instead_of_dropping() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path(), settings()).unwrap();
        for i in 0..3 {
            o.enqueue(job(i, "soc"), 0).unwrap();
        }
        let err = o.enqueue(job(9, "soc"), 0).unwrap_err();
        assert!(matches!(err, OutboxError::Full { entries: 3, .. }), "{err}");
        assert_eq!(o.len(), 3);
    }

    #[test]
    fn a_webhook_backlog_leaves_room_for_revocation_calls() {
        let dir = tempfile::tempdir().unwrap();
        let s = OutboxSettings {
            max_entries: 10,
            revocation_reserve_percent: 20,
            ..settings()
        };
        let mut o = Outbox::open(dir.path(), s).unwrap();
        for i in 0..8 {
            o.enqueue(job(i, "soc"), 0).unwrap();
        }
        let err = o.enqueue(job(8, "soc"), 0).unwrap_err();
        assert!(
            matches!(err, OutboxError::Full { max_entries: 8, .. }),
            "webhooks stop short of the reserve: {err}"
        );
        for i in 0..2 {
            o.enqueue(job(20 + i, REVOCATION_DESTINATION), 0)
                .expect("a revocation call finds room behind a full webhook backlog");
        }
        let err = o.enqueue(job(30, REVOCATION_DESTINATION), 0).unwrap_err();
        assert!(
            matches!(err, OutboxError::Full { entries: 10, .. }),
            "{err}"
        );

        // The same by bytes: webhook bodies stop at 80% of max_bytes.
        let dir = tempfile::tempdir().unwrap();
        let s = OutboxSettings {
            max_bytes: 1_000,
            revocation_reserve_percent: 20,
            ..OutboxSettings::default()
        };
        let mut o = Outbox::open(dir.path(), s).unwrap();
        let big = |dest: &str, n: u32| Job {
            body: "x".repeat(400),
            ..job(n, dest)
        };
        o.enqueue(big("soc", 1), 0).unwrap();
        o.enqueue(big("soc", 2), 0).unwrap();
        assert!(o.enqueue(big("soc", 3), 0).is_err());
        let call = Job {
            body: "x".repeat(200),
            ..job(4, REVOCATION_DESTINATION)
        };
        o.enqueue(call, 0)
            .expect("the reserved 200 bytes take a revocation call");
    }

    #[test]
    fn the_dead_letter_file_is_capped_rotated_once_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let s = OutboxSettings {
            max_entries: 1_000,
            dead_letter_max_bytes: 1_000,
            ..settings()
        };
        let mut o = Outbox::open(dir.path(), s).unwrap();
        let letters = 40;
        for i in 0..letters {
            let seq = o.enqueue(job(i, "soc"), 0).unwrap();
            o.failed(seq, "HTTP 410", true, 0).unwrap();
        }
        let lines = |name: &str| count_lines(&dir.path().join(name)).unwrap();
        let size = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
        assert!(size(DEAD_LETTER_FILE) <= 1_000 && size(DEAD_LETTER_ROTATED) <= 1_000);
        let c = o.dead_letter_counts();
        assert!(c.rotated > 0 && c.discarded > 0, "{c:?}");
        // Every letter is in one of the files or counted as discarded: nothing vanishes uncounted.
        assert_eq!(
            lines(DEAD_LETTER_FILE) + lines(DEAD_LETTER_ROTATED) + c.discarded,
            u64::from(letters)
        );
        assert_eq!(c.rotated, c.discarded + lines(DEAD_LETTER_ROTATED));
        #[cfg(unix)]
        for name in [DEAD_LETTER_FILE, DEAD_LETTER_ROTATED, OUTBOX_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn retries_then_dead_letters_with_the_last_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path(), settings()).unwrap();
        let seq = o.enqueue(job(1, "soc"), 0).unwrap();
        let mut due = Vec::new();
        o.take_due(0, 10, &mut due);
        assert_eq!(due.len(), 1);
        let mut again = Vec::new();
        o.take_due(0, 10, &mut again);
        assert!(
            again.is_empty(),
            "in-flight entries are not handed out twice"
        );
        assert!(matches!(
            o.failed(seq, "HTTP 500", false, 0).unwrap(),
            AfterFailure::Retry(_)
        ));
        assert!(matches!(
            o.failed(seq, "HTTP 503", false, 10).unwrap(),
            AfterFailure::Retry(_)
        ));
        assert_eq!(
            o.failed(seq, "timeout", false, 20).unwrap(),
            AfterFailure::DeadLettered
        );
        assert!(o.is_empty());
        let dl = std::fs::read_to_string(dir.path().join(DEAD_LETTER_FILE)).unwrap();
        let rec: DeadLetter = serde_json::from_str(dl.trim()).unwrap();
        assert_eq!((rec.attempts, rec.last_error.as_str()), (3, "timeout"));
    }

    #[test]
    fn reopen_resumes_pending_with_attempts_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = Outbox::open(dir.path(), settings()).unwrap();
            let a = o.enqueue(job(1, "soc"), 0).unwrap();
            let b = o.enqueue(job(2, "soc"), 0).unwrap();
            o.failed(a, "HTTP 500", false, 5).unwrap();
            o.delivered(b).unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(OUTBOX_FILE))
            .unwrap();
        f.write_all(b"{\"op\":\"enqueue\",\"seq\":7,\"at\"")
            .unwrap();
        drop(f);
        let mut o = Outbox::open(dir.path(), settings()).unwrap();
        assert_eq!(o.len(), 1);
        let mut due = Vec::new();
        o.take_due(i64::MAX, 10, &mut due);
        assert_eq!(due[0].attempts, 1);
        assert_eq!(due[0].job, job(1, "soc"));
        // New sequence numbers never reuse an old one.
        assert_eq!(o.enqueue(job(3, "soc"), 0).unwrap(), 3);
    }
}
