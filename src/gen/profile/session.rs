//! One honest session of a labelled profile, from a plan ([`Plan`]: when, how long, where):
//! the device and its user agent, the address (and its changes mid-session), the failed
//! attempts before the login, MFA, record access at the person's role's rates, the odd bulk
//! export, the logout — and the look-alike families the session belongs to, recorded in its
//! label before any of its events is written.

use std::net::IpAddr;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::super::agent::Family;
use super::super::dist::{chance, pick, poisson};
use super::super::family::{Lookalike, NOVELTY_DAYS};
use super::super::{net, stream, Actor, Sim, NONE};
use super::people::{Person, Role, World, NEVER};
use crate::event::{Action, EventKind, Outcome};

/// Where a session comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// A site's NAT: the tenant's own, or a colleague's practice for a locum.
    Site(IpAddr),
    /// A shared ward PC (index into `World::ward_pcs`) at the hospital's address.
    Ward(usize, IpAddr),
    /// Home.
    Home,
    /// The phone, on its carrier.
    Mobile,
    /// A laptop tethered through the phone.
    Tether,
    /// Abroad (index into the person's trips); `true` = on the phone.
    Trip(usize, bool),
}

/// A planned session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Local minute of the day (the traveller's local time abroad); past 1440 is tomorrow.
    pub minute: i64,
    /// Length in minutes.
    pub length: i64,
    pub place: Place,
    /// Families known when planning (night shift, late night, locum...).
    pub flags: u32,
    /// A quick look: a few reads, nothing else.
    pub glance: bool,
}

/// Which device a session runs on.
#[derive(Clone, Copy)]
enum On {
    Own(usize),
    Ward(usize),
}

fn is_safari(f: Family) -> bool {
    matches!(f, Family::IphoneSafari | Family::MacSafari | Family::Ipad)
}

/// Plays `plan` for person `p` on run day `day`.
pub(crate) fn play(
    sim: &mut Sim,
    w: &mut World,
    p: usize,
    day: u32,
    plan: Plan,
    rng: &mut SmallRng,
) {
    let person = &w.persons[p];
    let zone = match plan.place {
        Place::Trip(i, _) => person.trips[i].zone,
        _ => person.zone,
    };
    let midnight = sim.day_start(day);
    let start = zone.at(midnight, plan.minute).max(midnight) + rng.gen_range(0..60_000);
    let on = match plan.place {
        Place::Site(_) => On::Own(person.desk),
        Place::Ward(pc, _) => On::Ward(pc),
        Place::Home => On::Own(person.laptop.or(person.phone).unwrap_or(person.desk)),
        Place::Mobile | Place::Trip(_, true) => match person.phone {
            Some(d) => On::Own(d),
            None => return,
        },
        Place::Tether | Place::Trip(_, false) => On::Own(person.laptop.unwrap_or(person.desk)),
    };
    let mut flags = plan.flags | person_flags(person, day, plan.place);
    if flags & Lookalike::MovingHouse.bit() != 0 {
        w.persons[p].moved_sessions -= 1;
    }
    let (ua, device, family) = device_ua(sim, w, p, on, day, &mut flags);
    let person = &w.persons[p];
    let (ip, changes) = address(sim, w, person, plan, family, day, start, rng, &mut flags);
    let bulk = !plan.glance
        && matches!(plan.place, Place::Site(_) | Place::Home)
        && person.bulk_days.first().is_some_and(|&d| d <= day);
    if bulk {
        flags |= Lookalike::BulkExport.bit();
        w.persons[p].bulk_days.remove(0);
    }
    let person = &w.persons[p];
    let forgotten = chance(rng, w.spec.lives.forgotten);
    if forgotten {
        flags |= Lookalike::ForgottenPassword.bit();
    }
    let mfa_retry = person.mfa && chance(rng, w.spec.lives.mfa_retry);
    if mfa_retry {
        flags |= Lookalike::MfaRetry.bit();
    }
    let session = sim.new_session(false);
    let label = sim.new_label(person.name, session, flags);
    let mut who = Actor {
        account: person.name,
        tenant: person.tenant,
        session,
        ip,
        ua,
        device,
        attack: NONE,
        label,
    };
    let mut t = login(sim, w, p, &who, start, forgotten, mfa_retry, rng);
    let person = &w.persons[p];
    let end = t + plan.length.max(1) * 60_000;
    let mut counts = [0u32; 5];
    if plan.glance {
        counts[0] = rng.gen_range(1..6);
    } else {
        let rates = w.spec.habits.rates[person.role.ix()];
        let hours = plan.length as f64 / 60.0;
        for (c, r) in counts.iter_mut().zip(rates) {
            *c = poisson(rng, r * hours * person.activity);
        }
    }
    let role = person.role;
    let total: u32 = counts.iter().sum::<u32>() + u32::from(bulk);
    let offsets = sim.offsets(rng, total as usize, t + 20_000, end);
    let bulk_at = bulk.then(|| rng.gen_range(0..offsets.len().max(1)));
    let mut left = counts;
    let mut next_change = 0;
    for (n, &at) in offsets.iter().enumerate() {
        while next_change < changes.len() && changes[next_change].0 <= at {
            who.ip = changes[next_change].1;
            next_change += 1;
        }
        if bulk_at == Some(n) {
            let records = w.spec.lives.bulk_records[role.ix()].count(rng).max(1);
            sim.access(&who, at, Action::Export, "patient_record", records);
            continue;
        }
        let (action, resource, count) = access(w, role, &mut left, rng);
        sim.access(&who, at, action, resource, count);
        t = at;
    }
    sim.give_back(offsets);
    if chance(rng, w.spec.habits.logout) {
        sim.logout(&who, end.max(t) + rng.gen_range(0..120_000));
    }
}

/// Families that come from the person's situation on `day` rather than from the session.
fn person_flags(person: &Person, day: u32, place: Place) -> u32 {
    let fresh =
        |since: u32| since != NEVER && since > 0 && day >= since && day < since + NOVELTY_DAYS;
    let mut flags = 0;
    if fresh(person.created) {
        flags |= Lookalike::NewAccount.bit();
    }
    if fresh(person.dormant_until) {
        flags |= Lookalike::DormantReturn.bit();
    }
    if place == Place::Home && person.moved_sessions > 0 {
        flags |= Lookalike::MovingHouse.bit();
    }
    flags
}

/// The session's user agent, device id and browser family; notes a new device, a lost cookie
/// or a browser update in `flags`.
fn device_ua(
    sim: &mut Sim,
    w: &mut World,
    p: usize,
    on: On,
    day: u32,
    flags: &mut u32,
) -> (u32, u32, Family) {
    let dev = match on {
        On::Own(d) => &mut w.persons[p].devices[d],
        On::Ward(pc) => &mut w.ward_pcs[pc],
    };
    let ua = sim.ua(dev.family, day, dev.lag);
    if dev.last_ua != NONE && dev.last_ua != ua {
        *flags |= Lookalike::BrowserUpdate.bit();
    }
    dev.last_ua = ua;
    if day < dev.new_until {
        *flags |= Lookalike::NewDevice.bit();
    }
    if day < dev.reset_until {
        *flags |= Lookalike::CookieReset.bit();
    }
    if matches!(on, On::Ward(_)) {
        *flags |= Lookalike::SharedWardPc.bit();
    }
    (ua, if dev.keeps_id { dev.id } else { NONE }, dev.family)
}

/// The address a session starts from and its changes (time, new address), noting the families
/// they make it belong to.
#[allow(clippy::too_many_arguments)]
fn address(
    sim: &Sim,
    w: &World,
    person: &Person,
    plan: Plan,
    family: Family,
    day: u32,
    start: i64,
    rng: &mut SmallRng,
    flags: &mut u32,
) -> (IpAddr, Vec<(i64, IpAddr)>) {
    let nets = &w.spec.nets;
    let atlas = &sim.atlas;
    let hours = plan.length as f64 / 60.0;
    let mid = |rng: &mut SmallRng| start + rng.gen_range(1..plan.length.max(2)) * 60_000;
    let carrier = |rng: &mut SmallRng| -> Option<IpAddr> {
        let &net = person.carrier.choose(rng)?;
        Some(atlas.prefixes[net].random_addr(rng))
    };
    let per_hour = |rate: f64| 1.0 - (-rate * hours).exp();
    let mut changes = Vec::new();
    let relay = |rng: &mut SmallRng| -> Option<IpAddr> {
        let &net = person.relay.choose(rng)?;
        Some(atlas.prefixes[net].random_addr(rng))
    };
    let ip = match plan.place {
        Place::Site(ip) | Place::Ward(_, ip) => ip,
        Place::Home => {
            let tenant = &sim.pop.tenants[person.tenant as usize];
            if let Some(vpn) = tenant
                .vpn_ip
                .filter(|_| person.hospital_vpn && chance(rng, 0.8))
            {
                *flags |= Lookalike::HospitalVpn.bit();
                vpn
            } else if let Some(net) = person.vpn.filter(|_| chance(rng, w.spec.lives.vpn_use)) {
                *flags |= Lookalike::PersonalVpn.bit();
                atlas.prefixes[net].random_addr(rng)
            } else if let Some(ip) = is_safari(family).then(|| relay(rng)).flatten() {
                *flags |= Lookalike::PrivateRelay.bit();
                ip
            } else if let Some(sub) = person.home_v6.filter(|_| chance(rng, nets.v6_session)) {
                // The day's privacy address; a new one (or IPv4) if it rotates mid-session.
                let mut day_rng = stream(sub, 4, (day as u64) << 32 | person.name as u64);
                let ip = net::privacy_addr(sub, &mut day_rng);
                if chance(rng, per_hour(nets.v6_change_per_hour)) {
                    *flags |= Lookalike::Ipv6Privacy.bit();
                    let next = if rng.gen_bool(0.7) {
                        net::privacy_addr(sub, rng)
                    } else {
                        person.home_v4
                    };
                    changes.push((mid(rng), next));
                }
                ip
            } else {
                person.home_v4
            }
        }
        Place::Mobile => {
            if let Some(ip) = (family == Family::IphoneSafari)
                .then(|| relay(rng))
                .flatten()
            {
                *flags |= Lookalike::PrivateRelay.bit();
                ip
            } else {
                *flags |= Lookalike::MobileCarrier.bit();
                let Some(ip) = carrier(rng) else {
                    return (person.home_v4, changes);
                };
                if chance(rng, per_hour(nets.mobile_jump_per_hour)) {
                    if let Some(next) = carrier(rng) {
                        changes.push((mid(rng), next));
                    }
                }
                ip
            }
        }
        Place::Tether => {
            *flags |= Lookalike::Tethering.bit();
            let ip = carrier(rng).unwrap_or(person.home_v4);
            if chance(rng, per_hour(nets.mobile_jump_per_hour)) {
                if let Some(next) = carrier(rng) {
                    changes.push((mid(rng), next));
                }
            }
            ip
        }
        Place::Trip(i, _) => {
            let trip = &person.trips[i];
            *flags |= if trip.conference {
                Lookalike::ConferenceAbroad.bit()
            } else {
                Lookalike::VacationAbroad.bit()
            };
            let how = pick(
                rng,
                &[
                    (0, w.spec.travel.connect[0]),
                    (1, w.spec.travel.connect[1]),
                    (2, w.spec.travel.connect[2]),
                ],
            );
            let local = trip
                .local_sim
                .choose(rng)
                .map(|&n| atlas.prefixes[n].random_addr(rng));
            match how {
                Some(2) if local.is_some() => local.unwrap_or(trip.hotel_ip),
                // Roaming in the EU (and with most plans elsewhere) is home-routed: the
                // address is the home carrier's, located at home.
                Some(1) => carrier(rng).unwrap_or(trip.hotel_ip),
                _ => trip.hotel_ip,
            }
        }
    };
    (ip, changes)
}

/// Failed attempts (a typo, or a forgotten password and maybe a reset), the login and MFA.
/// Returns the time after them.
#[allow(clippy::too_many_arguments)]
fn login(
    sim: &mut Sim,
    w: &World,
    p: usize,
    who: &Actor,
    start: i64,
    forgotten: bool,
    mfa_retry: bool,
    rng: &mut SmallRng,
) -> i64 {
    let lives = &w.spec.lives;
    let person = &w.persons[p];
    let mut t = start;
    let failures = if forgotten {
        lives.forgotten_failures.count(rng).max(2)
    } else if chance(rng, w.spec.habits.typo) {
        rng.gen_range(1..=2)
    } else {
        0
    };
    for _ in 0..failures {
        sim.login(who, t, Outcome::Failure, Some("bad_password"));
        sim.legit_logins += 1;
        t += rng.gen_range(4_000..if forgotten { 90_000 } else { 40_000 });
    }
    if forgotten && chance(rng, lives.reset) {
        // The reset link arrives by mail; the new password is set from the same browser.
        t += rng.gen_range(60_000..600_000);
        let e = sim.push(who, t, EventKind::PasswordChange);
        e.session = 0;
        t += rng.gen_range(20_000..120_000);
    }
    sim.login(who, t, Outcome::Success, None);
    sim.legit_logins += 1;
    sim.legit_sessions += 1;
    t += rng.gen_range(2_000..15_000);
    if person.mfa {
        if mfa_retry {
            for _ in 0..lives.mfa_retries.count(rng).max(1) {
                let e = sim.push(who, t, EventKind::Mfa);
                e.outcome = Some(Outcome::Failure);
                e.method = Some("push");
                e.failure_reason = Some(if rng.gen_bool(0.7) {
                    "timeout"
                } else {
                    "denied"
                });
                e.device = NONE;
                t += rng.gen_range(20_000..90_000);
            }
        }
        sim.mfa(who, t);
        t += rng.gen_range(1_000..5_000);
    }
    t
}

/// The next access of a session: which action (drawn from what is left), on what, how many
/// records.
fn access(
    w: &World,
    role: Role,
    left: &mut [u32; 5],
    rng: &mut SmallRng,
) -> (Action, &'static str, u32) {
    let h = &w.spec.habits;
    let remaining: u32 = left.iter().sum();
    let mut x = rng.gen_range(0..remaining.max(1));
    let mut i = 0;
    while i < 4 && x >= left[i] {
        x -= left[i];
        i += 1;
    }
    left[i] = left[i].saturating_sub(1);
    let secretary = matches!(role, Role::Secretary | Role::Service);
    match i {
        0 => {
            let resource = *[
                "patient_record",
                "patient_record",
                "patient_record",
                "lab_result",
                "prescription",
            ]
            .choose(rng)
            .unwrap_or(&"patient_record");
            let n = if rng.gen_bool(0.9) {
                1
            } else {
                rng.gen_range(2..=3)
            };
            (Action::Read, resource, n)
        }
        1 => (
            Action::Search,
            "patient_record",
            h.search_results.count(rng).max(1),
        ),
        2 => (
            Action::Update,
            if secretary {
                "appointment"
            } else {
                "patient_record"
            },
            1,
        ),
        3 => (
            Action::Print,
            if secretary {
                "appointment"
            } else {
                "prescription"
            },
            h.print_pages.count(rng).max(1),
        ),
        _ => (
            Action::Export,
            if secretary {
                "appointment"
            } else {
                "patient_record"
            },
            h.export_records[role.ix()].count(rng).max(1),
        ),
    }
}
