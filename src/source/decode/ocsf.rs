//! `ocsf` format: Open Cybersecurity Schema Framework events.
//!
//! Mapped classes (`class_uid`):
//! - 3002 Authentication: `activity_id` 1 Logon → `login` (`status_id` 1 success, 2 failure),
//!   2 Logoff → `logout`. A successful logon with `is_mfa: true` also yields an `mfa` success at
//!   the same instant, because the record says both factors passed.
//! - 3001 Account Change: `activity_id` 3 Password Change → `password_change`.
//! - 6003 API Activity: `access`. `activity_id` 1 Create / 3 Update → `update`, 2 Read → `read`,
//!   4 Delete → `delete`; a word in `api.operation` (export, download, print, search, query...)
//!   refines it, so `Read` + `ExportPatientRecords` is an `export`. The count is `unmapped.count`
//!   when the producer states one (OCSF has no count attribute; `unmapped` is its place for
//!   producer fields), else the number of `resources`; `resource` is the first resource's `type`.
//!   Failed API calls (`status_id` 2) touched no data and are not applicable.
//!
//! Every other class or activity is [`Decoded::NotApplicable`]. The account is `user` (3002,
//! 3001) or `actor.user` (6003): its `name`, else `email_addr`, else `uid`. The tenant is
//! `metadata.tenant_uid`, else `cloud.account.uid`; the event id is `metadata.uid`; `time` is
//! epoch milliseconds (RFC 3339 text is accepted too).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::json::{self, Scalar};
use super::{Decoded, Rejection};
use crate::event::{Action, Event, EventKind, Outcome};

#[derive(Deserialize)]
struct Record<'a> {
    class_uid: Option<i64>,
    activity_id: Option<i64>,
    status_id: Option<i64>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    status_code: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    status_detail: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Scalar<'a>>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow)]
    actor: Option<Actor<'a>>,
    #[serde(borrow)]
    src_endpoint: Option<Endpoint<'a>>,
    #[serde(borrow)]
    http_request: Option<HttpRequest<'a>>,
    #[serde(borrow)]
    session: Option<Session<'a>>,
    #[serde(borrow)]
    device: Option<Device<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow)]
    cloud: Option<Cloud<'a>>,
    is_mfa: Option<bool>,
    auth_protocol_id: Option<i64>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    auth_protocol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    api: Option<Api<'a>>,
    #[serde(borrow)]
    resources: Option<Resources<'a>>,
    #[serde(borrow)]
    unmapped: Option<Unmapped<'a>>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    email_addr: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Actor<'a> {
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow)]
    session: Option<Session<'a>>,
}

#[derive(Deserialize)]
struct Endpoint<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    ip: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct HttpRequest<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Session<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Device<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    uid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    tenant_uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Cloud<'a> {
    #[serde(borrow)]
    account: Option<CloudAccount<'a>>,
}

#[derive(Deserialize)]
struct CloudAccount<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Api<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    operation: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Unmapped<'a> {
    #[serde(borrow)]
    count: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str", rename = "type")]
    kind: Option<Cow<'a, str>>,
}

/// The `resources` array reduced to what an access event needs: how many, and the first type.
/// Counted while parsing so an export listing 500 records allocates nothing per record.
struct Resources<'a> {
    len: u32,
    first_type: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Resources<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<Resources<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Resources<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of resources")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut r = Resources {
                    len: 0,
                    first_type: None,
                };
                while let Some(item) = seq.next_element::<Resource<'a>>()? {
                    if r.len == 0 {
                        r.first_type = item.kind;
                    }
                    r.len = r.len.saturating_add(1);
                }
                Ok(r)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Resources {
                    len: 0,
                    first_type: None,
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

const AUTHENTICATION: i64 = 3002;
const ACCOUNT_CHANGE: i64 = 3001;
const API_ACTIVITY: i64 = 6003;

/// Decodes one `ocsf` record (one event object).
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    match json::parse_object::<Record<'a>>(record).and_then(map) {
        Ok(Mapped::One(d)) => out(Ok(d)),
        Ok(Mapped::LoginWithMfa(login)) => {
            let mut mfa = login.clone();
            mfa.kind = EventKind::Mfa;
            // The logon's method was the first factor's; the record does not name the second.
            mfa.method = None;
            out(Ok(Decoded::Event(login)));
            out(Ok(Decoded::Event(mfa)));
        }
        Err(r) => out(Err(r)),
    }
}

enum Mapped<'a> {
    One(Decoded<'a>),
    /// A successful logon that passed MFA: the login, then an `mfa` event like it.
    LoginWithMfa(Event<'a>),
}

fn not_applicable(why: impl Into<Cow<'static, str>>) -> Result<Mapped<'static>, Rejection> {
    Ok(Mapped::One(Decoded::NotApplicable(why.into())))
}

fn map(r: Record<'_>) -> Result<Mapped<'_>, Rejection> {
    let class = r.class_uid.ok_or_else(|| json::missing("class_uid"))?;
    let activity = r.activity_id.ok_or_else(|| json::missing("activity_id"))?;
    let kind = match (class, activity) {
        (AUTHENTICATION, 1) => EventKind::Login,
        (AUTHENTICATION, 2) => EventKind::Logout,
        (AUTHENTICATION, a) => {
            return not_applicable(format!(
                "ocsf Authentication activity_id {a} is not a logon or logoff"
            ))
        }
        (ACCOUNT_CHANGE, 3) => EventKind::PasswordChange,
        (ACCOUNT_CHANGE, a) => {
            return not_applicable(format!(
                "ocsf Account Change activity_id {a} is not a password change"
            ))
        }
        (API_ACTIVITY, _) => EventKind::Access,
        (c, _) => return not_applicable(format!("ocsf class_uid {c} is not mapped")),
    };

    let ts = json::timestamp("time", r.time.as_ref())?;
    let (actor_user, actor_session) = match r.actor {
        Some(a) => (a.user, a.session),
        None => (None, None),
    };
    // API Activity names the caller in `actor.user`; Authentication names the account that
    // signs in in `user`. Each falls back to the other for producers that fill only one.
    let (user, user_field) = if kind == EventKind::Access {
        (actor_user.or(r.user), "actor.user")
    } else {
        (r.user.or(actor_user), "user")
    };
    let account = user
        .and_then(|u| json::first_present([u.name, u.email_addr, u.uid]))
        .ok_or_else(|| json::missing(&format!("{user_field}.name")))?;

    let mut e = Event::new(ts, kind, account);
    let (event_id, tenant_uid) = match r.metadata {
        Some(m) => (m.uid, m.tenant_uid),
        None => (None, None),
    };
    e.id = json::present(event_id);
    e.tenant = json::first_present([
        tenant_uid,
        r.cloud.and_then(|c| c.account).and_then(|a| a.uid),
    ]);
    e.session = json::first_present([
        r.session.and_then(|s| s.uid),
        actor_session.and_then(|s| s.uid),
    ]);
    e.ip = json::ip(
        "src_endpoint.ip",
        r.src_endpoint.as_ref().and_then(|s| s.ip.as_deref()),
    )?;
    e.user_agent = json::present(r.http_request.and_then(|h| h.user_agent));
    e.device_id = json::present(r.device.and_then(|d| d.uid));

    match kind {
        EventKind::Login => {
            let outcome = match r.status_id {
                Some(1) => Outcome::Success,
                Some(2) => Outcome::Failure,
                Some(s) => {
                    return not_applicable(format!(
                        "ocsf logon with status_id {s} is neither success (1) nor failure (2)"
                    ))
                }
                None => return Err(json::missing("status_id")),
            };
            e.outcome = Some(outcome);
            e.method = method(r.auth_protocol_id, r.auth_protocol);
            if outcome == Outcome::Failure {
                e.failure_reason = json::first_present([r.status_detail, r.status_code, r.status]);
            }
            if outcome == Outcome::Success && r.is_mfa == Some(true) {
                return Ok(Mapped::LoginWithMfa(e));
            }
        }
        EventKind::Access => {
            if r.status_id == Some(2) {
                return not_applicable("ocsf API Activity failed (status_id 2): no data accessed");
            }
            let operation = r.api.and_then(|a| a.operation);
            let from_activity = match activity {
                1 | 3 => Some(Action::Update),
                2 => Some(Action::Read),
                4 => Some(Action::Delete),
                _ => None,
            };
            // An operation word is more specific than the CRUD verb (an export is a read).
            let Some(action) = operation
                .as_deref()
                .and_then(json::action_hint)
                .or(from_activity)
            else {
                return not_applicable(format!(
                    "ocsf API Activity activity_id {activity} with operation {:?} names no data access",
                    operation.as_deref().unwrap_or("")
                ));
            };
            e.action = Some(action);
            let resources = r.resources.unwrap_or(Resources {
                len: 0,
                first_type: None,
            });
            e.resource = json::present(resources.first_type);
            e.count = match r.unmapped.and_then(|u| u.count) {
                Some(c) => json::count("unmapped.count", &c)?,
                None => resources.len.max(1),
            };
        }
        EventKind::Logout | EventKind::PasswordChange | EventKind::Mfa => {
            if r.status_id == Some(2) {
                return not_applicable(format!(
                    "ocsf {} failed (status_id 2): nothing changed",
                    kind.as_str()
                ));
            }
        }
    }
    Ok(Mapped::One(Decoded::Event(e)))
}

/// The native `method` for an OCSF `auth_protocol_id`: password-based protocols, federation
/// (`sso`), or the producer's own name for "Other" (99).
fn method<'a>(id: Option<i64>, name: Option<Cow<'a, str>>) -> Option<Cow<'a, str>> {
    match id {
        // NTLM, Kerberos, Digest, PAP, CHAP, Basic, LDAP: a secret the user typed.
        Some(1 | 2 | 3 | 7 | 8 | 11 | 12) => Some(Cow::Borrowed("password")),
        // OpenID, SAML, OAuth 2.0: the identity provider did the authentication.
        Some(4..=6) => Some(Cow::Borrowed("sso")),
        Some(99) => json::present(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::RejectKind;

    fn run(record: &str) -> Vec<Result<Decoded<'_>, Rejection>> {
        let mut v = Vec::new();
        decode(record.as_bytes(), &mut |r| v.push(r));
        v
    }

    #[test]
    fn logon_failure_keeps_the_status_detail() {
        let v = run(
            r#"{"class_uid":3002,"activity_id":1,"status_id":2,"status_detail":"bad_password","time":1762817462000,"user":{"name":"a@b"},"src_endpoint":{"ip":"2a01:cb00::1"}}"#,
        );
        let Ok(Decoded::Event(e)) = &v[0] else {
            panic!("{v:?}")
        };
        assert!(e.is_login_failure());
        assert_eq!(e.failure_reason.as_deref(), Some("bad_password"));
        assert_eq!(e.ip, Some("2a01:cb00::1".parse().unwrap()));
    }

    #[test]
    fn kerberos_ticket_is_not_applicable_but_missing_status_is_rejected() {
        let v = run(
            r#"{"class_uid":3002,"activity_id":4,"time":1,"user":{"name":"a"},"src_endpoint":{"ip":"192.0.2.1"}}"#,
        );
        assert!(matches!(v[0], Ok(Decoded::NotApplicable(_))));
        let v = run(
            r#"{"class_uid":3002,"activity_id":1,"time":1,"user":{"name":"a"},"src_endpoint":{"ip":"192.0.2.1"}}"#,
        );
        assert_eq!(v[0].as_ref().unwrap_err().kind, RejectKind::MissingField);
    }

    #[test]
    fn api_read_of_three_resources_counts_three() {
        let v = run(
            r#"{"class_uid":6003,"activity_id":2,"time":1,"actor":{"user":{"name":"a"}},"api":{"operation":"GetPatient"},"resources":[{"type":"patient_record"},{"type":"patient_record"},{"type":"patient_record"}]}"#,
        );
        let Ok(Decoded::Event(e)) = &v[0] else {
            panic!("{v:?}")
        };
        assert_eq!(
            (e.action, e.count, e.resource.as_deref()),
            (Some(Action::Read), 3, Some("patient_record"))
        );
    }
}
