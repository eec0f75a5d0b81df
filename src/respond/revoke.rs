//! The revocation store: which sessions and accounts Tocsin has revoked, until when, and why.
//!
//! It answers the SaaS's hot-path question "is this session revoked?" ([`RevocationStore::check`],
//! a hashed lookup under a read lock, no allocation) and feeds enforcement points a stream of
//! changes ordered by a monotonically increasing cursor ([`RevocationStore::list`]), like a
//! decision stream: a lift is a change too, so pollers learn about it. Every change is appended
//! to `revocations.jsonl` in the state directory and fsynced before the caller goes on to act
//! on it (the outbound call is enqueued only after), so a restart loses nothing; the same lines
//! serve as the checkpoint snapshot format ([`RevocationStore::write_snapshot`]).
//!
//! The log, not the checkpoint, is the source of truth: it is written before anything acts on a
//! change, while a checkpoint is a copy taken at some earlier moment. Restoring a checkpoint
//! ([`RevocationStore::read_snapshot`]) therefore only adds what the log has never seen (records
//! whose cursor is above the log's high-water mark: a state directory moved to another machine
//! without its log), and never takes back a later revocation or lift. The high-water mark is
//! kept as the first line of the compacted log and of every snapshot, so cursors never go back,
//! even when every revocation behind them has been forgotten.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alert::{Alert, ResponseAction};

/// The log file's name inside the state directory.
pub const LOG_FILE: &str = "revocations.jsonl";

/// Revocations that expired or were lifted longer ago than this are forgotten: pollers have
/// had a day to see the change.
const FORGET_AFTER_MS: i64 = 86_400_000;

/// What a revocation covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One session.
    Session,
    /// Every session of the account.
    Account,
}

impl Scope {
    /// The name used in JSON (the API, the outbound call).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Session => "session",
            Scope::Account => "account",
        }
    }
}

/// One revocation (as the API serves it, README.md "The API", plus `cursor` and `lifted_at`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    /// Deterministic: see [`revocation_id`].
    pub id: String,
    /// The account.
    pub account: String,
    /// The session, for session-scope revocations.
    pub session: Option<String>,
    /// What is revoked.
    pub scope: Scope,
    /// Why, for the operator's logs.
    pub reason: String,
    /// The alert that caused it; `None` for manual revocations.
    pub alert_id: Option<String>,
    /// When it was made.
    #[serde(with = "rfc3339_ms")]
    pub created_at: i64,
    /// When it stops being in force.
    #[serde(with = "rfc3339_ms")]
    pub expires_at: i64,
    /// When it was lifted by hand, if it was.
    #[serde(
        default,
        with = "opt_rfc3339_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifted_at: Option<i64>,
    /// Position in the change stream: the cursor of this revocation's latest change.
    pub cursor: u64,
}

impl Revocation {
    /// True when it is in force at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.lifted_at.is_none() && now_ms < self.expires_at
    }

    fn covers(&self, session: Option<&str>) -> bool {
        match self.scope {
            Scope::Account => true,
            Scope::Session => session.is_some() && self.session.as_deref() == session,
        }
    }

    /// The body of the outbound call to the operator (README.md, "Responses").
    pub fn outbound_body(&self) -> String {
        serde_json::json!({
            "account": self.account,
            "session": self.session,
            "scope": self.scope,
            "reason": self.reason,
            "alert_id": self.alert_id,
        })
        .to_string()
    }
}

mod rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::timefmt::rfc3339(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::timefmt::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s}")))
    }
}

mod opt_rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&crate::timefmt::rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| {
            crate::timefmt::parse_rfc3339(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s}")))
        })
        .transpose()
    }
}

/// `rv_` and 32 hex digits of SHA-256 over the alert id and the scope: the same alert always
/// yields the same revocation, so replays and restarts do not revoke twice, and the operator
/// can use it as an idempotency key.
pub fn revocation_id(alert_id: &str, scope: Scope) -> String {
    let mut h = Sha256::new();
    h.update((alert_id.len() as u64).to_le_bytes());
    h.update(alert_id.as_bytes());
    h.update(scope.as_str().as_bytes());
    format!("rv_{}", hex::encode(&h.finalize()[..16]))
}

/// A revocation to record.
#[derive(Clone, Debug)]
pub struct NewRevocation {
    /// The account.
    pub account: String,
    /// The session (required for [`Scope::Session`]).
    pub session: Option<String>,
    /// What to revoke.
    pub scope: Scope,
    /// Why.
    pub reason: String,
    /// The alert behind it, if any.
    pub alert_id: Option<String>,
    /// How long it stays in force, milliseconds; `None` = the store's TTL.
    pub ttl_ms: Option<i64>,
}

impl NewRevocation {
    /// The revocation an alert asks for, or `None` when it asks for none, or asks for a
    /// session revocation without naming the session (revoking the whole account instead
    /// would widen the blast radius behind the guard's back).
    pub fn from_alert(alert: &Alert) -> Option<NewRevocation> {
        if !alert.wants_revocation() {
            return None;
        }
        let scope = if alert.actions.contains(&ResponseAction::RevokeAccount) {
            Scope::Account
        } else {
            Scope::Session
        };
        if scope == Scope::Session && alert.session.is_none() {
            tracing::warn!(
                alert_id = %alert.id,
                rule = %alert.rule,
                "alert asks to revoke a session but names none; not revoked"
            );
            return None;
        }
        Some(NewRevocation {
            account: alert.account.clone(),
            session: alert.session.clone(),
            scope,
            reason: format!("{}: {}", alert.rule, alert.title),
            alert_id: Some(alert.id.clone()),
            ttl_ms: None,
        })
    }
}

/// Why the store could not record a change.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The log could not be read or written (disk full, permissions): the change is not
    /// durable and was not applied.
    #[error("revocation log {path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A session-scope revocation without a session.
    #[error("a session revocation needs a session")]
    MissingSession,
    /// The task writing the change died (a bug): the change may not have been recorded.
    #[error("revocation task failed: {0}")]
    Task(String),
}

/// A line of the log or of a snapshot: a revocation's latest state, or the cursor high-water
/// mark that opens a compacted log.
#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Revocation(Revocation),
    Mark { last_cursor: u64 },
}

#[derive(Serialize)]
struct Mark {
    last_cursor: u64,
}

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Arc<Revocation>, ahash::RandomState>,
    by_cursor: BTreeMap<u64, Arc<Revocation>>,
    accounts: HashMap<String, AccountRevocations, ahash::RandomState>,
    last_cursor: u64,
}

#[derive(Default)]
struct AccountRevocations {
    /// Usually empty or one long: a vector beats a map here.
    entries: Vec<Arc<Revocation>>,
}

impl Index {
    fn insert(&mut self, rev: Arc<Revocation>) {
        if let Some(old) = self.by_id.insert(rev.id.clone(), rev.clone()) {
            self.by_cursor.remove(&old.cursor);
            if let Some(acc) = self.accounts.get_mut(&old.account) {
                acc.entries.retain(|r| r.id != old.id);
            }
        }
        self.last_cursor = self.last_cursor.max(rev.cursor);
        self.by_cursor.insert(rev.cursor, rev.clone());
        self.accounts
            .entry(rev.account.clone())
            .or_default()
            .entries
            .push(rev);
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            self.by_cursor.remove(&old.cursor);
            if let Some(acc) = self.accounts.get_mut(&old.account) {
                acc.entries.retain(|r| r.id != old.id);
                if acc.entries.is_empty() {
                    self.accounts.remove(&old.account);
                }
            }
        }
    }
}

/// The revocations in force and recently changed. `Send + Sync`; share it as an `Arc`.
pub struct RevocationStore {
    // parking_lot's RwLock: `check` readers never wait behind each other, and no lock is ever
    // held across `.await` (every method is synchronous).
    index: RwLock<Index>,
    // Serialises appends so the file's order is the cursor order; the fsync happens under this
    // lock only, never under the index's write lock, so `check` does not wait for the disk.
    log: Option<Mutex<File>>,
    log_path: Option<PathBuf>,
    ttl_ms: i64,
}

impl RevocationStore {
    /// A store that keeps nothing on disk (tests, `replay`).
    pub fn in_memory(ttl_secs: u64) -> RevocationStore {
        RevocationStore {
            index: RwLock::new(Index::default()),
            log: None,
            log_path: None,
            ttl_ms: (ttl_secs as i64).saturating_mul(1000),
        }
    }

    /// Opens (or creates) the store in `dir`, replaying `revocations.jsonl`. A torn last line
    /// (a crash mid-append) is skipped with a warning; the log is then rewritten with only the
    /// latest state of each revocation still worth keeping at `now_ms`.
    pub fn open(dir: &Path, ttl_secs: u64, now_ms: i64) -> Result<RevocationStore, StoreError> {
        let path = dir.join(LOG_FILE);
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        crate::statedir::create_dir(dir).map_err(io_err)?;
        let mut store = RevocationStore::in_memory(ttl_secs);
        match File::open(&path) {
            Ok(f) => {
                store.load_lines(BufReader::new(f), &path.display().to_string(), |_| true)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        store.forget_old(now_ms);
        // Compact: rewrite through a temporary file and an atomic rename.
        let tmp = dir.join(format!("{LOG_FILE}.tmp"));
        {
            let mut f = crate::statedir::create_file(&tmp).map_err(io_err)?;
            store.write_snapshot(&mut f).map_err(io_err)?;
            f.sync_all().map_err(io_err)?;
        }
        std::fs::rename(&tmp, &path).map_err(io_err)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        let f = crate::statedir::open_append(&path, false).map_err(io_err)?;
        store.log = Some(Mutex::new(f));
        store.log_path = Some(path);
        Ok(store)
    }

    /// Reads log or snapshot lines, taking each line whose cursor `keep` accepts. Returns the
    /// revocations inserted.
    fn load_lines(
        &self,
        r: impl BufRead,
        name: &str,
        mut keep: impl FnMut(u64) -> bool,
    ) -> Result<Vec<Arc<Revocation>>, StoreError> {
        let mut index = self.index.write();
        let mut inserted = Vec::new();
        for (i, line) in r.lines().enumerate() {
            let line = line.map_err(|source| StoreError::Io {
                path: PathBuf::from(name),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(&line) {
                Ok(Line::Revocation(rev)) => {
                    if keep(rev.cursor) {
                        let rev = Arc::new(rev);
                        index.insert(rev.clone());
                        inserted.push(rev);
                    }
                }
                Ok(Line::Mark { last_cursor }) => {
                    if keep(last_cursor) {
                        index.last_cursor = index.last_cursor.max(last_cursor);
                    }
                }
                Err(e) => {
                    tracing::warn!(file = name, line = i + 1, error = %e, "skipping unreadable revocation record (torn write?)");
                }
            }
        }
        Ok(inserted)
    }

    /// The highest cursor ever handed out (what the next change's cursor follows).
    pub fn last_cursor(&self) -> u64 {
        self.index.read().last_cursor
    }

    /// The default time a revocation stays in force, milliseconds.
    pub fn ttl_ms(&self) -> i64 {
        self.ttl_ms
    }

    /// Records a revocation made at `now_ms` with a deterministic `id`. Returns it and whether
    /// it is new: an id already recorded (a replayed alert) returns the existing revocation and
    /// `false`, so callers do not act twice.
    pub fn revoke(
        &self,
        id: String,
        new: NewRevocation,
        now_ms: i64,
    ) -> Result<(Arc<Revocation>, bool), StoreError> {
        if new.scope == Scope::Session && new.session.is_none() {
            return Err(StoreError::MissingSession);
        }
        let mut log = self.log.as_ref().map(|l| l.lock());
        let rev = {
            let mut index = self.index.write();
            if let Some(existing) = index.by_id.get(&id) {
                return Ok((existing.clone(), false));
            }
            let cursor = index.last_cursor + 1;
            let rev = Arc::new(Revocation {
                id,
                account: new.account,
                session: if new.scope == Scope::Session {
                    new.session
                } else {
                    None
                },
                scope: new.scope,
                reason: new.reason,
                alert_id: new.alert_id,
                created_at: now_ms,
                expires_at: now_ms.saturating_add(new.ttl_ms.unwrap_or(self.ttl_ms)),
                lifted_at: None,
                cursor,
            });
            index.insert(rev.clone());
            rev
        };
        if let Some(f) = log.as_deref_mut() {
            if let Err(e) = append(f, &rev) {
                // Not durable: undo, so memory never claims more than the disk.
                self.index.write().remove(&rev.id);
                return Err(self.io_error(e));
            }
        }
        Ok((rev, true))
    }

    /// Lifts a revocation at `now_ms`. Returns the lifted revocation, or `None` when the id is
    /// unknown. Lifting twice is harmless and keeps the first lift time.
    pub fn lift(&self, id: &str, now_ms: i64) -> Result<Option<Arc<Revocation>>, StoreError> {
        let mut log = self.log.as_ref().map(|l| l.lock());
        let (lifted, previous) = {
            let mut index = self.index.write();
            let Some(old) = index.by_id.get(id).cloned() else {
                return Ok(None);
            };
            if old.lifted_at.is_some() {
                return Ok(Some(old));
            }
            let cursor = index.last_cursor + 1;
            let mut rev = (*old).clone();
            rev.lifted_at = Some(now_ms);
            rev.cursor = cursor;
            let rev = Arc::new(rev);
            index.insert(rev.clone());
            (rev, old)
        };
        if let Some(f) = log.as_deref_mut() {
            if let Err(e) = append(f, &lifted) {
                let mut index = self.index.write();
                index.remove(id);
                index.insert(previous);
                return Err(self.io_error(e));
            }
        }
        Ok(Some(lifted))
    }

    fn io_error(&self, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.log_path.clone().unwrap_or_default(),
            source,
        }
    }

    /// The revocation in force for this account and session at `now_ms`, if any. Account-scope
    /// revocations cover every session. No allocation: a hashed lookup and a short scan.
    pub fn check(
        &self,
        account: &str,
        session: Option<&str>,
        now_ms: i64,
    ) -> Option<Arc<Revocation>> {
        let index = self.index.read();
        let acc = index.accounts.get(account)?;
        // Prefer an account-wide revocation: it is the stronger answer.
        let mut found: Option<&Arc<Revocation>> = None;
        for r in &acc.entries {
            if r.is_active(now_ms) && r.covers(session) {
                if r.scope == Scope::Account {
                    return Some(r.clone());
                }
                found.get_or_insert(r);
            }
        }
        found.cloned()
    }

    /// One revocation by id.
    pub fn get(&self, id: &str) -> Option<Arc<Revocation>> {
        self.index.read().by_id.get(id).cloned()
    }

    /// Changes after cursor `since`, oldest first, at most `limit`, appended to `out`. Returns
    /// the cursor to pass next time (unchanged when there is nothing new).
    pub fn list(&self, since: u64, limit: usize, out: &mut Vec<Arc<Revocation>>) -> u64 {
        let index = self.index.read();
        let mut next = since;
        for (&cursor, rev) in index.by_cursor.range(since.saturating_add(1)..).take(limit) {
            out.push(rev.clone());
            next = cursor;
        }
        next
    }

    /// Revocations recorded (in force, expired or lifted, not yet forgotten).
    pub fn len(&self) -> usize {
        self.index.read().by_id.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets revocations that expired or were lifted more than a day before `now_ms`, so
    /// memory stays bounded. The log drops them at the next open.
    pub fn forget_old(&self, now_ms: i64) -> usize {
        let mut index = self.index.write();
        let old: Vec<String> = index
            .by_id
            .values()
            .filter(|r| r.lifted_at.unwrap_or(r.expires_at) < now_ms - FORGET_AFTER_MS)
            .map(|r| r.id.clone())
            .collect();
        for id in &old {
            index.remove(id);
        }
        old.len()
    }

    /// Writes the cursor high-water mark, then every recorded revocation as JSON lines in
    /// cursor order (the checkpoint format, identical to the compacted log's).
    pub fn write_snapshot(&self, w: &mut impl Write) -> io::Result<()> {
        let index = self.index.read();
        let mut buf = io::BufWriter::new(w);
        serde_json::to_writer(
            &mut buf,
            &Mark {
                last_cursor: index.last_cursor,
            },
        )?;
        buf.write_all(b"\n")?;
        for rev in index.by_cursor.values() {
            serde_json::to_writer(&mut buf, rev.as_ref())?;
            buf.write_all(b"\n")?;
        }
        buf.flush()
    }

    /// Merges a snapshot written by [`Self::write_snapshot`] (a checkpoint) into the store.
    /// The log opened before is the source of truth: only changes it has never seen (cursor
    /// above its high-water mark) are taken, and appended to the log, so a restore never
    /// brings back a lifted revocation, drops a later one, or moves the cursor back.
    /// Unreadable lines are skipped with a warning. Returns the number of revocations taken.
    pub fn read_snapshot(&self, r: impl BufRead) -> Result<usize, StoreError> {
        let mut log = self.log.as_ref().map(|l| l.lock());
        let seen = self.index.read().last_cursor;
        let taken = self.load_lines(r, "snapshot", |cursor| cursor > seen)?;
        if let Some(f) = log.as_deref_mut() {
            for rev in &taken {
                append(f, rev).map_err(|e| self.io_error(e))?;
            }
        }
        Ok(taken.len())
    }
}

fn append(f: &mut File, rev: &Revocation) -> io::Result<()> {
    let mut line = serde_json::to_vec(rev)?;
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn new(account: &str, session: Option<&str>, scope: Scope) -> NewRevocation {
        NewRevocation {
            account: account.into(),
            session: session.map(Into::into),
            scope,
            reason: "test".into(),
            alert_id: None,
            ttl_ms: None,
        }
    }

    #[test]
    fn account_scope_covers_every_session_and_lift_ends_it() {
        let s = RevocationStore::in_memory(3600);
        s.revoke("rv_a".into(), new("dr", None, Scope::Account), 0)
            .unwrap();
        assert!(s.check("dr", Some("any"), 10).is_some());
        assert!(s.check("dr", None, 10).is_some());
        assert!(s.check("other", Some("any"), 10).is_none());
        s.lift("rv_a", 20).unwrap();
        assert!(s.check("dr", Some("any"), 30).is_none());
    }

    #[test]
    fn session_scope_is_only_that_session_and_expires() {
        let s = RevocationStore::in_memory(60);
        s.revoke("rv_s".into(), new("dr", Some("s1"), Scope::Session), 0)
            .unwrap();
        assert!(s.check("dr", Some("s1"), 59_999).is_some());
        assert!(s.check("dr", Some("s2"), 1).is_none());
        assert!(s.check("dr", None, 1).is_none());
        assert!(s.check("dr", Some("s1"), 60_000).is_none());
    }

    #[test]
    fn same_id_twice_is_not_new_and_lift_moves_the_cursor() {
        let s = RevocationStore::in_memory(60);
        let (_, fresh) = s
            .revoke("rv_1".into(), new("a", Some("s"), Scope::Session), 0)
            .unwrap();
        let (_, again) = s
            .revoke("rv_1".into(), new("a", Some("s"), Scope::Session), 5)
            .unwrap();
        assert!(fresh && !again);
        s.revoke("rv_2".into(), new("b", None, Scope::Account), 1)
            .unwrap();
        let mut out = Vec::new();
        let c = s.list(0, 10, &mut out);
        assert_eq!((out.len(), c), (2, 2));
        s.lift("rv_1", 3).unwrap();
        out.clear();
        let c2 = s.list(c, 10, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "rv_1");
        assert!(out[0].lifted_at.is_some());
        assert_eq!(c2, 3);
    }

    #[test]
    fn log_survives_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RevocationStore::open(dir.path(), 3600, 0).unwrap();
            s.revoke("rv_1".into(), new("a", Some("s"), Scope::Session), 0)
                .unwrap();
            s.revoke("rv_2".into(), new("b", None, Scope::Account), 1)
                .unwrap();
            s.lift("rv_2", 2).unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        f.write_all(b"{\"id\":\"rv_3\",\"acco").unwrap();
        drop(f);
        let s = RevocationStore::open(dir.path(), 3600, 10).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.check("a", Some("s"), 10).is_some());
        assert!(s.check("b", Some("x"), 10).is_none());
        let (r, fresh) = s
            .revoke("rv_4".into(), new("c", None, Scope::Account), 11)
            .unwrap();
        assert!(fresh);
        assert_eq!(r.cursor, 4, "cursors keep increasing across restarts");
    }

    #[test]
    fn cursor_never_goes_back_even_when_everything_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RevocationStore::open(dir.path(), 1, 0).unwrap();
            s.revoke("rv_1".into(), new("a", None, Scope::Account), 0)
                .unwrap();
            s.lift("rv_1", 1).unwrap();
        }
        // Two days later the lifted revocation is forgotten; its cursor is not.
        let s = RevocationStore::open(dir.path(), 1, 2 * 86_400_000).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.last_cursor(), 2);
        let (r, _) = s
            .revoke(
                "rv_2".into(),
                new("b", None, Scope::Account),
                2 * 86_400_000,
            )
            .unwrap();
        assert_eq!(r.cursor, 3);
    }
}
