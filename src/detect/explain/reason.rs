//! The reason line of each feature: what the event showed, what the account usually does
//! (with shares and counts), and the risk term's weight where one applies.
//!
//! [`reason`] matches every feature of the catalog by its [`F`] variant, without a wildcard:
//! a feature added to the catalog does not compile until it says how it is explained. Features
//! explained together share one function.

use std::fmt::Write as _;

use super::{pct, plural, qty, round, thousands, value_json, Evidence, NameTable};
use crate::alert::Reason;
use crate::baseline::account::HOUR_BUCKETS;
use crate::baseline::country_of_key;
use crate::detect::features::F;
use crate::detect::value::{FeatureSource, Value};
use crate::event::EventKind;
use crate::timefmt;

/// A reason line without its feature and value.
struct Line {
    weight: Option<f64>,
    baseline: Option<String>,
    text: String,
}

impl Line {
    fn new(baseline: Option<String>, text: String) -> Line {
        Line {
            weight: None,
            baseline,
            text,
        }
    }

    fn weighted(mut self, weight: Option<f64>) -> Line {
        self.weight = weight;
        self
    }
}

/// What the reasons of one event share.
struct Ctx<'x, 'a> {
    x: &'x Evidence<'a>,
    /// The event is a login or second-factor step (risk terms exist for those only).
    login: bool,
    /// The event's country code, or `unknown`.
    country: String,
}

impl Ctx<'_, '_> {
    /// A number feature (0 when missing).
    fn num(&self, f: F) -> f64 {
        self.x.feats.num_of(f).unwrap_or(0.0)
    }

    /// A risk term's weight: logins only; other events show no weight rather than a zero.
    fn w(&self, v: f64) -> Option<f64> {
        self.login.then(|| round(v, 2))
    }
}

/// The reason line for catalog feature `i`, or `None` for features that say nothing here.
pub(super) fn reason(i: usize, x: &Evidence<'_>) -> Option<Reason> {
    let feature = F::of_index(i)?;
    let name = feature.def().name;
    let v = x.feats.feature(i);
    let cx = Ctx {
        x,
        login: matches!(x.ev.kind, EventKind::Login | EventKind::Mfa),
        country: x
            .enr
            .geo
            .country
            .map_or_else(|| "unknown".to_string(), |c| c.as_str().to_string()),
    };
    let line = match feature {
        // Only what kind of event this is: not worth a reason line.
        F::LoginSuccess
        | F::LoginFailure
        | F::MfaSuccess
        | F::MfaFailure
        | F::Access
        | F::EventType
        // Already top-level fields of the alert.
        | F::Account
        | F::Tenant
        | F::Ip => return None,
        F::GeoNewCountry | F::GeoCountry | F::GeoCountryShare => country(&cx),
        F::GeoNewCity | F::GeoCity => city(&cx),
        F::GeoDistanceKm => Line::new(
            None,
            format!(
                "{} km from the account's usual place",
                thousands(cx.num(F::GeoDistanceKm))
            ),
        ),
        F::AsnNew | F::AsnNumber | F::AsnShare | F::EvidenceNetwork => asn(&cx),
        F::EvidenceFamilies => Line::new(
            None,
            format!(
                "{} independent families of evidence (credential, network, device, hour) point away from the owner",
                cx.num(F::EvidenceFamilies)
            ),
        ),
        F::GeoKnown => Line::new(
            None,
            if x.feats.is(F::GeoKnown) {
                format!("the address geolocates ({})", cx.country)
            } else {
                "the address has no location in the GeoIP database".into()
            },
        ),
        F::AsnTenantKnown | F::IpTenantKnown => tenant(&cx, v),
        F::IpNewPrefix => prefix(&cx),
        F::DeviceNew
        | F::DeviceBrowserNew
        | F::DeviceOsNew
        | F::DeviceType
        | F::DeviceBrowser
        | F::DeviceOs
        | F::EvidenceDevice => device(&cx),
        F::TravelDistanceKm | F::TravelSpeedKmh | F::TravelHours | F::TravelSameAsn => {
            travel(&cx)
        }
        F::HourLocal | F::HourShare | F::HourRare | F::HourWeekend => hour(&cx),
        F::RiskScore => risk_score(&cx),
        F::RiskNetwork => risk_term(x.risk.network, "network", asns(x)),
        F::RiskDevice => risk_term(
            x.risk.device,
            "device",
            plural(
                x.acct.devices.ranked(x.today).count(),
                "known device",
                "known devices",
            ),
        ),
        F::RiskHour => risk_term(x.risk.hour, "hour", hours(x)),
        F::SessionRisk => Line::new(
            None,
            format!(
                "the login that opened this session scored risk {:.2}",
                cx.num(F::SessionRisk)
            ),
        ),
        F::SessionFamilies => Line::new(
            None,
            format!(
                "the login that opened this session carried {:.0} sign(s) of a stranger (new network, new device, guessed password or a dormant account's return)",
                cx.num(F::SessionFamilies)
            ),
        ),
        F::MfaFailures10m => Line::new(
            None,
            format!(
                "{} failed second-factor steps on the account in 10 min",
                thousands(cx.num(F::MfaFailures10m))
            ),
        ),
        F::SessionNewNetwork => Line::new(
            None,
            if x.feats.is(F::SessionNewNetwork) {
                "the login that opened this session came from a network the account never used".into()
            } else {
                "the login that opened this session came from a network the account knows".into()
            },
        ),
        F::VolumeUnusualExportDays => Line::new(
            Some(format!(
                "{} trusted logins; this network carries {:.0}% of them",
                x.acct.logins,
                100.0 * x.feats.num_of(F::AsnShare).unwrap_or(0.0)
            )),
            format!(
                "records exported or printed through a network the account rarely uses on {:.0} of the last 7 days",
                cx.num(F::VolumeUnusualExportDays)
            ),
        ),
        F::SessionRecords
        | F::SessionExports
        | F::VolumeSessions
        | F::VolumeRecordsP99
        | F::VolumeRatio
        | F::VolumeBaseline
        | F::VolumeP99
        | F::VolumeRecords10m
        | F::VolumeExports1h
        | F::AccessCount
        | F::AccessAction => volume(&cx),
        F::SessionConcurrentDistant | F::SessionConcurrentDistanceKm => Line::new(
            None,
            format!(
                "another live session of the account started {} km away",
                thousands(cx.num(F::SessionConcurrentDistanceKm))
            ),
        ),
        F::LoginFirstTry => Line::new(
            None,
            if x.feats.is(F::LoginFirstTry) {
                "no failed login on the account in the previous 30 minutes: the password was known, not guessed".into()
            } else {
                "failed logins preceded this one".into()
            },
        ),
        F::SessionSameAsn | F::SessionKnown => session(&cx, name, v),
        F::SessionSwitchSpeedKmh => Line::new(
            None,
            format!(
                "used from another network {} km from where the session logged in, moments after its previous event ({} km/h)",
                thousands(cx.num(F::SessionIpChangedKm)),
                thousands(cx.num(F::SessionSwitchSpeedKmh))
            ),
        ),
        F::AccountKind => Line::new(
            None,
            format!("{} account", cx.x.ev.account_kind.as_str()),
        ),
        F::AccountCredentialLeaked => Line::new(
            None,
            if x.feats.is(F::AccountCredentialLeaked) {
                "an identity provider reported this account's password leaked, and it has not been changed since".into()
            } else {
                "no leak of the password reported".into()
            },
        ),
        F::SessionInterleaved | F::SessionOtherAsn => Line::new(
            None,
            if x.feats.is(F::SessionInterleaved) {
                format!(
                    "this session was used from network AS{:.0} within the last 30 minutes and is back on its login's network: two networks at once, one of them new to the account",
                    cx.num(F::SessionOtherAsn)
                )
            } else {
                "the session stays on its networks".into()
            },
        ),
        F::EvidenceDormant => Line::new(
            None,
            if x.feats.is(F::EvidenceDormant) {
                "a dormant account: no trusted login for 90 days or more, or never seen in a tenant watched for weeks".into()
            } else {
                "the account is in use".into()
            },
        ),
        F::SessionIpChangedKm => Line::new(
            None,
            format!(
                "session used {} km away from where it logged in",
                thousands(cx.num(F::SessionIpChangedKm))
            ),
        ),
        F::AuthFailuresAccount10m
        | F::AuthFailuresSource10m
        | F::AuthSourceAccounts10m
        | F::AuthSourceAccounts1h
        | F::AuthFailuresAccountSource10m => auth(&cx),
        F::AccountDaysSinceLastLogin => Line::new(
            Some(format!("{} trusted logins", x.acct.logins)),
            format!(
                "first login in {} days",
                thousands(cx.num(F::AccountDaysSinceLastLogin))
            ),
        ),
        F::AccountLogins | F::AccountLearning | F::AccountAgeDays => Line::new(
            None,
            format!(
                "{} trusted logins learned over {} days",
                x.acct.logins,
                thousands(cx.num(F::AccountAgeDays))
            ),
        ),
        F::DeviceBot => Line::new(
            None,
            if x.feats.is(F::DeviceBot) {
                "the user agent is a script or HTTP library, not a browser".into()
            } else {
                "a browser's user agent".into()
            },
        ),
        F::DeviceExplicitId => Line::new(
            None,
            if x.feats.is(F::DeviceExplicitId) {
                "the event carried the service's device id".into()
            } else {
                "no device id: the device is known by its user agent only".into()
            },
        ),
        F::IpClass => Line::new(
            None,
            format!("the address is {}", x.enr.geo.class.as_str().replace('_', "-")),
        ),
        F::SessionAgeMin => Line::new(
            None,
            format!(
                "the session logged in {} minutes before",
                thousands(cx.num(F::SessionAgeMin))
            ),
        ),
        F::TenantAccounts | F::TenantWatchedDays => Line::new(
            None,
            format!(
                "the tenant has {} accounts watched over {} days",
                thousands(cx.num(F::TenantAccounts)),
                thousands(cx.num(F::TenantWatchedDays))
            ),
        ),
        F::PopulationCountryShare => Line::new(
            None,
            format!(
                "{} of all the service's logins come from {}",
                pct(cx.num(F::PopulationCountryShare)),
                cx.country
            ),
        ),
        F::PopulationAsnShare => Line::new(
            None,
            format!(
                "{} of all the service's logins come from this network",
                pct(cx.num(F::PopulationAsnShare))
            ),
        ),
    };
    Some(Reason {
        feature: name.to_string(),
        value: value_json(v),
        baseline: line.baseline,
        weight: line.weight,
        text: line.text,
    })
}

/// `name = value`.
fn plain(name: &str, v: Value<'_>) -> Line {
    Line::new(None, format!("{name} = {}", value_json(v)))
}

/// `geo.new_country`, `geo.country`, `geo.country_share`.
fn country(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let country_s = &cx.country;
    let (b, codes) = countries(x);
    let text = if !cx.login {
        format!(
            "{} from {country_s}; usual countries {}",
            x.ev.kind.as_str(),
            if codes.is_empty() {
                "none yet".into()
            } else {
                codes.join(", ")
            }
        )
    } else if x.feats.is(F::GeoNewCountry) {
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
            pct(cx.num(F::GeoCountryShare))
        )
    };
    Line::new(Some(b), text).weighted(cx.w(x.risk.network))
}

/// `geo.new_city`, `geo.city`.
fn city(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let city = x.enr.geo.city.as_deref().unwrap_or("unknown").to_string();
    let b = named_list(
        x,
        NameTable::City,
        &mut x.acct.cities.ranked(x.today).map(|e| e.0),
    );
    Line::new(
        Some(format!("usual cities {b}")),
        format!("login from {city}"),
    )
    .weighted(cx.w(x.risk.network))
}

/// `asn.new`, `asn.number`, `asn.share`.
fn asn(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let asn = x.enr.geo.asn.map_or("unknown".into(), |a| format!("AS{a}"));
    let org = x.enr.geo.as_org.as_deref().unwrap_or("");
    let text = if !cx.login {
        format!("{} from network {asn} {org}", x.ev.kind.as_str())
            .trim_end()
            .to_string()
    } else if x.feats.is(F::AsnNew) {
        format!("first login from network {asn} {org}")
            .trim_end()
            .to_string()
    } else {
        format!(
            "network {asn} {org} ({} of logins)",
            pct(cx.num(F::AsnShare))
        )
    };
    Line::new(Some(asns(x)), text).weighted(cx.w(x.risk.network))
}

/// `asn.tenant_known`, `ip.tenant_known`.
fn tenant(cx: &Ctx<'_, '_>, v: Value<'_>) -> Line {
    Line::new(
        Some(format!(
            "{} accounts in the tenant",
            thousands(cx.num(F::TenantAccounts))
        )),
        if matches!(v, Value::Bool(true)) {
            "network shared by other accounts of the tenant".into()
        } else {
            "network not used by other accounts of the tenant".into()
        },
    )
}

/// `ip.new_prefix`.
fn prefix(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let n = x.acct.prefixes.ranked(x.today).count();
    Line::new(
        Some(plural(n, "known network", "known networks")),
        if x.feats.is(F::IpNewPrefix) {
            "address from a network (/24 or /64) the account never used".into()
        } else {
            "address from a known network".into()
        },
    )
    .weighted(cx.w(x.risk.network))
}

/// `device.*` but `device.bot` and `device.explicit_id`.
fn device(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
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
    let text = if x.feats.is(F::DeviceNew) {
        format!("never-seen device: {what}")
    } else {
        format!("device {what}")
    };
    Line::new(Some(b), text).weighted(cx.w(x.risk.device))
}

/// `travel.*`.
fn travel(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let (d, h, s) = (
        cx.num(F::TravelDistanceKm),
        cx.num(F::TravelHours),
        cx.num(F::TravelSpeedKmh),
    );
    let last = x.acct.last_login;
    let from = country_of_key(last.country as u32)
        .map(|c| c.as_str().to_string())
        .unwrap_or_else(|| "?".into());
    Line::new(
        Some(format!(
            "last trusted login {} from {from} AS{}",
            timefmt::rfc3339(last.ts_s as i64 * 1000),
            last.asn
        )),
        format!(
            "{} km in {:.1} h = {} km/h (from {from} to {})",
            thousands(d),
            h,
            thousands(s),
            cx.country
        ),
    )
}

/// `hour.*`.
fn hour(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    Line::new(
        Some(hours(x)),
        format!(
            "login at {:02}h local time; {} of the account's logins around this hour",
            cx.num(F::HourLocal) as u32,
            pct(cx.num(F::HourShare))
        ),
    )
    .weighted(cx.w(x.risk.hour))
}

/// `risk.score`: a login's, or for other events its session's login's.
fn risk_score(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let r = x.risk;
    if cx.login {
        Line::new(
            Some(format!(
                "ln S = {:.1} (network {:+.1}, device {:+.1}, hour {:+.1}), prior 1/1000; {} independent families of evidence",
                r.log_ratio, r.network, r.device, r.hour, cx.num(F::EvidenceFamilies)
            )),
            format!("risk {:.2}", x.risk_score),
        )
    } else {
        Line::new(
            None,
            format!(
                "the login that opened this session scored risk {:.2}",
                x.risk_score
            ),
        )
    }
}

/// `risk.network`, `risk.device`, `risk.hour`: one term of the score, `what` it is about.
fn risk_term(term: f64, what: &str, baseline: String) -> Line {
    Line::new(
        Some(baseline),
        format!(
            "{what} is {:.0}× more common elsewhere than for this account",
            term.exp()
        ),
    )
    .weighted(Some(round(term, 2)))
}

/// `session.records`, `session.exports`, `volume.*`, `access.count`, `access.action`.
fn volume(cx: &Ctx<'_, '_>) -> Line {
    let x = cx.x;
    let f = x.feats;
    let action = x.ev.action.map_or("access", |a| a.as_str());
    let usual = f.num_of(F::VolumeBaseline);
    let b = match usual {
        Some(u) => format!(
            "usual {} {action} records per session (p99 {}, {})",
            qty(u),
            qty(cx.num(F::VolumeP99)),
            plural(x.acct.volume.sessions as usize, "session", "sessions")
        ),
        None => "no finished session learned yet".into(),
    };
    let ratio = f.num_of(F::VolumeRatio).map_or(String::new(), |r| {
        format!("; {} {action} is {}× usual", x.ev.count, qty(r))
    });
    Line::new(
        Some(b),
        format!(
            "{} records in this session in {} min, {} exported or printed ({} records by the account in 10 min, {} exported in 1 h){ratio}",
            thousands(cx.num(F::SessionRecords)),
            thousands(cx.num(F::SessionAgeMin)),
            thousands(cx.num(F::SessionExports)),
            thousands(cx.num(F::VolumeRecords10m)),
            thousands(cx.num(F::VolumeExports1h)),
        ),
    )
}

/// `session.same_asn`, `session.known`.
fn session(cx: &Ctx<'_, '_>, name: &str, v: Value<'_>) -> Line {
    let x = cx.x;
    let from = x.enr.geo.asn.map_or("unknown".into(), |a| format!("AS{a}"));
    match x.session {
        Some(sess) => Line::new(
            Some(format!(
                "session opened {} from AS{}",
                timefmt::rfc3339(sess.start_s as i64 * 1000),
                sess.asn
            )),
            format!("this {} comes from {from}", x.ev.kind.as_str()),
        ),
        None => plain(name, v),
    }
}

/// `auth.*`.
fn auth(cx: &Ctx<'_, '_>) -> Line {
    let src =
        cx.x.ev
            .ip
            .map_or("unknown source".into(), |ip| ip.to_string());
    Line::new(
        None,
        format!(
            "{} failed logins on this account in 10 min ({} from {src}); {src}: {} failures on {} accounts in 10 min, {} accounts in 1 h",
            thousands(cx.num(F::AuthFailuresAccount10m)),
            thousands(cx.num(F::AuthFailuresAccountSource10m)),
            thousands(cx.num(F::AuthFailuresSource10m)),
            thousands(cx.num(F::AuthSourceAccounts10m)),
            thousands(cx.num(F::AuthSourceAccounts1h))
        ),
    )
}

/// The account's countries with their shares, and their codes.
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
