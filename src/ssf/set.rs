//! Security Event Tokens (RFC 8417) as Shared Signals profiles them: the claims of the CAEP
//! `session-revoked` and `risk-level-change`, the RISC `account-credential-change-required`
//! and the SSF `verification` events, before signing. Stops at claims: signing is
//! [`super::jose`]'s, which streams get a SET is [`super::Ssf`]'s.
//!
//! The `jti` of an event caused by a revocation or an alert is derived from that revocation's
//! or alert's id, the event type and the stream, so a replay or a restart re-sends the same
//! `jti` (receivers de-duplicate on it) and never a second, different event.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::alert::Severity;

/// CAEP 1.0 session revoked.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP 1.0 credential change.
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// CAEP 1.0 risk level change.
pub const RISK_LEVEL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/risk-level-change";
/// RISC 1.0 account credential change required.
pub const CREDENTIAL_CHANGE_REQUIRED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required";
/// RISC 1.0 credential compromise.
pub const CREDENTIAL_COMPROMISE: &str =
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";
/// RISC 1.0 account disabled.
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// SSF 1.0 verification.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// The event types this transmitter sends (`events_supported`).
pub const SUPPORTED: [&str; 4] = [
    SESSION_REVOKED,
    CREDENTIAL_CHANGE_REQUIRED,
    RISK_LEVEL_CHANGE,
    VERIFICATION,
];

/// A short name for metrics and logs: the last path segment of the event type URI.
pub fn short_name(event_type: &str) -> &str {
    event_type.rsplit('/').next().unwrap_or(event_type)
}

/// Something Tocsin did that receivers should hear about, in plain fields (the responder fills
/// it from its own types).
#[derive(Clone, Debug)]
pub enum Signal {
    /// A revocation was recorded.
    Revoked {
        /// The revocation's id (deterministic from its alert, or from a manual request).
        id: String,
        /// The alert behind it, if automatic.
        alert_id: Option<String>,
        /// The account.
        account: String,
        /// The session, for a session-scope revocation.
        session: Option<String>,
        /// Why, for administrators.
        reason: String,
        /// When it was made, epoch ms.
        at_ms: i64,
    },
    /// An alert at or above the configured severity.
    Alert {
        /// The alert id.
        id: String,
        /// The account.
        account: String,
        /// The session, if known.
        session: Option<String>,
        /// Its severity.
        severity: Severity,
        /// Its title, the risk reason.
        title: String,
        /// Event time, epoch ms.
        at_ms: i64,
    },
}

/// One event, ready to be addressed to a stream: type, subject, payload, and what its `jti`
/// and `txn` derive from.
#[derive(Clone, Debug)]
pub struct Event {
    /// Event type URI.
    pub event_type: &'static str,
    /// The top-level `sub_id`.
    pub sub_id: Value,
    /// The event's own members.
    pub payload: Value,
    /// Id of what caused it (revocation or alert), the seed of the `jti`.
    pub source_id: String,
    /// The `txn` claim: one value for every event one detection caused.
    pub txn: String,
    /// `iat`, seconds: the source's time, so a re-sent SET says the same.
    pub iat: i64,
}

/// `sub_id` for an account and maybe a session: an RFC 9493 opaque user, in an SSF complex
/// subject when there is a session too.
pub fn subject(account: &str, session: Option<&str>) -> Value {
    let user = json!({ "format": "opaque", "id": account });
    match session {
        Some(s) => json!({
            "format": "complex",
            "user": user,
            "session": { "format": "opaque", "id": s },
        }),
        None => json!({ "format": "complex", "user": user }),
    }
}

/// The events a signal causes.
pub fn events(signal: &Signal) -> Vec<Event> {
    match signal {
        Signal::Revoked {
            id,
            alert_id,
            account,
            session,
            reason,
            at_ms,
        } => {
            let secs = at_ms / 1000;
            let txn = alert_id.clone().unwrap_or_else(|| id.clone());
            let initiating = if alert_id.is_some() {
                "policy"
            } else {
                "admin"
            };
            let mut out = vec![Event {
                event_type: SESSION_REVOKED,
                sub_id: subject(account, session.as_deref()),
                payload: json!({
                    "event_timestamp": secs,
                    "initiating_entity": initiating,
                    "reason_admin": { "en": reason },
                }),
                source_id: id.clone(),
                txn: txn.clone(),
                iat: secs,
            }];
            // An automatic revocation follows a takeover with the right password: the
            // password must be treated as stolen.
            if alert_id.is_some() {
                let sub = json!({ "format": "opaque", "id": account });
                out.push(Event {
                    event_type: CREDENTIAL_CHANGE_REQUIRED,
                    sub_id: sub.clone(),
                    payload: json!({ "subject": sub }),
                    source_id: id.clone(),
                    txn,
                    iat: secs,
                });
            }
            out
        }
        Signal::Alert {
            id,
            account,
            session,
            severity,
            title,
            at_ms,
        } => {
            let level = match severity {
                Severity::Low => "LOW",
                Severity::Medium => "MEDIUM",
                Severity::High | Severity::Critical => "HIGH",
            };
            vec![Event {
                event_type: RISK_LEVEL_CHANGE,
                sub_id: subject(account, session.as_deref()),
                payload: json!({
                    "principal": "USER",
                    "current_level": level,
                    "risk_reason": title,
                    "event_timestamp": at_ms / 1000,
                }),
                source_id: id.clone(),
                txn: id.clone(),
                iat: at_ms / 1000,
            }]
        }
    }
}

/// The `jti` of `event` on `stream_id`: 32 hex digits of a hash of both, stable across replays.
pub fn jti(stream_id: &str, event: &Event) -> String {
    let mut h = Sha256::new();
    for part in [stream_id, event.event_type, &event.source_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The claims of a SET carrying `event` to audience `aud`.
pub fn claims(iss: &str, aud: &str, jti: &str, event: &Event) -> Value {
    json!({
        "iss": iss,
        "aud": aud,
        "jti": jti,
        "iat": event.iat,
        "txn": event.txn,
        "sub_id": event.sub_id,
        "events": { event.event_type: event.payload },
    })
}

/// The claims of a verification SET (SSF 1.0 §8.1.4.1): the stream as subject, `state` echoed.
pub fn verification(
    iss: &str,
    aud: &str,
    jti: &str,
    stream_id: &str,
    state: Option<&str>,
    now_secs: i64,
) -> Value {
    let payload = match state {
        Some(s) => json!({ "state": s }),
        None => json!({}),
    };
    json!({
        "iss": iss,
        "aud": aud,
        "jti": jti,
        "iat": now_secs,
        "sub_id": { "format": "opaque", "id": stream_id },
        "events": { VERIFICATION: payload },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revoked(alert: Option<&str>) -> Signal {
        Signal::Revoked {
            id: "rv_1".into(),
            alert_id: alert.map(str::to_string),
            account: "dr.martin@cabinet-rouen".into(),
            session: Some("s-8f2c".into()),
            reason: "takeover".into(),
            at_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn an_automatic_revocation_is_session_revoked_and_credential_change_required() {
        let ev = events(&revoked(Some("al_9")));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].event_type, SESSION_REVOKED);
        assert_eq!(ev[0].sub_id["format"], "complex");
        assert_eq!(ev[0].sub_id["session"]["id"], "s-8f2c");
        assert_eq!(ev[0].sub_id["user"]["id"], "dr.martin@cabinet-rouen");
        assert_eq!(ev[0].payload["event_timestamp"], 1_700_000_000);
        assert_eq!(ev[1].event_type, CREDENTIAL_CHANGE_REQUIRED);
        assert!(ev.iter().all(|e| e.txn == "al_9"));
        let c = claims("https://t.example", "rcv", &jti("st", &ev[0]), &ev[0]);
        assert_eq!(c["events"][SESSION_REVOKED]["initiating_entity"], "policy");
        assert!(c.get("exp").is_none() && c.get("sub").is_none());
        // A manual revocation is not a stolen password.
        assert_eq!(events(&revoked(None)).len(), 1);
    }

    #[test]
    fn jti_is_stable_per_source_and_distinct_per_stream_and_type() {
        let a = events(&revoked(Some("al_9")));
        let b = events(&revoked(Some("al_9")));
        assert_eq!(jti("s1", &a[0]), jti("s1", &b[0]));
        assert_ne!(jti("s1", &a[0]), jti("s2", &a[0]));
        assert_ne!(jti("s1", &a[0]), jti("s1", &a[1]));
        assert_eq!(jti("s1", &a[0]).len(), 32);
    }

    #[test]
    fn alert_maps_severity_to_caep_levels() {
        let ev = events(&Signal::Alert {
            id: "al_1".into(),
            account: "a".into(),
            session: None,
            severity: Severity::Critical,
            title: "t".into(),
            at_ms: 5_000,
        });
        assert_eq!(ev[0].payload["current_level"], "HIGH");
        assert_eq!(ev[0].payload["principal"], "USER");
        assert_eq!(
            ev[0].sub_id,
            json!({"format": "complex", "user": {"format": "opaque", "id": "a"}})
        );
    }
}
