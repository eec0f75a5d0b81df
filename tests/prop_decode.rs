//! Property tests for every decoder: what a hostile or broken producer can send.
//!
//! Three kinds of input, for each format: arbitrary bytes; *schema-shaped* JSON (a real record
//! from `testdata/formats/` with some of its keys given random-typed values or removed, so the
//! decoder gets past "not JSON" into its field handling); and valid native events, which must
//! survive `Event::write_json` → decode unchanged. Timestamps get their own round trip through
//! `tocsin::timefmt`. The promise checked everywhere: no panic, and every refusal says why.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Map, Value};
use tocsin::event::{Action, Event, EventKind, Outcome};
use tocsin::source::decode::{self, document, native, Decoded, Format, Rejection};
use tocsin::timefmt;

const FORMATS: [Format; 9] = [
    Format::Native,
    Format::Ocsf,
    Format::Ecs,
    Format::Okta,
    Format::Entra,
    Format::Cloudtrail,
    Format::Auth0,
    Format::GoogleWorkspace,
    Format::Keycloak,
];

/// Epoch milliseconds the native decoder accepts as integers: 2000-01-01 .. 2100-01-01.
const TS_RANGE: std::ops::Range<i64> = 946_684_800_000..4_102_444_800_000;

/// Asserts the decoder kept its promise for one result; returns true for a usable event.
fn kept_promise(format: Format, input: &[u8], result: &Result<Decoded<'_>, Rejection>) -> bool {
    match result {
        Ok(Decoded::Event(event)) => {
            assert!(
                !event.account.trim().is_empty(),
                "{format:?} produced an event without an account from {:?}",
                String::from_utf8_lossy(input)
            );
            true
        }
        Ok(Decoded::NotApplicable(why)) => {
            assert!(!why.is_empty(), "{format:?}: a skip without a reason");
            false
        }
        Err(r) => {
            assert!(
                !r.detail.trim().is_empty(),
                "{format:?}: {:?} rejection with an empty detail for {:?}",
                r.kind,
                String::from_utf8_lossy(input)
            );
            false
        }
    }
}

fn decode_all(format: Format, input: &[u8]) -> usize {
    let mut events = 0;
    decode::decode(format, input, &mut |r| {
        if kept_promise(format, input, &r) {
            events += 1;
        }
    });
    events
}

/// One record per line of every JSON-lines fixture, and every element of every document
/// fixture, parsed, by format: the shapes each vendor really sends.
fn fixture_records() -> &'static [(Format, Value)] {
    static RECORDS: OnceLock<Vec<(Format, Value)>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats");
        let mut records = Vec::new();
        for format in FORMATS {
            let dir = root.join(format.as_str());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.contains(".expected.") {
                    continue;
                }
                let bytes = std::fs::read(&path).expect("fixture readable");
                let values: Vec<Value> = if name.ends_with(".jsonl") {
                    bytes
                        .split(|&b| b == b'\n')
                        .filter_map(|l| serde_json::from_slice(l).ok())
                        .collect()
                } else {
                    match serde_json::from_slice(&bytes) {
                        Ok(Value::Array(items)) => items,
                        Ok(Value::Object(mut o)) => ["Records", "records", "value", "items"]
                            .iter()
                            .find_map(|k| match o.remove(*k) {
                                Some(Value::Array(items)) => Some(items),
                                _ => None,
                            })
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    }
                };
                records.extend(
                    values
                        .into_iter()
                        .filter(Value::is_object)
                        .map(|v| (format, v)),
                );
            }
        }
        assert!(
            FORMATS
                .iter()
                .all(|f| records.iter().any(|(rf, _)| rf == f)),
            "every format needs at least one fixture record under testdata/formats"
        );
        records
    })
}

/// Every key path (`a`, `a.b`, ...) of an object, objects only (array elements are replaced
/// wholesale through their parent key).
fn key_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            prefix.push(k.clone());
            out.push(prefix.clone());
            key_paths(child, prefix, out);
            prefix.pop();
        }
    }
}

/// Replaces (or, with `None`, removes) the value at `path`.
fn set_path(v: &mut Value, path: &[String], new: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = v;
    for k in parents {
        match at.get_mut(k.as_str()) {
            Some(child) => at = child,
            None => return,
        }
    }
    if let Value::Object(map) = at {
        match new {
            Some(n) => {
                map.insert(last.clone(), n);
            }
            None => {
                map.remove(last.as_str());
            }
        }
    }
}

/// Strings a decoder must cope with: timestamps and addresses slightly wrong, huge, empty,
/// escapes and non-ASCII.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        Just(String::new()),
        Just("   ".to_owned()),
        Just("2025-11-10T23:31:02Z".to_owned()),
        Just("2025-02-30T25:61:61+24:00".to_owned()),
        Just("1731281462000".to_owned()),
        Just("203.0.113.7".to_owned()),
        Just("300.1.1.1".to_owned()),
        Just("[2001:db8::1]:443".to_owned()),
        Just("fe80::1%eth0".to_owned()),
        Just("\u{0}\u{1f}\"\\\u{2028}é🙂".to_owned()),
        (1usize..70_000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![Just(0i64), Just(-1), Just(1), Just(u32::MAX as i64 + 1)].prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every key path of `record` whose value is a string.
fn string_paths(record: &Value) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    key_paths(record, &mut Vec::new(), &mut paths);
    paths.retain(|p| {
        p.iter()
            .try_fold(record, |v, k| v.get(k.as_str()))
            .is_some_and(Value::is_string)
    });
    paths
}

/// Exhaustive where `schema_shaped` samples: every string field of every real fixture record,
/// in turn, holds text a stranger could send (multi-byte characters alone, between ASCII
/// words and at the ends; controls; separators; a long run), and every format still gives an
/// event or a reason, without panicking. Written after the fuzzer found a panic on a
/// multi-byte character in an OCSF operation name that the sampled edits had not reached.
#[test]
fn every_string_field_of_every_fixture_record_takes_any_text() {
    const TEXTS: &[&str] = &[
        "é",
        "ñExport",
        "Getñtosh",
        "export_é",
        "Télécharger le dossier patient",
        "導出ReadRecords",
        "🙂",
        "a\u{0}b\u{1f}c\u{2028}",
        "   ",
        "",
        "x-_./:@ ",
    ];
    let long = "éx".repeat(2_000);
    let mut decoded = 0;
    for (format, record) in fixture_records() {
        for path in string_paths(record) {
            for text in TEXTS.iter().copied().chain([long.as_str()]) {
                let mut r = record.clone();
                set_path(&mut r, &path, Some(Value::String(text.to_owned())));
                let bytes = serde_json::to_vec(&r).expect("a Value serialises");
                decoded += 1;
                decode_all(*format, &bytes);
            }
        }
    }
    assert!(decoded > 1_000, "only {decoded} records tried");
}

/// A fixture record of some format with `edits` applied: each edit picks a key path (by index,
/// modulo the number of paths) and gives it a random value or removes it.
fn schema_shaped() -> impl Strategy<Value = (Format, Vec<u8>)> {
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::option::weighted(0.85, json_value()),
        ),
        1..6,
    );
    (any::<prop::sample::Index>(), edits).prop_map(|(pick, edits)| {
        let records = fixture_records();
        let (format, record) = &records[pick.index(records.len())];
        let mut record = record.clone();
        for (at, new) in edits {
            let mut paths = Vec::new();
            key_paths(&record, &mut Vec::new(), &mut paths);
            if paths.is_empty() {
                break;
            }
            let path = paths[at.index(paths.len())].clone();
            set_path(&mut record, &path, new);
        }
        (
            *format,
            serde_json::to_vec(&record).expect("a Value serialises"),
        )
    })
}

fn identifier() -> impl Strategy<Value = String> {
    // Blank identifiers read as absent, so a round trip needs a visible character; control
    // characters are refused in identifiers (`bad_field`), so a valid one has none.
    prop_oneof![
        "[a-z0-9._@-]{1,40}",
        "\\PC{0,30}[a-zé0-9]\\PC{0,30}",
        "[0-9]{1,18}",
        any::<Vec<char>>().prop_map(|c| c
            .into_iter()
            .filter(|c| !c.is_control())
            .take(50)
            .collect::<String>()
            + "x"),
    ]
}

fn free_text(max_chars: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::string::string_regex(&format!("\\PC{{1,{max_chars}}}")).expect("valid regex"),
        Just(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \"quoted\" \\ \t"
                .to_owned()
        ),
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u16; 8]>()
            .prop_map(Ipv6Addr::from)
            // An IPv4-mapped address decodes as IPv4 (by design): not a round-trip candidate.
            .prop_filter("not IPv4-mapped", |a| a.to_ipv4_mapped().is_none())
            .prop_map(IpAddr::V6),
    ]
}

/// A native event the schema allows, with every optional field sometimes present.
fn native_event() -> impl Strategy<Value = Event<'static>> {
    let kind = prop_oneof![
        Just(EventKind::Login),
        Just(EventKind::Mfa),
        Just(EventKind::Access),
        Just(EventKind::Logout),
        Just(EventKind::PasswordChange),
    ];
    let opt_id = || prop::option::of(identifier());
    let opt_text = || prop::option::of(free_text(40));
    (
        (
            TS_RANGE,
            kind,
            identifier(),
            any::<bool>(),
            prop::option::of(ip()),
        ),
        (
            opt_id(),
            opt_id(),
            opt_id(),
            prop::option::of(free_text(250)),
            opt_text(),
            opt_text(),
        ),
        (
            prop::sample::select(Action::ALL.to_vec()),
            opt_text(),
            1u32..=u32::MAX,
        ),
    )
        .prop_map(
            |(
                (ts, kind, account, success, ip),
                (id, tenant, session, ua, method, reason),
                (action, resource, count),
            )| {
                let mut e = Event::new(ts, kind, account);
                let c = |s: Option<String>| s.map(Cow::Owned);
                e.id = c(id);
                e.tenant = c(tenant);
                e.session = c(session);
                e.user_agent = c(ua);
                e.method = c(method);
                e.failure_reason = c(reason);
                e.ip = ip;
                match kind {
                    EventKind::Login | EventKind::Mfa => {
                        e.outcome = Some(if success {
                            Outcome::Success
                        } else {
                            Outcome::Failure
                        });
                        if kind == EventKind::Login && e.ip.is_none() {
                            e.ip = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
                        }
                    }
                    EventKind::Access => {
                        e.action = Some(action);
                        e.resource = c(resource);
                        e.count = count;
                    }
                    EventKind::Logout | EventKind::PasswordChange => {}
                }
                e
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in FORMATS {
            decode_all(format, &bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_document_splitting(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        opener in prop::sample::select(vec![&b"["[..], b"{\"Records\":[", b"{\"value\":[", b"", b"{\"@odata.context\":\"x\",\"value\":["]),
    ) {
        let doc = [opener, &bytes[..]].concat();
        let _ = document::is_document(&doc);
        let result = document::for_each_record(&doc, &mut |_, element| {
            for format in FORMATS {
                decode_all(format, element);
            }
        });
        if let Err(r) = result {
            prop_assert!(!r.detail.is_empty(), "document rejection {:?} without detail", r.kind);
        }
    }

    #[test]
    fn schema_shaped_records_give_an_event_or_a_reason((format, record) in schema_shaped()) {
        decode_all(format, &record);
        // Every format may also meet any other format's records (a misconfigured source).
        for other in FORMATS {
            decode_all(other, &record);
        }
    }

    #[test]
    fn valid_native_events_round_trip(event in native_event()) {
        let json = event.to_json();
        let decoded = native::decode(json.as_bytes());
        prop_assert_eq!(decoded.as_ref(), Ok(&event), "line: {}", json);
        // The same event reached through the format dispatcher.
        let mut seen = None;
        decode::decode(Format::Native, json.as_bytes(), &mut |r| seen = Some(r.map(|d| match d {
            Decoded::Event(e) => Some(e.into_owned()),
            Decoded::NotApplicable(_) => None,
        })));
        prop_assert_eq!(seen, Some(Ok(Some(event))));
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339(ms in TS_RANGE) {
        let text = timefmt::rfc3339(ms);
        prop_assert_eq!(timefmt::parse_rfc3339(&text), Some(ms), "{}", text);
        // Epoch-millisecond integers and RFC 3339 strings name the same instant.
        let as_int = format!(r#"{{"ts":{ms},"type":"logout","account":"a"}}"#);
        let as_str = format!(r#"{{"ts":"{text}","type":"logout","account":"a"}}"#);
        prop_assert_eq!(
            native::decode(as_int.as_bytes()).map(|e| e.ts_ms),
            native::decode(as_str.as_bytes()).map(|e| e.ts_ms)
        );
    }

    #[test]
    fn offsets_name_the_same_instant(ms in TS_RANGE, offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i64)) {
        // Write the instant in local time at `offset_min` and check it parses back to UTC `ms`.
        let local = timefmt::rfc3339(ms + offset_min * 60_000);
        let sign = if offset_min < 0 { '-' } else { '+' };
        let abs = offset_min.abs();
        let with_offset = format!("{}{sign}{:02}:{:02}", &local[..local.len() - 1], abs / 60, abs % 60);
        prop_assert_eq!(timefmt::parse_rfc3339(&with_offset), Some(ms), "{}", with_offset);
    }

    #[test]
    fn arbitrary_timestamp_text_never_panics(s in "\\PC{0,40}", digits in "[0-9:.T+Z-]{18,36}") {
        for text in [&s, &digits] {
            if let Some(ms) = timefmt::parse_rfc3339(text) {
                // Anything accepted is an instant that formats and parses back to itself.
                prop_assert_eq!(timefmt::parse_rfc3339(&timefmt::rfc3339(ms)), Some(ms));
            }
        }
    }

    #[test]
    fn lenient_timestamps_accept_only_instants_that_write_back(s in "\\PC{0,40}", shaped in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?( ?(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?))?", epoch in "[0-9]{1,16}(\\.[0-9]{0,10})?") {
        for text in [&s, &shaped, &epoch] {
            if let Some(ms) = timefmt::parse_lenient(text) {
                // Anything accepted is an instant Tocsin can write, and reads back the same.
                prop_assert!((0..=timefmt::MAX_MS).contains(&ms), "{text}: {ms}");
                prop_assert_eq!(timefmt::parse_lenient(&timefmt::rfc3339(ms)), Some(ms));
            }
        }
    }

    #[test]
    fn civil_dates_invert_day_numbers(days in -1_000_000i64..3_000_000) {
        let (y, m, d) = timefmt::civil_from_days(days);
        prop_assert_eq!(timefmt::days_from_civil(y, m, d), days);
    }
}

#[test]
fn every_format_has_schema_shaped_fixtures() {
    // Guards the strategy above: without fixture records it would only test one format.
    let records = fixture_records();
    for format in FORMATS {
        let n = records.iter().filter(|(f, _)| *f == format).count();
        assert!(n > 0, "no fixture records for {format:?}");
    }
}

#[test]
fn unmutated_fixture_records_decode_to_events_in_every_format() {
    // The schema-shaped strategy starts from these: if none decoded, mutations would only ever
    // exercise the refusal paths.
    for format in FORMATS {
        let events: usize = fixture_records()
            .iter()
            .filter(|(f, _)| *f == format)
            .map(|(_, v)| decode_all(format, &serde_json::to_vec(v).expect("serialises")))
            .sum();
        assert!(
            events > 0,
            "no {format:?} fixture record decodes to an event"
        );
    }
}

#[test]
fn records_over_the_size_bound_are_refused_by_every_format() {
    let mut line =
        br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","pad":""#.to_vec();
    line.resize(decode::MAX_RECORD_BYTES + 1, b'x');
    line.extend_from_slice(b"\"}");
    for format in FORMATS {
        let mut kinds = Vec::new();
        decode::decode(format, &line, &mut |r| kinds.push(r.err().map(|e| e.kind)));
        assert_eq!(kinds, vec![Some(decode::RejectKind::TooLong)], "{format:?}");
    }
}

#[test]
fn native_fields_over_their_bound_are_refused() {
    let long = "a".repeat(native::MAX_FIELD_BYTES + 1);
    let line = format!(r#"{{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"{long}"}}"#);
    let err = native::decode(line.as_bytes()).expect_err("an over-long account is refused");
    assert_eq!(err.kind, decode::RejectKind::FieldTooLong);
    let ua = "u".repeat(native::MAX_USER_AGENT_BYTES + 1);
    let line = format!(
        r#"{{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","user_agent":"{ua}"}}"#
    );
    let err = native::decode(line.as_bytes()).expect_err("an over-long user agent is refused");
    assert_eq!(err.kind, decode::RejectKind::FieldTooLong);
}

#[test]
fn deeply_nested_json_is_refused_by_every_format_without_exhausting_the_stack() {
    let depth = decode::MAX_RECORD_BYTES / 2 - 8;
    let arrays = [b"[".repeat(depth), b"]".repeat(depth)].concat();
    let objects = br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","x":"#
        .iter()
        .copied()
        .chain(br#"{"a":"#.repeat(depth / 5))
        .collect::<Vec<u8>>();
    for input in [&arrays[..], &objects[..]] {
        for format in FORMATS {
            assert_eq!(decode_all(format, input), 0, "{format:?} made an event");
        }
        let _ = document::for_each_record(input, &mut |_, element| {
            decode_all(Format::Okta, element);
        });
    }
}
