//! Ground truth of a generated run: one record per injected attack and a closing summary, as
//! JSON lines (`tocsin gen --truth FILE`). `tocsin eval` reads the same types back.
//!
//! The `tune` and `holdout` profiles add [`Labels`] between the attacks and the summary: one
//! `attack_label` line per attack (its variant and the parameters drawn for it) and one
//! `session` line per honest session that belongs to a look-alike family (the `classic`
//! profile writes neither, so its truth files are unchanged).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// One attack event as the truth names it, so alerts can be matched to it by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthEvent {
    /// The event's `id` in the generated stream.
    pub id: String,
    /// Event time, RFC 3339 (as in the stream).
    pub ts: String,
    /// Records touched: the `count` of an `access` event, 0 for logins, MFA and logouts.
    pub count: u32,
    /// The event `type` (`login`, `access`...).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The account the event names (multi-account attacks touch many).
    #[serde(default)]
    pub account: String,
    /// `success` or `failure` for logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// One labelled attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackTruth {
    /// Always `attack` (the line discriminator).
    #[serde(rename = "type")]
    pub record: String,
    /// Attack id, `atk-NNN`.
    pub id: String,
    /// Attack kind (`infostealer`, `credential_stuffing`...).
    pub kind: String,
    /// The victim, or the first account touched for multi-account attacks.
    pub account: String,
    /// Every account the attack touched (multi-account kinds only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// The victim's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Sessions the attacker used (opened, or hijacked).
    pub sessions: Vec<String>,
    /// Addresses the attacker came from.
    pub source_ips: Vec<String>,
    /// First attack event, RFC 3339.
    pub start: String,
    /// Last attack event, RFC 3339.
    pub end: String,
    /// The attack's events in stream order.
    pub events: Vec<TruthEvent>,
}

/// Totals of a generated run (the last truth line).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthSummary {
    /// Events written.
    pub events: u64,
    /// Login attempts (successes and honest failures) by account owners.
    pub legit_logins: u64,
    /// Sessions opened by account owners.
    pub legit_sessions: u64,
    /// Accounts in the population.
    pub accounts: u32,
    /// Days generated.
    pub days: u32,
    /// The seed.
    pub seed: u64,
}

/// An attack's variant and the parameters the generator drew for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackLabel {
    /// Always `attack_label` (the line discriminator).
    #[serde(rename = "type")]
    pub record: String,
    /// The attack's id (`atk-NNN`).
    pub id: String,
    /// The attack kind, repeated for readers of this line alone.
    pub kind: String,
    /// How this instance differs from others of its kind (`plain`, `proxy_city`...).
    pub variant: String,
    /// Drawn parameters (records exported, local hour, distance from the victim's home...).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// An honest session that belongs to one or more look-alike families.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTruth {
    /// Always `session` (the line discriminator).
    #[serde(rename = "type")]
    pub record: String,
    /// The session id, as the events carry it.
    pub session: String,
    /// The account.
    pub account: String,
    /// Look-alike family names (`mobile_carrier`, `night_shift`...), see `gen::Lookalike`.
    pub families: Vec<String>,
    /// First event, RFC 3339: the first failed attempt when the owner mistyped first.
    pub start: String,
    /// Last event, RFC 3339.
    pub end: String,
}

/// What the labelled profiles add to the truth.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labels {
    /// One per attack that produced events, in attack order.
    pub attacks: Vec<AttackLabel>,
    /// Honest sessions in a look-alike family, in order of their first event.
    pub sessions: Vec<SessionTruth>,
}

impl Labels {
    /// True when there is nothing to write (the `classic` profile).
    pub fn is_empty(&self) -> bool {
        self.attacks.is_empty() && self.sessions.is_empty()
    }
}

/// A whole truth file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Truth {
    /// Every attack, in id order.
    pub attacks: Vec<AttackTruth>,
    /// The closing summary.
    pub summary: TruthSummary,
}

/// Why a truth file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// Reading failed.
    #[error("reading truth: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a truth record.
    #[error("truth line {line}: {reason}")]
    Bad {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// No `summary` line: the file was cut short.
    #[error("truth has no summary line (truncated file?)")]
    NoSummary,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "type")]
    record: String,
}

impl Truth {
    /// Writes every attack then the summary, one JSON object per line.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        self.write_labelled(&Labels::default(), out)
    }

    /// Writes every attack, then `labels` (attack labels, then sessions), then the summary.
    pub fn write_labelled(&self, labels: &Labels, out: &mut impl Write) -> std::io::Result<()> {
        for a in &self.attacks {
            serde_json::to_writer(&mut *out, a)?;
            out.write_all(b"\n")?;
        }
        for l in &labels.attacks {
            serde_json::to_writer(&mut *out, l)?;
            out.write_all(b"\n")?;
        }
        for s in &labels.sessions {
            serde_json::to_writer(&mut *out, s)?;
            out.write_all(b"\n")?;
        }
        let mut summary = serde_json::to_value(&self.summary)?;
        if let Some(obj) = summary.as_object_mut() {
            obj.insert("type".into(), "summary".into());
        }
        serde_json::to_writer(&mut *out, &summary)?;
        out.write_all(b"\n")
    }

    /// Reads a truth file written by [`Truth::write`] or [`Truth::write_labelled`], without its
    /// labels. Blank lines are ignored.
    pub fn read(input: impl BufRead) -> Result<Truth, TruthError> {
        Ok(Truth::read_labelled(input)?.0)
    }

    /// Reads a truth file and its labels (empty for files without any).
    pub fn read_labelled(input: impl BufRead) -> Result<(Truth, Labels), TruthError> {
        let mut truth = Truth::default();
        let mut labels = Labels::default();
        let mut summary = None;
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |e: serde_json::Error| TruthError::Bad {
                line: i + 1,
                reason: e.to_string(),
            };
            let tag: Tag = serde_json::from_str(&line).map_err(bad)?;
            match tag.record.as_str() {
                "attack" => truth
                    .attacks
                    .push(serde_json::from_str(&line).map_err(bad)?),
                "attack_label" => labels
                    .attacks
                    .push(serde_json::from_str(&line).map_err(bad)?),
                "session" => labels
                    .sessions
                    .push(serde_json::from_str(&line).map_err(bad)?),
                "summary" => summary = Some(serde_json::from_str(&line).map_err(bad)?),
                other => {
                    return Err(TruthError::Bad {
                        line: i + 1,
                        reason: format!("unknown record type `{other}`"),
                    })
                }
            }
        }
        truth.summary = summary.ok_or(TruthError::NoSummary)?;
        Ok((truth, labels))
    }
}
