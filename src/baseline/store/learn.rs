//! Learning from one event, after detection, knowing what it raised.
//!
//! # What is learned, and what is not
//!
//! Detection reads the state as it was *before* the event; learning happens after, knowing which
//! alerts fired. A successful login that raised an active high or critical alert is not learned:
//! its device, network, ASN, country and city are held back ("pending") and promoted only when
//! seen again on a later day in a login that raised nothing, or at once by a `false_positive`
//! verdict ([`super::feedback`]). Its place does not become the reference for travel, its hour
//! is not added to the profile, and the volume of its session is never folded into the
//! account's usual volume. So an attacker cannot teach the baseline with one login, and a
//! doctor's genuinely new laptop is learned by the next day. `confirmed_compromise` purges the
//! alert's values from the account's tables and pending values.
//!
//! Order of locks (see the store's lock order): `sessions` is released before `accounts` is
//! taken; `pending` is taken while `accounts` is held; `tenants` and `population` after both.

use super::{Keys, NameTable, Store};
use crate::baseline::account::{tracked, LastLogin, VolumeWindows};
use crate::baseline::{
    to_cdeg, AccountBaseline, OpenSession, PendingKind, SessionSet, TenantState, SESSION_SLOTS,
};
use crate::enrich::{DeviceType, Enriched};
use crate::event::{Event, EventKind};

/// A session whose login scored at least this is never learned from.
pub(crate) const RISKY_SESSION: f64 = 0.5;

/// What detection concluded about one event, for [`Store::learn`].
pub struct Learning<'a> {
    /// The event.
    pub ev: &'a Event<'a>,
    /// Its enrichment.
    pub enr: &'a Enriched,
    /// Its keys and times.
    pub keys: &'a Keys,
    /// Its hour-of-week bucket in the account's time zone.
    pub hour_bucket: usize,
    /// Its risk: the login's, or its session's login's for other events.
    pub risk: f64,
    /// A login's families of evidence (bits of `LoginFamilies`), kept with its session.
    pub families: u8,
    /// It raised an active high or critical alert: nothing of it is trusted.
    pub flagged: bool,
    /// In a session, it came from a network other than the session's login's that no relay,
    /// VPN, tenant network or (for a handheld) carrier explains: the session remembers it.
    pub away_network: bool,
    /// The account had no baseline before it.
    pub new_account: bool,
    /// The account's access windows with this event counted (see the `volume.*` features).
    pub windows: VolumeWindows,
}

/// Sessions an event finished (closed, expired or pushed out of their slot), whose volume may
/// be learned. At most every slot plus the one the event opened.
#[derive(Default)]
struct Finished {
    list: [Option<OpenSession>; SESSION_SLOTS + 1],
    n: usize,
}

impl Finished {
    fn push(&mut self, s: OpenSession) {
        if self.n < self.list.len() {
            self.list[self.n] = Some(s);
            self.n += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &OpenSession> {
        self.list.iter().take(self.n).flatten()
    }
}

/// The values of a login that are learned, or held back, per table.
fn held_values(k: &Keys) -> [(PendingKind, Option<u32>); 5] {
    [
        (PendingKind::Country, k.country),
        (PendingKind::City, k.city),
        (PendingKind::Asn, k.asn),
        (PendingKind::Prefix, k.prefix),
        (PendingKind::Device, k.device),
    ]
}

impl Store {
    /// Updates the state with one event: its session, the account's volume and, for a
    /// trusted login, the account's tables, hours and last place, the tenant's networks and
    /// the population. A flagged login's values are held back instead (see the module docs).
    pub fn learn(&self, l: &Learning<'_>) {
        let (ev, k) = (l.ev, l.keys);
        // Sessions first (their map lock is released before the account's is taken).
        let finished = self.learn_sessions(l);

        let login_ok = ev.is_login_success();
        let windowed = matches!(
            ev.kind,
            EventKind::Access | EventKind::Mfa | EventKind::PasswordChange
        );
        if !login_ok && finished.n == 0 && !windowed {
            return;
        }
        if !login_ok && ev.kind != EventKind::Access && !self.accounts.contains_key(&k.account) {
            return;
        }
        let trusted = login_ok && !l.flagged;
        let tz_idx = if trusted {
            l.enr.geo.tz.as_deref().map(|tz| self.zones.intern(tz))
        } else {
            None
        };
        if trusted {
            self.remember_names(k, l.enr);
        }

        if l.new_account && self.accounts.len() >= self.max_accounts.max(1) {
            self.evict_for_budget();
        }
        let mut a = self.accounts.entry(k.account).or_default();
        if l.new_account && a.first_day == 0 {
            a.first_day = k.today;
        }
        for s in finished.iter() {
            if !s.flagged && s.risk() < RISKY_SESSION && s.records() > 0 {
                a.volume.fold(s.totals);
            }
        }
        if windowed {
            a.windows = l.windows;
        }
        if !login_ok {
            return;
        }
        if l.flagged {
            self.hold_back(&a, k);
            return;
        }
        self.learn_values(&mut a, k);
        learn_login(&mut a, l, tz_idx);
        drop(a);

        if let Some(t) = k.tenant {
            self.learn_tenant(t, k);
        }
        self.population.write().add_login(
            k.country,
            k.asn,
            k.prefix,
            l.enr.device.fingerprint,
            k.browser,
            k.os,
            l.enr.device.kind,
            l.hour_bucket,
        );
    }

    /// Opens, touches or closes the event's session, and expires the account's idle ones;
    /// returns the sessions that finished.
    fn learn_sessions(&self, l: &Learning<'_>) -> Finished {
        let (ev, k) = (l.ev, l.keys);
        let mut finished = Finished::default();
        let has_sessions = self.sessions.contains_key(&k.account);
        let opens = ev.is_login_success() && k.session.is_some();
        let touches = k.session.is_some()
            && matches!(
                ev.kind,
                EventKind::Access | EventKind::Logout | EventKind::Mfa
            );
        if !(has_sessions || opens || (touches && ev.kind == EventKind::Access)) {
            return finished;
        }
        let mut set = self.sessions.entry(k.account).or_default();
        set.expire(k.now_s, |s| finished.push(s));
        let fresh = |risk: f64, families: u8| OpenSession {
            key: k.session.unwrap_or(0),
            start_s: k.now_s,
            last_s: k.now_s,
            prefix: k.prefix.unwrap_or(0),
            asn: k.asn.unwrap_or(0),
            lat_cdeg: k.place.map_or(0, |p| to_cdeg(p.0)),
            lon_cdeg: k.place.map_or(0, |p| to_cdeg(p.1)),
            has_geo: k.place.is_some(),
            risk: (risk.clamp(0.0, 1.0) * 255.0).round() as u8,
            flagged: l.flagged,
            totals: [0; 4],
            families,
            handheld: matches!(l.enr.device.kind, DeviceType::Mobile | DeviceType::Tablet),
            away_asn: 0,
            away_s: 0,
            last_asn: k.asn.unwrap_or(0),
        };
        if opens {
            if let Some(old) = set.open(fresh(l.risk, l.families)) {
                finished.push(old);
            }
        } else if let Some(sk) = k.session {
            touch_session(&mut set, sk, l, fresh(0.0, 0), &mut finished);
        }
        let empty = set.is_empty();
        drop(set);
        if empty {
            self.sessions.remove_if(&k.account, |_, s| s.is_empty());
        }
        finished
    }

    /// Remembers the display names of a trusted login's city, AS, browser and OS.
    fn remember_names(&self, k: &Keys, enr: &Enriched) {
        if let (Some(c), Some(city)) = (k.city, enr.geo.city.as_deref()) {
            self.remember_name(NameTable::City, c, city);
        }
        if let (Some(a), Some(org)) = (k.asn, enr.geo.as_org.as_deref()) {
            self.remember_name(NameTable::AsOrg, a, org);
        }
        self.remember_name(NameTable::Browser, k.browser, &enr.device.browser);
        self.remember_name(NameTable::Os, k.os, &enr.device.os);
    }

    /// Holds back the values of a flagged login that the account does not know yet.
    fn hold_back(&self, a: &AccountBaseline, k: &Keys) {
        let mut held = None;
        for (kind, key) in held_values(k) {
            if let Some(key) = key {
                let known = match kind {
                    PendingKind::Country => a.countries.contains(key),
                    PendingKind::City => a.cities.contains(key),
                    PendingKind::Asn => a.asns.contains(key),
                    PendingKind::Prefix => a.prefixes.contains(key),
                    PendingKind::Device => a.devices.contains(key),
                };
                if !known && key != 0 {
                    // Lock order: `accounts`, then `pending`.
                    held.get_or_insert_with(|| self.pending.entry(k.account).or_default())
                        .hold_back(kind, key, k.today);
                }
            }
        }
    }

    /// Adds a trusted login's values to the account's tables. A value held back from a flagged
    /// login and now seen again on a later day is released and counts both sightings; one
    /// still held (seen again the same day) is not learned yet.
    fn learn_values(&self, a: &mut AccountBaseline, k: &Keys) {
        // Lock order: `accounts`, then `pending`.
        let mut held = self.pending.get_mut(&k.account);
        for (kind, key) in held_values(k) {
            if let Some(key) = key {
                let w = if held
                    .as_mut()
                    .is_some_and(|p| p.release_if_older(kind, key, k.today))
                {
                    2.0
                } else {
                    1.0
                };
                if held.as_ref().is_some_and(|p| p.contains(kind, key)) {
                    continue;
                }
                a.table_mut(kind).add(key, w, k.today);
            }
        }
        let emptied = held.as_ref().is_some_and(|p| p.is_empty());
        drop(held);
        if emptied {
            self.pending.remove_if(&k.account, |_, p| p.is_empty());
        }
    }

    /// Records a trusted login in its tenant's networks, evicting tenants over the budget.
    fn learn_tenant(&self, tenant: u64, k: &Keys) {
        use std::sync::atomic::Ordering::Relaxed;
        let (mut t, before) = match self.tenants.entry(tenant) {
            dashmap::Entry::Occupied(e) => {
                let before = e.get().approx_bytes();
                (e.into_ref(), before)
            }
            dashmap::Entry::Vacant(e) => (e.insert(TenantState::default()), 0),
        };
        t.add(k.account32, k.prefix, k.asn, k.today);
        let added = t.approx_bytes().saturating_sub(before);
        drop(t);
        if added > 0 {
            let total = self.tenant_bytes.fetch_add(added, Relaxed) + added;
            if total > self.tenant_budget() {
                self.evict_tenants();
            }
        }
    }
}

/// An access, second factor or logout in session `sk`: a logout closes it, an access in a
/// session whose login was not seen opens it as `fresh`, and either updates its last event,
/// its flag and its volume.
fn touch_session(
    set: &mut SessionSet,
    sk: u32,
    l: &Learning<'_>,
    fresh: OpenSession,
    finished: &mut Finished,
) {
    let ev = l.ev;
    match ev.kind {
        EventKind::Logout => {
            if let Some(s) = set.close(sk) {
                finished.push(s);
            }
        }
        EventKind::Access | EventKind::Mfa => {
            if set.get(sk).is_none() && ev.kind == EventKind::Access {
                if let Some(old) = set.open(fresh) {
                    finished.push(old);
                }
            }
            if let Some(s) = set.get_mut(sk) {
                s.last_s = s.last_s.max(l.keys.now_s);
                s.flagged |= l.flagged;
                if let Some(asn) = l.keys.asn {
                    s.last_asn = asn;
                    if l.away_network {
                        s.away_asn = asn;
                        s.away_s = s.away_s.max(l.keys.now_s);
                    }
                }
                if let Some(t) = ev.action.and_then(tracked) {
                    s.totals[t] = s.totals[t].saturating_add(ev.count);
                }
            }
        }
        _ => {}
    }
}

/// A trusted login's browser, OS, device type, hour and place; the usual place (and its time
/// zone) follows the most frequent city.
fn learn_login(a: &mut AccountBaseline, l: &Learning<'_>, tz_idx: Option<u16>) {
    let k = l.keys;
    let today = k.today;
    a.browsers.add(k.browser, 1.0, today);
    a.oses.add(k.os, 1.0, today);
    a.device_kinds |= 1 << (l.enr.device.kind as u8);
    a.hours.add(l.hour_bucket, today);
    a.logins = a.logins.saturating_add(1);
    a.last_login = LastLogin {
        ts_s: k.now_s,
        lat: k.place.map_or(0.0, |p| p.0),
        lon: k.place.map_or(0.0, |p| p.1),
        asn: k.asn.unwrap_or(0),
        country: k.country.unwrap_or(0) as u16,
        has_geo: k.place.is_some(),
    };
    if let (Some(city), Some(place)) = (k.city, k.place) {
        if a.cities.top(today) == Some(city) {
            a.home = place;
            a.has_home = true;
            if let Some(tz) = tz_idx {
                a.tz = tz;
            }
        }
    } else if a.tz == 0 {
        if let Some(tz) = tz_idx {
            if k.country.is_some() && a.countries.top(today) == k.country {
                a.tz = tz;
            }
        }
    }
}
