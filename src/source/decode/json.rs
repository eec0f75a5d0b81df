//! Parsing shared by the vendor decoders (`ocsf`, `ecs`, `okta`, `entra`, `cloudtrail`, `auth0`,
//! `google_workspace`, `keycloak`): turning serde errors into [`Rejection`]s that name the field,
//! loosely typed scalars (a time may be text or an epoch number, a count a number or a string),
//! timestamps, addresses, the first element of optional arrays, and the
//! case-insensitive word tests used to read vendors' free-text operation names.
//!
//! Native decoding (`native.rs`) has its own stricter rules; nothing here is on its path.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::{RejectKind, Rejection};
use crate::event::canonical_ip;
use crate::timefmt;

/// Parses one JSON object into a borrowed struct. A wrong type is reported with the path of the
/// field (`outcome.result: invalid type...`); broken JSON and non-objects with their own kinds.
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(record: &'a [u8]) -> Result<T, Rejection> {
    let first = record.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let mut de = serde_json::Deserializer::from_slice(record);
    let result = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        .and_then(|v| de.end().map(|()| v).map_err(|e| (String::new(), e)));
    result.map_err(|(path, inner)| match inner.classify() {
        serde_json::error::Category::Io => Rejection::new(RejectKind::Io, inner.to_string()),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            Rejection::new(RejectKind::NotJson, inner.to_string())
        }
        serde_json::error::Category::Data if first != Some(b'{') => Rejection::new(
            RejectKind::NotObject,
            "the record is valid JSON but not an object",
        ),
        serde_json::error::Category::Data => {
            Rejection::new(RejectKind::WrongType, format!("field `{path}`: {inner}"))
        }
    })
}

/// A JSON scalar whose type varies between producers (a time as text or epoch milliseconds, a
/// count as a number or a string). Strings borrow from the input when unescaped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// A non-integer number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl<'a> Scalar<'a> {
    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

struct ScalarVisitor<'a>(std::marker::PhantomData<Scalar<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

/// Deserializes an optional string that borrows from the input when it has no escapes.
/// (serde borrows a `Cow<str>` field only when it is not wrapped in an `Option`; use as
/// `#[serde(borrow, default, deserialize_with = "json::opt_str")]`.)
pub(crate) fn opt_str<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct V<'a>(std::marker::PhantomData<Cow<'a, str>>);
    impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
        type Value = Option<Cow<'a, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
    }
    d.deserialize_option(V(std::marker::PhantomData))
}

/// The first element of an array, read without collecting the rest. Anything but an array
/// (`null`, a JSON-encoded string as Log Analytics exports nested arrays, an object) is read as
/// no element: it holds optional detail that must not cost the record.
pub(crate) struct First<T>(pub(crate) Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let first = seq.next_element::<Option<T>>()?.flatten();
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
            fn visit_map<M: de::MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(First(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(First(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(First(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(First(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(First(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(First(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(First(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Reads a required event time with [`timefmt::parse_lenient`]: RFC 3339 or ISO 8601 text (a
/// space for `T`, 1 to 9 fraction digits, `+hhmm` offsets, no zone meaning UTC), or epoch
/// seconds or milliseconds as a number or decimal text. The refusal names the field.
pub(crate) fn timestamp(field: &str, v: Option<&Scalar<'_>>) -> Result<i64, Rejection> {
    let bad = |v: &Scalar<'_>, why: &str| {
        Rejection::new(
            RejectKind::BadTimestamp,
            format!("field `{field}`: {v} {why}"),
        )
    };
    match v {
        None => Err(missing(field)),
        Some(s @ Scalar::Str(text)) => timefmt::parse_lenient(text).ok_or_else(|| {
            bad(
                s,
                "is not a date and time (RFC 3339, or epoch seconds or milliseconds)",
            )
        }),
        Some(n @ Scalar::Int(i)) => timefmt::epoch(*i)
            .ok_or_else(|| bad(n, "is out of range for epoch seconds or milliseconds")),
        // Fractional epoch seconds (`1712085457.621`), as some exporters write them.
        Some(n @ Scalar::Float(x)) if x.is_finite() && *x >= 0.0 && *x < 1e11 => {
            let ms = (*x * 1000.0).floor() as i64;
            (ms <= timefmt::MAX_MS)
                .then_some(ms)
                .ok_or_else(|| bad(n, "is out of range"))
        }
        Some(other) => Err(bad(
            other,
            "is neither a date and time nor epoch seconds or milliseconds",
        )),
    }
}

/// Reads an optional client address. Empty means absent; anything else must be an address.
pub(crate) fn ip(field: &str, v: Option<&str>) -> Result<Option<IpAddr>, Rejection> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<IpAddr>()
            .map(|ip| Some(canonical_ip(ip)))
            .map_err(|_| {
                Rejection::new(
                    RejectKind::BadIp,
                    format!("field `{field}`: {s:?} is not an IPv4 or IPv6 address"),
                )
            }),
    }
}

/// Reads a record count that producers write as a number or a numeric string; must be ≥ 1.
pub(crate) fn count(field: &str, v: &Scalar<'_>) -> Result<u32, Rejection> {
    let n = match v {
        Scalar::Int(i) => u32::try_from(*i).ok(),
        Scalar::Str(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(Rejection::new(
            RejectKind::BadValue,
            format!("field `{field}`: {v} is not a record count of at least 1"),
        )),
    }
}

/// A `MissingField` rejection for `field`.
pub(crate) fn missing(field: &str) -> Rejection {
    Rejection::new(
        RejectKind::MissingField,
        format!("field `{field}` is required"),
    )
}

/// A `BadValue` rejection: `field` holds `value`, which `why`.
pub(crate) fn bad_value(field: &str, value: impl fmt::Display, why: &str) -> Rejection {
    Rejection::new(
        RejectKind::BadValue,
        format!("field `{field}`: {value} {why}"),
    )
}

/// Drops empty and whitespace-only strings: vendors write `""` for "unknown".
pub(crate) fn present(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    v.filter(|s| !s.trim().is_empty())
}

/// The first of `candidates` that is present (non-empty).
pub(crate) fn first_present<'a>(
    candidates: impl IntoIterator<Item = Option<Cow<'a, str>>>,
) -> Option<Cow<'a, str>> {
    candidates.into_iter().find_map(present)
}

/// True when `haystack` contains `needle` ignoring ASCII case (`needle` is lower-case ASCII).
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The words of an identifier or phrase: split at anything not a letter or digit and at
/// camel-case humps, so `ExportPatientRecords`, `patient-records-export`, `PDFExport` and
/// `GET /records` all yield their words.
fn words(s: &str) -> impl Iterator<Item = &str> {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i <= b.len() {
            let at = i;
            i += 1;
            let boundary = at == b.len() || !b[at].is_ascii_alphanumeric();
            let hump = at > start
                && at < b.len()
                && b[at].is_ascii_uppercase()
                && (b[at - 1].is_ascii_lowercase()
                    || b[at - 1].is_ascii_digit()
                    || (b[at - 1].is_ascii_uppercase()
                        && b.get(at + 1).is_some_and(u8::is_ascii_lowercase)));
            if boundary || hump {
                let from = start;
                start = if boundary { at + 1 } else { at };
                // Only a non-empty run is sliced: it starts and ends next to ASCII letters or
                // digits, hence on character boundaries. After a multi-byte character `from`
                // points inside it, and even an empty slice there would panic.
                if from < at {
                    return Some(&s[from..at]);
                }
            }
        }
        None
    })
}

/// The data-access action named by a free-text operation (`ExportPatientRecords`,
/// `search_patients`, `GET /records`), if one of its words starts with an action verb. When
/// several do, the strongest wins: exports and prints before searches, searches before plain
/// reads, because an export or a search also reads.
pub(crate) fn action_hint(operation: &str) -> Option<crate::event::Action> {
    use crate::event::Action::*;
    const HINTS: &[(&str, crate::event::Action)] = &[
        ("export", Export),
        ("download", Export),
        ("print", Print),
        ("search", Search),
        ("query", Search),
        ("find", Search),
        ("list", Search),
        ("delete", Delete),
        ("remove", Delete),
        ("update", Update),
        ("modify", Update),
        ("create", Update),
        ("write", Update),
        ("read", Read),
        ("view", Read),
        ("open", Read),
        ("get", Read),
    ];
    words(operation)
        .filter_map(|w| {
            HINTS.iter().position(|(verb, _)| {
                w.len() >= verb.len()
                    && w.as_bytes()[..verb.len()].eq_ignore_ascii_case(verb.as_bytes())
            })
        })
        .min()
        .map(|i| HINTS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action;

    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(
            borrow,
            default,
            deserialize_with = "crate::source::decode::json::opt_str"
        )]
        name: Option<Cow<'a, str>>,
        n: Option<u32>,
    }

    #[test]
    fn wrong_type_names_the_field() {
        let r = parse_object::<Probe>(br#"{"name":"a","n":"x"}"#)
            .err()
            .unwrap();
        assert_eq!(r.kind, RejectKind::WrongType);
        assert!(r.detail.starts_with("field `n`:"), "{}", r.detail);
    }

    #[test]
    fn arrays_and_garbage_are_told_apart() {
        let r = parse_object::<Probe>(b"[1,2]").err().unwrap();
        assert_eq!(r.kind, RejectKind::NotObject);
        let r = parse_object::<Probe>(b"{\"name\":").err().unwrap();
        assert_eq!(r.kind, RejectKind::NotJson);
        let r = parse_object::<Probe>(b"{} trailing").err().unwrap();
        assert_eq!(r.kind, RejectKind::NotJson);
    }

    #[test]
    fn unescaped_strings_borrow() {
        let p = parse_object::<Probe>(br#"{"name":"dr.martin"}"#).unwrap();
        assert!(matches!(p.name, Some(Cow::Borrowed(_))));
        assert_eq!(p.n, None);
    }

    #[test]
    fn timestamps_accept_text_and_millis() {
        let t = Scalar::Str("2025-11-10T23:31:02.123Z".into());
        assert_eq!(timestamp("t", Some(&t)).unwrap(), 1_762_817_462_123);
        assert_eq!(
            timestamp("t", Some(&Scalar::Int(1_762_817_462_123))).unwrap(),
            1_762_817_462_123
        );
        let r = timestamp("time", Some(&Scalar::Str("yesterday".into())))
            .err()
            .unwrap();
        assert_eq!(r.kind, RejectKind::BadTimestamp);
        assert_eq!(
            r.detail,
            "field `time`: \"yesterday\" is not a date and time (RFC 3339, or epoch seconds or milliseconds)"
        );
        assert_eq!(
            timestamp("t", None).err().unwrap().kind,
            RejectKind::MissingField
        );
        assert_eq!(
            timestamp("t", Some(&Scalar::Int(-5))).err().unwrap().kind,
            RejectKind::BadTimestamp
        );
    }

    #[test]
    fn addresses_are_canonical_and_empty_is_absent() {
        assert_eq!(ip("ip", Some("")).unwrap(), None);
        assert_eq!(
            ip("ip", Some("::ffff:90.1.2.3")).unwrap(),
            Some("90.1.2.3".parse().unwrap())
        );
        assert_eq!(
            ip("ip", Some("300.1.1.1")).err().unwrap().kind,
            RejectKind::BadIp
        );
    }

    #[test]
    fn operation_names_hint_actions() {
        assert_eq!(action_hint("ExportPatientRecords"), Some(Action::Export));
        assert_eq!(action_hint("patients.search"), Some(Action::Search));
        assert_eq!(action_hint("GetPatient"), Some(Action::Read));
        assert_eq!(action_hint("Heartbeat"), None);
        // Words, not substrings: a thread is no read, a blocklist no search, a target no get.
        assert_eq!(action_hint("ThreadDump"), None);
        assert_eq!(action_hint("SetTarget"), None);
        assert_eq!(action_hint("Blacklist"), None);
        assert_eq!(action_hint("GetExportStatus"), Some(Action::Export));
        assert_eq!(action_hint("GET /records"), Some(Action::Read));
        assert_eq!(action_hint("PDFExport"), Some(Action::Export));
        assert_eq!(action_hint("downloaded"), Some(Action::Export));
    }

    #[test]
    fn words_split_at_separators_and_humps() {
        let w: Vec<_> = words("GetPatientChart").collect();
        assert_eq!(w, ["Get", "Patient", "Chart"]);
        let w: Vec<_> = words("patient-records.export v2").collect();
        assert_eq!(w, ["patient", "records", "export", "v2"]);
        let w: Vec<_> = words("PDFExport").collect();
        assert_eq!(w, ["PDF", "Export"]);
        assert_eq!(words("").count(), 0);
    }

    /// Bug (found by the `decode_vendor` fuzz target): a multi-byte character in an operation
    /// name made `words` slice inside it and panic, so one OCSF or ECS record could stop a
    /// worker.
    #[test]
    fn words_around_multibyte_characters_do_not_panic() {
        let w: Vec<_> = words("Getñtosh; éxport Fiche_patiënt 導出 PDFExport").collect();
        assert_eq!(
            w,
            ["Get", "tosh", "xport", "Fiche", "pati", "nt", "PDF", "Export"]
        );
        assert_eq!(words("é").count(), 0);
        assert_eq!(words("ñ").count(), 0);
        assert_eq!(action_hint("Getñtosh"), Some(Action::Read));
        assert_eq!(action_hint("Télécharger"), None);
        assert_eq!(action_hint("ÉxportRecords"), None);
    }

    #[test]
    fn counts_from_numbers_or_strings() {
        assert_eq!(count("c", &Scalar::Str("500".into())).unwrap(), 500);
        assert_eq!(count("c", &Scalar::Int(3)).unwrap(), 3);
        assert_eq!(
            count("c", &Scalar::Int(0)).err().unwrap().kind,
            RejectKind::BadValue
        );
    }
}
