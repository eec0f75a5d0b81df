//! The native schema (see README.md): one JSON object per line or message → [`Event`].
//!
//! This is the hot path's first stage, so a line is parsed once by serde_json into a fixed table
//! of borrowed raw values (one slot per known field, no map, no `serde_json::Value`), and each
//! field is then checked on its own. Strings borrow from the line unless they hold escapes; a
//! typical line allocates nothing. Keeping the raw JSON text of each value lets a rejection quote
//! exactly what the producer sent (`got "12"`, `got {"addr":"…"}`), which is what someone writing
//! a format mapping needs to see.
//!
//! Decisions a producer should know (README and `tocsin decode` make them visible):
//! - Unknown fields are ignored, and so are known fields that do not apply to the event's type
//!   (`outcome` on an `access`, `count` on a `login`): `outcome` is kept only for `login`/`mfa`,
//!   `action`/`resource`/`count` only for `access`.
//! - `null` and `""` mean absent for optional fields; for required ones they are a missing field.
//! - A known field given twice is refused (`bad_value`): log pipelines disagree on whether the
//!   first or the last copy wins, and an account name must not depend on which tool reads the line.
//! - Identifiers (`account`, `tenant`, `session`, `device_id`, `id`) may also be JSON integers
//!   (numeric user ids are common); they are used in their decimal form, so `42` and `"42"` are
//!   the same account.
//! - `ip` accepts IPv4, IPv6, IPv4-mapped IPv6 (stored as IPv4), an IPv6 in brackets
//!   (`[2001:db8::1]`) and an IPv6 with a zone (`fe80::1%eth0`, zone dropped: it names the
//!   receiver's interface, not the client). An address with a port is refused with a hint.
//! - `ts` integers are epoch milliseconds between 2000 and 2100; seconds, microseconds and
//!   nanoseconds are refused with a message naming the likely unit.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{RejectKind, Rejection};
use crate::event::{canonical_ip, AccountKind, Action, Event, EventKind, Outcome};
use crate::timefmt;

/// Longest `user_agent` accepted, in bytes (real browsers stay well under 512).
pub const MAX_USER_AGENT_BYTES: usize = 1024;
/// Longest value accepted for every other string field, in bytes.
pub const MAX_FIELD_BYTES: usize = 256;

/// How much of an offending value a rejection quotes.
const SHOWN_CHARS: usize = 60;

/// Epoch milliseconds of 2000-01-01T00:00:00Z: earlier integers are not milliseconds.
const EPOCH_MS_MIN: i64 = 946_684_800_000;
/// Epoch milliseconds of 2100-01-01T00:00:00Z.
const EPOCH_MS_MAX: i64 = 4_102_444_800_000;

/// Decodes one native JSON line (or Kafka message) into an [`Event`] borrowing from it, or says
/// precisely why it cannot be used.
pub fn decode(line: &[u8]) -> Result<Event<'_>, Rejection> {
    let text = std::str::from_utf8(line).map_err(|e| {
        Rejection::new(
            RejectKind::InvalidUtf8,
            format!("invalid UTF-8 at byte offset {}", e.valid_up_to()),
        )
    })?;
    let fields = parse_fields(text)?;
    fields.into_event()
}

/// The fields of the native schema. The order is the order in which problems are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Ts,
    Type,
    Account,
    Outcome,
    Ip,
    Action,
    Count,
    Resource,
    Id,
    Tenant,
    Session,
    UserAgent,
    DeviceId,
    Method,
    FailureReason,
    AccountKind,
}

const FIELD_COUNT: usize = 16;

impl Field {
    fn from_key(key: &str) -> Option<Field> {
        Some(match key {
            "ts" => Field::Ts,
            "type" => Field::Type,
            "account" => Field::Account,
            "outcome" => Field::Outcome,
            "ip" => Field::Ip,
            "action" => Field::Action,
            "count" => Field::Count,
            "resource" => Field::Resource,
            "id" => Field::Id,
            "tenant" => Field::Tenant,
            "session" => Field::Session,
            "user_agent" => Field::UserAgent,
            "device_id" => Field::DeviceId,
            "method" => Field::Method,
            "failure_reason" => Field::FailureReason,
            "account_kind" => Field::AccountKind,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::Ts => "ts",
            Field::Type => "type",
            Field::Account => "account",
            Field::Outcome => "outcome",
            Field::Ip => "ip",
            Field::Action => "action",
            Field::Count => "count",
            Field::Resource => "resource",
            Field::Id => "id",
            Field::Tenant => "tenant",
            Field::Session => "session",
            Field::UserAgent => "user_agent",
            Field::DeviceId => "device_id",
            Field::Method => "method",
            Field::FailureReason => "failure_reason",
            Field::AccountKind => "account_kind",
        }
    }

    fn max_len(self) -> usize {
        match self {
            Field::UserAgent => MAX_USER_AGENT_BYTES,
            _ => MAX_FIELD_BYTES,
        }
    }

    /// Identifiers may be sent as JSON integers.
    fn is_identifier(self) -> bool {
        matches!(
            self,
            Field::Account | Field::Tenant | Field::Session | Field::DeviceId | Field::Id
        )
    }
}

/// One slot per known field: the raw JSON text of its value, borrowed from the line.
struct RawFields<'a> {
    slots: [Option<&'a RawValue>; FIELD_COUNT],
    /// The first known field seen twice, if any.
    duplicate: Option<Field>,
}

fn parse_fields(text: &str) -> Result<RawFields<'_>, Rejection> {
    let start = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if !start.starts_with('{') {
        return Err(not_an_object(text));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = de
        .deserialize_map(FieldsVisitor)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| not_json(text, &e))?;
    Ok(fields)
}

/// serde's message and position, plus the text around that position: a column number alone
/// does not tell someone looking at a 2 KB line what is wrong.
fn not_json(text: &str, e: &serde_json::Error) -> Rejection {
    const AROUND: usize = 24;
    let line_start: usize = text
        .split('\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    let at = (line_start + e.column().saturating_sub(1)).min(text.len());
    let mut start = at.saturating_sub(AROUND);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + AROUND).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let near = &text[start..end];
    let detail = if near.trim().is_empty() {
        e.to_string()
    } else {
        format!("{e}, near `{}`", Shown(near))
    };
    Rejection::new(RejectKind::NotJson, detail)
}

/// The rejection for a record that does not start with `{`: `not_object` if it is some other
/// JSON value, `not_json` with serde's position otherwise.
fn not_an_object(text: &str) -> Rejection {
    if text.trim().is_empty() {
        return Rejection::new(RejectKind::NotJson, "empty record");
    }
    match serde_json::from_str::<IgnoredAny>(text) {
        Ok(_) => {
            let what = match text.trim_start().as_bytes().first() {
                Some(b'[') => "an array",
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                Some(b'n') => "null",
                _ => "a number",
            };
            Rejection::new(
                RejectKind::NotObject,
                format!("expected a JSON object, got {what}: {}", Shown(text.trim())),
            )
        }
        Err(e) => not_json(text, &e),
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = RawFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = RawFields {
            slots: [None; FIELD_COUNT],
            duplicate: None,
        };
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Some(field) => {
                    let raw: &'de RawValue = map.next_value()?;
                    let slot = &mut fields.slots[field as usize];
                    if slot.is_some() && fields.duplicate.is_none() {
                        fields.duplicate = Some(field);
                    }
                    *slot = Some(raw);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// Reads an object key without allocating (escaped keys are unescaped into serde's scratch
/// buffer) and maps it to a known field.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<Field>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Field::from_key(key))
    }
}

/// A raw JSON value quoted in a rejection: at most [`SHOWN_CHARS`] characters, on one line.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == SHOWN_CHARS {
                return f.write_char('…');
            }
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

/// `raw` never has surrounding whitespace: serde_json skips it before buffering a raw value.
fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_number_literal(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'-' | b'0'..=b'9'))
}

impl<'a> RawFields<'a> {
    fn raw(&self, field: Field) -> Option<&'a RawValue> {
        self.slots[field as usize].filter(|raw| !is_null(raw))
    }

    fn into_event(self) -> Result<Event<'a>, Rejection> {
        if let Some(field) = self.duplicate {
            return Err(Rejection::new(
                RejectKind::BadValue,
                format!(
                    "field `{}` appears more than once; refusing to guess which copy is meant",
                    field.name()
                ),
            ));
        }
        let ts_ms = self.timestamp()?;
        let kind = self.kind()?;
        let account = self
            .string(Field::Account)?
            .ok_or_else(|| required(Field::Account, None))?;
        let mut event = Event::new(ts_ms, kind, account);
        match kind {
            EventKind::Login | EventKind::Mfa => {
                event.outcome = Some(self.outcome(kind)?);
            }
            EventKind::Access => {
                let action = self
                    .string(Field::Action)?
                    .ok_or_else(|| required(Field::Action, Some(kind)))?;
                event.action = Some(Action::parse(&action).ok_or_else(|| {
                    not_one_of(
                        Field::Action,
                        &action,
                        "read, search, export, print, update, delete",
                    )
                })?);
                event.count = self.count()?;
                event.resource = self.string(Field::Resource)?;
            }
            EventKind::Logout | EventKind::PasswordChange => {}
        }
        event.ip = self.ip()?;
        event.id = self.string(Field::Id)?;
        event.tenant = self.string(Field::Tenant)?;
        event.session = self.string(Field::Session)?;
        event.user_agent = self.string(Field::UserAgent)?;
        event.device_id = self.string(Field::DeviceId)?;
        event.method = self.string(Field::Method)?;
        event.failure_reason = self.string(Field::FailureReason)?;
        if let Some(k) = self.string(Field::AccountKind)? {
            event.account_kind = AccountKind::parse(&k)
                .ok_or_else(|| not_one_of(Field::AccountKind, &k, "user, service"))?;
        }
        Ok(event)
    }

    /// A string field: `None` when absent, null or empty (blank for identifiers); borrowed
    /// unless the JSON string holds escapes.
    fn string(&self, field: Field) -> Result<Option<Cow<'a, str>>, Rejection> {
        let Some(raw) = self.raw(field) else {
            return Ok(None);
        };
        let text = raw.get();
        let value: Cow<'a, str> =
            if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                if inner.contains('\\') {
                    let owned: String = serde_json::from_str(text).map_err(|e| {
                        Rejection::new(
                            RejectKind::NotJson,
                            format!("field `{}`: {}", field.name(), without_position(&e)),
                        )
                    })?;
                    Cow::Owned(owned)
                } else {
                    Cow::Borrowed(inner)
                }
            } else if field.is_identifier() && is_integer_literal(text) {
                Cow::Borrowed(text)
            } else {
                let expected = if field.is_identifier() {
                    "a string or an integer"
                } else {
                    "a string"
                };
                return Err(wrong_type(field, expected, text));
            };
        if value.len() > field.max_len() {
            return Err(Rejection::new(
                RejectKind::FieldTooLong,
                format!(
                    "field `{}` is {} bytes, longer than the {} byte limit: {}",
                    field.name(),
                    value.len(),
                    field.max_len(),
                    Shown(&value)
                ),
            ));
        }
        // JSON strings cannot hold raw control characters, so only an unescaped value can.
        if field.is_identifier() && matches!(value, Cow::Owned(_)) {
            super::check_identifier(field.name(), &value)?;
        }
        let blank = if field.is_identifier() {
            value.trim().is_empty()
        } else {
            value.is_empty()
        };
        Ok(if blank { None } else { Some(value) })
    }

    fn timestamp(&self) -> Result<i64, Rejection> {
        let raw = self
            .raw(Field::Ts)
            .ok_or_else(|| required(Field::Ts, None))?;
        let text = raw.get();
        if text.starts_with('"') {
            let s = self
                .string(Field::Ts)?
                .ok_or_else(|| required(Field::Ts, None))?;
            return timefmt::parse_rfc3339(&s).ok_or_else(|| {
                let hint = if is_integer_literal(&s) {
                    "epoch milliseconds must be a JSON number, not a string"
                } else {
                    "expected RFC 3339 like 2025-11-10T23:31:02Z, or integer epoch milliseconds"
                };
                bad_timestamp(text, hint)
            });
        }
        if !is_number_literal(text) {
            return Err(wrong_type(
                Field::Ts,
                "an RFC 3339 string or integer epoch milliseconds",
                text,
            ));
        }
        if !is_integer_literal(text) {
            return Err(bad_timestamp(
                text,
                "epoch milliseconds must be an integer (fractional epoch seconds are not accepted)",
            ));
        }
        let Ok(v) = text.parse::<i64>() else {
            return Err(bad_timestamp(text, "out of range"));
        };
        if (EPOCH_MS_MIN..EPOCH_MS_MAX).contains(&v) {
            return Ok(v);
        }
        let hint = if (EPOCH_MS_MIN / 1000..EPOCH_MS_MAX / 1000).contains(&v) {
            "looks like epoch seconds; Tocsin expects epoch milliseconds (seconds × 1000)"
        } else if (EPOCH_MS_MIN.saturating_mul(1000)..EPOCH_MS_MAX.saturating_mul(1000))
            .contains(&v)
        {
            "looks like epoch microseconds; Tocsin expects epoch milliseconds (µs ÷ 1000)"
        } else if v >= EPOCH_MS_MIN.saturating_mul(1_000_000) {
            "looks like epoch nanoseconds; Tocsin expects epoch milliseconds (ns ÷ 1000000)"
        } else {
            "not epoch milliseconds of a date between 2000 and 2100"
        };
        Err(bad_timestamp(text, hint))
    }

    fn kind(&self) -> Result<EventKind, Rejection> {
        let name = self
            .string(Field::Type)?
            .ok_or_else(|| required(Field::Type, None))?;
        EventKind::parse(&name).ok_or_else(|| {
            Rejection::new(
                RejectKind::UnknownType,
                format!(
                    "field `type`: {} is not one of login, mfa, access, logout, password_change",
                    Shown(self.raw(Field::Type).map_or("", |r| r.get()))
                ),
            )
        })
    }

    fn outcome(&self, kind: EventKind) -> Result<Outcome, Rejection> {
        let value = self
            .string(Field::Outcome)?
            .ok_or_else(|| required(Field::Outcome, Some(kind)))?;
        Outcome::parse(&value).ok_or_else(|| not_one_of(Field::Outcome, &value, "success, failure"))
    }

    fn count(&self) -> Result<u32, Rejection> {
        let Some(raw) = self.raw(Field::Count) else {
            return Ok(1);
        };
        let text = raw.get();
        if !is_integer_literal(text) {
            return Err(wrong_type(Field::Count, "an integer ≥ 1", text));
        }
        match text.parse::<i64>() {
            Ok(n) if n >= 1 => u32::try_from(n).map_err(|_| count_out_of_range(text)),
            Ok(_) => Err(Rejection::new(
                RejectKind::BadValue,
                format!("field `count` must be ≥ 1, got {}", Shown(text)),
            )),
            Err(_) => Err(count_out_of_range(text)),
        }
    }

    fn ip(&self) -> Result<Option<IpAddr>, Rejection> {
        let Some(text) = self.string(Field::Ip)? else {
            return Ok(None);
        };
        parse_ip(&text).map(Some).ok_or_else(|| {
            let raw = self.raw(Field::Ip).map_or("", |r| r.get());
            let detail = if text.parse::<SocketAddr>().is_ok() {
                format!(
                    "field `ip`: {} carries a port; send the address alone",
                    Shown(raw)
                )
            } else {
                format!("field `ip`: {} is not an IPv4 or IPv6 address", Shown(raw))
            };
            Rejection::new(RejectKind::BadIp, detail)
        })
    }
}

/// Parses a client address in the forms documented at the top of this module, canonicalised.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical_ip(ip));
    }
    let inner = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    let addr = match inner.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() => addr,
        Some(_) => return None,
        None => inner,
    };
    addr.parse::<Ipv6Addr>()
        .ok()
        .map(|v6| canonical_ip(IpAddr::V6(v6)))
}

/// serde's message without its "at line 1 column N": when a single value is re-parsed, that
/// position is inside the value, not the line, and would mislead.
fn without_position(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

fn required(field: Field, kind: Option<EventKind>) -> Rejection {
    let detail = match kind {
        Some(kind) => format!(
            "field `{}` is required for type {}",
            field.name(),
            kind.as_str()
        ),
        None => format!("field `{}` is required", field.name()),
    };
    Rejection::new(RejectKind::MissingField, detail)
}

fn wrong_type(field: Field, expected: &str, got: &str) -> Rejection {
    Rejection::new(
        RejectKind::WrongType,
        format!(
            "field `{}` must be {expected}, got {}",
            field.name(),
            Shown(got)
        ),
    )
}

fn not_one_of(field: Field, value: &str, allowed: &str) -> Rejection {
    // Re-quote the decoded value so the message shows it as the producer would write it.
    let quoted = serde_json::to_string(value).unwrap_or_default();
    Rejection::new(
        RejectKind::BadValue,
        format!(
            "field `{}`: {} is not one of {allowed}",
            field.name(),
            Shown(&quoted)
        ),
    )
}

fn bad_timestamp(raw: &str, hint: &str) -> Rejection {
    Rejection::new(
        RejectKind::BadTimestamp,
        format!("field `ts`: {}: {hint}", Shown(raw)),
    )
}

fn count_out_of_range(text: &str) -> Rejection {
    Rejection::new(
        RejectKind::BadValue,
        format!(
            "field `count` must be at most {}, got {}",
            u32::MAX,
            Shown(text)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"{"ts":"2025-11-10T23:31:02Z","type":"login","outcome":"success","account":"dr.martin@cabinet-rouen","tenant":"cabinet-rouen","session":"s-8f2c","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","device_id":"dev-1","method":"password","id":"ev-1"}"#;

    fn ok(line: &str) -> Event<'_> {
        decode(line.as_bytes()).unwrap_or_else(|r| panic!("{line}: rejected: {r}"))
    }

    /// The rejection of `line`, checked to be of `kind` and to mention every `needle`.
    fn rejected(line: &[u8], kind: RejectKind, needles: &[&str]) -> Rejection {
        let rej = match decode(line) {
            Ok(e) => panic!("{}: accepted as {e:?}", String::from_utf8_lossy(line)),
            Err(r) => r,
        };
        assert_eq!(rej.kind, kind, "{rej}");
        for n in needles {
            assert!(rej.detail.contains(n), "{rej:?} should mention {n:?}");
        }
        rej
    }

    fn borrowed(c: &Option<Cow<'_, str>>) -> bool {
        matches!(c, Some(Cow::Borrowed(_)))
    }

    #[test]
    fn login_with_every_field_borrows_every_string() {
        let e = ok(LOGIN);
        assert_eq!(e.ts_ms, 1_762_817_462_000);
        assert_eq!(e.kind, EventKind::Login);
        assert_eq!(e.outcome, Some(Outcome::Success));
        assert!(matches!(
            e.account,
            Cow::Borrowed("dr.martin@cabinet-rouen")
        ));
        assert_eq!(e.ip, Some("203.0.113.7".parse().unwrap()));
        for f in [
            &e.tenant,
            &e.session,
            &e.user_agent,
            &e.device_id,
            &e.method,
            &e.id,
        ] {
            assert!(borrowed(f), "{f:?}");
        }
        assert_eq!(e.device_id.as_deref(), Some("dev-1"));
        assert_eq!(e.method.as_deref(), Some("password"));
        assert_eq!(e.id.as_deref(), Some("ev-1"));
        assert_eq!(e.action, None);
        assert_eq!(e.count, 1);
    }

    #[test]
    fn access_with_action_resource_count() {
        let e = ok(
            r#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","session":"s","ip":"203.0.113.7","action":"export","resource":"patient_record","count":250}"#,
        );
        assert_eq!(e.action, Some(Action::Export));
        assert_eq!(e.resource.as_deref(), Some("patient_record"));
        assert_eq!(e.count, 250);
        assert_eq!(e.outcome, None);
        // count defaults to one record
        let e =
            ok(r#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"read"}"#);
        assert_eq!((e.count, e.resource), (1, None));
    }

    /// A non-human identity says so, round-trips through the writer, and a kind that is neither
    /// is refused naming the field (strict about meaning: a misspelt kind would make a service
    /// a person).
    #[test]
    fn account_kind_is_user_by_default_service_when_said() {
        let user =
            ok(r#"{"ts":"2025-11-10T23:31:05Z","type":"login","outcome":"success","account":"a"}"#);
        assert_eq!(user.account_kind, AccountKind::User);
        assert!(!user.to_json().contains("account_kind"));
        let line = r#"{"ts":"2025-11-10T23:31:05Z","type":"login","outcome":"success","account":"sync","account_kind":"service"}"#;
        let svc = ok(line);
        assert_eq!(svc.account_kind, AccountKind::Service);
        assert_eq!(ok(&svc.to_json()), svc);
        rejected(
            br#"{"ts":"2025-11-10T23:31:05Z","type":"login","outcome":"success","account":"a","account_kind":"robot"}"#,
            RejectKind::BadValue,
            &["account_kind", "robot"],
        );
    }

    #[test]
    fn every_type_and_its_requirements() {
        let mfa =
            ok(r#"{"ts":"2025-11-10T23:31:05Z","type":"mfa","outcome":"failure","account":"a"}"#);
        assert_eq!(
            (mfa.kind, mfa.outcome),
            (EventKind::Mfa, Some(Outcome::Failure))
        );
        let out =
            ok(r#"{"ts":"2025-11-10T23:31:05Z","type":"logout","account":"a","session":"s"}"#);
        assert_eq!(out.kind, EventKind::Logout);
        let pc = ok(r#"{"ts":"2025-11-10T23:31:05Z","type":"password_change","account":"a"}"#);
        assert_eq!(pc.kind, EventKind::PasswordChange);
        let fail = ok(
            r#"{"ts":"2025-11-10T23:31:05Z","type":"login","outcome":"failure","failure_reason":"bad_password","account":"a","ip":"192.0.2.1"}"#,
        );
        assert!(fail.is_login_failure());
        assert_eq!(fail.failure_reason.as_deref(), Some("bad_password"));

        // A login without an address is kept: geo and network are then missing, not invented.
        let no_ip =
            ok(r#"{"ts":"2025-11-10T23:31:05Z","type":"login","outcome":"success","account":"a"}"#);
        assert!(no_ip.is_login_success());
        assert_eq!(no_ip.ip, None);
        rejected(
            br#"{"ts":"2025-11-10T23:31:05Z","type":"login","account":"a","ip":"192.0.2.1"}"#,
            RejectKind::MissingField,
            &["`outcome`"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:05Z","type":"mfa","account":"a"}"#,
            RejectKind::MissingField,
            &["`outcome`", "mfa"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:05Z","type":"access","account":"a","count":3}"#,
            RejectKind::MissingField,
            &["`action`", "access"],
        );
    }

    #[test]
    fn fields_foreign_to_the_type_are_ignored() {
        // A login carrying access fields is still a plain login, so downstream stages can rely
        // on `action.is_some()` meaning an access event.
        let e = ok(
            r#"{"ts":"2025-11-10T23:31:02Z","type":"login","outcome":"success","account":"a","ip":"192.0.2.1","action":"bogus","count":0}"#,
        );
        assert_eq!((e.action, e.count), (None, 1));
        let e =
            ok(r#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","outcome":"maybe"}"#);
        assert_eq!(e.outcome, None);
    }

    #[test]
    fn missing_required_fields() {
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout"}"#,
            RejectKind::MissingField,
            &["field `account` is required"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":null}"#,
            RejectKind::MissingField,
            &["`account`"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"  "}"#,
            RejectKind::MissingField,
            &["`account`"],
        );
        rejected(
            br#"{"type":"logout","account":"a"}"#,
            RejectKind::MissingField,
            &["`ts`"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","account":"a"}"#,
            RejectKind::MissingField,
            &["`type`"],
        );
    }

    #[test]
    fn null_and_empty_optional_fields_are_absent() {
        let e = ok(
            r#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","tenant":null,"session":"","ip":null,"user_agent":"","id":null}"#,
        );
        assert_eq!(
            (e.tenant, e.session, e.ip, e.user_agent, e.id),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn unknown_fields_are_ignored_whatever_their_shape() {
        let e = ok(
            r#"{"extra":{"deep":[1,2,{"x":null}]},"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","n":1.5e3,"flag":true}"#,
        );
        assert_eq!(e.account, "a");
    }

    #[test]
    fn duplicate_known_field_is_refused() {
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"doctor","account":"attacker"}"#,
            RejectKind::BadValue,
            &["`account`", "more than once"],
        );
        // Unknown fields may repeat: they are never read.
        ok(r#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","x":1,"x":2}"#);
    }

    #[test]
    fn escaped_strings_are_unescaped_and_owned() {
        let e = ok(
            r#"{"ts":"2025-11-10T23:31:02Z","type":"login","outcome":"success","account":"dr.\u00e9lise\"x\"","ip":"192.0.2.1","user_agent":"a\/b\tc"}"#,
        );
        assert!(matches!(e.account, Cow::Owned(_)));
        assert_eq!(e.account, "dr.élise\"x\"");
        assert_eq!(e.user_agent.as_deref(), Some("a/b\tc"));
        // Escaped keys name the same fields.
        let e = ok(r#"{"t\u0073":"2025-11-10T23:31:02Z","type":"logout","\u0061ccount":"a"}"#);
        assert_eq!(e.account, "a");
        // Non-ASCII without escapes still borrows.
        let e =
            ok(r#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"dr.élise@clinique"}"#);
        assert!(matches!(e.account, Cow::Borrowed("dr.élise@clinique")));
    }

    #[test]
    fn lone_surrogate_escape_is_refused() {
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"\ud800"}"#,
            RejectKind::NotJson,
            &["field `account`: unexpected end of hex escape"],
        );
    }

    #[test]
    fn integer_identifiers_are_decimal_strings() {
        let e = ok(
            r#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":4217,"session":-9,"tenant":"t"}"#,
        );
        assert_eq!(e.account, "4217");
        assert_eq!(e.session.as_deref(), Some("-9"));
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":42.5}"#,
            RejectKind::WrongType,
            &["`account` must be a string or an integer, got 42.5"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","method":7}"#,
            RejectKind::WrongType,
            &["`method` must be a string, got 7"],
        );
    }

    #[test]
    fn wrong_types_quote_the_value() {
        rejected(
            br#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"export","count":"12"}"#,
            RejectKind::WrongType,
            &[r#"field `count` must be an integer ≥ 1, got "12""#],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"login","outcome":"success","account":"a","ip":{"addr":"192.0.2.1"}}"#,
            RejectKind::WrongType,
            &[r#"`ip` must be a string, got {"addr":"192.0.2.1"}"#],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":["login"],"account":"a"}"#,
            RejectKind::WrongType,
            &["`type`", r#"["login"]"#],
        );
        rejected(
            br#"{"ts":true,"type":"logout","account":"a"}"#,
            RejectKind::WrongType,
            &["`ts`", "got true"],
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(500);
        let line = format!(
            r#"{{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","method":["{long}"]}}"#
        );
        let rej = rejected(line.as_bytes(), RejectKind::WrongType, &["`method`", "…"]);
        assert!(rej.detail.len() < 200, "{}", rej.detail);
    }

    #[test]
    fn bad_values() {
        rejected(
            br#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"export","count":0}"#,
            RejectKind::BadValue,
            &["`count` must be ≥ 1, got 0"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"export","count":-3}"#,
            RejectKind::BadValue,
            &["got -3"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"export","count":2.5}"#,
            RejectKind::WrongType,
            &["got 2.5"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"export","count":99999999999}"#,
            RejectKind::BadValue,
            &["at most 4294967295"],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:33:40Z","type":"access","account":"a","action":"download"}"#,
            RejectKind::BadValue,
            &[r#"field `action`: "download" is not one of read, search, export"#],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"login","outcome":"ok","account":"a","ip":"192.0.2.1"}"#,
            RejectKind::BadValue,
            &[r#"field `outcome`: "ok" is not one of success, failure"#],
        );
    }

    #[test]
    fn unknown_type_lists_the_known_ones() {
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logon","account":"a"}"#,
            RejectKind::UnknownType,
            &[r#"field `type`: "logon" is not one of login, mfa, access, logout, password_change"#],
        );
    }

    #[test]
    fn ipv6_mapped_ipv4_brackets_and_zones() {
        let ip = |s: &str| {
            let line = format!(
                r#"{{"ts":"2025-11-10T23:31:02Z","type":"login","outcome":"success","account":"a","ip":"{s}"}}"#
            );
            decode(line.as_bytes()).map(|e| e.ip.map(|ip| ip.to_string()))
        };
        assert_eq!(ip("2001:db8::1").unwrap().as_deref(), Some("2001:db8::1"));
        assert_eq!(
            ip("2001:DB8:0:0::1").unwrap().as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            ip("::ffff:203.0.113.7").unwrap().as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            ip("::ffff:cb00:7107").unwrap().as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(ip("[2001:db8::1]").unwrap().as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("fe80::1%eth0").unwrap().as_deref(), Some("fe80::1"));
        assert_eq!(ip("[fe80::1%25]").unwrap().as_deref(), Some("fe80::1"));
        // "" means absent, and a login may lack an address.
        assert_eq!(ip("").unwrap(), None);
        for bad in [
            "300.1.1.1",
            "1.2.3",
            "010.1.1.1",
            "localhost",
            "[1.2.3.4]",
            "fe80::1%",
            "2001:db8::g",
        ] {
            let r = ip(bad).expect_err(bad);
            assert_eq!(r.kind, RejectKind::BadIp, "{bad}: {r}");
        }
        let r = ip("300.1.1.1").unwrap_err();
        assert_eq!(
            r.detail,
            r#"field `ip`: "300.1.1.1" is not an IPv4 or IPv6 address"#
        );
        let r = ip("203.0.113.7:443").unwrap_err();
        assert!(r.detail.contains("carries a port"), "{r}");
    }

    #[test]
    fn epoch_milliseconds_and_wrong_units() {
        let e = ok(r#"{"ts":1762817462123,"type":"logout","account":"a"}"#);
        assert_eq!(e.ts_ms, 1_762_817_462_123);
        let line = |ts: &str| format!(r#"{{"ts":{ts},"type":"logout","account":"a"}}"#);
        let cases = [
            ("1762817462", "epoch seconds"),
            ("1762817462123000", "microseconds"),
            ("1762817462123000000", "nanoseconds"),
            ("12", "between 2000 and 2100"),
            ("-5", "between 2000 and 2100"),
            ("1762817462.5", "must be an integer"),
            ("99999999999999999999", "out of range"),
            (r#""1762817462123""#, "must be a JSON number, not a string"),
            (r#""2025-13-01T00:00:00Z""#, "RFC 3339"),
            (r#""yesterday""#, "RFC 3339"),
        ];
        for (ts, needle) in cases {
            let rej = rejected(line(ts).as_bytes(), RejectKind::BadTimestamp, &[needle]);
            assert!(rej.detail.starts_with("field `ts`: "), "{rej}");
        }
    }

    #[test]
    fn rfc3339_with_offset_and_fraction() {
        let e = ok(r#"{"ts":"2025-11-11T00:31:02.5+01:00","type":"logout","account":"a"}"#);
        assert_eq!(e.ts_ms, 1_762_817_462_500);
    }

    #[test]
    fn field_bounds() {
        let line = |field: &str, len: usize| {
            format!(
                r#"{{"ts":"2025-11-10T23:31:02Z","type":"access","action":"read","{field}":"{}"{}}}"#,
                "x".repeat(len),
                if field == "account" {
                    ""
                } else {
                    r#","account":"a""#
                }
            )
        };
        for field in [
            "account",
            "tenant",
            "session",
            "device_id",
            "id",
            "method",
            "resource",
            "failure_reason",
        ] {
            ok(&line(field, 256));
            rejected(
                line(field, 257).as_bytes(),
                RejectKind::FieldTooLong,
                &[&format!("field `{field}` is 257 bytes"), "256 byte limit"],
            );
        }
        ok(&line("user_agent", 1024));
        rejected(
            line("user_agent", 1025).as_bytes(),
            RejectKind::FieldTooLong,
            &["`user_agent`", "1024"],
        );
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let mut line = br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"dr."#.to_vec();
        let offset = line.len();
        line.extend_from_slice(b"\xff\xfe\"}");
        rejected(
            &line,
            RejectKind::InvalidUtf8,
            &[&format!("byte offset {offset}")],
        );
    }

    #[test]
    fn not_json_carries_serde_position() {
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","acc"#,
            RejectKind::NotJson,
            &["line 1 column", r#"near `02Z","type":"logout","acc`"#],
        );
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z" "type":"logout","account":"a"}"#,
            RejectKind::NotJson,
            &[
                "expected `,` or `}` at line 1 column 30",
                r#"near `:"2025-11-10T23:31:02Z" "type":"logout","account`"#,
            ],
        );
        rejected(
            b"GET /index.html HTTP/1.1",
            RejectKind::NotJson,
            &["column 1"],
        );
        rejected(b"\x00\x01\x02binary", RejectKind::NotJson, &[]);
        rejected(b"", RejectKind::NotJson, &["empty record"]);
        rejected(
            br#"{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a"} trailing"#,
            RejectKind::NotJson,
            &["trailing characters"],
        );
        rejected(br#"{"ts":1,"#, RejectKind::NotJson, &["EOF"]);
    }

    #[test]
    fn json_that_is_not_an_object() {
        rejected(br#"[{"ts":1}]"#, RejectKind::NotObject, &["got an array"]);
        rejected(br#""login""#, RejectKind::NotObject, &["got a string"]);
        rejected(b"42", RejectKind::NotObject, &["got a number"]);
        rejected(b" null ", RejectKind::NotObject, &["got null"]);
        rejected(b"true", RejectKind::NotObject, &["got a boolean"]);
    }

    #[test]
    fn whitespace_around_the_object_is_fine() {
        let padded = format!(" \t{LOGIN}  ");
        assert_eq!(ok(&padded).account, "dr.martin@cabinet-rouen");
    }

    #[test]
    fn round_trips_through_write_json() {
        let e = ok(LOGIN);
        let again = e.to_json();
        assert_eq!(ok(&again), e);
    }

    #[test]
    fn deep_nesting_in_any_field_does_not_overflow_the_stack() {
        let depth = 30_000;
        for field in ["extra", "method"] {
            let line = format!(
                r#"{{"ts":"2025-11-10T23:31:02Z","type":"logout","account":"a","{field}":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            match (field, decode(line.as_bytes())) {
                ("extra", Ok(e)) => assert_eq!(e.account, "a"),
                ("method", Err(r)) => assert_eq!(r.kind, RejectKind::WrongType, "{r}"),
                (_, other) => panic!("{field}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
        }

        /// One byte of a good line changed: whatever comes out is either a rejection or an
        /// event that writes back out as a line decoding to the same event.
        #[test]
        fn corrupted_good_line_is_refused_or_round_trips(pos in 0..LOGIN.len(), byte in proptest::prelude::any::<u8>()) {
            let mut line = LOGIN.as_bytes().to_vec();
            line[pos] = byte;
            if let Ok(event) = decode(&line) {
                let again = event.to_json();
                proptest::prop_assert_eq!(decode(again.as_bytes()).ok(), Some(event));
            }
        }
    }

    /// A rough throughput check against the serde ceiling (a derived struct with borrowed
    /// fields, no validation), measured side by side because the machine's load varies:
    /// `cargo test --release --lib native::tests::speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn speed() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Ceiling<'a> {
            #[serde(borrow)]
            ts: Cow<'a, str>,
            #[serde(borrow, rename = "type")]
            kind: Cow<'a, str>,
            #[serde(borrow)]
            outcome: Option<Cow<'a, str>>,
            #[serde(borrow)]
            account: Cow<'a, str>,
            #[serde(borrow)]
            tenant: Option<Cow<'a, str>>,
            #[serde(borrow)]
            session: Option<Cow<'a, str>>,
            #[serde(borrow)]
            ip: Option<Cow<'a, str>>,
            #[serde(borrow)]
            user_agent: Option<Cow<'a, str>>,
            #[serde(borrow)]
            device_id: Option<Cow<'a, str>>,
            #[serde(borrow)]
            method: Option<Cow<'a, str>>,
            #[serde(borrow)]
            id: Option<Cow<'a, str>>,
        }
        let n = 1_000_000;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let mut sum = 0usize;
            for _ in 0..n {
                let c: Ceiling<'_> =
                    serde_json::from_slice(std::hint::black_box(LOGIN.as_bytes())).unwrap();
                sum = sum.wrapping_add(c.account.len());
            }
            let ceiling = started.elapsed().as_nanos() as f64 / n as f64;
            let started = std::time::Instant::now();
            for _ in 0..n {
                sum = sum.wrapping_add(
                    decode(std::hint::black_box(LOGIN.as_bytes())).map_or(0, |e| e.account.len()),
                );
            }
            let ours = started.elapsed().as_nanos() as f64 / n as f64;
            println!(
                "{} bytes: serde ceiling {ceiling:.0} ns, native::decode {ours:.0} ns ({sum})",
                LOGIN.len()
            );
        }
    }
}
