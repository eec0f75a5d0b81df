//! The one normalised event every stage shares.
//!
//! Decoders (`source::decode`) produce an [`Event`] that borrows from the input buffer wherever
//! the input needs no unescaping, so the hot path allocates nothing for a typical line. Everything
//! downstream (enrichment, baselines, detection) reads `&Event`. [`Event::write_json`] writes the
//! native schema (README.md, "Events in Kafka") back out (used by `tocsin decode` and `tocsin
//! gen`). The input [`Format`] names are here too: configuration refers to them as plain values.

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::timefmt;

/// Input formats, chosen per source (`format = ...`) or per replay (`--format`); each has its
/// decoder in `source::decode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Tocsin's native schema (README.md, "Events in Kafka").
    #[default]
    Native,
    /// OCSF Authentication (3002) and API Activity (6003).
    Ocsf,
    /// Elastic Common Schema.
    Ecs,
    /// Okta System Log.
    Okta,
    /// Microsoft Entra ID sign-in logs (Graph or Azure Monitor shape).
    Entra,
    /// AWS CloudTrail `ConsoleLogin`.
    Cloudtrail,
    /// Auth0 tenant log events (log streams or the Management API).
    Auth0,
    /// Google Workspace login audit activities (Admin SDK Reports API).
    #[value(name = "google_workspace")]
    GoogleWorkspace,
    /// Keycloak user events.
    Keycloak,
}

impl Format {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Ocsf => "ocsf",
            Format::Ecs => "ecs",
            Format::Okta => "okta",
            Format::Entra => "entra",
            Format::Cloudtrail => "cloudtrail",
            Format::Auth0 => "auth0",
            Format::GoogleWorkspace => "google_workspace",
            Format::Keycloak => "keycloak",
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A sign-in attempt (needs `outcome`; `ip` when the source logs one).
    Login,
    /// A second-factor step (needs `outcome`).
    Mfa,
    /// Data access within a session (`action`, `resource`, `count`).
    Access,
    /// The end of a session.
    Logout,
    /// The account's password was changed.
    PasswordChange,
}

impl EventKind {
    /// The native schema's name for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::Mfa => "mfa",
            EventKind::Access => "access",
            EventKind::Logout => "logout",
            EventKind::PasswordChange => "password_change",
        }
    }

    /// Parses the native schema's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "login" => EventKind::Login,
            "mfa" => EventKind::Mfa,
            "access" => EventKind::Access,
            "logout" => EventKind::Logout,
            "password_change" => EventKind::PasswordChange,
            _ => return None,
        })
    }
}

/// Result of a login or MFA step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted.
    Success,
    /// Refused.
    Failure,
}

impl Outcome {
    /// The native schema's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    /// Parses the native schema's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

/// What a data-access event did to the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Opened records.
    Read,
    /// Listed records matching a query.
    Search,
    /// Downloaded records out of the application.
    Export,
    /// Printed records.
    Print,
    /// Changed records.
    Update,
    /// Deleted records.
    Delete,
}

impl Action {
    /// Every action, in a fixed order (index with [`Action::index`]).
    pub const ALL: [Action; 6] = [
        Action::Read,
        Action::Search,
        Action::Export,
        Action::Print,
        Action::Update,
        Action::Delete,
    ];

    /// The native schema's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Search => "search",
            Action::Export => "export",
            Action::Print => "print",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    /// Parses the native schema's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Action::Read,
            "search" => Action::Search,
            "export" => Action::Export,
            "print" => Action::Print,
            "update" => Action::Update,
            "delete" => Action::Delete,
            _ => return None,
        })
    }

    /// Position in [`Action::ALL`], for per-action arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Who the account is: a person, or a non-human identity (an application's service principal,
/// a managed identity, an integration's client) signing in with a secret or a certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// A person (the default: the native schema's events are people's unless they say not).
    #[default]
    User,
    /// A non-human identity: a leaked client secret is a stolen credential too.
    Service,
}

impl AccountKind {
    /// `user` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Service => "service",
        }
    }

    /// From the schema's names.
    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "user" => Some(AccountKind::User),
            "service" => Some(AccountKind::Service),
            _ => None,
        }
    }
}

/// One normalised event. Strings borrow from the decoded input when they can.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// Event time, epoch milliseconds (UTC).
    pub ts_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// Success or failure for `login` and `mfa`.
    pub outcome: Option<Outcome>,
    /// The account, as the SaaS names it.
    pub account: Cow<'a, str>,
    /// A person's account or a non-human identity's.
    pub account_kind: AccountKind,
    /// The customer organisation (practice, clinic, hospital) the account belongs to.
    pub tenant: Option<Cow<'a, str>>,
    /// The application session this event belongs to.
    pub session: Option<Cow<'a, str>>,
    /// Client address; IPv4-mapped IPv6 addresses are stored as IPv4.
    pub ip: Option<IpAddr>,
    /// Raw `User-Agent` header.
    pub user_agent: Option<Cow<'a, str>>,
    /// A device identifier the SaaS already has (cookie, certificate...). Wins over the UA fingerprint.
    pub device_id: Option<Cow<'a, str>>,
    /// Authentication method (`password`, `sso`, `passkey`...).
    pub method: Option<Cow<'a, str>>,
    /// Why a login failed (`bad_password`, `unknown_user`...).
    pub failure_reason: Option<Cow<'a, str>>,
    /// What an `access` event did.
    pub action: Option<Action>,
    /// What an `access` event touched (`patient_record`...).
    pub resource: Option<Cow<'a, str>>,
    /// How many records an `access` event touched (≥ 1).
    pub count: u32,
    /// The producer's event id, if any.
    pub id: Option<Cow<'a, str>>,
}

impl<'a> Event<'a> {
    /// A minimal event: the required fields, everything else empty, `count` 1.
    pub fn new(ts_ms: i64, kind: EventKind, account: impl Into<Cow<'a, str>>) -> Self {
        Event {
            ts_ms,
            kind,
            outcome: None,
            account: account.into(),
            account_kind: AccountKind::User,
            tenant: None,
            session: None,
            ip: None,
            user_agent: None,
            device_id: None,
            method: None,
            failure_reason: None,
            action: None,
            resource: None,
            count: 1,
            id: None,
        }
    }

    /// An owned copy that outlives the input buffer.
    pub fn into_owned(self) -> Event<'static> {
        fn own(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            c.map(|c| Cow::Owned(c.into_owned()))
        }
        Event {
            ts_ms: self.ts_ms,
            kind: self.kind,
            outcome: self.outcome,
            account: Cow::Owned(self.account.into_owned()),
            account_kind: self.account_kind,
            tenant: own(self.tenant),
            session: own(self.session),
            ip: self.ip,
            user_agent: own(self.user_agent),
            device_id: own(self.device_id),
            method: own(self.method),
            failure_reason: own(self.failure_reason),
            action: self.action,
            resource: own(self.resource),
            count: self.count,
            id: own(self.id),
        }
    }

    /// True for a successful login.
    pub fn is_login_success(&self) -> bool {
        self.kind == EventKind::Login && self.outcome == Some(Outcome::Success)
    }

    /// True for a failed login.
    pub fn is_login_failure(&self) -> bool {
        self.kind == EventKind::Login && self.outcome == Some(Outcome::Failure)
    }

    /// Writes the event as one native-schema JSON object (no trailing newline). Field order is
    /// fixed, so the output is deterministic.
    pub fn write_json(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(b"{\"ts\":\"")?;
        timefmt::write_rfc3339(self.ts_ms, out)?;
        out.write_all(b"\",\"type\":\"")?;
        out.write_all(self.kind.as_str().as_bytes())?;
        out.write_all(b"\"")?;
        if let Some(id) = &self.id {
            write_str_field(out, "id", id)?;
        }
        if let Some(o) = self.outcome {
            out.write_all(b",\"outcome\":\"")?;
            out.write_all(o.as_str().as_bytes())?;
            out.write_all(b"\"")?;
        }
        write_str_field(out, "account", &self.account)?;
        for (name, v) in [("tenant", &self.tenant), ("session", &self.session)] {
            if let Some(v) = v {
                write_str_field(out, name, v)?;
            }
        }
        if let Some(ip) = self.ip {
            out.write_all(b",\"ip\":\"")?;
            write_ip(ip, out)?;
            out.write_all(b"\"")?;
        }
        for (name, v) in [
            ("user_agent", &self.user_agent),
            ("device_id", &self.device_id),
            ("method", &self.method),
            ("failure_reason", &self.failure_reason),
        ] {
            if let Some(v) = v {
                write_str_field(out, name, v)?;
            }
        }
        if self.account_kind != AccountKind::User {
            out.write_all(b",\"account_kind\":\"")?;
            out.write_all(self.account_kind.as_str().as_bytes())?;
            out.write_all(b"\"")?;
        }
        if let Some(a) = self.action {
            out.write_all(b",\"action\":\"")?;
            out.write_all(a.as_str().as_bytes())?;
            out.write_all(b"\"")?;
        }
        if let Some(r) = &self.resource {
            write_str_field(out, "resource", r)?;
        }
        if self.kind == EventKind::Access {
            out.write_all(b",\"count\":")?;
            let mut digits = [0u8; 10];
            let mut n = digits.len();
            let mut c = self.count;
            loop {
                n -= 1;
                digits[n] = b'0' + (c % 10) as u8;
                c /= 10;
                if c == 0 {
                    break;
                }
            }
            out.write_all(&digits[n..])?;
        }
        out.write_all(b"}")
    }

    /// The event as a native-schema JSON string.
    pub fn to_json(&self) -> String {
        let mut v = Vec::with_capacity(256);
        self.write_json(&mut v)
            .expect("writing to a Vec cannot fail");
        String::from_utf8(v).expect("JSON output is UTF-8")
    }
}

/// IPv4 without `core::fmt` (the common case on the write path); IPv6 through `Display`.
fn write_ip(ip: IpAddr, out: &mut impl Write) -> std::io::Result<()> {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    buf[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    buf[n] = b'0' + (octet / 10) % 10;
                    n += 1;
                }
                buf[n] = b'0' + octet % 10;
                n += 1;
            }
            out.write_all(&buf[..n])
        }
        IpAddr::V6(v6) => write!(out, "{v6}"),
    }
}

fn write_str_field(out: &mut impl Write, name: &str, value: &str) -> std::io::Result<()> {
    out.write_all(b",\"")?;
    out.write_all(name.as_bytes())?;
    out.write_all(b"\":")?;
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::other)
}

/// Canonical form of an address: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4, so one
/// client is one address whatever the logging stack did to it.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_native_json_in_fixed_order() {
        let mut e = Event::new(
            1_762_817_462_000,
            EventKind::Access,
            "dr.martin@cabinet-rouen",
        );
        e.session = Some("s-8f2c".into());
        e.ip = Some("203.0.113.7".parse().unwrap());
        e.action = Some(Action::Export);
        e.resource = Some("patient_record".into());
        e.count = 250;
        assert_eq!(
            e.to_json(),
            r#"{"ts":"2025-11-10T23:31:02Z","type":"access","account":"dr.martin@cabinet-rouen","session":"s-8f2c","ip":"203.0.113.7","action":"export","resource":"patient_record","count":250}"#
        );
    }

    #[test]
    fn escapes_strings() {
        let mut e = Event::new(0, EventKind::Login, "a\"b\\c\n");
        e.outcome = Some(Outcome::Failure);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["account"], "a\"b\\c\n");
    }

    #[test]
    fn addresses_are_written_as_display_would() {
        for a in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "2001:db8::1",
            "90.1.37.12",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            let mut v = Vec::new();
            write_ip(ip, &mut v).unwrap();
            assert_eq!(String::from_utf8(v).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_ipv4() {
        let ip: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical_ip(ip), "192.0.2.1".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }
}
