//! Outbound calls (alert webhooks, the operator's revocation endpoint) against hostile or broken
//! receivers: a URL that carries a token never reaches a log line, the outbox or the
//! dead-letter file, even when the transport fails (reqwest's error text names the URL).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tocsin::alert::{alert_id, Alert, ResponseAction, Severity};
use tocsin::metrics::Metrics;
use tocsin::respond::outbox::{DEAD_LETTER_FILE, OUTBOX_FILE};
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::Settings;

mod log_capture;
use log_capture::captured_logs;

const PATH_TOKEN: &str = "T0KEN-path-8c2e41";
const QUERY_TOKEN: &str = "qs-token-5f0d77";

/// A receiver that accepts every connection and drops it at once, before any answer.
async fn dropping_receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    addr
}

fn alert(i: usize) -> Alert {
    let account = format!("dr.{i}@cabinet-rouen");
    Alert {
        id: alert_id("stolen_password.new_device_new_asn", &account, "s"),
        rule: "stolen_password.new_device_new_asn".into(),
        title: "Successful first-try login from a never-seen device and network".into(),
        severity: Severity::High,
        risk: 0.97,
        ts: "2025-11-10T23:31:02Z".into(),
        detected_at: "2025-11-10T23:31:02Z".into(),
        account,
        tenant: Some("cabinet-rouen".into()),
        session: Some(format!("s-{i}")),
        ip: Some("203.0.113.7".parse().unwrap()),
        geo: None,
        device: None,
        reasons: vec![],
        actions: vec![ResponseAction::Alert, ResponseAction::RevokeSession],
        mitre: vec!["T1078".into()],
        events: vec![],
        mode: None,
    }
}

fn start(settings: &Settings) -> (Responder, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let r = Responder::start(
        ResponderSettings::of(settings),
        Arc::new(Metrics::new()),
        async {
            let _ = rx.await;
        },
    )
    .unwrap();
    (r, tx)
}

async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    for _ in 0..secs * 100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_a_url_reaches_no_log_line_and_no_state_file() {
    let logs = captured_logs();
    let addr = dropping_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::parse(
        &format!(
            r#"
[state]
dir = {dir:?}
[outbox]
backoff_initial_ms = 20
backoff_max_ms = 50
revocation_max_attempts = 3
[[sinks.webhook]]
url = "http://{addr}/services/{PATH_TOKEN}?token={QUERY_TOKEN}"
min_severity = "medium"
max_attempts = 3
timeout_ms = 500
[revocation]
url = "http://{addr}/revoke/{PATH_TOKEN}?token={QUERY_TOKEN}"
"#,
            dir = dir.path().display().to_string()
        ),
        "t.toml",
    )
    .unwrap();
    let (responder, stop) = start(&settings);
    responder.submit(alert(1)).await.unwrap();

    let dead = dir.path().join(DEAD_LETTER_FILE);
    eventually("both deliveries dead-lettered", 20, || {
        std::fs::read_to_string(&dead).is_ok_and(|t| t.lines().count() == 2)
    })
    .await;
    let _ = stop.send(());
    responder.join().await;

    let dead_text = std::fs::read_to_string(&dead).unwrap();
    for line in dead_text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let err = v["last_error"].as_str().unwrap();
        // The failure is still explained...
        assert!(err.contains("failed") || err.contains("closed"), "{err}");
    }
    let outbox_text = std::fs::read_to_string(dir.path().join(OUTBOX_FILE)).unwrap_or_default();
    let log_text = logs.text();
    // ...and the capture saw the failed attempts.
    assert!(log_text.contains("delivery failed"), "{log_text}");
    for (what, text) in [
        ("the logs", &log_text),
        ("the dead-letter file", &dead_text),
        ("the outbox", &outbox_text),
    ] {
        for token in [PATH_TOKEN, QUERY_TOKEN] {
            assert!(!text.contains(token), "{token} in {what}:\n{text}");
        }
    }
}
