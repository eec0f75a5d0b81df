//! Computing every catalog feature of one event from the state as it was before it, one
//! function per feature family (the catalog's headings). The detector reads the state from
//! the store ([`Before`]); these functions only compute, and allocate nothing.

use super::{EventFeatures, F};
use crate::baseline::account::{tracked, VolumeWindows};
use crate::baseline::store::{Counters, Keys};
use crate::baseline::{
    distance_km, AccountBaseline, LoginFamilies, OpenSession, SessionSet, SESSION_LIVE_S, TAU_10M,
    TAU_1H,
};
use crate::detect::risk::RiskScore;
use crate::detect::rules::{List, Lists};
use crate::detect::value::Value;
use crate::enrich::{DeviceType, Enriched};
use crate::event::{canonical_ip, Event, EventKind, Outcome};
use std::sync::Arc;

/// Distance from which two live sessions are "distant".
const DISTANT_KM: f64 = 500.0;

/// What the detector knew before an event, in the terms features are computed from. The
/// baseline and sessions are read in place, through the store's guards.
pub(crate) struct Before<'b> {
    /// The account's baseline (empty for a new account).
    pub acct: &'b AccountBaseline,
    /// The account had a baseline.
    pub existing: bool,
    /// The account's open sessions.
    pub sessions: &'b SessionSet,
    /// The account is still learning.
    pub learning: bool,
    /// Hour of the week in the account's time zone.
    pub how: u8,
    /// Its hour-profile bucket.
    pub bucket: usize,
    /// A login or second-factor step: scored for risk.
    pub is_auth: bool,
    /// The login risk (zero for other events).
    pub risk: RiskScore,
    /// Population share of the event's country.
    pub pop_country: Option<f64>,
    /// Population share of the event's ASN.
    pub pop_asn: Option<f64>,
    /// Failure counters and tenant knowledge.
    pub counters: Counters,
}

/// The named lists (`rules/lists/`) that decide what a network *is*, looked up once when the
/// rules load: evidence families need them, rules name them too. A list the directory does not
/// have is empty.
#[derive(Clone, Debug, Default)]
pub struct NetworkLists {
    mobile: Option<Arc<List>>,
    relay: Option<Arc<List>>,
    vpn: Option<Arc<List>>,
    tenant: Option<Arc<List>>,
}

impl NetworkLists {
    /// `mobile_asns`, `relay_asns`, `vpn_asns` and `tenant_networks` of a rule set.
    pub fn of(lists: &Lists) -> NetworkLists {
        NetworkLists {
            mobile: lists.get("mobile_asns").cloned(),
            relay: lists.get("relay_asns").cloned(),
            vpn: lists.get("vpn_asns").cloned(),
            tenant: lists.get("tenant_networks").cloned(),
        }
    }
}

fn in_list(list: &Option<Arc<List>>, v: Value<'_>) -> bool {
    list.as_ref().is_some_and(|l| l.contains(v))
}

/// Values computed along with the features that explanation and learning need too.
pub(crate) struct Derived {
    /// The event's open session before it.
    pub this_session: Option<OpenSession>,
    /// The risk reported on alerts and learned with the session.
    pub risk_score: f64,
    /// The account's access windows with this event counted.
    pub windows: VolumeWindows,
    /// A successful login's families of evidence (bits of [`LoginFamilies`]), kept with its
    /// session; 0 for other events.
    pub families: u8,
    /// In a session, from a network its login did not come from and nothing explains (see
    /// [`interleaving`]): the session remembers it.
    pub away_network: bool,
}

/// Computes every catalog feature of one event.
pub(crate) fn compute<'e>(
    ev: &'e Event<'_>,
    enr: &'e Enriched,
    k: &Keys,
    b: &Before<'_>,
    lists: &NetworkLists,
) -> (EventFeatures<'e>, Derived) {
    let mut f = EventFeatures::default();
    event(&mut f, ev, k, b);
    account(&mut f, ev, k, b);
    device(&mut f, enr, k, b.acct);
    network(&mut f, ev, enr, k, b);
    geo(&mut f, enr, k, b.acct);
    travel(&mut f, k, b.acct);
    hour(&mut f, b);
    let (this_session, risk_score) = session(&mut f, ev, k, b);
    let windows = volume(&mut f, ev, k, b, this_session, lists);
    auth_failures(&mut f, k, &b.counters);
    tenant_population(&mut f, b);
    let families = evidence(&mut f, lists);
    let away_network = interleaving(&mut f, ev, k, this_session, lists);
    // The risk a login reports, stores with its session and shows in alerts is one number: the
    // likelihood-ratio posterior, raised to what its corroborated evidence says when that is more.
    let risk_score = match f.num_of(F::EvidenceFamilies) {
        Some(n) if b.is_auth => {
            let p = risk_score.max(crate::detect::risk::corroborated(n));
            f.num(F::RiskScore, p);
            p
        }
        _ => risk_score,
    };
    (
        f,
        Derived {
            this_session,
            risk_score,
            windows,
            families,
            away_network,
        },
    )
}

/// `login.*`, `mfa.*`, `access*`, `event.type`.
fn event<'e>(f: &mut EventFeatures<'e>, ev: &'e Event<'_>, k: &Keys, b: &Before<'_>) {
    let success = |o| ev.outcome == Some(o);
    f.bool(
        F::LoginSuccess,
        ev.kind == EventKind::Login && success(Outcome::Success),
    );
    f.bool(
        F::LoginFailure,
        ev.kind == EventKind::Login && success(Outcome::Failure),
    );
    f.bool(
        F::MfaSuccess,
        ev.kind == EventKind::Mfa && success(Outcome::Success),
    );
    f.bool(
        F::MfaFailure,
        ev.kind == EventKind::Mfa && success(Outcome::Failure),
    );
    f.bool(F::Access, ev.kind == EventKind::Access);
    f.str(F::EventType, ev.kind.as_str());
    if ev.kind == EventKind::Access {
        if let Some(a) = ev.action {
            f.str(F::AccessAction, a.as_str());
        }
        f.num(F::AccessCount, ev.count as f64);
    }
    if ev.is_login_success() {
        let first_try = b
            .counters
            .account_failures
            .is_none_or(|fc| k.now_s.saturating_sub(fc.last_s) > 30 * 60);
        f.bool(F::LoginFirstTry, first_try);
    } else {
        f.bool(F::LoginFirstTry, false);
    }
}

/// `account*`, `tenant`.
fn account<'e>(f: &mut EventFeatures<'e>, ev: &'e Event<'_>, k: &Keys, b: &Before<'_>) {
    let acct = b.acct;
    f.str(F::Account, &ev.account);
    f.str(F::AccountKind, ev.account_kind.as_str());
    if let Some(t) = &ev.tenant {
        f.str(F::Tenant, t);
    }
    f.num(F::AccountLogins, acct.logins as f64);
    f.bool(F::AccountLearning, b.learning);
    if acct.last_login.ts_s > 0 {
        f.num(
            F::AccountDaysSinceLastLogin,
            k.now_s.saturating_sub(acct.last_login.ts_s) as f64 / 86_400.0,
        );
    }
    f.num(
        F::AccountAgeDays,
        if b.existing {
            k.today.saturating_sub(acct.first_day) as f64
        } else {
            0.0
        },
    );
}

/// `device.*`.
fn device<'e>(f: &mut EventFeatures<'e>, enr: &'e Enriched, k: &Keys, acct: &AccountBaseline) {
    let d = &enr.device;
    let has_device = d.fingerprint != 0;
    f.bool(
        F::DeviceNew,
        has_device && !k.device.is_some_and(|x| acct.devices.contains(x)),
    );
    f.bool(F::DeviceBrowserNew, !acct.browsers.contains(k.browser));
    f.bool(F::DeviceOsNew, !acct.oses.contains(k.os));
    f.str(F::DeviceType, d.kind.as_str());
    f.bool(F::DeviceBot, d.kind == DeviceType::Bot);
    f.bool(F::DeviceExplicitId, d.explicit_id);
    f.str(F::DeviceBrowser, &d.browser);
    f.str(F::DeviceOs, &d.os);
}

/// `ip*`, `asn.*`.
fn network<'e>(
    f: &mut EventFeatures<'e>,
    ev: &'e Event<'_>,
    enr: &'e Enriched,
    k: &Keys,
    b: &Before<'_>,
) {
    let acct = b.acct;
    if let Some(ip) = ev.ip {
        f.set(F::Ip, Value::Ip(canonical_ip(ip)));
    }
    f.str(F::IpClass, enr.geo.class.as_str());
    f.bool(
        F::IpNewPrefix,
        k.prefix.is_some_and(|p| !acct.prefixes.contains(p)),
    );
    f.bool(F::IpTenantKnown, b.counters.tenant.net_known);
    if let Some(a) = k.asn {
        f.num(F::AsnNumber, a as f64);
        f.bool(F::AsnNew, !acct.asns.contains(a));
        f.num(F::AsnShare, acct.asns.share(a, k.today) as f64);
    } else {
        f.bool(F::AsnNew, false);
    }
    f.bool(F::AsnTenantKnown, b.counters.tenant.asn_known);
}

/// `geo.*`.
fn geo<'e>(f: &mut EventFeatures<'e>, enr: &'e Enriched, k: &Keys, acct: &AccountBaseline) {
    f.bool(F::GeoKnown, enr.geo.country.is_some());
    if let Some(c) = &enr.geo.country {
        f.str(F::GeoCountry, c.as_str());
    }
    if let Some(city) = enr.geo.city.as_deref() {
        f.str(F::GeoCity, city);
    }
    f.bool(
        F::GeoNewCountry,
        k.country.is_some_and(|c| !acct.countries.contains(c)),
    );
    f.bool(
        F::GeoNewCity,
        k.city.is_some_and(|c| !acct.cities.contains(c)),
    );
    if let Some(c) = k.country {
        f.num(F::GeoCountryShare, acct.countries.share(c, k.today) as f64);
    }
    if let (Some(p), true) = (k.place, acct.has_home) {
        f.num(F::GeoDistanceKm, distance_km(p, acct.home));
    }
}

/// `travel.*`: from the last trusted login.
fn travel(f: &mut EventFeatures<'_>, k: &Keys, acct: &AccountBaseline) {
    let last = acct.last_login;
    if let (Some(p), true, true) = (k.place, last.has_geo, last.ts_s > 0) {
        let dist = distance_km(p, (last.lat, last.lon));
        let hours = k.now_s.saturating_sub(last.ts_s) as f64 / 3600.0;
        f.num(F::TravelDistanceKm, dist);
        f.num(F::TravelHours, hours);
        f.num(F::TravelSpeedKmh, dist / hours.max(1.0 / 60.0));
        f.bool(F::TravelSameAsn, last.asn != 0 && k.asn == Some(last.asn));
    }
}

/// `hour.*`.
fn hour(f: &mut EventFeatures<'_>, b: &Before<'_>) {
    let local_hour = (b.how % 24) as f64;
    let hour_share = b.acct.hours.share(b.bucket) as f64;
    f.num(F::HourLocal, local_hour);
    f.bool(F::HourWeekend, b.how >= 5 * 24);
    f.num(F::HourShare, hour_share);
    f.bool(
        F::HourRare,
        !b.learning && b.acct.hours.total() >= 10.0 && hour_share < 0.01,
    );
}

/// `risk.*` and `session.*`; returns the event's session before it and the risk to report.
fn session(
    f: &mut EventFeatures<'_>,
    ev: &Event<'_>,
    k: &Keys,
    b: &Before<'_>,
) -> (Option<OpenSession>, f64) {
    let this_session = k.session.and_then(|s| b.sessions.get(s)).copied();
    let track = ev.action.and_then(tracked);
    let risk = b.risk;
    let risk_score = if b.is_auth {
        risk.score
    } else {
        this_session.map_or(0.0, |s| s.risk())
    };
    if b.is_auth {
        f.num(F::RiskScore, risk.score);
        f.num(F::RiskNetwork, risk.network);
        f.num(F::RiskDevice, risk.device);
        f.num(F::RiskHour, risk.hour);
    } else if let Some(s) = this_session {
        f.num(F::RiskScore, s.risk());
    }
    f.bool(F::SessionKnown, this_session.is_some());
    let added = if ev.kind == EventKind::Access && track.is_some() {
        ev.count
    } else {
        0
    };
    if let Some(s) = this_session {
        f.num(F::SessionRisk, s.risk());
        f.num(
            F::SessionFamilies,
            s.login_families().count_for_session() as f64,
        );
        f.bool(F::SessionNewNetwork, s.login_families().new_network());
        f.num(
            F::SessionAgeMin,
            k.now_s.saturating_sub(s.start_s) as f64 / 60.0,
        );
        f.num(F::SessionRecords, s.records().saturating_add(added) as f64);
        let exp = matches!(track, Some(2 | 3)) as u32 * ev.count;
        f.num(F::SessionExports, s.exports().saturating_add(exp) as f64);
        if ev.kind == EventKind::Access {
            let same_asn = s.asn != 0 && k.asn == Some(s.asn);
            if let (Some(p), Some(sp)) = (k.place, s.place()) {
                let km = distance_km(p, sp);
                f.num(F::SessionIpChangedKm, km);
                // Judged at the event that leaves the previous event's network: later events
                // from the new network are one place, not a journey made again each minute.
                let switched = s.last_asn == 0 || k.asn != Some(s.last_asn);
                if !same_asn && switched {
                    // Over the time since the session's previous event, floored at a minute
                    // (as `travel.speed_kmh`): the owner was using it there a moment ago.
                    let hours = k.now_s.saturating_sub(s.last_s) as f64 / 3600.0;
                    f.num(F::SessionSwitchSpeedKmh, km / hours.max(1.0 / 60.0));
                }
            }
            f.bool(F::SessionSameAsn, same_asn);
        }
    } else if ev.kind == EventKind::Access {
        // An access in a session whose login was not seen: it is its own session so far.
        f.num(F::SessionRecords, added as f64);
        f.num(
            F::SessionExports,
            matches!(track, Some(2 | 3)) as u32 as f64 * ev.count as f64,
        );
        f.num(F::SessionAgeMin, 0.0);
    }
    concurrent_sessions(f, ev, k, b.sessions);
    (this_session, risk_score)
}

/// `session.concurrent_*`, and `session.same_asn` for events other than accesses: the other
/// sessions of the account alive in the last 30 minutes.
fn concurrent_sessions(f: &mut EventFeatures<'_>, ev: &Event<'_>, k: &Keys, sessions: &SessionSet) {
    let Some(p) = k.place else { return };
    let mut far = 0.0f64;
    let mut all_same_asn = true;
    for s in sessions.slots.iter() {
        if s.key == 0
            || Some(s.key) == k.session
            || k.now_s.saturating_sub(s.last_s) > SESSION_LIVE_S
        {
            continue;
        }
        if let Some(sp) = s.place() {
            far = far.max(distance_km(p, sp));
        }
        all_same_asn &= s.asn != 0 && k.asn == Some(s.asn);
    }
    if ev.kind != EventKind::Access {
        f.bool(F::SessionSameAsn, far > 0.0 && all_same_asn);
    }
    f.num(F::SessionConcurrentDistanceKm, far);
    f.bool(F::SessionConcurrentDistant, far >= DISTANT_KM);
}

/// A network carrying under this share of the account's trusted logins is not one of the
/// owner's places: a doctor's workplace and home each carry far more (a day a week at home is
/// a fifth of the logins), a trip or a relative's house less.
const UNUSUAL_NETWORK_SHARE: f64 = 0.2;
/// Records exported or printed in a day through such a network before the day counts: more
/// than a day's referrals and letters (a patient file is one record, a referral a handful).
const UNUSUAL_EXPORT_DAILY_FLOOR: u16 = 10;
/// How long an identity provider's word that the password leaked counts without a password
/// change: a quarter, as long as an account's silence takes to make it dormant. Stolen
/// credentials are used within days of their sale; a leak older than that the owner has been
/// told about and acted on, or the operator has.
const LEAK_MEMORY_S: u32 = 90 * 86_400;
/// The window `volume.unusual_export_days` counts days in: a week, the rhythm of work.
const UNUSUAL_EXPORT_WINDOW_DAYS: u16 = 7;

/// `volume.*`; returns the account's access windows with this event counted.
fn volume(
    f: &mut EventFeatures<'_>,
    ev: &Event<'_>,
    k: &Keys,
    b: &Before<'_>,
    this_session: Option<OpenSession>,
    lists: &NetworkLists,
) -> VolumeWindows {
    let (now_s, acct) = (k.now_s, b.acct);
    let mut windows = acct.windows;
    if ev.kind == EventKind::Access {
        if let Some(t) = ev.action.and_then(tracked) {
            windows.records_10m.add(ev.count as f32, now_s, TAU_10M);
            if t >= 2 {
                windows.exports_1h.add(ev.count as f32, now_s, TAU_1H);
                // Only an export through such a network counts, and is judged: the owner's
                // own exports from the usual place say nothing of someone else's.
                let days = if !b.learning && unusual_network(f, k, acct, lists) {
                    let days = &mut windows.extra.unusual_exports;
                    days.add(k.today, ev.count, UNUSUAL_EXPORT_DAILY_FLOOR);
                    days.days_within(k.today, UNUSUAL_EXPORT_WINDOW_DAYS)
                } else {
                    0
                };
                f.num(F::VolumeUnusualExportDays, days as f64);
            }
            let usual = acct.volume.usual(t);
            let so_far = this_session
                .map_or(0, |s| s.totals[t])
                .saturating_add(ev.count);
            f.num(
                F::VolumeRatio,
                so_far as f64 / usual.unwrap_or(0.0).max(1.0) as f64,
            );
            f.opt_num(F::VolumeBaseline, usual.map(|u| u as f64));
            f.opt_num(F::VolumeP99, acct.volume.p99(t).map(|u| u as f64));
            f.opt_num(F::VolumeRecordsP99, acct.volume.p99_all().map(|u| u as f64));
            f.num(F::VolumeSessions, acct.volume.sessions as f64);
        }
    }
    // A changed password is no longer the leaked one.
    if ev.kind == EventKind::PasswordChange && ev.outcome != Some(Outcome::Failure) {
        windows.extra.leaked_s = 0;
    }
    let leaked = windows.extra.leaked_s;
    f.bool(
        F::AccountCredentialLeaked,
        leaked != 0 && now_s.saturating_sub(leaked) <= LEAK_MEMORY_S,
    );
    if ev.kind == EventKind::Mfa {
        if ev.outcome == Some(Outcome::Failure) {
            windows.extra.mfa_failures.add(1.0, now_s, TAU_10M);
        }
        f.num(
            F::MfaFailures10m,
            windows.extra.mfa_failures.at(now_s, TAU_10M).round() as f64,
        );
    }
    f.num(
        F::VolumeRecords10m,
        windows.records_10m.at(now_s, TAU_10M) as f64,
    );
    f.num(
        F::VolumeExports1h,
        windows.exports_1h.at(now_s, TAU_1H) as f64,
    );
    windows
}

/// The event's network carries under [`UNUSUAL_NETWORK_SHARE`] of the account's trusted
/// logins: its ASN (`asn.share`), or its /24 or /64 when that is a fixed line's. A residential
/// proxy often sits in the victim's own ISP, whose ASN the account uses every day from home
/// (most carriers route their fixed lines through their mobile ASN too): the /24 then tells
/// the owner's line from the stranger's. A relay's /24 rotates with every connection, and a
/// tenant's NAT is the practice's, so only their ASN is read. A phone's carrier /24 rotates
/// too, but records are exported and printed from desks, not phones.
fn unusual_network(
    f: &EventFeatures<'_>,
    k: &Keys,
    acct: &AccountBaseline,
    lists: &NetworkLists,
) -> bool {
    let rare = |share: f64| share < UNUSUAL_NETWORK_SHARE;
    if f.num_of(F::AsnShare).is_some_and(rare) {
        return true;
    }
    let rotating = in_list(&lists.relay, f.get(F::AsnNumber)) || tenant_address(f, lists);
    match k.prefix {
        Some(p) if !rotating => rare(acct.prefixes.share(p, k.today) as f64),
        _ => false,
    }
}

/// How long after a session's event from another network its login's network coming back
/// means the two were in use together: half an hour covers a doctor's consultation gap between
/// two clicks, and is far shorter than any journey from one network to another and back.
const INTERLEAVE_S: u32 = 30 * 60;

/// `session.interleaved`, `session.other_asn`; returns whether this event comes from a network
/// the session should remember as "elsewhere": another ASN than its login's, new to the
/// account (ASN and /24 or /64), and not one an honest session moves through — a privacy relay
/// or a commercial VPN switched on and off, the tenant's own networks (a multi-homed
/// hospital's second ISP), or a mobile carrier when the session was opened on a phone or tablet
/// (Wi-Fi to cellular and back).
fn interleaving(
    f: &mut EventFeatures<'_>,
    ev: &Event<'_>,
    k: &Keys,
    s: Option<OpenSession>,
    lists: &NetworkLists,
) -> bool {
    let (Some(s), Some(asn)) = (s, k.asn) else {
        return false;
    };
    if !matches!(ev.kind, EventKind::Access | EventKind::Mfa) || s.asn == 0 {
        return false;
    }
    if asn == s.asn {
        let back = s.away_asn != 0 && k.now_s.saturating_sub(s.away_s) <= INTERLEAVE_S;
        f.bool(F::SessionInterleaved, back);
        if back {
            f.num(F::SessionOtherAsn, s.away_asn as f64);
        }
        return false;
    }
    f.bool(F::SessionInterleaved, false);
    let a = f.get(F::AsnNumber);
    let explained = in_list(&lists.relay, a)
        || in_list(&lists.vpn, a)
        || (s.handheld && in_list(&lists.mobile, a))
        || tenant_address(f, lists);
    f.is(F::AsnNew) && f.is(F::IpNewPrefix) && !explained
}

/// The address is the tenant's own: a network its accounts share (its NAT) or one declared in
/// `list.tenant_networks`.
fn tenant_address(f: &EventFeatures<'_>, lists: &NetworkLists) -> bool {
    f.is(F::IpTenantKnown) || in_list(&lists.tenant, f.get(F::Ip))
}

/// `auth.*`: failed logins on the account, from the source, and the pair.
fn auth_failures(f: &mut EventFeatures<'_>, k: &Keys, c: &Counters) {
    let now_s = k.now_s;
    f.num(
        F::AuthFailuresAccount10m,
        c.account_failures
            .map_or(0.0, |fc| fc.recent.at(now_s, TAU_10M) as f64),
    );
    if k.source.is_some() {
        f.num(
            F::AuthFailuresAccountSource10m,
            c.pair_failures
                .map_or(0.0, |p| p.recent.at(now_s, TAU_10M) as f64),
        );
        let sf = c.source_failures;
        f.num(
            F::AuthFailuresSource10m,
            sf.map_or(0.0, |s| s.recent.at(now_s, TAU_10M) as f64),
        );
        f.num(
            F::AuthSourceAccounts10m,
            sf.map_or(0, |s| s.accounts_10m) as f64,
        );
        f.num(
            F::AuthSourceAccounts1h,
            sf.map_or(0, |s| s.accounts_1h) as f64,
        );
    }
}

/// `tenant.accounts`, `population.*`.
fn tenant_population(f: &mut EventFeatures<'_>, b: &Before<'_>) {
    f.num(F::TenantAccounts, b.counters.tenant.accounts as f64);
    if f.is(F::LoginSuccess) {
        f.num(F::TenantWatchedDays, b.counters.tenant.watched_days as f64);
    }
    f.opt_num(F::PopulationCountryShare, b.pop_country);
    f.opt_num(F::PopulationAsnShare, b.pop_asn);
}

/// Failed logins from one source on this many accounts in the hour: a stuffing source (Elastic's
/// password-spray rule starts at 5 users; a success usually arrives before the 5th).
const STUFFING_SOURCE_ACCOUNTS: f64 = 3.0;
/// Failures on the account in 10 minutes that make a success a guess rather than a memory
/// (half Auth0's brute-force threshold of 10: the success ends the run early).
const GUESSING_FAILURES: f64 = 5.0;

/// An account silent this long that comes back is dormant (the `account.dormant_reactivated`
/// rule's 90 days: a quarter without one login is no holiday or sick leave).
const DORMANT_DAYS: f64 = 90.0;
/// A tenant whose staff are known: this many accounts seen logging in (a small practice has a
/// handful of doctors and secretaries; ten is past them)...
const WATCHED_TENANT_ACCOUNTS: f64 = 10.0;
/// ...over at least two weeks (every rota, part-timer and weekly session has come round).
const WATCHED_TENANT_DAYS: f64 = 14.0;

/// `evidence.*`: which independent families of evidence say "not the owner" for a successful
/// login. Each family is one question an analyst asks; the count is what revocation needs (two
/// independent ones), so a trip, a new phone or a night shift alone never cuts a session.
/// Returns the families as bits of [`LoginFamilies`] for the session, with the dormant return,
/// which counts only together with what the session then does (`session.families`).
fn evidence(f: &mut EventFeatures<'_>, lists: &NetworkLists) -> u8 {
    if !f.is(F::LoginSuccess) {
        return 0;
    }
    let ge = |x: F, t: f64| f.num_of(x).is_some_and(|v| v >= t);
    let asn = f.get(F::AsnNumber);
    // Novelty is evidence only against a history: a learning account's every value is new.
    let history = !f.is(F::AccountLearning);
    // Failures on several accounts from one source are a stuffing run when the source is a
    // stranger's: not the tenant's own NAT (colleagues mistyping at the start of a shift) nor
    // a network the account itself uses. Without a history that cannot be told, and the
    // stuffing rules judge the source on their own.
    let own_nat = tenant_address(f, lists);
    let stuffed = ge(F::AuthSourceAccounts1h, STUFFING_SOURCE_ACCOUNTS)
        && history
        && f.is(F::IpNewPrefix)
        && !own_nat;
    let credential = stuffed
        || ge(F::AuthFailuresAccount10m, GUESSING_FAILURES)
        || f.is(F::AccountCredentialLeaked);
    // A carrier's ASN is "could be a phone" for a phone or tablet (CGNAT pools rotate and
    // geolocate anywhere). Most carriers route their fixed broadband through the same ASN, and
    // a desktop browser there is a home line: new to the account, it is a new network.
    let handheld = matches!(f.get(F::DeviceType), Value::Str("mobile" | "tablet"));
    // A colleague's use of the same big ISP (`asn.tenant_known`) says nothing of this address's
    // /24, so it makes the network shared, not the address.
    let shared_prefix =
        (handheld && in_list(&lists.mobile, asn)) || in_list(&lists.relay, asn) || own_nat;
    let shared = shared_prefix || f.is(F::AsnTenantKnown);
    let network = history && f.is(F::AsnNew) && f.is(F::IpNewPrefix) && !shared;
    // A never-seen device id with the usual browser and OS families is the owner's other
    // computer, a cleared cookie or a reinstalled browser as often as a stranger's: only a
    // browser or OS family the account never used is a device the owner does not have.
    // A phone or tablet first used for the service is the owner's own phone more often than
    // not (away from the desk: on call, on holiday): a new handheld is no device family.
    let device = history
        && !handheld
        && f.is(F::DeviceNew)
        && (f.is(F::DeviceBrowserNew) || f.is(F::DeviceOsNew));
    let hour = f.is(F::HourRare);
    let families = [credential, network, device, hour]
        .iter()
        .filter(|&&x| x)
        .count();
    // Dormant, seen from either side of the memory horizon: back after a quarter of silence,
    // or never trusted before in a tenant whose staff have been watched for weeks (a departed
    // locum's account the store never saw). A new colleague looks the same at login; their
    // first day is reading, not exporting, so this counts only with what the session takes.
    let unknown_in_watched_tenant = f.num_of(F::AccountLogins) == Some(0.0)
        && ge(F::TenantAccounts, WATCHED_TENANT_ACCOUNTS)
        && ge(F::TenantWatchedDays, WATCHED_TENANT_DAYS)
        && !shared;
    let dormant = ge(F::AccountDaysSinceLastLogin, DORMANT_DAYS) || unknown_in_watched_tenant;
    let new_network = history && f.is(F::IpNewPrefix) && !shared_prefix;
    f.num(F::EvidenceFamilies, families as f64);
    f.bool(F::EvidenceNetwork, network);
    f.bool(F::EvidenceDevice, device);
    f.bool(F::EvidenceDormant, dormant);
    [
        (credential, LoginFamilies::CREDENTIAL),
        (network, LoginFamilies::NETWORK),
        (device, LoginFamilies::DEVICE),
        (hour, LoginFamilies::HOUR),
        (dormant, LoginFamilies::DORMANT),
        (new_network, LoginFamilies::NEW_NETWORK),
    ]
    .iter()
    .fold(
        0,
        |bits, &(holds, bit)| if holds { bits | bit } else { bits },
    )
}
