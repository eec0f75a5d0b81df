//! A checkpoint barrier includes the responder: the Kafka sink reports an epoch delivered only
//! once every alert of it has been acted on durably (its revocation in `revocations.jsonl`, its
//! webhook delivery in `outbox.jsonl`, both fsynced), not merely handed to the responder's
//! in-memory queue. A crash after the checkpoint can then lose no webhook or revocation.
//!
//! The responder is held still by not running its runtime: the alert sits in its queue, and the
//! epoch must not count as delivered until the runtime runs.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin::alert::{Alert, ResponseAction, Severity};
use tocsin::metrics::Metrics;
use tocsin::respond::kafka::KafkaSink;
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::Settings;
use tocsin::source::kafka::{Epoch, OutputError, OutputSink};

fn alert() -> Alert {
    Alert {
        id: "al_barrier".into(),
        rule: "stolen_password.test".into(),
        title: "t".into(),
        severity: Severity::High,
        risk: 0.9,
        ts: "2025-11-10T23:31:02Z".into(),
        detected_at: "2025-11-10T23:31:02Z".into(),
        account: "dr.martin@cabinet-rouen".into(),
        tenant: Some("cabinet-rouen".into()),
        session: Some("s-8f2c".into()),
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

#[test]
fn an_epoch_is_delivered_only_once_its_alerts_are_durable_in_the_responder() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::parse(
        &format!(
            r#"
[state]
dir = {dir:?}
[[sinks.webhook]]
url = "http://127.0.0.1:9/hooks"
secret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0"
min_severity = "low"
[source.kafka]
brokers = "127.0.0.1:9"
topics = ["auth-events"]
group_id = "g"
alerts_topic = ""
revocations_topic = ""
dead_letter_topic = ""
"#,
            dir = dir.path().display().to_string()
        ),
        "t.toml",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let responder = {
        let _in = rt.enter();
        Responder::start(
            ResponderSettings::of(&settings),
            Arc::new(Metrics::new()),
            async {
                let _ = stopped.await;
            },
        )
        .unwrap()
    };
    let sink = KafkaSink::new(settings.source.kafka.as_ref().unwrap(), responder).unwrap();
    let epoch = Epoch::default();
    sink.alert(epoch, &alert());

    // The responder has not run: the alert is only in its queue, so the epoch is not delivered.
    let given_up = AtomicBool::new(true);
    match sink.wait_delivered(epoch, &given_up) {
        Err(OutputError::Abandoned { left }) => assert_eq!(left, 1),
        other => panic!("the epoch counted as delivered before the responder acted: {other:?}"),
    }
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(!read("revocations.jsonl").contains("al_barrier"));

    // Let the responder run: the epoch is delivered once the alert is on disk.
    let runner = std::thread::spawn(move || {
        rt.block_on(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
    });
    let started = Instant::now();
    sink.wait_delivered(epoch, &AtomicBool::new(false)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        read("revocations.jsonl").contains("al_barrier"),
        "the revocation is in its log"
    );
    assert!(
        read("outbox.jsonl").contains("al_barrier"),
        "the webhook delivery is in the outbox"
    );
    drop(stop);
    drop(sink);
    drop(runner);
}
