//! Shared pieces of the Kafka integration tests: a real broker (tansu, started by
//! `scripts/test-broker.sh`, or `TOCSIN_TEST_BROKER` when one is already running), a deterministic
//! event stream with a takeover and poison records in it, producing and reading topics, the
//! `tocsin run` binary as a child process, and the same engine started in the test's process.
//!
//! Without a broker the tests skip with a loud message; with `CI=true` they fail instead.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use tocsin::checkpoint::CheckpointStore;
use tocsin::engine::EngineOptions;
use tocsin::event::{Action, Event, EventKind, Outcome};
use tocsin::settings::Settings;
use tocsin::source::decode::{self, Decoded, Format};

/// The broker address, or `None` (after a loud message) when the tests must skip.
pub fn broker() -> Option<String> {
    static BROKER: OnceLock<Option<String>> = OnceLock::new();
    BROKER.get_or_init(find_broker).clone()
}

/// Tells the person running the tests, past the output capture, that a test did not run.
pub fn skip_loudly(msg: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "\n################################################################\n\
         # KAFKA INTEGRATION TEST SKIPPED: {msg}\n\
         ################################################################\n"
    );
}

fn loud(msg: &str) {
    // Written straight to stderr so the test harness's output capture does not hide it.
    let _ = writeln!(
        std::io::stderr(),
        "\n################################################################\n\
         # KAFKA INTEGRATION TEST SKIPPED: {msg}\n\
         # Run `scripts/test-broker.sh install` (or set TOCSIN_TEST_BROKER=host:port) to run it.\n\
         ################################################################\n"
    );
}

fn find_broker() -> Option<String> {
    if let Ok(b) = std::env::var("TOCSIN_TEST_BROKER") {
        if !b.is_empty() {
            return Some(b);
        }
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let have_tansu = Command::new("tansu")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_tansu && !ci {
        loud("no tansu broker installed and TOCSIN_TEST_BROKER is not set");
        return None;
    }
    match start_broker() {
        Some(b) => Some(b.addr),
        None if ci => panic!("CI=true and the test broker could not be started"),
        None => {
            loud("scripts/test-broker.sh could not start a broker");
            None
        }
    }
}

/// A broker started by `scripts/test-broker.sh` (file storage); its watchdog stops it when this
/// test process exits.
pub struct StartedBroker {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its directory: pid file, log and data.
    pub dir: PathBuf,
}

fn broker_script() -> Command {
    let mut c = Command::new("bash");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-broker.sh"));
    c
}

fn start_broker() -> Option<StartedBroker> {
    // In CI the script installs tansu when it is missing.
    let out = broker_script()
        // File storage: tansu 0.6.0's memory storage serves a fetch that starts inside a record
        // batch from the *next* batch (records skipped), which breaks resuming at a checkpoint.
        .args([
            "start",
            "--file",
            "--owner",
            &std::process::id().to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(str::to_string))
    };
    Some(StartedBroker {
        addr: value("TOCSIN_TEST_BROKER=")?,
        dir: PathBuf::from(value("TOCSIN_TEST_BROKER_DIR=")?),
    })
}

/// A file-backed broker of the calling test's own, which it may stop and restart (the shared
/// [`broker`] serves the other tests of the process and must stay up). `None`, after a loud
/// message, when tansu is not installed; with `CI=true` a missing broker fails the test.
pub fn own_broker() -> Option<StartedBroker> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let have_tansu = Command::new("tansu")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_tansu && !ci {
        loud("this test stops and restarts a broker of its own, and tansu is not installed");
        return None;
    }
    match start_broker() {
        Some(b) => Some(b),
        None if ci => panic!("CI=true and the test broker could not be started"),
        None => {
            loud("scripts/test-broker.sh could not start a broker");
            None
        }
    }
}

impl StartedBroker {
    /// Kills the broker at once, like a crash (its data stays in its directory).
    pub fn kill(&self) {
        let st = broker_script()
            .arg("stop")
            .arg(&self.dir)
            .arg("--kill")
            .status()
            .expect("test-broker.sh stop");
        assert!(st.success(), "test-broker.sh stop --kill failed");
    }

    /// Starts the stopped broker again on the same port with the same data.
    pub fn restart(&self) {
        let out = broker_script()
            .arg("restart")
            .arg(&self.dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("test-broker.sh restart");
        assert!(out.status.success(), "test-broker.sh restart failed");
    }
}

/// Returns the broker address, or returns from the test (skipping) when there is none.
#[macro_export]
macro_rules! broker_or_skip {
    () => {
        match kafka_support::broker() {
            Some(b) => b,
            None => return,
        }
    };
}

/// The `tocsin` binary under test: `TOCSIN_BIN` when set (an installed or release build), else
/// the one cargo built for these tests.
pub fn tocsin_bin() -> PathBuf {
    std::env::var_os("TOCSIN_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tocsin")))
}

/// A topic name unique to this test process and call.
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates topics (tansu does not create them on first use).
pub fn create_topics(broker: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .expect("create topics");
    for r in results {
        if let Err((t, e)) = r {
            panic!("creating topic {t}: {e}");
        }
    }
}

/// A producer for test input; large messages allowed (the 1 MiB poison message).
pub fn producer(broker: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("message.max.bytes", "4000000")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Produces `(key, payload)` records in order and waits until all are acknowledged.
pub fn produce(broker: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    drop(produce_paced(broker, topic, records, Duration::ZERO));
}

/// Produces `records` in order with one producer, spread evenly over `over` (a live stream
/// rather than a burst; `Duration::ZERO`: at once), and waits until all are acknowledged.
/// Returns the producer, so that dropping it (which can take a while) does not delay what the
/// caller does next.
pub fn produce_paced(
    broker: &str,
    topic: &str,
    records: &[(String, Vec<u8>)],
    over: Duration,
) -> ThreadedProducer<DefaultProducerContext> {
    let p = producer(broker);
    let started = Instant::now();
    let n = records.len().max(1) as u32;
    for (i, (key, payload)) in records.iter().enumerate() {
        let due = started + over * i as u32 / n;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut rec = BaseRecord::to(topic).payload(payload.as_slice());
        if !key.is_empty() {
            rec = rec.key(key.as_str());
        }
        // A full queue waits for the broker; any other error fails the test.
        while let Err((e, back)) = p.send(rec) {
            assert!(
                matches!(
                    e,
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull
                    )
                ),
                "produce failed: {e}"
            );
            rec = back;
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    p.flush(Duration::from_secs(60)).expect("flush test input");
    p
}

/// Every message of `topic`, read from the beginning until the topic has been quiet for a while.
///
/// tansu 0.6.0 reports a high watermark of "base offset of the last batch + 1", short of the
/// real end when the last batch holds several records, so the watermark is only a lower bound
/// here and the end is found by a quiet period.
pub fn read_topic(broker: &str, topic: &str) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "8000000")
        .create()
        .expect("reader");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        ends.insert(p.id(), high);
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out: Vec<OwnedMessage> = Vec::new();
    let mut next: BTreeMap<i32, i64> = ends.keys().map(|&p| (p, 0)).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Instant::now();
    loop {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                next.insert(m.partition(), m.offset() + 1);
                out.push(m.detach());
                last = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {
                let reached = ends.iter().all(|(p, &high)| next[p] >= high);
                if reached && last.elapsed() > Duration::from_millis(1500) {
                    return out;
                }
            }
        }
    }
}

/// A header's value as text.
pub fn header(m: &OwnedMessage, key: &str) -> Option<String> {
    let h = m.headers()?;
    h.iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// The offsets a consumer group has committed.
pub fn committed(broker: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}

/// Sum of the next offsets in the checkpoint of `state_dir` for `topic` (0 when none yet).
pub fn checkpointed(state_dir: &Path, topic: &str) -> i64 {
    match CheckpointStore::new(state_dir).load() {
        Ok(Some(l)) => l
            .offsets
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, o)| *o)
            .sum(),
        Ok(None) => 0,
        Err(e) => panic!("checkpoint unreadable: {e}"),
    }
}

/// Polls `cond` until it holds, failing the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The records of a generated stream, in order, keyed by account (poison records keyed
/// `poison`), plus what the library decoder makes of each (so expectations follow whatever
/// the decoder accepts).
pub struct Stream {
    /// `(key, payload)` per record.
    pub records: Vec<(String, Vec<u8>)>,
}

impl Stream {
    /// The records as a JSON-lines file for `tocsin replay`.
    pub fn write_file(&self, path: &Path) {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for (_, p) in &self.records {
            f.write_all(p).unwrap();
            f.write_all(b"\n").unwrap();
        }
        f.flush().unwrap();
    }

    /// Indexes (= offsets on a single-partition topic) of the records the decoder rejects, with
    /// the reason the dead-letter header must carry.
    pub fn expected_rejections(&self) -> BTreeMap<usize, String> {
        let mut out = BTreeMap::new();
        for (i, (_, p)) in self.records.iter().enumerate() {
            let mut first = None;
            decode::decode(Format::Native, p, &mut |r| {
                if let Err(rej) = r {
                    first.get_or_insert(rej.kind.as_str().to_string());
                }
            });
            if let Some(k) = first {
                out.insert(i, k);
            }
        }
        out
    }

    /// How many events the decoder finds in the stream.
    pub fn expected_events(&self) -> u64 {
        let mut n = 0;
        for (_, p) in &self.records {
            decode::decode(Format::Native, p, &mut |r| {
                if matches!(r, Ok(Decoded::Event(_))) {
                    n += 1;
                }
            });
        }
        n
    }
}

/// Poison records: what real streams carry by mistake.
pub fn poison(i: usize) -> Vec<u8> {
    match i % 4 {
        0 => b"this is not JSON {".to_vec(),
        1 => br#"{"ts":"2025-11-10T23:31:02Z","type":"teleport","account":"dr.x@cabinet-rouen"}"#
            .to_vec(),
        2 => br#"{"type":"login","outcome":"success","ip":"203.0.113.7"}"#.to_vec(),
        _ => br#"[1,2,3]"#.to_vec(),
    }
}

/// A deterministic day-by-day stream: `accounts` doctors in a few practices, each with a usual
/// network, browser and device, working office hours; at three quarters of the way one account's
/// password is used from a Lagos mobile network at night with an unknown browser, and the session
/// exports 250 records. Every `poison_every` records (0: never) a poison record is inserted.
pub fn scenario(accounts: usize, records: usize, poison_every: usize, seed: u64) -> Stream {
    scenario_with_takeovers(accounts, records, poison_every, seed, 1)
}

/// [`scenario`] with `takeovers` takeovers of different accounts, at 3/(n+3), 4/(n+3), …
/// of the way (one: at three quarters, as in [`scenario`]).
pub fn scenario_with_takeovers(
    accounts: usize,
    records: usize,
    poison_every: usize,
    seed: u64,
    takeovers: usize,
) -> Stream {
    const TENANTS: [&str; 4] = [
        "cabinet-rouen",
        "clinique-lyon",
        "maison-sante-lille",
        "chu-bordeaux",
    ];
    const HOMES: [&str; 4] = ["90.1", "81.252", "90.3", "82.64"];
    const UAS: [&str; 3] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    ];
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(records + records / poison_every.max(1) + 8);
    let mut ts: i64 = 1_762_153_200_000; // 2025-11-03T07:00:00Z
    let takeover_at = |k: usize| records * (k + 3) / (takeovers + 3);
    let mut taken_over = 0;
    let mut session_no = 0u64;
    let mut buf = Vec::with_capacity(512);
    let mut push = |out: &mut Vec<(String, Vec<u8>)>, ev: &Event<'_>| {
        buf.clear();
        ev.write_json(&mut buf).unwrap();
        out.push((ev.account.to_string(), buf.clone()));
    };
    while out.len() < records {
        if poison_every > 0 && out.len() % poison_every == poison_every - 1 {
            out.push(("poison".into(), poison(out.len() / poison_every)));
            continue;
        }
        let a = rng.gen_range(0..accounts);
        let tenant = TENANTS[a % TENANTS.len()];
        let account = format!("dr.{a}@{tenant}");
        session_no += 1;
        let session = format!("s-{session_no:x}");
        let attack = taken_over < takeovers && out.len() >= takeover_at(taken_over);
        let (ip, ua, device): (IpAddr, &str, Option<String>) = if attack {
            taken_over += 1;
            (
                format!("102.88.{}.{}", rng.gen_range(0..255), rng.gen_range(1..255))
                    .parse()
                    .unwrap(),
                "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
                None,
            )
        } else {
            (
                format!("{}.{}.{}", HOMES[a % HOMES.len()], a % 250, 10 + a % 200)
                    .parse()
                    .unwrap(),
                UAS[a % UAS.len()],
                Some(format!("dev-{a}")),
            )
        };
        // Office hours in event time; the attacker logs in at 23:31.
        ts += rng.gen_range(5_000..60_000);
        let hour = (ts / 3_600_000) % 24;
        if !(7..19).contains(&hour) {
            ts += (24 - hour + 7) % 24 * 3_600_000;
        }
        let login_ts = if attack {
            ts - ts % 86_400_000 + 23 * 3_600_000 + 31 * 60_000
        } else {
            ts
        };
        let mut login = Event::new(login_ts, EventKind::Login, account.as_str());
        login.outcome = Some(Outcome::Success);
        login.tenant = Some(tenant.into());
        login.session = Some(session.as_str().into());
        login.ip = Some(ip);
        login.user_agent = Some(ua.into());
        login.device_id = device.as_deref().map(Into::into);
        login.method = Some("password".into());
        push(&mut out, &login);
        let accesses = if attack { 1 } else { rng.gen_range(1..4) };
        for k in 0..accesses {
            let mut acc = Event::new(
                login_ts + (k + 1) * 40_000,
                EventKind::Access,
                account.as_str(),
            );
            acc.tenant = Some(tenant.into());
            acc.session = Some(session.as_str().into());
            acc.ip = Some(ip);
            acc.resource = Some("patient_record".into());
            if attack {
                acc.action = Some(Action::Export);
                acc.count = 250;
            } else {
                acc.action = Some(if rng.gen_bool(0.7) {
                    Action::Read
                } else {
                    Action::Search
                });
                acc.count = rng.gen_range(1..6);
            }
            push(&mut out, &acc);
        }
    }
    Stream { records: out }
}

/// A `tocsin run` configuration in `dir` (state in `dir/state`); returns its path.
pub struct RunConfig {
    pub path: PathBuf,
    pub state: PathBuf,
    pub input: String,
    pub group: String,
    pub dead_letter: String,
    pub alerts: String,
    pub revocations: String,
}

impl RunConfig {
    /// Creates the topics (input with `partitions`) and writes the configuration.
    pub fn new(broker: &str, dir: &Path, partitions: i32) -> RunConfig {
        Self::with_topics(broker, dir, partitions, |topics| {
            create_topics(broker, topics)
        })
    }

    /// [`RunConfig::new`] with the topics created by `create` (a broker without the
    /// CreateTopics request, like librdkafka's mock cluster).
    pub fn with_topics(
        broker: &str,
        dir: &Path,
        partitions: i32,
        create: impl FnOnce(&[(&str, i32)]),
    ) -> RunConfig {
        let c = RunConfig {
            path: dir.join("tocsin.toml"),
            state: dir.join("state"),
            input: unique("auth-events"),
            group: unique("tocsin"),
            dead_letter: unique("dead-letter"),
            alerts: unique("alerts"),
            revocations: unique("revocations"),
        };
        create(&[
            (&c.input, partitions),
            (&c.dead_letter, 1),
            (&c.alerts, 1),
            (&c.revocations, 1),
        ]);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let rules = root.join("rules");
        let city = root.join("testdata/geo/GeoLite2-City-Test.mmdb");
        let asn = root.join("testdata/geo/GeoLite2-ASN-Test.mmdb");
        std::fs::write(
            &c.path,
            format!(
                r#"[geoip]
city = {city:?}
asn = {asn:?}
[api]
listen = "127.0.0.1:0"
[rules]
dir = {rules:?}
[state]
dir = {state:?}
checkpoint_interval_secs = 1
[source.kafka]
brokers = "{broker}"
topics = ["{input}"]
group_id = "{group}"
dead_letter_topic = "{dlq}"
alerts_topic = "{alerts}"
revocations_topic = "{revocations}"
[source.kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#,
                state = c.state,
                input = c.input,
                group = c.group,
                dlq = c.dead_letter,
                alerts = c.alerts,
                revocations = c.revocations,
            ),
        )
        .unwrap();
        c
    }

    /// Starts `tocsin run` on this configuration; its stderr goes to a log file next to the
    /// configuration (a pipe nobody reads could fill and stall the engine).
    pub fn spawn(&self) -> Engine {
        self.spawn_with(&[])
    }

    /// Starts `tocsin run` with extra arguments.
    pub fn spawn_with(&self, extra: &[&str]) -> Engine {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let log = self.path.with_file_name(format!(
            "engine-{}.log",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let child = Command::new(tocsin_bin())
            .args(["run", "--config"])
            .arg(&self.path)
            .args(extra)
            .env("TOCSIN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("engine log"))
            .spawn()
            .expect("start tocsin run");
        Engine { child, log }
    }
}

/// Starts the engine of `tocsin run` in this process on `cfg`'s configuration, with what
/// differs in `options`; end it with `stop()`.
pub fn start_in_process(cfg: &RunConfig, options: EngineOptions) -> tocsin::engine::Engine {
    let settings = Settings::load(&cfg.path).expect("the test configuration loads");
    tocsin::engine::Engine::start(&settings, options, Arc::new(AtomicBool::new(false)))
        .expect("the engine starts")
}

/// A running `tocsin run`.
pub struct Engine {
    /// The process.
    pub child: Child,
    /// Its stderr.
    pub log: PathBuf,
}

/// A test that fails half-way leaves no engine running behind it.
impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Engine {
    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// `kill -9`: no drain, no checkpoint.
    pub fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the exit; returns (exit 0?, stderr).
    pub fn terminate(mut self, limit: Duration) -> (bool, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st.success(), self.stderr());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "tocsin run did not exit within {limit:?} of SIGTERM:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Alerts from `tocsin replay` over `file` with the same configuration.
pub fn replay_alerts(config: &Path, file: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(tocsin_bin())
        .args(["replay", "--no-progress", "--config"])
        .arg(config)
        .arg(file)
        .stderr(Stdio::null())
        .output()
        .expect("tocsin replay");
    assert!(out.status.success(), "replay failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect()
}

/// Ids of the alerts, and ids of those that ask for a revocation.
pub fn alert_ids(alerts: &[serde_json::Value]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut revoking = BTreeSet::new();
    for a in alerts {
        let id = a["id"].as_str().expect("alert id").to_string();
        let revokes = a["mode"].is_null()
            && a["actions"].as_array().is_some_and(|acts| {
                acts.iter()
                    .any(|x| x == "revoke_session" || x == "revoke_account")
            });
        if revokes {
            revoking.insert(id.clone());
        }
        all.insert(id);
    }
    (all, revoking)
}

/// Every message of a topic as JSON.
pub fn json_values(msgs: &[OwnedMessage]) -> Vec<serde_json::Value> {
    msgs.iter()
        .map(|m| serde_json::from_slice(m.payload().expect("payload")).expect("JSON"))
        .collect()
}

/// One request an [`HttpReceiver`] took.
#[derive(Clone, Debug)]
pub struct Received {
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON.
    pub body: serde_json::Value,
}

/// A webhook or revocation endpoint on 127.0.0.1 (a real HTTP server on its own runtime) that
/// answers 200 to every POST and keeps what it was sent.
pub struct HttpReceiver {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    got: Arc<parking_lot::Mutex<Vec<Received>>>,
    _runtime: tokio::runtime::Runtime,
}

impl HttpReceiver {
    /// Starts one on a free port.
    pub fn start() -> HttpReceiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got: Arc<parking_lot::Mutex<Vec<Received>>> = Arc::default();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let keep = got.clone();
        let app = axum::Router::new().fallback(axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    keep.lock().push(Received { headers, body });
                    axum::http::StatusCode::OK
                }
            },
        ));
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpReceiver {
            url,
            got,
            _runtime: runtime,
        }
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().clone()
    }
}

impl RunConfig {
    /// Adds a webhook (every severity) and the outbound revocation endpoint to the
    /// configuration.
    pub fn with_receivers(&self, webhook: &HttpReceiver, revocation: &HttpReceiver) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap();
        write!(
            f,
            r#"[revocation]
url = "{rev}"
[[sinks.webhook]]
url = "{hook}"
secret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0"
min_severity = "low"
[outbox]
backoff_initial_ms = 50
"#,
            rev = revocation.url,
            hook = webhook.url,
        )
        .unwrap();
    }
}
