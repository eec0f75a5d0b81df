//! The demo's Shared Signals receiver: the SaaS's backend subscribing to Tocsin as an SSF
//! receiver would (discovery at `/.well-known/ssf-configuration`, keys from `jwks_uri`, a push
//! stream for CAEP `session-revoked`), and the endpoint the SETs are pushed to, which checks
//! each SET's signature, `typ`, `iss` and `aud` before reporting it to the driver. Stops at
//! the demo: the transmitter is [`crate::ssf`]; its independent check is the Python receiver
//! of the test suite.

use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::Happening;
use crate::ssf::{jose, set};

/// Path of the SaaS's SSF push endpoint.
pub const SSF_PATH: &str = "/ssf/events";

/// What the receiver learned when it subscribed: the transmitter's keys, issuer and the
/// stream's audience.
#[derive(Debug)]
pub struct Subscription {
    jwks: Value,
    issuer: String,
    aud: String,
}

/// The receiver's state: its subscription (set once the engine is up) and the driver's channel.
pub struct SsfReceiver {
    /// Set by [`subscribe`].
    pub subscription: OnceLock<Subscription>,
    /// Where it reports.
    pub tx: Sender<Happening>,
}

/// `POST /ssf/events`: RFC 8935 push. 202 when the SET verifies; 400 with the RFC's error
/// body when not.
pub async fn push(
    State(r): State<Arc<SsfReceiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let at = Instant::now();
    let refuse = |err: &str, description: String| {
        let body = json!({ "err": err, "description": description });
        (StatusCode::BAD_REQUEST, Json(body))
    };
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/secevent+jwt")
    {
        return refuse("invalid_request", "content type".into());
    }
    let Some(sub) = r.subscription.get() else {
        return refuse("invalid_request", "not subscribed yet".into());
    };
    let token = String::from_utf8_lossy(&body);
    let checked = jose::verify(&token, &sub.jwks).and_then(|(h, c)| {
        let ok = h["typ"] == "secevent+jwt" && c["iss"] == sub.issuer.as_str();
        if !ok {
            return Err(jose::SetError::new("invalid_issuer", "typ or iss"));
        }
        if c["aud"] != sub.aud.as_str() {
            return Err(jose::SetError::new("invalid_audience", "aud"));
        }
        Ok(c)
    });
    let claims = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = r.tx.send(Happening::SharedSignal {
                event: String::new(),
                account: String::new(),
                session: None,
                jti: String::new(),
                verified: Err(e.to_string()),
                at,
            });
            return refuse(e.err, e.description);
        }
    };
    let event = claims["events"]
        .as_object()
        .and_then(|m| m.keys().next())
        .map_or("", |t| set::short_name(t));
    let _ = r.tx.send(Happening::SharedSignal {
        event: event.to_string(),
        account: claims["sub_id"]["user"]["id"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        session: claims["sub_id"]["session"]["id"]
            .as_str()
            .map(str::to_string),
        jti: claims["jti"].as_str().unwrap_or("").to_string(),
        verified: Ok(()),
        at,
    });
    (StatusCode::ACCEPTED, Json(Value::Null))
}

/// Subscribes the receiver at `endpoint` to the engine's API at `api` with the receiver token:
/// discovery, keys, then a push stream for `session-revoked`. Returns the stream id.
pub async fn subscribe(
    receiver: &SsfReceiver,
    api: &str,
    token: &str,
    endpoint: &str,
) -> Result<String, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let get = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await?
                .error_for_status()?
                .json::<Value>()
                .await
        }
    };
    let meta = get(format!("{api}/.well-known/ssf-configuration"))
        .await
        .map_err(|e| format!("discovery: {e}"))?;
    let issuer = meta["issuer"].as_str().unwrap_or_default().to_string();
    let jwks_uri = meta["jwks_uri"].as_str().unwrap_or_default().to_string();
    let config = meta["configuration_endpoint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let jwks = get(jwks_uri).await.map_err(|e| format!("jwks_uri: {e}"))?;
    let body = json!({
        "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": endpoint },
        "events_requested": [set::SESSION_REVOKED],
        "description": "the SaaS backend (tocsin demo)",
    });
    let stream: Value = http
        .post(config)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("stream creation: {e}"))?
        .json()
        .await
        .map_err(|e| format!("stream creation: {e}"))?;
    let _ = receiver.subscription.set(Subscription {
        jwks,
        issuer,
        aud: stream["aud"].as_str().unwrap_or_default().to_string(),
    });
    Ok(stream["stream_id"].as_str().unwrap_or_default().to_string())
}
