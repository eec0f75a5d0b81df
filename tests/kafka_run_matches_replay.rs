//! `tocsin run` over a Kafka topic raises the same alerts as
//! `tocsin replay` over the same events, dead-letters exactly the records the decoder refuses,
//! and on SIGTERM drains, checkpoints, commits and exits 0.
//!
//! The input topic has one partition, so the engine sees the records in file order, as replay
//! does. With several partitions each account's events stay in order (they are keyed by
//! account), but events of *different* accounts interleave differently from the file, so
//! features that look across accounts (tenant and population frequencies) may differ slightly
//! and an alert near a threshold could differ; that is why this comparison uses one partition.

mod kafka_support;

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_support::*;
use rdkafka::Message;

#[test]
fn run_over_kafka_raises_the_same_alerts_as_replay() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 1);
    let stream = scenario(40, 4_000, 500, 7);
    let n = stream.records.len() as i64;
    produce(&broker, &cfg.input, &stream.records);
    let file = dir.path().join("events.jsonl");
    stream.write_file(&file);

    let engine = cfg.spawn();
    wait_for(
        "the engine to checkpoint the whole topic",
        Duration::from_secs(120),
        || checkpointed(&cfg.state, &cfg.input) >= n,
    );
    let (ok, stderr) = engine.terminate(Duration::from_secs(15));
    assert!(ok, "tocsin run did not exit 0 on SIGTERM:\n{stderr}");

    // Same alert ids as replay, each exactly once in an uninterrupted run; alerts asking for a
    // revocation have theirs on the revocations topic.
    let alerts = read_topic(&broker, &cfg.alerts);
    let values = json_values(&alerts);
    let (run_set, run_revoking) = alert_ids(&values);
    assert_eq!(run_set.len(), values.len(), "an alert was emitted twice");
    let (replay_set, replay_revoking) = alert_ids(&replay_alerts(&cfg.path, &file));
    assert!(
        !replay_set.is_empty() && !replay_revoking.is_empty(),
        "the scenario's takeovers must raise alerts and revocations, or this test proves nothing"
    );
    assert_eq!(run_set, replay_set, "run and replay disagree on alerts");
    assert_eq!(run_revoking, replay_revoking);
    let revoked: BTreeSet<String> = json_values(&read_topic(&broker, &cfg.revocations))
        .iter()
        .map(|r| r["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(revoked, replay_revoking, "a revocation is missing or extra");
    for (m, v) in alerts.iter().zip(&values) {
        assert_eq!(
            m.key(),
            Some(v["account"].as_str().unwrap().as_bytes()),
            "alerts are keyed by account"
        );
    }

    // Exactly the refused records went to the dead-letter topic, with their reason.
    let expected = stream.expected_rejections();
    let dead = read_topic(&broker, &cfg.dead_letter);
    assert_eq!(dead.len(), expected.len(), "dead letters: {stderr}");
    for m in &dead {
        let offset: usize = header(m, "tocsin-source-offset").unwrap().parse().unwrap();
        assert_eq!(header(m, "tocsin-reason").as_ref(), expected.get(&offset));
        assert_eq!(header(m, "tocsin-source-topic").unwrap(), cfg.input);
        assert_eq!(
            m.payload().unwrap(),
            stream.records[offset].1.as_slice(),
            "the dead letter carries the original payload"
        );
    }

    // The summary counts every record, and the offsets were committed after the checkpoint.
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("run: "))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    assert!(
        summary.starts_with(&format!(
            "run: {n} records, {} events,",
            stream.expected_events()
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{} dead letters", expected.len())),
        "{summary}"
    );
    assert_eq!(committed(&broker, &cfg.group, &cfg.input, 1), vec![n]);
}
