//! Decoders: bytes of one input record → normalised [`Event`], or a precise [`Rejection`].
//!
//! `native` is Tocsin's own schema (README.md, "Events in Kafka"); the others map vendors' sign-in
//! logs onto it. A record that is well-formed but describes something Tocsin does not model (a
//! vendor's admin event, say) is [`Decoded::NotApplicable`]: counted apart from malformed input.

use std::borrow::Cow;
use std::fmt;

use crate::event::Event;

pub mod auth0;
pub mod cloudtrail;
pub mod document;
pub mod ecs;
pub mod entra;
pub mod google_workspace;
pub(crate) mod json;
pub mod keycloak;
pub mod native;
pub mod ocsf;
pub mod okta;

/// The longest record accepted, in bytes (a line, a Kafka message, or one element of a document).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The input formats are a plain value (configuration names them): they live with the event.
pub use crate::event::Format;

/// Why a record was refused. Stable names: they are metric labels and summary keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// Longer than [`MAX_RECORD_BYTES`].
    TooLong,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Not parseable JSON.
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// A required field is absent (or null).
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// A timestamp that is not RFC 3339 or epoch milliseconds, or out of range.
    BadTimestamp,
    /// An address that is not IPv4 or IPv6.
    BadIp,
    /// A `type` Tocsin does not know.
    UnknownType,
    /// A field with a value outside its domain (unknown `outcome`, `count` of 0...).
    BadValue,
    /// A field longer than its bound.
    FieldTooLong,
    /// An identifier (account, tenant, session, device id, event id) holding a control
    /// character (CR, LF, ESC...): it would forge lines or colours in text logs and terminals.
    BadField,
    /// The input could not be read.
    Io,
    /// Tocsin itself failed on this record (a bug, caught so that one record cannot stop
    /// the engine): please report it with the dead-lettered record.
    Internal,
}

impl RejectKind {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::TooLong => "too_long",
            RejectKind::InvalidUtf8 => "invalid_utf8",
            RejectKind::NotJson => "not_json",
            RejectKind::NotObject => "not_object",
            RejectKind::MissingField => "missing_field",
            RejectKind::WrongType => "wrong_type",
            RejectKind::BadTimestamp => "bad_timestamp",
            RejectKind::BadIp => "bad_ip",
            RejectKind::UnknownType => "unknown_type",
            RejectKind::BadValue => "bad_value",
            RejectKind::FieldTooLong => "field_too_long",
            RejectKind::BadField => "bad_field",
            RejectKind::Io => "io",
            RejectKind::Internal => "internal_error",
        }
    }
}

/// A refused record: the kind, and a sentence saying exactly what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Category, for counting.
    pub kind: RejectKind,
    /// Human detail, e.g. "field `ip`: \"300.1.1.1\" is not an IPv4 or IPv6 address".
    pub detail: String,
}

impl Rejection {
    /// A rejection with its detail.
    pub fn new(kind: RejectKind, detail: impl Into<String>) -> Self {
        Rejection {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

impl std::error::Error for Rejection {}

/// The result of decoding one record that was not malformed.
// Boxing the event would allocate on the hot path for the common variant.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded<'a> {
    /// A usable event.
    Event(Event<'a>),
    /// Well-formed, but not a sign-in or data access (e.g. an admin event): skipped, with why.
    NotApplicable(Cow<'static, str>),
}

/// Decodes one record (a line or a message) in `format`. Vendor records may hold several events
/// (a `Records` array), so results go to `out`, one call per event or rejection.
pub fn decode<'a>(
    format: Format,
    record: &'a [u8],
    out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>),
) {
    if record.len() > MAX_RECORD_BYTES {
        out(Err(Rejection::new(
            RejectKind::TooLong,
            format!(
                "record of {} bytes exceeds the {} byte limit",
                record.len(),
                MAX_RECORD_BYTES
            ),
        )));
        return;
    }
    // The native decoder bounds each field as it reads it; vendor events are held to the same
    // bounds here, so no stage after decoding ever sees an oversized account or session.
    let mut bounded = |r: Result<Decoded<'a>, Rejection>| {
        out(match r {
            Ok(Decoded::Event(ev)) => check_field_bounds(&ev).map(|()| Decoded::Event(ev)),
            other => other,
        })
    };
    match format {
        Format::Native => out(native::decode(record).map(Decoded::Event)),
        Format::Ocsf => ocsf::decode(record, &mut bounded),
        Format::Ecs => ecs::decode(record, &mut bounded),
        Format::Okta => okta::decode(record, &mut bounded),
        Format::Entra => entra::decode(record, &mut bounded),
        Format::Cloudtrail => cloudtrail::decode(record, &mut bounded),
        Format::Auth0 => auth0::decode(record, &mut bounded),
        Format::GoogleWorkspace => google_workspace::decode(record, &mut bounded),
        Format::Keycloak => keycloak::decode(record, &mut bounded),
    }
}

/// The native decoder's field bounds ([`native::MAX_FIELD_BYTES`], and
/// [`native::MAX_USER_AGENT_BYTES`] for the user agent) and its refusal of control characters
/// in identifiers ([`check_identifier`]), applied to an event from any format.
pub fn check_field_bounds(ev: &Event<'_>) -> Result<(), Rejection> {
    let fields: [(&str, Option<&str>, usize); 9] = [
        ("account", Some(&ev.account), native::MAX_FIELD_BYTES),
        ("tenant", ev.tenant.as_deref(), native::MAX_FIELD_BYTES),
        ("session", ev.session.as_deref(), native::MAX_FIELD_BYTES),
        (
            "device_id",
            ev.device_id.as_deref(),
            native::MAX_FIELD_BYTES,
        ),
        ("id", ev.id.as_deref(), native::MAX_FIELD_BYTES),
        ("method", ev.method.as_deref(), native::MAX_FIELD_BYTES),
        (
            "failure_reason",
            ev.failure_reason.as_deref(),
            native::MAX_FIELD_BYTES,
        ),
        ("resource", ev.resource.as_deref(), native::MAX_FIELD_BYTES),
        (
            "user_agent",
            ev.user_agent.as_deref(),
            native::MAX_USER_AGENT_BYTES,
        ),
    ];
    for (i, (name, value, max)) in fields.into_iter().enumerate() {
        if let Some(v) = value {
            // The first five are identifiers.
            if i < 5 {
                check_identifier(name, v)?;
            }
            if v.len() > max {
                return Err(Rejection::new(
                    RejectKind::FieldTooLong,
                    format!(
                        "field `{name}` of {} bytes exceeds the {max} byte limit",
                        v.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses an identifier holding a control character (C0, DEL, C1: CR, LF, ESC...), with
/// reason `bad_field`. Identifiers reach text logs, terminals and analysts' screens, where such
/// a character forges a line or hides text; no real account, tenant, session or device id
/// holds one.
pub fn check_identifier(name: &str, value: &str) -> Result<(), Rejection> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(Rejection::new(
            RejectKind::BadField,
            format!(
                "field `{name}` holds the control character U+{:04X}",
                c as u32
            ),
        )),
    }
}

/// Every result of decoding `record` in `format`, for the decoders' unit tests.
#[cfg(test)]
pub(crate) fn results(format: Format, record: &str) -> Vec<Result<Decoded<'_>, Rejection>> {
    let mut v = Vec::new();
    decode(format, record.as_bytes(), &mut |r| v.push(r));
    v
}
