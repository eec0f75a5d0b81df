//! The Kafka side of `scripts/bench-e2e.sh`: a producer, the bare consumer that `tocsin run` is
//! compared with, a watch on a consumer group's committed offsets, and the event-to-alert
//! latency probe. Plain `rdkafka` (the crate Tocsin uses) with no Tocsin code in the loop, so
//! the bare figures are what the broker and client alone allow on this machine.
//!
//! ```text
//! kafka_bench produce   --brokers B --topic T --file events.jsonl
//! kafka_bench consume   --brokers B --topic T --count N
//! kafka_bench committed --brokers B --topic T --group G --count N
//! kafka_bench latency   --brokers B --topic T --alerts-topic A --file events.jsonl --rate R
//! ```
//!
//! Messages are keyed by account (as Tocsin asks producers to do). `latency` produces the file
//! at a fixed rate, remembers when each event id was sent, reads the alerts topic, and for each
//! alert takes the latest send time among the events it names: the time from the producer
//! handing over the event that completed the evidence to the alert being readable by a
//! receiver. Both ends run in this process, on one clock.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

#[derive(Parser)]
struct Args {
    /// Bootstrap servers.
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    brokers: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Produces every line of a file, as fast as the broker takes them.
    Produce {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Reads `count` messages with a fresh consumer group; prints messages/s from the first.
    Consume {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        count: u64,
    },
    /// Waits until group `group` has committed `count` messages of `topic`; prints messages/s
    /// between the first commit seen and the last.
    Committed {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        count: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
    },
    /// Produces a file at a fixed rate and measures event-to-alert latency.
    Latency {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        alerts_topic: String,
        #[arg(long)]
        file: PathBuf,
        /// Events per second.
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        /// How long to keep reading alerts after the last event was sent.
        #[arg(long, default_value_t = 5)]
        drain_s: u64,
    },
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    match args.cmd {
        Cmd::Produce { topic, file } => produce(&args.brokers, &topic, &file),
        Cmd::Consume { topic, count } => consume(&args.brokers, &topic, count),
        Cmd::Committed {
            topic,
            group,
            count,
            timeout_s,
        } => committed(&args.brokers, &topic, &group, count, timeout_s),
        Cmd::Latency {
            topic,
            alerts_topic,
            file,
            rate,
            drain_s,
        } => latency(&args.brokers, &topic, &alerts_topic, &file, rate, drain_s),
    }
}

fn read_lines(file: &PathBuf) -> Result<Vec<Vec<u8>>, BoxError> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut lines = Vec::new();
    for l in std::io::BufReader::with_capacity(1 << 20, f).split(b'\n') {
        let l = l?;
        if !l.is_empty() {
            lines.push(l);
        }
    }
    Ok(lines)
}

/// The value of a top-level string field, found without parsing the line (generated lines
/// are compact and never escape these fields).
fn field<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let pat = format!("\"{name}\":\"");
    let at = line.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
    let len = line[at..].iter().position(|&b| b == b'"')?;
    Some(&line[at..at + len])
}

fn producer(brokers: &str) -> Result<ThreadedProducer<DefaultProducerContext>, BoxError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

/// Sends one line, waiting for queue space when the client's buffer is full.
fn send(
    p: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    line: &[u8],
) -> Result<(), BoxError> {
    let key = field(line, "account").unwrap_or(b"");
    let mut record = BaseRecord::to(topic).payload(line).key(key);
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

fn produce(brokers: &str, topic: &str, file: &PathBuf) -> Result<(), BoxError> {
    let lines = read_lines(file)?;
    let p = producer(brokers)?;
    let started = Instant::now();
    for l in &lines {
        send(&p, topic, l)?;
    }
    p.flush(Duration::from_secs(60))?;
    let s = started.elapsed().as_secs_f64();
    println!(
        "produced {} messages to {topic} in {s:.2} s ({:.0} msg/s)",
        lines.len(),
        lines.len() as f64 / s
    );
    Ok(())
}

fn consumer(brokers: &str, group: &str) -> Result<BaseConsumer, BoxError> {
    consumer_with(brokers, group, &[])
}

fn consumer_with(
    brokers: &str,
    group: &str,
    extra: &[(&str, &str)],
) -> Result<BaseConsumer, BoxError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    Ok(c.create()?)
}

fn consume(brokers: &str, topic: &str, count: u64) -> Result<(), BoxError> {
    let group = format!("bench-bare-{}", std::process::id());
    let c = consumer(brokers, &group)?;
    c.subscribe(&[topic])?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < count {
        if Instant::now() > deadline {
            return Err(format!("only {n} of {count} messages within 600 s").into());
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                // Touch the payload, as any real consumer must.
                bytes += m.payload().map_or(0, |p| p.len() as u64);
                n += 1;
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    // The first message is the start: group join and rebalance are not throughput.
    let s = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!(
        "bare consumer: {n} messages ({} MB) in {s:.2} s from the first: {:.0} msg/s",
        bytes / 1_000_000,
        (n - 1) as f64 / s.max(1e-9)
    );
    Ok(())
}

fn committed(
    brokers: &str,
    topic: &str,
    group: &str,
    count: u64,
    timeout_s: u64,
) -> Result<(), BoxError> {
    let c = consumer(brokers, group)?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .ok_or("topic not found")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..parts as i32 {
        tpl.add_partition(topic, p);
    }
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let mut first: Option<(Instant, u64)> = None;
    loop {
        let got = c.committed_offsets(tpl.clone(), Duration::from_secs(5))?;
        let total: u64 = got
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) if o > 0 => o as u64,
                _ => 0,
            })
            .sum();
        let now = Instant::now();
        if total > 0 && first.is_none() {
            first = Some((now, total));
        }
        if total >= count {
            let (t0, n0) = first.unwrap_or((now, total));
            let s = now.duration_since(t0).as_secs_f64();
            println!(
                "group {group}: {total} messages committed; {} between the first commit seen and the last in {s:.2} s: {:.0} msg/s",
                total - n0,
                (total - n0) as f64 / s.max(1e-9)
            );
            return Ok(());
        }
        if now > deadline {
            return Err(format!(
                "group {group} committed only {total} of {count} within {timeout_s} s"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn latency(
    brokers: &str,
    topic: &str,
    alerts_topic: &str,
    file: &PathBuf,
    rate: u64,
    drain_s: u64,
) -> Result<(), BoxError> {
    let lines = read_lines(file)?;
    let mut ids: Vec<String> = Vec::with_capacity(lines.len());
    for l in &lines {
        let id = field(l, "id").ok_or("every event needs an id to be traced to its alert")?;
        ids.push(String::from_utf8_lossy(id).into_owned());
    }
    let sent: Arc<Mutex<HashMap<String, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(lines.len())));

    // Read alerts from the end of the topic as it is now: only this run's alerts count.
    // The probe must not add latency of its own: librdkafka's default `fetch.wait.max.ms`
    // (500 ms) is a wait the broker may use in full when no data is ready.
    let c = consumer_with(
        brokers,
        &format!("bench-alerts-{}", std::process::id()),
        &[("fetch.wait.max.ms", "5")],
    )?;
    let md = c.fetch_metadata(Some(alerts_topic), Duration::from_secs(10))?;
    let parts = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .ok_or("alerts topic not found")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..parts as i32 {
        tpl.add_partition_offset(alerts_topic, p, Offset::End)?;
    }
    c.assign(&tpl)?;
    // Let the assignment settle before the first event goes out.
    let _ = c.poll(Duration::from_millis(500));

    let done = Arc::new(AtomicBool::new(false));
    let prod = {
        let (sent, done) = (sent.clone(), done.clone());
        let p = producer(brokers)?;
        let topic = topic.to_string();
        std::thread::spawn(move || -> Result<f64, BoxError> {
            let started = Instant::now();
            let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
            for (i, (l, id)) in lines.iter().zip(ids).enumerate() {
                let due = started + interval * i as u32;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let t = Instant::now();
                send(&p, &topic, l)?;
                sent.lock().map_err(|_| "poisoned")?.insert(id, t);
            }
            p.flush(Duration::from_secs(30))?;
            let achieved = lines.len() as f64 / started.elapsed().as_secs_f64();
            done.store(true, Ordering::Relaxed);
            Ok(achieved)
        })
    };

    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut alerts = 0u64;
    let mut untraced = 0u64;
    let mut drain_until: Option<Instant> = None;
    loop {
        if done.load(Ordering::Relaxed) && drain_until.is_none() {
            drain_until = Some(Instant::now() + Duration::from_secs(drain_s));
        }
        if drain_until.is_some_and(|d| Instant::now() > d) {
            break;
        }
        let Some(m) = c.poll(Duration::from_millis(50)) else {
            continue;
        };
        let m = m?;
        let received = Instant::now();
        alerts += 1;
        let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or(b"{}"))?;
        let events = v["events"].as_array().cloned().unwrap_or_default();
        let table = sent.lock().map_err(|_| "poisoned")?;
        let last = events
            .iter()
            .filter_map(|e| e.as_str().and_then(|id| table.get(id)))
            .max();
        match last {
            Some(t) => {
                hist.saturating_record(received.duration_since(*t).as_micros().max(1) as u64)
            }
            None => untraced += 1,
        }
    }
    let achieved = prod.join().map_err(|_| "producer thread panicked")??;
    println!("produced at {achieved:.0} events/s (asked {rate}); {alerts} alerts read, {untraced} not traceable to a sent event");
    if !hist.is_empty() {
        println!(
            "event-to-alert latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  ({} alerts)",
            hist.value_at_quantile(0.5) as f64 / 1000.0,
            hist.value_at_quantile(0.9) as f64 / 1000.0,
            hist.value_at_quantile(0.99) as f64 / 1000.0,
            hist.value_at_quantile(0.999) as f64 / 1000.0,
            hist.max() as f64 / 1000.0,
            hist.len()
        );
    }
    Ok(())
}
