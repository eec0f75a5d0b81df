//! Detector behaviour with hand-built enrichment: learning hold-back, feedback, snapshots,
//! suppression, determinism, memory.

use std::sync::Arc;

use super::*;
use crate::baseline::account::ACCOUNT_BYTES_BOUND;
use crate::baseline::{name_key64, AccountBaseline};
use crate::enrich::{AddrClass, Country, DeviceInfo, DeviceType, GeoInfo};
use crate::event::{Action, Outcome};
use crate::timefmt::parse_rfc3339;
use xxhash_rust::xxh3::xxh3_64;

/// Probe rules: one per feature under test, so a test reads a feature by whether its rule fired.
fn probe_rules() -> (tempfile::TempDir, crate::settings::RulesSettings) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("stable")).unwrap();
    let rules = [
        (
            "new_device",
            "high",
            "login.success && account.logins >= 5 && device.new",
            "0s",
        ),
        (
            "new_asn",
            "low",
            "login.success && account.logins >= 5 && asn.new",
            "0s",
        ),
        (
            "risky_export",
            "critical",
            "access && session.risk >= 0.5 && session.exports >= 20",
            "0s",
        ),
        ("any_login", "low", "login.success", "1h"),
    ];
    for (id, sev, when, suppress) in rules {
        std::fs::write(
            dir.path().join(format!("stable/{id}.toml")),
            format!(
                "id = \"probe.{id}\"\nname = \"{id}\"\nseverity = \"{sev}\"\nmitre = []\nwhen = \"{when}\"\nsuppress = \"{suppress}\"\nfalse_positives = [\"probe\"]\n"
            ),
        )
        .unwrap();
    }
    let settings = crate::settings::RulesSettings {
        dir: Some(dir.path().to_path_buf()),
        maturity: vec!["stable".into()],
    };
    (dir, settings)
}

fn detector() -> (tempfile::TempDir, Detector) {
    let (dir, rules) = probe_rules();
    let d = Detector::from_settings(&rules, &DetectSettings::default()).unwrap();
    (dir, d)
}

fn enr(country: &str, city: &str, ll: (f32, f32), asn: u32, fp: u64, browser: &str) -> Enriched {
    Enriched {
        geo: GeoInfo {
            class: AddrClass::Public,
            country: Country::parse(country),
            city: Some(Arc::from(city)),
            lat_lon: Some(ll),
            tz: Some(Arc::from("Europe/Paris")),
            asn: Some(asn),
            as_org: Some(Arc::from("AS org")),
        },
        device: DeviceInfo {
            fingerprint: fp,
            explicit_id: false,
            browser: Arc::from(browser),
            os: Arc::from("Windows"),
            kind: DeviceType::Desktop,
        },
    }
}

fn home() -> Enriched {
    enr("FR", "Rouen", (49.44, 1.10), 3215, 77, "Chrome")
}

fn attacker() -> Enriched {
    let mut e = enr("NL", "Amsterdam", (52.37, 4.90), 14061, 999, "Firefox");
    e.device.os = Arc::from("Linux");
    e
}

fn login<'a>(ts: &str, ip: &str, session: &'a str) -> Event<'a> {
    let mut e = Event::new(
        parse_rfc3339(ts).unwrap(),
        EventKind::Login,
        "dr.martin@cabinet-rouen",
    );
    e.outcome = Some(Outcome::Success);
    e.ip = Some(ip.parse().unwrap());
    e.session = Some(session.into());
    e.tenant = Some("cabinet-rouen".into());
    e
}

fn export<'a>(ts: &str, ip: &str, session: &'a str, count: u32) -> Event<'a> {
    let mut e = Event::new(
        parse_rfc3339(ts).unwrap(),
        EventKind::Access,
        "dr.martin@cabinet-rouen",
    );
    e.ip = Some(ip.parse().unwrap());
    e.session = Some(session.into());
    e.action = Some(Action::Export);
    e.count = count;
    e
}

fn run(d: &Detector, ev: &Event<'_>, enr: &Enriched) -> Vec<Alert> {
    let mut out = Vec::new();
    d.process(ev, enr, ev.ts_ms, &mut out);
    out
}

fn fired(alerts: &[Alert], rule: &str) -> bool {
    alerts.iter().any(|a| a.rule == rule)
}

/// Ten workday logins from the practice, one a day.
fn history(d: &Detector) {
    for day in 3..13 {
        let ts = format!("2025-11-{day:02}T08:30:00Z");
        run(d, &login(&ts, "81.250.12.34", "s-h"), &home());
    }
}

#[test]
fn one_flagged_login_does_not_teach_the_baseline() {
    let (_dir, d) = detector();
    history(&d);
    let a1 = run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x1"),
        &attacker(),
    );
    assert!(fired(&a1, "probe.new_device"), "{a1:?}");
    // The attacker again, an hour later: the device is still new, not learned from the first.
    let a2 = run(
        &d,
        &login("2025-11-14T00:31:00Z", "188.166.23.7", "s-x2"),
        &attacker(),
    );
    assert!(fired(&a2, "probe.new_device"), "{a2:?}");
    let view = d.account_view("dr.martin@cabinet-rouen").unwrap();
    assert_eq!(view.logins, 10, "{view:?}");
    assert!(!view.pending.is_empty(), "{view:?}");
    assert_eq!(view.countries.len(), 1, "{view:?}");
}

#[test]
fn a_held_back_device_seen_again_on_a_later_day_without_alert_is_learned() {
    let (_dir, d) = detector();
    history(&d);
    let mut laptop = home();
    laptop.device.fingerprint = 4242;
    assert!(fired(
        &run(
            &d,
            &login("2025-11-13T08:30:00Z", "81.250.12.34", "s-n1"),
            &laptop
        ),
        "probe.new_device"
    ));
    // Next day, same new laptop: still flagged (the first sighting was held back)...
    let second = run(
        &d,
        &login("2025-11-14T08:30:00Z", "81.250.12.34", "s-n2"),
        &laptop,
    );
    assert!(fired(&second, "probe.new_device"));
    // ...an alert each time keeps it out. Feedback is what releases it at once.
    d.feedback(&second[0], Verdict::FalsePositive).unwrap();
    let third = run(
        &d,
        &login("2025-11-14T09:30:00Z", "81.250.12.34", "s-n3"),
        &laptop,
    );
    assert!(!fired(&third, "probe.new_device"), "{third:?}");
}

#[test]
fn pending_value_is_promoted_by_a_later_quiet_login() {
    let (_dir, d) = detector();
    history(&d);
    // Flagged login from a new ASN with a new device (high): ASN 5410 held back.
    let mut phone = enr("FR", "Paris", (48.85, 2.35), 5410, 555, "Chrome");
    run(
        &d,
        &login("2025-11-13T08:30:00Z", "37.160.1.1", "s-p1"),
        &phone,
    );
    // A later day, same ASN but the usual device: no high alert, so ASN 5410 is promoted.
    phone.device.fingerprint = 77;
    let quiet = run(
        &d,
        &login("2025-11-14T08:30:00Z", "37.160.1.1", "s-p2"),
        &phone,
    );
    assert!(
        fired(&quiet, "probe.new_asn"),
        "still new at this login: {quiet:?}"
    );
    let after = run(
        &d,
        &login("2025-11-14T09:30:00Z", "37.160.1.1", "s-p3"),
        &phone,
    );
    assert!(!fired(&after, "probe.new_asn"), "{after:?}");
}

#[test]
fn confirmed_compromise_purges_what_the_alert_showed() {
    let (_dir, d) = detector();
    history(&d);
    // The attacker slipped in once without a high alert (device known: only new ASN, low).
    let mut sneaky = attacker();
    sneaky.device.fingerprint = 77;
    sneaky.device.browser = Arc::from("Chrome");
    sneaky.device.os = Arc::from("Windows");
    let a = run(
        &d,
        &login("2025-11-13T09:00:00Z", "188.166.23.7", "s-s1"),
        &sneaky,
    );
    let low = a
        .iter()
        .find(|a| a.rule == "probe.new_asn")
        .unwrap()
        .clone();
    let again = run(
        &d,
        &login("2025-11-13T10:00:00Z", "188.166.23.7", "s-s2"),
        &sneaky,
    );
    assert!(
        !fired(&again, "probe.new_asn"),
        "learned after one quiet login"
    );
    d.feedback(&low, Verdict::ConfirmedCompromise).unwrap();
    let purged = run(
        &d,
        &login("2025-11-13T11:00:00Z", "188.166.23.7", "s-s3"),
        &sneaky,
    );
    assert!(fired(&purged, "probe.new_asn"), "{purged:?}");
}

#[test]
fn a_risky_login_lowers_the_bar_for_its_exports() {
    let (_dir, d) = detector();
    history(&d);
    run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x"),
        &attacker(),
    );
    let a = run(
        &d,
        &export("2025-11-13T23:33:00Z", "188.166.23.7", "s-x", 25),
        &attacker(),
    );
    let alert = a
        .iter()
        .find(|a| a.rule == "probe.risky_export")
        .expect("fired");
    assert!(alert.risk >= 0.5, "{alert:?}");
    assert_eq!(alert.session.as_deref(), Some("s-x"));
    // The same export in a familiar session does not fire.
    run(
        &d,
        &login("2025-11-14T08:30:00Z", "81.250.12.34", "s-ok"),
        &home(),
    );
    let b = run(
        &d,
        &export("2025-11-14T08:33:00Z", "81.250.12.34", "s-ok", 25),
        &home(),
    );
    assert!(!fired(&b, "probe.risky_export"), "{b:?}");
}

#[test]
fn suppression_keeps_one_alert_per_window() {
    let (_dir, d) = detector();
    let a = run(
        &d,
        &login("2025-11-03T08:30:00Z", "81.250.12.34", "s1"),
        &home(),
    );
    let b = run(
        &d,
        &login("2025-11-03T08:50:00Z", "81.250.12.34", "s2"),
        &home(),
    );
    let c = run(
        &d,
        &login("2025-11-03T09:40:00Z", "81.250.12.34", "s3"),
        &home(),
    );
    assert!(fired(&a, "probe.any_login"));
    assert!(!fired(&b, "probe.any_login"), "within the 1h window");
    assert!(fired(&c, "probe.any_login"), "after the window");
}

#[test]
fn snapshot_round_trip_keeps_every_decision() {
    let (_dir, d) = detector();
    history(&d);
    run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x1"),
        &attacker(),
    );
    let mut bytes = Vec::new();
    d.write_snapshot(&mut bytes).unwrap();
    let (_dir2, restored) = detector();
    restored.read_snapshot(&mut bytes.as_slice()).unwrap();
    assert_eq!(
        d.account_view("dr.martin@cabinet-rouen"),
        restored.account_view("dr.martin@cabinet-rouen")
    );
    let next = login("2025-11-14T00:31:00Z", "188.166.23.7", "s-x2");
    assert_eq!(
        run(&d, &next, &attacker()),
        run(&restored, &next, &attacker())
    );
    // Equal state, equal bytes.
    let mut again = Vec::new();
    restored.write_snapshot(&mut again).unwrap();
    let mut original = Vec::new();
    d.write_snapshot(&mut original).unwrap();
    assert_eq!(again, original);
}

/// Accepts `room` bytes, then fails as a full disk does.
struct FullDisk {
    room: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn snapshot_write_failure_is_the_writers_error() {
    let (_dir, d) = detector();
    history(&d);
    let mut whole = Vec::new();
    d.write_snapshot(&mut whole).unwrap();
    // Failing in the header, and part-way through the body (postcard's own writes).
    for room in [4, 12, whole.len() / 2, whole.len() - 1] {
        let err = d.write_snapshot(&mut FullDisk { room }).unwrap_err();
        match err {
            SnapshotError::Io(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "room {room}");
                assert!(e.to_string().contains("No space left"), "room {room}: {e}");
            }
            other => panic!("room {room}: expected the I/O error, got {other}"),
        }
    }
    assert!(d
        .write_snapshot(&mut FullDisk { room: whole.len() })
        .is_ok());
}

#[test]
fn snapshot_from_another_version_is_refused_and_state_kept() {
    let (_dir, d) = detector();
    history(&d);
    let mut bytes = Vec::new();
    d.write_snapshot(&mut bytes).unwrap();
    bytes[8] = 99;
    let err = d.read_snapshot(&mut bytes.as_slice()).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Version { found: 99, .. }),
        "{err}"
    );
    assert!(matches!(
        d.read_snapshot(&mut &b"not a snapshot"[..]),
        Err(SnapshotError::BadMagic)
    ));
    assert_eq!(
        d.account_view("dr.martin@cabinet-rouen").unwrap().logins,
        10
    );
}

#[test]
fn same_events_give_byte_identical_alerts() {
    let out = || {
        let (_dir, d) = detector();
        history(&d);
        let mut all = Vec::new();
        all.extend(run(
            &d,
            &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x"),
            &attacker(),
        ));
        all.extend(run(
            &d,
            &export("2025-11-13T23:33:00Z", "188.166.23.7", "s-x", 250),
            &attacker(),
        ));
        all.iter().map(Alert::to_json).collect::<Vec<_>>()
    };
    let a = out();
    assert!(!a.is_empty());
    assert_eq!(a, out());
}

#[test]
fn every_reason_carries_a_number() {
    let (_dir, d) = detector();
    history(&d);
    let a = run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x"),
        &attacker(),
    );
    let alert = a.iter().find(|a| a.rule == "probe.new_device").unwrap();
    assert!(!alert.reasons.is_empty());
    for r in &alert.reasons {
        let has_number = r.text.chars().any(|c| c.is_ascii_digit())
            || r.baseline
                .as_deref()
                .is_some_and(|b| b.chars().any(|c| c.is_ascii_digit()));
        assert!(has_number, "{r:?}");
    }
}

#[test]
fn account_state_stays_within_its_documented_bound() {
    let (_dir, d) = detector();
    let e = home();
    let t0 = parse_rfc3339("2025-11-03T08:30:00Z").unwrap();
    for i in 0..100_000u32 {
        let name = format!("dr.{i}@cabinet-{}", i % 5000);
        let mut ev = Event::new(t0 + i as i64 * 1000, EventKind::Login, name.as_str());
        ev.outcome = Some(Outcome::Success);
        ev.ip = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
            0x51FA_0000 + i,
        )));
        let mut out = Vec::new();
        d.process(&ev, &e, ev.ts_ms, &mut out);
    }
    let stats = d.stats();
    assert_eq!(stats.accounts, 100_000);
    let per_account = stats.state_bytes as f64 / stats.accounts as f64;
    println!(
        "{} accounts, {} bytes of state, {:.0} bytes/account (AccountBaseline {} bytes, bound {})",
        stats.accounts,
        stats.state_bytes,
        per_account,
        std::mem::size_of::<AccountBaseline>(),
        ACCOUNT_BYTES_BOUND
    );
    assert!(std::mem::size_of::<AccountBaseline>() <= ACCOUNT_BYTES_BOUND);
    // The baseline plus its map entry; shared state (population sketches, names) amortised.
    assert!(
        per_account <= (ACCOUNT_BYTES_BOUND + 64) as f64,
        "{per_account}"
    );
}

#[test]
fn rules_are_skipped_only_on_event_kinds_they_cannot_fire_on() {
    let (_dir, d) = detector();
    let bit = |k: EventKind| 1u8 << (k as u8);
    for (rule, &kinds) in d.rules.rules.iter().zip(&d.rule_kinds) {
        let want = if rule.when_src.starts_with("login.success") {
            bit(EventKind::Login)
        } else if rule.when_src.starts_with("access") {
            bit(EventKind::Access)
        } else {
            u8::MAX
        };
        assert_eq!(kinds, want, "{}", rule.id);
    }
    // The shipped rules: each opens with a conjunct that names its kind.
    let set = rules::load_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules")),
        &["stable".into(), "incubating".into()],
        FEATURES,
    )
    .unwrap();
    let shipped = Detector::with_rules(set, &DetectSettings::default());
    for (rule, &kinds) in shipped.rules.rules.iter().zip(&shipped.rule_kinds) {
        assert_eq!(
            kinds.count_ones(),
            1,
            "{} can fire on more than one kind",
            rule.id
        );
    }
}

#[test]
fn values_held_back_live_outside_the_baseline_and_survive_a_snapshot() {
    let (_dir, d) = detector();
    history(&d);
    run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x1"),
        &attacker(),
    );
    let key = name_key64("dr.martin@cabinet-rouen");
    let held = d.store.pending_of(key).unwrap();
    assert!(!held.is_empty());
    let mut bytes = Vec::new();
    d.write_snapshot(&mut bytes).unwrap();
    let (_dir2, restored) = detector();
    restored.read_snapshot(&mut bytes.as_slice()).unwrap();
    assert_eq!(restored.store.pending_of(key), Some(held));
    // Only accounts with something held back have a set.
    assert_eq!(restored.store.pending_len(), 1);
    let mut again = Vec::new();
    restored.write_snapshot(&mut again).unwrap();
    assert_eq!(again, bytes);
}

#[test]
fn feedback_after_a_restart_reads_the_alert_itself() {
    let (_dir, d) = detector();
    history(&d);
    let a = run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x1"),
        &attacker(),
    );
    let alert = a
        .iter()
        .find(|a| a.rule == "probe.new_device")
        .unwrap()
        .clone();
    let mut bytes = Vec::new();
    d.write_snapshot(&mut bytes).unwrap();
    let (_dir2, restarted) = detector();
    restarted.read_snapshot(&mut bytes.as_slice()).unwrap();
    restarted.feedback(&alert, Verdict::FalsePositive).unwrap();
    let next = run(
        &restarted,
        &login("2025-11-14T08:31:00Z", "188.166.23.7", "s-x2"),
        &attacker(),
    );
    assert!(!fired(&next, "probe.new_device"), "{next:?}");
}

#[test]
fn feedback_on_someone_elses_alert_is_refused() {
    let (_dir, d) = detector();
    history(&d);
    let a = run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x1"),
        &attacker(),
    );
    let mut alert = a[0].clone();
    alert.account = "dr.other@elsewhere".into();
    assert!(d.feedback(&alert, Verdict::FalsePositive).is_err());
}

#[test]
fn idle_sessions_expire_and_their_volume_is_learned() {
    let (_dir, d) = detector();
    history(&d);
    run(
        &d,
        &login("2025-11-13T08:30:00Z", "81.250.12.34", "s-open"),
        &home(),
    );
    run(
        &d,
        &export("2025-11-13T08:35:00Z", "81.250.12.34", "s-open", 3),
        &home(),
    );
    let before = d.stats().state_bytes;
    assert_eq!(
        d.expire_idle(parse_rfc3339("2025-11-13T12:00:00Z").unwrap()),
        0
    );
    assert_eq!(
        d.expire_idle(parse_rfc3339("2025-11-14T08:36:00Z").unwrap()),
        1
    );
    assert!(d.stats().state_bytes < before);
    let view = d.account_view("dr.martin@cabinet-rouen").unwrap();
    assert_eq!(view.volume.sessions, 1, "{view:?}");
    assert_eq!(view.open_sessions, 0, "{view:?}");
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    fn kind_of(i: u8) -> EventKind {
        [
            EventKind::Login,
            EventKind::Mfa,
            EventKind::Access,
            EventKind::Logout,
            EventKind::PasswordChange,
        ][i as usize % 5]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the events (times out of order or at the epoch's ends, odd counts, any
        /// address, places at the poles, no geo), processing never panics and every alert
        /// serialises with finite numbers.
        #[test]
        fn any_event_sequence_is_processed(
            evs in proptest::collection::vec(
                (any::<i64>(), any::<u8>(), any::<bool>(), any::<u32>(), any::<u32>(),
                 any::<u8>(), any::<u8>(), -90.0f32..90.0, -180.0f32..180.0, any::<bool>()),
                1..40)
        ) {
            let (_dir, d) = detector();
            for (ts, kind, ok, ip, count, acct, sess, lat, lon, geo) in evs {
                let account = format!("a{}", acct % 3);
                let session = format!("s{}", sess % 4);
                let mut ev = Event::new(ts / 1000, kind_of(kind), account.as_str());
                ev.outcome = Some(if ok { Outcome::Success } else { Outcome::Failure });
                ev.ip = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(ip)));
                ev.session = Some(session.as_str().into());
                ev.tenant = Some("t".into());
                ev.action = Some(Action::ALL[(count % 6) as usize]);
                ev.count = count.max(1);
                let mut e = if geo { home() } else { Enriched::default() };
                e.geo.lat_lon = geo.then_some((lat, lon));
                e.device.fingerprint = (count % 3) as u64;
                let mut out = Vec::new();
                d.process(&ev, &e, ev.ts_ms, &mut out);
                for a in &out {
                    prop_assert!(a.risk.is_finite());
                    let json = a.to_json();
                    prop_assert!(!json.contains("NaN") && !json.contains("inf"));
                }
            }
            d.expire_idle(i64::MAX / 2);
            let _ = d.account_view("a0");
        }
    }
}

/// A state with something in every map: baselines, held-back values, open sessions, failure
/// counters, a tenant, names, suppression windows.
fn rich_state() -> (tempfile::TempDir, Detector) {
    let (dir, d) = detector();
    history(&d);
    run(
        &d,
        &export("2025-11-12T08:35:00Z", "81.250.12.34", "s-h", 12),
        &home(),
    );
    run(
        &d,
        &login("2025-11-13T23:31:00Z", "188.166.23.7", "s-x1"),
        &attacker(),
    );
    run(
        &d,
        &export("2025-11-13T23:33:00Z", "188.166.23.7", "s-x1", 250),
        &attacker(),
    );
    let mut failed = login("2025-11-13T23:40:00Z", "188.166.23.8", "s-x2");
    failed.outcome = Some(Outcome::Failure);
    run(&d, &failed, &attacker());
    // A second account that travels: shares that are not whole, a usual place that moves.
    for (day, place) in [
        (3, 0),
        (4, 0),
        (5, 1),
        (6, 0),
        (7, 2),
        (8, 0),
        (10, 1),
        (11, 0),
    ] {
        let ts = format!("2025-11-{day:02}T{:02}:{day:02}:00Z", 7 + day % 5);
        let mut ev = login(&ts, ["81.250.12.34", "91.12.0.9", "62.4.3.2"][place], "s-t");
        ev.account = "dr.durand@cabinet-rouen".into();
        let e = [
            home(),
            enr("DE", "Berlin", (52.52, 13.40), 3320, 77, "Chrome"),
            enr("BE", "Liège", (50.63, 5.57), 5432, 78, "Edge"),
        ][place]
            .clone();
        run(&d, &ev, &e);
    }
    (dir, d)
}

/// Snapshot bytes are a file format: checkpoints written by earlier builds must keep loading,
/// so the same state must keep writing the same bytes. A deliberate change of a state type
/// bumps `SNAPSHOT_VERSION` (with an upgrade step) and these numbers.
#[test]
fn snapshot_bytes_keep_their_format() {
    let (_dir, d) = rich_state();
    let mut bytes = Vec::new();
    d.write_snapshot(&mut bytes).unwrap();
    assert_eq!(
        (bytes.len(), xxh3_64(&bytes)),
        // Version 4: open sessions keep their login's device kind, their latest event's
        // network and their latest event from another network; accounts their leaked-password
        // mark (versions 1 to 3 load through upgrade steps).
        (34_350, 0x5d45_11a0_4b82_835d),
        "the snapshot format changed"
    );
    let (_dir2, restored) = detector();
    restored.read_snapshot(&mut bytes.as_slice()).unwrap();
    let mut again = Vec::new();
    restored.write_snapshot(&mut again).unwrap();
    assert_eq!(again, bytes);
}

/// The account view is the API's JSON (`GET /v1/accounts/{account}`): keys in alphabetical
/// order at every level, shares as the `f32` they are computed in, widened to `f64`.
#[test]
fn account_view_json_keeps_its_shape() {
    let (_dir, d) = rich_state();
    let json = |account: &str| serde_json::to_string(&d.account_view(account)).unwrap();
    assert_eq!(
        json("dr.martin@cabinet-rouen"),
        r#"{"account":"dr.martin@cabinet-rouen","asns":[{"as_org":"AS org","asn":3215,"last_seen":"2025-11-12","share":1.0}],"browsers":[{"browser":"Chrome","share":1.0}],"cities":[{"city":"Rouen","last_seen":"2025-11-12","share":1.0}],"countries":[{"country":"FR","last_seen":"2025-11-12","share":1.0}],"devices":[{"device":"0000004d","last_seen":"2025-11-12","share":1.0}],"first_seen":"2025-11-03","hours":{"weekday":[0,0,0,0,0,0,0,0,0,8,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"weekend":[0,0,0,0,0,0,0,0,0,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},"last_login":{"asn":3215,"country":"FR","ts":"2025-11-12T08:30:00Z"},"learning":false,"logins":10,"networks":1,"open_sessions":1,"oses":[{"os":"Windows","share":1.0}],"pending":[{"kind":"country","since":"2025-11-13"},{"kind":"city","since":"2025-11-13"},{"kind":"asn","since":"2025-11-13"},{"kind":"prefix","since":"2025-11-13"},{"kind":"device","since":"2025-11-13"}],"time_zone":"Europe/Paris","volume":{"by_action":{"export":{"p99_per_session":12.0,"usual_per_session":12.0},"print":{"p99_per_session":0.0,"usual_per_session":0.0},"read":{"p99_per_session":0.0,"usual_per_session":0.0},"search":{"p99_per_session":0.0,"usual_per_session":0.0}},"sessions":1}}"#
    );
    assert_eq!(
        json("dr.durand@cabinet-rouen"),
        r#"{"account":"dr.durand@cabinet-rouen","asns":[{"as_org":"AS org","asn":3215,"last_seen":"2025-11-11","share":0.6209999918937683},{"as_org":"AS org","asn":3320,"last_seen":"2025-11-10","share":0.2529999911785126},{"as_org":"AS org","asn":5432,"last_seen":"2025-11-07","share":0.12600000202655792}],"browsers":[{"browser":"Chrome","share":0.875},{"browser":"Edge","share":0.125}],"cities":[{"city":"Rouen","last_seen":"2025-11-11","share":0.6209999918937683},{"city":"Berlin","last_seen":"2025-11-10","share":0.2529999911785126},{"city":"Liège","last_seen":"2025-11-07","share":0.12600000202655792}],"countries":[{"country":"FR","last_seen":"2025-11-11","share":0.6209999918937683},{"country":"DE","last_seen":"2025-11-10","share":0.2529999911785126},{"country":"BE","last_seen":"2025-11-07","share":0.12600000202655792}],"devices":[{"device":"0000004d","last_seen":"2025-11-11","share":0.875},{"device":"0000004e","last_seen":"2025-11-07","share":0.125}],"first_seen":"2025-11-03","hours":{"weekday":[0,0,0,0,0,0,0,0,2,2,1,1,1,0,0,0,0,0,0,0,0,0,0,0],"weekend":[0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0]},"last_login":{"asn":3215,"country":"FR","ts":"2025-11-11T08:11:00Z"},"learning":false,"logins":8,"networks":3,"open_sessions":1,"oses":[{"os":"Windows","share":1.0}],"pending":[],"time_zone":"Europe/Paris","volume":{"by_action":{"export":{"p99_per_session":null,"usual_per_session":null},"print":{"p99_per_session":null,"usual_per_session":null},"read":{"p99_per_session":null,"usual_per_session":null},"search":{"p99_per_session":null,"usual_per_session":null}},"sessions":0}}"#
    );
    assert_eq!(json("nobody"), "null");
}
