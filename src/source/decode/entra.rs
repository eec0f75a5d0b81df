//! `entra` format: Microsoft Entra ID sign-in logs, in the shapes they are exported in.
//!
//! - Microsoft Graph `signIn` resources (`/auditLogs/signIns`, v1.0 and beta): one object per
//!   record, or a page `{"value":[...]}`.
//! - Azure Monitor diagnostic records (Event Hubs, storage accounts): `{"time", "category",
//!   "tenantId", "properties": {<the signIn>}}`, one per record or wrapped in `{"records":[...]}`
//!   (the body of every Event Hubs message). Log Analytics exports spell the same keys in
//!   PascalCase (`Category`, `CreatedDateTime`, `UserPrincipalName`, `IPAddress`...): both are
//!   read. Envelope fields Tocsin does not use vary between exporters (`Level` as a number or a
//!   word, `durationMs` as a number or a string) and are ignored.
//!
//! | diagnostic `category` | account | kind |
//! |---|---|---|
//! | `SignInLogs`, `NonInteractiveUserSignInLogs` | the user | user login |
//! | `ADFSSignInLogs` (AD FS sign-ins reported through Connect Health) | the user | user login |
//! | `ServicePrincipalSignInLogs`, `MicrosoftServicePrincipalSignInLogs` | the service principal | service login (`account_kind` `service`) |
//! | `ManagedIdentitySignInLogs` | the managed identity | service login (`account_kind` `service`) |
//! | anything else (`AuditLogs`, `RiskyUsers`, ...) | | not applicable |
//!
//! Service principals and managed identities sign in with a client secret, a certificate or a
//! token: a leaked client secret is a stolen credential like a password, so their sign-ins are
//! logins of a non-human account. Their account is `servicePrincipalName`, else
//! `appDisplayName`, else `servicePrincipalId`, else `appId`; their method is the
//! `clientCredentialType` (`clientSecret` → `client_secret`, `certificate` / `clientAssertion` →
//! `certificate`, `managedIdentity` → `managed_identity`, `federatedIdentityCredential` →
//! `federated`; a managed identity's record without it → `managed_identity`). A Graph record is
//! a service sign-in when its `signInEventTypes` says `servicePrincipal` / `managedIdentity`, or
//! when it names a `servicePrincipalId` and no user.
//!
//! A sign-in is a `login`: `status.errorCode` 0 is a success, anything else a failure, except
//! the codes that only interrupt a sign-in whose password was right (MFA or registration
//! demanded, "stay signed in?" prompt), which settle nothing and are not applicable. Error 500121
//! (the second factor failed) is a successful password step followed by a failed `mfa`. A
//! success with `authenticationRequirement: multiFactorAuthentication` is followed by an `mfa`
//! success at the same instant.
//!
//! User account `userPrincipalName`, else `userId`; ip `properties.ipAddress`, else the
//! envelope's `callerIpAddress` (the sign-in's own field wins: it is the address Entra evaluated
//! for the sign-in, the one its Conditional Access and risk verdicts speak of; the envelope's is
//! Azure Monitor's copy, and is the only one left when `ipAddress` is empty, as for some managed
//! identity sign-ins). A sign-in with neither (managed identities inside Azure often have none)
//! is kept without an address. UA `userAgent` (beta and Azure Monitor; v1.0 has only
//! `deviceDetail.browser`, a name and version, too coarse to stand in for a user agent); device
//! `deviceDetail.deviceId` (empty for unregistered devices); session `sessionId`, else
//! `correlationId` (which ties the records of one sign-in flow); time `createdDateTime`
//! (diagnostic: else the envelope's `time`, which some Azure Monitor exports write in US form,
//! `12/12/2025 3:03:58 PM`, read as UTC); id `id`; tenant `tenantId`, else `homeTenantId`. A user's method
//! is the first `authenticationDetails` step's `authenticationMethod` (`Password` → `password`,
//! FIDO2 / passkey / Windows Hello → `passkey`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{self, Scalar};
use super::{Decoded, RejectKind, Rejection};
use crate::event::{AccountKind, Event, EventKind, Outcome};

/// One record in any shape: Graph fields at the top level; a diagnostic record's `properties`
/// holding them (and `time`, `category`, `callerIpAddress`, `tenantId` beside); a wrapper's
/// `records` or `value`. One struct for all keeps parsing to a single pass.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow)]
    #[serde(alias = "Records")]
    records: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    #[serde(alias = "Value")]
    value: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "Category")]
    category: Option<Cow<'a, str>>,
    #[serde(borrow)]
    #[serde(alias = "Time", alias = "TimeGenerated")]
    time: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "CallerIpAddress")]
    caller_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "Properties")]
    properties: Option<Box<Record<'a>>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "Id")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "CreatedDateTime")]
    created_date_time: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "UserPrincipalName")]
    user_principal_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "UserId")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "IpAddress", alias = "IPAddress")]
    ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "UserAgent")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "SessionId")]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "CorrelationId")]
    correlation_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "TenantId")]
    tenant_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "HomeTenantId")]
    home_tenant_id: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "Status")]
    status: Option<Status<'a>>,
    #[serde(borrow, alias = "DeviceDetail")]
    device_detail: Option<DeviceDetail<'a>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "ServicePrincipalName")]
    service_principal_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "ServicePrincipalId")]
    service_principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "AppDisplayName")]
    app_display_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "AppId")]
    app_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "ClientCredentialType")]
    client_credential_type: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "SignInEventTypes")]
    sign_in_event_types: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "AuthenticationRequirement")]
    authentication_requirement: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "AuthenticationDetails")]
    authentication_details: Option<json::First<AuthenticationDetail<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    #[serde(alias = "ErrorCode")]
    error_code: Option<i64>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "FailureReason")]
    failure_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceDetail<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "DeviceId")]
    device_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationDetail<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    #[serde(alias = "AuthenticationMethod")]
    authentication_method: Option<Cow<'a, str>>,
}

/// Decodes one Entra record: a sign-in, a diagnostic record, or a `records`/`value` wrapper of
/// either (each element decoded in turn).
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    let mut entry = match json::parse_object::<Record<'a>>(record) {
        Ok(e) => e,
        Err(r) => return out(Err(r)),
    };
    if let Some(elements) = entry.records.take().or(entry.value.take()) {
        for raw in elements {
            let bytes = raw.get().as_bytes();
            match json::parse_object::<Record<'a>>(bytes) {
                Ok(inner) if inner.records.is_some() || inner.value.is_some() => {
                    out(Err(Rejection::new(
                        RejectKind::BadValue,
                        "nested record arrays are not supported",
                    )))
                }
                Ok(inner) => map(inner, out),
                Err(r) => out(Err(r)),
            }
        }
        return;
    }
    map(entry, out);
}

/// What a diagnostic record holds beside its `properties`.
#[derive(Default)]
struct Outer<'a> {
    time: Option<Scalar<'a>>,
    caller_ip_address: Option<Cow<'a, str>>,
    tenant_id: Option<Cow<'a, str>>,
}

/// Error codes that interrupt a sign-in whose first factor was right, pending a further step.
const INTERRUPTS: &[i64] = &[
    50072, // the user must enrol for MFA
    50074, // strong authentication required
    50076, // MFA required by policy (location, risk)
    50079, // the user must register security information
    50125, // password reset or registration interrupt
    50140, // "Stay signed in?" prompt
];
/// The password was right; the second factor then failed.
const MFA_FAILED: i64 = 500121;

fn map<'a>(entry: Record<'a>, out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    let diagnostic = entry.properties.is_some();
    let managed = entry.category.as_deref() == Some("ManagedIdentitySignInLogs");
    let mut service = false;
    if diagnostic {
        match entry.category.as_deref() {
            Some("SignInLogs" | "NonInteractiveUserSignInLogs" | "ADFSSignInLogs") => {}
            Some(
                "ServicePrincipalSignInLogs"
                | "ManagedIdentitySignInLogs"
                | "MicrosoftServicePrincipalSignInLogs",
            ) => service = true,
            Some(other) => {
                return out(Ok(Decoded::NotApplicable(
                    format!("entra diagnostic category {other:?} is not sign-ins").into(),
                )))
            }
            None => return out(Err(json::missing("category"))),
        }
    }
    // The outer record of a diagnostic export keeps the time, caller address and tenant.
    let (s, outer) = match entry.properties {
        Some(inner) => {
            let outer = Outer {
                time: entry.time,
                caller_ip_address: entry.caller_ip_address,
                tenant_id: entry.tenant_id,
            };
            (*inner, outer)
        }
        None => (entry, Outer::default()),
    };
    // Field names for messages, as the user's file spells them; static so a good record
    // costs no formatting.
    let field = |graph: &'static str, diagnostic_name: &'static str| {
        if diagnostic {
            diagnostic_name
        } else {
            graph
        }
    };

    let ts = match (&s.created_date_time, &outer.time) {
        (Some(created), _) => json::timestamp(
            field("createdDateTime", "properties.createdDateTime"),
            Some(created),
        ),
        // Azure Monitor writes the envelope's `time` in US form in some exports
        // (`12/12/2025 3:03:58 PM`); it is read only when the sign-in's own time is absent.
        (None, Some(time)) => json::timestamp("time", Some(time)).or_else(|r| {
            time.as_str()
                .and_then(crate::timefmt::parse_us_datetime)
                .ok_or(r)
        }),
        (None, None) => Err(json::missing(field(
            "createdDateTime",
            "properties.createdDateTime",
        ))),
    };
    let ts = match ts {
        Ok(ts) => ts,
        Err(r) => return out(Err(r)),
    };
    // Graph pages mix user and service-principal sign-ins (beta `signInEventTypes`); a record
    // naming a service principal and no user is one too.
    service = service
        || s.sign_in_event_types.as_ref().is_some_and(|t| {
            t.iter()
                .any(|t| t == "servicePrincipal" || t == "managedIdentity")
        })
        || (json::present(s.user_principal_name.clone()).is_none()
            && json::present(s.user_id.clone()).is_none()
            && json::present(s.service_principal_id.clone()).is_some());
    let account = if service {
        json::first_present([
            s.service_principal_name,
            s.app_display_name,
            s.service_principal_id,
            s.app_id,
        ])
    } else {
        json::first_present([s.user_principal_name, s.user_id])
    };
    let Some(account) = account else {
        return out(Err(json::missing(match service {
            false => field("userPrincipalName", "properties.userPrincipalName"),
            true => field("servicePrincipalName", "properties.servicePrincipalName"),
        })));
    };
    let Some(status) = s.status else {
        return out(Err(json::missing(field("status", "properties.status"))));
    };
    let Some(code) = status.error_code else {
        return out(Err(json::missing(field(
            "status.errorCode",
            "properties.status.errorCode",
        ))));
    };
    if INTERRUPTS.contains(&code) {
        return out(Ok(Decoded::NotApplicable(
            format!("entra sign-in interrupted for a further step (error {code})").into(),
        )));
    }
    let ip = match json::ip(
        field("ipAddress", "properties.ipAddress"),
        s.ip_address
            .as_deref()
            .filter(|ip| !ip.trim().is_empty())
            .or(outer.caller_ip_address.as_deref()),
    ) {
        Ok(ip) => ip,
        Err(r) => return out(Err(r)),
    };

    let mut e = Event::new(ts, EventKind::Login, account);
    if service {
        e.account_kind = AccountKind::Service;
    }
    e.ip = ip;
    e.id = json::present(s.id);
    e.tenant = json::first_present([s.tenant_id, s.home_tenant_id, outer.tenant_id]);
    e.session = json::first_present([s.session_id, s.correlation_id]);
    e.user_agent = json::present(s.user_agent);
    e.device_id = json::present(s.device_detail.and_then(|d| d.device_id));
    e.method = if service {
        s.client_credential_type
            .as_deref()
            .and_then(credential_method)
            .or(managed.then_some(Cow::Borrowed("managed_identity")))
    } else {
        s.authentication_details
            .as_ref()
            .and_then(|first| first.0.as_ref())
            .and_then(|step| step.authentication_method.as_deref())
            .and_then(method)
    };
    let mfa_required = s
        .authentication_requirement
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("multiFactorAuthentication"));

    match code {
        0 => {
            e.outcome = Some(Outcome::Success);
            if mfa_required {
                let mut mfa = e.clone();
                mfa.kind = EventKind::Mfa;
                mfa.method = None;
                out(Ok(Decoded::Event(e)));
                out(Ok(Decoded::Event(mfa)));
            } else {
                out(Ok(Decoded::Event(e)));
            }
        }
        MFA_FAILED => {
            e.outcome = Some(Outcome::Success);
            let mut mfa = e.clone();
            mfa.kind = EventKind::Mfa;
            mfa.method = None;
            mfa.outcome = Some(Outcome::Failure);
            mfa.failure_reason = Some(Cow::Borrowed("mfa_failed"));
            out(Ok(Decoded::Event(e)));
            out(Ok(Decoded::Event(mfa)));
        }
        code => {
            e.outcome = Some(Outcome::Failure);
            e.failure_reason = Some(failure_reason(code, status.failure_reason));
            out(Ok(Decoded::Event(e)));
        }
    }
}

/// The native failure reason for the commonest Entra error codes; otherwise Entra's text, or the
/// code itself.
fn failure_reason(code: i64, text: Option<Cow<'_, str>>) -> Cow<'_, str> {
    Cow::Borrowed(match code {
        50126 => "bad_password",
        50034 => "unknown_user",
        50053 => "locked_out",
        50057 => "account_disabled",
        50055 => "password_expired",
        53003 => "blocked_by_policy",
        _ => {
            return json::present(text).unwrap_or_else(|| Cow::Owned(format!("error {code}")));
        }
    })
}

/// A service principal's credential (`clientCredentialType`) as its method.
fn credential_method(kind: &str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(match kind {
        "clientSecret" => "client_secret",
        "clientAssertion" | "certificate" => "certificate",
        "managedIdentity" => "managed_identity",
        "federatedIdentityCredential" => "federated",
        _ => return None,
    }))
}

fn method(name: &str) -> Option<Cow<'static, str>> {
    if name.eq_ignore_ascii_case("Password") {
        Some(Cow::Borrowed("password"))
    } else if ["fido2", "passkey", "windows hello"]
        .iter()
        .any(|w| json::contains_ci(name, w))
    {
        Some(Cow::Borrowed("passkey"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(record: &str) -> Vec<Result<Decoded<'_>, Rejection>> {
        let mut v = Vec::new();
        decode(record.as_bytes(), &mut |r| v.push(r));
        v
    }

    #[test]
    fn failed_second_factor_is_a_right_password_then_a_failed_mfa() {
        let v = all(
            r#"{"id":"x","createdDateTime":"2025-11-10T08:00:00Z","userPrincipalName":"a@b","ipAddress":"90.1.2.3","status":{"errorCode":500121}}"#,
        );
        let kinds: Vec<_> = v
            .iter()
            .map(|r| match r {
                Ok(Decoded::Event(e)) => (e.kind, e.outcome),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (EventKind::Login, Some(Outcome::Success)),
                (EventKind::Mfa, Some(Outcome::Failure))
            ]
        );
    }

    #[test]
    fn mfa_interrupt_is_not_a_failure() {
        let v = all(
            r#"{"createdDateTime":"2025-11-10T08:00:00Z","userPrincipalName":"a@b","ipAddress":"90.1.2.3","status":{"errorCode":50074}}"#,
        );
        assert!(matches!(v[0], Ok(Decoded::NotApplicable(_))));
    }

    #[test]
    fn event_hubs_body_decodes_each_record() {
        let v = all(
            r#"{"records":[{"time":"2025-11-10T08:00:00Z","category":"SignInLogs","properties":{"userPrincipalName":"a@b","ipAddress":"90.1.2.3","status":{"errorCode":0}}},{"time":"2025-11-10T08:00:00Z","category":"AuditLogs","properties":{}}]}"#,
        );
        assert_eq!(v.len(), 2);
        assert!(matches!(&v[0], Ok(Decoded::Event(e)) if e.is_login_success()));
        assert!(matches!(v[1], Ok(Decoded::NotApplicable(_))));
    }
}
