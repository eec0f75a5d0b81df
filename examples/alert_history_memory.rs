//! Resident memory per alert in the API's alert history (`[api] recent_alerts`): alerts as JSON
//! lines from stdin (the output of `tocsin replay`) are recorded over and over, each time under
//! a new id, until the history holds `--alerts N` of them; then the growth of this process's
//! resident set is printed, divided by N.
//!
//! ```sh
//! cargo build --release --bin tocsin --example alert_history_memory
//! target/release/tocsin gen --accounts 2000 --days 7 --attacks all --seed 1 \
//!   | target/release/tocsin replay --no-progress - \
//!   | target/release/examples/alert_history_memory --alerts 10000
//! ```
//!
//! RSS is read from `/proc/self/status` (Linux only), once the sample alerts are parsed and
//! again at the end; the sample itself is not counted. The difference includes allocator slack
//! and the index's growth headroom.

use std::io::BufRead;

use tocsin::alert::Alert;
use tocsin::respond::recent::RecentAlerts;

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let mut n = 10_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--alerts" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--alerts N")
            }
            _ => {
                eprintln!("usage: alert_history_memory [--alerts N] < alerts.jsonl");
                std::process::exit(2);
            }
        }
    }
    let sample: Vec<Alert> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    if sample.is_empty() {
        eprintln!("no alerts on stdin");
        std::process::exit(1);
    }
    let json_bytes: usize = sample
        .iter()
        .map(|a| serde_json::to_vec(a).map_or(0, |v| v.len()))
        .sum();
    let history = RecentAlerts::new(n);
    let before = rss();
    for i in 0..n {
        let mut a = sample[i % sample.len()].clone();
        a.id = format!("{}_{i}", &a.id[..a.id.len().min(30)]);
        history.push(&a).expect("alert serialises");
    }
    let after = rss();
    println!(
        "alerts held: {}  sample: {} alerts, mean JSON {} B",
        history.len(),
        sample.len(),
        json_bytes / sample.len()
    );
    println!(
        "RSS growth: {} B total, {} B per alert",
        after.saturating_sub(before),
        after.saturating_sub(before) / n as u64
    );
}
