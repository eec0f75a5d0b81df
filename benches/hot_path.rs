//! What one core does with one event, on realistic traffic with warm baselines.
//!
//! Setup: `tocsin::gen` plays `TOCSIN_BENCH_ACCOUNTS` accounts (default 100,000) for
//! `TOCSIN_BENCH_WARM_DAYS` days (default 2), and every event of those days goes through the
//! pipeline (enrich → baseline → risk → rules;
//! decoding is skipped while warming because it does not change state). The next day's first
//! `TOCSIN_BENCH_EVENTS` events (default 300,000) are rendered as native JSON
//! lines: that day is what the measurements read.
//!
//! Then, in this order:
//! 1. one pass of the full path over the measured day, timing each event with an HDR
//!    histogram (p50/p99/p99.9, ns), and a pass of the parse-only ceiling over the same lines:
//!    events/s per core and the ratio full/ceiling. This pass sees every event for the first
//!    time, as production would, so it is the headline figure.
//! 2. criterion groups, `Throughput::Elements`, batches of 1,000 events cycling over the day:
//!    `ceiling` (serde_json into a struct with the same borrowed fields, nothing else),
//!    `decode`, `decode_enrich`, `full` (`Pipeline::process_record`) and `rules_only`.
//!    `full` here replays events the detector has already seen (state no longer grows; events
//!    arrive "late"), so it is a steady-state figure, not the first-sight one of pass 1.
//!
//! `rules_only`: the detector computes its features inside `Detector::process` and does not
//! expose them, so this group evaluates the loaded rule set on feature vectors built here from
//! each measured event's real decoded and enriched fields, with the baseline-derived features
//! set as for a known account (every 200th event as for a never-seen device, network and
//! country after a first-try login). It measures the rule program, not the detector's features.
//!
//! Run with `cargo bench --bench hot_path`; `TOCSIN_BENCH_ACCOUNTS=20000 cargo bench --bench
//! hot_path` for a quick run. Two days, not the generator's seven-day warm-up before attacks:
//! 100,000 accounts make about 8 million events a weekday, and seven days of them would keep
//! the bench in setup for many minutes. The generator opens about two sessions per account
//! per weekday, so after two days a typical account has about four trusted logins, at the edge
//! of the default learning period (5); and the measured day holds no injected attacks.
//! `TOCSIN_BENCH_ACCOUNTS=20000 TOCSIN_BENCH_WARM_DAYS=7` measures a fully warm day with them.
//!
//! With `TOCSIN_BENCH_PROFILE=1` only [`profile_pass`] runs after the
//! setup (no timing, no criterion), for a profiler to collect on that function alone:
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profile_pass*'
//! --toggle-collect='*ceiling_pass*' BENCH_BINARY`
//! (see BENCHMARKS.md).

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{black_box, BatchSize, Criterion, Throughput};
use hdrhistogram::Histogram;
use tocsin::alert::Alert;
use tocsin::detect::features::{EventFeatures, F};
use tocsin::detect::rules::Value;
use tocsin::enrich::Enriched;
use tocsin::event::{Event, EventKind, Outcome};
use tocsin::gen::{self, GenConfig};
use tocsin::pipeline::{Pipeline, RecordStats};
use tocsin::settings::Settings;
use tocsin::source::decode::{self, native, Decoded, Format};

/// Events per criterion iteration.
const BATCH: usize = 1_000;

/// The parse-only ceiling: the native schema's fields, borrowed, with no validation, no
/// timestamp or address parsing and no enum mapping. Anything the real decoder does beyond
/// this is the price of checking input.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // Fields are parsed to be paid for, not read.
struct Ceiling<'a> {
    #[serde(borrow)]
    ts: Text<'a>,
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    outcome: Option<Text<'a>>,
    #[serde(borrow)]
    account: Text<'a>,
    #[serde(borrow)]
    tenant: Option<Text<'a>>,
    #[serde(borrow)]
    session: Option<Text<'a>>,
    #[serde(borrow)]
    ip: Option<Text<'a>>,
    #[serde(borrow)]
    user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    device_id: Option<Text<'a>>,
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    failure_reason: Option<Text<'a>>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    resource: Option<Text<'a>>,
    count: Option<u32>,
}

/// A string borrowed from the line unless it holds escapes, like the decoder's fields.
/// `Option<Cow<str>>` would not do: serde borrows a `Cow` only as a direct field, so inside an
/// `Option` every string is copied, which made an earlier ceiling slower than the real decoder.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        // `Text<'de>` becomes `Text<'a>`: a shorter borrow of the same line.
        d.deserialize_str(V).map(|t| Text(t.0))
    }
}

fn parse_ceiling(line: &[u8]) -> usize {
    match serde_json::from_slice::<Ceiling<'_>>(line) {
        Ok(c) => c.account.0.len(),
        Err(_) => 0,
    }
}

/// The measured day as native JSON lines in one buffer.
struct Lines {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Lines {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn pipeline() -> Pipeline {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut s = Settings::default();
    s.geoip.city = vec![root.join("testdata/geo/GeoLite2-City-Test.mmdb")];
    s.geoip.asn = Some(root.join("testdata/geo/GeoLite2-ASN-Test.mmdb"));
    // The configuration file's default; `Settings::default()` leaves it at 0.
    s.geoip.cache_entries = 65_536;
    s.rules.dir = Some(root.join("rules"));
    Pipeline::from_settings(&s).expect("the shipped rules and fixture GeoIP databases load")
}

/// Warms `p` with the history and returns the measured day.
fn warm(p: &Pipeline, accounts: u32, warm_days: u32, measured: usize) -> (Lines, u64) {
    let cfg = GenConfig {
        accounts,
        days: warm_days + 1,
        ..GenConfig::default()
    };
    let measure_from = cfg.start_ms + warm_days as i64 * tocsin::timefmt::DAY_MS;
    let mut lines = Lines {
        buf: Vec::with_capacity(measured * 240),
        ends: Vec::with_capacity(measured),
    };
    let mut warmed = 0u64;
    let mut out: Vec<Alert> = Vec::new();
    let r = gen::generate(&cfg, &mut |ev: &Event<'_>| {
        if ev.ts_ms < measure_from {
            p.process_event(ev, None, &mut out);
            out.clear();
            warmed += 1;
            return Ok(());
        }
        ev.write_json(&mut lines.buf)?;
        lines.ends.push(lines.buf.len());
        if lines.len() >= measured {
            // The generator stops at the first error its sink returns: the only way to end a
            // run early, and the rest of the day is not needed.
            return Err(io::Error::other(Enough));
        }
        Ok(())
    });
    match r {
        Ok(_) => {}
        Err(e) if e.get_ref().is_some_and(|i| i.is::<Enough>()) => {}
        Err(e) => panic!("generator failed: {e}"),
    }
    (lines, warmed)
}

#[derive(Debug)]
struct Enough;

impl std::fmt::Display for Enough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("measured day collected")
    }
}

impl std::error::Error for Enough {}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Pass 1: the full path over fresh events, each timed; then the ceiling over the same lines.
fn first_sight(p: &Pipeline, lines: &Lines) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let mut stats = RecordStats::default();
    let mut out: Vec<Alert> = Vec::new();
    let started = Instant::now();
    for i in 0..lines.len() {
        let t = Instant::now();
        p.process_record(
            Format::Native,
            black_box(lines.get(i)),
            None,
            &mut stats,
            &mut out,
            &mut |_| {},
        );
        let ns = t.elapsed().as_nanos() as u64;
        hist.saturating_record(ns.max(1));
        out.clear();
    }
    let full_s = started.elapsed().as_secs_f64();

    // The ceiling is stateless: best of three passes, as kind to it as possible.
    let mut ceiling_s = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut sum = 0usize;
        for i in 0..lines.len() {
            sum = sum.wrapping_add(parse_ceiling(black_box(lines.get(i))));
        }
        black_box(sum);
        ceiling_s = ceiling_s.min(t.elapsed().as_secs_f64());
    }
    let n = lines.len() as f64;
    let full_eps = n / full_s;
    let ceiling_eps = n / ceiling_s;
    println!(
        "== full path, first sight of {} events (load {})",
        lines.len(),
        load()
    );
    println!(
        "   events {}  rejected {}  alerts {}",
        stats.events,
        stats.rejected_total(),
        stats.alerts_total()
    );
    println!(
        "   per-event latency ns: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (includes ~2 clock reads)",
        hist.value_at_quantile(0.50),
        hist.value_at_quantile(0.90),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
    println!("   full    {:>12.0} events/s per core", full_eps);
    println!(
        "   ceiling {:>12.0} events/s per core (serde_json parse only)",
        ceiling_eps
    );
    println!("   full/ceiling = {:.1}%", 100.0 * full_eps / ceiling_eps);
    for (rule, n) in &stats.alerts_by_rule {
        println!("   alerts {rule}: {n}");
    }
}

/// A feature vector for `ev` as the detector would see it for a known account (or, when
/// `stranger`, for a first-try login from a never-seen device, network and country).
fn features<'a>(ev: &'a Event<'a>, enr: &'a Enriched, stranger: bool) -> EventFeatures<'a> {
    let mut f = EventFeatures::default();
    let ok = ev.outcome == Some(Outcome::Success);
    let login = ev.kind == EventKind::Login;
    f.bool(F::LoginSuccess, login && ok);
    f.bool(F::LoginFailure, login && !ok);
    f.bool(F::LoginFirstTry, login && ok);
    f.bool(F::MfaSuccess, ev.kind == EventKind::Mfa && ok);
    f.bool(F::MfaFailure, ev.kind == EventKind::Mfa && !ok);
    f.bool(F::Access, ev.kind == EventKind::Access);
    f.str(F::EventType, ev.kind.as_str());
    if let Some(a) = ev.action {
        f.str(F::AccessAction, a.as_str());
        f.num(F::AccessCount, ev.count as f64);
    }
    f.str(F::Account, &ev.account);
    if let Some(t) = &ev.tenant {
        f.str(F::Tenant, t);
    }
    f.num(F::AccountLogins, 40.0);
    f.bool(F::AccountLearning, false);
    f.num(F::AccountDaysSinceLastLogin, 1.0);
    f.num(F::AccountAgeDays, 7.0);
    f.bool(F::DeviceNew, stranger);
    f.bool(F::DeviceBrowserNew, stranger);
    f.bool(F::DeviceOsNew, false);
    f.str(F::DeviceType, enr.device.kind.as_str());
    f.bool(F::DeviceBot, false);
    f.bool(F::DeviceExplicitId, enr.device.explicit_id);
    f.str(F::DeviceBrowser, &enr.device.browser);
    f.str(F::DeviceOs, &enr.device.os);
    if let Some(ip) = ev.ip {
        f.set(F::Ip, Value::Ip(ip));
    }
    f.str(F::IpClass, enr.geo.class.as_str());
    f.bool(F::IpNewPrefix, stranger);
    f.bool(F::IpTenantKnown, !stranger);
    if let Some(a) = enr.geo.asn {
        f.num(F::AsnNumber, a as f64);
    }
    f.bool(F::AsnNew, stranger);
    f.bool(F::AsnTenantKnown, !stranger);
    f.num(F::AsnShare, if stranger { 0.0 } else { 0.8 });
    f.bool(F::GeoKnown, enr.geo.country.is_some());
    if let Some(c) = &enr.geo.country {
        f.str(F::GeoCountry, c.as_str());
    }
    if let Some(c) = enr.geo.city.as_deref() {
        f.str(F::GeoCity, c);
    }
    f.bool(F::GeoNewCountry, stranger);
    f.bool(F::GeoNewCity, stranger);
    f.num(F::GeoCountryShare, if stranger { 0.0 } else { 1.0 });
    f.num(F::GeoDistanceKm, if stranger { 4_800.0 } else { 3.0 });
    f.num(F::TravelDistanceKm, if stranger { 4_800.0 } else { 3.0 });
    f.num(F::TravelHours, 14.0);
    f.num(F::TravelSpeedKmh, if stranger { 340.0 } else { 0.2 });
    f.bool(F::TravelSameAsn, !stranger);
    f.num(F::HourLocal, 10.0);
    f.bool(F::HourWeekend, false);
    f.num(F::HourShare, if stranger { 0.0 } else { 0.12 });
    f.bool(F::HourRare, stranger);
    let risk = if stranger { 0.97 } else { 0.02 };
    f.num(F::RiskScore, risk);
    f.num(F::RiskNetwork, if stranger { 6.0 } else { -2.0 });
    f.num(F::RiskDevice, if stranger { 4.0 } else { -1.5 });
    f.num(F::RiskHour, 0.0);
    f.bool(F::SessionKnown, ev.session.is_some());
    f.num(F::SessionRisk, risk);
    f.num(F::SessionRecords, ev.count as f64);
    f.num(F::SessionExports, 0.0);
    f.num(F::SessionAgeMin, 12.0);
    f.bool(F::SessionConcurrentDistant, false);
    f.num(F::SessionConcurrentDistanceKm, 0.0);
    f.bool(F::SessionSameAsn, !stranger);
    f.num(F::VolumeRecords10m, ev.count as f64);
    f.num(F::VolumeExports1h, 0.0);
    f.num(F::VolumeRatio, 1.0);
    f.num(F::VolumeBaseline, 20.0);
    f.num(F::VolumeP99, 60.0);
    f.num(F::AuthFailuresAccount10m, 0.0);
    f.num(F::AuthFailuresSource10m, 0.0);
    f.num(F::AuthSourceAccounts10m, 0.0);
    f.num(F::AuthSourceAccounts1h, 0.0);
    f.num(F::AuthFailuresAccountSource10m, 0.0);
    f.num(F::TenantAccounts, 12.0);
    f.num(F::PopulationCountryShare, 0.9);
    if enr.geo.asn.is_some() {
        f.num(F::PopulationAsnShare, 0.2);
    }
    f
}

/// The parse-only ceiling over the measured day: the profiler's yardstick for [`profile_pass`].
#[inline(never)]
fn ceiling_pass(lines: &Lines) -> usize {
    let mut sum = 0usize;
    for i in 0..lines.len() {
        sum = sum.wrapping_add(parse_ceiling(black_box(lines.get(i))));
    }
    sum
}

/// The full path over the measured day, nothing else: what a profiler should look at.
#[inline(never)]
fn profile_pass(p: &Pipeline, lines: &Lines) -> RecordStats {
    let mut stats = RecordStats::default();
    let mut out: Vec<Alert> = Vec::new();
    for i in 0..lines.len() {
        p.process_record(
            Format::Native,
            lines.get(i),
            None,
            &mut stats,
            &mut out,
            &mut |_| {},
        );
        out.clear();
    }
    stats
}

fn criterion_groups(c: &mut Criterion, p: &Pipeline, lines: &Lines) {
    let n = lines.len();
    // Each iteration takes the next batch of the day, so caches see the day's variety.
    let mut next = 0usize;
    let mut batch = move || {
        let start = next;
        next = (next + BATCH) % n.saturating_sub(BATCH).max(1);
        start..start + BATCH.min(n)
    };

    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(BATCH.min(n) as u64));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    g.bench_function("ceiling", |b| {
        b.iter(|| {
            let mut sum = 0usize;
            for i in batch() {
                sum = sum.wrapping_add(parse_ceiling(lines.get(i)));
            }
            sum
        })
    });

    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut sum = 0usize;
            for i in batch() {
                decode::decode(Format::Native, lines.get(i), &mut |r| {
                    if let Ok(Decoded::Event(ev)) = r {
                        sum = sum.wrapping_add(ev.account.len());
                    }
                });
            }
            sum
        })
    });

    g.bench_function("decode_enrich", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for i in batch() {
                decode::decode(Format::Native, lines.get(i), &mut |r| {
                    if let Ok(Decoded::Event(ev)) = r {
                        let e = p.enricher().enrich(&ev);
                        sum =
                            sum.wrapping_add(e.device.fingerprint ^ e.geo.asn.unwrap_or(0) as u64);
                    }
                });
            }
            sum
        })
    });

    let mut stats = RecordStats::default();
    let mut out: Vec<Alert> = Vec::new();
    g.bench_function("full", |b| {
        b.iter(|| {
            for i in batch() {
                p.process_record(
                    Format::Native,
                    lines.get(i),
                    None,
                    &mut stats,
                    &mut out,
                    &mut |_| {},
                );
                out.clear();
            }
        })
    });

    // Decoded and enriched once, outside the measurement.
    let evs: Vec<(Event<'_>, Enriched)> = (0..n.min(50_000))
        .filter_map(|i| native::decode(lines.get(i)).ok())
        .map(|ev| {
            let e = p.enricher().enrich(&ev);
            (ev, e)
        })
        .collect();
    let feats: Vec<EventFeatures<'_>> = evs
        .iter()
        .enumerate()
        .map(|(i, (ev, e))| features(ev, e, i % 200 == 0))
        .collect();
    let rules = &p.detector().rules().rules;
    println!(
        "rules_only: {} rules over {} feature vectors",
        rules.len(),
        feats.len()
    );
    let mut at = 0usize;
    g.bench_function("rules_only", |b| {
        b.iter_batched(
            || {
                let s = at;
                at = (at + BATCH) % feats.len().saturating_sub(BATCH).max(1);
                s
            },
            |s| {
                let mut fired = 0u32;
                for f in &feats[s..(s + BATCH).min(feats.len())] {
                    for r in rules {
                        fired += r.when.eval(f) as u32;
                    }
                }
                fired
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn main() {
    let accounts = env_usize("TOCSIN_BENCH_ACCOUNTS", 100_000) as u32;
    let warm_days = env_usize("TOCSIN_BENCH_WARM_DAYS", 2) as u32;
    let measured = env_usize("TOCSIN_BENCH_EVENTS", 300_000);
    let p = pipeline();
    let t = Instant::now();
    let (lines, warmed) = warm(&p, accounts, warm_days, measured);
    let st = p.detector().stats();
    println!(
        "setup: {accounts} accounts, {warm_days} days of history ({warmed} events) warmed in {:.1} s; \
         {} accounts with a baseline, {} MB of detection state; measured day: {} events, {} bytes/line (load {})",
        t.elapsed().as_secs_f64(),
        st.accounts,
        st.state_bytes / 1_000_000,
        lines.len(),
        lines.buf.len() / lines.len().max(1),
        load()
    );
    assert!(
        lines.len() > BATCH,
        "the measured day is too short to bench"
    );
    if std::env::var_os("TOCSIN_BENCH_PROFILE").is_some() {
        black_box(ceiling_pass(&lines));
        let stats = black_box(profile_pass(&p, &lines));
        println!(
            "profile pass: {} events, {} alerts",
            stats.events,
            stats.alerts_total()
        );
        return;
    }
    first_sight(&p, &lines);

    let mut c = Criterion::default().configure_from_args();
    criterion_groups(&mut c, &p, &lines);
    c.final_summary();
}
