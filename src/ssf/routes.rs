//! The Shared Signals HTTP endpoints: transmitter metadata (`/.well-known/ssf-configuration`),
//! the JWK Set (`/jwks.json`), stream management (SSF 1.0 §8.1: `/ssf/stream`, `/ssf/status`,
//! `/ssf/subjects:add`, `/ssf/subjects:remove`, `/ssf/verify`), poll delivery (RFC 8936,
//! `/ssf/poll/{stream_id}`) and the inbound push endpoint (RFC 8935, `/ssf/receiver`).
//!
//! Management and poll need a bearer token: role `receiver` sees only the streams it created
//! (another receiver's stream is 404, as if it did not exist), `operator` sees every stream,
//! `reader` none. The API reaches in through [`Host`], so this module knows nothing of the
//! API's or the responder's types. Errors are `{"error": "..."}` like the rest of the API,
//! except the inbound push endpoint, which answers RFC 8935 `{"err", "description"}`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::settings::Role;

use super::receiver::Action;
use super::streams::{Delivery, Status, Stream, POLL, PUSH};
use super::{now_ms, set, url_allowed, PushJob, Ssf};

/// Where identity providers push SETs to Tocsin (authenticated by the SET's signature, not
/// by a bearer token).
pub const INBOUND_PATH: &str = "/ssf/receiver";

/// What the routes need from the API that mounts them.
pub trait Host: Clone + Send + Sync + 'static {
    /// Shared Signals, when `[ssf]` is configured.
    fn ssf(&self) -> Option<Arc<Ssf>>;
    /// The caller's token name and role; `Err` is the refusal (401).
    fn caller(&self, headers: &HeaderMap) -> Result<(String, Role), Refusal>;
    /// Queues pushes in the durable outbox.
    fn push(&self, jobs: Vec<PushJob>) -> impl Future<Output = Result<(), String>> + Send;
    /// Applies what an identity provider's SET asks for.
    fn contain(&self, action: Action) -> impl Future<Output = Result<(), String>> + Send;
}

/// An error answer: `{"error": message}` with this status.
#[derive(Debug)]
pub struct Refusal(pub StatusCode, pub String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

fn refuse(status: StatusCode, msg: impl Into<String>) -> Refusal {
    Refusal(status, msg.into())
}

fn bad(msg: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, msg)
}

/// The Shared Signals routes over `H`.
pub fn router<H: Host>() -> Router<H> {
    Router::new()
        .route("/.well-known/ssf-configuration", get(metadata::<H>))
        .route("/jwks.json", get(jwks::<H>))
        .route(
            "/ssf/stream",
            get(read_stream::<H>)
                .post(create_stream::<H>)
                .patch(update_stream::<H>)
                .put(replace_stream::<H>)
                .delete(delete_stream::<H>),
        )
        .route(
            "/ssf/status",
            get(read_status::<H>).post(update_status::<H>),
        )
        .route("/ssf/subjects:add", post(add_subject::<H>))
        .route("/ssf/subjects:remove", post(remove_subject::<H>))
        .route("/ssf/verify", post(verify::<H>))
        .route("/ssf/poll/{stream_id}", post(poll::<H>))
        .route(INBOUND_PATH, post(receive::<H>))
}

fn enabled<H: Host>(h: &H) -> Result<Arc<Ssf>, Refusal> {
    h.ssf().ok_or_else(|| {
        refuse(
            StatusCode::NOT_FOUND,
            "shared signals are not configured ([ssf] issuer)",
        )
    })
}

/// The caller, allowed to manage streams: a receiver or an operator.
struct Caller {
    name: String,
    operator: bool,
}

fn caller<H: Host>(h: &H, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let (name, role) = h.caller(headers)?;
    match role {
        Role::Receiver => Ok(Caller {
            name,
            operator: false,
        }),
        Role::Operator => Ok(Caller {
            name,
            operator: true,
        }),
        Role::Reader | Role::Ingest => Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "token {name:?} has role {}; streams need receiver or operator",
                if role == Role::Reader {
                    "reader"
                } else {
                    "ingest"
                }
            ),
        )),
    }
}

/// The body as JSON of type `T`; 400 with serde's reason otherwise.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON body: {e}")))
}

/// What a management request starts with: Shared Signals on, the caller allowed, the body.
fn begin<H: Host, T: serde::de::DeserializeOwned>(
    h: &H,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Arc<Ssf>, Caller, T), Refusal> {
    Ok((enabled(h)?, caller(h, headers)?, parse(body)?))
}

/// 400 when an optional text member is longer than `max` bytes.
fn at_most(name: &str, v: &Option<String>, max: usize) -> Result<(), Refusal> {
    if v.as_ref().is_some_and(|v| v.len() > max) {
        return Err(bad(format!("{name}: at most {max} bytes")));
    }
    Ok(())
}

/// Runs `f` on the caller's stream `id` with the store locked; 404 when it is not theirs.
fn with_stream<R>(
    ssf: &Ssf,
    who: &Caller,
    id: &str,
    save: bool,
    f: impl FnOnce(&mut Stream) -> Result<R, Refusal>,
) -> Result<R, Refusal> {
    let mut streams = ssf.streams().lock();
    let st = streams
        .by_id
        .get_mut(id)
        .filter(|s| who.operator || s.owner == who.name)
        .ok_or_else(|| {
            refuse(
                StatusCode::NOT_FOUND,
                format!("no stream {id:?} for this receiver"),
            )
        })?;
    let out = f(st)?;
    if save {
        save_now(&streams)?;
    }
    Ok(out)
}

/// Writes the streams file (fsynced) without stalling the other tasks of a multi-threaded
/// runtime: the write runs in place of the worker, which hands its tasks over first.
fn save_now(streams: &super::streams::Streams) -> Result<(), Refusal> {
    let write = || streams.save().map_err(store_error);
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(write),
        _ => write(),
    }
}

fn config_of(ssf: &Ssf, st: &Stream) -> Value {
    st.config(ssf.issuer(), ssf.settings().min_verification_interval_secs)
}

fn store_error(e: super::streams::StoreError) -> Refusal {
    tracing::error!(error = %e, "ssf streams file");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "stream store unavailable",
    )
}

async fn metadata<H: Host>(State(h): State<H>) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    let i = ssf.issuer();
    Ok(Json(json!({
        "spec_version": "1_0",
        "issuer": i,
        "jwks_uri": format!("{i}/jwks.json"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": format!("{i}/ssf/stream"),
        "status_endpoint": format!("{i}/ssf/status"),
        "add_subject_endpoint": format!("{i}/ssf/subjects:add"),
        "remove_subject_endpoint": format!("{i}/ssf/subjects:remove"),
        "verification_endpoint": format!("{i}/ssf/verify"),
        "critical_subject_members": ["user"],
        "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6750" }],
        "default_subjects": "ALL",
    }))
    .into_response())
}

async fn jwks<H: Host>(State(h): State<H>) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    Ok(Json(ssf.signer().jwks().clone()).into_response())
}

/// Receiver-supplied members of a stream configuration (SSF 1.0 §8.1.1). Transmitter-supplied
/// ones may be sent back (a replace after a read) and must then match.
#[derive(Deserialize)]
struct ConfigBody {
    stream_id: Option<String>,
    events_requested: Option<Vec<String>>,
    delivery: Option<Delivery>,
    description: Option<String>,
    iss: Option<String>,
    aud: Option<Value>,
}

/// Checks a requested delivery; a poll stream's endpoint is Tocsin's own.
fn delivery(ssf: &Ssf, d: Option<Delivery>, stream_id: &str) -> Result<Delivery, Refusal> {
    let mut d = d.unwrap_or(Delivery {
        method: POLL.into(),
        endpoint_url: None,
        authorization_header: None,
    });
    match d.method.as_str() {
        PUSH => match &d.endpoint_url {
            Some(u) if url_allowed(u) => {}
            Some(_) => {
                return Err(bad(
                    "delivery.endpoint_url must be an https URL (http only to a loopback host)",
                ))
            }
            None => return Err(bad("push delivery needs delivery.endpoint_url")),
        },
        POLL => {
            d.endpoint_url = Some(format!("{}/ssf/poll/{stream_id}", ssf.issuer()));
            d.authorization_header = None;
        }
        other => {
            return Err(bad(format!(
                "delivery.method {other:?} is not supported (expected {PUSH} or {POLL})"
            )))
        }
    }
    if d.authorization_header
        .as_ref()
        .is_some_and(|a| a.len() > 4096 || a.contains(['\r', '\n']))
    {
        return Err(bad(
            "delivery.authorization_header is not a valid header value",
        ));
    }
    Ok(d)
}

fn check_events(events: &[String]) -> Result<(), Refusal> {
    if events.len() > 64 || events.iter().any(|e| e.len() > 512) {
        return Err(bad(
            "events_requested: at most 64 URIs of at most 512 bytes",
        ));
    }
    Ok(())
}

fn check_supplied(ssf: &Ssf, b: &ConfigBody, st: Option<&Stream>) -> Result<(), Refusal> {
    if b.iss
        .as_deref()
        .is_some_and(|i| i.trim_end_matches('/') != ssf.issuer())
    {
        return Err(bad("iss does not match this transmitter"));
    }
    if let (Some(aud), Some(st)) = (&b.aud, st) {
        if aud.as_str() != Some(st.aud.as_str()) && *aud != json!([st.aud]) {
            return Err(bad("aud cannot be changed"));
        }
    }
    at_most("description", &b.description, 1024)?;
    Ok(())
}

async fn create_stream<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    let who = caller(&h, &headers)?;
    let b: ConfigBody = if body.is_empty() {
        parse(&Bytes::from_static(b"{}"))?
    } else {
        parse(&body)?
    };
    check_supplied(&ssf, &b, None)?;
    if b.stream_id.is_some() {
        return Err(bad("stream_id is supplied by the transmitter"));
    }
    let events_requested = b.events_requested.unwrap_or_default();
    check_events(&events_requested)?;
    let stream_id = hex::encode(rand::random::<[u8; 16]>());
    let delivery = delivery(&ssf, b.delivery, &stream_id)?;
    let mut streams = ssf.streams().lock();
    let owned = streams
        .by_id
        .values()
        .filter(|s| s.owner == who.name)
        .count();
    let max = ssf.settings().max_streams_per_receiver;
    if owned >= max {
        return Err(refuse(
            StatusCode::CONFLICT,
            format!("this receiver already has {owned} streams (max_streams_per_receiver = {max})"),
        ));
    }
    let st = Stream {
        stream_id: stream_id.clone(),
        owner: who.name.clone(),
        aud: who.name.clone(),
        events_requested,
        delivery,
        description: b.description,
        status: Status::Enabled,
        reason: None,
        subjects: Vec::new(),
        queue: Default::default(),
        seen: Default::default(),
        last_verification_ms: 0,
    };
    let config = config_of(&ssf, &st);
    streams.by_id.insert(stream_id.clone(), st);
    save_now(&streams)?;
    tracing::info!(stream_id, receiver = %who.name, "ssf stream created");
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

#[derive(Deserialize)]
struct StreamQuery {
    stream_id: Option<String>,
}

async fn read_stream<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    let who = caller(&h, &headers)?;
    match q.stream_id {
        Some(id) => with_stream(&ssf, &who, &id, false, |st| {
            Ok(Json(config_of(&ssf, st)).into_response())
        }),
        None => {
            let streams = ssf.streams().lock();
            let all: Vec<Value> = streams
                .by_id
                .values()
                .filter(|s| who.operator || s.owner == who.name)
                .map(|s| config_of(&ssf, s))
                .collect();
            Ok(Json(all).into_response())
        }
    }
}

/// PATCH (only the members given change) and PUT (every receiver-supplied member replaced).
async fn change_stream<H: Host>(
    h: H,
    headers: HeaderMap,
    body: Bytes,
    replace: bool,
) -> Result<Response, Refusal> {
    let (ssf, who, b): (_, _, ConfigBody) = begin(&h, &headers, &body)?;
    let id = b
        .stream_id
        .clone()
        .ok_or_else(|| bad("stream_id is required"))?;
    if let Some(e) = &b.events_requested {
        check_events(e)?;
    }
    with_stream(&ssf, &who, &id, true, |st| {
        check_supplied(&ssf, &b, Some(st))?;
        if replace || b.delivery.is_some() {
            st.delivery = delivery(&ssf, b.delivery.clone(), &id)?;
        }
        if replace || b.events_requested.is_some() {
            st.events_requested = b.events_requested.clone().unwrap_or_default();
        }
        if replace || b.description.is_some() {
            st.description = b.description.clone();
        }
        Ok(Json(config_of(&ssf, st)).into_response())
    })
}

async fn update_stream<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    change_stream(h, headers, body, false).await
}

async fn replace_stream<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    change_stream(h, headers, body, true).await
}

async fn delete_stream<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    let who = caller(&h, &headers)?;
    let id = q.stream_id.ok_or_else(|| bad("stream_id is required"))?;
    with_stream(&ssf, &who, &id, false, |_| Ok(()))?;
    let mut streams = ssf.streams().lock();
    streams.by_id.remove(&id);
    save_now(&streams)?;
    tracing::info!(stream_id = %id, receiver = %who.name, "ssf stream deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn status_json(st: &Stream) -> Value {
    let mut v = json!({ "stream_id": st.stream_id, "status": st.status });
    if let Some(r) = &st.reason {
        v["reason"] = json!(r);
    }
    v
}

async fn read_status<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    let who = caller(&h, &headers)?;
    let id = q.stream_id.ok_or_else(|| bad("stream_id is required"))?;
    with_stream(&ssf, &who, &id, false, |st| {
        Ok(Json(status_json(st)).into_response())
    })
}

#[derive(Deserialize)]
struct StatusBody {
    stream_id: String,
    status: Status,
    reason: Option<String>,
}

async fn update_status<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let (ssf, who, b): (_, _, StatusBody) = begin(&h, &headers, &body)?;
    at_most("reason", &b.reason, 1024)?;
    let (answer, resumed) = with_stream(&ssf, &who, &b.stream_id, true, |st| {
        let was = st.status;
        st.status = b.status;
        st.reason = b.reason.clone();
        let mut resumed = Vec::new();
        match (was, b.status) {
            // A disabled stream holds nothing.
            (_, Status::Disabled) => st.queue.clear(),
            // A push stream enabled again sends what it held, oldest first.
            (Status::Paused, Status::Enabled) if st.delivery.method == PUSH => {
                for held in st.queue.drain(..) {
                    resumed.push(PushJob {
                        stream_id: st.stream_id.clone(),
                        jti: held.jti,
                        set: held.set,
                    });
                }
                st.seen.retain(|j| !resumed.iter().any(|r| r.jti == *j));
            }
            _ => {}
        }
        tracing::info!(stream_id = %st.stream_id, receiver = %who.name, status = ?st.status, "ssf stream status changed");
        Ok((status_json(st), resumed))
    })?;
    if !resumed.is_empty() {
        h.push(resumed)
            .await
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    }
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
struct SubjectBody {
    stream_id: String,
    subject: Value,
    #[allow(dead_code)] // accepted per SSF 1.0; every added subject is treated alike
    verified: Option<bool>,
}

fn check_subject(b: &SubjectBody) -> Result<(), Refusal> {
    if !b.subject.get("format").is_some_and(Value::is_string) || b.subject.to_string().len() > 2048
    {
        return Err(bad(
            "subject must be a subject identifier object with a \"format\" (at most 2 KiB)",
        ));
    }
    Ok(())
}

async fn add_subject<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let (ssf, who, b): (_, _, SubjectBody) = begin(&h, &headers, &body)?;
    check_subject(&b)?;
    with_stream(&ssf, &who, &b.stream_id, true, |st| {
        if st.subjects.len() >= 10_000 {
            return Err(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "at most 10000 subjects per stream",
            ));
        }
        if !st.subjects.contains(&b.subject) {
            st.subjects.push(b.subject.clone());
        }
        Ok(StatusCode::OK.into_response())
    })
}

async fn remove_subject<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let (ssf, who, b): (_, _, SubjectBody) = begin(&h, &headers, &body)?;
    check_subject(&b)?;
    with_stream(&ssf, &who, &b.stream_id, true, |st| {
        st.subjects.retain(|s| *s != b.subject);
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

#[derive(Deserialize)]
struct VerifyBody {
    stream_id: String,
    state: Option<String>,
}

async fn verify<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let (ssf, who, b): (_, _, VerifyBody) = begin(&h, &headers, &body)?;
    at_most("state", &b.state, 1024)?;
    let now = now_ms();
    let push = with_stream(&ssf, &who, &b.stream_id, true, |st| {
        let gap = (ssf.settings().min_verification_interval_secs as i64).saturating_mul(1000);
        if now - st.last_verification_ms < gap {
            return Err(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "verification requested too often",
            ));
        }
        st.last_verification_ms = now;
        let jti = hex::encode(rand::random::<[u8; 16]>());
        let claims = set::verification(
            ssf.issuer(),
            &st.aud,
            &jti,
            &st.stream_id,
            b.state.as_deref(),
            now / 1000,
        );
        let token = ssf.signer().sign(&claims);
        Ok(match (st.status, st.delivery.method.as_str()) {
            (Status::Disabled, _) => None,
            (Status::Enabled, PUSH) => Some(PushJob {
                stream_id: st.stream_id.clone(),
                jti,
                set: token,
            }),
            _ => {
                // A full queue is counted and logged inside.
                ssf.hold(st, jti, token, now, "verification");
                None
            }
        })
    })?;
    if let Some(job) = push {
        h.push(vec![job])
            .await
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An RFC 8936 §2.4 error a receiver reports for one SET.
#[derive(Deserialize)]
struct SetErr {
    err: String,
    #[serde(default)]
    description: String,
}

/// An RFC 8936 poll request.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PollBody {
    max_events: Option<usize>,
    #[serde(default)]
    return_immediately: bool,
    #[serde(default)]
    ack: Vec<String>,
    #[serde(default)]
    set_errs: std::collections::BTreeMap<String, SetErr>,
}

/// Longest a poll without `returnImmediately` waits for a SET.
const LONG_POLL: Duration = Duration::from_secs(20);
/// Most SETs one poll answer carries.
const MAX_POLL_EVENTS: usize = 1_000;

async fn poll<H: Host>(
    State(h): State<H>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Refusal> {
    let ssf = enabled(&h)?;
    let who = caller(&h, &headers)?;
    let b: PollBody = if body.is_empty() {
        PollBody::default()
    } else {
        parse(&body)?
    };
    let max = b.max_events.unwrap_or(100).min(MAX_POLL_EVENTS);
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    let mut first = true;
    // Only acknowledgements and errors change what is kept; a plain poll writes nothing.
    let acks = !b.ack.is_empty() || !b.set_errs.is_empty();
    loop {
        let answer = with_stream(&ssf, &who, &id, first && acks, |st| {
            if st.delivery.method != POLL {
                return Err(bad("this stream is delivered by push, not poll"));
            }
            if first {
                st.queue.retain(|held| {
                    !b.ack.contains(&held.jti) && !b.set_errs.contains_key(&held.jti)
                });
                for (jti, e) in &b.set_errs {
                    ssf.metrics().ssf_set("sent", "any", "receiver_error");
                    // The receiver's strings are logged escaped (Debug): they cannot forge a line.
                    tracing::warn!(stream_id = ?id, jti = ?jti, err = ?e.err, description = ?e.description, "ssf: receiver reported a SET error");
                }
                ssf.expire(st, now_ms());
            }
            // A paused stream holds its SETs: none are handed out.
            let open = st.status == Status::Enabled;
            let sets: serde_json::Map<String, Value> = if open {
                st.queue
                    .iter()
                    .take(max)
                    .map(|h| (h.jti.clone(), Value::from(h.set.as_str())))
                    .collect()
            } else {
                Default::default()
            };
            let more = open && st.queue.len() > sets.len();
            Ok((sets, more))
        })?;
        first = false;
        let (sets, more) = answer;
        if !sets.is_empty()
            || b.return_immediately
            || max == 0
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(Json(json!({ "sets": sets, "moreAvailable": more })).into_response());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// RFC 8935 push from an identity provider: 202 when taken, 400 `{"err","description"}` not.
async fn receive<H: Host>(State(h): State<H>, body: Bytes) -> Response {
    let Some(ssf) = h.ssf() else {
        return refuse(StatusCode::NOT_FOUND, "shared signals are not configured").into_response();
    };
    let token = String::from_utf8_lossy(&body);
    match ssf
        .receiver()
        .accept(&token, now_ms() / 1000, ssf.metrics())
        .await
    {
        Ok(actions) => {
            for a in actions {
                if let Err(e) = h.contain(a).await {
                    tracing::error!(error = %e, "ssf: inbound signal not applied");
                    return refuse(StatusCode::INTERNAL_SERVER_ERROR, "signal not applied")
                        .into_response();
                }
            }
            StatusCode::ACCEPTED.into_response()
        }
        Err(e) => {
            tracing::warn!(err = e.err, description = ?e.description, "ssf: inbound SET refused");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "err": e.err, "description": e.description })),
            )
                .into_response()
        }
    }
}
