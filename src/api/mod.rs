//! The HTTP API (README.md, "The API"), on axum: the revocation stream and check for the SaaS's
//! enforcement points, manual revoke and lift, the recent alerts, analyst feedback, the
//! account view, Prometheus metrics and health.
//!
//! Every `/v1` route needs a bearer token ([`auth`]), checked before anything reads the body;
//! errors are `{"error": "..."}` everywhere ([`error`]); request bodies are capped at 64 KiB;
//! connections and requests are bounded in number and time ([`conn`]). Served as plain HTTP
//! ([`serve`]) or, with
//! `[api] tls_cert`/`tls_key`, as HTTPS ([`serve_tls`], [`tls`]). The detector is reached through the
//! [`Baselines`] trait so that this module knows nothing of how baselines are kept.

pub mod auth;
pub mod conn;
pub mod error;
pub mod intake;
mod routes;
pub mod tls;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::serve::ListenerExt;
use axum::Router;

use crate::alert::{Alert, Verdict};
use crate::baseline::store::{AccountView, FeedbackError};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::respond::Responder;

pub use auth::Tokens;
pub use conn::Limits;
use error::ApiError;
pub use tls::TlsConfig;

/// Largest request body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the API needs from the detector. Implemented for [`Pipeline`], which owns it.
pub trait Baselines: Send + Sync {
    /// The account's baseline in human terms (countries, ASNs, devices, hour profile, access
    /// volume), or `None` when the account is unknown.
    fn account_view(&self, account: &str) -> Option<AccountView>;

    /// Applies an analyst's verdict on `alert` to the baselines at once. The error is shown to
    /// the caller.
    fn feedback(&self, alert: &Alert, verdict: Verdict) -> Result<(), FeedbackError>;

    /// An identity provider said `account`'s password leaked at `at_ms`: its next logins carry
    /// that as evidence. False when the account is unknown to the baselines.
    fn credential_leaked(&self, account: &str, at_ms: i64) -> bool;
}

/// The API reads and teaches the detector's baselines through the pipeline that owns it.
impl Baselines for Pipeline {
    fn account_view(&self, account: &str) -> Option<AccountView> {
        self.detector().account_view(account)
    }

    fn feedback(&self, alert: &Alert, verdict: Verdict) -> Result<(), FeedbackError> {
        self.detector().feedback(alert, verdict)
    }

    fn credential_leaked(&self, account: &str, at_ms: i64) -> bool {
        self.detector().credential_leaked(account, at_ms)
    }
}

/// Whether the engine is ready to serve (`/readyz`): state restored and the source consuming.
/// Cheap to clone; every clone shares the flag.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the engine ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// True once marked ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// Revocations, recent alerts, deliveries.
    pub responder: Responder,
    /// The detector's baselines.
    pub baselines: Arc<dyn Baselines>,
    /// Exported at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Who may call `/v1`.
    pub tokens: Arc<Tokens>,
    /// Answered at `/readyz`.
    pub ready: Readiness,
    /// Event intake (`[intake]`); `None`: its routes answer 404.
    pub intake: Option<Arc<intake::Intake>>,
}

impl ApiState {
    /// State over a running responder; not ready until [`Readiness::set`] is called.
    pub fn new(responder: Responder, baselines: Arc<dyn Baselines>, tokens: Tokens) -> ApiState {
        ApiState {
            metrics: responder.metrics(),
            responder,
            baselines,
            tokens: Arc::new(tokens),
            ready: Readiness::default(),
            intake: None,
        }
    }
}

/// The Shared Signals routes reach the responder and the tokens through the API's state.
impl crate::ssf::routes::Host for ApiState {
    fn ssf(&self) -> Option<Arc<crate::ssf::Ssf>> {
        self.responder.ssf()
    }

    fn caller(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<(String, crate::settings::Role), crate::ssf::routes::Refusal> {
        auth::identify(&self.tokens, headers)
            .map_err(|e| crate::ssf::routes::Refusal(e.status, e.message))
    }

    async fn push(&self, jobs: Vec<crate::ssf::PushJob>) -> Result<(), String> {
        self.responder.enqueue_ssf(jobs).await
    }

    async fn contain(&self, action: crate::ssf::receiver::Action) -> Result<(), String> {
        use crate::respond::revoke::{NewRevocation, Scope};
        use crate::ssf::receiver::Action;
        let (account, session, scope, reason) = match action {
            Action::RevokeSession {
                account,
                session,
                reason,
            } => (account, Some(session), Scope::Session, reason),
            Action::RevokeAccount { account, reason } => (account, None, Scope::Account, reason),
            Action::MarkLeaked { account } => {
                let known = self
                    .baselines
                    .credential_leaked(&account, crate::ssf::now_ms());
                if !known {
                    // Nothing to mark: the account has never logged in here. Its first login
                    // is judged as any new account's.
                    tracing::info!(
                        account = ?account,
                        "shared signal: leaked password for an account with no baseline"
                    );
                }
                return Ok(());
            }
        };
        let new = NewRevocation {
            account,
            session,
            scope,
            reason: format!("shared signal: {reason}"),
            alert_id: None,
            ttl_ms: None,
        };
        self.responder
            .revoke_manual(new)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The API's routes over `state`.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/revocations",
            get(routes::list_revocations).post(routes::revoke),
        )
        .route("/v1/revocations/check", get(routes::check))
        .route("/v1/revocations/{id}", delete(routes::lift))
        .route("/v1/alerts", get(routes::list_alerts))
        .route("/v1/alerts/{id}/feedback", post(routes::feedback))
        .route("/v1/accounts/{account}", get(routes::account))
        .route("/v1/guard/reset", post(routes::reset_guard))
        .route("/v1/events", post(intake::post_events))
        .route(
            "/v1/hooks/okta",
            get(intake::okta_verify).post(intake::okta_events),
        );
    Router::new()
        .merge(crate::ssf::routes::router::<ApiState>())
        .route("/metrics", get(routes::metrics))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .merge(v1)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), admit))
        .with_state(state)
}

/// In front of every route, from the request's headers alone: a `/v1` request is
/// authenticated and authorised ([`auth::authorize`]), and `/metrics` too when `[api]
/// metrics_token` is set ([`auth::authorize_metrics`]), before anything reads its body, so an
/// unauthenticated client cannot make the API read a megabyte; then a declared body over the
/// limit is refused before anything reads it (the body limit on extraction catches
/// undeclared, chunked ones).
async fn admit(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let check = if path == "/v1" || path.starts_with("/v1/") {
        Some(auth::authorize(&state, &req))
    } else if path == "/metrics" {
        Some(auth::authorize_metrics(&state, &req))
    } else if path.starts_with("/ssf/") && path != crate::ssf::routes::INBOUND_PATH {
        // Shared Signals management and poll: the token is checked before the body is read;
        // which streams it may touch is the route's business.
        Some(auth::identify(&state.tokens, req.headers()).map(|_| ()))
    } else {
        None
    };
    if let Some(Err(refusal)) = check {
        let mut refusal = refusal.into_response();
        // The body, if any, stays unread: close the connection rather than read it.
        if req.headers().contains_key(header::CONTENT_LENGTH)
            || req.headers().contains_key(header::TRANSFER_ENCODING)
        {
            refusal
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return refusal;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Intake routes take batches: their own limit (`[intake] max_body_bytes`) is applied as
    // they read the body.
    let max = match &state.intake {
        Some(i) if intake::is_intake_path(path) => i.max_body_bytes(),
        _ => MAX_BODY_BYTES,
    };
    if let Some(n) = declared.filter(|&n| n > max as u64) {
        if n <= DRAIN_MAX_BYTES {
            // Read and discard a moderately large body so the client finishes sending and
            // reads the 413, instead of seeing its write fail when the connection closes.
            drain(req.into_body(), DRAIN_MAX_BYTES).await;
        }
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {max} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Oversized bodies up to this size are drained before answering 413; larger ones are cut off.
const DRAIN_MAX_BYTES: u64 = 1024 * 1024;

/// Discards up to `max` bytes of `body` without buffering them.
async fn drain(mut body: Body, max: u64) {
    let mut seen = 0u64;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        match frame {
            Ok(f) => {
                seen += f.data_ref().map_or(0, |d| d.len() as u64);
                if seen > max {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests,
/// within the default [`Limits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_within(listener, state, Limits::default(), shutdown).await
}

/// [`serve`] within the given limits.
pub async fn serve_within(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "API listening");
    }
    // Answers are one small write each; without TCP_NODELAY, Nagle's algorithm meeting the
    // client's delayed ACK can hold one back for tens of milliseconds on the check hot path.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    conn::serve(listener, router(state), limits, shutdown).await
}

/// Serves the API over HTTPS on `listener` until `shutdown` completes, then finishes in-flight
/// requests: the same router and shutdown as [`serve`], behind [`tls::TlsListener`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: ApiState,
    tls: TlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = tls::TlsListener::new(listener, &tls)?;
    if let Ok(addr) = axum::serve::Listener::local_addr(&listener) {
        tracing::info!(%addr, "API listening (TLS)");
    }
    conn::serve(listener, router(state), Limits::default(), shutdown).await
}
