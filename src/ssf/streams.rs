//! The event streams receivers create (SSF 1.0 §8.1), with the SETs each holds: the poll queue
//! (unacknowledged SETs, kept until acknowledged or expired) and, for a paused push stream, the
//! SETs held until it is enabled again. Owns the file `ssf-streams.json` in the state
//! directory (`0600`), rewritten whole and atomically after every change, so streams and
//! held SETs survive restarts. Stops at storage: HTTP is [`super::routes`]'s.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The streams file's name inside the state directory.
pub const STREAMS_FILE: &str = "ssf-streams.json";
/// RFC 8935 push delivery.
pub const PUSH: &str = "urn:ietf:rfc:8935";
/// RFC 8936 poll delivery.
pub const POLL: &str = "urn:ietf:rfc:8936";
/// The last delivered `jti`s remembered per stream, so a replayed event is not queued twice.
const SEEN_KEPT: usize = 4_096;

/// What [`Stream::hold`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Queued.
    Queued,
    /// The same `jti` was queued before: not again.
    Duplicate,
    /// The queue is full: refused.
    Full,
}

/// A stream's status (SSF 1.0 §8.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Events flow.
    Enabled,
    /// Events are held for later.
    Paused,
    /// Events are dropped.
    Disabled,
}

/// The `delivery` member of a stream configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// [`PUSH`] or [`POLL`].
    pub method: String,
    /// Where pushes go, or (poll) where the receiver polls; the latter set by Tocsin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// The `Authorization` header value sent with each push, if the receiver wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_header: Option<String>,
}

/// A SET waiting in a stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Held {
    /// Its `jti`.
    pub jti: String,
    /// The signed SET.
    pub set: String,
    /// When it was queued, epoch ms (for expiry).
    pub at_ms: i64,
}

/// One stream: its configuration, owner, status, subjects and held SETs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stream {
    /// Transmitter-supplied id.
    pub stream_id: String,
    /// The token name that created it; only it (or an operator) may see it.
    pub owner: String,
    /// The audience of its SETs.
    pub aud: String,
    /// Receiver-supplied.
    #[serde(default)]
    pub events_requested: Vec<String>,
    /// How SETs reach the receiver.
    pub delivery: Delivery,
    /// Receiver-supplied.
    #[serde(default)]
    pub description: Option<String>,
    /// enabled, paused or disabled.
    pub status: Status,
    /// Why the status was last changed.
    #[serde(default)]
    pub reason: Option<String>,
    /// Subjects added by the receiver; empty means every subject.
    #[serde(default)]
    pub subjects: Vec<Value>,
    /// SETs waiting: the poll queue, or a paused push stream's held events.
    #[serde(default)]
    pub queue: VecDeque<Held>,
    /// Recently queued `jti`s, oldest first.
    #[serde(default)]
    pub seen: VecDeque<String>,
    /// Last verification request, epoch ms.
    #[serde(default)]
    pub last_verification_ms: i64,
}

impl Stream {
    /// Event types this stream delivers: those requested that Tocsin supports (all supported
    /// when none were requested).
    pub fn events_delivered(&self) -> Vec<&'static str> {
        super::set::SUPPORTED
            .into_iter()
            .filter(|t| {
                *t == super::set::VERIFICATION
                    || self.events_requested.is_empty()
                    || self.events_requested.iter().any(|r| r == t)
            })
            .collect()
    }

    /// Whether an event about `sub_id` is for this stream: no subjects added means all; else a
    /// subject naming the same user, session or opaque id.
    pub fn wants_subject(&self, sub_id: &Value) -> bool {
        if self.subjects.is_empty() {
            return true;
        }
        let mut ids = Vec::new();
        collect_ids(sub_id, &mut ids);
        self.subjects.iter().any(|s| {
            let mut wanted = Vec::new();
            collect_ids(s, &mut wanted);
            wanted.iter().any(|w| ids.contains(w))
        })
    }

    /// The configuration as receivers see it (SSF 1.0 §8.1.1).
    pub fn config(&self, iss: &str, min_verification_interval: u64) -> Value {
        let mut v = serde_json::json!({
            "stream_id": self.stream_id,
            "iss": iss,
            "aud": self.aud,
            "events_supported": super::set::SUPPORTED,
            "events_requested": self.events_requested,
            "events_delivered": self.events_delivered(),
            "delivery": self.delivery,
            "min_verification_interval": min_verification_interval,
        });
        if let Some(d) = &self.description {
            v["description"] = Value::from(d.as_str());
        }
        v
    }

    /// Queues `held` unless its `jti` was queued before or the queue holds `max` already.
    pub fn hold(&mut self, held: Held, max: usize) -> Hold {
        if self.seen.iter().any(|j| *j == held.jti) {
            return Hold::Duplicate;
        }
        if self.queue.len() >= max {
            return Hold::Full;
        }
        self.seen.push_back(held.jti.clone());
        if self.seen.len() > SEEN_KEPT {
            self.seen.pop_front();
        }
        self.queue.push_back(held);
        Hold::Queued
    }

    /// Drops SETs queued before `cutoff_ms`; returns how many.
    pub fn expire(&mut self, cutoff_ms: i64) -> usize {
        let before = self.queue.len();
        self.queue.retain(|h| h.at_ms >= cutoff_ms);
        before - self.queue.len()
    }
}

/// Every identifier string in a subject (`id`, `email`, `sub`, `phone_number`, `uri`), nested
/// members of a complex subject included.
fn collect_ids<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    if let Some(m) = v.as_object() {
        for (k, x) in m {
            match (k.as_str(), x) {
                ("id" | "email" | "sub" | "phone_number" | "uri", Value::String(s)) => out.push(s),
                (_, Value::Object(_)) => collect_ids(x, out),
                _ => {}
            }
        }
    }
}

/// Why the streams file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("ssf streams file {path}: {message}")]
pub struct StoreError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// All streams, by id, and the file they live in.
pub struct Streams {
    path: PathBuf,
    /// Streams by id.
    pub by_id: BTreeMap<String, Stream>,
}

impl Streams {
    /// Opens the streams file in `dir` (none yet: no streams).
    pub fn open(dir: &Path) -> Result<Streams, StoreError> {
        let path = dir.join(STREAMS_FILE);
        let err = |message: String| StoreError {
            path: path.clone(),
            message,
        };
        crate::statedir::create_dir(dir).map_err(|e| err(e.to_string()))?;
        let by_id = match std::fs::read(&path) {
            Ok(bytes) => {
                crate::statedir::open_append(&path, false).map_err(|e| err(e.to_string()))?;
                serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Streams { path, by_id })
    }

    /// Writes every stream to a fresh file and swaps it in (fsynced).
    pub fn save(&self) -> Result<(), StoreError> {
        let err = |e: std::io::Error| StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let mut f = crate::statedir::create_file(&tmp).map_err(err)?;
        let bytes = serde_json::to_vec(&self.by_id).map_err(|e| err(e.into()))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stream() -> Stream {
        Stream {
            stream_id: "s1".into(),
            owner: "idp".into(),
            aud: "idp".into(),
            events_requested: vec![super::super::set::SESSION_REVOKED.into()],
            delivery: Delivery {
                method: POLL.into(),
                endpoint_url: None,
                authorization_header: None,
            },
            description: None,
            status: Status::Enabled,
            reason: None,
            subjects: vec![],
            queue: VecDeque::new(),
            seen: VecDeque::new(),
            last_verification_ms: 0,
        }
    }

    #[test]
    fn streams_and_their_queues_survive_a_reopen_in_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Streams::open(dir.path()).unwrap();
        let mut st = stream();
        let held = |j: &str| Held {
            jti: j.into(),
            set: "x.y.z".into(),
            at_ms: 10,
        };
        assert_eq!(st.hold(held("a"), 2), Hold::Queued);
        assert_eq!(
            st.hold(held("a"), 2),
            Hold::Duplicate,
            "a replayed jti is not queued twice"
        );
        assert_eq!(st.hold(held("b"), 2), Hold::Queued);
        assert_eq!(st.hold(held("c"), 2), Hold::Full, "a full queue refuses");
        s.by_id.insert("s1".into(), st);
        s.save().unwrap();
        let again = Streams::open(dir.path()).unwrap();
        assert_eq!(again.by_id["s1"].queue.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(dir.path().join(STREAMS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600);
        }
    }

    #[test]
    fn subjects_filter_by_user_or_session_and_events_delivered_follow_the_request() {
        let mut st = stream();
        let sub = super::super::set::subject("dr.martin", Some("s-1"));
        assert!(st.wants_subject(&sub));
        st.subjects
            .push(json!({"format": "opaque", "id": "someone-else"}));
        assert!(!st.wants_subject(&sub));
        st.subjects
            .push(json!({"format": "complex", "user": {"format": "opaque", "id": "dr.martin"}}));
        assert!(st.wants_subject(&sub));
        let d = st.events_delivered();
        assert!(d.contains(&super::super::set::SESSION_REVOKED));
        assert!(!d.contains(&super::super::set::RISK_LEVEL_CHANGE));
        let mut st = stream();
        st.queue.push_back(Held {
            jti: "old".into(),
            set: String::new(),
            at_ms: 1,
        });
        st.queue.push_back(Held {
            jti: "new".into(),
            set: String::new(),
            at_ms: 100,
        });
        assert_eq!(st.expire(50), 1);
        assert_eq!(st.queue[0].jti, "new");
    }
}
