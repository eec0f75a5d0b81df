//! Several `tocsin run` instances in one consumer group with `[state] changelog = "kafka"`, on
//! the real broker (tansu, file-backed).
//!
//! - `tocsin topics create` creates every topic a configuration needs, the state changelog
//!   compacted and co-partitioned with the input; run again it changes nothing; asked for
//!   another partition count than the input has, it refuses.
//! - Three instances share a six-partition input while it streams; one is killed with SIGKILL
//!   mid-stream and a fourth starts later. Accounts' state follows their partitions through
//!   the changelog, so the alerts raised are exactly those of one `tocsin replay` over the same
//!   events (re-emissions after the kill carry the same ids), and the killed instance's
//!   partitions are taken over, with their state, by the next rebalance.
//! - Failover time: on librdkafka's mock cluster (a real protocol peer whose group coordinator
//!   expires a dead member after its session timeout; tansu 0.6 keeps a member that died
//!   without leaving in the assignment until the next member joins), two instances share four
//!   partitions; one is killed with SIGKILL and every partition is consumed again within 10 s
//!   (session timeout 6 s), with the alerts of one replay.

mod kafka_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_support::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The multi-instance tests run one at a time: each starts several engines, and on a small
/// machine two such tests at once measure the machine, not failover.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The name key every instance shares (accounts hash alike everywhere).
const NAME_KEY: &str = "00112233445566778899aabbccddeeff\n";

/// Instance `i` of the group: `cfg`'s configuration with its own state directory (holding the
/// shared name key) and the changelog on.
fn instance(cfg: &RunConfig, dir: &Path, i: usize) -> RunConfig {
    instance_with(cfg, dir, i, "")
}

/// [`instance`] with `session_timeout_ms` instead of the 6 s of the shared configuration.
fn instance_with(cfg: &RunConfig, dir: &Path, i: usize, session_timeout_ms: &str) -> RunConfig {
    let state = dir.join(format!("state-{i}"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("name-key"), NAME_KEY).unwrap();
    let text = std::fs::read_to_string(&cfg.path).unwrap();
    let from = format!("dir = {:?}", cfg.state);
    assert!(text.contains(&from));
    let text = text.replacen(&from, &format!("dir = {state:?}\nchangelog = \"kafka\""), 1);
    let text = if session_timeout_ms.is_empty() {
        text
    } else {
        let from = "\"session.timeout.ms\" = \"6000\"";
        assert!(text.contains(from));
        text.replace(
            from,
            &format!("\"session.timeout.ms\" = \"{session_timeout_ms}\""),
        )
    };
    let path = dir.join(format!("tocsin-{i}.toml"));
    std::fs::write(&path, text).unwrap();
    RunConfig {
        path,
        state,
        input: cfg.input.clone(),
        group: cfg.group.clone(),
        dead_letter: cfg.dead_letter.clone(),
        alerts: cfg.alerts.clone(),
        revocations: cfg.revocations.clone(),
    }
}

/// Lifts the blast-radius guard's limits in `cfg`'s configuration (the one the instances copy
/// and replay reads). A live run decides in wall-clock time: a stream of days compressed into
/// seconds puts every takeover's revocations in the same minute, and the guard, which is each
/// instance's own, would trip on some instances and not on others, which is not what these
/// tests are about.
fn lift_guard(cfg: &RunConfig) {
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(
        "\n[revocation]\nmax_per_minute = 10000\nmax_per_tenant_per_hour = 10000\n\
         max_per_hour = 10000\nmax_per_day = 10000\n",
    );
    std::fs::write(&cfg.path, text).unwrap();
}

/// `tocsin topics create --config CONFIG --partitions N`: (exit 0?, stdout, stderr).
fn topics_create(config: &Path, partitions: i32) -> (bool, String, String) {
    let out = Command::new(tocsin_bin())
        .args(["topics", "create", "--config"])
        .arg(config)
        .args(["--partitions", &partitions.to_string()])
        .output()
        .expect("tocsin topics create");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A topic's configuration value, as the broker describes it.
fn topic_config(broker: &str, topic: &str, key: &str) -> Option<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let described = rt
        .block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new()))
        .expect("describe configs");
    let resource = described.into_iter().next()?.expect("topic described");
    resource.get(key).and_then(|e| e.value.clone())
}

fn partition_count(broker: &str, topic: &str) -> usize {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len())
}

#[test]
fn topics_create_is_idempotent_and_keeps_the_changelog_co_partitioned() {
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| unique(n);
    let (input, dlq, alerts, revocations, group) =
        (p("in"), p("dlq"), p("alerts"), p("revocations"), p("group"));
    let config = dir.path().join("tocsin.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\ndir = {:?}\nchangelog = \"kafka\"\n[source.kafka]\nbrokers = \"{broker}\"\n\
             topics = [\"{input}\"]\ngroup_id = \"{group}\"\ndead_letter_topic = \"{dlq}\"\n\
             alerts_topic = \"{alerts}\"\nrevocations_topic = \"{revocations}\"\n",
            dir.path().join("state")
        ),
    )
    .unwrap();
    let changelog = format!("{group}-state-changelog");
    let all = [&input, &dlq, &alerts, &revocations, &changelog];

    let (ok, out, err) = topics_create(&config, 3);
    assert!(ok, "topics create failed:\n{err}");
    for t in all {
        assert!(
            out.contains(&format!("created {t} (3 partitions")),
            "{t}:\n{out}"
        );
        assert_eq!(partition_count(&broker, t), 3, "{t}");
    }
    assert!(out.contains(&format!("created {changelog} (3 partitions, compacted)")));
    assert_eq!(
        topic_config(&broker, &changelog, "cleanup.policy").as_deref(),
        Some("compact"),
        "the broker does not hold the changelog as compacted"
    );
    assert_eq!(
        topic_config(&broker, &changelog, "segment.ms").as_deref(),
        Some("3600000")
    );

    // Again: nothing to do, and it says so.
    let (ok, out, err) = topics_create(&config, 3);
    assert!(ok, "a second topics create failed:\n{err}");
    for t in all {
        assert!(
            out.contains(&format!("exists {t} (3 partitions)")),
            "{t}:\n{out}"
        );
    }

    // Another partition count would break co-partitioning: refused, exit 2.
    let out = Command::new(tocsin_bin())
        .args(["topics", "create", "--config"])
        .arg(&config)
        .args(["--partitions", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same number of partitions"));
}

/// The alerts topic holds the ids of `replayed` and no other (copies allowed), and the same
/// ones ask for revocations; what differs is printed whole first.
fn assert_alerts_as_replayed(broker: &str, cfg: &RunConfig, replayed: &[serde_json::Value]) {
    let (replay_set, replay_revoking) = alert_ids(replayed);
    let values = json_values(&read_topic(broker, &cfg.alerts));
    let (run_set, run_revoking) = alert_ids(&values);
    for v in values
        .iter()
        .filter(|v| !replay_set.contains(v["id"].as_str().unwrap()))
    {
        eprintln!("not in the replay: {v}");
    }
    for v in replayed
        .iter()
        .filter(|v| !run_set.contains(v["id"].as_str().unwrap()))
    {
        eprintln!("missing from the run: {v}");
    }
    assert_eq!(run_set, replay_set, "alerts differ from one replay");
    assert_eq!(run_revoking, replay_revoking);
}

/// The alerts of one `tocsin replay` over `stream`; at least `revoking` of them must ask for a
/// revocation, or the test would prove nothing.
fn replayed(
    cfg: &RunConfig,
    dir: &Path,
    stream: &Stream,
    revoking: usize,
) -> Vec<serde_json::Value> {
    let file = dir.join("events.jsonl");
    stream.write_file(&file);
    let replayed = replay_alerts(&cfg.path, &file);
    let (all, revokes) = alert_ids(&replayed);
    assert!(
        revokes.len() >= revoking,
        "the scenario's takeovers must raise {revoking} revoking alerts: {all:?}"
    );
    replayed
}

/// Produces `stream` to `topic` over `over` on another thread.
fn produce_in_background(
    broker: &str,
    topic: &str,
    stream: &Stream,
    over: Duration,
) -> std::thread::JoinHandle<()> {
    let (broker, topic, records) = (
        broker.to_string(),
        topic.to_string(),
        stream.records.clone(),
    );
    std::thread::spawn(move || drop(produce_paced(&broker, &topic, &records, over)))
}

/// Sum of the group's committed offsets on the input (-1 for a partition never committed).
fn committed_total(broker: &str, cfg: &RunConfig, partitions: i32) -> i64 {
    committed(broker, &cfg.group, &cfg.input, partitions)
        .iter()
        .map(|&o| o.max(0))
        .sum()
}

#[test]
fn instances_share_partitions_and_their_state_through_kill_and_late_start() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const PARTITIONS: i32 = 6;
    // How long to watch for the killed instance's partitions to be taken over before the
    // fourth instance starts (tansu 0.6 may leave them unassigned until the next join: see the
    // module doc).
    const FAILOVER_WAIT: Duration = Duration::from_secs(12);
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), PARTITIONS);
    lift_guard(&cfg);
    let (ok, _, err) = topics_create(&instance(&cfg, dir.path(), 0).path, PARTITIONS);
    assert!(ok, "topics create failed:\n{err}");

    let stream = scenario_with_takeovers(3_000, 100_000, 0, 17, 6);
    let n = stream.records.len() as i64;
    let replayed = replayed(&cfg, dir.path(), &stream, 3);

    let a = instance(&cfg, dir.path(), 1).spawn();
    let b = instance(&cfg, dir.path(), 2).spawn();
    let c = instance(&cfg, dir.path(), 3).spawn();
    let producing = produce_in_background(&broker, &cfg.input, &stream, Duration::from_secs(45));

    // Mid-stream: SIGKILL one instance.
    wait_for("a third of the stream", Duration::from_secs(120), || {
        committed_total(&broker, &cfg, PARTITIONS) >= n / 3
    });
    let before = committed(&broker, &cfg.group, &cfg.input, PARTITIONS);
    b.crash();
    let killed = Instant::now();
    let mut failover = None;
    while killed.elapsed() < FAILOVER_WAIT {
        let now = committed(&broker, &cfg.group, &cfg.input, PARTITIONS);
        if now.iter().zip(&before).all(|(now, then)| now > then) {
            failover = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("every partition consumed again after the SIGKILL: {failover:?}");

    // Later: a fourth instance joins and takes partitions (and their state) over.
    let d = instance(&cfg, dir.path(), 4).spawn();
    producing.join().unwrap();
    wait_for("the whole stream", Duration::from_secs(180), || {
        committed_total(&broker, &cfg, PARTITIONS) >= n
    });
    let mut logs = String::new();
    for e in [a, c, d] {
        let (ok, log) = e.terminate(Duration::from_secs(20));
        assert!(ok, "an instance did not exit 0 on SIGTERM:\n{log}");
        logs.push_str(&log);
    }
    assert!(
        logs.contains("partition state restored from the changelog"),
        "no instance restored state:\n{logs}"
    );

    assert_alerts_as_replayed(&broker, &cfg, &replayed);
}

#[test]
fn a_killed_instances_partitions_are_consumed_again_within_ten_seconds() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const PARTITIONS: i32 = 4;
    // Failover = session timeout + rebalance (the mock cluster's takes about 5 s) + restore +
    // one checkpoint interval (1 s here) until the new owner commits.
    const SESSION_TIMEOUT_MS: &str = "3000";
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    let broker = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    // The mock cluster does not take CreateTopics requests: its own call creates them.
    let cfg = RunConfig::with_topics(&broker, dir.path(), PARTITIONS, |topics| {
        for (t, p) in topics {
            mock.create_topic(t, *p, 1).expect("mock topic");
        }
    });
    mock.create_topic(&format!("{}-state-changelog", cfg.group), PARTITIONS, 1)
        .expect("mock changelog topic");
    lift_guard(&cfg);

    let stream = scenario_with_takeovers(600, 30_000, 0, 29, 4);
    let n = stream.records.len() as i64;
    let replayed = replayed(&cfg, dir.path(), &stream, 2);

    let a = instance_with(&cfg, dir.path(), 1, SESSION_TIMEOUT_MS).spawn();
    let b = instance_with(&cfg, dir.path(), 2, SESSION_TIMEOUT_MS).spawn();
    let producing = produce_in_background(&broker, &cfg.input, &stream, Duration::from_secs(40));
    wait_for("both instances to consume", Duration::from_secs(60), || {
        committed(&broker, &cfg.group, &cfg.input, PARTITIONS)
            .iter()
            .all(|&o| o > 0)
            && committed_total(&broker, &cfg, PARTITIONS) >= n / 4
    });
    let before = committed(&broker, &cfg.group, &cfg.input, PARTITIONS);
    b.crash();
    let killed = Instant::now();
    wait_for(
        "every partition to be consumed again",
        Duration::from_secs(30),
        || {
            committed(&broker, &cfg.group, &cfg.input, PARTITIONS)
                .iter()
                .zip(&before)
                .all(|(now, then)| now > then)
        },
    );
    let failover = killed.elapsed();
    eprintln!("every partition consumed again {failover:?} after the SIGKILL");
    producing.join().unwrap();
    wait_for("the whole stream", Duration::from_secs(120), || {
        committed_total(&broker, &cfg, PARTITIONS) >= n
    });
    let (ok, log) = a.terminate(Duration::from_secs(20));
    assert!(ok, "the surviving instance did not exit 0:\n{log}");
    assert!(
        failover < Duration::from_secs(10),
        "the killed instance's partitions took {failover:?} to be consumed again"
    );
    assert!(log.contains("partition state restored from the changelog"));

    assert_alerts_as_replayed(&broker, &cfg, &replayed);
}

/// Restore speed, for BENCHMARKS.md: one instance learns `TOCSIN_RESTORE_ACCOUNTS` accounts
/// (default 1,000,000; one login each) over four partitions until its state is in the
/// changelog, and is killed; a second one starts and restores them all. Prints the restore's log
/// line (accounts, bytes, milliseconds). Ignored by default: it takes minutes.
#[test]
#[ignore]
fn restore_of_many_accounts() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use tocsin::event::{Event, EventKind, Outcome};
    const PARTITIONS: i32 = 4;
    let accounts: usize = std::env::var("TOCSIN_RESTORE_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let broker = broker_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::new(&broker, dir.path(), PARTITIONS);
    let (ok, _, err) = topics_create(&instance(&cfg, dir.path(), 0).path, PARTITIONS);
    assert!(ok, "topics create failed:\n{err}");
    let mut records = Vec::with_capacity(accounts);
    let mut buf = Vec::new();
    for a in 0..accounts {
        let account = format!("user.{a}@tenant-{}", a % 50);
        let mut ev = Event::new(1_762_153_200_000 + a as i64, EventKind::Login, &account);
        ev.outcome = Some(Outcome::Success);
        ev.ip = Some(
            format!("90.{}.{}.{}", a % 200, (a / 200) % 250, 1 + a % 250)
                .parse()
                .unwrap(),
        );
        ev.user_agent = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/132.0".into());
        buf.clear();
        ev.write_json(&mut buf).unwrap();
        records.push((account.clone(), buf.clone()));
    }
    produce(&broker, &cfg.input, &records);
    drop(records);

    // Few checkpoints: the measurement is the restore, not the loading.
    let loader = instance(&cfg, dir.path(), 1);
    let text = std::fs::read_to_string(&loader.path).unwrap();
    std::fs::write(
        &loader.path,
        text.replace(
            "checkpoint_interval_secs = 1",
            "checkpoint_interval_secs = 90",
        ),
    )
    .unwrap();
    let first = loader.spawn();
    let loading = Instant::now();
    wait_for(
        "the state of every account in the changelog",
        Duration::from_secs(3600),
        || {
            std::thread::sleep(Duration::from_millis(500));
            committed_total(&broker, &cfg, PARTITIONS) >= accounts as i64
        },
    );
    eprintln!(
        "loaded and written to the changelog in {:?}",
        loading.elapsed()
    );
    first.crash();

    let second = instance(&cfg, dir.path(), 2).spawn();
    let started = Instant::now();
    wait_for("the restore", Duration::from_secs(1800), || {
        second
            .stderr()
            .contains("partition state restored from the changelog")
    });
    let line = second
        .stderr()
        .lines()
        .find(|l| l.contains("partition state restored"))
        .unwrap()
        .to_string();
    eprintln!("restore after {:?}: {line}", started.elapsed());
    second.crash();
}
