//! The two outside parties of the demo, each a small axum server on loopback: the SOC's webhook
//! receiver, which checks the Standard Webhooks signature itself (its own HMAC code, not the
//! engine's signer, so a signing bug would show), and the SaaS's revocation endpoint, which
//! records each revocation it accepts once per `Idempotency-Key`.
//!
//! The SaaS also takes Shared Signals pushes ([`super::ssf`]). All report what they receive as [`Happening`]s on a channel; the demo's driver turns them
//! into the story and the numbers.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::Deserialize;
use sha2::Sha256;

use super::Happening;
use crate::alert::Alert;

/// Path of the SOC receiver.
pub const SOC_PATH: &str = "/hooks/tocsin";
/// Path of the SaaS revocation endpoint.
pub const SAAS_PATH: &str = "/internal/revoke";
/// How far a webhook's timestamp may be from the receiver's clock (Standard Webhooks advises
/// a few minutes, against replays).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Why a webhook failed verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing or not text.
    #[error("missing webhook-id, webhook-timestamp or webhook-signature header")]
    MissingHeader,
    /// The timestamp is not an integer.
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    /// The timestamp is outside the tolerance.
    #[error("webhook-timestamp too far from now")]
    Stale,
    /// No `v1` signature matches.
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Checks a Standard Webhooks request: `webhook-signature` holds one or more space-separated
/// `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`; one must match.
/// `secret` is the raw key (what follows `whsec_`, decoded).
pub fn verify(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sigs)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(SignatureError::MissingHeader);
    };
    let ts_secs: i64 = ts.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now_secs - ts_secs).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    for candidate in sigs.split(' ') {
        let Some(b64) = candidate.strip_prefix("v1,") else {
            continue; // Other schemes (v1a: asymmetric) are not ours to check.
        };
        let Ok(expected) = B64.decode(b64) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return Err(SignatureError::Mismatch);
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

struct Soc {
    secret: Vec<u8>,
    seen: Mutex<HashSet<String>>,
    tx: Sender<Happening>,
}

/// What the SOC receiver tells the driver, once per webhook-id.
async fn soc_hook(State(soc): State<Arc<Soc>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let verdict = verify(
        &soc.secret,
        &headers,
        &body,
        crate::respond::now_ms() / 1000,
    );
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let alert: Option<Alert> = serde_json::from_slice(&body).ok();
    let first = soc.seen.lock().insert(webhook_id.clone());
    if first {
        let _ = soc.tx.send(Happening::Webhook {
            webhook_id,
            alert_id: alert.map(|a| a.id),
            verified: verdict,
            at,
        });
    }
    match verdict {
        Ok(()) => StatusCode::NO_CONTENT,
        // A receiver must refuse what it cannot authenticate.
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// The body of the engine's outbound revocation call (README.md, "Responses").
#[derive(Debug, Deserialize)]
struct RevokeRequest {
    account: String,
    session: Option<String>,
    scope: String,
    alert_id: Option<String>,
}

struct Saas {
    seen: Mutex<HashSet<String>>,
    tx: Sender<Happening>,
}

async fn saas_revoke(
    State(saas): State<Arc<Saas>>,
    headers: HeaderMap,
    Json(req): Json<RevokeRequest>,
) -> (StatusCode, Json<serde_json::Value>) {
    let at = Instant::now();
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "Idempotency-Key header required"})),
        );
    };
    // A retried call with the same key is the same revocation: answer alike, record once.
    if saas.seen.lock().insert(key.clone()) {
        let _ = saas.tx.send(Happening::Revocation {
            idempotency_key: key,
            account: req.account,
            session: req.session,
            scope: req.scope,
            alert_id: req.alert_id,
            at,
        });
    }
    (
        StatusCode::OK,
        Json(serde_json::json!({"status": "revoked"})),
    )
}

/// Binds both servers on `127.0.0.1:0` and serves them until `shutdown` resolves. Returns the
/// SOC receiver's and the SaaS endpoint's addresses and the serving task.
pub async fn start(
    webhook_secret: Vec<u8>,
    ssf: Arc<super::ssf::SsfReceiver>,
    tx: Sender<Happening>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, SocketAddr, tokio::task::JoinHandle<()>)> {
    let soc = Arc::new(Soc {
        secret: webhook_secret,
        seen: Mutex::new(HashSet::new()),
        tx: tx.clone(),
    });
    let saas = Arc::new(Saas {
        seen: Mutex::new(HashSet::new()),
        tx,
    });
    let soc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let saas_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let soc_addr = soc_listener.local_addr()?;
    let saas_addr = saas_listener.local_addr()?;
    let soc_app = Router::new()
        .route(SOC_PATH, post(soc_hook))
        .with_state(soc);
    let saas_app = Router::new()
        .route(SAAS_PATH, post(saas_revoke))
        .with_state(saas)
        .merge(
            Router::new()
                .route(super::ssf::SSF_PATH, post(super::ssf::push))
                .with_state(ssf),
        );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|&s| s).await;
    };
    let task = tokio::spawn(async move {
        let soc = axum::serve(soc_listener, soc_app)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future();
        let saas = axum::serve(saas_listener, saas_app)
            .with_graceful_shutdown(stopped(stop_rx))
            .into_future();
        let relay = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let (a, b, ()) = tokio::join!(soc, saas, relay);
        for r in [a, b] {
            if let Err(e) = r {
                tracing::warn!(error = %e, "demo receiver stopped with an error");
            }
        }
    });
    Ok((soc_addr, saas_addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(secret: &[u8], id: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        let sig = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        h.insert("webhook-timestamp", HeaderValue::from(ts));
        h.insert("webhook-signature", HeaderValue::from_str(&sig).unwrap());
        h
    }

    #[test]
    fn the_engines_signature_verifies_and_a_tampered_body_does_not() {
        let secret = b"demo-secret-bytes";
        let body = br#"{"id":"al_1"}"#;
        let sig = crate::respond::webhook::sign(secret, "msg_1", 1_700_000_000, body);
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_static("msg_1"));
        h.insert("webhook-timestamp", HeaderValue::from_static("1700000000"));
        h.insert("webhook-signature", HeaderValue::from_str(&sig).unwrap());
        assert_eq!(verify(secret, &h, body, 1_700_000_010), Ok(()));
        assert_eq!(
            verify(secret, &h, br#"{"id":"al_2"}"#, 1_700_000_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another-secret", &h, body, 1_700_000_010),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_signatures_may_match_during_a_key_rotation() {
        let h = signed(b"new", "msg_2", 100, b"{}");
        let both = format!(
            "v1,{} {}",
            B64.encode([0u8; 32]),
            h["webhook-signature"].to_str().unwrap()
        );
        let mut h2 = h.clone();
        h2.insert("webhook-signature", HeaderValue::from_str(&both).unwrap());
        assert_eq!(verify(b"new", &h2, b"{}", 100), Ok(()));
    }

    #[test]
    fn old_or_unsigned_requests_are_refused() {
        let h = signed(b"k", "msg_3", 100, b"{}");
        assert_eq!(
            verify(b"k", &h, b"{}", 100 + TIMESTAMP_TOLERANCE_SECS + 1),
            Err(SignatureError::Stale)
        );
        let mut unsigned = h.clone();
        unsigned.remove("webhook-signature");
        assert_eq!(
            verify(b"k", &unsigned, b"{}", 100),
            Err(SignatureError::MissingHeader)
        );
    }
}
