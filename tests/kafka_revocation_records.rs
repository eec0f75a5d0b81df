//! One revocation, one id, one shape: what the revocations topic carries is exactly what
//! `GET /v1/revocations` serves, for automatic revocations, manual ones and lifts alike, and the
//! outbound revocation call's `Idempotency-Key` is that same id.

mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_support::*;
use rdkafka::Message;
use serde_json::{json, Value};
use tocsin::api::Tokens;
use tocsin::engine::EngineOptions;
use tocsin::settings::Role;

const TOKEN: &str = "operator-token-for-the-revocation-records-test";

#[test]
fn the_topic_the_api_and_the_outbound_call_agree_on_every_revocation() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 1);
    let hooks = HttpReceiver::start();
    let operator = HttpReceiver::start();
    cfg.with_receivers(&hooks, &operator);
    let stream = scenario(40, 4_000, 0, 7);
    let n = stream.records.len() as i64;
    produce(&broker, &cfg.input, &stream.records);

    let engine = start_in_process(
        &cfg,
        EngineOptions {
            checkpoint_interval: Some(Duration::from_millis(200)),
            api_tokens: Some(Tokens::default().with_token("op", Role::Operator, TOKEN)),
            ..EngineOptions::default()
        },
    );
    wait_for("the whole topic", Duration::from_secs(120), || {
        engine.source_finished() || checkpointed(&cfg.state, &cfg.input) >= n
    });
    let api = engine.api_url().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let call = |req: reqwest::RequestBuilder| -> Value {
        rt.block_on(async {
            let resp = req.bearer_auth(TOKEN).send().await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.json().await.unwrap()
        })
    };
    let automatic = call(client.get(format!("{api}/v1/revocations?limit=1000")));
    let first = automatic["items"][0]["id"]
        .as_str()
        .expect("the scenario's takeovers revoke")
        .to_string();
    // A manual revocation, and a lift of an automatic one.
    let manual = call(client.post(format!("{api}/v1/revocations")).json(&json!({
        "account": "dr.9@cabinet-rouen", "scope": "account", "reason": "SOC ticket 4411"
    })));
    call(client.delete(format!("{api}/v1/revocations/{first}")));
    let served = call(client.get(format!("{api}/v1/revocations?limit=1000")));
    let served: Vec<Value> = served["items"].as_array().unwrap().clone();
    wait_for(
        "the outbound revocation calls",
        Duration::from_secs(30),
        || operator.received().len() >= served.len(),
    );
    engine.stop().unwrap();

    // The topic: the latest record of each id is the API's item, field for field.
    let mut latest: BTreeMap<String, Value> = BTreeMap::new();
    for m in read_topic(&broker, &cfg.revocations) {
        let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(
            m.key(),
            Some(v["account"].as_str().unwrap().as_bytes()),
            "keyed by account"
        );
        latest.insert(v["id"].as_str().unwrap().to_string(), v);
    }
    let by_id: BTreeMap<String, Value> = served
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_string(), v.clone()))
        .collect();
    assert_eq!(latest, by_id, "the topic and the API disagree");
    let manual_id = manual["id"].as_str().unwrap();
    assert!(latest[manual_id]["alert_id"].is_null());
    assert!(
        latest[&first]["lifted_at"].is_string(),
        "the lift is published"
    );
    for v in latest.values().filter(|v| v["alert_id"].is_string()) {
        assert!(v["expires_at"].is_string());
        assert!(v["reason"].as_str().unwrap().contains(": "), "rule: title");
    }

    // The outbound call: one `Idempotency-Key` per revocation, the same ids.
    let keys: BTreeSet<String> = operator
        .received()
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys, by_id.keys().cloned().collect::<BTreeSet<_>>());
    for r in operator.received() {
        let rev = &by_id[&r.headers["idempotency-key"]];
        assert_eq!(r.body["alert_id"], rev["alert_id"]);
        assert_eq!(r.body["scope"], rev["scope"]);
        assert_eq!(r.body["session"], rev["session"]);
    }
}
