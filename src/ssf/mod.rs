//! OpenID Shared Signals (SSF 1.0, with the CAEP 1.0 and RISC 1.0 event profiles): Tocsin as a
//! transmitter of signed Security Event Tokens (RFC 8417) about the sessions it revokes and the
//! takeovers it detects, and as a receiver of the SETs identity providers push to it.
//!
//! | module | owns |
//! |---|---|
//! | [`jose`] | the signing key, JWS signing, the JWK Set, verification of inbound SETs |
//! | [`set`] | what each event says: claims, subjects, deterministic `jti` |
//! | [`streams`] | receivers' streams and the SETs held for them, persisted in the state dir |
//! | [`routes`] | the HTTP endpoints: metadata, JWKS, stream management, poll, inbound push |
//! | [`receiver`] | inbound SETs from configured identity providers, and what they cause |
//!
//! [`Ssf`] is what the responder and the API share. Push delivery goes through the
//! responder's durable outbox ([`PushJob`], destination `ssf:<stream_id>`); poll streams and
//! paused push streams keep their SETs in the streams file. This module imports neither the
//! responder nor the API: they call in, and [`routes::Host`] is how the routes reach back.

pub mod jose;
pub mod receiver;
pub mod routes;
pub mod set;
pub mod streams;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::metrics::Metrics;
use crate::settings::SsfSettings;

pub use set::Signal;
use streams::{Held, Status, Streams, PUSH};

/// Outbox destinations of SET pushes start with this, followed by the stream id.
pub const DESTINATION_PREFIX: &str = "ssf:";

/// Why Shared Signals could not start.
#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    /// A `[ssf]` key is wrong.
    #[error("ssf: {0}")]
    Config(String),
    /// The signing key.
    #[error(transparent)]
    Key(#[from] jose::KeyError),
    /// The streams file.
    #[error(transparent)]
    Store(#[from] streams::StoreError),
}

/// A SET to push through the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct PushJob {
    /// The stream.
    pub stream_id: String,
    /// The SET's `jti` (the outbox delivery id).
    pub jti: String,
    /// The signed SET.
    pub set: String,
}

/// Why a push attempt failed; `permanent` when retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PushError {
    /// The receiver refused this SET for good (RFC 8935 §2.3 error) or the stream is gone.
    pub permanent: bool,
    /// What happened (never the authorization header).
    pub message: String,
}

/// The transmitter and receiver state shared by the responder and the API.
pub struct Ssf {
    issuer: String,
    signer: jose::Signer,
    settings: SsfSettings,
    streams: Mutex<Streams>,
    receiver: receiver::Receiver,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Ssf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssf").field("issuer", &self.issuer).finish()
    }
}

/// Wall-clock time, epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether `url` is `https`, or `http` to a loopback host.
pub fn url_allowed(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
    match u.scheme() {
        "https" => !host.is_empty(),
        "http" => {
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

impl Ssf {
    /// Loads the key (made on first start), the streams and the identity providers' keys.
    pub fn open(
        settings: &SsfSettings,
        state_dir: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<Ssf, SsfError> {
        let issuer = settings.issuer.trim_end_matches('/').to_string();
        if !url_allowed(&issuer) || issuer.contains(['?', '#']) {
            return Err(SsfError::Config(format!(
                "issuer {issuer:?}: expected an https URL without query or fragment (http only for a loopback host)"
            )));
        }
        let alg = match settings.algorithm.as_str() {
            "ES256" => jose::Algorithm::ES256,
            "RS256" => jose::Algorithm::RS256,
            other => {
                return Err(SsfError::Config(format!(
                    "algorithm {other:?}: expected \"ES256\" or \"RS256\""
                )))
            }
        };
        let signer = jose::Signer::open(state_dir, alg, settings.rsa_key_file.as_deref())?;
        let receiver = receiver::Receiver::new(&settings.receive, &issuer)?;
        tracing::info!(issuer = %issuer, kid = signer.kid(), "shared signals enabled");
        Ok(Ssf {
            issuer,
            signer,
            settings: settings.clone(),
            streams: Mutex::new(Streams::open(state_dir)?),
            receiver,
            metrics,
        })
    }

    /// The issuer (`iss`), without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The signing key and JWK Set.
    pub fn signer(&self) -> &jose::Signer {
        &self.signer
    }

    /// The configured `[ssf]` section.
    pub fn settings(&self) -> &SsfSettings {
        &self.settings
    }

    /// Whether alerts of `severity` become `risk-level-change` events.
    pub fn wants_alert(&self, severity: crate::alert::Severity) -> bool {
        severity >= self.settings.risk_min_severity
    }

    /// Turns `signal` into signed SETs for every stream that wants them: pushes to return for
    /// the outbox, poll and paused streams' SETs held in the streams file (written before
    /// this returns). `Err` when that file could not be written.
    pub fn emit(&self, signal: &Signal, now_ms: i64) -> Result<Vec<PushJob>, String> {
        let events = set::events(signal);
        let mut jobs = Vec::new();
        let mut streams = self.streams.lock();
        let mut changed = false;
        for st in streams.by_id.values_mut() {
            changed |= self.expire(st, now_ms);
            for ev in &events {
                if !st.events_delivered().contains(&ev.event_type) || !st.wants_subject(&ev.sub_id)
                {
                    continue;
                }
                let name = set::short_name(ev.event_type);
                if st.status == Status::Disabled {
                    self.metrics.ssf_set("sent", name, "dropped_disabled");
                    continue;
                }
                let jti = set::jti(&st.stream_id, ev);
                let token = self
                    .signer
                    .sign(&set::claims(&self.issuer, &st.aud, &jti, ev));
                if st.status == Status::Enabled && st.delivery.method == PUSH {
                    jobs.push(PushJob {
                        stream_id: st.stream_id.clone(),
                        jti,
                        set: token,
                    });
                    continue;
                }
                changed |= self.hold(st, jti, token, now_ms, name);
            }
        }
        if changed {
            streams.save().map_err(|e| e.to_string())?;
        }
        Ok(jobs)
    }

    /// Queues a SET on a poll stream or a paused one; counts a full queue. True when queued.
    pub(crate) fn hold(
        &self,
        st: &mut streams::Stream,
        jti: String,
        set: String,
        now_ms: i64,
        name: &str,
    ) -> bool {
        let max = self.settings.max_queued_per_stream;
        match st.hold(
            Held {
                jti,
                set,
                at_ms: now_ms,
            },
            max,
        ) {
            streams::Hold::Queued => {
                self.metrics.ssf_set("sent", name, "queued");
                true
            }
            streams::Hold::Duplicate => false,
            streams::Hold::Full => {
                self.metrics.ssf_set("sent", name, "refused_full");
                tracing::error!(stream_id = %st.stream_id, max, "ssf: stream queue full; SET refused");
                false
            }
        }
    }

    /// Drops `st`'s SETs older than the retention, counted; true when any were.
    pub(crate) fn expire(&self, st: &mut streams::Stream, now_ms: i64) -> bool {
        let keep = (self.settings.retention_secs as i64).saturating_mul(1000);
        let n = st.expire(now_ms.saturating_sub(keep));
        if n > 0 {
            tracing::warn!(stream_id = %st.stream_id, expired = n, "ssf: unacknowledged SETs expired");
            self.metrics.ssf_sets_expired(n as u64);
        }
        n > 0
    }

    /// One push attempt of `job`'s SET (RFC 8935). A paused stream keeps the SET for later and
    /// a disabled or deleted one drops it: both count as done for the outbox.
    pub async fn push(
        &self,
        client: &reqwest::Client,
        stream_id: &str,
        jti: &str,
        set: &str,
    ) -> Result<(), PushError> {
        let target = {
            let mut streams = self.streams.lock();
            let Some(st) = streams.by_id.get_mut(stream_id) else {
                self.metrics.ssf_set("sent", "any", "dropped_deleted");
                return Ok(());
            };
            match st.status {
                Status::Disabled => {
                    self.metrics.ssf_set("sent", "any", "dropped_disabled");
                    return Ok(());
                }
                Status::Paused => {
                    let now = now_ms();
                    if self.hold(st, jti.to_string(), set.to_string(), now, "any") {
                        streams.save().map_err(|e| PushError {
                            permanent: false,
                            message: e.to_string(),
                        })?;
                    }
                    return Ok(());
                }
                Status::Enabled => (
                    st.delivery.endpoint_url.clone(),
                    st.delivery.authorization_header.clone(),
                ),
            }
        };
        let (Some(url), auth) = target else {
            return Err(PushError {
                permanent: true,
                message: "stream has no endpoint_url".into(),
            });
        };
        let mut req = client
            .post(url)
            .timeout(Duration::from_secs(10))
            .header(reqwest::header::CONTENT_TYPE, "application/secevent+jwt")
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let resp = req
            .body(set.to_string())
            .send()
            .await
            .map_err(|e| PushError {
                permanent: false,
                message: format!("push failed: {}", e.without_url()),
            })?;
        let status = resp.status();
        if status.is_success() {
            self.metrics.ssf_set("sent", "any", "delivered");
            return Ok(());
        }
        let code = status.as_u16();
        // RFC 8935 §2.3: a 400 names what is wrong with this SET; sending it again cannot help.
        let detail = if code == 400 {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            format!(
                " {}: {}",
                body["err"].as_str().unwrap_or("unknown"),
                body["description"].as_str().unwrap_or("")
            )
        } else {
            String::new()
        };
        Err(PushError {
            permanent: status.is_client_error() && code != 408 && code != 429,
            message: format!("HTTP {code}{detail}"),
        })
    }

    /// Inbound SETs from identity providers.
    pub fn receiver(&self) -> &receiver::Receiver {
        &self.receiver
    }

    /// The streams (for the routes).
    pub(crate) fn streams(&self) -> &Mutex<Streams> {
        &self.streams
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    /// The `[ssf]` block of `tocsin.example.toml`, uncommented, parses and names every key.
    #[test]
    fn the_example_ssf_section_parses_and_names_every_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tocsin.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("# [ssf]").expect("an [ssf] section");
        let block: String = text[start..]
            .lines()
            .filter(|l| !l.starts_with("# #") && !l.starts_with("# jwks_file") && *l != "#")
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let s = Settings::parse(&block, "example [ssf]").unwrap();
        let ssf = s.ssf.expect("enabled");
        assert_eq!(ssf.receive.len(), 1);
        for key in [
            "issuer",
            "algorithm",
            "rsa_key_file",
            "risk_min_severity",
            "push_max_attempts",
            "retention_secs",
            "max_queued_per_stream",
            "max_streams_per_receiver",
            "min_verification_interval_secs",
            "jwks_url",
            "jwks_file",
            "audience",
            "max_age_secs",
            "jwks_min_refresh_secs",
        ] {
            assert!(
                block.contains(&format!("{key} =")) || text.contains(&format!("# {key} =")),
                "{key}"
            );
        }
    }
}
