//! `ecs` format: Elastic Common Schema documents, with nested objects (`{"event":{"outcome":..}}`)
//! and dotted keys (`{"event.outcome":..}`) accepted alike, even mixed in one document.
//!
//! - `event.category` containing `authentication` → a sign-in event. `event.action` decides the
//!   kind when it names one (logout / log-off / `user.session.end` → `logout`; mfa / verify /
//!   second factor → `mfa`; a password change / reset → `password_change`); otherwise
//!   `event.type` `end` → `logout`, and anything else (`start`, `info`) → `login`, except an
//!   event whose `event.type` is neither `start` nor `end` and whose action names no sign-in
//!   (login, logon, sign-in, session start, authentication, credential): that is a policy
//!   evaluation or a similar step around a sign-in, not applicable. A login without `source.ip`
//!   or `client.ip` is kept without an address.
//!   `event.outcome` `success` / `failure` is required for logins and MFA steps; `unknown` is not
//!   applicable. `event.reason` is the failure reason.
//! - `event.category` containing `database`, `file` or `web` → `access` when `event.action`
//!   names a data action (export, search, read, update, delete, print...) or `event.type` is
//!   `access` / `change` / `creation` / `deletion`. ECS has no record count nor resource name:
//!   they are read from `labels.record_count` and `labels.resource` (ECS `labels` is the
//!   schema's place for such custom keywords). Failed accesses touched no data: not applicable.
//! - `event.category` `iam` with an `event.action` naming a password change or reset →
//!   `password_change`.
//! - Anything else is not applicable.
//!
//! Common fields: `@timestamp`; account `user.name` (joined as `name@domain` with a DNS
//! `user.domain`, when a pipeline split a principal name in two), else `user.email`, else `user.id` (for a
//! password change, `user.target.name` first: an admin's reset names the admin in `user`); `source.ip`,
//! else `client.ip`; `user_agent.original`; `device.id`; `event.id`; tenant `organization.id`,
//! else `organization.name`. ECS defines no session field, so the session is `session.id` (the
//! name most shippers use for it) or, for Okta data shipped by Filebeat,
//! `okta.authentication_context.external_session_id`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::json::{self, Scalar};
use super::{Decoded, Rejection};
use crate::event::{Action, Event, EventKind, Outcome};

/// The ECS fields read, by dotted path. The index of a path is its slot in [`Fields::values`].
const PATHS: &[&str] = &[
    "@timestamp",
    "event.category",
    "event.type",
    "event.action",
    "event.outcome",
    "event.id",
    "event.reason",
    "user.name",
    "user.email",
    "user.id",
    "source.ip",
    "client.ip",
    "user_agent.original",
    "session.id",
    "okta.authentication_context.external_session_id",
    "organization.id",
    "organization.name",
    "device.id",
    "labels.record_count",
    "labels.resource",
    "user.target.name",
    "user.domain",
];
const TIMESTAMP: usize = 0;
const CATEGORY: usize = 1;
const TYPE: usize = 2;
const ACTION: usize = 3;
const OUTCOME: usize = 4;
const ID: usize = 5;
const REASON: usize = 6;
const USER_NAME: usize = 7;
const USER_EMAIL: usize = 8;
const USER_ID: usize = 9;
const SOURCE_IP: usize = 10;
const CLIENT_IP: usize = 11;
const USER_AGENT: usize = 12;
const SESSION_ID: usize = 13;
const OKTA_SESSION: usize = 14;
const ORG_ID: usize = 15;
const ORG_NAME: usize = 16;
const DEVICE_ID: usize = 17;
const RECORD_COUNT: usize = 18;
const RESOURCE: usize = 19;
const TARGET_USER: usize = 20;
const USER_DOMAIN: usize = 21;

/// `event.category` / `event.type` values Tocsin looks at, as bits (both fields are keyword
/// arrays in ECS, often written as a single string).
mod tag {
    pub const AUTHENTICATION: u16 = 1;
    pub const DATABASE: u16 = 1 << 1;
    pub const FILE: u16 = 1 << 2;
    pub const WEB: u16 = 1 << 3;
    pub const START: u16 = 1 << 4;
    pub const END: u16 = 1 << 5;
    pub const ACCESS: u16 = 1 << 6;
    pub const CHANGE: u16 = 1 << 7;
    pub const CREATION: u16 = 1 << 8;
    pub const DELETION: u16 = 1 << 9;
    pub const IAM: u16 = 1 << 10;

    pub fn of(value: &str) -> u16 {
        match value {
            "authentication" => AUTHENTICATION,
            "database" => DATABASE,
            "file" => FILE,
            "web" => WEB,
            "start" => START,
            "end" => END,
            "access" => ACCESS,
            "change" => CHANGE,
            "creation" => CREATION,
            "deletion" => DELETION,
            "iam" => IAM,
            _ => 0,
        }
    }
}

/// The values found for [`PATHS`]; category and type as tag bits.
#[derive(Default)]
struct Fields<'a> {
    values: [Option<Scalar<'a>>; PATHS.len()],
    category: u16,
    types: u16,
}

impl<'a> Fields<'a> {
    fn str(&self, slot: usize) -> Option<&str> {
        self.values[slot]
            .as_ref()
            .and_then(Scalar::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    fn take_str(&mut self, slot: usize) -> Option<Cow<'a, str>> {
        match self.values[slot].take() {
            Some(Scalar::Str(s)) if !s.trim().is_empty() => Some(s),
            _ => None,
        }
    }
}

/// Where a dotted path stands against [`PATHS`].
enum Match {
    Field(usize),
    /// A proper prefix of some wanted path: descend into the object.
    Parent,
    Unwanted,
}

fn lookup(path: &str) -> Match {
    let mut parent = false;
    for (i, p) in PATHS.iter().enumerate() {
        if *p == path {
            return Match::Field(i);
        }
        parent |= p.len() > path.len() && p.starts_with(path) && p.as_bytes()[path.len()] == b'.';
    }
    if parent {
        Match::Parent
    } else {
        Match::Unwanted
    }
}

/// Walks one JSON object, joining keys into dotted paths under `prefix`, keeping wanted leaves.
struct Walker<'f, 'a> {
    fields: &'f mut Fields<'a>,
    /// The dotted path of the object being walked; one buffer reused for the whole document.
    path: &'f mut String,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Walker<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Walker<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an ECS object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let base = self.path.len();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            self.path.truncate(base);
            if base > 0 {
                self.path.push('.');
            }
            self.path.push_str(&key.0);
            match lookup(self.path) {
                Match::Field(CATEGORY) => self.fields.category |= map.next_value::<Tags>()?.0,
                Match::Field(TYPE) => self.fields.types |= map.next_value::<Tags>()?.0,
                Match::Field(slot) => self.fields.values[slot] = map.next_value()?,
                Match::Parent => map.next_value_seed(Walker {
                    fields: &mut *self.fields,
                    path: &mut *self.path,
                })?,
                Match::Unwanted => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.path.truncate(base);
        Ok(())
    }

    // A wanted parent holding a scalar or an array (`"user": "bob"`) is simply not a match.
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Str(s) => Ok(Key(s)),
            other => Err(de::Error::custom(format!("key {other} is not a string"))),
        }
    }
}

/// A keyword or keyword array, reduced to [`tag`] bits.
struct Tags(u16);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a keyword or an array of keywords")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tags, E> {
                Ok(Tags(tag::of(v)))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Tags, S::Error> {
                let mut bits = 0;
                while let Some(v) = seq.next_element::<Key<'de>>()? {
                    bits |= tag::of(&v.0);
                }
                Ok(Tags(bits))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Tags, E> {
                Ok(Tags(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// The whole document, walked from the root.
struct Document<'a>(Fields<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Document<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Root<'a>(PhantomData<Fields<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Root<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ECS object")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Fields<'a>, M::Error> {
                let mut fields = Fields::default();
                let mut path = String::with_capacity(64);
                Walker {
                    fields: &mut fields,
                    path: &mut path,
                }
                .visit_map(map)?;
                Ok(fields)
            }
        }
        Ok(Document(d.deserialize_map(Root(PhantomData))?))
    }
}

/// Decodes one `ecs` document.
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(json::parse_object::<Document<'a>>(record).and_then(|d| map(d.0)));
}

fn map(mut f: Fields<'_>) -> Result<Decoded<'_>, Rejection> {
    let kind = if f.category & tag::AUTHENTICATION != 0 {
        match auth_kind(f.str(ACTION), f.types) {
            Some(kind) => kind,
            None => {
                return Ok(Decoded::NotApplicable(
                    "ecs authentication event whose event.action names no sign-in and whose event.type is neither start nor end (a policy evaluation, say)".into(),
                ))
            }
        }
    } else if f.category & (tag::DATABASE | tag::FILE | tag::WEB) != 0 {
        EventKind::Access
    } else if f.category & tag::IAM != 0 && f.str(ACTION).is_some_and(is_password_change) {
        // Identity-management events (`iam`) are mostly admin work; only the password change of
        // the account itself belongs to a sign-in story.
        EventKind::PasswordChange
    } else {
        return Ok(Decoded::NotApplicable(
            "ecs event.category is not authentication, database, file or web (nor an iam password change)"
                .into(),
        ));
    };

    let outcome = match f.str(OUTCOME) {
        Some("success") => Some(Outcome::Success),
        Some("failure") => Some(Outcome::Failure),
        Some("unknown") | None => None,
        Some(other) => {
            return Err(json::bad_value(
                "event.outcome",
                format_args!("{other:?}"),
                "is not success, failure or unknown",
            ))
        }
    };
    let action = if kind == EventKind::Access {
        if outcome == Some(Outcome::Failure) {
            return Ok(Decoded::NotApplicable(
                "ecs data access failed: no data accessed".into(),
            ));
        }
        let from_type = if f.types & tag::DELETION != 0 {
            Some(Action::Delete)
        } else if f.types & (tag::CHANGE | tag::CREATION) != 0 {
            Some(Action::Update)
        } else if f.types & tag::ACCESS != 0 {
            Some(Action::Read)
        } else {
            None
        };
        match f.str(ACTION).and_then(json::action_hint).or(from_type) {
            Some(a) => Some(a),
            None => {
                return Ok(Decoded::NotApplicable(
                    "ecs event.action / event.type name no data access".into(),
                ))
            }
        }
    } else {
        None
    };
    if matches!(kind, EventKind::Login | EventKind::Mfa) && outcome.is_none() {
        return match f.values[OUTCOME] {
            None => Err(json::missing("event.outcome")),
            Some(_) => Ok(Decoded::NotApplicable(
                "ecs sign-in with event.outcome unknown".into(),
            )),
        };
    }

    let ts = json::timestamp("@timestamp", f.values[TIMESTAMP].as_ref())?;
    // A password change names the account changed in `user.target` when someone else (an
    // admin's reset) did it; `user` is then the admin.
    let target = match kind {
        EventKind::PasswordChange => f.take_str(TARGET_USER),
        _ => None,
    };
    // Pipelines that split a principal name put `user@example.org` in `user.name` + `user.domain`
    // (Elastic's Entra integration): joined back, it is the account other sources name. A
    // NetBIOS domain (`CORP`, no dot: Windows events) is no part of the account name there.
    let actor = match (f.take_str(USER_NAME), f.take_str(USER_DOMAIN)) {
        (Some(name), Some(domain))
            if domain.contains('.') && !name.contains('@') && !name.contains('\\') =>
        {
            Some(Cow::Owned(format!("{name}@{domain}")))
        }
        (Some(name), _) => Some(name),
        (None, _) => [USER_EMAIL, USER_ID]
            .into_iter()
            .find_map(|slot| f.take_str(slot)),
    };
    // The client, session and device of an admin's reset are the admin's, not the account's.
    let on_behalf = target.is_some() && target != actor;
    let account = target.or(actor).ok_or_else(|| json::missing("user.name"))?;
    let mut e = Event::new(ts, kind, account);
    // Only sign-in steps have an outcome in the native schema; a logout or an access succeeded
    // by being reported (failed ones were skipped above).
    if matches!(kind, EventKind::Login | EventKind::Mfa) {
        e.outcome = outcome;
    }
    e.action = action;
    e.ip = match (f.str(SOURCE_IP), f.str(CLIENT_IP)) {
        (Some(s), _) => json::ip("source.ip", Some(s))?,
        (None, c) => json::ip("client.ip", c)?,
    };
    e.id = f.take_str(ID);
    e.tenant = f.take_str(ORG_ID).or_else(|| f.take_str(ORG_NAME));
    if on_behalf {
        e.ip = None;
        return Ok(Decoded::Event(e));
    }
    e.session = f.take_str(SESSION_ID).or_else(|| f.take_str(OKTA_SESSION));
    e.user_agent = f.take_str(USER_AGENT);
    e.device_id = f.take_str(DEVICE_ID);
    if outcome == Some(Outcome::Failure) {
        e.failure_reason = f.take_str(REASON);
    }
    if kind == EventKind::Access {
        e.resource = f.take_str(RESOURCE);
        if let Some(c) = &f.values[RECORD_COUNT] {
            e.count = json::count("labels.record_count", c)?;
        }
    }
    Ok(Decoded::Event(e))
}

/// True when an `event.action` names a password change or reset (`changed-password`,
/// `password_reset`, `user-password-updated`...).
fn is_password_change(action: &str) -> bool {
    let has = |w| json::contains_ci(action, w);
    has("password") && (has("chang") || has("reset") || has("update"))
}

/// The kind of an authentication-category event: the action's words first (they are the most
/// specific), then `event.type`. `None` for an event that is about authentication but is no
/// step of a sign-in: an `info`-only event (neither `start` nor `end`) whose action names no
/// sign-in, such as Okta's `policy.evaluate_sign_on` shipped by Elastic's Okta integration.
fn auth_kind(action: Option<&str>, types: u16) -> Option<EventKind> {
    if let Some(a) = action {
        let has = |w| json::contains_ci(a, w);
        if has("logout")
            || has("logoff")
            || has("log-off")
            || has("logged-out")
            || has("session.end")
        {
            return Some(EventKind::Logout);
        }
        // A provider's verdict on a sign-in it already logged (Google's `suspicious_login`,
        // `..._less_secure_app`) is no step of one: the sign-in itself comes as its own event.
        if has("suspicious") {
            return None;
        }
        // Second steps: `mfa`, `verify`, `factor`, `otp`, and Google's `login_challenge` and
        // `login_verification` (a challenge or verification after the password).
        if has("mfa") || has("verif") || has("factor") || has("otp") || has("challenge") {
            return Some(EventKind::Mfa);
        }
        if is_password_change(a) {
            return Some(EventKind::PasswordChange);
        }
        let names_sign_in = [
            "login",
            "logon",
            "log-in",
            "log_in",
            "logged-in",
            "signin",
            "sign-in",
            "sign_in",
            "session.start",
            "authenticat",
            "credential",
        ]
        .iter()
        .any(|w| has(w));
        if types & (tag::START | tag::END) == 0 && !names_sign_in {
            return None;
        }
    }
    Some(if types & tag::END != 0 {
        EventKind::Logout
    } else {
        EventKind::Login
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::RejectKind;

    fn one(record: &str) -> Result<Decoded<'_>, Rejection> {
        let mut v = Vec::new();
        decode(record.as_bytes(), &mut |r| v.push(r));
        assert_eq!(v.len(), 1);
        v.pop().unwrap()
    }

    #[test]
    fn nested_and_dotted_keys_read_the_same() {
        let nested = one(
            r#"{"@timestamp":"2025-11-10T08:00:00Z","event":{"category":["authentication"],"type":["start"],"outcome":"success"},"user":{"name":"a"},"source":{"ip":"90.1.2.3"}}"#,
        );
        let dotted = one(
            r#"{"@timestamp":"2025-11-10T08:00:00Z","event.category":"authentication","event.type":"start","event.outcome":"success","user.name":"a","source.ip":"90.1.2.3"}"#,
        );
        let mixed = one(
            r#"{"@timestamp":"2025-11-10T08:00:00Z","event":{"category":"authentication","outcome":"success"},"user.name":"a","source":{"ip":"90.1.2.3"}}"#,
        );
        assert_eq!(nested, dotted);
        assert_eq!(nested, mixed);
        let Ok(Decoded::Event(e)) = nested else {
            panic!()
        };
        assert!(e.is_login_success());
    }

    #[test]
    fn logout_action_beats_start_type() {
        assert_eq!(
            auth_kind(Some("user-logged-out"), tag::START).unwrap(),
            EventKind::Logout
        );
        assert_eq!(
            auth_kind(Some("logged-in"), tag::START),
            Some(EventKind::Login)
        );
        assert_eq!(auth_kind(None, tag::END), Some(EventKind::Logout));
        // Elastic's Okta integration: a policy evaluation is `info`, no sign-in step.
        assert_eq!(auth_kind(Some("policy.evaluate_sign_on"), 0), None);
        assert_eq!(
            auth_kind(Some("user.session.start"), 0),
            Some(EventKind::Login)
        );
        assert_eq!(auth_kind(None, 0), Some(EventKind::Login));
    }

    #[test]
    fn unknown_outcome_value_is_rejected_with_field() {
        let r = one(
            r#"{"@timestamp":"2025-11-10T08:00:00Z","event.category":"authentication","event.outcome":"ok","user.name":"a","source.ip":"90.1.2.3"}"#,
        )
        .unwrap_err();
        assert_eq!(r.kind, RejectKind::BadValue);
        assert!(r.detail.contains("event.outcome"), "{}", r.detail);
    }
}
