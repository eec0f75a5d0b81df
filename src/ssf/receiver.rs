//! Tocsin as an SSF receiver: SETs that configured identity providers push to `/ssf/receiver`
//! (RFC 8935). Each is checked — signature against the provider's JWK Set (a URL, fetched
//! when a SET names a key not yet known, at most once per `jwks_min_refresh_secs`, or a local file), `typ`,
//! `iss`, `aud`, and freshness of `iat` — then mapped to what Tocsin can do about it:
//!
//! | event | action |
//! |---|---|
//! | CAEP `session-revoked` with a session | revoke that session |
//! | CAEP `session-revoked` for a user only, RISC `account-disabled` | revoke every session of the account |
//! | RISC `credential-compromise` | revoke every session of the account, and mark its password leaked: until it changes, a login from an unfamiliar network or device is revoked at once (`stolen_password.login_after_leak`) |
//! | CAEP `credential-change`, SSF `verification` | counted, nothing to do |
//! | anything else | counted as unknown and ignored |
//!
//! A `jti` seen before from the same issuer is accepted again without acting twice.
//! Stops at the [`Action`]: the API applies it through the responder.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::Value;

use crate::metrics::Metrics;
use crate::settings::SsfReceiveSettings;

use super::jose::{self, SetError};
use super::{set, SsfError};

/// Inbound `jti`s remembered per process, to absorb a provider's retries.
const SEEN_JTIS: usize = 65_536;

/// What an inbound SET asks Tocsin to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Revoke one session.
    RevokeSession {
        /// The account.
        account: String,
        /// The session.
        session: String,
        /// Why (names the provider and the event).
        reason: String,
    },
    /// Revoke every session of an account.
    RevokeAccount {
        /// The account.
        account: String,
        /// Why.
        reason: String,
    },
    /// The account's password is known to someone else: until it changes, its logins carry
    /// that as evidence (`account.credential_leaked`), so the next one from an unfamiliar
    /// network or device is revoked at once (`stolen_password.login_after_leak`).
    MarkLeaked {
        /// The account.
        account: String,
    },
}

struct Provider {
    issuer: String,
    audience: String,
    max_age_secs: i64,
    jwks_url: Option<String>,
    refresh: Duration,
    keys: Mutex<(Value, Option<Instant>)>,
}

/// The configured identity providers and the `jti`s already taken.
pub struct Receiver {
    providers: Vec<Provider>,
    seen: Mutex<lru::LruCache<(usize, String), ()>>,
    client: reqwest::Client,
}

impl Receiver {
    /// The providers of `[[ssf.receive]]`; a local JWK Set file is read now.
    pub fn new(
        settings: &[SsfReceiveSettings],
        default_audience: &str,
    ) -> Result<Receiver, SsfError> {
        let mut providers = Vec::new();
        for (i, p) in settings.iter().enumerate() {
            let err = |m: String| SsfError::Config(format!("receive[{i}]: {m}"));
            let keys = match (&p.jwks_url, &p.jwks_file) {
                (Some(u), None) if super::url_allowed(u) => Value::Null,
                (Some(_), None) => {
                    return Err(err(
                        "jwks_url must be https (http only to a loopback host)".into()
                    ))
                }
                (None, Some(f)) => read_jwks(f).map_err(err)?,
                _ => return Err(err("set exactly one of jwks_url and jwks_file".into())),
            };
            providers.push(Provider {
                issuer: p.issuer.clone(),
                audience: p
                    .audience
                    .clone()
                    .unwrap_or_else(|| default_audience.to_string()),
                max_age_secs: p.max_age_secs.min(i64::MAX as u64) as i64,
                jwks_url: p.jwks_url.clone(),
                refresh: Duration::from_secs(p.jwks_min_refresh_secs),
                keys: Mutex::new((keys, None)),
            });
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SsfError::Config(format!("HTTP client: {e}")))?;
        Ok(Receiver {
            providers,
            seen: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(SEEN_JTIS).expect("non-zero"),
            )),
            client,
        })
    }

    /// Verifies `token` and returns what it asks for. Every outcome is counted.
    pub async fn accept(
        &self,
        token: &str,
        now_secs: i64,
        metrics: &Metrics,
    ) -> Result<Vec<Action>, SetError> {
        let r = self.check(token, now_secs).await;
        match &r {
            Ok((_, claims)) => {
                let events = claims["events"].as_object().into_iter().flatten();
                for (t, _) in events {
                    let known = [
                        set::SESSION_REVOKED,
                        set::ACCOUNT_DISABLED,
                        set::CREDENTIAL_COMPROMISE,
                        set::CREDENTIAL_CHANGE,
                        set::VERIFICATION,
                    ];
                    let (name, outcome) = if known.contains(&t.as_str()) {
                        (set::short_name(t), "accepted")
                    } else {
                        ("unknown", "ignored_unknown")
                    };
                    metrics.ssf_set("received", name, outcome);
                }
            }
            Err(e) => metrics.ssf_set("received", "any", e.err),
        }
        let (provider, claims) = r?;
        let jti = claims["jti"].as_str().unwrap_or_default().to_string();
        if self.seen.lock().put((provider, jti), ()).is_some() {
            return Ok(Vec::new());
        }
        Ok(actions(&self.providers[provider].issuer, &claims))
    }

    /// Signature, `typ`, `iss`, `aud`, `iat`: the provider's index and the claims.
    async fn check(&self, token: &str, now: i64) -> Result<(usize, Value), SetError> {
        let bad = |d: &str| SetError::new("invalid_request", d);
        let payload = token
            .trim()
            .split('.')
            .nth(1)
            .ok_or_else(|| bad("not a compact JWS"))?;
        let unverified: Value = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("JWS payload is not base64url JSON"))?;
        let iss = unverified["iss"].as_str().unwrap_or_default();
        let idx = self
            .providers
            .iter()
            .position(|p| p.issuer == iss)
            .ok_or_else(|| {
                SetError::new("invalid_issuer", "issuer not configured in [[ssf.receive]]")
            })?;
        let p = &self.providers[idx];
        let (header, claims) = match self.verify_with(p, token, false).await {
            Err(e) if e.err == "invalid_key" && p.jwks_url.is_some() => {
                self.verify_with(p, token, true).await?
            }
            r => r?,
        };
        if !matches!(
            header["typ"].as_str(),
            Some("secevent+jwt" | "application/secevent+jwt")
        ) {
            return Err(bad("typ must be secevent+jwt"));
        }
        let aud_ok = match &claims["aud"] {
            Value::String(a) => *a == p.audience,
            Value::Array(a) => a.iter().any(|x| x.as_str() == Some(&p.audience)),
            _ => false,
        };
        if !aud_ok {
            return Err(SetError::new(
                "invalid_audience",
                format!("aud must name {}", p.audience),
            ));
        }
        let iat = claims["iat"].as_i64().ok_or_else(|| bad("iat missing"))?;
        if now - iat > p.max_age_secs {
            return Err(bad(&format!(
                "SET expired: issued {}s ago, max_age_secs {}",
                now - iat,
                p.max_age_secs
            )));
        }
        if iat - now > p.max_age_secs {
            return Err(bad("SET issued in the future"));
        }
        if !claims["events"].is_object() || claims["jti"].as_str().is_none_or(str::is_empty) {
            return Err(bad("SET needs jti and events"));
        }
        Ok((idx, claims))
    }

    async fn verify_with(
        &self,
        p: &Provider,
        token: &str,
        refresh: bool,
    ) -> Result<(Value, Value), SetError> {
        let stale = {
            let k = p.keys.lock();
            k.0.is_null() || (refresh && k.1.is_none_or(|t| t.elapsed() >= p.refresh))
        };
        if stale {
            if let Some(url) = &p.jwks_url {
                self.fetch(p, url).await;
            }
        }
        let keys = p.keys.lock().0.clone();
        jose::verify(token, &keys)
    }

    async fn fetch(&self, p: &Provider, url: &str) {
        p.keys.lock().1 = Some(Instant::now());
        let got = async {
            let r = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status().as_u16()));
            }
            r.json::<Value>()
                .await
                .map_err(|e| e.without_url().to_string())
        }
        .await;
        match got {
            Ok(v) if v["keys"].is_array() => p.keys.lock().0 = v,
            Ok(_) => tracing::warn!(issuer = %p.issuer, "ssf: provider JWK Set has no keys array"),
            Err(e) => {
                tracing::warn!(issuer = %p.issuer, error = %e, "ssf: provider JWK Set not fetched")
            }
        }
    }
}

fn read_jwks(path: &PathBuf) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("jwks_file {}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("jwks_file {}: {e}", path.display()))?;
    if !v["keys"].is_array() {
        return Err(format!("jwks_file {}: no \"keys\" array", path.display()));
    }
    Ok(v)
}

/// The account named by a subject: an `opaque` id, an `email`, an `iss_sub` sub, an `account`
/// URI (`acct:` stripped), looked for in a complex subject's `user` first.
fn account_of(sub: &Value) -> Option<String> {
    let s = if sub["format"] == "complex" {
        &sub["user"]
    } else {
        sub
    };
    let v = s["id"]
        .as_str()
        .or(s["email"].as_str())
        .or(s["sub"].as_str())
        .or(s["uri"].as_str())?;
    Some(v.strip_prefix("acct:").unwrap_or(v).to_string()).filter(|a| !a.is_empty())
}

fn actions(issuer: &str, claims: &Value) -> Vec<Action> {
    let mut out = Vec::new();
    for (t, ev) in claims["events"].as_object().into_iter().flatten() {
        // SSF puts the subject in `sub_id`; older CAEP and RISC events carry it in the event.
        let sub = if claims["sub_id"].is_object() {
            &claims["sub_id"]
        } else {
            &ev["subject"]
        };
        let Some(account) = account_of(sub) else {
            tracing::warn!(event = ?set::short_name(t), "ssf: inbound event names no account; ignored");
            continue;
        };
        let reason = format!("{} from {issuer}", set::short_name(t));
        let session = sub["session"]["id"].as_str().filter(|s| !s.is_empty());
        match (t.as_str(), session) {
            (set::SESSION_REVOKED, Some(s)) => out.push(Action::RevokeSession {
                account,
                session: s.to_string(),
                reason,
            }),
            (set::CREDENTIAL_COMPROMISE, _) => {
                out.push(Action::RevokeAccount {
                    account: account.clone(),
                    reason,
                });
                out.push(Action::MarkLeaked { account });
            }
            (set::SESSION_REVOKED | set::ACCOUNT_DISABLED, _) => {
                out.push(Action::RevokeAccount { account, reason })
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_map_to_actions_and_unknown_ones_to_none() {
        let c = json!({
            "sub_id": {"format": "complex", "user": {"format": "email", "email": "a@b.example"},
                       "session": {"format": "opaque", "id": "s1"}},
            "events": {
                set::SESSION_REVOKED: {},
                set::CREDENTIAL_CHANGE: {},
                "https://example.com/unknown": {},
            }
        });
        let a = actions("https://idp", &c);
        assert_eq!(
            a,
            [Action::RevokeSession {
                account: "a@b.example".into(),
                session: "s1".into(),
                reason: "session-revoked from https://idp".into()
            }]
        );
        let c = json!({"events": {set::CREDENTIAL_COMPROMISE: {"subject": {"format": "account", "uri": "acct:x@y"}}}});
        assert_eq!(
            actions("i", &c),
            [
                Action::RevokeAccount {
                    account: "x@y".into(),
                    reason: "credential-compromise from i".into()
                },
                Action::MarkLeaked {
                    account: "x@y".into()
                }
            ]
        );
        assert!(
            actions("i", &json!({"events": {set::ACCOUNT_DISABLED: {}}})).is_empty(),
            "no subject, no action"
        );
    }
}
