//! Poison messages (not JSON, wrong schema, 1 MiB) land in the
//! dead-letter topic with their key, their reason and their origin, and consumption continues
//! past them on the same partition.

mod kafka_support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_support::*;
use rdkafka::Message;
use tocsin::engine::EngineOptions;
use tocsin::respond::kafka::DEAD_LETTER_MAX_PAYLOAD;
use tocsin::source::decode::{self, Format};

const MIB: usize = 1024 * 1024;

#[test]
fn poison_goes_to_dead_letters_with_reason_and_consumption_continues() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 3);
    let victim = "dr.0@cabinet-rouen".to_string();
    let mut records = Vec::new();
    // Poison first, keyed like the account whose events follow: they share a partition, so the
    // events after them prove the partition was not stalled.
    let mut big = br#"{"ts":"2025-11-10T23:31:02Z","type":"login","account":""#.to_vec();
    big.resize(MIB - 2, b'x');
    big.extend_from_slice(b"\"}");
    let poisons: Vec<Vec<u8>> = vec![poison(0), poison(1), poison(2), poison(3), big.clone()];
    for p in &poisons {
        records.push((victim.clone(), p.clone()));
    }
    let stream = scenario(1, 200, 0, 5);
    records.extend(stream.records.iter().cloned());
    produce(&broker, &cfg.input, &records);

    let engine = start_in_process(
        &cfg,
        EngineOptions {
            checkpoint_interval: Some(Duration::from_millis(200)),
            ..EngineOptions::default()
        },
    );
    let total = records.len() as i64;
    wait_for(
        "every record to be consumed",
        Duration::from_secs(120),
        || engine.source_finished() || checkpointed(&cfg.state, &cfg.input) >= total,
    );
    let summary = engine.stop().unwrap();
    assert_eq!(summary.records as i64, total);

    // What the decoder says about each payload decides what the dead-letter topic must hold.
    let mut expected: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for (_, p) in &records {
        let mut first = None;
        decode::decode(Format::Native, p, &mut |r| {
            if let Err(rej) = r {
                first.get_or_insert(rej.kind.as_str().to_string());
            }
        });
        if let Some(k) = first {
            expected.insert(p[..p.len().min(DEAD_LETTER_MAX_PAYLOAD)].to_vec(), k);
        }
    }
    for p in &poisons {
        assert!(
            expected.contains_key(&p[..p.len().min(DEAD_LETTER_MAX_PAYLOAD)]),
            "a poison record decodes"
        );
    }

    let dead = read_topic(&broker, &cfg.dead_letter);
    assert_eq!(dead.len(), expected.len());
    assert_eq!(summary.dead_letters as usize, expected.len());
    for m in &dead {
        let payload = m.payload().unwrap_or_default();
        let reason = header(m, "tocsin-reason").unwrap();
        assert_eq!(expected.get(payload), Some(&reason));
        assert!(!header(m, "tocsin-detail").unwrap().is_empty());
        assert_eq!(header(m, "tocsin-source-topic").unwrap(), cfg.input);
        let partition: i32 = header(m, "tocsin-source-partition")
            .unwrap()
            .parse()
            .unwrap();
        let offset: i64 = header(m, "tocsin-source-offset").unwrap().parse().unwrap();
        assert!((0..3).contains(&partition) && offset >= 0);
        if payload.starts_with(b"this is not JSON") {
            assert_eq!(reason, "not_json");
            assert_eq!(m.key(), Some(victim.as_bytes()), "the key is kept");
        }
    }

    // The 1 MiB record: refused as too long, copied cut to the dead-letter bound, and the
    // original length recorded.
    let big_dead = dead
        .iter()
        .find(|m| header(m, "tocsin-truncated-from").is_some())
        .expect("the 1 MiB record is in the dead-letter topic");
    assert_eq!(header(big_dead, "tocsin-reason").unwrap(), "too_long");
    assert_eq!(
        header(big_dead, "tocsin-truncated-from").unwrap(),
        MIB.to_string()
    );
    assert_eq!(big_dead.payload().unwrap(), &big[..DEAD_LETTER_MAX_PAYLOAD]);
}
