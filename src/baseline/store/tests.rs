//! Store behaviour that detection cannot show by its alerts: the bounds of the failure and
//! suppression maps under floods.

use xxhash_rust::xxh3::xxh3_64;

use super::counters::{FAILURE_IDLE_S, FAILURE_MAP_CAP, SUPPRESS_CAP};
use super::evict::{sweep_idle, SWEEP_MIN};
use super::*;
use crate::event::{EventKind, Outcome};
use crate::timefmt::parse_rfc3339;

fn store() -> Store {
    Store::new(1_000_000, "Europe/Paris", 3_600_000)
}

#[test]
fn failure_maps_hold_the_last_hour_not_every_source_ever_seen() {
    let d = store();
    let start = parse_rfc3339("2025-11-03T00:00:00Z").unwrap();
    // A failed login every 10 s, each from a new address: 360 sources an hour for 55 hours.
    let n = 20_000u32;
    for i in 0..n {
        let mut ev = Event::new(start + i64::from(i) * 10_000, EventKind::Login, "a");
        ev.outcome = Some(Outcome::Failure);
        ev.ip = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
            0x0a00_0000 + i,
        )));
        ev.tenant = Some("t".into());
        d.count_failure(&Keys::of(&ev, &Enriched::default()));
    }
    let bound = 2 * 360 + SWEEP_MIN;
    assert!(
        d.source_failures.len() <= bound,
        "{}",
        d.source_failures.len()
    );
    assert!(d.pair_failures.len() <= bound, "{}", d.pair_failures.len());
    // What the features look at is still there: the last hour's sources.
    assert!(d.source_failures.len() >= 360);
    assert_eq!(d.account_failures.len(), 1);
}

#[test]
fn a_failure_flood_within_the_hour_stays_under_the_cap() {
    let m: KeyedMap<FailureCount> = KeyedMap::default();
    let next = std::sync::atomic::AtomicUsize::new(SWEEP_MIN);
    let now_s = 1_000_000u32;
    // Every entry active within the last 10 minutes but the newest second's few.
    for i in 0..(FAILURE_MAP_CAP as u64 + 10) {
        let last_s = if i < 5 {
            now_s
        } else {
            now_s - 1 - (i % 500) as u32
        };
        m.insert(
            i,
            FailureCount {
                last_s,
                ..Default::default()
            },
        );
    }
    let sweep = |m: &KeyedMap<FailureCount>| {
        sweep_idle(
            m,
            &next,
            FAILURE_MAP_CAP,
            now_s.into(),
            &FAILURE_IDLE_S,
            |v| v.last_s.into(),
        )
    };
    sweep(&m);
    assert_eq!(
        m.len(),
        5,
        "only this second's entries survive a flood this large"
    );
    // Below the trigger size nothing is swept (amortised: no scan per failure).
    m.insert(
        u64::MAX,
        FailureCount {
            last_s: 1,
            ..Default::default()
        },
    );
    sweep(&m);
    assert_eq!(m.len(), 6);
}

#[test]
fn a_flood_within_one_second_empties_the_map_rather_than_pass_the_cap() {
    let m: KeyedMap<i64> = KeyedMap::default();
    let next = std::sync::atomic::AtomicUsize::new(SWEEP_MIN);
    for i in 0..(SUPPRESS_CAP as u64 + 1) {
        m.insert(i, 7_000);
    }
    sweep_idle(
        &m,
        &next,
        SUPPRESS_CAP,
        7_000,
        &[3_600_000, 600_000, 1_000, 0],
        |t| *t,
    );
    assert_eq!(m.len(), 0);
}

/// Bug: the suppression map was trimmed only of windows older than a day, and only once it
/// passed 500,000 entries. A flood of alerting logins from made-up accounts within a day grew
/// it without bound, and scanned all of it on every alert past the cap.
#[test]
fn suppression_windows_of_a_one_day_flood_stay_under_the_cap() {
    // The detector's longest window for the probe rules: an hour.
    let longest = 3_600_000;
    let d = Store::new(1_000_000, "Europe/Paris", longest);
    let start = parse_rfc3339("2025-11-03T00:00:00Z").unwrap();
    // One alert a millisecond for made-up accounts: 1.5 × the cap within 13 minutes.
    let n = SUPPRESS_CAP as u64 * 3 / 2;
    // Account keys as the detector makes them (hashes of names: the maps do not re-hash).
    let account = |i: u64| xxh3_64(&i.to_le_bytes());
    for i in 0..n {
        assert!(!d.suppressed("r", account(i), start + i as i64 / 1_000, longest));
        assert!(
            d.suppress.len() <= SUPPRESS_CAP,
            "{} entries after {i} alerts",
            d.suppress.len()
        );
    }
    // A window still open suppresses the repeat.
    assert!(d.suppressed("r", account(n - 1), start + n as i64 / 1_000, longest));
    // A rule without a window remembers nothing.
    let before = d.suppress.len();
    assert!(!d.suppressed("no_window", 1, start, 0));
    assert_eq!(d.suppress.len(), before);
}
