//! A storm of alerts — every login suddenly from a new country — trips
//! the blast-radius guard. Automatic revocations stop exactly at the limit, every later alert
//! still goes out without its revocation and says why, and exactly one critical alert per trip
//! window tells humans, with the numbers.

use std::sync::Arc;
use std::time::Duration;

use tocsin::alert::{alert_id, Alert, AlertGeo, Reason, ResponseAction, Severity};
use tocsin::metrics::Metrics;
use tocsin::respond::guard::{Guard, GUARD_RULE};
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
        "one critical alert per trip window, not one per refusal"
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

#[test]
fn global_storm_trips_once_per_minute_window() {
    let g = Guard::new(20, 1_000);
    // 100 tenants, one new-country login each, within 50 seconds; then the same two minutes later.
    let wave = |start: i64, from: usize| -> Vec<(Alert, i64)> {
        (0..100)
            .map(|i| {
                let t = start + i as i64 * 500;
                (
                    new_country_alert(from + i, &format!("tenant-{}", from + i), t),
                    t,
                )
            })
            .collect()
    };
    let first = guard_all(&g, wave(T0, 0));
    assert_eq!(first.iter().filter(|a| a.wants_revocation()).count(), 20);
    let trips: Vec<_> = first.iter().filter(|a| a.rule == GUARD_RULE).collect();
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].tenant, None, "a global trip is about all tenants");
    assert!(trips[0].reasons[0].text.contains("in the last minute"));

    let second = guard_all(&g, wave(T0 + 120_000, 100));
    assert_eq!(second.iter().filter(|a| a.wants_revocation()).count(), 20);
    let trips2: Vec<_> = second.iter().filter(|a| a.rule == GUARD_RULE).collect();
    assert_eq!(trips2.len(), 1, "a new window, a new alert");
    assert_ne!(trips[0].id, trips2[0].id);
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
