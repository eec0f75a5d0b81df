//! Bearer tokens and roles (see README.md). Tokens are configured as SHA-256 hashes (or read from
//! an environment variable and hashed at load), so the configuration never holds a usable
//! secret; a presented token is hashed and compared to every configured hash in constant time.
//! Tokens never appear in logs; the token's configured `name` does.

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::settings::{secret_from_env, ApiSettings, Role, TokenSettings};

use super::error::ApiError;
use super::ApiState;

struct Token {
    name: String,
    role: Role,
    sha256: [u8; 32],
}

/// The configured API tokens, and the one `/metrics` may require.
#[derive(Default)]
pub struct Tokens {
    tokens: Vec<Token>,
    /// SHA-256 of `[api] metrics_token`; `None`: `/metrics` is open.
    metrics: Option<[u8; 32]>,
    failures: FailureLog,
}

/// A token that cannot be used; names the entry, never the secret.
#[derive(Debug, thiserror::Error)]
#[error("api{}: {message}", index.map(|i| format!(".tokens[{i}]")).unwrap_or_default())]
pub struct TokenConfigError {
    /// Position in `[[api.tokens]]`; `None` for `[api] metrics_token`.
    pub index: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Tokens {
    /// Loads `[[api.tokens]]`, reading and hashing `token_env` tokens now.
    pub fn from_settings(settings: &[TokenSettings]) -> Result<Tokens, TokenConfigError> {
        let mut tokens = Vec::with_capacity(settings.len());
        for (index, t) in settings.iter().enumerate() {
            let err = |message: String| TokenConfigError {
                index: Some(index),
                message,
            };
            let sha256 = match (&t.sha256, &t.token_env) {
                (Some(h), _) => {
                    // The decoding error's own message quotes the offending character; a hash
                    // of a token is a secret, so none of it goes in the message.
                    let bytes = hex::decode(h.expose())
                        .map_err(|_| err("sha256: expected 64 hex digits".into()))?;
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| err("sha256: expected 64 hex digits".into()))?
                }
                (None, Some(var)) => {
                    let token =
                        secret_from_env("token_env", var).map_err(|e| err(e.to_string()))?;
                    if token.is_empty() {
                        return Err(err(format!("token_env: {var} is empty")));
                    }
                    Sha256::digest(token.as_bytes()).into()
                }
                (None, None) => return Err(err("set `sha256` or `token_env`".into())),
            };
            tokens.push(Token {
                name: t.name.clone(),
                role: t.role,
                sha256,
            });
        }
        Ok(Tokens {
            tokens,
            metrics: None,
            failures: FailureLog::default(),
        })
    }

    /// Loads `[[api.tokens]]` and `[api] metrics_token` (or `metrics_token_env`).
    pub fn from_api_settings(api: &ApiSettings) -> Result<Tokens, TokenConfigError> {
        let mut tokens = Tokens::from_settings(&api.tokens)?;
        let err = |message: String| TokenConfigError {
            index: None,
            message,
        };
        let metrics = match (&api.metrics_token, &api.metrics_token_env) {
            (Some(t), _) => Some(t.expose().to_owned()),
            (None, Some(var)) => {
                Some(secret_from_env("metrics_token_env", var).map_err(|e| err(e.to_string()))?)
            }
            (None, None) => None,
        };
        if let Some(t) = metrics {
            if t.trim().is_empty() {
                return Err(err("metrics_token: is empty".into()));
            }
            tokens = tokens.with_metrics_token(&t);
        }
        Ok(tokens)
    }

    /// Requires `token` on `/metrics` (tests; `[api] metrics_token` otherwise).
    pub fn with_metrics_token(mut self, token: &str) -> Tokens {
        self.metrics = Some(Sha256::digest(token.as_bytes()).into());
        self
    }

    /// A table with one token given in the clear (tests, `demo`).
    pub fn with_token(mut self, name: &str, role: Role, token: &str) -> Tokens {
        self.tokens.push(Token {
            name: name.to_string(),
            role,
            sha256: Sha256::digest(token.as_bytes()).into(),
        });
        self
    }

    /// The name and role of the presented token, if it is configured. Every configured hash
    /// is compared, whether or not an earlier one matched, so timing says nothing about which.
    pub fn authenticate(&self, presented: &str) -> Option<(&str, Role)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = subtle::CtOption::new(0u32, 0.into());
        for (i, t) in self.tokens.iter().enumerate() {
            let hit = t.sha256.ct_eq(&digest);
            found = subtle::CtOption::new(
                u32::conditional_select(&found.unwrap_or(0), &(i as u32), hit),
                found.is_some() | hit,
            );
        }
        let i: Option<u32> = found.into();
        let t = &self.tokens[i? as usize];
        Some((t.name.as_str(), t.role))
    }
}

/// The check in front of every `/v1` request, made from its headers before anything reads its
/// body: 401 without a valid bearer token, 403 when a reader token is used for anything but
/// reading. The refusal is the error to answer with.
pub(super) fn authorize(state: &ApiState, req: &Request) -> Result<(), ApiError> {
    let Some(presented) = bearer(req) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token",
        ));
    };
    let Some((name, role)) = state.tokens.authenticate(presented) else {
        return Err(unknown_token(state, req));
    };
    // Intake routes take only ingest tokens, and ingest tokens only reach intake routes: a
    // token pasted into a vendor's log-stream settings can post events and do nothing else.
    let intake = super::intake::is_intake_path(req.uri().path());
    if intake != (role == Role::Ingest) {
        tracing::warn!(token = name, method = %req.method(), path = ?req.uri().path(), "token role does not match the route");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            if intake {
                format!("token {name:?} is not an ingest token; this route needs role ingest")
            } else {
                format!("token {name:?} has role ingest; it may only post events")
            },
        ));
    }
    if intake {
        return Ok(());
    }
    if role == Role::Receiver {
        // A Shared Signals receiver sees its own event streams under /ssf and nothing else.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token {name:?} has role receiver; /v1 routes need reader or operator"),
        ));
    }
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if !reading && role != Role::Operator {
        tracing::warn!(token = name, method = %req.method(), path = ?req.uri().path(), "reader token on an operator route");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token {name:?} has role reader; this route needs operator"),
        ));
    }
    if !reading {
        tracing::info!(token = name, method = %req.method(), path = ?req.uri().path(), "operator request");
    }
    Ok(())
}

/// The caller behind a request's bearer token (name and role), for routes that scope what
/// they show by caller (Shared Signals streams): 401 without a valid token.
pub fn identify(
    tokens: &Tokens,
    headers: &axum::http::HeaderMap,
) -> Result<(String, Role), ApiError> {
    let presented = bearer_of(headers)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing bearer token"))?;
    match tokens.authenticate(presented) {
        Some((name, role)) => Ok((name.to_string(), role)),
        None => {
            if let Some(suppressed) = tokens.failures.admit(Instant::now()) {
                tracing::warn!(suppressed, "ssf request with an unknown token");
            }
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid token"))
        }
    }
}

/// The check in front of `GET /metrics`: open without `[api] metrics_token`; with it, the
/// request needs that token or any configured API token (401 otherwise, logged like any
/// unknown token).
pub(super) fn authorize_metrics(state: &ApiState, req: &Request) -> Result<(), ApiError> {
    let Some(wanted) = &state.tokens.metrics else {
        return Ok(());
    };
    let Some(presented) = bearer(req) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (metrics_token is set)",
        ));
    };
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Both comparisons always run: timing does not say which kind of token matched.
    let metrics_token: bool = digest.ct_eq(wanted).into();
    let api_token = state.tokens.authenticate(presented).is_some();
    if metrics_token | api_token {
        return Ok(());
    }
    Err(unknown_token(state, req))
}

/// The refusal of an unknown token, logged at most once per [`FAILURE_LOG_INTERVAL`].
fn unknown_token(state: &ApiState, req: &Request) -> ApiError {
    if let Some(suppressed) = state.tokens.failures.admit(Instant::now()) {
        tracing::warn!(
            path = ?req.uri().path(),
            suppressed,
            "API request with an unknown token (at most one such warning per {}s; \
             `suppressed` counts the others since the last one)",
            FAILURE_LOG_INTERVAL.as_secs()
        );
    }
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid token")
}

/// The bearer token of a request, if it has a non-empty one.
fn bearer(req: &Request) -> Option<&str> {
    bearer_of(req.headers())
}

/// The bearer token in `headers`, if there is a non-empty one.
fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// At most one warning about unknown tokens per this interval: a client guessing tokens
/// cannot flood the logs.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Rate limit of the unknown-token warning: one per [`FAILURE_LOG_INTERVAL`], saying how many
/// failures went unlogged since the previous one.
#[derive(Default)]
pub(super) struct FailureLog {
    /// When the last warning was written, and the failures since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl FailureLog {
    /// Records one failure at `now`: `Some(suppressed)` when a warning is due (with the number
    /// of failures not logged since the previous warning), `None` when this one is suppressed.
    pub(super) fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock();
        let (last, suppressed) = &mut *state;
        match last {
            Some(at) if now.saturating_duration_since(*at) < FAILURE_LOG_INTERVAL => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_and_env_tokens_authenticate_with_their_role() {
        std::env::set_var("TOCSIN_TEST_API_TOKEN", "op-secret");
        let hash = hex::encode(Sha256::digest(b"reader-secret"));
        let t = Tokens::from_settings(&[
            TokenSettings {
                name: "soc".into(),
                role: Role::Reader,
                sha256: Some(hash.into()),
                token_env: None,
            },
            TokenSettings {
                name: "saas".into(),
                role: Role::Operator,
                sha256: None,
                token_env: Some("TOCSIN_TEST_API_TOKEN".into()),
            },
        ])
        .unwrap();
        assert_eq!(t.authenticate("reader-secret"), Some(("soc", Role::Reader)));
        assert_eq!(t.authenticate("op-secret"), Some(("saas", Role::Operator)));
        assert_eq!(t.authenticate("op-secreT"), None);
        assert_eq!(t.authenticate(""), None);
    }

    #[test]
    fn metrics_token_comes_from_the_file_or_the_environment_never_both() {
        use crate::settings::Settings;
        std::env::set_var("TOCSIN_TEST_METRICS_TOKEN", "scrape-secret");
        let s = Settings::parse(
            "[api]\nmetrics_token_env = \"TOCSIN_TEST_METRICS_TOKEN\"\n",
            "t.toml",
        )
        .unwrap();
        let t = Tokens::from_api_settings(&s.api).unwrap();
        assert_eq!(
            t.metrics,
            Some(<[u8; 32]>::from(Sha256::digest(b"scrape-secret")))
        );
        let s = Settings::parse(
            "[api]\nmetrics_token_env = \"TOCSIN_TEST_UNSET_9\"\n",
            "t.toml",
        )
        .unwrap();
        let e = Tokens::from_api_settings(&s.api).err().unwrap().to_string();
        assert!(e.starts_with("api: metrics_token_env:"), "{e}");
        let both = "[api]\nmetrics_token = \"x-secret\"\nmetrics_token_env = \"V\"\n";
        let e = Settings::parse(both, "t.toml").unwrap_err().to_string();
        assert!(e.contains("not both") && !e.contains("x-secret"), "{e}");
        assert!(Tokens::from_settings(&[]).unwrap().metrics.is_none());
    }

    #[test]
    fn unknown_token_warnings_are_rate_limited_with_a_count_of_the_rest() {
        let log = FailureLog::default();
        let t0 = Instant::now();
        assert_eq!(log.admit(t0), Some(0), "the first failure is logged");
        for i in 1..=500 {
            assert_eq!(log.admit(t0 + Duration::from_millis(i)), None);
        }
        let later = t0 + FAILURE_LOG_INTERVAL;
        assert_eq!(
            log.admit(later),
            Some(500),
            "the next warning counts the rest"
        );
        assert_eq!(log.admit(later + Duration::from_secs(1)), None);
        assert_eq!(
            log.admit(later + FAILURE_LOG_INTERVAL * 3),
            Some(1),
            "after a quiet spell"
        );
    }
}
