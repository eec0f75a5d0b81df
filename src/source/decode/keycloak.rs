//! `keycloak` format: Keycloak user events (`EventRepresentation`), as the admin REST API
//! (`/admin/realms/{realm}/events`, a JSON array read by `document`) returns them and as event
//! listeners that forward events as JSON write them, one per line.
//!
//! | `type` | native |
//! |---|---|
//! | `LOGIN` | `login` success |
//! | `LOGIN_ERROR` | `login` failure |
//! | `CLIENT_LOGIN` (client-credentials grant of a service account) | `login` success of the service account |
//! | `CLIENT_LOGIN_ERROR` | `login` failure of the client |
//! | `LOGOUT` | `logout` |
//! | `UPDATE_PASSWORD`, and `UPDATE_CREDENTIAL` with `details.credential_type` `password` | `password_change` |
//! | `CODE_TO_TOKEN`, `REFRESH_TOKEN`, `INTROSPECT_TOKEN`, `*_ERROR` of those, `LOGOUT_ERROR`, `UPDATE_PASSWORD_ERROR`, registration, consent, admin events... | not applicable |
//!
//! `CODE_TO_TOKEN` completes the sign-in that `LOGIN` already logged (the browser's code
//! exchanged for tokens): counting it again would double every login.
//!
//! Account `userId`, Keycloak's id of the user (a UUID): the one field every user event carries
//! (`LOGOUT` and `CODE_TO_TOKEN` have no `details.username`), so a login, its logout and a
//! password change land on one account. A failed login for a name Keycloak does not know has no
//! `userId`: its account is `details.username`, what was typed. For client logins the account is
//! `details.username` (the service account's name, `service-account-<client>`), else
//! `clientId`. Tenant `realmId` (a realm is the customer organisation in
//! multi-tenant set-ups); session `sessionId`; ip `ipAddress` (Keycloak writes the proxy's
//! forwarded address when it is set up behind one); time `time` (epoch milliseconds); id `id`.
//! Method `sso` when `details.identity_provider` names a brokered identity provider. The
//! failure reason is `error` (`invalid_user_credentials` → `bad_password`, `user_not_found` →
//! `unknown_user`, `user_disabled` → `account_disabled`, `user_temporarily_disabled` →
//! `locked_out`, otherwise Keycloak's word). Keycloak events carry no user agent.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::{self, Scalar};
use super::{Decoded, Rejection};
use crate::event::{AccountKind, Event, EventKind, Outcome};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Representation<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str", rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    realm_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    details: Option<Details<'a>>,
    /// Present on admin events only (`AdminEventRepresentation`).
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    operation_type: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Details<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    username: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    identity_provider: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    credential_type: Option<Cow<'a, str>>,
}

/// Decodes one Keycloak event.
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(json::parse_object::<Representation<'a>>(record).and_then(map));
}

fn map(r: Representation<'_>) -> Result<Decoded<'_>, Rejection> {
    let Some(kind_name) = r.kind else {
        if let Some(op) = r.operation_type {
            return Ok(Decoded::NotApplicable(
                format!("keycloak admin event ({op}) is not a sign-in step").into(),
            ));
        }
        return Err(json::missing("type"));
    };
    let credential_type = r
        .details
        .as_ref()
        .and_then(|d| d.credential_type.as_deref());
    let (kind, outcome, client) = match &*kind_name {
        "LOGIN" => (EventKind::Login, Some(Outcome::Success), false),
        "LOGIN_ERROR" => (EventKind::Login, Some(Outcome::Failure), false),
        "CLIENT_LOGIN" => (EventKind::Login, Some(Outcome::Success), true),
        "CLIENT_LOGIN_ERROR" => (EventKind::Login, Some(Outcome::Failure), true),
        "LOGOUT" => (EventKind::Logout, None, false),
        "UPDATE_PASSWORD" => (EventKind::PasswordChange, None, false),
        "UPDATE_CREDENTIAL" if credential_type == Some("password") => {
            (EventKind::PasswordChange, None, false)
        }
        other => {
            return Ok(Decoded::NotApplicable(
                format!("keycloak event type {other:?} is not a sign-in step").into(),
            ))
        }
    };
    let ts = json::timestamp("time", r.time.as_ref())?;
    let (username, identity_provider) = match r.details {
        Some(d) => (d.username, d.identity_provider),
        None => (None, None),
    };
    let account = if client {
        json::first_present([username, r.client_id])
    } else {
        json::first_present([r.user_id, username])
    }
    .ok_or_else(|| json::missing("userId"))?;
    let mut e = Event::new(ts, kind, account);
    if client {
        e.account_kind = AccountKind::Service;
    }
    e.outcome = outcome;
    e.id = json::present(r.id);
    e.tenant = json::present(r.realm_id);
    e.session = json::present(r.session_id);
    e.ip = json::ip("ipAddress", r.ip_address.as_deref())?;
    if kind == EventKind::Login && json::present(identity_provider).is_some() {
        e.method = Some(Cow::Borrowed("sso"));
    }
    if outcome == Some(Outcome::Failure) {
        e.failure_reason = json::present(r.error).map(failure_reason);
    }
    Ok(Decoded::Event(e))
}

fn failure_reason(error: Cow<'_, str>) -> Cow<'_, str> {
    Cow::Borrowed(match &*error {
        "invalid_user_credentials" => "bad_password",
        "user_not_found" => "unknown_user",
        "user_disabled" => "account_disabled",
        "user_temporarily_disabled" => "locked_out",
        _ => return error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Result<Decoded<'_>, Rejection> {
        let mut v = crate::source::decode::results(crate::event::Format::Keycloak, record);
        assert_eq!(v.len(), 1);
        v.pop().unwrap()
    }

    #[test]
    fn known_users_by_id_unknown_names_as_typed() {
        let d = one(
            r#"{"time":1762761600000,"type":"LOGIN","userId":"u-1","details":{"username":"dr.a"}}"#,
        );
        let Ok(Decoded::Event(e)) = d else {
            panic!("{d:?}")
        };
        assert_eq!(e.account, "u-1");
    }

    #[test]
    fn failed_login_of_an_unknown_user_is_charged_to_the_typed_name() {
        let d = one(
            r#"{"time":1762761600000,"type":"LOGIN_ERROR","realmId":"cabinet","ipAddress":"90.1.2.3","error":"user_not_found","details":{"username":"nobody"}}"#,
        );
        let Ok(Decoded::Event(e)) = d else {
            panic!("{d:?}")
        };
        assert_eq!(e.account, "nobody");
        assert_eq!(e.failure_reason.as_deref(), Some("unknown_user"));
        assert_eq!(e.tenant.as_deref(), Some("cabinet"));
    }

    #[test]
    fn code_exchange_and_admin_events_are_not_applicable() {
        for r in [
            r#"{"time":1762761600000,"type":"CODE_TO_TOKEN","userId":"u"}"#,
            r#"{"time":1762761600000,"operationType":"UPDATE","resourceType":"USER"}"#,
        ] {
            assert!(matches!(one(r), Ok(Decoded::NotApplicable(_))), "{r}");
        }
    }
}
