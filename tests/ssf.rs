//! Shared Signals (README.md, "Shared Signals") over a real API on loopback: transmitter
//! metadata and keys, stream management scoped to each receiver, persistence across restarts,
//! SETs for a takeover by push (through the durable outbox, retried) and by poll, paused and
//! disabled streams, every error path, and Tocsin receiving an identity provider's SETs.
//! The end-to-end test with an independent receiver (Python, jwcrypto) is here too; it needs
//! `scripts/ssf-receiver-env.sh` (CI runs it) and says so when it is skipped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tocsin::alert::{alert_id, Alert, ResponseAction, Severity};
use tocsin::api::{self, ApiState, Baselines, Tokens};
use tocsin::baseline::store::{AccountView, FeedbackError};
use tocsin::metrics::Metrics;
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::{Role, Settings};
use tocsin::ssf::jose::{self, Algorithm, Signer};
use tocsin::ssf::set;

const RCV_A: &str = "receiver-a-token-71c2";
const RCV_B: &str = "receiver-b-token-0d9e";
const READER: &str = "reader-token-5a1f";
const OPERATOR: &str = "operator-token-c3b8";
const IDP: &str = "https://idp.example";
/// A second provider, whose keys Tocsin fetches from a URL.
const IDP_URL: &str = "https://idp-by-url.example";

/// Baselines that know no account and remember which accounts were said to have leaked.
#[derive(Default)]
struct NoBaselines {
    leaked: parking_lot::Mutex<Vec<String>>,
}
impl Baselines for NoBaselines {
    fn account_view(&self, _: &str) -> Option<AccountView> {
        None
    }
    fn feedback(&self, _: &Alert, _: tocsin::alert::Verdict) -> Result<(), FeedbackError> {
        Ok(())
    }
    fn credential_leaked(&self, account: &str, _: i64) -> bool {
        self.leaked.lock().push(account.to_string());
        true
    }
}

struct Harness {
    base: String,
    http: reqwest::Client,
    responder: Responder,
    metrics: Arc<Metrics>,
    jwks_fetches: Arc<std::sync::atomic::AtomicUsize>,
    baselines: Arc<NoBaselines>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Tocsin with `[ssf]` over `dir`, trusting the identity provider whose JWK Set is in
/// `dir/idp-jwks.json` (made with its key in `dir/idp` if missing).
async fn start(dir: &Path) -> Harness {
    start_with(dir, "").await
}

/// [`start`] with more `[ssf]` keys.
async fn start_with(dir: &Path, ssf_extra: &str) -> Harness {
    let idp = Signer::open(&dir.join("idp"), Algorithm::ES256, None).unwrap();
    let jwks = dir.join("idp-jwks.json");
    std::fs::write(&jwks, idp.jwks().to_string()).unwrap();
    // The second provider's JWK Set, served on loopback; it counts the fetches.
    let idp2 = Signer::open(&dir.join("idp2"), Algorithm::ES256, None).unwrap();
    let served = idp2.jwks().clone();
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    let keys = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let served = served.clone();
            async move { axum::Json(served) }
        }),
    );
    let kl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", kl.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(kl, keys).await });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings::parse(
        &format!(
            "[state]\ndir = {state:?}\n[outbox]\nbackoff_initial_ms = 20\nbackoff_max_ms = 50\n\
             [ssf]\nissuer = \"{base}\"\nrisk_min_severity = \"critical\"\npush_max_attempts = 4\n\
             min_verification_interval_secs = 0\n{ssf_extra}\n\
             [[ssf.receive]]\nissuer = \"{IDP}\"\njwks_file = {jwks:?}\nmax_age_secs = 120\n\
             [[ssf.receive]]\nissuer = \"{IDP_URL}\"\njwks_url = \"{jwks_url}\"\njwks_min_refresh_secs = 0\n",
            state = dir.join("state").display().to_string(),
            jwks = jwks.display().to_string(),
        ),
        "t.toml",
    )
    .unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let mut stopped2 = stopped.clone();
    let metrics = Arc::new(Metrics::new());
    let responder = Responder::start(
        ResponderSettings::of(&settings),
        metrics.clone(),
        async move {
            let _ = stopped.wait_for(|&s| s).await;
        },
    )
    .unwrap();
    let tokens = Tokens::default()
        .with_token("rcv-a", Role::Receiver, RCV_A)
        .with_token("rcv-b", Role::Receiver, RCV_B)
        .with_token("soc", Role::Reader, READER)
        .with_token("saas", Role::Operator, OPERATOR);
    let baselines = Arc::new(NoBaselines::default());
    let state = ApiState::new(responder.clone(), baselines.clone(), tokens);
    tokio::spawn(api::serve(listener, state, async move {
        let _ = stopped2.wait_for(|&s| s).await;
    }));
    Harness {
        base,
        http: reqwest::Client::new(),
        responder,
        metrics,
        jwks_fetches: fetches,
        baselines,
        stop,
    }
}

impl Harness {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create(&self, token: &str, body: Value) -> Value {
        let (s, v) = self
            .call(Method::POST, "/ssf/stream", Some(token), Some(body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    async fn poll(&self, token: &str, stream: &str, body: Value) -> Value {
        let (s, v) = self
            .call(
                Method::POST,
                &format!("/ssf/poll/{stream}"),
                Some(token),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn status(&self, token: &str, stream: &str, status: &str) {
        let body = json!({"stream_id": stream, "status": status, "reason": "test"});
        let (s, v) = self
            .call(Method::POST, "/ssf/status", Some(token), Some(body))
            .await;
        assert_eq!(
            (s, v["status"].as_str()),
            (StatusCode::OK, Some(status)),
            "{v}"
        );
    }
}

fn takeover(account: &str, session: &str) -> Alert {
    Alert {
        id: alert_id("stolen_password.new_device_new_asn", account, session),
        rule: "stolen_password.new_device_new_asn".into(),
        title: "Successful first-try login from a never-seen device and network".into(),
        severity: Severity::High,
        risk: 0.97,
        ts: "2025-11-10T23:31:02Z".into(),
        detected_at: "2025-11-10T23:31:02Z".into(),
        account: account.into(),
        tenant: Some("cabinet-rouen".into()),
        session: Some(session.into()),
        ip: None,
        geo: None,
        device: None,
        reasons: vec![],
        actions: vec![ResponseAction::Alert, ResponseAction::RevokeSession],
        mitre: vec![],
        events: vec![],
        mode: None,
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The claims of a SET, checked against Tocsin's published keys.
async fn verified(h: &Harness, token: &str) -> Value {
    let (_, jwks) = h.call(Method::GET, "/jwks.json", None, None).await;
    let (header, claims) = jose::verify(token, &jwks).expect("signature verifies against jwks_uri");
    assert_eq!(header["typ"], "secevent+jwt");
    claims
}

/// A push receiver on loopback: answers each SET with the next status of `script` (202 once
/// the script is spent), and keeps what it was sent.
async fn push_receiver(
    script: Vec<(u16, Value)>,
) -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let script = Arc::new(Mutex::new(script.into_iter()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let sink = sink.clone();
            let script = script.clone();
            async move {
                sink.lock().push((headers, body));
                let (code, body) = script.lock().next().unwrap_or((202, Value::Null));
                (StatusCode::from_u16(code).unwrap(), axum::Json(body))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, got)
}

#[tokio::test]
async fn metadata_and_jwks_follow_ssf_1_0() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let (s, m) = h
        .call(Method::GET, "/.well-known/ssf-configuration", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["spec_version"], "1_0");
    assert_eq!(m["issuer"], h.base.as_str());
    assert_eq!(m["jwks_uri"], format!("{}/jwks.json", h.base));
    assert_eq!(
        m["delivery_methods_supported"],
        json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
    );
    for (k, path) in [
        ("configuration_endpoint", "/ssf/stream"),
        ("status_endpoint", "/ssf/status"),
        ("add_subject_endpoint", "/ssf/subjects:add"),
        ("remove_subject_endpoint", "/ssf/subjects:remove"),
        ("verification_endpoint", "/ssf/verify"),
    ] {
        assert_eq!(m[k], format!("{}{path}", h.base), "{k}");
    }
    assert_eq!(
        m["authorization_schemes"][0]["spec_urn"],
        "urn:ietf:rfc:6750"
    );
    let (_, jwks) = h.call(Method::GET, "/jwks.json", None, None).await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "never the private part");
    assert!(key["kid"].as_str().is_some_and(|k| k.len() == 43));
}

#[tokio::test]
async fn streams_are_managed_per_receiver_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let h = start(dir.path()).await;
        let st = h
            .create(
                RCV_A,
                json!({"events_requested": [set::SESSION_REVOKED], "description": "a"}),
            )
            .await;
        id = st["stream_id"].as_str().unwrap().to_string();
        assert_eq!(st["iss"], h.base.as_str());
        assert_eq!(st["aud"], "rcv-a");
        assert_eq!(
            st["delivery"]["method"], "urn:ietf:rfc:8936",
            "no delivery means poll"
        );
        assert_eq!(
            st["delivery"]["endpoint_url"],
            format!("{}/ssf/poll/{id}", h.base)
        );
        assert_eq!(
            st["events_delivered"],
            json!([set::SESSION_REVOKED, set::VERIFICATION])
        );
        // Update changes what is given; replace resets what is not.
        let (s, v) = h
            .call(
                Method::PATCH,
                "/ssf/stream",
                Some(RCV_A),
                Some(json!({"stream_id": id, "description": "b"})),
            )
            .await;
        assert_eq!(
            (s, &v["description"], &v["events_requested"]),
            (StatusCode::OK, &json!("b"), &json!([set::SESSION_REVOKED]))
        );
        let (s, v) = h
            .call(
                Method::PUT,
                "/ssf/stream",
                Some(RCV_A),
                Some(json!({"stream_id": id, "events_requested": [set::RISK_LEVEL_CHANGE]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(v.get("description").is_none(), "{v}");
        assert_eq!(
            v["events_delivered"],
            json!([set::RISK_LEVEL_CHANGE, set::VERIFICATION])
        );
        h.status(RCV_A, &id, "paused").await;
        let sub = json!({"stream_id": id, "subject": {"format": "opaque", "id": "dr.martin"}, "verified": true});
        let (s, _) = h
            .call(
                Method::POST,
                "/ssf/subjects:add",
                Some(RCV_A),
                Some(sub.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let other = h.create(RCV_B, json!({})).await;
        let (_, list) = h.call(Method::GET, "/ssf/stream", Some(RCV_A), None).await;
        assert_eq!(
            list.as_array().unwrap().len(),
            1,
            "a receiver lists its own streams only"
        );
        let (_, all) = h
            .call(Method::GET, "/ssf/stream", Some(OPERATOR), None)
            .await;
        assert_eq!(
            all.as_array().unwrap().len(),
            2,
            "an operator sees every stream"
        );
        let (s, _) = h
            .call(
                Method::DELETE,
                &format!(
                    "/ssf/stream?stream_id={}",
                    other["stream_id"].as_str().unwrap()
                ),
                Some(RCV_B),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let h = start(dir.path()).await;
    let (s, v) = h
        .call(
            Method::GET,
            &format!("/ssf/status?stream_id={id}"),
            Some(RCV_A),
            None,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("paused")),
        "{v}"
    );
    let (_, list) = h
        .call(Method::GET, "/ssf/stream", Some(OPERATOR), None)
        .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the deleted stream stays deleted"
    );
    let sub = json!({"stream_id": id, "subject": {"format": "opaque", "id": "dr.martin"}});
    let (s, _) = h
        .call(Method::POST, "/ssf/subjects:remove", Some(RCV_A), Some(sub))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h
        .call(
            Method::DELETE,
            &format!("/ssf/stream?stream_id={id}"),
            Some(RCV_A),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h
        .call(
            Method::GET,
            &format!("/ssf/stream?stream_id={id}"),
            Some(RCV_A),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["ssf-streams.json", "ssf-signing-key.p8"] {
            let m = std::fs::metadata(dir.path().join("state").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600, "{f}");
        }
    }
}

#[tokio::test]
async fn management_error_paths() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let st = h.create(RCV_A, json!({})).await;
    let id = st["stream_id"].as_str().unwrap();
    // Bad bearer, none, a reader.
    for token in [None, Some("not-a-token")] {
        let (s, v) = h.call(Method::GET, "/ssf/stream", token, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert!(v["error"].is_string());
    }
    let (s, _) = h
        .call(Method::POST, "/ssf/stream", Some(READER), Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A receiver has no /v1 route.
    let (s, _) = h
        .call(Method::GET, "/v1/revocations", Some(RCV_A), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Another receiver's stream does not exist for it, on every endpoint.
    let q = format!("?stream_id={id}");
    for (m, path, body) in [
        (Method::GET, format!("/ssf/stream{q}"), None),
        (Method::DELETE, format!("/ssf/stream{q}"), None),
        (
            Method::PATCH,
            "/ssf/stream".into(),
            Some(json!({"stream_id": id, "description": "x"})),
        ),
        (Method::GET, format!("/ssf/status{q}"), None),
        (
            Method::POST,
            "/ssf/status".into(),
            Some(json!({"stream_id": id, "status": "disabled"})),
        ),
        (
            Method::POST,
            "/ssf/subjects:add".into(),
            Some(json!({"stream_id": id, "subject": {"format": "opaque", "id": "x"}})),
        ),
        (
            Method::POST,
            "/ssf/verify".into(),
            Some(json!({"stream_id": id})),
        ),
        (
            Method::POST,
            format!("/ssf/poll/{id}"),
            Some(json!({"returnImmediately": true})),
        ),
    ] {
        let (s, _) = h.call(m.clone(), &path, Some(RCV_B), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}");
    }
    let (s, _) = h
        .call(Method::GET, &format!("/ssf/status{q}"), Some(RCV_A), None)
        .await;
    assert_eq!(s, StatusCode::OK, "the owner still sees it");
    // Malformed stream configurations.
    for body in [
        json!({"delivery": {"method": "urn:example:carrier-pigeon"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://203.0.113.9/events"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "not a url"}}),
        json!({"stream_id": "mine"}),
        json!({"events_requested": "not-a-list"}),
        json!({"iss": "https://someone-else.example"}),
    ] {
        let (s, v) = h
            .call(Method::POST, "/ssf/stream", Some(RCV_A), Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
    }
    let raw = h
        .http
        .post(format!("{}/ssf/stream", h.base))
        .bearer_auth(RCV_A)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let (s, _) = h
        .call(
            Method::POST,
            "/ssf/status",
            Some(RCV_A),
            Some(json!({"stream_id": id, "status": "sleeping"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .call(
            Method::POST,
            "/ssf/subjects:add",
            Some(RCV_A),
            Some(json!({"stream_id": id, "subject": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .call(
            Method::PUT,
            "/ssf/stream",
            Some(RCV_A),
            Some(json!({"stream_id": id, "aud": "rcv-b"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "aud cannot be changed");
}

#[tokio::test]
async fn a_takeover_reaches_poll_streams_with_stable_jtis_and_paused_streams_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let open = h.create(RCV_A, json!({})).await;
    let open = open["stream_id"].as_str().unwrap();
    let held = h
        .create(RCV_B, json!({"events_requested": [set::SESSION_REVOKED]}))
        .await;
    let held = held["stream_id"].as_str().unwrap();
    let off = h.create(RCV_B, json!({})).await;
    let off = off["stream_id"].as_str().unwrap();
    h.status(RCV_B, held, "paused").await;
    h.status(RCV_B, off, "disabled").await;
    h.responder
        .submit(takeover("dr.martin@cabinet-rouen", "s-8f2c"))
        .await
        .unwrap();
    let revs = h.responder.revocations();
    eventually("the revocation", || revs.len() == 1).await;

    let got = h
        .poll(
            RCV_A,
            open,
            json!({"returnImmediately": false, "maxEvents": 10}),
        )
        .await;
    let sets = got["sets"].as_object().unwrap();
    assert_eq!(
        sets.len(),
        2,
        "session-revoked and credential-change-required: {got}"
    );
    let mut types = Vec::new();
    for (jti, token) in sets {
        let c = verified(&h, token.as_str().unwrap()).await;
        assert_eq!(
            (c["jti"].as_str(), c["iss"].as_str(), c["aud"].as_str()),
            (Some(jti.as_str()), Some(h.base.as_str()), Some("rcv-a"))
        );
        assert!(
            c["txn"].as_str().is_some_and(|t| t.starts_with("al_")),
            "{c}"
        );
        assert!(c["iat"].is_i64() && c.get("exp").is_none());
        types.extend(c["events"].as_object().unwrap().keys().cloned());
        if c["events"].get(set::SESSION_REVOKED).is_some() {
            assert_eq!(c["sub_id"]["session"]["id"], "s-8f2c");
            assert_eq!(c["sub_id"]["user"]["id"], "dr.martin@cabinet-rouen");
        }
    }
    types.sort();
    let mut want = [set::SESSION_REVOKED, set::CREDENTIAL_CHANGE_REQUIRED].map(String::from);
    want.sort();
    assert_eq!(types, want);
    // maxEvents and moreAvailable.
    let one = h
        .poll(
            RCV_A,
            open,
            json!({"returnImmediately": true, "maxEvents": 1}),
        )
        .await;
    assert_eq!(
        (
            one["sets"].as_object().unwrap().len(),
            &one["moreAvailable"]
        ),
        (1, &json!(true))
    );
    // The same takeover handled again (a replay after a restart): no second event.
    let stream_ssf = h.responder.ssf().unwrap();
    let rev = revs
        .check(
            "dr.martin@cabinet-rouen",
            Some("s-8f2c"),
            tocsin::ssf::now_ms(),
        )
        .unwrap();
    let again = tocsin::respond::revoked_signal(&rev);
    assert!(stream_ssf
        .emit(&again, tocsin::ssf::now_ms())
        .unwrap()
        .is_empty());
    let same = h
        .poll(RCV_A, open, json!({"returnImmediately": true}))
        .await;
    assert_eq!(
        same["sets"].as_object().unwrap().keys().collect::<Vec<_>>(),
        sets.keys().collect::<Vec<_>>()
    );
    // A receiver's setErrs and acks take SETs off the queue.
    let mut jtis = sets.keys().cloned();
    let (a, b) = (jtis.next().unwrap(), jtis.next().unwrap());
    let rest = h.poll(RCV_A, open, json!({"ack": [a], "setErrs": {b: {"err": "invalid_key", "description": "test"}}, "returnImmediately": true})).await;
    assert!(rest["sets"].as_object().unwrap().is_empty(), "{rest}");

    // The paused stream handed out nothing, and holds the event for later.
    let paused = h
        .poll(RCV_B, held, json!({"returnImmediately": true}))
        .await;
    assert!(paused["sets"].as_object().unwrap().is_empty());
    h.status(RCV_B, held, "enabled").await;
    let later = h
        .poll(RCV_B, held, json!({"returnImmediately": true}))
        .await;
    assert_eq!(
        later["sets"].as_object().unwrap().len(),
        1,
        "only the requested type: {later}"
    );
    // The disabled stream dropped it.
    h.status(RCV_B, off, "enabled").await;
    let none = h.poll(RCV_B, off, json!({"returnImmediately": true})).await;
    assert!(none["sets"].as_object().unwrap().is_empty());
    // A malformed poll request.
    let (s, _) = h
        .call(
            Method::POST,
            &format!("/ssf/poll/{open}"),
            Some(RCV_A),
            Some(json!({"maxEvents": "ten"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn push_goes_through_the_outbox_with_retries_and_a_paused_push_stream_holds_sets() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    // First a 503 (retried), then 202.
    let (url, got) = push_receiver(vec![(503, Value::Null)]).await;
    let body = json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url, "authorization_header": "Bearer push-secret"},
                      "events_requested": [set::SESSION_REVOKED]});
    let st = h.create(RCV_A, body).await;
    let id = st["stream_id"].as_str().unwrap().to_string();
    // Verification first.
    let (s, _) = h
        .call(
            Method::POST,
            "/ssf/verify",
            Some(RCV_A),
            Some(json!({"stream_id": id, "state": "abc"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually("the verification SET, after a retry", || {
        got.lock().len() >= 2
    })
    .await;
    let (headers, token) = got.lock()[1].clone();
    assert_eq!(headers["content-type"], "application/secevent+jwt");
    assert_eq!(headers["authorization"], "Bearer push-secret");
    let c = verified(&h, &token).await;
    assert_eq!(c["events"][set::VERIFICATION]["state"], "abc");

    h.responder
        .submit(takeover("dr.martin@cabinet-rouen", "s-push"))
        .await
        .unwrap();
    eventually("the session-revoked push", || got.lock().len() == 3).await;
    let token = got.lock()[2].1.clone();
    let c = verified(&h, &token).await;
    assert_eq!(c["sub_id"]["session"]["id"], "s-push");
    eventually("the outbox drained", || h.responder.outbox_len() == 0).await;

    h.status(RCV_A, &id, "paused").await;
    h.responder
        .submit(takeover("dr.petit@cabinet-rouen", "s-later"))
        .await
        .unwrap();
    let revs = h.responder.revocations();
    eventually("the second revocation", || revs.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got.lock().len(), 3, "a paused stream transmits nothing");
    h.status(RCV_A, &id, "enabled").await;
    eventually("the held SET, pushed on resume", || got.lock().len() == 4).await;
    let token = got.lock()[3].1.clone();
    let c = verified(&h, &token).await;
    assert_eq!(c["sub_id"]["session"]["id"], "s-later");
    let metrics = h.metrics.render();
    assert!(
        metrics
            .contains(r#"tocsin_ssf_sets_total{direction="sent",event="any",outcome="delivered"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_push_refused_with_an_rfc_8935_error_goes_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let (url, got) = push_receiver(vec![(
        400,
        json!({"err": "invalid_audience", "description": "not for us"}),
    )])
    .await;
    let st = h
        .create(
            RCV_A,
            json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url}}),
        )
        .await;
    let (s, _) = h
        .call(
            Method::POST,
            "/ssf/verify",
            Some(RCV_A),
            Some(json!({"stream_id": st["stream_id"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let dead = dir.path().join("state").join("dead-letter.jsonl");
    eventually("the dead letter", || {
        std::fs::read_to_string(&dead).is_ok_and(|t| t.contains("invalid_audience"))
    })
    .await;
    assert_eq!(got.lock().len(), 1, "a 400 is not retried");
}

fn idp_set(dir: &Path, claims: Value) -> String {
    Signer::open(&dir.join("idp"), Algorithm::ES256, None)
        .unwrap()
        .sign(&claims)
}

#[tokio::test]
async fn tocsin_receives_an_identity_providers_sets_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let now = tocsin::ssf::now_ms() / 1000;
    let claims = |jti: &str, aud: &str, iat: i64, event: &str| {
        json!({"iss": IDP, "aud": aud, "jti": jti, "iat": iat,
               "sub_id": {"format": "complex", "user": {"format": "email", "email": "dr.martin@cabinet-rouen"},
                          "session": {"format": "opaque", "id": "s-idp"}},
               "events": {event: {"event_timestamp": iat}}})
    };
    let push = |token: String| {
        let h = &h;
        async move {
            let r = h
                .http
                .post(format!("{}/ssf/receiver", h.base))
                .header("content-type", "application/secevent+jwt")
                .body(token)
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let revs = h.responder.revocations();
    let (s, _) = push(idp_set(
        dir.path(),
        claims("j1", &h.base, now, set::SESSION_REVOKED),
    ))
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let found = revs
        .check(
            "dr.martin@cabinet-rouen",
            Some("s-idp"),
            tocsin::ssf::now_ms(),
        )
        .expect("the IdP's revocation closes the session");
    assert!(
        found
            .reason
            .contains("session-revoked from https://idp.example"),
        "{}",
        found.reason
    );
    // The same jti again: accepted, not applied twice.
    let (s, _) = push(idp_set(
        dir.path(),
        claims("j1", &h.base, now, set::SESSION_REVOKED),
    ))
    .await;
    assert_eq!((s, revs.len()), (StatusCode::ACCEPTED, 1));
    // Unknown event types: counted and ignored.
    let (s, _) = push(idp_set(
        dir.path(),
        claims("j2", &h.base, now, "https://example.com/event/other"),
    ))
    .await;
    assert_eq!((s, revs.len()), (StatusCode::ACCEPTED, 1));
    // Errors, each with its RFC 8935 code.
    let other = tempfile::tempdir().unwrap();
    let forged = Signer::open(other.path(), Algorithm::ES256, None)
        .unwrap()
        .sign(&claims("j3", &h.base, now, set::SESSION_REVOKED));
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let good = idp_set(
        dir.path(),
        claims("j4", &h.base, now, set::ACCOUNT_DISABLED),
    );
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    parts[1] = b64.encode(
        claims("j4", &h.base, now, set::ACCOUNT_DISABLED)
            .to_string()
            .replace("dr.martin", "dr.other"),
    );
    let tampered = parts.join(".");
    for (token, err) in [
        (forged, "invalid_key"),
        (tampered, "invalid_key"),
        (
            idp_set(
                dir.path(),
                claims(
                    "j5",
                    "https://someone-else.example",
                    now,
                    set::SESSION_REVOKED,
                ),
            ),
            "invalid_audience",
        ),
        (
            idp_set(
                dir.path(),
                claims("j6", &h.base, now - 3600, set::SESSION_REVOKED),
            ),
            "invalid_request",
        ),
        (
            idp_set(
                dir.path(),
                json!({"iss": "https://stranger.example", "aud": h.base, "jti": "j7", "iat": now, "events": {}}),
            ),
            "invalid_issuer",
        ),
        ("not a jws".to_string(), "invalid_request"),
    ] {
        let (s, v) = push(token).await;
        assert_eq!(
            (s, v["err"].as_str()),
            (StatusCode::BAD_REQUEST, Some(err)),
            "{v}"
        );
        assert!(v["description"].is_string());
    }
    assert_eq!(revs.len(), 1, "no refused SET acted");
    let m = h.metrics.render();
    for needle in [
        r#"direction="received",event="session-revoked",outcome="accepted""#,
        r#"direction="received",event="unknown",outcome="ignored_unknown""#,
        r#"direction="received",event="any",outcome="invalid_key""#,
        r#"direction="received",event="any",outcome="invalid_audience""#,
    ] {
        assert!(m.contains(needle), "{needle}\n{m}");
    }
}

/// The Python interpreter with jwcrypto (`scripts/ssf-receiver-env.sh` makes it; CI runs it).
/// `None` outside CI when it is missing: the test then says so and does not run.
fn receiver_python() -> Option<std::path::PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ssf-venv/bin/python");
    let python = std::env::var_os("TOCSIN_SSF_PYTHON")
        .map(Into::into)
        .unwrap_or(venv);
    let ok = std::process::Command::new(&python)
        .args(["-c", "import jwcrypto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} has no jwcrypto: run scripts/ssf-receiver-env.sh",
        python.display()
    );
    eprintln!("SKIPPED: no Python with jwcrypto; run scripts/ssf-receiver-env.sh to run this test");
    None
}

#[tokio::test]
async fn an_independent_python_receiver_gets_session_revoked_by_push_and_by_poll() {
    let Some(python) = receiver_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    python_receiver(&h, &python, "ES256").await;
}

#[tokio::test]
async fn the_independent_receiver_verifies_rs256_sets_too() {
    let Some(python) = receiver_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The operator's RSA key, made with the receiver's own crypto library (PKCS#8 PEM).
    let key = dir.path().join("ssf-rsa.pem");
    let made = std::process::Command::new(&python)
        .args(["-c", "import sys\nfrom cryptography.hazmat.primitives.asymmetric import rsa\n\
from cryptography.hazmat.primitives import serialization as s\n\
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
open(sys.argv[1], 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let extra = format!(
        "algorithm = \"RS256\"\nrsa_key_file = {:?}",
        key.display().to_string()
    );
    let h = start_with(dir.path(), &extra).await;
    python_receiver(&h, &python, "RS256").await;
}

/// Runs the Python receiver against `h`, causing a takeover when it is ready for each
/// delivery method; it must see both, signed with `alg`.
async fn python_receiver(h: &Harness, python: &Path, alg: &str) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ssf_receiver/receiver.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args(["--transmitter", &h.base, "--token", RCV_A, "--alg", alg])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut got = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            match line.as_str() {
                "READY push" => h
                    .responder
                    .submit(takeover("dr.martin@cabinet-rouen", "s-push"))
                    .await
                    .unwrap(),
                "READY poll" => h
                    .responder
                    .submit(takeover("dr.petit@cabinet-rouen", "s-poll"))
                    .await
                    .unwrap(),
                _ => got.push(line),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the receiver finishes");
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the Python receiver failed: {got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("GOT push dr.martin@cabinet-rouen s-push "),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("GOT poll dr.petit@cabinet-rouen s-poll "),
        "{got:?}"
    );
}

#[tokio::test]
async fn an_identity_providers_keys_are_fetched_from_its_jwks_url() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let idp2 = Signer::open(&dir.path().join("idp2"), Algorithm::ES256, None).unwrap();
    let now = tocsin::ssf::now_ms() / 1000;
    let push = |jti: &str| {
        let token = idp2.sign(
            &json!({"iss": IDP_URL, "aud": [h.base, "other"], "jti": jti, "iat": now,
            "sub_id": {"format": "opaque", "id": "dr.petit@cabinet-rouen"},
            "events": {set::CREDENTIAL_COMPROMISE: {}}}),
        );
        h.http
            .post(format!("{}/ssf/receiver", h.base))
            .body(token)
            .send()
    };
    assert_eq!(push("k1").await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(push("k2").await.unwrap().status(), StatusCode::ACCEPTED);
    let fetched = h.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(fetched, 1, "fetched once, then kept");
    let rev =
        h.responder
            .revocations()
            .check("dr.petit@cabinet-rouen", None, tocsin::ssf::now_ms());
    assert!(
        rev.is_some_and(|r| r.scope.as_str() == "account"),
        "a compromised credential revokes the account's sessions"
    );
    assert!(
        h.baselines
            .leaked
            .lock()
            .iter()
            .all(|a| a == "dr.petit@cabinet-rouen")
            && !h.baselines.leaked.lock().is_empty(),
        "and marks its password leaked in the baselines"
    );
    // A key the provider does not publish: one refetch, then refused.
    let other = tempfile::tempdir().unwrap();
    let stranger = Signer::open(other.path(), Algorithm::ES256, None).unwrap();
    let token = stranger
        .sign(&json!({"iss": IDP_URL, "aud": h.base, "jti": "k3", "iat": now, "events": {}}));
    let r = h
        .http
        .post(format!("{}/ssf/receiver", h.base))
        .body(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(h.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn alerts_at_or_above_the_configured_severity_become_risk_level_change() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let st = h
        .create(RCV_A, json!({"events_requested": [set::RISK_LEVEL_CHANGE]}))
        .await;
    let id = st["stream_id"].as_str().unwrap();
    // High is below the harness's risk_min_severity (critical): nothing.
    h.responder
        .submit(takeover("dr.martin@cabinet-rouen", "s-1"))
        .await
        .unwrap();
    let mut critical = takeover("dr.martin@cabinet-rouen", "s-2");
    critical.severity = Severity::Critical;
    critical.rule = "data_access.after_risky_login".into();
    critical.id = alert_id(&critical.rule, &critical.account, "s-2");
    critical.actions = vec![ResponseAction::Alert];
    h.responder.submit(critical.clone()).await.unwrap();
    let got = h.poll(RCV_A, id, json!({"returnImmediately": false})).await;
    let sets: Vec<&Value> = got["sets"].as_object().unwrap().values().collect();
    assert_eq!(sets.len(), 1, "{got}");
    let c = verified(&h, sets[0].as_str().unwrap()).await;
    let ev = &c["events"][set::RISK_LEVEL_CHANGE];
    assert_eq!(
        (ev["current_level"].as_str(), ev["principal"].as_str()),
        (Some("HIGH"), Some("USER"))
    );
    assert_eq!(c["txn"], critical.id.as_str());
    assert_eq!(c["sub_id"]["session"]["id"], "s-2");
}
