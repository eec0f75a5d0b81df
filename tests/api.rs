//! The HTTP API as README.md documents it, over a real server on loopback: authentication and
//! roles on every `/v1` route, the 64 KiB body cap, JSON errors, the revocation stream and check,
//! manual revoke and lift, alerts listing, feedback reaching the baselines, and an automatic
//! revocation reaching the operator.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tocsin::alert::{alert_id, Alert, Reason, ResponseAction, Severity, Verdict};
use tocsin::api::{self, ApiState, Baselines, Tokens};
use tocsin::baseline::store::view::CountryShare;
use tocsin::baseline::store::{AccountView, FeedbackError};
use tocsin::metrics::Metrics;
use tocsin::respond::guard::Guard;
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::{Role, Settings};

mod log_capture;
use log_capture::captured_logs;

const READER: &str = "reader-token-1b7c";
const OPERATOR: &str = "operator-token-9f3e";

/// Stands in for the detector: remembers feedback, knows one account.
#[derive(Default)]
struct FakeBaselines {
    feedback: Mutex<Vec<(String, Verdict)>>,
}

impl Baselines for FakeBaselines {
    fn account_view(&self, account: &str) -> Option<AccountView> {
        (account == "dr.martin@cabinet-rouen").then(|| AccountView {
            account: account.into(),
            logins: 212,
            countries: vec![CountryShare {
                country: Some("FR".into()),
                last_seen: "2025-11-12".into(),
                share: 1.0,
            }],
            ..AccountView::default()
        })
    }

    fn feedback(&self, alert: &Alert, verdict: Verdict) -> Result<(), FeedbackError> {
        self.feedback.lock().push((alert.id.clone(), verdict));
        Ok(())
    }
    fn credential_leaked(&self, _: &str, _: i64) -> bool {
        false
    }
}

/// What the operator's revocation endpoint received.
#[derive(Clone, Debug)]
struct OperatorCall {
    headers: HeaderMap,
    body: Value,
}

struct Harness {
    base: String,
    http: reqwest::Client,
    responder: Responder,
    baselines: Arc<FakeBaselines>,
    ready: api::Readiness,
    operator_calls: Arc<Mutex<Vec<OperatorCall>>>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn start() -> Harness {
    start_within(api::Limits::default()).await
}

async fn start_within(limits: api::Limits) -> Harness {
    start_full(limits, None).await
}

async fn start_full(limits: api::Limits, metrics_token: Option<&str>) -> Harness {
    // The operator's endpoint, on loopback.
    let calls: Arc<Mutex<Vec<OperatorCall>>> = Arc::default();
    let sink = calls.clone();
    let operator = axum::Router::new().route(
        "/internal/revoke",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().push(OperatorCall {
                    headers,
                    body: serde_json::from_str(&body).unwrap_or(Value::Null),
                });
                StatusCode::NO_CONTENT
            }
        }),
    );
    let op_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let op_addr = op_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(op_listener, operator).await });

    std::env::set_var("TOCSIN_TEST_OPERATOR_BEARER", "saas-bearer");
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::parse(
        &format!(
            "[state]\ndir = {:?}\n[revocation]\nurl = \"http://{op_addr}/internal/revoke\"\n\
             token_env = \"TOCSIN_TEST_OPERATOR_BEARER\"\n[outbox]\nbackoff_initial_ms = 20\n",
            dir.path().display().to_string()
        ),
        "t.toml",
    )
    .unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let mut stopped2 = stopped.clone();
    let responder = Responder::start(
        ResponderSettings::of(&settings),
        Arc::new(Metrics::new()),
        async move {
            let _ = stopped.wait_for(|&s| s).await;
        },
    )
    .unwrap();
    let baselines = Arc::new(FakeBaselines::default());
    let tokens = Tokens::default()
        .with_token("soc", Role::Reader, READER)
        .with_token("saas", Role::Operator, OPERATOR);
    let tokens = match metrics_token {
        Some(t) => tokens.with_metrics_token(t),
        None => tokens,
    };
    let state = ApiState::new(responder.clone(), baselines.clone(), tokens);
    let ready = state.ready.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve_within(listener, state, limits, async move {
        let _ = stopped2.wait_for(|&s| s).await;
    }));
    Harness {
        base,
        http: reqwest::Client::new(),
        responder,
        baselines,
        ready,
        operator_calls: calls,
        _dir: dir,
        _stop: stop,
    }
}

impl Harness {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: body is not JSON: {text:?}"));
        (status, json)
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(Method::GET, path, Some(READER), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        v
    }
}

/// An alert as the detector raises it for a stolen-password login.
fn stolen_password_alert(account: &str, session: &str) -> Alert {
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
        ip: Some("203.0.113.7".parse().unwrap()),
        geo: None,
        device: None,
        reasons: vec![Reason {
            feature: "device.new".into(),
            value: json!("fp_3b1f"),
            baseline: Some("2 devices (212 logins)".into()),
            weight: Some(2.4),
            text: "never-seen device".into(),
        }],
        actions: vec![ResponseAction::Alert, ResponseAction::RevokeSession],
        mitre: vec!["T1078".into()],
        events: vec!["ev_1".into()],
        mode: None,
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every `/v1` route, with whether it needs the operator role and a valid body if it has one.
fn v1_routes() -> Vec<(Method, &'static str, bool, Option<&'static str>)> {
    vec![
        (Method::GET, "/v1/revocations", false, None),
        (
            Method::GET,
            "/v1/revocations/check?account=a&session=s",
            false,
            None,
        ),
        (
            Method::POST,
            "/v1/revocations",
            true,
            Some(r#"{"account":"a","session":"s"}"#),
        ),
        (Method::DELETE, "/v1/revocations/rv_unknown", true, None),
        (Method::GET, "/v1/alerts", false, None),
        (
            Method::POST,
            "/v1/alerts/al_unknown/feedback",
            true,
            Some(r#"{"verdict":"false_positive"}"#),
        ),
        (
            Method::GET,
            "/v1/accounts/dr.martin@cabinet-rouen",
            false,
            None,
        ),
        (Method::POST, "/v1/guard/reset", true, None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_resets_a_tripped_guard_and_revocations_resume() {
    let h = start().await;
    let (s, _) = h
        .call(Method::POST, "/v1/guard/reset", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no guard set yet");
    let guard = Guard::new(1, 100);
    h.responder.set_guard(guard.clone());
    let mut extra = Vec::new();
    for i in 0..3 {
        let mut a = stolen_password_alert(&format!("dr.{i}@cabinet-rouen"), "s");
        guard.check(&mut a, 1_000 + i, &mut extra);
    }
    assert!(guard.is_tripped());
    let (s, _) = h
        .call(Method::POST, "/v1/guard/reset", Some(READER), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(guard.is_tripped(), "a reader cannot reset the guard");
    let (s, v) = h
        .call(Method::POST, "/v1/guard/reset", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["reset"], true);
    assert!(v["was"]["global_tripped_since"].is_string(), "{v}");
    assert!(!guard.is_tripped());
    let mut a = stolen_password_alert("dr.9@cabinet-rouen", "s");
    guard.check(&mut a, 120_000, &mut extra);
    assert!(a.wants_revocation(), "automatic revocations resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_route_enforces_tokens_roles_and_body_limits() {
    let h = start().await;
    let big = "x".repeat(64 * 1024 + 1);
    for (method, path, operator_only, body) in v1_routes() {
        let b = body.map(str::to_string);
        let (s, v) = h.call(method.clone(), path, None, b.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} without token");
        assert!(v["error"].is_string(), "{v}");
        let (s, _) = h
            .call(method.clone(), path, Some("not-a-token"), b.clone())
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} wrong token");
        if operator_only {
            let (s, v) = h.call(method.clone(), path, Some(READER), b.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} reader");
            assert!(v["error"].as_str().unwrap().contains("operator"), "{v}");
        }
        let (s, v) = h
            .call(method.clone(), path, Some(OPERATOR), Some(big.clone()))
            .await;
        assert_eq!(
            s,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{method} {path} oversized"
        );
        assert!(v["error"].is_string());
        if body.is_some() {
            let (s, v) = h
                .call(
                    method.clone(),
                    path,
                    Some(OPERATOR),
                    Some("{\"account\": ".into()),
                )
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {path} malformed");
            assert!(
                v["error"].as_str().unwrap().contains("malformed JSON"),
                "{v}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_routes_and_json_404_405() {
    let h = start().await;
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("tocsin_outbox_entries"));
    assert_eq!(h.get("/healthz").await["status"], "ok");
    let (s, _) = h.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    h.ready.set(true);
    let (s, _) = h.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = h.call(Method::GET, "/v2/nothing", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].is_string());
    let (s, v) = h.call(Method::PUT, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["error"].is_string());
    let (s, v) = h
        .call(
            Method::GET,
            "/v1/revocations?limit=1001",
            Some(READER),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = h
        .call(
            Method::GET,
            "/v1/revocations/check?session=s",
            Some(READER),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("account"), "{v}");
}

/// Acceptance 3: the stolen-password session is revoked at the operator's, with an
/// `Idempotency-Key`, and visible in the stream and the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_password_session_is_revoked_at_the_operator_and_visible() {
    let h = start().await;
    let alert = stolen_password_alert("dr.martin@cabinet-rouen", "s-8f2c");
    h.responder.submit(alert.clone()).await.unwrap();
    eventually("the operator call", || !h.operator_calls.lock().is_empty()).await;

    let stream = h.get("/v1/revocations").await;
    let item = &stream["items"][0];
    assert_eq!(item["account"], "dr.martin@cabinet-rouen");
    assert_eq!(item["session"], "s-8f2c");
    assert_eq!(item["scope"], "session");
    assert_eq!(item["alert_id"], alert.id.as_str());
    for k in ["id", "reason", "created_at", "expires_at"] {
        assert!(item[k].is_string(), "{k} in {item}");
    }

    let call = h.operator_calls.lock()[0].clone();
    assert_eq!(
        call.headers["idempotency-key"],
        item["id"].as_str().unwrap()
    );
    assert_eq!(call.headers["authorization"], "Bearer saas-bearer");
    assert_eq!(
        call.body,
        json!({"account": "dr.martin@cabinet-rouen", "session": "s-8f2c", "scope": "session",
               "reason": item["reason"], "alert_id": alert.id})
    );

    let check = h
        .get("/v1/revocations/check?account=dr.martin@cabinet-rouen&session=s-8f2c")
        .await;
    assert_eq!(check["revoked"], true);
    assert_eq!(check["revocation"]["id"], item["id"]);
    let other = h
        .get("/v1/revocations/check?account=dr.martin@cabinet-rouen&session=s-own")
        .await;
    assert_eq!(other, json!({"revoked": false, "revocation": null}));

    // The same alert again (a replay) revokes nothing new and calls the operator no more.
    h.responder.submit(alert).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.get("/v1/revocations").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(h.operator_calls.lock().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_stream_pages_with_cursors_and_reports_lifts() {
    let h = start().await;
    for i in 0..3 {
        h.responder
            .submit(stolen_password_alert(
                &format!("dr.{i}@c"),
                &format!("s-{i}"),
            ))
            .await
            .unwrap();
    }
    let store = h.responder.revocations();
    eventually("three revocations", || store.len() == 3).await;

    let page1 = h.get("/v1/revocations?limit=2").await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let c1 = page1["next_cursor"].as_u64().unwrap();
    let page2 = h.get(&format!("/v1/revocations?since={c1}&limit=2")).await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    let c2 = page2["next_cursor"].as_u64().unwrap();
    assert!(c2 > c1);
    let page3 = h.get(&format!("/v1/revocations?since={c2}")).await;
    assert_eq!(page3, json!({"items": [], "next_cursor": c2}));

    // A lift is a change: pollers see it after their cursor.
    let id = page1["items"][0]["id"].as_str().unwrap().to_string();
    let (s, lifted) = h
        .call(
            Method::DELETE,
            &format!("/v1/revocations/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{lifted}");
    let page4 = h.get(&format!("/v1/revocations?since={c2}")).await;
    assert_eq!(page4["items"][0]["id"], id.as_str());
    assert!(page4["items"][0]["lifted_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_account_revocation_covers_every_session_until_lifted() {
    let h = start().await;
    let (s, rev) = h
        .call(
            Method::POST,
            "/v1/revocations",
            Some(OPERATOR),
            Some(r#"{"account":"dr.durand@cabinet-lyon","reason":"phoned the SOC"}"#.into()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rev}");
    assert_eq!(rev["scope"], "account");
    let path = "/v1/revocations/check?account=dr.durand@cabinet-lyon&session=any-session";
    assert_eq!(h.get(path).await["revoked"], true);
    // Manual revocations reach the operator too.
    eventually("the operator call", || !h.operator_calls.lock().is_empty()).await;
    assert_eq!(h.operator_calls.lock()[0].body["scope"], "account");

    let id = rev["id"].as_str().unwrap();
    let (s, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/revocations/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h.get(path).await["revoked"], false);
    let (s, _) = h
        .call(
            Method::DELETE,
            "/v1/revocations/rv_nope",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call(
            Method::POST,
            "/v1/revocations",
            Some(OPERATOR),
            Some(r#"{"account":"a","scope":"session"}"#.into()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_listing_filters_and_feedback_reaches_the_baselines() {
    let h = start().await;
    let a = stolen_password_alert("dr.martin@cabinet-rouen", "s-1");
    let b = stolen_password_alert("dr.petit@cabinet-rouen", "s-2");
    h.responder.submit(a.clone()).await.unwrap();
    h.responder.submit(b.clone()).await.unwrap();
    let recent = h.responder.recent_alerts();
    eventually("two alerts", || recent.len() == 2).await;

    let all = h.get("/v1/alerts").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let mine = h.get("/v1/alerts?account=dr.petit@cabinet-rouen").await;
    assert_eq!(mine["items"][0]["id"], b.id.as_str());
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let cursor = all["next_cursor"].as_u64().unwrap();
    assert!(h.get(&format!("/v1/alerts?since={cursor}")).await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let by_time = h.get("/v1/alerts?since=2025-11-10T23:00:00Z").await;
    assert_eq!(by_time["items"].as_array().unwrap().len(), 2);
    let (s, _) = h
        .call(
            Method::GET,
            "/v1/alerts?since=yesterday",
            Some(READER),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, v) = h
        .call(
            Method::POST,
            &format!("/v1/alerts/{}/feedback", a.id),
            Some(OPERATOR),
            Some(r#"{"verdict":"false_positive","note":"new phone"}"#.into()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        h.baselines.feedback.lock().clone(),
        vec![(a.id.clone(), Verdict::FalsePositive)]
    );
    let (s, _) = h
        .call(
            Method::POST,
            "/v1/alerts/al_unknown/feedback",
            Some(OPERATOR),
            Some(r#"{"verdict":"false_positive"}"#.into()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call(
            Method::POST,
            &format!("/v1/alerts/{}/feedback", a.id),
            Some(OPERATOR),
            Some(r#"{"verdict":"maybe"}"#.into()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let view = h.get("/v1/accounts/dr.martin@cabinet-rouen").await;
    assert_eq!(view["countries"][0]["country"], "FR", "{view}");
    assert_eq!(view["logins"], 212, "{view}");
    let (s, _) = h
        .call(Method::GET, "/v1/accounts/nobody", Some(READER), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presented_tokens_never_reach_the_logs() {
    let logs = captured_logs();
    let h = start().await;

    const PRESENTED: &str = "guessed-token-7c41e0d9";
    let calls = [
        (Method::GET, "/v1/revocations", Some(PRESENTED), None),
        (
            Method::POST,
            "/v1/revocations",
            Some(PRESENTED),
            Some(r#"{"account":"a@b","session":"s"}"#.to_string()),
        ),
        (Method::DELETE, "/v1/revocations/rv_x", Some(READER), None),
        (
            Method::POST,
            "/v1/revocations",
            Some(OPERATOR),
            Some(r#"{"account":"a@b","session":"s","reason":"test"}"#.to_string()),
        ),
    ];
    let mut statuses = Vec::new();
    for (method, path, token, body) in calls {
        statuses.push(h.call(method, path, token, body).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::CREATED
        ]
    );

    let text = logs.text();
    // The capture works: the refusals and the operator's request were logged...
    assert!(text.contains("API request with an unknown token"), "{text}");
    assert!(text.contains("reader token on an operator route"), "{text}");
    assert!(text.contains("operator request"), "{text}");
    // ...naming the token's configured name, never a token.
    assert!(
        text.contains("token=\"soc\"") || text.contains("token=soc"),
        "{text}"
    );
    for token in [PRESENTED, READER, OPERATOR, "saas-bearer", "Bearer"] {
        assert!(!text.contains(token), "{token} in the logs:\n{text}");
    }
}

/// Connects to the harness's API over raw TCP.
async fn raw(h: &Harness) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(h.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads what the server sends until it closes the connection (or `within` passes: then
/// `None`).
async fn read_until_closed(conn: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

fn short_limits() -> api::Limits {
    api::Limits {
        header_timeout: Duration::from_millis(800),
        request_timeout: Duration::from_millis(800),
        ..api::Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_or_silent_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let h = start_within(short_limits()).await;

    // Headers one byte at a time, never finished.
    let mut conn = raw(&h).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: tocsin\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let trickle = async {
        for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
            .cycle()
        {
            if conn.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
    };
    trickle.await;
    let cut_after = started.elapsed();
    assert!(
        cut_after < Duration::from_secs(4),
        "still connected after {cut_after:?}"
    );
    let answer = read_until_closed(&mut conn, Duration::from_secs(2)).await;
    assert!(
        !answer.unwrap_or_default().contains(" 200 "),
        "an unfinished request is never served"
    );

    // A connection that says nothing is closed too.
    let mut silent = raw(&h).await;
    let started = std::time::Instant::now();
    let answer = read_until_closed(&mut silent, Duration::from_secs(4)).await;
    assert!(answer.is_some(), "a silent connection is kept open");
    assert!(started.elapsed() < Duration::from_secs(3));

    // The API still serves others.
    let (s, _) = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_large_body_is_refused_without_being_read() {
    use tokio::io::AsyncWriteExt;
    let h = start().await;
    let mut conn = raw(&h).await;
    // A megabyte announced, not one byte of it sent: the answer cannot wait for it.
    conn.write_all(
        b"POST /v1/revocations HTTP/1.1\r\nHost: tocsin\r\nAuthorization: Bearer wrong\r\n\
          Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(3))
        .await
        .expect("answered and closed without reading the body");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );

    // Without a token at all, on a route that does not exist either.
    let mut conn = raw(&h).await;
    conn.write_all(b"PUT /v1/nowhere HTTP/1.1\r\nHost: tocsin\r\nContent-Length: 1048576\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(3))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_body_never_ends_times_out() {
    use tokio::io::AsyncWriteExt;
    let h = start_within(short_limits()).await;
    let mut conn = raw(&h).await;
    conn.write_all(
        format!(
            "POST /v1/revocations HTTP/1.1\r\nHost: tocsin\r\nAuthorization: Bearer {OPERATOR}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"account\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(4))
        .await
        .expect("answered within the request deadline");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("timed out"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_token_once_one_is_set() {
    const SCRAPER: &str = "prometheus-scrape-token-31d0";
    let get = |h: &Harness, token: Option<&str>| {
        let mut req = h.http.get(format!("{}/metrics", h.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // Without a metrics token, open (as before).
    let open = start().await;
    let (s, page) = get(&open, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("tocsin_alerts_total") || page.contains("# HELP"),
        "{page}"
    );

    let h = start_full(api::Limits::default(), Some(SCRAPER)).await;
    for (token, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("wrong"), StatusCode::UNAUTHORIZED),
        (Some(SCRAPER), StatusCode::OK),
        (Some(READER), StatusCode::OK),
    ] {
        let (s, page) = get(&h, token).await;
        assert_eq!(s, want, "{token:?}: {page}");
        if want == StatusCode::OK {
            assert!(page.contains("# HELP tocsin_"), "{page}");
        } else {
            assert!(!page.contains("tocsin_"), "nothing leaks: {page}");
        }
    }
    // Health stays open for probes.
    let (s, _) = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
}
