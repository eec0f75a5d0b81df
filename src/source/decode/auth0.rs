//! `auth0` format: Auth0 tenant log events, as log streams deliver them (a custom webhook posts
//! `{"log_id": ..., "data": {<the log event>}}` objects, one per JSON line or in a JSON array,
//! read by `document`) and as the Management API (`/api/v2/logs`) returns them (the log event
//! itself). Both shapes are read: `data` when present, else the record.
//!
//! | `type` | what it is | native |
//! |---|---|---|
//! | `s` | successful login | `login` success |
//! | `sepft` | password exchanged for a token (resource-owner password grant) | `login` success |
//! | `f`, `fp`, `fu` | failed login (any reason; wrong password; unknown user) | `login` failure (an `f` naming no user at all: not applicable, a client configuration error) |
//! | `fepft` | failed password exchange for a token | `login` failure |
//! | `gd_auth_succeed` | second factor (Guardian) passed | `mfa` success |
//! | `gd_auth_failed`, `gd_auth_rejected` | second factor failed, push rejected | `mfa` failure |
//! | `slo` | successful logout | `logout` |
//! | `scp` | password changed | `password_change` |
//! | anything else (`ssa` silent authentication, `seacft` code exchange, `scoa` cross-origin step, `limit_wc` blocked account, `gd_send_*`, signups, admin and API events...) | | not applicable |
//!
//! A silent authentication or a code exchange renews or completes a sign-in already logged as
//! `s`: counting it again would make every page load a login. `limit_wc` follows failures that
//! were each logged.
//!
//! Account `user_name` (the name typed at the login box, the only one a failed login for an
//! unknown user has), else `user_id`; ip `ip`; UA `user_agent`; time `date`; id `log_id` (in
//! `data`, else beside it); method from `strategy_type` (`database` → `password`,
//! `enterprise` / `social` → `sso`). The failure reason of `fp` is `bad_password`, of `fu`
//! `unknown_user`, otherwise Auth0's `description`. Auth0 log events name no organisation of
//! the SaaS's own and no session: tenant and session stay empty.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::{self, Scalar};
use super::{Decoded, Rejection};
use crate::event::{Event, EventKind, Outcome};

/// A stream entry (`log_id` + `data`) or a bare log event: one struct reads both in one pass.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    log_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Box<Entry<'a>>>,
    #[serde(borrow)]
    date: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str", rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    strategy_type: Option<Cow<'a, str>>,
}

/// Decodes one Auth0 log event or log-stream entry.
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(json::parse_object::<Entry<'a>>(record).and_then(map));
}

fn map(mut outer: Entry<'_>) -> Result<Decoded<'_>, Rejection> {
    // A stream entry carries the event in `data`; its `log_id` may sit beside it.
    let (r, stream, outer_id) = match outer.data.take() {
        Some(inner) => (*inner, true, outer.log_id),
        None => (outer, false, None),
    };
    // Field names for messages, as the record spells them; static so a good record costs no
    // formatting.
    let field = |bare: &'static str, in_data: &'static str| if stream { in_data } else { bare };
    let code = r
        .kind
        .ok_or_else(|| json::missing(field("type", "data.type")))?;
    let (kind, outcome) = match &*code {
        "s" | "sepft" => (EventKind::Login, Some(Outcome::Success)),
        "f" | "fp" | "fu" | "fepft" => (EventKind::Login, Some(Outcome::Failure)),
        "gd_auth_succeed" => (EventKind::Mfa, Some(Outcome::Success)),
        "gd_auth_failed" | "gd_auth_rejected" => (EventKind::Mfa, Some(Outcome::Failure)),
        "slo" => (EventKind::Logout, None),
        "scp" => (EventKind::PasswordChange, None),
        other => {
            return Ok(Decoded::NotApplicable(
                format!("auth0 log type {other:?} is not a sign-in step").into(),
            ))
        }
    };
    let ts = json::timestamp(field("date", "data.date"), r.date.as_ref())?;
    let Some(account) = json::first_present([r.user_name, r.user_id]) else {
        // A generic failure charged to no one is the application's configuration refusing the
        // request (a callback URL or a connection not enabled for the client), before anyone
        // typed a password: no sign-in of any account. Any other step needs its account.
        if &*code == "f" {
            return Ok(Decoded::NotApplicable(
                "auth0 failure that names no user (an application configuration error)".into(),
            ));
        }
        return Err(json::missing(field("user_name", "data.user_name")));
    };
    let mut e = Event::new(ts, kind, account);
    e.outcome = outcome;
    e.id = json::first_present([r.log_id, outer_id]);
    e.ip = json::ip(field("ip", "data.ip"), r.ip.as_deref())?;
    e.user_agent = json::present(r.user_agent);
    if kind == EventKind::Login {
        e.method = r.strategy_type.as_deref().and_then(method);
    }
    if outcome == Some(Outcome::Failure) {
        e.failure_reason = match &*code {
            "fp" => Some(Cow::Borrowed("bad_password")),
            "fu" => Some(Cow::Borrowed("unknown_user")),
            _ => json::present(r.description),
        };
    }
    Ok(Decoded::Event(e))
}

fn method(strategy_type: &str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(match strategy_type {
        "database" => "password",
        "enterprise" | "social" => "sso",
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Result<Decoded<'_>, Rejection> {
        let mut v = crate::source::decode::results(crate::event::Format::Auth0, record);
        assert_eq!(v.len(), 1);
        v.pop().unwrap()
    }

    #[test]
    fn stream_entry_and_bare_event_read_the_same() {
        let bare = r#"{"date":"2025-11-10T08:00:00.123Z","type":"fp","ip":"90.1.2.3","user_name":"a@b.fr","log_id":"900"}"#;
        let entry = r#"{"log_id":"900","data":{"date":"2025-11-10T08:00:00.123Z","type":"fp","ip":"90.1.2.3","user_name":"a@b.fr"}}"#;
        let (Ok(Decoded::Event(a)), Ok(Decoded::Event(b))) = (one(bare), one(entry)) else {
            panic!()
        };
        assert_eq!(a, b);
        assert_eq!(a.failure_reason.as_deref(), Some("bad_password"));
    }

    #[test]
    fn silent_authentication_is_not_a_login() {
        let d = one(r#"{"data":{"date":"2025-11-10T08:00:00Z","type":"ssa","user_name":"a"}}"#);
        assert!(matches!(d, Ok(Decoded::NotApplicable(_))), "{d:?}");
    }

    #[test]
    fn errors_name_the_field_in_its_place() {
        let r = one(r#"{"data":{"date":"2025-11-10T08:00:00Z","type":"s"}}"#).unwrap_err();
        assert_eq!(r.detail, "field `data.user_name` is required");
        let d = one(
            r#"{"data":{"date":"2025-11-10T08:00:00Z","type":"f","description":"Callback URL mismatch."}}"#,
        );
        assert!(matches!(d, Ok(Decoded::NotApplicable(_))), "{d:?}");
        let r = one(r#"{"date":"yesterday","type":"s","user_name":"a"}"#).unwrap_err();
        assert!(r.detail.starts_with("field `date`:"), "{}", r.detail);
    }
}
