//! The alert: the one object that goes to webhooks, the alerts topic, `replay` output and the API
//! (README.md, "An alert", shows one). Built only when a rule fires, so it owns its strings.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How bad an alert is. Ordered: `Low < Medium < High < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look in aggregate.
    Low,
    /// Worth a look.
    Medium,
    /// Likely an attack on this account.
    High,
    /// An attack in progress or a safety mechanism engaged; humans must act.
    Critical,
}

impl Severity {
    /// The name used in JSON, rule files and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the name used in JSON, rule files and configuration.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine does about an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseAction {
    /// Send to the alert sinks.
    Alert,
    /// Revoke the one session the alert is about.
    RevokeSession,
    /// Revoke every session of the account.
    RevokeAccount,
}

impl ResponseAction {
    /// The name used in JSON, rule files and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseAction::Alert => "alert",
            ResponseAction::RevokeSession => "revoke_session",
            ResponseAction::RevokeAccount => "revoke_account",
        }
    }

    /// Parses the name used in JSON, rule files and configuration.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "alert" => ResponseAction::Alert,
            "revoke_session" => ResponseAction::RevokeSession,
            "revoke_account" => ResponseAction::RevokeAccount,
            _ => return None,
        })
    }

    /// True for the revocation actions.
    pub fn is_revocation(self) -> bool {
        matches!(
            self,
            ResponseAction::RevokeSession | ResponseAction::RevokeAccount
        )
    }
}

/// Where the event came from, as far as the GeoIP databases know.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertGeo {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Autonomous system number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
}

/// What the event came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertDevice {
    /// `device_id` from the event, or `fp_<hex>`: the user-agent fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Browser family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// Operating-system family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `bot` or `unknown`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One reason an alert fired, in numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The feature (as named in `rules/README.md`), e.g. `geo.new_country`.
    pub feature: String,
    /// This event's value.
    pub value: serde_json::Value,
    /// What the account (or tenant, or population) usually looks like, with counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Contribution to the risk score (log-likelihood ratio, natural log), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// One sentence for an analyst.
    pub text: String,
}

/// An explained detection (README.md, "An alert", shows one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic id: see [`alert_id`].
    pub id: String,
    /// The rule id.
    pub rule: String,
    /// One line for humans.
    pub title: String,
    /// How bad.
    pub severity: Severity,
    /// The risk score in [0, 1] of the event that fired the rule.
    pub risk: f64,
    /// Event time of the triggering event, RFC 3339.
    pub ts: String,
    /// When the engine decided: event time in `replay` (so output is deterministic), wall clock in `run`.
    pub detected_at: String,
    /// The account.
    pub account: String,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The session to revoke, when the alert is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Client address of the triggering event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Where from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<AlertGeo>,
    /// What with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<AlertDevice>,
    /// Why, in numbers.
    pub reasons: Vec<Reason>,
    /// What the engine does about it.
    pub actions: Vec<ResponseAction>,
    /// MITRE ATT&CK technique ids.
    pub mitre: Vec<String>,
    /// Ids of the events that led to it (the producer's `id`, or a derived `ev_` id).
    pub events: Vec<String>,
    /// `shadow` when the rule runs in shadow mode: recorded, never acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

impl Alert {
    /// True when the alert asks for a revocation (and is not in shadow mode).
    pub fn wants_revocation(&self) -> bool {
        self.mode.is_none() && self.actions.iter().any(|a| a.is_revocation())
    }

    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("alerts always serialise")
    }
}

/// An analyst's verdict on an alert (`POST /v1/alerts/{id}/feedback`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It was the attacker: keep what the alert flagged out of the account's baseline.
    ConfirmedCompromise,
    /// It was the account's owner: learn the device and place at once.
    FalsePositive,
}

/// The deterministic alert id: `al_` and 32 hex digits of SHA-256 over the rule, the account and
/// the scope (the session, or the suppression window the alert belongs to; a re-fire in the same
/// session after the suppression window adds the new window's start to the session). A replay or a
/// restart computes the same id for the same detection, so receivers can de-duplicate on it.
pub fn alert_id(rule: &str, account: &str, scope: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule, account, scope] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    format!("al_{}", hex::encode(&d[..16]))
}

/// A stable id for an event that came without one: `ev_` and 16 hex digits over its account,
/// time, kind and session. Lets ground truth and alerts name the same event.
pub fn derived_event_id(account: &str, ts_ms: i64, kind: &str, session: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(account.as_bytes());
    h.update([0]);
    h.update(ts_ms.to_le_bytes());
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(session.unwrap_or("").as_bytes());
    let d = h.finalize();
    format!("ev_{}", hex::encode(&d[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_id_is_deterministic_and_unambiguous() {
        assert_eq!(alert_id("r", "a", "s"), alert_id("r", "a", "s"));
        assert_ne!(alert_id("r", "ab", "s"), alert_id("r", "a", "bs"));
        assert!(alert_id("r", "a", "s").starts_with("al_"));
        assert_eq!(alert_id("r", "a", "s").len(), 35);
    }

    #[test]
    fn severity_orders() {
        assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
    }
}
