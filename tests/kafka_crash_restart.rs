//! `kill -9` the engine at seeded random moments while it consumes
//! 200,000 records, restart it each time; in the end every alert of an uninterrupted run
//! (`tocsin replay` over the same records, one partition so the order is the same) is on the
//! alerts topic, no revocation is missing, and every refused record reached the dead-letter
//! topic. Re-emissions after a crash are allowed (at-least-once) and carry the same ids.
//!
//! A webhook receiver and the operator's revocation endpoint run for real (HTTP on 127.0.0.1):
//! the set of alerts delivered to the webhook, and of revocations called, equals the
//! uninterrupted run's. A delivery may arrive more than once (at-least-once, README.md
//! "Responses"); every copy carries the same `webhook-id` (or `Idempotency-Key`), which is
//! what receivers de-duplicate on, and the test asserts that too.

mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_support::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[test]
fn kill_9_at_random_moments_loses_no_alert_revocation_or_dead_letter() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 1);
    let hooks = HttpReceiver::start();
    let operator = HttpReceiver::start();
    cfg.with_receivers(&hooks, &operator);
    // A poison record every 2,000 makes every stretch of the topic visible in the dead-letter
    // topic: a skipped stretch would miss its poison record.
    let stream = scenario(2_000, 200_000, 2_000, 11);
    let n = stream.records.len() as i64;
    // A build whose native decoder refuses everything would turn the run into 200,000+ dead
    // letters per life, which a sqlite-backed tansu cannot absorb; that measures the broker, not
    // the engine.
    if stream.expected_rejections().len() > stream.records.len() / 10 {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true: the native decoder refuses most of the stream"
        );
        skip_loudly("the native decoder in this build refuses most of the stream");
        return;
    }
    produce(&broker, &cfg.input, &stream.records);
    let file = dir.path().join("events.jsonl");
    stream.write_file(&file);

    // Each life is killed at a random moment: on even lives after it has checkpointed some
    // progress (so the restart resumes mid-stream, with records processed since the checkpoint
    // re-processed), on odd lives soon after it got its partitions (often before its first
    // checkpoint). Checkpoints every 100 ms so that lives are short.
    let mut rng = SmallRng::seed_from_u64(2026);
    let mut kills = 0;
    let mut killed_after_a_checkpoint = false;
    for life in 0..8 {
        if kills == 4 {
            break;
        }
        let before = checkpointed(&cfg.state, &cfg.input);
        let mut engine = cfg.spawn_with(&["--checkpoint-interval-ms", "100"]);
        wait_for(
            "partitions to be assigned",
            Duration::from_secs(120),
            || {
                assert!(!engine.exited(), "engine died:\n{}", engine.stderr());
                engine.stderr().contains("partitions assigned")
            },
        );
        if life % 2 == 0 {
            wait_for("progress", Duration::from_secs(120), || {
                checkpointed(&cfg.state, &cfg.input) > before
            });
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        let at = checkpointed(&cfg.state, &cfg.input);
        if at >= n {
            // Finished before the kill: no point in more lives.
            engine.terminate(Duration::from_secs(15));
            break;
        }
        engine.crash();
        kills += 1;
        killed_after_a_checkpoint |= at > before;
    }
    assert!(
        kills >= 3,
        "only {kills} kills landed mid-stream; the test needs a longer stream"
    );
    assert!(
        killed_after_a_checkpoint,
        "no kill came after a checkpoint: resuming was not exercised"
    );

    let mut engine = cfg.spawn();
    // Stuck means no checkpoint progress for two minutes, not a slow machine: on a loaded CI
    // runner catching up takes longer, and that is no failure.
    let mut progress = (0, std::time::Instant::now());
    wait_for(
        "the final run to catch up",
        Duration::from_secs(600),
        || {
            assert!(!engine.exited(), "final run died:\n{}", engine.stderr());
            let at = checkpointed(&cfg.state, &cfg.input);
            if at > progress.0 {
                progress = (at, std::time::Instant::now());
            }
            assert!(
                progress.1.elapsed() < Duration::from_secs(120),
                "final run stuck at {at} of {n}:\n{}",
                engine.stderr()
            );
            at >= n
        },
    );
    let (expected, expected_revoking) = alert_ids(&replay_alerts(&cfg.path, &file));
    assert!(
        !expected.is_empty() && !expected_revoking.is_empty(),
        "the stream's takeovers must raise alerts and revocations, or this test proves nothing"
    );
    let expected_hooks: BTreeSet<String> = replay_alerts(&cfg.path, &file)
        .iter()
        .filter(|a| a["mode"].is_null())
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    wait_for(
        "every webhook and revocation call",
        Duration::from_secs(60),
        || {
            delivered(&hooks, "webhook-id", "id")
                .1
                .is_superset(&expected_hooks)
                && delivered(&operator, "idempotency-key", "alert_id")
                    .1
                    .is_superset(&expected_revoking)
        },
    );
    let (ok, stderr) = engine.terminate(Duration::from_secs(15));
    assert!(ok, "final run did not exit 0:\n{stderr}");
    let (hook_ids, hooked) = delivered(&hooks, "webhook-id", "id");
    assert_eq!(
        hooked, expected_hooks,
        "webhook deliveries differ from the uninterrupted run"
    );
    assert_eq!(hook_ids.len(), hooked.len(), "one webhook-id per alert");
    let (keys, called) = delivered(&operator, "idempotency-key", "alert_id");
    assert_eq!(
        called, expected_revoking,
        "revocation calls differ from the uninterrupted run"
    );
    assert_eq!(
        keys.len(),
        called.len(),
        "one Idempotency-Key per revocation"
    );
    let (got, _) = alert_ids(&json_values(&read_topic(&broker, &cfg.alerts)));
    assert_eq!(got, expected, "alert ids differ from the uninterrupted run");
    let revoked: BTreeSet<String> = json_values(&read_topic(&broker, &cfg.revocations))
        .iter()
        .map(|r| r["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(revoked, expected_revoking, "a revocation was lost");

    let want: BTreeMap<usize, String> = stream.expected_rejections();
    let mut seen = BTreeMap::new();
    for m in read_topic(&broker, &cfg.dead_letter) {
        let offset: usize = header(&m, "tocsin-source-offset").unwrap().parse().unwrap();
        seen.insert(offset, header(&m, "tocsin-reason").unwrap());
    }
    assert_eq!(seen, want, "dead letters lost (or invented) across crashes");
}

/// What `receiver` got: the distinct delivery ids (header `id_header`), and the distinct alert
/// ids (body field `alert_field`). Panics when one delivery id came with two different alerts.
fn delivered(
    receiver: &HttpReceiver,
    id_header: &str,
    alert_field: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut by_delivery: BTreeMap<String, String> = BTreeMap::new();
    for r in receiver.received() {
        let alert = r.body[alert_field].as_str().unwrap_or_default().to_string();
        let id = r.headers.get(id_header).cloned().unwrap_or_default();
        if let Some(before) = by_delivery.insert(id.clone(), alert.clone()) {
            assert_eq!(before, alert, "delivery id {id} reused for another alert");
        }
    }
    let alerts = by_delivery.values().cloned().collect();
    (by_delivery.into_keys().collect(), alerts)
}
