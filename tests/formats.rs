//! Vendor formats end to end: every fixture under `testdata/formats/<format>/` decodes to exactly
//! the normalised events (or not-applicable / rejection lines) in the `<fixture>.expected.jsonl`
//! beside it, and the takeover scenario decodes to the same events in every format as in the
//! native file (minus the fields a format cannot carry).
//!
//! Expected files were written by this test (`TOCSIN_BLESS=1 cargo test --test formats`) and
//! checked by eye against the mapping tables in `testdata/formats/README.md`; the test then holds
//! the decoders to them. They are byte for byte what `tocsin decode --format F
//! testdata/formats/F/FILE` prints from the repository root: an event in the native schema, or
//! `{"file":..,"line":N,"not_applicable":".."}`, or
//! `{"file":..,"line":N,"rejected":"kind","detail":".."}`, where N is the 1-based line (JSON
//! lines) or element (whole documents) of the fixture.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tocsin::source::decode::{self, document, Decoded, Format};

const VENDOR_FORMATS: [Format; 8] = [
    Format::Ocsf,
    Format::Ecs,
    Format::Okta,
    Format::Entra,
    Format::Cloudtrail,
    Format::Auth0,
    Format::GoogleWorkspace,
    Format::Keycloak,
];

fn dir(format: Format) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/formats")
        .join(format.as_str())
}

/// The input fixtures of a format (everything but expected outputs), sorted.
fn fixtures(format: Format) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(format))
        .unwrap_or_else(|e| panic!("{}: {e}", dir(format).display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.ends_with(".expected.jsonl")
                && (name.ends_with(".json") || name.ends_with(".jsonl"))
        })
        .collect();
    v.sort();
    v
}

/// Decodes a fixture the way `tocsin decode --format F testdata/formats/F/FILE` does, run from
/// the repository root: a whole document element by element, otherwise line by line; one output
/// line per event, not-applicable record or rejection, in the same shapes.
fn decode_file(format: Format, fixture: &Path) -> Vec<String> {
    let bytes = std::fs::read(fixture).unwrap();
    let name = fixture
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(fixture)
        .display()
        .to_string();
    let mut out = Vec::new();
    let mut one = |n: u64, record: &[u8]| {
        decode::decode(format, record, &mut |r| {
            out.push(match r {
                Ok(Decoded::Event(e)) => e.to_json(),
                Ok(Decoded::NotApplicable(why)) => format!(
                    r#"{{"file":{},"line":{n},"not_applicable":{}}}"#,
                    json!(name),
                    json!(why)
                ),
                Err(rej) => rejected(&name, n, &rej),
            })
        })
    };
    if document::is_document(&bytes[..bytes.len().min(4096)]) {
        let mut seen = 0;
        let result = document::for_each_record(&bytes, &mut |i, rec| {
            seen = i + 1;
            one(i + 1, rec)
        });
        if let Err(rej) = result {
            // A document that breaks off is reported as one more record.
            out.push(rejected(&name, seen + 1, &rej));
        }
    } else {
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if !line.iter().all(u8::is_ascii_whitespace) {
                one(i as u64 + 1, line);
            }
        }
    }
    out
}

fn rejected(file: &str, line: u64, rej: &tocsin::source::decode::Rejection) -> String {
    format!(
        r#"{{"file":{},"line":{line},"rejected":"{}","detail":{}}}"#,
        json!(file),
        rej.kind.as_str(),
        json!(rej.detail)
    )
}

fn expected_path(fixture: &Path) -> PathBuf {
    let stem = fixture.file_stem().unwrap().to_string_lossy();
    fixture.with_file_name(format!("{stem}.expected.jsonl"))
}

fn check_fixtures(format: Format) {
    let bless = std::env::var_os("TOCSIN_BLESS").is_some();
    let files = fixtures(format);
    assert!(!files.is_empty(), "no fixtures for {}", format.as_str());
    for fixture in files {
        let got = decode_file(format, &fixture);
        let expected_file = expected_path(&fixture);
        if bless {
            std::fs::write(&expected_file, got.join("\n") + "\n").unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        let expected: Vec<&str> = expected.lines().collect();
        for (i, (g, x)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, x, "{} output line {}", fixture.display(), i + 1);
        }
        assert_eq!(
            got.len(),
            expected.len(),
            "{}: number of output lines",
            fixture.display()
        );
    }
}

#[test]
fn ocsf_fixtures_decode_as_expected() {
    check_fixtures(Format::Ocsf);
}

#[test]
fn ecs_fixtures_decode_as_expected() {
    check_fixtures(Format::Ecs);
}

#[test]
fn okta_fixtures_decode_as_expected() {
    check_fixtures(Format::Okta);
}

#[test]
fn entra_fixtures_decode_as_expected() {
    check_fixtures(Format::Entra);
}

#[test]
fn cloudtrail_fixtures_decode_as_expected() {
    check_fixtures(Format::Cloudtrail);
}

#[test]
fn auth0_fixtures_decode_as_expected() {
    check_fixtures(Format::Auth0);
}

#[test]
fn google_workspace_fixtures_decode_as_expected() {
    check_fixtures(Format::GoogleWorkspace);
}

#[test]
fn keycloak_fixtures_decode_as_expected() {
    check_fixtures(Format::Keycloak);
}

/// Every vendor's fixtures together cover what a mapping must show: at least one successful and
/// one failed login, an MFA step, a not-applicable record and a rejection per format, and an
/// IPv6 client somewhere.
#[test]
fn every_format_covers_success_failure_mfa_skips_and_rejections() {
    for format in VENDOR_FORMATS {
        let mut seen = BTreeSet::new();
        for fixture in fixtures(format) {
            for line in decode_file(format, &fixture) {
                let v: Value = serde_json::from_str(&line).unwrap();
                let label = if v.get("not_applicable").is_some() {
                    "not_applicable".to_string()
                } else if v.get("rejected").is_some() {
                    "rejected".to_string()
                } else {
                    if v["ip"].as_str().is_some_and(|ip| ip.contains(':')) {
                        seen.insert("ipv6".to_string());
                    }
                    format!(
                        "{}/{}",
                        v["type"].as_str().unwrap(),
                        v["outcome"].as_str().unwrap_or("-")
                    )
                };
                seen.insert(label);
            }
        }
        for needed in [
            "login/success",
            "login/failure",
            "mfa/success",
            "not_applicable",
            "rejected",
            "ipv6",
        ] {
            // Keycloak logs a second factor inside its LOGIN event, never as an event of its own.
            if format == Format::Keycloak && needed == "mfa/success" {
                continue;
            }
            assert!(
                seen.contains(needed),
                "{}: no fixture yields {needed} (saw {seen:?})",
                format.as_str()
            );
        }
    }
}

/// Fields each format cannot carry with the native file's values: vendor-shaped identifiers
/// (event ids, session ids, tenant ids that are UUIDs or AWS account numbers) and, for ECS, the
/// authentication method.
fn not_carried(format: Format) -> &'static [&'static str] {
    match format {
        Format::Ocsf | Format::Native => &[],
        Format::Ecs => &["method"],
        Format::Okta => &["id", "tenant", "session"],
        Format::Entra => &["id", "tenant", "session"],
        Format::Cloudtrail => &["id", "tenant", "session"],
        Format::Auth0 => &["id", "tenant", "session"],
        Format::GoogleWorkspace => &["id", "tenant", "session", "user_agent"],
        Format::Keycloak => &["account", "method", "user_agent"],
    }
}

/// Whether a format logs the user agent (Google's login audit and Keycloak events do not).
fn carries_user_agent(format: Format) -> bool {
    !not_carried(format).contains(&"user_agent")
}

/// Whether a format can express data access (the export of the takeover).
fn carries_access(format: Format) -> bool {
    matches!(format, Format::Ocsf | Format::Ecs)
}

fn takeover_file(format: Format) -> PathBuf {
    let d = dir(format);
    ["takeover.jsonl", "takeover.json"]
        .iter()
        .map(|n| d.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no takeover file in {}", d.display()))
}

fn strip(mut v: Value, fields: &[&str]) -> Value {
    let obj = v.as_object_mut().unwrap();
    for f in fields {
        obj.remove(*f);
    }
    v
}

#[test]
fn takeover_reads_the_same_in_every_format() {
    // The native file is written in the canonical field order of `Event::write_json`, so parsing
    // it as JSON is enough to compare; it does not depend on the native decoder.
    let native: Vec<Value> = std::fs::read_to_string(takeover_file(Format::Native))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        native.len(),
        12,
        "ten routine logins, the takeover, the export"
    );
    for format in VENDOR_FORMATS {
        let ignore = not_carried(format);
        let want: Vec<Value> = native
            .iter()
            .filter(|v| carries_access(format) || v["type"] != "access")
            .map(|v| strip(v.clone(), ignore))
            .collect();
        // Takeover files may mix in records that are no sign-in (a code exchange, Google's own
        // suspicious-login verdict): they are skipped, not compared.
        let got: Vec<Value> = decode_file(format, &takeover_file(format))
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v.get("not_applicable").is_none())
            .map(|v| strip(v, ignore))
            .collect();
        assert_eq!(got, want, "takeover in {}", format.as_str());
    }
}

/// The takeover's decisive login must keep what detection needs in every format: the attacker's
/// address, browser and the 02:30 Paris hour.
#[test]
fn takeover_login_keeps_the_attackers_network_and_hour() {
    for format in VENDOR_FORMATS {
        let lines = decode_file(format, &takeover_file(format));
        let logins: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "login")
            .collect();
        let last = logins.last().unwrap();
        assert_eq!(logins.len(), 11, "{}", format.as_str());
        assert_eq!(last["ip"], "188.166.24.201", "{}", format.as_str());
        assert_eq!(last["ts"], "2025-11-17T01:30:04Z", "{}", format.as_str());
        if carries_user_agent(format) {
            assert!(
                last["user_agent"].as_str().unwrap().contains("Firefox"),
                "{}",
                format.as_str()
            );
        }
    }
}

/// Every fixture record, as raw bytes (lines, or elements of whole documents); read once.
fn fixture_records() -> &'static [(Format, Vec<u8>)] {
    static RECORDS: std::sync::OnceLock<Vec<(Format, Vec<u8>)>> = std::sync::OnceLock::new();
    RECORDS.get_or_init(read_fixture_records)
}

fn read_fixture_records() -> Vec<(Format, Vec<u8>)> {
    let mut v = Vec::new();
    for format in VENDOR_FORMATS {
        for fixture in fixtures(format) {
            let bytes = std::fs::read(&fixture).unwrap();
            if document::is_document(&bytes) {
                let _ = document::for_each_record(&bytes, &mut |_, r| v.push((format, r.to_vec())));
            } else {
                for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    v.push((format, line.to_vec()));
                }
            }
        }
    }
    v
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(512))]

    /// No input panics a decoder: real records cut short or with one byte changed give an event,
    /// a skip or a rejection, never a crash.
    #[test]
    fn damaged_records_never_panic(pick in 0usize..10_000, cut in 0usize..4096, flip in 0usize..4096, byte in proptest::prelude::any::<u8>()) {
        let records = fixture_records();
        let (format, record) = &records[pick % records.len()];
        let mut damaged = record.clone();
        if !damaged.is_empty() {
            let at = flip % damaged.len();
            damaged[at] = byte;
        }
        damaged.truncate(cut.max(1).min(damaged.len()));
        for f in VENDOR_FORMATS {
            decode::decode(f, &damaged, &mut |_| {});
        }
        decode::decode(*format, &damaged, &mut |_| {});
        let _ = document::is_document(&damaged);
        let _ = document::for_each_record(&damaged, &mut |_, _| {});
    }

    /// Arbitrary bytes are no more dangerous than damaged records.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        for f in VENDOR_FORMATS {
            decode::decode(f, &bytes, &mut |_| {});
        }
        let _ = document::is_document(&bytes);
        let _ = document::for_each_record(&bytes, &mut |_, _| {});
    }
}
