//! A storm of alerts — every login suddenly from a new country — trips
//! the blast-radius guard. Automatic revocations stop exactly at the limit, every later alert
//! still goes out without its revocation and says why, and exactly one critical alert per trip
//! tells humans, with the numbers; the trip holds until an operator resets it. A made-up tenant
//! spends only its own share; hourly and daily caps hold slow storms; forged timestamps do not
//! spread a storm; windows and trips survive a snapshot.

use std::sync::Arc;
use std::time::Duration;

use tocsin::alert::{alert_id, Alert, AlertGeo, Reason, ResponseAction, Severity};
use tocsin::metrics::Metrics;
use tocsin::respond::guard::{Guard, GuardLimits, GUARD_RULE};
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::Settings;
use tocsin::timefmt::rfc3339;

const T0: i64 = 1_762_817_462_000; // 2025-11-10T23:31:02Z

/// What the detector emits for a first-try login from a never-seen country.
fn new_country_alert(i: usize, tenant: &str, ts_ms: i64) -> Alert {
    let account = format!("dr.{i}@{tenant}");
    let session = format!("s-{i:04}");
    Alert {
        id: alert_id("stolen_password.new_country", &account, &session),
        rule: "stolen_password.new_country".into(),
        title: "Successful first-try login from a never-seen country".into(),
        severity: Severity::High,
        risk: 0.93,
        ts: rfc3339(ts_ms),
        detected_at: rfc3339(ts_ms),
        account,
        tenant: Some(tenant.into()),
        session: Some(session),
        ip: Some("203.0.113.7".parse().unwrap()),
        geo: Some(AlertGeo {
            country: Some("NG".into()),
            ..AlertGeo::default()
        }),
        device: None,
        reasons: vec![Reason {
            feature: "geo.new_country".into(),
            value: serde_json::json!("NG"),
            baseline: Some("FR 100% (40 logins)".into()),
            weight: Some(3.1),
            text: "first login from NG; usual countries FR".into(),
        }],
        actions: vec![ResponseAction::Alert, ResponseAction::RevokeSession],
        mitre: vec!["T1078".into()],
        events: vec![format!("ev_{i}")],
        mode: None,
    }
}

/// Runs alerts through the guard the way the pipeline does; returns them with the extras.
fn guard_all(g: &Guard, alerts: Vec<(Alert, i64)>) -> Vec<Alert> {
    let mut out = Vec::new();
    for (mut a, now) in alerts {
        let mut extra = Vec::new();
        g.check(&mut a, now, &mut extra);
        out.push(a);
        out.append(&mut extra);
    }
    out
}

#[test]
fn tenant_storm_stops_at_the_limit_with_one_explained_critical_alert() {
    let g = Guard::new(1_000, 10);
    let storm: Vec<_> = (0..60)
        .map(|i| {
            (
                new_country_alert(i, "cabinet-rouen", T0 + i as i64 * 2_000),
                T0 + i as i64 * 2_000,
            )
        })
        .collect();
    let out = guard_all(&g, storm);

    let detections: Vec<_> = out.iter().filter(|a| a.rule != GUARD_RULE).collect();
    assert_eq!(detections.len(), 60, "every detection still alerts");
    let revoking = detections.iter().filter(|a| a.wants_revocation()).count();
    assert_eq!(
        revoking, 10,
        "automatic revocations stop at the tenant limit"
    );
    for a in detections.iter().filter(|a| !a.wants_revocation()) {
        assert_eq!(a.actions, vec![ResponseAction::Alert]);
        let why = a
            .reasons
            .iter()
            .find(|r| r.feature == "guard.tenant_revocations_last_hour")
            .expect("a withheld revocation says why");
        assert_eq!(why.value, serde_json::json!(10));
        assert!(why.text.contains("limit 10"), "{}", why.text);
    }

    let trips: Vec<_> = out.iter().filter(|a| a.rule == GUARD_RULE).collect();
    assert_eq!(
        trips.len(),
        1,
        "one critical alert per trip, not one per refusal"
    );
    let trip = trips[0];
    assert_eq!(trip.severity, Severity::Critical);
    assert_eq!(trip.actions, vec![ResponseAction::Alert]);
    assert_eq!(trip.tenant.as_deref(), Some("cabinet-rouen"));
    assert!(
        trip.title.contains("10") && trip.title.contains("limit 10"),
        "{}",
        trip.title
    );
    assert!(trip.reasons[0].text.contains("reached the limit of 10"));

    // Deterministic: the same storm through a fresh guard gives the same trip alert id.
    let again = guard_all(
        &Guard::new(1_000, 10),
        (0..60)
            .map(|i| {
                (
                    new_country_alert(i, "cabinet-rouen", T0 + i as i64 * 2_000),
                    T0 + i as i64 * 2_000,
                )
            })
            .collect(),
    );
    let trip2 = again.iter().find(|a| a.rule == GUARD_RULE).unwrap();
    assert_eq!(trip.id, trip2.id);
}

/// `n` alerts of `tenant`, one every `step_ms` from `start`, numbered from `from`.
fn wave(tenant: &str, from: usize, n: usize, start: i64, step_ms: i64) -> Vec<(Alert, i64)> {
    (0..n)
        .map(|i| {
            let t = start + i as i64 * step_ms;
            (new_country_alert(from + i, tenant, t), t)
        })
        .collect()
}

fn admitted(out: &[Alert]) -> usize {
    out.iter().filter(|a| a.wants_revocation()).count()
}

fn trips(out: &[Alert]) -> Vec<&Alert> {
    out.iter().filter(|a| a.rule == GUARD_RULE).collect()
}

#[test]
fn global_storm_stays_tripped_until_an_operator_resets_it() {
    let g = Guard::new(20, 1_000);
    // 100 tenants, one new-country login each, within 50 seconds.
    let spread = |start: i64, from: usize| -> Vec<(Alert, i64)> {
        (0..100)
            .flat_map(|i| {
                wave(
                    &format!("tenant-{}", from + i),
                    from + i,
                    1,
                    start + i as i64 * 500,
                    1,
                )
            })
            .collect()
    };
    let first = guard_all(&g, spread(T0, 0));
    assert_eq!(admitted(&first), 20);
    let t1 = trips(&first);
    assert_eq!(t1.len(), 1);
    assert_eq!(t1[0].tenant, None, "a global trip is about all tenants");
    assert!(t1[0].reasons[0].text.contains("in the last minute"));
    assert!(t1[0].reasons[0].text.contains("POST /v1/guard/reset"));

    // Two minutes later the minute window has passed, but the guard stays tripped: no
    // revocation, and no second alert for the same trip.
    let second = guard_all(&g, spread(T0 + 120_000, 100));
    assert_eq!(admitted(&second), 0, "a trip does not re-open on its own");
    assert!(trips(&second).is_empty());
    let why = &second[0].reasons.last().unwrap().text;
    assert!(why.contains("until an operator resets it"), "{why}");

    // The operator acknowledges; the next storm is admitted up to the limit and trips anew.
    let done = g.reset();
    assert_eq!(
        done.global_tripped_since.as_deref(),
        Some(rfc3339(T0 + 20 * 500).as_str())
    );
    let third = guard_all(&g, spread(T0 + 240_000, 200));
    assert_eq!(admitted(&third), 20);
    let t3 = trips(&third);
    assert_eq!(t3.len(), 1, "a new trip, a new alert");
    assert_ne!(t1[0].id, t3[0].id);
}

#[test]
fn a_made_up_tenant_cannot_spend_the_other_tenants_budget() {
    let g = Guard::new(20, 1_000);
    // 60 bad alerts in a minute, all under one invented tenant.
    let flood = guard_all(&g, wave("made-up", 0, 60, T0, 1_000));
    assert_eq!(
        admitted(&flood),
        5,
        "the tenant's share: 25% of 20 a minute"
    );
    let t = trips(&flood);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].tenant.as_deref(), Some("made-up"));
    // Meanwhile every real tenant still gets its revocations, up to the global limit.
    let real: Vec<(Alert, i64)> = (0..15)
        .flat_map(|i| wave(&format!("real-{i}"), 100 + i, 1, T0 + 59_000, 1))
        .collect();
    let out = guard_all(&g, real);
    assert_eq!(
        admitted(&out),
        15,
        "20 a minute minus the made-up tenant's 5"
    );
    assert!(trips(&out).is_empty());
    // Alerts without a tenant share one bucket: they cannot dodge the shares either.
    let anonymous: Vec<(Alert, i64)> = wave("x", 300, 10, T0 + 600_000, 1_000)
        .into_iter()
        .map(|(mut a, t)| {
            a.tenant = None;
            (a, t)
        })
        .collect();
    let out = guard_all(&g, anonymous);
    assert_eq!(admitted(&out), 5);
    assert_eq!(trips(&out).len(), 1);
    assert_eq!(trips(&out)[0].tenant, None);
    assert!(
        trips(&out)[0].title.contains("for alerts without a tenant"),
        "{}",
        trips(&out)[0].title
    );
}

#[test]
fn hourly_and_daily_caps_hold_a_slow_storm() {
    let limits = GuardLimits {
        per_minute: 20,
        per_hour: 30,
        per_day: 50,
        per_tenant_per_hour: 1_000,
        tenant_share_percent: 100,
    };
    // One a minute never reaches the minute cap; the hour cap stops it at 30.
    let g = Guard::with_limits(limits);
    let out = guard_all(&g, wave("t", 0, 45, T0, 60_000));
    assert_eq!(admitted(&out), 30);
    assert!(trips(&out)[0].reasons[0].feature == "guard.revocations_last_hour");
    // One every 10 minutes stays under the hour cap; the day cap stops it at 50.
    let g = Guard::with_limits(limits);
    let out = guard_all(&g, wave("t", 0, 100, T0, 600_000));
    assert_eq!(admitted(&out), 50);
    assert!(trips(&out)[0].reasons[0].feature == "guard.revocations_last_day");
}

#[test]
fn windows_and_trips_survive_a_snapshot() {
    let g = Guard::new(20, 1_000);
    guard_all(&g, wave("made-up", 0, 10, T0, 1_000));
    guard_all(&g, wave("real", 100, 3, T0, 1_000));
    let mut bytes = Vec::new();
    g.write_snapshot(&mut bytes).unwrap();

    let restarted = Guard::new(20, 1_000);
    restarted.read_snapshot(&mut bytes.as_slice()).unwrap();
    assert!(restarted.is_tripped());
    // Still tripped for the made-up tenant, and the real tenant's 3 still count.
    let out = guard_all(&restarted, wave("made-up", 50, 1, T0 + 20_000, 1));
    assert_eq!(admitted(&out), 0);
    assert!(trips(&out).is_empty(), "the trip was already announced");
    let out = guard_all(&restarted, wave("real", 200, 5, T0 + 20_000, 1));
    assert_eq!(
        admitted(&out),
        2,
        "5 a minute for one tenant, 3 already used"
    );
    let mut again = Vec::new();
    restarted.write_snapshot(&mut again).unwrap();
    assert!(restarted.read_snapshot(&mut &b"not json"[..]).is_err());
}

#[test]
fn forged_timestamps_cannot_spread_a_storm_past_the_caps() {
    let g = Guard::new(20, 1_000);
    let now = T0;
    // 100 alerts within a second of the engine's clock, their events dated a day apart into
    // the past and the future, under 100 tenants.
    let mut out = Vec::new();
    for i in 0..100usize {
        let forged = now + (i as i64 - 50) * 86_400_000;
        let mut a = new_country_alert(i, &format!("tenant-{i}"), forged);
        let mut extra = Vec::new();
        g.check_at(&mut a, forged, now + i as i64 * 10, &mut extra);
        out.push(a);
        out.append(&mut extra);
    }
    assert_eq!(
        admitted(&out),
        20,
        "the minute cap holds whatever the events say"
    );
    assert_eq!(trips(&out).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responder_revokes_only_what_the_guard_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::parse(
        &format!("[state]\ndir = {:?}\n", dir.path().display().to_string()),
        "t.toml",
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let responder = Responder::start(ResponderSettings::of(&settings), metrics.clone(), async {
        let _ = stopped.await;
    })
    .unwrap();

    let g = Guard::new(1_000, 10);
    let storm: Vec<_> = (0..40)
        .map(|i| {
            (
                new_country_alert(i, "cabinet-rouen", T0 + i as i64 * 1_000),
                T0 + i as i64 * 1_000,
            )
        })
        .collect();
    let out = guard_all(&g, storm);
    let total = out.len();
    for a in out {
        responder.submit(a).await.unwrap();
    }
    let recent = responder.recent_alerts();
    for _ in 0..500 {
        if recent.len() == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        recent.len(),
        41,
        "40 detections and one guard alert are listed"
    );
    assert_eq!(responder.revocations().len(), 10);
    let text = metrics.render();
    assert!(text.contains("tocsin_guard_trips_total 1"), "{text}");
    assert!(
        text.contains("tocsin_revocations_total{origin=\"auto\"} 10"),
        "{text}"
    );
    let _ = stop.send(());
    responder.join().await;
}
