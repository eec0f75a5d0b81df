//! Resident memory per account: native JSON lines from stdin go through the full pipeline
//! (decode → enrich → baseline → risk → rules), then the detector's own state estimate and the
//! growth of this process's resident set are printed, each divided by the accounts tracked.
//!
//! The traffic comes from another process so that the generator's population tables are not
//! counted as detection state:
//!
//! ```sh
//! cargo build --release --bin tocsin --example state_memory
//! target/release/tocsin gen --accounts 1000000 --days 2 --seed 1 \
//!   | target/release/examples/state_memory
//! ```
//!
//! A million accounts of generated traffic is ~80 million events per day, more than a bench
//! should wait for, so `--synthetic N` builds the traffic in process instead, without any
//! population table: each of N accounts works two weekdays, each day one session (a successful
//! login from the account's own network and device, three record reads, a logout) from one of
//! the fixture world's French networks. Per-account state is fixed-size, so this is a fair
//! measure of bytes/account, not of detection quality.
//!
//! ```sh
//! target/release/examples/state_memory --synthetic 1000000
//! ```
//!
//! RSS is read from `/proc/self/status` (Linux only): `VmRSS` once the pipeline is built (rules
//! and GeoIP databases loaded, nothing learned) and again at the end. The difference includes
//! allocator slack and hash-map growth headroom, which the estimate leaves out; the estimate
//! leaves out nothing the detector keeps per account. Both are printed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use tocsin::alert::Alert;
use tocsin::event::{Action, Event, EventKind, Outcome};
use tocsin::pipeline::{Pipeline, RecordStats};
use tocsin::settings::Settings;
use tocsin::source::decode::Format;

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn pipeline() -> Result<Pipeline, tocsin::pipeline::PipelineError> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut s = Settings::default();
    s.geoip.city = vec![root.join("testdata/geo/GeoLite2-City-Test.mmdb")];
    s.geoip.asn = Some(root.join("testdata/geo/GeoLite2-ASN-Test.mmdb"));
    s.geoip.cache_entries = 65_536;
    s.rules.dir = Some(root.join("rules"));
    Pipeline::from_settings(&s)
}

/// Native JSON lines from stdin through the full path.
fn replay_stdin(
    p: &Pipeline,
    stats: &mut RecordStats,
    out: &mut Vec<Alert>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        if record.is_empty() {
            continue;
        }
        p.process_record(Format::Native, record, None, stats, out, &mut |_| {});
        out.clear();
    }
}

/// Desktop browsers of the synthetic accounts (one per account, by index).
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
];

/// `accounts` accounts, two weekdays of one session each, straight into the pipeline's
/// event stage (no JSON: only retained state is being measured).
fn synthetic(p: &Pipeline, accounts: u32, stats: &mut RecordStats, out: &mut Vec<Alert>) {
    let nets: Vec<(u32, u8)> = tocsin::world::NETWORKS
        .iter()
        .filter(|n| n.country == "FR" && !n.cidr.contains(':'))
        .filter_map(|n| {
            let (a, l) = n.cidr.split_once('/')?;
            Some((
                u32::from(a.parse::<std::net::Ipv4Addr>().ok()?),
                l.parse().ok()?,
            ))
        })
        .collect();
    // Monday 2025-11-03, 07:00 UTC.
    let t0: i64 = 1_762_153_200_000;
    for day in 0..2i64 {
        for i in 0..accounts {
            let name = format!("dr.{i}@cabinet-{}", i / 8);
            let tenant = format!("cabinet-{}", i / 8);
            let session = format!("s-{i}-{day}");
            let (base, len) = nets[(i as usize / 8) % nets.len()];
            let host = (i.wrapping_mul(2_654_435_761) >> len) & ((1u32 << (32 - len)) - 1);
            let ip = std::net::IpAddr::V4((base | host.max(1)).into());
            // Spread the accounts' sessions over the working day.
            let ts = t0 + day * 86_400_000 + (i as i64 % 36_000) * 1_000;
            let mut ev = Event::new(ts, EventKind::Login, name.as_str());
            ev.outcome = Some(Outcome::Success);
            ev.tenant = Some(tenant.as_str().into());
            ev.session = Some(session.as_str().into());
            ev.ip = Some(ip);
            ev.user_agent = Some(AGENTS[i as usize % AGENTS.len()].into());
            ev.method = Some("password".into());
            let mut events = vec![ev.clone()];
            for k in 1..=3 {
                let mut a = ev.clone();
                a.kind = EventKind::Access;
                a.outcome = None;
                a.ts_ms = ts + k * 60_000;
                a.action = Some(Action::Read);
                a.resource = Some("patient_record".into());
                events.push(a);
            }
            let mut bye = ev.clone();
            bye.kind = EventKind::Logout;
            bye.outcome = None;
            bye.ts_ms = ts + 300_000;
            events.push(bye);
            for e in &events {
                p.process_event(e, None, out);
                stats.events += 1;
                out.clear();
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = pipeline()?;
    let rss_before = status_bytes("VmRSS:").ok_or("no VmRSS in /proc/self/status")?;
    let started = Instant::now();
    let mut stats = RecordStats::default();
    let mut out: Vec<Alert> = Vec::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n] = args.as_slice() {
        if flag != "--synthetic" {
            return Err(format!("unknown argument {flag}").into());
        }
        synthetic(&p, n.parse()?, &mut stats, &mut out);
    } else {
        replay_stdin(&p, &mut stats, &mut out)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = status_bytes("VmRSS:").ok_or("no VmRSS in /proc/self/status")?;
    let st = p.detector().stats();
    let accounts = st.accounts.max(1) as f64;
    let delta = rss_after.saturating_sub(rss_before);
    println!(
        "events {}  rejected {}  alerts {}  in {:.1} s ({:.0} events/s)",
        stats.events,
        stats.rejected_total(),
        stats.alerts_total(),
        elapsed,
        stats.events as f64 / elapsed.max(1e-9)
    );
    println!("accounts with a baseline: {}", st.accounts);
    println!(
        "state estimate (Detector::stats): {} bytes = {:.0} bytes/account",
        st.state_bytes,
        st.state_bytes as f64 / accounts
    );
    println!(
        "RSS: {} MB after load, {} MB at the end (peak {} MB); delta {} bytes = {:.0} bytes/account",
        rss_before / 1_000_000,
        rss_after / 1_000_000,
        status_bytes("VmHWM:").unwrap_or(0) / 1_000_000,
        delta,
        delta as f64 / accounts
    );
    Ok(())
}
