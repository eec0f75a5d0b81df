//! Outbound calls (alert webhooks, the operator's revocation endpoint) against hostile or broken
//! receivers: a URL that carries a token never reaches a log line, the outbox or the
//! dead-letter file, even when the transport fails (reqwest's error text names the URL); a
//! redirect is never followed (the signed body and the bearer token stay with the configured
//! host); and destinations that would leak (plain http off loopback, weak signing secrets) are
//! refused when the configuration loads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

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

/// Starts a responder in `dir` whose webhook and revocation endpoint are `destinations` (TOML,
/// with two attempts each and fast retries), submits one alert that asks for a revocation,
/// and returns the dead-letter file once both deliveries are in it.
async fn dead_letters(dir: &std::path::Path, destinations: &str) -> String {
    let settings = Settings::parse(
        &format!(
            "[state]\ndir = {dir:?}\n[outbox]\nbackoff_initial_ms = 20\nbackoff_max_ms = 50\n\
             revocation_max_attempts = 2\n{destinations}",
            dir = dir.display().to_string()
        ),
        "t.toml",
    )
    .unwrap();
    let (responder, stop) = start(&settings);
    responder.submit(alert(1)).await.unwrap();
    let dead = dir.join(DEAD_LETTER_FILE);
    eventually("both deliveries dead-lettered", 20, || {
        std::fs::read_to_string(&dead).is_ok_and(|t| t.lines().count() == 2)
    })
    .await;
    let _ = stop.send(());
    responder.join().await;
    std::fs::read_to_string(&dead).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_a_url_reaches_no_log_line_and_no_state_file() {
    let logs = captured_logs();
    let addr = dropping_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let dead_text = dead_letters(
        dir.path(),
        &format!(
            r#"
[[sinks.webhook]]
url = "http://{addr}/services/{PATH_TOKEN}?token={QUERY_TOKEN}"
max_attempts = 2
timeout_ms = 500
[revocation]
url = "http://{addr}/revoke/{PATH_TOKEN}?token={QUERY_TOKEN}"
"#
        ),
    )
    .await;
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

/// Serves `router` on a fresh loopback port.
async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_failed_attempt_and_the_other_server_gets_nothing() {
    // The other server counts whatever reaches it.
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = serve(axum::Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }
    }))
    .await;
    // The configured receiver answers every request with a 307 to it.
    let redirector_hits = Arc::new(AtomicUsize::new(0));
    let hits = redirector_hits.clone();
    let redirector = serve(axum::Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", format!("http://{elsewhere}/collect"))],
            )
        }
    }))
    .await;

    let dir = tempfile::tempdir().unwrap();
    let dead_text = dead_letters(
        dir.path(),
        &format!(
            r#"
[[sinks.webhook]]
name = "soc"
url = "http://{redirector}/hooks"
secret = "whsec_dG9jc2luLXRlc3Qtc2lnbmluZy1rZXktMzItYnl0ZXM="
max_attempts = 2
timeout_ms = 500
[revocation]
url = "http://{redirector}/revoke"
"#
        ),
    )
    .await;

    // Retried per the policy (two attempts each), each recorded as the redirect it was.
    assert_eq!(redirector_hits.load(Ordering::SeqCst), 4);
    for line in dead_text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["attempts"], 2, "{v}");
        assert_eq!(v["last_error"], "HTTP 307 (redirect not followed)", "{v}");
    }
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the signed alert and the revocation went to the redirect's target"
    );
}

/// `tocsin replay` with a configuration holding `section`: its exit code and stderr.
fn replay_with(section: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tocsin.toml");
    std::fs::write(&config, section).unwrap();
    let input = dir.path().join("empty.jsonl");
    std::fs::write(&input, "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("replay")
        .arg("--config")
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn leaky_destinations_and_weak_secrets_are_refused_at_load() {
    const HOOK: &str = "[[sinks.webhook]]\nurl = ";
    let refused = [
        (
            format!("{HOOK}\"http://soc.example/h?token=sekrit-url-token\"\n"),
            "sinks.webhook[0].url: plain http:// is allowed only to a loopback address",
        ),
        (
            "[revocation]\nurl = \"http://saas.example/revoke/sekrit-url-token\"\n".to_owned(),
            "revocation.url: plain http:// is allowed only to a loopback address",
        ),
        (
            format!("{HOOK}\"ftp://soc.example/sekrit-url-token\"\n"),
            "sinks.webhook[0].url: expected an http(s) URL",
        ),
        (
            format!("{HOOK}\"https://soc.example/h\"\nsecret = \"\"\n"),
            "sinks.webhook[0].secret: is empty",
        ),
        (
            format!("{HOOK}\"https://soc.example/h\"\nsecret = \"whsec_\"\n"),
            "sinks.webhook[0].secret: is empty",
        ),
        (
            format!("{HOOK}\"https://soc.example/h\"\nsecret = \"whsec_sekrit!!not-b64\"\n"),
            "sinks.webhook[0].secret: starts with `whsec_` but what follows is not base64",
        ),
        (
            format!("{HOOK}\"https://soc.example/h\"\nsecret = \"whsec_c2Vrcml0\"\n"),
            "sinks.webhook[0].secret: is a 6-byte key",
        ),
        (
            format!("{HOOK}\"https://soc.example/h\"\nsecret = \"sekrit-short\"\n"),
            "sinks.webhook[0].secret: is a 12-byte key",
        ),
    ];
    for (config, message) in &refused {
        let (code, stderr) = replay_with(config);
        assert_eq!(code, Some(2), "{config}: {stderr}");
        assert!(stderr.contains(message), "{config}: {stderr}");
        assert!(!stderr.contains("sekrit"), "a secret quoted: {stderr}");
    }
    let accepted = [
        format!("{HOOK}\"http://127.0.0.1:9/h\"\n"),
        format!("{HOOK}\"http://[::1]:9/h\"\n"),
        format!("{HOOK}\"http://localhost:9/h\"\n"),
        format!("{HOOK}\"http://soc.example/h\"\nallow_insecure_http = true\n"),
        "[revocation]\nurl = \"http://saas.example/r\"\nallow_insecure_http = true\n".to_owned(),
        format!(
            "{HOOK}\"https://soc.example/h\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
        ),
    ];
    for config in &accepted {
        let (code, stderr) = replay_with(config);
        assert_eq!(code, Some(0), "{config}: {stderr}");
    }
}
