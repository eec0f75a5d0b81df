//! `okta` format: Okta System Log `LogEvent` objects, as the System Log API (`/api/v1/logs`)
//! returns them (a JSON array, read by `document`) or as shippers forward them one per line.
//!
//! | `eventType` | native `type` |
//! |---|---|
//! | `user.session.start` | `login` |
//! | `user.authentication.auth_via_mfa`, `user.authentication.verify` | `mfa` |
//! | `user.session.end` | `logout` |
//! | `user.account.update_password`, `user.account.reset_password` | `password_change` |
//! | `user.authentication.sso` (sign-on to an app from an Okta session) | not applicable: the session's sign-in was `user.session.start` |
//! | `policy.evaluate_sign_on`, `user.authentication.auth_via_*` (not `_mfa`), admin and lifecycle events | not applicable |
//! | anything else | not applicable |
//!
//! `outcome.result` `SUCCESS` / `ALLOW` is success, `FAILURE` / `DENY` is failure; other results
//! (`CHALLENGE`, `SKIPPED`, `UNKNOWN`) settle nothing and are not applicable. The failure reason is
//! `outcome.reason`, with `INVALID_CREDENTIALS` spelt `bad_password` and `LOCKED_OUT`
//! `locked_out` as in native events. Account `actor.alternateId` (the login name), except for
//! password changes: the `target` of type `User` (an admin's reset names the admin as actor); ip
//! `client.ipAddress`, else the first address of `request.ipChain` (Okta writes the string
//! `"null"` in `client.ipAddress` when it did not resolve the client; the chain still holds the
//! address the request came from); a sign-in with neither is kept without an address; UA `client.userAgent.rawUserAgent`; session
//! `authenticationContext.externalSessionId` (Okta writes `unknown` when it has none); time
//! `published`; id `uuid`; device `device.id` (present when Okta knows the device).
//! `authenticationContext.credentialType` gives the method (`PASSWORD` → `password`, federation
//! assertions → `sso`). System Log events carry no org identifier (the org is the log they were
//! read from), so the tenant stays empty.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::{self, Scalar};
use super::{Decoded, Rejection};
use crate::event::{Event, EventKind, Outcome};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    published: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    actor: Option<Actor<'a>>,
    #[serde(borrow)]
    client: Option<Client<'a>>,
    #[serde(borrow)]
    outcome: Option<LogOutcome<'a>>,
    #[serde(borrow)]
    authentication_context: Option<AuthenticationContext<'a>>,
    #[serde(borrow)]
    device: Option<Device<'a>>,
    #[serde(borrow)]
    target: Option<TargetUser<'a>>,
    #[serde(borrow)]
    request: Option<Request<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    #[serde(borrow)]
    ip_chain: Option<json::First<ChainEntry<'a>>>,
}

#[derive(Deserialize)]
struct ChainEntry<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    ip: Option<Cow<'a, str>>,
}

/// Okta writes `"null"` (a string) where it has no value.
fn is_null_word(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("null")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Actor<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    alternate_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Client<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    ip_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<UserAgent<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserAgent<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    raw_user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct LogOutcome<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    result: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationContext<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    external_session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    credential_type: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Device<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str", rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    alternate_id: Option<Cow<'a, str>>,
}

/// The first `target` of type `User`, read without collecting the whole `target` array.
struct TargetUser<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for TargetUser<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<TargetUser<'a>>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = TargetUser<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of targets")
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Self::Value, S::Error> {
                let mut user = None;
                while let Some(t) = seq.next_element::<Target<'a>>()? {
                    if user.is_none() && t.kind.as_deref() == Some("User") {
                        user = json::present(t.alternate_id);
                    }
                }
                Ok(TargetUser(user))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// Decodes one Okta System Log event.
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(json::parse_object::<LogEvent<'a>>(record).and_then(map));
}

fn map(r: LogEvent<'_>) -> Result<Decoded<'_>, Rejection> {
    let event_type = r.event_type.ok_or_else(|| json::missing("eventType"))?;
    let kind = match &*event_type {
        "user.session.start" => EventKind::Login,
        "user.authentication.auth_via_mfa" | "user.authentication.verify" => EventKind::Mfa,
        "user.session.end" => EventKind::Logout,
        "user.account.update_password" | "user.account.reset_password" => EventKind::PasswordChange,
        other => {
            return Ok(Decoded::NotApplicable(
                format!("okta eventType {other:?} is not a sign-in event").into(),
            ))
        }
    };
    let outcome = match r.outcome.as_ref().and_then(|o| o.result.as_deref()) {
        Some("SUCCESS" | "ALLOW") => Outcome::Success,
        Some("FAILURE" | "DENY") => Outcome::Failure,
        Some(other) => {
            return Ok(Decoded::NotApplicable(
                format!("okta outcome.result {other:?} is neither success nor failure").into(),
            ))
        }
        None => return Err(json::missing("outcome.result")),
    };
    let ts = json::timestamp("published", r.published.as_ref())?;
    // A password is changed on the `target` user, who is not the actor when an admin does it.
    let target_user = match kind {
        EventKind::PasswordChange => r.target.and_then(|t| t.0),
        _ => None,
    };
    let actor = r
        .actor
        .and_then(|a| json::first_present([a.alternate_id, a.id]));
    // When an admin acts on someone else's account, the client, session and device are the
    // admin's: they must not enter the target account's history.
    let on_behalf = target_user.is_some() && target_user != actor;
    let account = target_user
        .or(actor)
        .ok_or_else(|| json::missing("actor.alternateId"))?;

    let mut e = Event::new(ts, kind, account);
    e.id = json::present(r.uuid);
    if on_behalf {
        return Ok(match outcome {
            Outcome::Success => Decoded::Event(e),
            Outcome::Failure => {
                Decoded::NotApplicable(format!("okta {event_type} failed: nothing changed").into())
            }
        });
    }
    let (ip, user_agent) = match r.client {
        Some(c) => (c.ip_address, c.user_agent.and_then(|u| u.raw_user_agent)),
        None => (None, None),
    };
    let ip = json::present(ip).filter(|ip| !is_null_word(ip));
    e.ip = match ip {
        Some(ip) => json::ip("client.ipAddress", Some(&ip))?,
        None => json::ip(
            "request.ipChain[0].ip",
            r.request
                .and_then(|q| q.ip_chain)
                .and_then(|c| c.0)
                .and_then(|e| json::present(e.ip))
                .filter(|ip| !is_null_word(ip))
                .as_deref(),
        )?,
    };
    e.user_agent = json::present(user_agent);
    if let Some(ctx) = r.authentication_context {
        e.session = json::present(ctx.external_session_id).filter(|s| s != "unknown");
        e.method = ctx.credential_type.and_then(|c| method(&c));
    }
    e.device_id = json::present(r.device.and_then(|d| d.id));
    if kind == EventKind::Login || kind == EventKind::Mfa {
        e.outcome = Some(outcome);
        if outcome == Outcome::Failure {
            e.failure_reason = r
                .outcome
                .and_then(|o| json::present(o.reason))
                .map(failure_reason);
        }
    } else if outcome == Outcome::Failure {
        return Ok(Decoded::NotApplicable(
            format!("okta {event_type} failed: nothing changed").into(),
        ));
    }
    Ok(Decoded::Event(e))
}

/// Okta's reason in the native vocabulary where one exists; otherwise Okta's own words.
fn failure_reason(reason: Cow<'_, str>) -> Cow<'_, str> {
    match &*reason {
        "INVALID_CREDENTIALS" => Cow::Borrowed("bad_password"),
        "LOCKED_OUT" => Cow::Borrowed("locked_out"),
        _ => reason,
    }
}

fn method(credential_type: &str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(match credential_type {
        "PASSWORD" => "password",
        "ASSERTION" | "IWA" | "JWT" => "sso",
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Result<Decoded<'_>, Rejection> {
        let mut v = Vec::new();
        decode(record.as_bytes(), &mut |r| v.push(r));
        v.pop().unwrap()
    }

    #[test]
    fn mfa_challenge_settles_nothing() {
        let d = one(
            r#"{"eventType":"user.authentication.auth_via_mfa","published":"2025-11-10T08:00:00Z","actor":{"alternateId":"a"},"outcome":{"result":"CHALLENGE"}}"#,
        );
        assert!(matches!(d, Ok(Decoded::NotApplicable(_))), "{d:?}");
    }

    #[test]
    fn unknown_external_session_is_no_session() {
        let d = one(
            r#"{"eventType":"user.session.start","published":"2025-11-10T08:00:00Z","actor":{"alternateId":"a"},"client":{"ipAddress":"90.1.2.3"},"outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"},"authenticationContext":{"externalSessionId":"unknown"}}"#,
        );
        let Ok(Decoded::Event(e)) = d else {
            panic!("{d:?}")
        };
        assert_eq!(e.session, None);
        assert_eq!(e.failure_reason.as_deref(), Some("bad_password"));
    }
}
