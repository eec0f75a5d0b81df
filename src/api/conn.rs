//! How the API holds its connections, whoever connects: hyper's HTTP/1 server with a timer (so
//! a client that trickles its request headers is cut off after [`Limits::header_timeout`]), a
//! cap on open connections (a connection above [`Limits::max_connections`] is closed at once),
//! a cap on requests being handled at once (above [`Limits::max_in_flight`], 503 at once) and a
//! deadline on each request, body included ([`Limits::request_timeout`], then 503).
//!
//! It serves any [`axum::serve::Listener`] (plain TCP, or the TLS listener of [`super::tls`])
//! and, on shutdown, stops accepting, lets in-flight requests finish and closes idle
//! connections. What a request may do is the router's business.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::error::ApiError;

/// The bounds every API connection and request is held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest a client may take to send a request's headers (and longest an idle keep-alive
    /// connection is kept): a slow-headers client holds a connection this long at most.
    pub header_timeout: Duration,
    /// Longest one request may take, reading its body included.
    pub request_timeout: Duration,
    /// Connections open at once; one above is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Requests handled at once; one above is answered 503 without being handled.
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_in_flight: 256,
        }
    }
}

/// Adds the per-request bounds (in-flight cap, deadline) to `router`.
fn bounded(router: Router, limits: Limits) -> Router {
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let deadline = limits.request_timeout;
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let in_flight = in_flight.clone();
            async move {
                let Ok(_permit) = in_flight.try_acquire() else {
                    return busy("too many requests in progress; retry shortly");
                };
                match tokio::time::timeout(deadline, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => busy("request timed out"),
                }
            }
        },
    ))
}

/// 503 with `Retry-After: 1`, and the connection closed (the request may be half read).
fn busy(message: &str) -> Response {
    let mut r = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Serves `router` on `listener` within `limits` (per connection here, per request through
/// [`bounded`]) until `shutdown` completes, then waits for every connection to finish its
/// in-flight request.
pub(super) async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: axum::serve::Listener,
    L::Io: Send + 'static,
{
    let router = bounded(router, limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Reap finished connections so the set stays as small as what is open.
        while connections.try_join_next().is_some() {}
        let Ok(slot) = open.clone().try_acquire_owned() else {
            tracing::debug!("API connection refused: too many open");
            continue;
        };
        let conn =
            http.serve_connection(TokioIo::new(io), TowerToHyperService::new(router.clone()));
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "API connection ended with an error");
            }
        });
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}
