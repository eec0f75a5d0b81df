//! Regression tests for bugs found by fuzzing, property tests and review of the hardening
//! bounds, each named after the bug it pins. A test marked `#[ignore]` documents a bug that is
//! not fixed yet: the reason says who owns the fix; remove the `#[ignore]` with the fix.

use std::path::Path;

use serde_json::Value;
use tocsin::source::decode::{self, native, Decoded, Format};

/// The first record of `fixture` (a JSON-lines file under `testdata/formats/`) that decodes to
/// an event in `format`, with the event's account.
fn record_with_event(format: Format, fixture: &str) -> (Value, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/formats")
        .join(format.as_str())
        .join(fixture);
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    for line in text.lines() {
        let mut account = None;
        decode::decode(format, line.as_bytes(), &mut |r| {
            if let Ok(Decoded::Event(e)) = r {
                account.get_or_insert_with(|| e.account.into_owned());
            }
        });
        if let Some(account) = account {
            return (
                serde_json::from_str(line).expect("fixture is JSON"),
                account,
            );
        }
    }
    panic!("no record of {} decodes to an event", path.display());
}

/// Replaces every string leaf equal to `from` with `to`.
fn replace_strings(v: &mut Value, from: &str, to: &str) -> usize {
    match v {
        Value::String(s) if s == from => {
            *s = to.to_owned();
            1
        }
        Value::Array(items) => items.iter_mut().map(|i| replace_strings(i, from, to)).sum(),
        Value::Object(map) => map.values_mut().map(|i| replace_strings(i, from, to)).sum(),
        _ => 0,
    }
}

/// Bug: the vendor decoders (ocsf, ecs, okta, entra, cloudtrail) enforce only the 64 KiB record
/// bound, not the per-field bounds the native decoder applies (256 bytes, 1 KiB for a user
/// agent). A producer can thus send a ~64 KiB account name (or session, tenant...) that flows
/// into alerts, webhook bodies, Kafka keys, the revocation store and the API's recent alerts,
/// where every other part of Tocsin assumes fields of native size. Baselines are keyed by a hash
/// of the name, so they are not affected.
#[test]
fn vendor_decoders_bound_field_lengths() {
    let cases = [
        (Format::Ocsf, "authentication.jsonl"),
        (Format::Ecs, "authentication.jsonl"),
        (Format::Okta, "takeover.json"),
        (Format::Entra, "takeover.json"),
        (Format::Cloudtrail, "records.jsonl"),
    ];
    let long = "a".repeat(native::MAX_FIELD_BYTES * 4);
    let mut unbounded = Vec::new();
    for (format, fixture) in cases {
        let (mut record, account) = if fixture.ends_with(".json") {
            document_record_with_event(format, fixture)
        } else {
            record_with_event(format, fixture)
        };
        assert!(replace_strings(&mut record, &account, &long) > 0);
        let bytes = serde_json::to_vec(&record).expect("serialises");
        decode::decode(format, &bytes, &mut |r| {
            if let Ok(Decoded::Event(e)) = r {
                if e.account.len() > native::MAX_FIELD_BYTES && !unbounded.contains(&format) {
                    unbounded.push(format);
                }
            }
        });
    }
    assert!(
        unbounded.is_empty(),
        "accounts longer than {} bytes accepted by {unbounded:?}",
        native::MAX_FIELD_BYTES
    );
}

/// Like [`record_with_event`] for a whole-document fixture (an array or a `Records`/`value`
/// object): the first element that decodes to an event.
fn document_record_with_event(format: Format, fixture: &str) -> (Value, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/formats")
        .join(format.as_str())
        .join(fixture);
    let bytes = std::fs::read(&path).expect("fixture readable");
    let mut found = None;
    decode::document::for_each_record(&bytes, &mut |_, element| {
        if found.is_some() {
            return;
        }
        let mut account = None;
        decode::decode(format, element, &mut |r| {
            if let Ok(Decoded::Event(e)) = r {
                account.get_or_insert_with(|| e.account.into_owned());
            }
        });
        if let Some(account) = account {
            found = Some((serde_json::from_slice(element).expect("JSON"), account));
        }
    })
    .expect("fixture is a document");
    found.unwrap_or_else(|| panic!("no element of {} decodes to an event", path.display()))
}

/// The account budget the hardening requires: idle accounts are evicted so that a flood
/// of distinct names cannot grow detection state without limit. No such knob exists yet; this
/// is the order of magnitude of a large medical SaaS (23,000 doctors, plus staff) with headroom.
const ACCOUNT_BUDGET: usize = 200_000;

/// Bug: detection state has no account budget. Every distinct account name that logs in once
/// gets a baseline (`Detector::accounts`, a `DashMap` with no cap or eviction), so a producer
/// that sends 1,000,000 successful logins for made-up accounts makes Tocsin hold 1,000,000
/// baselines (about 0.5 KiB each plus map overhead) until restart, and the checkpoint grows
/// with them. Idle accounts must be evicted to a bounded budget with a metric.
#[test]
fn flood_of_distinct_accounts_stays_within_the_account_budget() {
    use std::net::{IpAddr, Ipv4Addr};
    use tocsin::detect::{rules as rule_lang, DetectSettings, Detector};
    use tocsin::enrich::Enriched;
    use tocsin::event::{Event, EventKind, Outcome};

    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let rules = rule_lang::load_dir(&rules_dir, &["stable".to_owned()], rule_lang::catalog())
        .expect("shipped rules load");
    let settings = DetectSettings {
        max_accounts: ACCOUNT_BUDGET,
        ..DetectSettings::default()
    };
    let detector = Detector::with_rules(rules, &settings);
    let enriched = Enriched::default();
    let start_ms = 1_762_819_200_000; // 2025-11-11T00:00:00Z
    let mut alerts = Vec::new();
    let mut name = String::new();
    for i in 0..1_000_000u32 {
        use std::fmt::Write as _;
        name.clear();
        let _ = write!(name, "flood-{i}@attacker.example");
        let ts = start_ms + i64::from(i) * 10;
        let mut event = Event::new(ts, EventKind::Login, name.as_str());
        event.outcome = Some(Outcome::Success);
        event.ip = Some(IpAddr::V4(Ipv4Addr::from(0xCB00_7100 | (i & 0xff))));
        detector.process(&event, &enriched, ts, &mut alerts);
        alerts.clear();
    }
    let stats = detector.stats();
    assert!(
        stats.accounts <= ACCOUNT_BUDGET,
        "{} accounts tracked after a flood of 1,000,000 distinct names ({} MiB of state); budget {}",
        stats.accounts,
        stats.state_bytes >> 20,
        ACCOUNT_BUDGET
    );
}

/// Bug: `Detector::write_snapshot` promises "equal states give equal bytes", but tenant tables
/// (`TenantState::{accounts, nets, asns}`) and population counts are std `HashMap`/`HashSet`
/// with a random seed per map, serialised in iteration order. Two detectors fed the same events
/// write different checkpoints, so checkpoints cannot be compared or de-duplicated, and any
/// eviction that iterates those maps (`bounded_add` at a cap) may pick a different victim on
/// each run. Found by `prop_detect` (a restored detector re-wrote different bytes).
#[test]
fn detector_snapshot_bytes_do_not_depend_on_hash_seeds() {
    use std::net::{IpAddr, Ipv4Addr};
    use tocsin::detect::{rules as rule_lang, DetectSettings, Detector};
    use tocsin::enrich::Enriched;
    use tocsin::event::{Event, EventKind, Outcome};

    let snapshot_after_same_events = || {
        let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let rules = rule_lang::load_dir(&rules_dir, &["stable".to_owned()], rule_lang::catalog())
            .expect("shipped rules load");
        let detector = Detector::with_rules(rules, &DetectSettings::default());
        let mut alerts = Vec::new();
        for i in 0..40u8 {
            let ts = 1_762_819_200_000 + i64::from(i) * 60_000;
            let account = format!("dr.{i}@cabinet-rouen");
            let mut event = Event::new(ts, EventKind::Login, account.as_str());
            event.tenant = Some("cabinet-rouen".into());
            event.outcome = Some(Outcome::Success);
            event.ip = Some(IpAddr::V4(Ipv4Addr::new(90, i, 1, 2)));
            detector.process(&event, &Enriched::default(), ts, &mut alerts);
        }
        let mut bytes = Vec::new();
        detector
            .write_snapshot(&mut bytes)
            .expect("snapshot writes");
        bytes
    };
    assert!(
        snapshot_after_same_events() == snapshot_after_same_events(),
        "two detectors given the same events wrote different snapshots"
    );
}

/// Bug: `HourProfile::add` (src/baseline/account.rs) advances its 30-day decay clock with
/// `decayed_day += 30` while the loop bound uses `saturating_add(30)`. Day numbers saturate at
/// `u16::MAX` (2149-06-06), so the first successful login dated after that day overflows:
/// a panic in a debug build, and in a release build (wrapping arithmetic) a loop that never
/// ends, since `today >= decayed_day.saturating_add(30)` stays true forever — one line from a
/// producer hangs the detector. The native decoder accepts RFC 3339 years up to 9999 and the
/// vendor decoders epoch milliseconds up to 9999-12-31, so the line below is accepted input.
/// Found by `prop_detect::any_event_sequence_is_detected_without_panic`.
#[test]
fn login_dated_after_2149_does_not_overflow_the_hour_profile() {
    use tocsin::detect::{rules as rule_lang, DetectSettings, Detector};
    use tocsin::enrich::Enriched;

    let line = br#"{"ts":"2150-01-01T08:00:00Z","type":"login","outcome":"success","account":"dr.martin@cabinet-rouen","ip":"90.0.1.2"}"#;
    let event = native::decode(line).expect("the decoder accepts a year-2150 login");
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let rules = rule_lang::load_dir(&rules_dir, &["stable".to_owned()], rule_lang::catalog())
        .expect("shipped rules load");
    let detector = Detector::with_rules(rules, &DetectSettings::default());
    let now_ms = 1_762_819_200_000; // the engine's clock: 2025-11-11
    let mut alerts = Vec::new();
    // Must return (in debug it panicked with "attempt to add with overflow").
    detector.process(&event, &Enriched::default(), now_ms, &mut alerts);
    detector.process(&event, &Enriched::default(), event.ts_ms, &mut alerts);
}

/// Bug (found by the `decode_vendor` fuzz target, 2026-12-04): an OCSF or ECS operation name
/// with a multi-byte character (`"Getñtosh"`, `"Télécharger le dossier"`) made the action-hint
/// word splitter slice inside the character and panic, so one record could stop a worker of
/// `tocsin run`. Every such record now decodes; the hint reads the ASCII words around it.
#[test]
fn operation_name_with_multibyte_characters_decodes_without_panic() {
    let (record, account) = record_with_event(Format::Ocsf, "api_activity.jsonl");
    for (operation, expected) in [
        ("Getñtosh", Some(tocsin::event::Action::Read)),
        ("Télécharger le dossier", None),
        (
            "ÉxportPatientRecords; export",
            Some(tocsin::event::Action::Export),
        ),
        ("導出", None),
    ] {
        let mut r = record.clone();
        r["api"]["operation"] = Value::String(operation.into());
        let line = serde_json::to_vec(&r).unwrap();
        let mut seen = Vec::new();
        decode::decode(Format::Ocsf, &line, &mut |d| match d {
            Ok(Decoded::Event(e)) => seen.push((e.account.into_owned(), e.action)),
            other => panic!("{operation}: {other:?}"),
        });
        assert_eq!(seen.len(), 1, "{operation}");
        assert_eq!(seen[0].0, account);
        if let Some(action) = expected {
            assert_eq!(seen[0].1, Some(action), "{operation}");
        }
    }
}
