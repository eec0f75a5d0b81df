//! Explanations: turns a fired rule and the event's features into an alert (`alert.rs`),
//! with `reasons` that always carry numbers (the value, the account's usual values with shares
//! and counts, distances, speeds, ratios, and the risk term's weight). The reason line of each
//! feature is written in `reason`.
//!
//! Runs only when a rule fires, so it may allocate; it reads a copy of the account's baseline
//! taken before the event was learned, so the "usual" it shows is what the event was judged
//! against.

use serde_json::json;

use super::features::{EventFeatures, F};
use super::risk::RiskScore;
use super::rules::{Mode, Rule};
use super::value::Value;
use crate::alert::{self, Alert, AlertDevice, AlertGeo, Reason};
use crate::baseline::AccountBaseline;
use crate::enrich::Enriched;
use crate::event::Event;
use crate::timefmt;

pub use crate::baseline::store::NameTable;

mod reason;

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

/// Features explained by one shared sentence: the first of a group speaks for the others.
fn group_of(f: F) -> Option<&'static str> {
    Some(match f {
        F::SessionRecords
        | F::SessionExports
        | F::VolumeRatio
        | F::VolumeBaseline
        | F::VolumeP99
        | F::VolumeRecords10m
        | F::VolumeExports1h
        | F::AccessCount
        | F::AccessAction => "volume",
        F::TravelDistanceKm | F::TravelSpeedKmh | F::TravelHours | F::TravelSameAsn => "travel",
        F::AuthFailuresAccount10m
        | F::AuthFailuresSource10m
        | F::AuthSourceAccounts10m
        | F::AuthSourceAccounts1h
        | F::AuthFailuresAccountSource10m => "auth",
        F::AsnTenantKnown | F::IpTenantKnown => "tenant",
        F::HourLocal | F::HourShare | F::HourRare | F::HourWeekend => "hour",
        F::SessionConcurrentDistant | F::SessionConcurrentDistanceKm => "concurrent",
        F::SessionInterleaved | F::SessionOtherAsn => "interleaved",
        F::AccountLogins | F::AccountLearning | F::AccountAgeDays => "account",
        _ => return None,
    })
}

/// The risk term (network 0, device 1, hour 2) a feature's reason line speaks for, and whether
/// the feature is the term itself (`risk.network`...) rather than a line that carries it.
fn risk_term_of(f: F) -> Option<(usize, bool)> {
    Some(match f {
        F::RiskNetwork => (0, true),
        F::RiskDevice => (1, true),
        F::RiskHour => (2, true),
        F::GeoNewCountry
        | F::GeoCountry
        | F::GeoCountryShare
        | F::GeoNewCity
        | F::GeoCity
        | F::AsnNew
        | F::AsnNumber
        | F::AsnShare
        | F::EvidenceNetwork
        | F::IpNewPrefix => (0, false),
        F::DeviceNew
        | F::DeviceBrowserNew
        | F::DeviceOsNew
        | F::DeviceType
        | F::DeviceBrowser
        | F::DeviceOs
        | F::EvidenceDevice => (1, false),
        F::HourLocal | F::HourShare | F::HourRare | F::HourWeekend => (2, false),
        _ => return None,
    })
}

/// A reason line with the risk term it speaks for (see [`risk_term_of`]) and its feature.
type Tagged = (Reason, Option<(usize, bool)>, F);

/// Of the lines that speak for risk term `t`, the one that says what made it unusual: for the
/// network a new country, else a new ASN, else a new /24; otherwise the first.
fn primary_line(t: usize, lines: &[usize], tagged: &[Tagged], feats: &EventFeatures<'_>) -> usize {
    let find = |set: &[F]| lines.iter().copied().find(|&j| set.contains(&tagged[j].2));
    let pick = if t == 0 {
        if feats.is(F::GeoNewCountry) {
            find(&[F::GeoNewCountry, F::GeoCountry, F::GeoCountryShare])
        } else if feats.is(F::AsnNew) {
            find(&[F::AsnNew, F::AsnNumber, F::AsnShare, F::EvidenceNetwork])
        } else if feats.is(F::IpNewPrefix) {
            find(&[F::IpNewPrefix])
        } else {
            None
        }
    } else {
        None
    };
    pick.unwrap_or(lines[0])
}

/// Builds the alert for `rule` firing on this event. `scope` is the session or the suppression
/// window bucket (see `alert::alert_id`); `refire` is the start of the new suppression window
/// when the rule fires again in a session it already alerted on, so the re-fire gets its own id.
pub fn build_alert(rule: &Rule, x: &Evidence<'_>, now_ms: i64, refire: Option<i64>) -> Alert {
    let ev = x.ev;
    let scope = match (&ev.session, refire) {
        (Some(s), Some(window)) => format!("session:{s}@{window}"),
        (Some(s), None) => format!("session:{s}"),
        (None, _) => {
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
    // One reason per piece of evidence: the network, the device and the hour each weigh once
    // in the score, so one line of each carries the weight, with the "N× more common
    // elsewhere" of its term, and a term's own line is dropped when another line speaks for it.
    let mut tagged: Vec<Tagged> = Vec::with_capacity(order.len());
    for i in order {
        let Some(f) = F::of_index(i) else { continue };
        if let Some(g) = group_of(f) {
            if groups.contains(&g) {
                continue;
            }
            groups.push(g);
        }
        if let Some(r) = reason::reason(i, x) {
            tagged.push((r, risk_term_of(f), f));
        }
    }
    // Two features can tell the same thing (`geo.new_country` and `geo.country`, `device.new`
    // and `evidence.device`, `risk.score` and `session.risk` on an access): the first says it, before a term's weight is given to one line.
    let mut said: Vec<String> = Vec::with_capacity(tagged.len());
    tagged.retain(|(r, _, _)| {
        let new = !said.contains(&r.text);
        if new {
            said.push(r.text.clone());
        }
        new
    });
    let terms = [x.risk.network, x.risk.device, x.risk.hour];
    for (t, &w) in terms.iter().enumerate() {
        let lines: Vec<usize> = (0..tagged.len())
            .filter(|&j| tagged[j].1 == Some((t, false)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let primary = primary_line(t, &lines, &tagged, x.feats);
        for &j in &lines {
            tagged[j].0.weight = None;
        }
        let own = (0..tagged.len()).find(|&j| tagged[j].1 == Some((t, true)));
        if let Some(own) = own {
            let r = &mut tagged[primary].0;
            r.text.push_str(&format!(
                ": {:.0}× more common elsewhere than for this account",
                w.exp()
            ));
            r.weight = Some(round(w, 2));
            tagged.remove(own);
        } else if w.abs() > 0.05 {
            tagged[primary].0.weight = Some(round(w, 2));
        }
    }
    reasons.extend(tagged.into_iter().map(|(r, _, _)| r));
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
