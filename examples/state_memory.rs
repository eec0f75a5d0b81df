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
//! RSS is read from `/proc/self/status` (Linux only): `VmRSS` once the pipeline is built (rules
//! and GeoIP databases loaded, nothing learned) and again at the end. The difference includes
//! allocator slack and hash-map growth headroom, which the estimate leaves out; the estimate
//! leaves out nothing the detector keeps per account. Both are printed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use tocsin::alert::Alert;
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
    s.rules.dir = root.join("rules");
    Pipeline::from_settings(&s)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = pipeline()?;
    let rss_before = status_bytes("VmRSS:").ok_or("no VmRSS in /proc/self/status")?;
    let started = Instant::now();
    let mut stats = RecordStats::default();
    let mut out: Vec<Alert> = Vec::new();
    let mut input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        if record.is_empty() {
            continue;
        }
        p.process_record(
            Format::Native,
            record,
            None,
            &mut stats,
            &mut out,
            &mut |_| {},
        );
        out.clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = status_bytes("VmRSS:").ok_or("no VmRSS in /proc/self/status")?;
    let st = p.detector.stats();
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
