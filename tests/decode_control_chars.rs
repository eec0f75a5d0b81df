//! Identifiers with control characters are refused at decode, in every input format: an
//! account such as `dr.\r\nmartin` would otherwise forge lines in text logs (and ESC sequences
//! colours in terminals). The record is refused with reason `bad_field`, so it is counted and
//! dead-lettered like any other bad input, and no decoded event ever carries one.

use std::path::Path;

use tocsin::source::decode::{self, document, Decoded, Format, RejectKind};

/// Each format's takeover file, and how it names the account (Keycloak by its user id).
const FORMATS: [(Format, &str, &str); 9] = [
    (Format::Native, "takeover.jsonl", "dr.martin"),
    (Format::Ocsf, "takeover.jsonl", "dr.martin"),
    (Format::Ecs, "takeover.jsonl", "dr.martin"),
    (Format::Okta, "takeover.json", "dr.martin"),
    (Format::Entra, "takeover.json", "dr.martin"),
    (Format::Cloudtrail, "takeover.json", "dr.martin"),
    (Format::Auth0, "takeover.jsonl", "dr.martin"),
    (Format::GoogleWorkspace, "takeover.json", "dr.martin"),
    (Format::Keycloak, "takeover.json", "f3b2a1c0"),
];

/// What decoding `bytes` gives: each event's account, or each rejection's kind.
fn decode_all(format: Format, bytes: &[u8]) -> Vec<Result<String, RejectKind>> {
    let mut out = Vec::new();
    let mut one = |record: &[u8]| {
        decode::decode(format, record, &mut |r| match r {
            Ok(Decoded::Event(e)) => out.push(Ok(e.account.to_string())),
            Ok(Decoded::NotApplicable(_)) => {}
            Err(rej) => out.push(Err(rej.kind)),
        })
    };
    if document::is_document(&bytes[..bytes.len().min(4096)]) {
        document::for_each_record(bytes, &mut |_, rec| one(rec)).unwrap();
    } else {
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            one(line);
        }
    }
    out
}

#[test]
fn an_account_with_cr_lf_or_esc_is_refused_as_bad_field_in_every_format() {
    for (format, file, owner) in FORMATS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/formats")
            .join(format.as_str())
            .join(file);
        let clean = std::fs::read_to_string(&path).unwrap();
        let owner_events = decode_all(format, clean.as_bytes())
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|a| a.starts_with(owner)))
            .count();
        assert!(
            owner_events > 0,
            "{format:?}: the fixture has the owner's events"
        );

        for injected in [r"\r\n", r"\nINFO forged line\n", r"\u001b[31m"] {
            // The control characters go inside the name, after its first three bytes.
            let hostile =
                clean.replace(owner, &format!("{}{injected}{}", &owner[..3], &owner[3..]));
            let results = decode_all(format, hostile.as_bytes());
            let bad_field = results
                .iter()
                .filter(|r| **r == Err(RejectKind::BadField))
                .count();
            assert_eq!(
                bad_field, owner_events,
                "{format:?} {injected}: every event of the account is refused as bad_field: {results:?}"
            );
            for r in results.iter().flatten() {
                assert!(
                    !r.chars().any(char::is_control),
                    "{format:?}: {r:?} decoded"
                );
            }
        }
    }
}

#[test]
fn the_refusal_names_the_field_and_the_character_not_the_value() {
    let record =
        br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a\r\nb","tenant":"t"}"#;
    let mut got = None;
    decode::decode(Format::Native, record, &mut |r| got = Some(r));
    let rej = got.unwrap().unwrap_err();
    assert_eq!(rej.kind, RejectKind::BadField);
    assert_eq!(rej.kind.as_str(), "bad_field");
    assert_eq!(
        rej.detail,
        "field `account` holds the control character U+000D"
    );
    for field in ["tenant", "session", "device_id", "id"] {
        let record = format!(
            r#"{{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","{field}":"x\u001by"}}"#
        );
        let mut got = None;
        decode::decode(Format::Native, record.as_bytes(), &mut |r| {
            got = Some(r.map(|_| ()))
        });
        let rej = got.unwrap().unwrap_err();
        assert_eq!(rej.kind, RejectKind::BadField, "{field}");
        assert!(rej.detail.contains(field), "{}", rej.detail);
    }
}
