//! `google_workspace` format: Google Workspace login audit activities, as the Admin SDK Reports
//! API returns them (`activities.list` with `applicationName=login`): one `Activity` per record,
//! or a page `{"kind":"admin#reports#activities","items":[...]}` (each item decoded in turn).
//! An activity holds one or more `events`; each gives one result.
//!
//! | event `name` | native |
//! |---|---|
//! | `login_success` | `login` success |
//! | `login_failure` | `login` failure |
//! | `login_challenge` | `mfa`: `login_challenge_status` "Challenge Passed" success, "Challenge Failed" failure (anything else settles nothing: not applicable) |
//! | `logout` | `logout` |
//! | `password_edit` | `password_change` |
//! | `suspicious_login`, `suspicious_login_less_secure_app`, `suspicious_programmatic_login` | not applicable: Google's verdict on a sign-in, not a sign-in (the attempt is its own `login_success` / `login_failure`, whose `is_suspicious` says the same) |
//! | anything else (2-step verification enrolment, recovery info, account warnings...) | not applicable |
//!
//! Account `actor.email`, else `actor.profileId`; ip `ipAddress` (absent on some events: kept
//! without an address); time `id.time`; id `id.uniqueQualifier`; tenant `id.customerId`. The
//! method is the `login_type` parameter (`google_password` → `password`, `saml` → `sso`). The
//! failure reason is the `login_failure_type` parameter (`login_failure_invalid_password` →
//! `bad_password`, `login_failure_account_disabled` → `account_disabled`, otherwise Google's
//! value). The login audit logs no user agent, session or device.
//!
//! Activities of another application (`id.applicationName` other than `login`) are not
//! applicable.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{self, Scalar};
use super::{Decoded, RejectKind, Rejection};
use crate::event::{Event, EventKind, Outcome};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity<'a> {
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    id: Option<Id<'a>>,
    #[serde(borrow)]
    actor: Option<Actor<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    ip_address: Option<Cow<'a, str>>,
    /// An array as the Reports API returns it; a single object as some pipelines re-shape
    /// it (Elastic's test inputs): both are read.
    #[serde(borrow)]
    events: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Id<'a> {
    #[serde(borrow)]
    time: Option<Scalar<'a>>,
    #[serde(borrow)]
    unique_qualifier: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    application_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    customer_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Actor<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    email: Option<Cow<'a, str>>,
    /// A string in the Reports API; some exports write it as a number, of 21 digits: more
    /// than an integer or a float holds, so its text is kept as written.
    #[serde(borrow)]
    profile_id: Option<&'a RawValue>,
}

/// A JSON string's value, or a number's text exactly as written (no rounding).
fn string_or_number_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let t = raw.get().trim();
    if t.starts_with('"') {
        serde_json::from_str::<&str>(t)
            .map(Cow::Borrowed)
            .or_else(|_| serde_json::from_str::<String>(t).map(Cow::Owned))
            .ok()
    } else if t.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(Cow::Borrowed(t))
    } else {
        None
    }
}

#[derive(Deserialize)]
struct ActivityEvent<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    parameters: Vec<Parameter<'a>>,
}

#[derive(Deserialize)]
struct Parameter<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    value: Option<Cow<'a, str>>,
}

impl<'a> ActivityEvent<'a> {
    /// The string `value` of the parameter `name`.
    fn param(&self, name: &str) -> Option<&Cow<'a, str>> {
        self.parameters
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| p.value.as_ref())
    }
}

/// Decodes one activity, or a page of them.
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    let mut activity = match json::parse_object::<Activity<'a>>(record) {
        Ok(a) => a,
        Err(r) => return out(Err(r)),
    };
    if let Some(items) = activity.items.take() {
        for raw in items {
            match json::parse_object::<Activity<'a>>(raw.get().as_bytes()) {
                Ok(inner) if inner.items.is_some() => out(Err(Rejection::new(
                    RejectKind::BadValue,
                    "nested activity pages are not supported",
                ))),
                Ok(inner) => map(inner, out),
                Err(r) => out(Err(r)),
            }
        }
        return;
    }
    map(activity, out);
}

fn map<'a>(a: Activity<'a>, out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    let Some(id) = a.id else {
        return out(Err(json::missing("id.time")));
    };
    if let Some(app) = id.application_name.as_deref().filter(|app| *app != "login") {
        return out(Ok(Decoded::NotApplicable(
            format!("google workspace application {app:?} is not the login audit").into(),
        )));
    }
    let events: Vec<ActivityEvent<'a>> = match a.events.map(|raw| raw.get().trim_start()) {
        Some(text) if text.starts_with('{') => {
            match json::parse_object::<ActivityEvent<'a>>(text.as_bytes()) {
                Ok(one) => vec![one],
                Err(r) => return out(Err(r)),
            }
        }
        Some(text) => match serde_json::from_str::<Vec<ActivityEvent<'a>>>(text) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => return out(Err(json::missing("events"))),
            Err(e) => {
                // The position serde gives is within the `events` value, not the record.
                let why = e.to_string();
                let why = why.split(" at line ").next().unwrap_or_default();
                return out(Err(Rejection::new(
                    RejectKind::WrongType,
                    format!("field `events`: {why}"),
                )));
            }
        },
        None => return out(Err(json::missing("events"))),
    };
    let ts = match json::timestamp("id.time", id.time.as_ref()) {
        Ok(ts) => ts,
        Err(r) => return out(Err(r)),
    };
    let Some(account) = a.actor.and_then(|actor| {
        let profile = actor.profile_id.and_then(string_or_number_text);
        json::first_present([actor.email, profile])
    }) else {
        return out(Err(json::missing("actor.email")));
    };
    let ip = match json::ip("ipAddress", a.ip_address.as_deref()) {
        Ok(ip) => ip,
        Err(r) => return out(Err(r)),
    };
    let unique = id.unique_qualifier.map(|q| match q {
        Scalar::Str(s) => s,
        other => Cow::Owned(other.to_string()),
    });
    for ev in &events {
        let name = ev.name.as_deref().unwrap_or("");
        let (kind, outcome) = match name {
            "login_success" => (EventKind::Login, Some(Outcome::Success)),
            "login_failure" => (EventKind::Login, Some(Outcome::Failure)),
            "login_challenge" => match ev.param("login_challenge_status").map(|s| &**s) {
                Some(s) if json::contains_ci(s, "passed") => {
                    (EventKind::Mfa, Some(Outcome::Success))
                }
                Some(s) if json::contains_ci(s, "failed") => {
                    (EventKind::Mfa, Some(Outcome::Failure))
                }
                _ => {
                    out(Ok(Decoded::NotApplicable(
                        "google workspace login_challenge without a passed or failed status".into(),
                    )));
                    continue;
                }
            },
            "logout" => (EventKind::Logout, None),
            "password_edit" => (EventKind::PasswordChange, None),
            "" => {
                out(Err(json::missing("events[].name")));
                continue;
            }
            other => {
                out(Ok(Decoded::NotApplicable(
                    format!("google workspace login event {other:?} is not a sign-in step").into(),
                )));
                continue;
            }
        };
        let mut e = Event::new(ts, kind, account.clone());
        e.outcome = outcome;
        e.ip = ip;
        e.id = unique.clone();
        e.tenant = json::present(id.customer_id.clone());
        if kind == EventKind::Login {
            e.method = ev.param("login_type").and_then(|t| method(t));
        }
        if outcome == Some(Outcome::Failure) {
            e.failure_reason = ev
                .param("login_failure_type")
                .or(ev.param("login_challenge_status"))
                .cloned()
                .map(failure_reason);
        }
        out(Ok(Decoded::Event(e)));
    }
}

fn method(login_type: &str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(match login_type {
        "google_password" => "password",
        "saml" => "sso",
        _ => return None,
    }))
}

fn failure_reason(reason: Cow<'_, str>) -> Cow<'_, str> {
    match &*reason {
        "login_failure_invalid_password" => Cow::Borrowed("bad_password"),
        "login_failure_account_disabled" => Cow::Borrowed("account_disabled"),
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(record: &str) -> Vec<Result<Decoded<'_>, Rejection>> {
        crate::source::decode::results(crate::event::Format::GoogleWorkspace, record)
    }

    #[test]
    fn one_result_per_event_of_an_activity() {
        let v = all(
            r#"{"id":{"time":"2025-11-10T08:00:00.000Z","applicationName":"login","uniqueQualifier":"-42"},"actor":{"email":"a@b.fr"},"ipAddress":"90.1.2.3","events":[{"type":"login","name":"login_success","parameters":[{"name":"login_type","value":"google_password"}]},{"type":"login","name":"suspicious_login"}]}"#,
        );
        assert_eq!(v.len(), 2);
        assert!(
            matches!(&v[0], Ok(Decoded::Event(e)) if e.is_login_success() && e.method.as_deref() == Some("password") && e.id.as_deref() == Some("-42"))
        );
        assert!(matches!(v[1], Ok(Decoded::NotApplicable(_))));
    }

    #[test]
    fn other_applications_are_not_applicable() {
        let v = all(
            r#"{"id":{"time":"2025-11-10T08:00:00Z","applicationName":"drive"},"actor":{"email":"a"},"events":[{"name":"view"}]}"#,
        );
        assert!(matches!(v[..], [Ok(Decoded::NotApplicable(_))]));
    }
}
