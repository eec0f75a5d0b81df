//! A restart resumes from the checkpoint: the state parts come back
//! as they were written and every partition is positioned at its checkpointed offset, even when
//! Kafka's committed offsets say otherwise (the checkpoint is what the state reflects). A damaged
//! checkpoint stops the engine with a clear error instead of starting blind.
//!
//! The state part here is a stand-in; once the detector implements `Snapshot`, the lead adds the
//! baseline assertion (an account's device is still known after restart) on top of this test.

mod kafka_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use kafka_support::*;
use parking_lot::Mutex;
use tocsin::checkpoint::{CheckpointErrorKind, CheckpointStore, RestoreError, Snapshot};
use tocsin::engine::{CheckpointParts, DetectorState, Engine, EngineError, EngineOptions};
use tocsin::pipeline::Pipeline;
use tocsin::settings::Settings;
use tocsin::source::kafka::{KafkaSourceError, RunSummary};

/// A state part holding bytes, like a tiny baseline store.
#[derive(Default)]
struct Notes(Mutex<Vec<u8>>);

impl Snapshot for Notes {
    fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.0.lock())
    }
    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).map_err(RestoreError::new)?;
        *self.0.lock() = v;
        Ok(())
    }
}

/// Runs the engine in this process, with `notes` as its only state part, until `done` holds,
/// then stops it like SIGTERM does.
fn run_until(
    cfg: &RunConfig,
    notes: Arc<Notes>,
    done: impl Fn(&RunSummaryProbe) -> bool,
) -> Result<RunSummary, EngineError> {
    let engine = start_in_process(
        cfg,
        EngineOptions {
            workers: Some(2),
            checkpoint_interval: Some(Duration::from_millis(200)),
            checkpoint_parts: CheckpointParts::Custom(vec![(
                "notes".into(),
                notes as Arc<dyn Snapshot>,
            )]),
            ..EngineOptions::default()
        },
    );
    let probe = RunSummaryProbe {
        engine: &engine,
        state: cfg.state.clone(),
        topic: cfg.input.clone(),
    };
    wait_for("the run's goal", Duration::from_secs(120), || {
        engine.source_finished() || done(&probe)
    });
    engine.stop()
}

struct RunSummaryProbe<'a> {
    engine: &'a Engine,
    state: std::path::PathBuf,
    topic: String,
}

impl RunSummaryProbe<'_> {
    fn checkpointed(&self) -> i64 {
        checkpointed(&self.state, &self.topic)
    }

    fn ready(&self) -> bool {
        self.engine.is_ready()
    }
}

#[test]
fn restart_restores_state_and_resumes_at_the_checkpointed_offsets() {
    let broker = broker_or_skip!();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tocsin=info")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 3);
    let stream = scenario(30, 1_500, 0, 3);
    let n = stream.records.len() as i64;
    produce(&broker, &cfg.input, &stream.records);

    // First life: consumes everything, checkpoints the state and the offsets, commits them.
    let notes = Arc::new(Notes(Mutex::new(
        b"dr.1: device dev-1 (12 logins)".to_vec(),
    )));
    let first = run_until(&cfg, notes, |p| p.checkpointed() >= n).unwrap();
    assert_eq!(first.records as i64, n);
    let store = CheckpointStore::new(&cfg.state);
    let saved = store.load().unwrap().unwrap();
    assert_eq!(saved.parts["notes"], b"dr.1: device dev-1 (12 logins)");
    let offsets: Vec<i64> = (0..3)
        .map(|p| {
            saved
                .offsets
                .get(&(cfg.input.clone(), p))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(offsets.iter().sum::<i64>(), n);
    assert_eq!(committed(&broker, &cfg.group, &cfg.input, 3), offsets);

    // Roll the checkpoint back by 100 records on the busiest partition, as if the engine had
    // crashed right after an older checkpoint; Kafka's committed offsets stay ahead.
    let busiest = (0..3).max_by_key(|&p| offsets[p as usize]).unwrap();
    let mut rolled = saved.offsets.clone();
    rolled.insert(
        (cfg.input.clone(), busiest),
        offsets[busiest as usize] - 100,
    );
    let older = Notes(Mutex::new(b"older baselines".to_vec()));
    store.write(&rolled, &[("notes", &older)]).unwrap();

    // Second life: restores the older state and re-processes exactly those 100 records.
    let restored = Arc::new(Notes::default());
    let second = run_until(&cfg, restored.clone(), |p| p.checkpointed() >= n).unwrap();
    assert_eq!(&*restored.0.lock(), b"older baselines");
    assert_eq!(
        second.records, 100,
        "resumed somewhere else than the checkpoint"
    );

    // Third life: nothing new, nothing re-processed.
    let third = run_until(&cfg, Arc::new(Notes::default()), |p| {
        if !p.ready() {
            return false;
        }
        std::thread::sleep(Duration::from_secs(2));
        true
    })
    .unwrap();
    assert_eq!(third.records, 0);

    // A truncated checkpoint is refused, naming the file, rather than silently reset.
    let data = std::fs::read(store.path()).unwrap();
    std::fs::write(store.path(), &data[..data.len() / 2]).unwrap();
    let err = run_until(&cfg, Arc::new(Notes::default()), |_| false).unwrap_err();
    match &err {
        EngineError::Source(KafkaSourceError::Checkpoint(e)) => {
            assert!(
                matches!(e.kind, CheckpointErrorKind::Truncated { .. }),
                "{err}"
            )
        }
        other => panic!("expected a checkpoint error, got {other}"),
    }
    assert!(err.to_string().contains("checkpoint.bin"), "{err}");
}

/// With the real detector: baselines learned in one life are restored in
/// the next. After a restart the account's devices, places and networks are still known.
#[test]
fn restart_restores_the_detector_baselines() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), 1);
    let stream = scenario(20, 800, 0, 7);
    let n = stream.records.len() as i64;
    produce(&broker, &cfg.input, &stream.records);

    // First life: learn from the stream, checkpoint on the way out.
    let options = || EngineOptions {
        workers: Some(1),
        checkpoint_interval: Some(Duration::from_millis(200)),
        ..EngineOptions::default()
    };
    let engine = start_in_process(&cfg, options());
    let first = engine.pipeline().clone();
    wait_for(
        "the whole stream checkpointed",
        Duration::from_secs(120),
        || engine.source_finished() || checkpointed(&cfg.state, &cfg.input) >= n,
    );
    engine.stop().unwrap();

    let account = stream_account(&stream);
    let learned = first
        .detector()
        .account_view(&account)
        .expect("the first life learned the account");
    assert!(
        !learned.devices.is_empty(),
        "the account has known devices: {learned:?}"
    );
    assert_eq!(checkpointed(&cfg.state, &cfg.input), n);

    // The detector's part alone restores the account into a fresh pipeline.
    let settings = Settings::load(&cfg.path).unwrap();
    let fresh = Arc::new(Pipeline::from_settings(&settings).unwrap());
    assert!(fresh.detector().account_view(&account).is_none());
    let saved = CheckpointStore::new(&cfg.state)
        .load()
        .unwrap()
        .expect("a checkpoint exists");
    DetectorState(fresh.clone())
        .read_snapshot(&mut saved.parts["detector"].as_slice())
        .unwrap();
    assert_eq!(
        fresh.detector().account_view(&account),
        Some(learned.clone())
    );

    // Second life: a fresh engine restores the checkpoint and knows the same account.
    let engine = start_in_process(&cfg, options());
    wait_for(
        "the second life to be ready",
        Duration::from_secs(60),
        || engine.source_finished() || engine.is_ready(),
    );
    let known = engine.pipeline().detector().account_view(&account);
    let second = engine.stop().unwrap();
    assert_eq!(known, Some(learned));
    assert_eq!(second.records, 0, "nothing re-processed after a clean stop");
}

/// An account that logs in successfully in the stream.
fn stream_account(stream: &Stream) -> String {
    stream
        .records
        .iter()
        .find_map(|(_, payload)| {
            let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
            (v["type"] == "login" && v["outcome"] == "success")
                .then(|| v["account"].as_str().unwrap().to_string())
        })
        .expect("the scenario has successful logins")
}
