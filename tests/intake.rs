//! HTTP intake on the real broker (tansu): an Okta Event Hook is verified, the takeover arrives
//! as an Okta System Log batch through `POST /v1/events` and an Event Hook delivery, the engine
//! consuming the intake topic raises the takeover alert; tokens of other roles are refused, and
//! so are oversized bodies and unknown formats. When the broker goes down, intake answers 503:
//! never a 2xx for an event the brokers did not acknowledge.

mod kafka_support;

use std::path::Path;
use std::time::{Duration, Instant};

use kafka_support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tocsin::engine::EngineOptions;

const INGEST: &str = "ingest-token-for-the-tests";
const READER: &str = "reader-token-for-the-tests";

/// Adds the intake and the two tokens to `cfg`'s configuration.
fn enable_intake(cfg: &RunConfig, extra: &str) {
    let hash = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        r#"
[intake]
enabled = true
{extra}
[[api.tokens]]
name = "okta-hook"
role = "ingest"
sha256 = "{ingest}"
[[api.tokens]]
name = "soc"
role = "reader"
sha256 = "{reader}"
"#,
        ingest = hash(INGEST),
        reader = hash(READER),
    ));
    std::fs::write(&cfg.path, text).unwrap();
}

fn wait_ready(engine: &tocsin::engine::Engine) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !engine.is_ready() {
        assert!(Instant::now() < deadline, "the engine never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        self.rt.block_on(async {
            let mut req = self.http.request(method, format!("{}{path}", self.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.body(b);
            }
            let resp = req.send().await.expect("the API answers");
            let status = resp.status();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    fn post(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, token, &[], Some(body))
    }
}

fn okta_takeover() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/okta/takeover.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn okta_hook_and_event_batches_reach_the_engine_and_raise_the_takeover_alert() {
    let Some(broker) = broker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 1);
    enable_intake(&cfg, "max_body_bytes = 200000\nmax_records = 20");
    let engine = start_in_process(&cfg, EngineOptions::default());
    wait_ready(&engine);
    let api = Client::new(engine.api_url());

    // Okta's one-time verification: the challenge echoed, with the configured header.
    let (status, body) = api.send(
        reqwest::Method::GET,
        "/v1/hooks/okta",
        Some(INGEST),
        &[("X-Okta-Verification-Challenge", "Qz1yV3hmdm9rZ2xNT0x")],
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "verification": "Qz1yV3hmdm9rZ2xNT0x" }));
    // Without the header secret, or with another role's token, nothing goes through.
    let (status, _) = api.send(reqwest::Method::GET, "/v1/hooks/okta", None, &[], None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.post("/v1/events?format=okta", Some(READER), b"[]".to_vec());
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An ingest token reaches intake and nothing else.
    let (status, _) = api.send(reqwest::Method::GET, "/v1/alerts", Some(INGEST), &[], None);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api.post("/v1/events?format=nonesuch", Some(INGEST), b"{}".to_vec());
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = api.post("/v1/events?format=okta", Some(INGEST), vec![b' '; 300_000]);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = api.post(
        "/v1/events",
        Some(INGEST),
        "{\"ts\":1}\n".repeat(21).into_bytes(),
    );
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // JSON lines: a refused record is named by its line (blank lines count, store nothing).
    let (status, body) = api.post(
        "/v1/events",
        Some(INGEST),
        b"\n{\"ts\":\"2025-11-01T08:00:00Z\",\"type\":\"login\",\"account\":\"x\"}\n".to_vec(),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejected"][0]["record"], 2, "{body}");
    assert_eq!(body["rejected"][0]["reason"], "missing_field", "{body}");

    // Dr Martin's ten routine logins: a System Log API page (a JSON array) through /v1/events,
    // with a record that is no sign-in and a broken one among them.
    let events = okta_takeover();
    let (routine, attack) = events.split_at(10);
    let mut batch: Vec<Value> = routine.to_vec();
    batch.push(
        json!({"eventType": "policy.evaluate_sign_on", "published": "2025-11-14T16:20:34.000Z",
        "actor": {"alternateId": "dr.martin@cabinet-rouen.fr"}, "outcome": {"result": "ALLOW"}}),
    );
    batch.push(
        json!({"eventType": "user.session.start", "published": "yesterday",
        "actor": {"alternateId": "dr.martin@cabinet-rouen.fr"}, "outcome": {"result": "SUCCESS"}}),
    );
    let (status, body) = api.post(
        "/v1/events?format=okta",
        Some(INGEST),
        serde_json::to_vec(&batch).unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["records"], 12, "{body}");
    assert_eq!(body["events_stored"], 10);
    assert_eq!(body["not_applicable"].as_array().unwrap().len(), 1);
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(rejected[0]["record"], 12);
    assert_eq!(rejected[0]["reason"], "bad_timestamp");
    assert!(rejected[0]["detail"]
        .as_str()
        .unwrap()
        .contains("`published`"));

    // The attacker's login, delivered by the Event Hook.
    let delivery = json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://cabinet-rouen.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3",
        "eventId": "b5a188b9-5ece-4636-b041-482ffda96311",
        "eventTime": "2025-11-17T01:30:05.000Z",
        "contentType": "application/json",
        "data": { "events": attack },
    });
    let (status, body) = api.post(
        "/v1/hooks/okta",
        Some(INGEST),
        serde_json::to_vec(&delivery).unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events_stored"], 1);

    // The engine consumed the intake topic and raised the takeover alert.
    let mut alerts = Vec::new();
    wait_for("the takeover alert", Duration::from_secs(60), || {
        alerts = json_values(&read_topic(&broker, &cfg.alerts));
        alerts.iter().any(|a| {
            a["account"] == "dr.martin@cabinet-rouen.fr"
                && a["rule"] == "stolen_password.new_device_new_asn"
        })
    });
    let stored = read_topic(&broker, &cfg.input);
    assert_eq!(
        stored.len(),
        11,
        "ten routine logins and the attack, once each"
    );
    engine.stop().expect("the engine stops cleanly");
}

#[test]
fn a_broker_outage_makes_intake_answer_503() {
    let Some(broker) = own_broker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker.addr, dir.path(), 1);
    enable_intake(&cfg, "ack_timeout_ms = 3000");
    let engine = start_in_process(&cfg, EngineOptions::default());
    wait_ready(&engine);
    let api = Client::new(engine.api_url());
    let login = |ts: &str| {
        format!(
            r#"{{"ts":"{ts}","type":"login","outcome":"success","account":"a@b.fr","ip":"90.1.37.12"}}"#
        )
        .into_bytes()
    };
    let (status, body) = api.post("/v1/events", Some(INGEST), login("2025-11-10T08:00:00Z"));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events_stored"], 1);

    broker.kill();
    let started = Instant::now();
    let (status, body) = api.post("/v1/events", Some(INGEST), login("2025-11-10T08:01:00Z"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the answer comes within the acknowledgement timeout"
    );
    // A batch of only refused records stores nothing and needs no broker.
    let (status, body) = api.post("/v1/events", Some(INGEST), b"{\"ts\":1}".to_vec());
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events_stored"], 0);
    drop(engine);
}
