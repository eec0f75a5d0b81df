//! An account's baseline in human terms, for the API (`GET /v1/accounts/{account}`): countries,
//! cities, networks and devices with their shares, browsers and systems, the hour profile,
//! access volume, values held back and open sessions.
//!
//! The JSON is the API's contract. Its keys are in alphabetical order at every level (the
//! order it has always had), so the fields of these types are declared in that order.

use serde::Serialize;

use super::{NameTable, Store};
use crate::baseline::account::HOUR_BUCKETS;
use crate::baseline::topk::TopK;
use crate::baseline::{country_of_key, day_of, name_key64};
use crate::timefmt::DAY_MS;

/// One account's baseline, as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AccountView {
    /// The account name.
    pub account: String,
    /// Autonomous systems of trusted logins, most used first.
    pub asns: Vec<AsnShare>,
    /// Browser families.
    pub browsers: Vec<BrowserShare>,
    /// Cities.
    pub cities: Vec<CityShare>,
    /// Countries.
    pub countries: Vec<CountryShare>,
    /// Device fingerprints.
    pub devices: Vec<DeviceShare>,
    /// Day the account was first seen (`YYYY-MM-DD`).
    pub first_seen: String,
    /// Logins per local hour.
    pub hours: HoursView,
    /// The last trusted successful login, if any.
    pub last_login: Option<LastLoginView>,
    /// The account has fewer trusted logins than `detect.learning_logins`.
    pub learning: bool,
    /// Trusted successful logins learned.
    pub logins: u32,
    /// Networks (/24, /64) known.
    pub networks: usize,
    /// Sessions open now.
    pub open_sessions: usize,
    /// OS families.
    pub oses: Vec<OsShare>,
    /// Values held back from flagged logins.
    pub pending: Vec<PendingView>,
    /// IANA time zone of the account's hours.
    pub time_zone: String,
    /// Records per session, per action.
    pub volume: VolumeView,
}

/// A country and its share of the account's logins.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CountryShare {
    /// ISO code.
    pub country: Option<String>,
    /// Day last used (`YYYY-MM-DD`).
    pub last_seen: String,
    /// Share (0..1, three decimals).
    pub share: f64,
}

/// A city and its share of the account's logins.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CityShare {
    /// Name (or `#key` when the name was not kept).
    pub city: String,
    /// Day last used.
    pub last_seen: String,
    /// Share.
    pub share: f64,
}

/// An autonomous system and its share of the account's logins.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AsnShare {
    /// Organisation (or `#key`).
    pub as_org: String,
    /// Number.
    pub asn: u32,
    /// Day last used.
    pub last_seen: String,
    /// Share.
    pub share: f64,
}

/// A device fingerprint and its share of the account's logins.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeviceShare {
    /// Key, hex.
    pub device: String,
    /// Day last used.
    pub last_seen: String,
    /// Share.
    pub share: f64,
}

/// A browser family and its share of the account's logins.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BrowserShare {
    /// Family (or `#key`).
    pub browser: String,
    /// Share.
    pub share: f64,
}

/// An OS family and its share of the account's logins.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsShare {
    /// Family (or `#key`).
    pub os: String,
    /// Share.
    pub share: f64,
}

/// The last trusted successful login.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LastLoginView {
    /// Its ASN, when known.
    pub asn: Option<u32>,
    /// Its country, when known.
    pub country: Option<String>,
    /// When (RFC 3339).
    pub ts: String,
}

/// The hour profile: logins per local hour (decayed counts), weekdays and weekends.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HoursView {
    /// Hours 0..23 on weekdays.
    pub weekday: [u8; 24],
    /// Hours 0..23 on weekends.
    pub weekend: [u8; 24],
}

/// Access volume per session.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VolumeView {
    /// Per tracked action.
    pub by_action: ByAction,
    /// Finished sessions learned.
    pub sessions: u16,
}

/// Records per session, per tracked action.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ByAction {
    /// Exports.
    pub export: ActionVolume,
    /// Prints.
    pub print: ActionVolume,
    /// Reads.
    pub read: ActionVolume,
    /// Searches.
    pub search: ActionVolume,
}

/// Records of one action per session (one decimal; none before the first finished session).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ActionVolume {
    /// A high quantile (≈ p99).
    pub p99_per_session: Option<f64>,
    /// The usual.
    pub usual_per_session: Option<f64>,
}

/// A value held back from a flagged login.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PendingView {
    /// `device`, `prefix`, `asn`, `country` or `city`.
    pub kind: String,
    /// Day it was held back.
    pub since: String,
}

/// `YYYY-MM-DD` of a day number.
fn day(d: u16) -> String {
    crate::timefmt::rfc3339(d as i64 * DAY_MS)[..10].to_string()
}

/// A table's keys, most used first, each with its share (three decimals) and last day.
fn shares<const N: usize>(t: &TopK<N>, today: u16) -> impl Iterator<Item = (u32, f64, u16)> + '_ {
    let total = t.total(today);
    t.ranked(today).map(move |(k, c, d)| {
        let share = if total > 0.0 {
            ((c / total) * 1000.0).round() / 1000.0
        } else {
            0.0
        };
        (k, f64::from(share), d)
    })
}

impl Store {
    /// The account's baseline in human terms, `None` for an account never seen.
    /// `learning_logins` is the detector's threshold for `learning`.
    pub fn account_view(&self, account: &str, learning_logins: u32) -> Option<AccountView> {
        let key = name_key64(account);
        let a = self.accounts.get(&key).map(|r| **r)?;
        let today = day_of(a.last_login.ts_s as i64 * 1000).max(a.first_day);
        let name = |t: NameTable, k: u32| self.name(t, k).unwrap_or_else(|| format!("#{k:08x}"));
        let b = a.hours.buckets();
        let volume = |i: usize| ActionVolume {
            p99_per_session: a.volume.p99(i).map(|v| (v as f64 * 10.0).round() / 10.0),
            usual_per_session: a.volume.usual(i).map(|v| (v as f64 * 10.0).round() / 10.0),
        };
        let pending = self.pending.get(&key).map(|set| *set).unwrap_or_default();
        let open_sessions = self
            .sessions
            .get(&key)
            .map_or(0, |s| s.slots.iter().filter(|s| s.key != 0).count());
        Some(AccountView {
            account: account.to_string(),
            asns: shares(&a.asns, today)
                .map(|(k, share, d)| AsnShare {
                    as_org: name(NameTable::AsOrg, k),
                    asn: k,
                    last_seen: day(d),
                    share,
                })
                .collect(),
            browsers: shares(&a.browsers, today)
                .map(|(k, share, _)| BrowserShare {
                    browser: name(NameTable::Browser, k),
                    share,
                })
                .collect(),
            cities: shares(&a.cities, today)
                .map(|(k, share, d)| CityShare {
                    city: name(NameTable::City, k),
                    last_seen: day(d),
                    share,
                })
                .collect(),
            countries: shares(&a.countries, today)
                .map(|(k, share, d)| CountryShare {
                    country: country_of_key(k).map(|c| c.as_str().to_string()),
                    last_seen: day(d),
                    share,
                })
                .collect(),
            devices: shares(&a.devices, today)
                .map(|(k, share, d)| DeviceShare {
                    device: format!("{k:08x}"),
                    last_seen: day(d),
                    share,
                })
                .collect(),
            first_seen: day(a.first_day),
            hours: HoursView {
                weekday: b[..24].try_into().unwrap_or_default(),
                weekend: b[24..HOUR_BUCKETS].try_into().unwrap_or_default(),
            },
            last_login: (a.last_login.ts_s > 0).then(|| LastLoginView {
                asn: (a.last_login.asn != 0).then_some(a.last_login.asn),
                country: country_of_key(a.last_login.country as u32)
                    .map(|c| c.as_str().to_string()),
                ts: crate::timefmt::rfc3339(a.last_login.ts_s as i64 * 1000),
            }),
            learning: a.learning(learning_logins),
            logins: a.logins,
            networks: a.prefixes.ranked(today).count(),
            open_sessions,
            oses: shares(&a.oses, today)
                .map(|(k, share, _)| OsShare {
                    os: name(NameTable::Os, k),
                    share,
                })
                .collect(),
            pending: pending
                .iter()
                .map(|p| PendingView {
                    kind: format!("{:?}", p.kind).to_lowercase(),
                    since: day(p.day),
                })
                .collect(),
            time_zone: self.zones.name(a.tz),
            volume: VolumeView {
                by_action: ByAction {
                    export: volume(2),
                    print: volume(3),
                    read: volume(0),
                    search: volume(1),
                },
                sessions: a.volume.sessions,
            },
        })
    }
}
