//! The route handlers. Each maps one API route (README.md, "The API") onto the responder's stores.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::alert::Verdict;
use crate::respond::now_ms;
use crate::respond::recent::AlertQuery;
use crate::respond::revoke::{NewRevocation, Scope};

use super::error::{ApiError, JsonBody, QueryParams};
use super::ApiState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

fn limit(l: Option<usize>) -> Result<usize, ApiError> {
    match l.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::bad_request("limit must be at least 1")),
        n if n > MAX_LIMIT => Err(ApiError::bad_request(format!(
            "limit must be at most {MAX_LIMIT}"
        ))),
        n => Ok(n),
    }
}

fn store_error(e: crate::respond::revoke::StoreError) -> ApiError {
    tracing::error!(error = %e, "revocation store");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "revocation store unavailable",
    )
}

#[derive(Deserialize)]
pub(super) struct StreamParams {
    since: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/revocations?since=CURSOR&limit=N`
pub(super) async fn list_revocations(
    State(st): State<ApiState>,
    QueryParams(p): QueryParams<StreamParams>,
) -> Result<Response, ApiError> {
    let limit = limit(p.limit)?;
    let mut items = Vec::with_capacity(limit.min(64));
    let next = st
        .responder
        .revocations()
        .list(p.since.unwrap_or(0), limit, &mut items);
    let items: Vec<_> = items.iter().map(|r| r.as_ref()).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })).into_response())
}

#[derive(Deserialize)]
pub(super) struct CheckParams {
    account: String,
    session: Option<String>,
}

/// `GET /v1/revocations/check?account=A&session=S`: the SaaS's hot path.
pub(super) async fn check(
    State(st): State<ApiState>,
    QueryParams(p): QueryParams<CheckParams>,
) -> Response {
    let found = st.responder.revocations().check(
        &p.account,
        p.session.as_deref().filter(|s| !s.is_empty()),
        now_ms(),
    );
    Json(json!({ "revoked": found.is_some(), "revocation": found.as_deref() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeBody {
    account: String,
    session: Option<String>,
    scope: Option<Scope>,
    reason: Option<String>,
    ttl_secs: Option<u64>,
}

/// `POST /v1/revocations`: a manual revocation. Scope defaults to `session` when a session is
/// given, else `account`.
pub(super) async fn revoke(
    State(st): State<ApiState>,
    JsonBody(b): JsonBody<RevokeBody>,
) -> Result<Response, ApiError> {
    if b.account.is_empty() {
        return Err(ApiError::bad_request("account must not be empty"));
    }
    let scope = b.scope.unwrap_or(if b.session.is_some() {
        Scope::Session
    } else {
        Scope::Account
    });
    if scope == Scope::Session && b.session.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("scope \"session\" needs a session"));
    }
    let new = NewRevocation {
        account: b.account,
        session: b.session,
        scope,
        reason: b.reason.unwrap_or_else(|| "manual revocation".into()),
        alert_id: None,
        ttl_ms: b
            .ttl_secs
            .map(|s| (s.min(i64::MAX as u64 / 1000) as i64) * 1000),
    };
    let rev = st.responder.revoke_manual(new).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(rev.as_ref())).into_response())
}

/// `DELETE /v1/revocations/{id}`: lift.
pub(super) async fn lift(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match st.responder.lift(id.clone()).await.map_err(store_error)? {
        Some(rev) => Ok(Json(rev.as_ref()).into_response()),
        None => Err(ApiError::not_found(format!("no revocation {id}"))),
    }
}

#[derive(Deserialize)]
pub(super) struct AlertParams {
    since: Option<String>,
    account: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/alerts?since=&account=&limit=`: `since` is a cursor from a previous answer or an
/// RFC 3339 time.
pub(super) async fn list_alerts(
    State(st): State<ApiState>,
    QueryParams(p): QueryParams<AlertParams>,
) -> Result<Response, ApiError> {
    let limit = limit(p.limit)?;
    let mut q = AlertQuery {
        account: p.account.as_deref(),
        ..AlertQuery::default()
    };
    match p.since.as_deref() {
        None | Some("") => {}
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            q.since_cursor = Some(
                s.parse()
                    .map_err(|_| ApiError::bad_request("since: cursor out of range"))?,
            )
        }
        Some(s) => {
            q.since_ms = Some(crate::timefmt::parse_rfc3339(s).ok_or_else(|| {
                ApiError::bad_request("since: expected a cursor or an RFC 3339 time")
            })?)
        }
    }
    let mut found = Vec::new();
    let next = st.responder.recent_alerts().list(q, limit, &mut found);
    let items: Vec<_> = found.iter().map(|e| e.json()).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedbackBody {
    verdict: Verdict,
    #[allow(dead_code)] // accepted for the analyst's record; logged at debug only
    note: Option<String>,
}

/// `POST /v1/alerts/{id}/feedback`: the verdict reaches the baselines at once.
pub(super) async fn feedback(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<FeedbackBody>,
) -> Result<Response, ApiError> {
    let Some(entry) = st.responder.recent_alerts().get(&id) else {
        return Err(ApiError::not_found(format!(
            "no recent alert {id} (only the last alerts are kept)"
        )));
    };
    let alert = entry.alert().map_err(|e| {
        tracing::error!(alert_id = %id, error = %e, "recent alert does not parse back");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "feedback failed")
    })?;
    let baselines = Arc::clone(&st.baselines);
    tokio::task::spawn_blocking(move || baselines.feedback(&alert, b.verdict))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "feedback failed"))?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    tracing::info!(alert_id = %id, verdict = ?b.verdict, "feedback applied");
    tracing::debug!(alert_id = %id, note = ?b.note, "feedback note");
    Ok(Json(json!({ "alert_id": id, "verdict": b.verdict, "applied": true })).into_response())
}

/// `GET /v1/accounts/{account}`
pub(super) async fn account(
    State(st): State<ApiState>,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    match st.baselines.account_view(&account) {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::not_found("no baseline for this account")),
    }
}

/// `GET /metrics`
pub(super) async fn metrics(State(st): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: 503 until state is restored and the source consumes.
pub(super) async fn readyz(State(st): State<ApiState>) -> Response {
    if st.ready.is_ready() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// `POST /v1/guard/reset`: an operator acknowledges the blast-radius guard's trips; automatic
/// revocations resume and every window starts afresh. Says what was tripped.
pub(super) async fn reset_guard(State(st): State<ApiState>) -> Result<Response, ApiError> {
    match st.responder.reset_guard() {
        Some(done) => Ok(Json(json!({ "reset": true, "was": done })).into_response()),
        None => Err(ApiError::not_found("no blast-radius guard in this process")),
    }
}
