//! `cloudtrail` format: AWS CloudTrail records of AWS console sign-ins, one per record or in the
//! `{"Records":[...]}` object CloudTrail writes to S3 (and that S3-to-Kafka bridges forward whole).
//!
//! | `eventName` | native `type` | outcome |
//! |---|---|---|
//! | `ConsoleLogin` | `login` | `responseElements.ConsoleLogin` `Success` / `Failure` |
//! | `CheckMfa` | `mfa` | `responseElements.CheckMfa` `Success` / `Failure` |
//! | `ChangePassword` (IAM, by the user) | `password_change` | no `errorCode` |
//! | anything else | not applicable | |
//!
//! A successful `ConsoleLogin` with `additionalEventData.MFAUsed: "Yes"` is followed by an `mfa`
//! success at the same instant. The account is the IAM user's `userIdentity.userName`; roots,
//! assumed roles and federated users have no user name of their own, so theirs is
//! `userIdentity.arn` (an assumed-role ARN ends with the session name, i.e. the person), else
//! `principalId`. Method `password` for IAM users and the root, `sso` for federated and assumed
//! roles. `sourceIPAddress` is sometimes an AWS service's host name (`signin.amazonaws.com`) or
//! `AWS Internal` rather than an address: then the address is absent, not wrong. Tenant
//! `recipientAccountId` (else `userIdentity.accountId`); time `eventTime`; id `eventID`;
//! failure reason from `errorMessage` (`Failed authentication` → `bad_password`,
//! `No username found in supplied account` → `unknown_user`). CloudTrail has no session id for
//! console sign-ins.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{self, Scalar};
use super::{Decoded, RejectKind, Rejection};
use crate::event::{Event, EventKind, Outcome};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow, rename = "Records")]
    records: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_time: Option<Scalar<'a>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "json::opt_str",
        rename = "eventID"
    )]
    event_id: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "json::opt_str",
        rename = "sourceIPAddress"
    )]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    error_message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow)]
    response_elements: Option<ResponseElements<'a>>,
    #[serde(borrow)]
    additional_event_data: Option<AdditionalEventData<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(borrow, default, deserialize_with = "json::opt_str", rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "json::opt_str")]
    account_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ResponseElements<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "json::opt_str",
        rename = "ConsoleLogin"
    )]
    console_login: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "json::opt_str",
        rename = "CheckMfa"
    )]
    check_mfa: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AdditionalEventData<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "json::opt_str",
        rename = "MFAUsed"
    )]
    mfa_used: Option<Cow<'a, str>>,
}

/// Decodes one CloudTrail record, or each record of a `{"Records":[...]}` object.
pub fn decode<'a>(record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    let mut r = match json::parse_object::<Record<'a>>(record) {
        Ok(r) => r,
        Err(e) => return out(Err(e)),
    };
    if let Some(elements) = r.records.take() {
        for raw in elements {
            match json::parse_object::<Record<'a>>(raw.get().as_bytes()) {
                Ok(inner) if inner.records.is_some() => out(Err(Rejection::new(
                    RejectKind::BadValue,
                    "nested `Records` arrays are not supported",
                ))),
                Ok(inner) => map(inner, out),
                Err(e) => out(Err(e)),
            }
        }
        return;
    }
    map(r, out);
}

fn map<'a>(r: Record<'a>, out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    match event(r) {
        Ok((e, mfa_used)) => {
            let mfa = mfa_used.then(|| {
                let mut m = e.clone();
                m.kind = EventKind::Mfa;
                m.method = None;
                m
            });
            out(Ok(Decoded::Event(e)));
            if let Some(m) = mfa {
                out(Ok(Decoded::Event(m)));
            }
        }
        Err(Ok(why)) => out(Ok(Decoded::NotApplicable(why))),
        Err(Err(r)) => out(Err(r)),
    }
}

/// The event and whether an MFA success follows it; or why not (not applicable, or rejected).
type Mapping<'a> = Result<(Event<'a>, bool), Result<Cow<'static, str>, Rejection>>;

fn event(r: Record<'_>) -> Mapping<'_> {
    let name = r.event_name.ok_or(Err(json::missing("eventName")))?;
    let responses = r.response_elements;
    let (kind, result, result_field) = match &*name {
        "ConsoleLogin" => (
            EventKind::Login,
            responses.and_then(|x| x.console_login),
            "responseElements.ConsoleLogin",
        ),
        "CheckMfa" => (
            EventKind::Mfa,
            responses.and_then(|x| x.check_mfa),
            "responseElements.CheckMfa",
        ),
        "ChangePassword" => (EventKind::PasswordChange, None, ""),
        other => {
            return Err(Ok(format!(
                "cloudtrail eventName {other:?} is not a console sign-in"
            )
            .into()))
        }
    };
    let outcome = match (kind, result.as_deref()) {
        (EventKind::PasswordChange, _) => match &r.error_code {
            Some(code) => {
                return Err(Ok(format!(
                    "cloudtrail ChangePassword failed ({code}): nothing changed"
                )
                .into()))
            }
            None => None,
        },
        (_, Some("Success")) => Some(Outcome::Success),
        (_, Some("Failure")) => Some(Outcome::Failure),
        (_, Some(other)) => {
            return Err(Err(json::bad_value(
                result_field,
                format_args!("{other:?}"),
                "is neither Success nor Failure",
            )))
        }
        (_, None) => return Err(Err(json::missing(result_field))),
    };
    let ts = json::timestamp("eventTime", r.event_time.as_ref()).map_err(Err)?;
    let identity = r.user_identity.ok_or(Err(json::missing("userIdentity")))?;
    let federated = matches!(
        identity.kind.as_deref(),
        Some("AssumedRole" | "FederatedUser" | "SAMLUser" | "WebIdentityUser")
    );
    let account = match identity.kind.as_deref() {
        Some("IAMUser") => {
            json::first_present([identity.user_name, identity.arn, identity.principal_id])
        }
        _ => json::first_present([identity.arn, identity.principal_id]),
    }
    .ok_or(Err(json::missing("userIdentity.arn")))?;

    let mut e = Event::new(ts, kind, account);
    e.outcome = outcome;
    e.id = json::present(r.event_id);
    e.tenant = json::first_present([r.recipient_account_id, identity.account_id]);
    e.user_agent = json::present(r.user_agent);
    e.ip = source_ip(r.source_ip_address.as_deref()).map_err(Err)?;
    if kind == EventKind::Login {
        e.method = Some(Cow::Borrowed(if federated { "sso" } else { "password" }));
    }
    if outcome == Some(Outcome::Failure) {
        e.failure_reason = json::present(r.error_message).map(|m| match &*m {
            "Failed authentication" => Cow::Borrowed("bad_password"),
            "No username found in supplied account" => Cow::Borrowed("unknown_user"),
            _ => m,
        });
    }
    let mfa_used = kind == EventKind::Login
        && outcome == Some(Outcome::Success)
        && r.additional_event_data
            .and_then(|d| d.mfa_used)
            .is_some_and(|m| m == "Yes");
    Ok((e, mfa_used))
}

/// `sourceIPAddress`, or nothing when CloudTrail put a service name there instead of an address.
fn source_ip(v: Option<&str>) -> Result<Option<std::net::IpAddr>, Rejection> {
    match v {
        // Addresses never contain letters other than IPv6 hex digits and never spaces, while
        // service names (`signin.amazonaws.com`, `AWS Internal`) always have some.
        Some(s)
            if s.bytes()
                .any(|b| b == b' ' || (b.is_ascii_alphabetic() && !b.is_ascii_hexdigit())) =>
        {
            Ok(None)
        }
        other => json::ip("sourceIPAddress", other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_no_address_but_bad_numbers_are_rejected() {
        assert_eq!(source_ip(Some("signin.amazonaws.com")).unwrap(), None);
        assert_eq!(source_ip(Some("AWS Internal")).unwrap(), None);
        assert_eq!(
            source_ip(Some("2a03:b0c0::1")).unwrap(),
            Some("2a03:b0c0::1".parse().unwrap())
        );
        assert_eq!(
            source_ip(Some("300.1.1.1")).unwrap_err().kind,
            RejectKind::BadIp
        );
    }
}
