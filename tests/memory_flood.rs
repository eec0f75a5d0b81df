//! A stranger who can write to the input topic floods Tocsin with made-up identities: every
//! event a new account, a new tenant, a new address and network, a new session and a new
//! device. Memory must stop growing once the configured budgets are full.
//!
//! The heap is measured, not estimated: this test binary counts every byte its global
//! allocator hands out and gets back. It holds a single test so that nothing else allocates
//! meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rand::{rngs::SmallRng, Rng, SeedableRng};
use tocsin::pipeline::{Pipeline, RecordStats};
use tocsin::settings::Settings;
use tocsin::source::decode::Format;

/// The system allocator, counting the bytes currently handed out.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            LIVE.fetch_add(new_size, Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ACCOUNT_BUDGET: usize = 20_000;
const EVENTS: u32 = 300_000;
/// Heap per budgeted account: its baseline (at most 512 bytes, `ACCOUNT_BYTES_BOUND`) with
/// its table slot and allocator header, up to four open sessions, values held back.
const BYTES_PER_BUDGETED_ACCOUNT: usize = 1536;
/// The detector's tenant-table budget for this account budget (64 bytes an account, at least
/// 16 MiB).
const TENANT_TABLES: usize = 16 << 20;
/// Tables capped independently of the account budget, at their caps, with hash-table slack
/// (SECURITY.md, "Memory budget"): failure counters (200,000 entries each; ~75 MiB of them the
/// per-source ring of 32 accounts), suppression windows (500,000), names (100,000), population
/// tables, alert memos, and the GeoIP (65,536) and user-agent (16,384) caches.
const FIXED_TABLES: usize = 128 << 20;

fn record(rng: &mut SmallRng, i: u32, buf: &mut String) {
    use std::fmt::Write as _;
    let ts = 1_762_819_200_000i64 + i64::from(i) * 50;
    // A third of the addresses in the fixture world's networks (so GeoIP answers with
    // countries, cities and ASNs), the rest anywhere in IPv4 and IPv6.
    let ip: IpAddr = match i % 3 {
        0 => {
            let nets = tocsin::world::NETWORKS;
            let net: ipnet::IpNet = nets[rng.gen_range(0..nets.len())].cidr.parse().unwrap();
            match net {
                ipnet::IpNet::V4(n) => {
                    let host = rng.gen::<u32>() & !u32::from(n.netmask());
                    IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host))
                }
                ipnet::IpNet::V6(n) => {
                    let host = rng.gen::<u128>() & !u128::from(n.netmask());
                    IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host))
                }
            }
        }
        1 => IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>())),
        _ => IpAddr::V6(Ipv6Addr::from(rng.gen::<u128>())),
    };
    buf.clear();
    let _ = write!(
        buf,
        r#"{{"ts":{ts},"account":"flood-{i}@made-up-{i}.example","tenant":"tenant-{i}","ip":"{ip}","session":"s-{i}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Flood/{i}.0 Chrome/120.0.{i}.1 Safari/537.36","device_id":"dev-{i}","#
    );
    let _ = match i % 10 {
        // Failures feed the per-account, per-pair and per-source counters.
        0..=2 => write!(buf, r#""type":"login","outcome":"failure"}}"#),
        // Data access on a session no login opened.
        3 => write!(
            buf,
            r#""type":"access","action":"export","resource":"patient_record","count":{}}}"#,
            rng.gen_range(1..5000)
        ),
        _ => write!(
            buf,
            r#""type":"login","outcome":"success","method":"password"}}"#
        ),
    };
}

#[test]
fn flood_of_made_up_accounts_tenants_networks_and_devices_stays_within_the_memory_budget() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = format!(
        "[geoip]\ncity = {city:?}\nasn = {asn:?}\n[rules]\ndir = {rules:?}\n[detect]\nmax_accounts = {ACCOUNT_BUDGET}\n",
        city = root.join("testdata/geo/GeoLite2-City-Test.mmdb"),
        asn = root.join("testdata/geo/GeoLite2-ASN-Test.mmdb"),
        rules = root.join("rules"),
    );
    let settings = Settings::parse(&config, "flood.toml").expect("config");
    let pipeline = Pipeline::from_settings(&settings).expect("pipeline");
    let budget = ACCOUNT_BUDGET * BYTES_PER_BUDGETED_ACCOUNT + TENANT_TABLES + FIXED_TABLES;

    let mut rng = SmallRng::seed_from_u64(10);
    let mut buf = String::new();
    let mut stats = RecordStats::default();
    let mut alerts = Vec::new();
    let start = LIVE.load(Relaxed);
    let mut grown = Vec::new();
    for i in 0..EVENTS {
        record(&mut rng, i, &mut buf);
        pipeline.process_record(
            Format::Native,
            buf.as_bytes(),
            None,
            &mut stats,
            &mut alerts,
            &mut |skip| panic!("record {i} skipped: {skip:?}"),
        );
        alerts.clear();
        if (i + 1) % (EVENTS / 4) == 0 {
            stats.alerts_by_rule.clear();
            grown.push(LIVE.load(Relaxed).saturating_sub(start));
        }
    }
    let d = pipeline.detector().stats();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    let report = format!(
        "heap grown after each quarter of {EVENTS} flood events: {:?} MiB; budget {:.1} MiB; \
         {} accounts tracked (budget {ACCOUNT_BUDGET}), {} evicted, {} tenants tracked, \
         {} evicted, state estimate {:.1} MiB",
        grown
            .iter()
            .map(|&b| (mib(b) * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        mib(budget),
        d.accounts,
        d.evicted,
        d.tenants,
        d.tenants_evicted,
        mib(d.state_bytes),
    );
    println!("{report}");
    assert_eq!(stats.events, u64::from(EVENTS), "{report}");
    assert!(d.accounts <= ACCOUNT_BUDGET, "{report}");
    assert!(
        d.evicted > 0 && d.tenants_evicted > 0,
        "the flood must reach both budgets: {report}"
    );
    let last = *grown.last().unwrap();
    assert!(last <= budget, "heap above the budget: {report}");
    // Flat once the budgets are full: the last quarter of the flood adds at most 5% (the
    // hour-long failure and suppression windows are full by then; a leak of even 50 bytes an
    // event would add 3.6 MiB).
    let before_last = grown[grown.len() - 2];
    assert!(
        last.saturating_sub(before_last) <= before_last / 20,
        "heap still growing in the last quarter of the flood: {report}"
    );
}
