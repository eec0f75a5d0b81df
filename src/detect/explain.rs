//! Explanations: turns a fired rule and the event's features into the alert ([`crate::alert`]),
//! with `reasons` that always carry numbers (the value, the account's usual values with shares
//! and counts, distances, speeds, ratios, and the risk term's weight).
//!
//! Runs only when a rule fires, so it may allocate; it reads a copy of the account's baseline
//! taken before the event was learned, so the "usual" it shows is what the event was judged
//! against.

use std::fmt::Write as _;

use serde_json::json;

use super::features::{EventFeatures, F, FEATURES};
use super::risk::RiskScore;
use super::rules::{FeatureSource, Mode, Rule, Value};
use crate::alert::{self, Alert, AlertDevice, AlertGeo, Reason};
use crate::baseline::account::HOUR_BUCKETS;
use crate::baseline::{country_of_key, AccountBaseline};
use crate::enrich::Enriched;
use crate::event::Event;
use crate::timefmt;

/// Everything an explanation may quote, gathered by the detector for one event.
pub struct Evidence<'a> {
    /// The event.
    pub ev: &'a Event<'a>,
    /// Its enrichment.
    pub enr: &'a Enriched,
    /// Its features.
    pub feats: &'a EventFeatures<'a>,
    /// The account's baseline before this event.
    pub acct: &'a AccountBaseline,
    /// The login risk and its terms (zero for events that are not logins).
    pub risk: RiskScore,
    /// The risk reported on the alert (the login's, or the session's for accesses).
    pub risk_score: f64,
    /// Day of the event.
    pub today: u16,
    /// Trusted logins needed to leave learning.
    pub learning_logins: u32,
    /// Names behind hashed keys: `(table, key) -> name`.
    pub names: &'a dyn Fn(NameTable, u32) -> Option<String>,
    /// The event's open session as it was before the event, if any.
    pub session: Option<crate::baseline::OpenSession>,
}

/// Which table a hashed key belongs to, for name look-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameTable {
    /// Cities.
    City,
    /// AS organisations (key: the ASN).
    AsOrg,
    /// Browser families.
    Browser,
    /// OS families.
    Os,
}

/// Features that only say what kind of event this is: not worth a reason line.
fn is_event_kind(name: &str) -> bool {
    matches!(
        name,
        "login.success"
            | "login.failure"
            | "mfa.success"
            | "mfa.failure"
            | "access"
            | "event.type"
            // Already top-level fields of the alert.
            | "account"
            | "tenant"
            | "ip"
    )
}

/// Features explained by one shared sentence: the first of a group speaks for the others.
fn group_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "session.records" | "session.exports" | "volume.ratio" | "volume.baseline"
        | "volume.p99" | "volume.records_10m" | "volume.exports_1h" | "access.count"
        | "access.action" => "volume",
        "travel.distance_km" | "travel.speed_kmh" | "travel.hours" | "travel.same_asn" => "travel",
        "auth.failures_account_10m"
        | "auth.failures_source_10m"
        | "auth.source_accounts_10m"
        | "auth.source_accounts_1h"
        | "auth.failures_account_source_10m" => "auth",
        "asn.tenant_known" | "ip.tenant_known" => "tenant",
        "hour.local" | "hour.share" | "hour.rare" | "hour.weekend" => "hour",
        "session.concurrent_distant" | "session.concurrent_distance_km" => "concurrent",
        "account.logins" | "account.learning" | "account.age_days" => "account",
        _ => return None,
    })
}

/// Builds the alert for `rule` firing on this event. `scope` is the session or the suppression
/// window bucket (see `alert::alert_id`).
pub fn build_alert(rule: &Rule, x: &Evidence<'_>, now_ms: i64) -> Alert {
    let ev = x.ev;
    let scope = match &ev.session {
        Some(s) => format!("session:{s}"),
        None => {
            let w = rule.suppress_ms.max(1);
            format!("window:{}", ev.ts_ms.div_euclid(w))
        }
    };
    let mut order: Vec<usize> = Vec::with_capacity(8);
    for &i in rule.when.features().iter().chain(rule.explain.iter()) {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    // The risk terms that pushed this login up, strongest first.
    let mut terms = [
        (F::RiskNetwork, x.risk.network),
        (F::RiskDevice, x.risk.device),
        (F::RiskHour, x.risk.hour),
    ];
    terms.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (f, w) in terms {
        if w > 0.5 && !order.contains(&(f as usize)) {
            order.push(f as usize);
        }
    }
    let mut groups: Vec<&'static str> = Vec::new();
    let mut reasons: Vec<Reason> = Vec::with_capacity(order.len());
    for i in order {
        if let Some(g) = FEATURES.get(i).and_then(|d| group_of(d.name)) {
            if groups.contains(&g) {
                continue;
            }
            groups.push(g);
        }
        reasons.extend(reason(i, x));
    }
    if x.acct.learning(x.learning_logins) && ev.is_login_success() {
        reasons.push(Reason {
            feature: "account.learning".into(),
            value: json!(true),
            baseline: Some(format!(
                "{} of {} logins learned",
                x.acct.logins, x.learning_logins
            )),
            weight: None,
            text: format!(
                "account still learning ({} of {} logins): risk leans on population frequencies",
                x.acct.logins, x.learning_logins
            ),
        });
    }
    // Two features can tell the same thing (`risk.score` and `session.risk` on an access).
    let mut seen: Vec<String> = Vec::with_capacity(reasons.len());
    reasons.retain(|r| {
        let new = !seen.contains(&r.text);
        if new {
            seen.push(r.text.clone());
        }
        new
    });

    let g = &x.enr.geo;
    let geo = AlertGeo {
        country: g.country.map(|c| c.as_str().to_string()),
        city: g.city.as_deref().map(str::to_string),
        lat: g.lat_lon.map(|l| round(l.0 as f64, 4)),
        lon: g.lat_lon.map(|l| round(l.1 as f64, 4)),
        asn: g.asn,
        as_org: g.as_org.as_deref().map(str::to_string),
    };
    let d = &x.enr.device;
    let device = AlertDevice {
        id: match (&ev.device_id, d.fingerprint) {
            (Some(id), _) => Some(id.to_string()),
            (None, 0) => None,
            (None, fp) => Some(format!("fp_{fp:016x}")),
        },
        browser: (!d.browser.is_empty()).then(|| d.browser.to_string()),
        os: (!d.os.is_empty()).then(|| d.os.to_string()),
        kind: Some(d.kind.as_str().to_string()),
    };
    let event_id = match &ev.id {
        Some(id) => id.to_string(),
        None => alert::derived_event_id(
            &ev.account,
            ev.ts_ms,
            ev.kind.as_str(),
            ev.session.as_deref(),
        ),
    };
    Alert {
        id: alert::alert_id(&rule.id, &ev.account, &scope),
        rule: rule.id.clone(),
        title: rule.name.clone(),
        severity: rule.severity,
        risk: round(x.risk_score, 3),
        ts: timefmt::rfc3339(ev.ts_ms),
        detected_at: timefmt::rfc3339(now_ms),
        account: ev.account.to_string(),
        tenant: ev.tenant.as_deref().map(str::to_string),
        session: ev.session.as_deref().map(str::to_string),
        ip: ev.ip,
        geo: (geo != AlertGeo::default()).then_some(geo),
        device: Some(device),
        reasons,
        actions: rule.actions.clone(),
        mitre: rule.mitre.clone(),
        events: vec![event_id],
        mode: (rule.mode == Mode::Shadow).then(|| "shadow".to_string()),
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// `1342` → `1,342`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A small quantity with one decimal, a large one with separators.
fn qty(v: f64) -> String {
    if v.abs() < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else {
        thousands(v)
    }
}

/// `1 known device`, `3 known devices`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn pct(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        "<1%".to_string()
    } else {
        format!("{}%", p.round())
    }
}

fn value_json(v: Value<'_>) -> serde_json::Value {
    match v {
        Value::Bool(b) => json!(b),
        Value::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(n as i64),
        Value::Num(n) => json!(round(n, 2)),
        Value::Str(s) => json!(s),
        Value::Ip(ip) => json!(ip.to_string()),
        Value::Missing => serde_json::Value::Null,
    }
}

fn countries(x: &Evidence<'_>) -> (String, Vec<String>) {
    let total = x.acct.countries.total(x.today) as f64;
    let mut s = String::new();
    let mut codes = Vec::new();
    for (k, c, _) in x.acct.countries.ranked(x.today) {
        let code = country_of_key(k)
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        if !s.is_empty() {
            s.push_str(", ");
        }
        let _ = write!(s, "{code} {}", pct(c as f64 / total.max(f64::MIN_POSITIVE)));
        codes.push(code);
    }
    if s.is_empty() {
        s.push_str("none yet");
    }
    let _ = write!(s, " ({} logins)", x.acct.logins);
    (s, codes)
}

fn asns(x: &Evidence<'_>) -> String {
    let total = x.acct.asns.total(x.today) as f64;
    let mut s = String::new();
    for (k, c, _) in x.acct.asns.ranked(x.today) {
        if !s.is_empty() {
            s.push_str(", ");
        }
        let _ = write!(s, "AS{k}");
        if let Some(org) = (x.names)(NameTable::AsOrg, k) {
            let _ = write!(s, " {org}");
        }
        let _ = write!(s, " {}", pct(c as f64 / total.max(f64::MIN_POSITIVE)));
    }
    if s.is_empty() {
        s.push_str("none yet");
    }
    let _ = write!(s, " ({} logins)", x.acct.logins);
    s
}

fn named_list(x: &Evidence<'_>, table: NameTable, keys: &mut dyn Iterator<Item = u32>) -> String {
    let v: Vec<String> = keys
        .map(|k| (x.names)(table, k).unwrap_or_else(|| format!("#{k:08x}")))
        .collect();
    if v.is_empty() {
        "none yet".into()
    } else {
        v.join(", ")
    }
}

fn hours(x: &Evidence<'_>) -> String {
    let b = x.acct.hours.buckets();
    let total: f64 = b.iter().map(|&v| v as f64).sum();
    if total == 0.0 {
        return "no hour profile yet".into();
    }
    let mut idx: Vec<usize> = (0..HOUR_BUCKETS).filter(|&i| b[i] > 0).collect();
    idx.sort_by(|&i, &j| b[j].cmp(&b[i]).then(i.cmp(&j)));
    let parts: Vec<String> = idx
        .iter()
        .take(4)
        .map(|&i| {
            format!(
                "{:02}h{} {}",
                i % 24,
                if i >= 24 { " weekend" } else { "" },
                pct(b[i] as f64 / total)
            )
        })
        .collect();
    format!("usual hours {}", parts.join(", "))
}

/// The reason line for catalog feature `i`, or `None` for features that say nothing here.
fn reason(i: usize, x: &Evidence<'_>) -> Option<Reason> {
    let def = FEATURES.get(i)?;
    let name = def.name;
    if is_event_kind(name) {
        return None;
    }
    let f = x.feats;
    let v = f.feature(i);
    let num = |ff: F| f.num_of(ff).unwrap_or(0.0);
    let country_s = x
        .enr
        .geo
        .country
        .map_or_else(|| "unknown".to_string(), |c| c.as_str().to_string());
    let login = matches!(
        x.ev.kind,
        crate::event::EventKind::Login | crate::event::EventKind::Mfa
    );
    // Risk terms exist for logins only; other events show no weight rather than a zero.
    let w = |v: f64| login.then(|| round(v, 2));
    let mut weight = None;
    let (baseline, text): (Option<String>, String) = match name {
        "geo.new_country" | "geo.country" | "geo.country_share" => {
            weight = w(x.risk.network);
            let (b, codes) = countries(x);
            let text = if !login {
                format!(
                    "{} from {country_s}; usual countries {}",
                    x.ev.kind.as_str(),
                    if codes.is_empty() {
                        "none yet".into()
                    } else {
                        codes.join(", ")
                    }
                )
            } else if f.is(F::GeoNewCountry) {
                format!(
                    "first login from {country_s}; usual countries {}",
                    if codes.is_empty() {
                        "none yet".into()
                    } else {
                        codes.join(", ")
                    }
                )
            } else {
                format!(
                    "login from {country_s} ({} of the account's logins)",
                    pct(num(F::GeoCountryShare))
                )
            };
            (Some(b), text)
        }
        "geo.new_city" | "geo.city" => {
            weight = w(x.risk.network);
            let city = x.enr.geo.city.as_deref().unwrap_or("unknown").to_string();
            let b = named_list(
                x,
                NameTable::City,
                &mut x.acct.cities.ranked(x.today).map(|e| e.0),
            );
            (
                Some(format!("usual cities {b}")),
                format!("login from {city}"),
            )
        }
        "geo.distance_km" => (
            None,
            format!(
                "{} km from the account's usual place",
                thousands(num(F::GeoDistanceKm))
            ),
        ),
        "asn.new" | "asn.number" | "asn.share" => {
            weight = w(x.risk.network);
            let asn = x.enr.geo.asn.map_or("unknown".into(), |a| format!("AS{a}"));
            let org = x.enr.geo.as_org.as_deref().unwrap_or("");
            let text = if !login {
                format!("{} from network {asn} {org}", x.ev.kind.as_str())
                    .trim_end()
                    .to_string()
            } else if f.is(F::AsnNew) {
                format!("first login from network {asn} {org}")
                    .trim_end()
                    .to_string()
            } else {
                format!("network {asn} {org} ({} of logins)", pct(num(F::AsnShare)))
            };
            (Some(asns(x)), text)
        }
        "asn.tenant_known" | "ip.tenant_known" => (
            Some(format!(
                "{} accounts in the tenant",
                thousands(num(F::TenantAccounts))
            )),
            if matches!(v, Value::Bool(true)) {
                "network shared by other accounts of the tenant".into()
            } else {
                "network not used by other accounts of the tenant".into()
            },
        ),
        "ip.new_prefix" => {
            weight = w(x.risk.network);
            let n = x.acct.prefixes.ranked(x.today).count();
            (
                Some(plural(n, "known network", "known networks")),
                if f.is(F::IpNewPrefix) {
                    "address from a network (/24 or /64) the account never used".into()
                } else {
                    "address from a known network".into()
                },
            )
        }
        "device.new" | "device.browser_new" | "device.os_new" | "device.type"
        | "device.browser" | "device.os" => {
            weight = w(x.risk.device);
            let n = x.acct.devices.ranked(x.today).count();
            let b = format!(
                "{}; browsers {}; systems {}",
                plural(n, "known device", "known devices"),
                named_list(
                    x,
                    NameTable::Browser,
                    &mut x.acct.browsers.ranked(x.today).map(|e| e.0)
                ),
                named_list(
                    x,
                    NameTable::Os,
                    &mut x.acct.oses.ranked(x.today).map(|e| e.0)
                )
            );
            let d = &x.enr.device;
            let what = format!("{} on {} ({})", d.browser, d.os, d.kind.as_str());
            let text = if f.is(F::DeviceNew) {
                format!("never-seen device: {what}")
            } else {
                format!("device {what}")
            };
            (Some(b), text)
        }
        "travel.distance_km" | "travel.speed_kmh" | "travel.hours" | "travel.same_asn" => {
            let (d, h, s) = (
                num(F::TravelDistanceKm),
                num(F::TravelHours),
                num(F::TravelSpeedKmh),
            );
            let last = x.acct.last_login;
            let from = country_of_key(last.country as u32)
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "?".into());
            (
                Some(format!(
                    "last trusted login {} from {from} AS{}",
                    timefmt::rfc3339(last.ts_s as i64 * 1000),
                    last.asn
                )),
                format!(
                    "{} km in {:.1} h = {} km/h (from {from} to {country_s})",
                    thousands(d),
                    h,
                    thousands(s)
                ),
            )
        }
        "hour.local" | "hour.share" | "hour.rare" | "hour.weekend" => {
            weight = w(x.risk.hour);
            (
                Some(hours(x)),
                format!(
                    "login at {:02}h local time; {} of the account's logins around this hour",
                    num(F::HourLocal) as u32,
                    pct(num(F::HourShare))
                ),
            )
        }
        "risk.score" if login => (
            Some(format!(
                "ln S = {:.1} (network {:+.1}, device {:+.1}, hour {:+.1}), prior 1/1000",
                x.risk.log_ratio, x.risk.network, x.risk.device, x.risk.hour
            )),
            format!("risk {:.2}", x.risk_score),
        ),
        "risk.score" => (
            None,
            format!(
                "the login that opened this session scored risk {:.2}",
                x.risk_score
            ),
        ),
        "risk.network" => {
            weight = Some(round(x.risk.network, 2));
            (
                Some(asns(x)),
                format!(
                    "network is {:.0}× more common elsewhere than for this account",
                    x.risk.network.exp()
                ),
            )
        }
        "risk.device" => {
            weight = Some(round(x.risk.device, 2));
            (
                Some(plural(
                    x.acct.devices.ranked(x.today).count(),
                    "known device",
                    "known devices",
                )),
                format!(
                    "device is {:.0}× more common elsewhere than for this account",
                    x.risk.device.exp()
                ),
            )
        }
        "risk.hour" => {
            weight = Some(round(x.risk.hour, 2));
            (
                Some(hours(x)),
                format!(
                    "hour is {:.0}× more common elsewhere than for this account",
                    x.risk.hour.exp()
                ),
            )
        }
        "session.risk" => (
            None,
            format!(
                "the login that opened this session scored risk {:.2}",
                num(F::SessionRisk)
            ),
        ),
        "session.records" | "session.exports" | "volume.ratio" | "volume.baseline"
        | "volume.p99" | "volume.records_10m" | "volume.exports_1h" | "access.count"
        | "access.action" => {
            let action = x.ev.action.map_or("access", |a| a.as_str());
            let usual = f.num_of(F::VolumeBaseline);
            let b = match usual {
                Some(u) => format!(
                    "usual {} {action} records per session (p99 {}, {})",
                    qty(u),
                    qty(num(F::VolumeP99)),
                    plural(x.acct.volume.sessions as usize, "session", "sessions")
                ),
                None => "no finished session learned yet".into(),
            };
            let ratio = f.num_of(F::VolumeRatio).map_or(String::new(), |r| {
                format!("; {} {action} is {}× usual", x.ev.count, qty(r))
            });
            (
                Some(b),
                format!(
                    "{} records in this session in {} min, {} exported or printed ({} records by the account in 10 min, {} exported in 1 h){ratio}",
                    thousands(num(F::SessionRecords)),
                    thousands(num(F::SessionAgeMin)),
                    thousands(num(F::SessionExports)),
                    thousands(num(F::VolumeRecords10m)),
                    thousands(num(F::VolumeExports1h)),
                ),
            )
        }
        "session.concurrent_distant" | "session.concurrent_distance_km" => (
            None,
            format!(
                "another live session of the account started {} km away",
                thousands(num(F::SessionConcurrentDistanceKm))
            ),
        ),
        "login.first_try" => (
            None,
            if f.is(F::LoginFirstTry) {
                "no failed login on the account in the previous 30 minutes: the password was known, not guessed".into()
            } else {
                "failed logins preceded this one".into()
            },
        ),
        "session.same_asn" | "session.known" => {
            let from = x.enr.geo.asn.map_or("unknown".into(), |a| format!("AS{a}"));
            match x.session {
                Some(sess) => (
                    Some(format!(
                        "session opened {} from AS{}",
                        timefmt::rfc3339(sess.start_s as i64 * 1000),
                        sess.asn
                    )),
                    format!("this {} comes from {from}", x.ev.kind.as_str()),
                ),
                None => (None, format!("{name} = {}", value_json(v))),
            }
        }
        "session.ip_changed_km" => (
            None,
            format!(
                "session used {} km away from where it logged in",
                thousands(num(F::SessionIpChangedKm))
            ),
        ),
        "auth.failures_account_10m"
        | "auth.failures_source_10m"
        | "auth.source_accounts_10m"
        | "auth.source_accounts_1h"
        | "auth.failures_account_source_10m" => {
            let src = x.ev.ip.map_or("unknown source".into(), |ip| ip.to_string());
            (
                None,
                format!(
                    "{} failed logins on this account in 10 min ({} from {src}); {src}: {} failures on {} accounts in 10 min, {} accounts in 1 h",
                    thousands(num(F::AuthFailuresAccount10m)),
                    thousands(num(F::AuthFailuresAccountSource10m)),
                    thousands(num(F::AuthFailuresSource10m)),
                    thousands(num(F::AuthSourceAccounts10m)),
                    thousands(num(F::AuthSourceAccounts1h))
                ),
            )
        }
        "account.days_since_last_login" => (
            Some(format!("{} trusted logins", x.acct.logins)),
            format!(
                "first login in {} days",
                thousands(num(F::AccountDaysSinceLastLogin))
            ),
        ),
        "account.logins" | "account.learning" | "account.age_days" => (
            None,
            format!(
                "{} trusted logins learned over {} days",
                x.acct.logins,
                thousands(num(F::AccountAgeDays))
            ),
        ),
        _ => (None, format!("{name} = {}", value_json(v))),
    };
    Some(Reason {
        feature: name.to_string(),
        value: value_json(v),
        baseline,
        weight,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1342.4), "1,342");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_677_000.0), "1,677,000");
        assert_eq!(thousands(-1200.0), "-1,200");
    }
}
