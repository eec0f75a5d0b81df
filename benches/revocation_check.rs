//! The SaaS's hot path, `GET /v1/revocations/check` (README.md, "The API": p99 < 1 ms locally), with
//! 100 000 revocations in the store:
//!
//! 1. over loopback: a real axum server on 127.0.0.1:0 and one keep-alive client making
//!    sequential requests, half for revoked sessions and half not; p50/p99/p99.9 from an HDR
//!    histogram are printed;
//! 2. in process: `RevocationStore::check` alone, with criterion.
//!
//! Run with `cargo bench --bench revocation_check`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, Criterion, Throughput};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tocsin::alert::{Alert, Verdict};
use tocsin::api::{self, ApiState, Baselines, Tokens};
use tocsin::baseline::store::{AccountView, FeedbackError};
use tocsin::metrics::Metrics;
use tocsin::respond::revoke::{NewRevocation, RevocationStore, Scope, LOG_FILE};
use tocsin::respond::{now_ms, Responder, ResponderSettings};
use tocsin::settings::{Role, Settings};

const REVOCATIONS: usize = 100_000;
const WARMUP: usize = 2_000;
const REQUESTS: usize = 50_000;
const TOKEN: &str = "bench-reader-token";

struct NoBaselines;

impl Baselines for NoBaselines {
    fn account_view(&self, _: &str) -> Option<AccountView> {
        None
    }
    fn feedback(&self, _: &Alert, _: Verdict) -> Result<(), FeedbackError> {
        Ok(())
    }
    fn credential_leaked(&self, _: &str, _: i64) -> bool {
        false
    }
}

/// A store with `REVOCATIONS` entries: every tenth an account-wide revocation, the rest one
/// session each, spread over 50 000 accounts.
fn filled_store() -> RevocationStore {
    let store = RevocationStore::in_memory(86_400);
    let now = now_ms();
    for i in 0..REVOCATIONS {
        let account_wide = i % 10 == 0;
        store
            .revoke(
                format!("rv_bench_{i}"),
                NewRevocation {
                    account: account_of(i),
                    session: (!account_wide).then(|| format!("s-{i}")),
                    scope: if account_wide {
                        Scope::Account
                    } else {
                        Scope::Session
                    },
                    reason: "bench".into(),
                    alert_id: None,
                    ttl_ms: None,
                },
                now,
            )
            .expect("in-memory store");
    }
    store
}

/// The account of revocation `i`.
fn account_of(i: usize) -> String {
    format!("dr.{}@cabinet-{}", i % 50_000, i % 997)
}

/// A query: `(account, session)`, revoked half of the time.
fn query(rng: &mut SmallRng) -> (String, String) {
    let i = rng.gen_range(0..REVOCATIONS);
    if rng.gen_bool(0.5) {
        (
            format!("dr.{}@cabinet-{}", i % 50_000, i % 997),
            format!("s-{i}"),
        )
    } else {
        (format!("nobody.{i}@cabinet-x"), format!("s-{i}"))
    }
}

fn loopback_percentiles() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        // Write the store as its own log so the responder opens it like after a restart.
        let mut f = std::fs::File::create(dir.path().join(LOG_FILE)).expect("log file");
        filled_store().write_snapshot(&mut f).expect("snapshot");
        drop(f);
        let settings = Settings::parse(
            &format!("[state]\ndir = {:?}\n", dir.path().display().to_string()),
            "bench.toml",
        )
        .expect("settings");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut s1 = stopped.clone();
        let mut s2 = stopped;
        let responder = Responder::start(
            ResponderSettings::of(&settings),
            Arc::new(Metrics::new()),
            async move {
                let _ = s1.wait_for(|&v| v).await;
            },
        )
        .expect("responder");
        assert_eq!(responder.revocations().len(), REVOCATIONS);
        let state = ApiState::new(
            responder,
            Arc::new(NoBaselines),
            Tokens::default().with_token("bench", Role::Reader, TOKEN),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(api::serve(listener, state, async move {
            let _ = s2.wait_for(|&v| v).await;
        }));

        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let mut rng = SmallRng::seed_from_u64(7);
        let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("hdr");
        let mut revoked = 0usize;
        for n in 0..WARMUP + REQUESTS {
            let (account, session) = query(&mut rng);
            let url = format!("{base}/v1/revocations/check?account={account}&session={session}");
            let t = Instant::now();
            let resp = client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("request");
            let body = resp.bytes().await.expect("body");
            let us = t.elapsed().as_micros() as u64;
            if n >= WARMUP {
                hist.record(us.max(1)).expect("in range");
                // The pattern's own length: a fixed window of 15 never matched its 14 bytes and
                // reported 0 revoked answers.
                const REVOKED: &[u8] = b"\"revoked\":true";
                revoked += body.windows(REVOKED.len()).any(|w| w == REVOKED) as usize;
            }
        }
        println!(
            "revocation check over loopback ({REQUESTS} sequential keep-alive requests, \
             {REVOCATIONS} revocations, {revoked} revoked answers):"
        );
        for (label, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
            println!("  {label:>6}: {:>6} µs", hist.value_at_quantile(q));
        }
        println!("  {:>6}: {:>6} µs", "max", hist.max());
        let _ = stop.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
}

fn in_process(c: &mut Criterion) {
    let store = filled_store();
    let now = now_ms();
    let (session_account, account_wide) = (account_of(4321), account_of(4320));
    assert!(store.check(&session_account, Some("s-4321"), now).is_some());
    assert!(store.check(&account_wide, Some("s-any"), now).is_some());
    let mut g = c.benchmark_group("revocation_check");
    g.throughput(Throughput::Elements(1));
    g.bench_function("check_revoked_session", |b| {
        b.iter(|| black_box(store.check(black_box(session_account.as_str()), Some("s-4321"), now)))
    });
    g.bench_function("check_account_wide", |b| {
        b.iter(|| black_box(store.check(black_box(account_wide.as_str()), Some("s-any"), now)))
    });
    g.bench_function("check_not_revoked", |b| {
        b.iter(|| black_box(store.check(black_box("nobody@cabinet-x"), Some("s-1"), now)))
    });
    g.finish();
}

fn main() {
    loopback_percentiles();
    let mut c = Criterion::default().configure_from_args();
    in_process(&mut c);
    c.final_summary();
}
