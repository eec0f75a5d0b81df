//! Webhooks are delivered at least once through receiver failures.
//! A real receiver on loopback refuses the first deliveries (HTTP 500), then is down (its
//! listener closed: connection refused), then comes back: every alert arrives, every signature
//! verifies (checked here with `hmac` directly, not with Tocsin's signer), and an alert seen
//! twice always carries the same `webhook-id`. Also: a restart resumes the persisted outbox, and
//! a permanent refusal goes to the dead-letter file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use tocsin::alert::{alert_id, Alert, ResponseAction, Severity};
use tocsin::metrics::Metrics;
use tocsin::respond::outbox::DEAD_LETTER_FILE;
use tocsin::respond::webhook::WebhookSink;
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::Settings;

/// `whsec_` + base64("tocsin-test-signing-key-32-bytes")
const SECRET: &str = "whsec_dG9jc2luLXRlc3Qtc2lnbmluZy1rZXktMzItYnl0ZXM=";
const KEY: &[u8] = b"tocsin-test-signing-key-32-bytes";

#[derive(Clone, Debug)]
struct Delivery {
    webhook_id: String,
    alert_id: String,
    path: String,
}

/// The receiver: refuses the first `refuse` requests with `status`, records the rest after
/// verifying their signature.
#[derive(Clone)]
struct Receiver {
    refuse: usize,
    status: StatusCode,
    seen: Arc<AtomicUsize>,
    delivered: Arc<Mutex<Vec<Delivery>>>,
    bad_signatures: Arc<AtomicUsize>,
}

impl Receiver {
    fn new(refuse: usize, status: StatusCode) -> Receiver {
        Receiver {
            refuse,
            status,
            seen: Arc::default(),
            delivered: Arc::default(),
            bad_signatures: Arc::default(),
        }
    }

    fn router(&self) -> axum::Router {
        let r = self.clone();
        axum::Router::new().route(
            "/{*path}",
            axum::routing::post(
                move |axum::extract::Path(path): axum::extract::Path<String>,
                      headers: HeaderMap,
                      body: String| {
                    let r = r.clone();
                    async move {
                        if r.seen.fetch_add(1, Ordering::SeqCst) < r.refuse {
                            return r.status;
                        }
                        let h = |k: &str| {
                            headers
                                .get(k)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        let (id, ts, sig) = (
                            h("webhook-id"),
                            h("webhook-timestamp"),
                            h("webhook-signature"),
                        );
                        if !verify(&id, &ts, &body, &sig) {
                            r.bad_signatures.fetch_add(1, Ordering::SeqCst);
                            return StatusCode::UNAUTHORIZED;
                        }
                        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                        // json bodies carry `id`; slack bodies name the alert in their context.
                        let alert_id = v["id"].as_str().map(str::to_string).unwrap_or_else(|| {
                            let ctx = v["blocks"][3]["elements"][0]["text"].as_str().unwrap_or("");
                            ctx.split('`').nth(3).unwrap_or("").to_string()
                        });
                        r.delivered.lock().push(Delivery {
                            webhook_id: id,
                            alert_id,
                            path,
                        });
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        )
    }
}

/// Standard Webhooks verification, independent of Tocsin's code.
fn verify(id: &str, ts: &str, body: &str, sig: &str) -> bool {
    let Some(b64) = sig.strip_prefix("v1,") else {
        return false;
    };
    let Ok(given) = B64.decode(b64) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let fresh = ts
        .parse::<u64>()
        .map(|t| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            now.abs_diff(t) < 300
        })
        .unwrap_or(false);
    fresh && mac.verify_slice(&given).is_ok()
}

/// Serves `router` on `addr` until the returned sender fires; the join handle ends when the
/// listener is closed.
async fn serve_on(
    addr: SocketAddr,
    router: axum::Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (tx, h)
}

async fn free_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn alert(i: usize, severity: Severity) -> Alert {
    let account = format!("dr.{i}@cabinet-rouen");
    Alert {
        id: alert_id("stolen_password.new_device_new_asn", &account, "s"),
        rule: "stolen_password.new_device_new_asn".into(),
        title: "Successful first-try login from a never-seen device and network".into(),
        severity,
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
        actions: vec![ResponseAction::Alert],
        mitre: vec!["T1078".into()],
        events: vec![],
        mode: None,
    }
}

fn settings(dir: &std::path::Path, addr: SocketAddr, extra: &str) -> Settings {
    Settings::parse(
        &format!(
            r#"
[state]
dir = {dir:?}
[outbox]
backoff_initial_ms = 20
backoff_max_ms = 150
[[sinks.webhook]]
name = "soc"
url = "http://{addr}/hooks/tocsin"
secret = "{SECRET}"
min_severity = "medium"
max_attempts = 1000
timeout_ms = 500
{extra}
"#,
            dir = dir.display().to_string()
        ),
        "t.toml",
    )
    .unwrap()
}

fn start(settings: &Settings) -> (Responder, tokio::sync::oneshot::Sender<()>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let r = Responder::start(ResponderSettings::of(settings), metrics.clone(), async {
        let _ = rx.await;
    })
    .unwrap();
    (r, tx, metrics)
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

/// Every alert id delivered, and each alert's set of webhook ids.
fn by_alert(d: &[Delivery]) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for x in d {
        m.entry(x.alert_id.clone())
            .or_default()
            .insert(x.webhook_id.clone());
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_arrives_signed_through_refusals_and_an_outage() {
    let addr = free_addr().await;
    let rx = Receiver::new(6, StatusCode::INTERNAL_SERVER_ERROR);
    let (down, server) = serve_on(addr, rx.router()).await;

    let dir = tempfile::tempdir().unwrap();
    // A second destination on the same receiver: Slack format, critical alerts only.
    let s = settings(
        dir.path(),
        addr,
        &format!(
            "[[sinks.webhook]]\nname = \"pager\"\nurl = \"http://{addr}/pager\"\nsecret = \"{SECRET}\"\n\
             min_severity = \"critical\"\nformat = \"slack\"\nmax_attempts = 1000\n"
        ),
    );
    let (responder, stop, metrics) = start(&s);
    let alerts: Vec<Alert> = (0..12)
        .map(|i| {
            alert(
                i,
                if i % 4 == 0 {
                    Severity::Critical
                } else {
                    Severity::High
                },
            )
        })
        .chain([alert(99, Severity::Low)]) // below every min_severity: never sent
        .collect();
    for a in &alerts {
        responder.submit(a.clone()).await.unwrap();
    }

    // Phase 1: the receiver answers 500 to the first six deliveries.
    eventually("six refusals", 10, || rx.seen.load(Ordering::SeqCst) >= 6).await;
    // Phase 2: down. Connections are refused for a while; retries keep failing.
    let _ = down.send(());
    server.await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Phase 3: back on the same address.
    let (_up, _server) = serve_on(addr, rx.router()).await;

    let want_soc: BTreeSet<String> = alerts[..12].iter().map(|a| a.id.clone()).collect();
    let want_pager: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .map(|a| a.id.clone())
        .collect();
    eventually("every alert delivered", 20, || {
        let d = rx.delivered.lock();
        let soc: BTreeSet<_> = d
            .iter()
            .filter(|x| x.path == "hooks/tocsin")
            .map(|x| x.alert_id.clone())
            .collect();
        let pager: BTreeSet<_> = d
            .iter()
            .filter(|x| x.path == "pager")
            .map(|x| x.alert_id.clone())
            .collect();
        soc == want_soc && pager == want_pager
    })
    .await;
    eventually("the outbox to drain", 5, || responder.outbox_len() == 0).await;

    assert_eq!(
        rx.bad_signatures.load(Ordering::SeqCst),
        0,
        "every signature verifies"
    );
    let d = rx.delivered.lock().clone();
    for path in ["hooks/tocsin", "pager"] {
        let per: Vec<_> = d.iter().filter(|x| x.path == path).cloned().collect();
        for (alert, ids) in by_alert(&per) {
            assert_eq!(
                ids.len(),
                1,
                "{path}: alert {alert} arrived under several webhook-ids: {ids:?}"
            );
        }
    }
    // Distinct alerts, distinct ids; one alert, distinct ids per destination.
    let soc_ids: BTreeSet<_> = d
        .iter()
        .filter(|x| x.path == "hooks/tocsin")
        .map(|x| &x.webhook_id)
        .collect();
    assert_eq!(soc_ids.len(), 12);
    let pager_ids: BTreeSet<_> = d
        .iter()
        .filter(|x| x.path == "pager")
        .map(|x| &x.webhook_id)
        .collect();
    assert!(soc_ids.is_disjoint(&pager_ids));
    assert!(
        !d.iter().any(|x| x.alert_id == alerts[12].id),
        "low severity filtered out"
    );

    let text = metrics.render();
    assert!(
        text.contains("tocsin_deliveries_total{destination=\"soc\",outcome=\"retry\"}"),
        "{text}"
    );
    assert!(
        text.contains("tocsin_deliveries_total{destination=\"pager\",outcome=\"delivered\"} 3"),
        "{text}"
    );
    assert!(
        !text.contains("outcome=\"dead_letter\""),
        "nothing dead-lettered"
    );
    let _ = stop.send(());
    responder.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_the_persisted_outbox_with_the_same_webhook_ids() {
    let addr = free_addr().await; // nothing listens yet: connection refused
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), addr, "");
    let alerts: Vec<Alert> = (0..3).map(|i| alert(i, Severity::High)).collect();
    {
        let (responder, stop, metrics) = start(&s);
        for a in &alerts {
            responder.submit(a.clone()).await.unwrap();
        }
        eventually("failed attempts", 10, || {
            metrics.render().contains("outcome=\"retry\"")
        })
        .await;
        assert_eq!(responder.outbox_len(), 3);
        let _ = stop.send(());
        responder.join().await;
    }

    let rx = Receiver::new(0, StatusCode::OK);
    let (_up, _server) = serve_on(addr, rx.router()).await;
    let (responder, stop, _) = start(&s);
    eventually("resumed deliveries", 10, || rx.delivered.lock().len() >= 3).await;
    eventually("the outbox to drain", 5, || responder.outbox_len() == 0).await;
    let got: BTreeSet<_> = rx
        .delivered
        .lock()
        .iter()
        .map(|d| d.alert_id.clone())
        .collect();
    assert_eq!(got, alerts.iter().map(|a| a.id.clone()).collect());
    assert_eq!(rx.bad_signatures.load(Ordering::SeqCst), 0);
    // The ids the first run used (stable per alert and destination) are the ones delivered.
    let sink = WebhookSink::from_settings(0, &s.sinks.webhook[0]).unwrap();
    for d in rx.delivered.lock().iter() {
        assert_eq!(d.webhook_id, sink.delivery_id(&d.alert_id));
    }
    let _ = stop.send(());
    responder.join().await;

    // A third start finds nothing left to send.
    let (responder, stop, _) = start(&s);
    assert_eq!(responder.outbox_len(), 0);
    let _ = stop.send(());
    responder.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusal_goes_to_the_dead_letter_file_at_once() {
    let addr = free_addr().await;
    let rx = Receiver::new(usize::MAX, StatusCode::GONE);
    let (_up, _server) = serve_on(addr, rx.router()).await;
    let dir = tempfile::tempdir().unwrap();
    let (responder, stop, metrics) = start(&settings(dir.path(), addr, ""));
    let a = alert(1, Severity::High);
    responder.submit(a.clone()).await.unwrap();
    let path = dir.path().join(DEAD_LETTER_FILE);
    eventually("the dead letter", 10, || path.exists()).await;
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    assert_eq!(line["destination"], "soc");
    assert_eq!(line["attempts"], 1, "a 410 is not retried");
    assert_eq!(line["last_error"], "HTTP 410");
    let body: Alert = serde_json::from_str(line["body"].as_str().unwrap()).unwrap();
    assert_eq!(body.id, a.id);
    assert_eq!(rx.seen.load(Ordering::SeqCst), 1);
    eventually("the metric", 5, || {
        metrics
            .render()
            .contains("tocsin_deliveries_total{destination=\"soc\",outcome=\"dead_letter\"} 1")
    })
    .await;
    let _ = stop.send(());
    responder.join().await;
}
