//! The same takeover, expressed in each vendor format, raises the same
//! alerts as in the native format. Each file goes through the whole pipeline (decode → enrich
//! with the fixture GeoIP databases → baselines → rules), as `tocsin replay --format F` would.
//!
//! Compared per alert: rule, account, severity and event time. Not compared: what a format cannot
//! carry (Okta, Entra and CloudTrail have their own session ids, or none, so alert ids differ;
//! they log no data access, so the export alerts exist only in native, OCSF and ECS).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tocsin::pipeline::{Pipeline, RecordStats};
use tocsin::settings::Settings;
use tocsin::source::decode::{self, Decoded, Format};
use tocsin::source::file;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pipeline() -> Pipeline {
    let mut s = Settings::default();
    s.geoip.city = vec![root().join("testdata/geo/GeoLite2-City-Test.mmdb")];
    s.geoip.asn = Some(root().join("testdata/geo/GeoLite2-ASN-Test.mmdb"));
    s.rules.dir = Some(root().join("rules"));
    Pipeline::from_settings(&s).expect("the shipped rules and fixture databases load")
}

/// (rule, account, severity, ts) of every alert raised by replaying `path` in `format`.
fn alerts(
    format: Format,
    path: &Path,
) -> (BTreeSet<(String, String, String, String)>, RecordStats) {
    let p = pipeline();
    let mut reader = file::open(path).unwrap();
    let mut stats = RecordStats::default();
    let mut out = Vec::new();
    file::for_each_record(format, &mut *reader, &mut |_, rec| {
        let rec = rec.expect("fixture records are readable");
        p.process_record(format, rec, None, &mut stats, &mut out, &mut |_| {});
    })
    .unwrap();
    let set = out
        .into_iter()
        .map(|a| (a.rule, a.account, a.severity.as_str().to_string(), a.ts))
        .collect();
    (set, stats)
}

fn is_login_alert(rule: &str) -> bool {
    !rule.starts_with("data_access.")
}

#[test]
fn the_takeover_raises_the_same_alerts_in_every_format() {
    let dir = root().join("testdata/formats");
    let (native, stats) = alerts(Format::Native, &dir.join("native/takeover.jsonl"));
    assert_eq!(stats.rejected_total(), 0);
    assert!(
        native
            .iter()
            .any(|(rule, ..)| rule == "stolen_password.new_device_new_asn"),
        "the native takeover must be detected as an infostealer login: {native:?}"
    );
    let native_logins: BTreeSet<_> = native
        .iter()
        .filter(|a| is_login_alert(&a.0))
        .cloned()
        .collect();
    for (format, file, has_access) in [
        (Format::Ocsf, "ocsf/takeover.jsonl", true),
        (Format::Ecs, "ecs/takeover.jsonl", true),
        (Format::Okta, "okta/takeover.json", false),
        (Format::Entra, "entra/takeover.json", false),
        (Format::Cloudtrail, "cloudtrail/takeover.json", false),
        (Format::Auth0, "auth0/takeover.jsonl", false),
    ] {
        let (got, stats) = alerts(format, &dir.join(file));
        assert_eq!(stats.rejected_total(), 0, "{file}: {stats:?}");
        if has_access {
            assert_eq!(got, native, "{file} must raise exactly the native alerts");
        } else {
            let logins: BTreeSet<_> = got
                .iter()
                .filter(|a| is_login_alert(&a.0))
                .cloned()
                .collect();
            assert_eq!(
                logins, native_logins,
                "{file} must raise the native login alerts"
            );
            assert_eq!(
                got, logins,
                "{file} carries no data access, so no access alerts"
            );
        }
    }
}

/// A vendor file, code exchanges and other skipped records mixed in, raises exactly the alerts
/// that the events it decodes to raise when replayed in the native schema: decoding loses
/// nothing detection reads. For the formats that log no user agent (Google's login audit,
/// Keycloak) this is the check that holds them: the takeover there is only what the network and
/// the hour say.
#[test]
fn every_vendor_file_alerts_as_its_events_in_native_form() {
    let dir = root().join("testdata/formats");
    let scratch = tempfile::tempdir().unwrap();
    let mut alerted = 0;
    for (format, file) in [
        (Format::Ocsf, "ocsf/takeover.jsonl"),
        (Format::Ecs, "ecs/takeover.jsonl"),
        (Format::Okta, "okta/takeover.json"),
        (Format::Entra, "entra/takeover.json"),
        (Format::Cloudtrail, "cloudtrail/takeover.json"),
        (Format::Auth0, "auth0/takeover.jsonl"),
        (Format::GoogleWorkspace, "google_workspace/takeover.json"),
        (Format::Keycloak, "keycloak/takeover.json"),
    ] {
        let path = dir.join(file);
        let mut native = String::new();
        let mut skipped = 0;
        let mut reader = file::open(&path).unwrap();
        file::for_each_record(format, &mut *reader, &mut |_, rec| {
            decode::decode(format, rec.unwrap(), &mut |r| match r {
                Ok(Decoded::Event(e)) => {
                    native.push_str(&e.to_json());
                    native.push('\n');
                }
                Ok(Decoded::NotApplicable(_)) => skipped += 1,
                Err(r) => panic!("{file}: {r}"),
            });
        })
        .unwrap();
        let native_path = scratch.path().join(format!("{}.jsonl", format.as_str()));
        std::fs::write(&native_path, native).unwrap();
        let (got, _) = alerts(format, &path);
        let (want, stats) = alerts(Format::Native, &native_path);
        assert_eq!(stats.rejected_total(), 0);
        assert_eq!(got, want, "{file} against its native form");
        if matches!(
            format,
            Format::Auth0 | Format::GoogleWorkspace | Format::Keycloak
        ) {
            assert!(skipped > 0, "{file} mixes in records that are no sign-in");
        }
        alerted += usize::from(!got.is_empty());
    }
    assert_eq!(alerted, 8, "the takeover raises alerts in every format");
}
