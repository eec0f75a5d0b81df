//! A day of honest traffic in a labelled profile: the overnight changes (a renumbered home, a
//! move, a new phone, a lost cookie) and, for each person, the sessions of their day planned
//! from their shift, duties, habits and calendar — then played by [`super::session`].

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::super::agent::Family;
use super::super::dist::{chance, pick};
use super::super::family::{Lookalike, NOVELTY_DAYS};
use super::super::population::{new_device_id, TenantKind};
use super::super::{weekday, Actor, Sim, NONE};
use super::people::{Role, World};
use super::session::{self, Place, Plan};
use super::Days;
use crate::event::{Action, Outcome};
use crate::timefmt::{self, DAY_MS};

/// Sessions from a new home labelled as just moved.
const MOVED_SESSIONS: u32 = 3;

/// Things that change overnight.
pub(crate) fn life_events(sim: &mut Sim, w: &mut World, day: u32, rng: &mut SmallRng) {
    let spec = w.spec;
    for p in 0..w.persons.len() {
        if w.persons[p].role == Role::Service {
            continue;
        }
        if chance(rng, spec.nets.renumber) {
            let net = w.persons[p].home_net;
            w.persons[p].home_v4 = sim.atlas.prefixes[net].random_addr(rng);
        }
        if let Some((d, net)) = w.persons[p].moving.filter(|&(d, _)| d == day) {
            let _ = d;
            let person = &mut w.persons[p];
            person.home_net = net;
            person.home_v4 = sim.atlas.prefixes[net].random_addr(rng);
            // The new ISP may not give IPv6 at all; the old /64 is gone either way.
            let asn = sim.atlas.prefixes[net].network().asn;
            person.home_v6 = sim
                .atlas
                .select(|n, q| q.is_v6() && n.asn == asn)
                .first()
                .filter(|_| person.home_v6.is_some())
                .map(|&q| sim.atlas.prefixes[q].random_subnet64(rng));
            person.moved_sessions = MOVED_SESSIONS;
            person.moving = None;
        }
        for i in 0..w.persons[p].new_devices.len() {
            let (d, dev) = w.persons[p].new_devices[i];
            if d != day {
                continue;
            }
            let id = new_device_id(&mut sim.pop.device_ids, rng);
            let switch = chance(rng, spec.lives.switch_platform);
            let laptop_family = pick(rng, spec.devices.home_families);
            let device = &mut w.persons[p].devices[dev];
            device.id = id;
            device.lag = 0;
            device.last_ua = NONE;
            device.new_until = day + NOVELTY_DAYS;
            device.keeps_id = true;
            device.family = match device.family {
                Family::IphoneSafari if switch => Family::AndroidChrome,
                Family::AndroidChrome if switch => Family::IphoneSafari,
                f if f.is_phone() => f,
                f => laptop_family.filter(|_| switch).unwrap_or(f),
            };
        }
        for i in 0..w.persons[p].cookie_resets.len() {
            let (d, dev) = w.persons[p].cookie_resets[i];
            if d == day {
                let id = new_device_id(&mut sim.pop.device_ids, rng);
                let device = &mut w.persons[p].devices[dev];
                device.id = id;
                device.reset_until = day + NOVELTY_DAYS;
            }
        }
    }
}

fn is_holiday(w: &World, country: &str, civil: i64) -> bool {
    let (_, m, d) = timefmt::civil_from_days(civil);
    w.spec
        .countries
        .iter()
        .find(|c| c.code == country)
        .is_some_and(|c| c.holidays.contains(&(m, d)))
}

/// Plans and plays person `p`'s sessions on run day `day`.
pub(crate) fn person_day(sim: &mut Sim, w: &mut World, p: usize, day: u32, rng: &mut SmallRng) {
    let person = &w.persons[p];
    if person.absent(day) {
        return;
    }
    if person.integration.is_some() {
        integration_day(sim, w, p, day, rng);
        return;
    }
    let mut plans: Vec<Plan> = Vec::with_capacity(8);
    if let Some(i) = person
        .trips
        .iter()
        .position(|t| day >= t.start && day < t.start + t.days)
    {
        trip_day(w, p, i, day, rng, &mut plans);
    } else {
        work_day(sim, w, p, day, rng, &mut plans);
    }
    for plan in plans {
        session::play(sim, w, p, day, plan, rng);
    }
}

fn work_day(sim: &Sim, w: &World, p: usize, day: u32, rng: &mut SmallRng, plans: &mut Vec<Plan>) {
    let spec = w.spec;
    let h = &spec.habits;
    let person = &w.persons[p];
    let role = person.role.ix();
    let shift = &spec.shifts[person.shift];
    let civil = sim.day_start(day).div_euclid(DAY_MS);
    let wd = weekday(civil);
    let holiday = is_holiday(w, person.country, civil);
    let mut works = match shift.days {
        Days::Weekdays(saturday) => !holiday && (wd < 5 || (wd == 5 && chance(rng, saturday))),
        Days::Rota(share) => chance(rng, share),
    } && !chance(rng, h.absent);
    let new_account = person.created > 0 && day < person.created + NOVELTY_DAYS;
    if new_account {
        // New staff find their feet: not every day at first.
        works &= chance(rng, 0.6);
    }
    let night = if shift.night {
        Lookalike::NightShift.bit()
    } else {
        0
    };
    if works {
        for &(start, length) in shift.blocks {
            let (start, length) = (start.whole(rng), length.whole(rng).max(30));
            work_block(sim, w, p, start, length, night, rng, plans);
        }
        if !shift.night && chance(rng, h.evening[role]) {
            plans.push(home(
                h.evening_start.whole(rng),
                h.evening_length.whole(rng),
                0,
            ));
        }
        if !shift.night && chance(rng, h.late[role]) {
            let late = Lookalike::LateNight.bit();
            plans.push(home(
                h.late_start.whole(rng),
                h.late_length.whole(rng),
                late,
            ));
        }
        if person.phone.is_some() && chance(rng, h.phone) {
            plans.push(Plan {
                minute: rng.gen_range(420..1290),
                length: rng.gen_range(2..10),
                place: Place::Mobile,
                flags: 0,
                glance: true,
            });
        }
    } else if chance(rng, h.day_off[role]) {
        plans.push(home(
            rng.gen_range(600..1260),
            h.evening_length.whole(rng),
            0,
        ));
    }
    if person.on_call.binary_search(&day).is_ok() {
        on_call(sim, w, p, wd >= 5, rng, plans);
    }
    // A new phone or laptop is set up and tried the evening it arrives.
    for &(d, dev) in &person.new_devices {
        let place = if Some(dev) == person.phone {
            Place::Mobile
        } else if Some(dev) == person.laptop {
            Place::Home
        } else {
            continue;
        };
        if d == day && chance(rng, 0.8) {
            plans.push(Plan {
                minute: h.evening_start.whole(rng),
                length: rng.gen_range(3..20),
                place,
                flags: 0,
                glance: place == Place::Mobile,
            });
        }
    }
    if person.tether_days.contains(&day) {
        plans.push(Plan {
            minute: rng.gen_range(480..1200),
            length: rng.gen_range(15..90),
            place: Place::Tether,
            flags: 0,
            glance: false,
        });
    }
}

fn home(minute: i64, length: i64, flags: u32) -> Plan {
    Plan {
        minute,
        length: length.max(3),
        place: Place::Home,
        flags,
        glance: false,
    }
}

/// Sessions of one block of work: at a desk (split by idle time-outs) or on ward PCs.
#[allow(clippy::too_many_arguments)]
fn work_block(
    sim: &Sim,
    w: &World,
    p: usize,
    start: i64,
    length: i64,
    flags: u32,
    rng: &mut SmallRng,
    plans: &mut Vec<Plan>,
) {
    let spec = w.spec;
    let person = &w.persons[p];
    let tenant = &sim.pop.tenants[person.tenant as usize];
    let site = *tenant.site_ips.choose(rng).unwrap_or(&person.home_v4);
    if !person.ward.is_empty() {
        let n = spec.lives.ward_sessions.count(rng).max(1) as i64;
        for i in 0..n {
            let at = start + i * length / n + rng.gen_range(0..(length / n).max(1));
            let pc = *person.ward.choose(rng).unwrap_or(&0);
            plans.push(Plan {
                minute: at,
                length: rng.gen_range(4..25).min(length / n + 1),
                place: Place::Ward(pc, site),
                flags,
                glance: false,
            });
        }
        return;
    }
    let (place, flags) = match person.locum_sites.choose(rng) {
        Some(&ip) if chance(rng, 0.7) => (Place::Site(ip), flags | Lookalike::Locum.bit()),
        _ => (Place::Site(site), flags),
    };
    let k = spec.habits.sessions_per_block.count(rng).max(1) as i64;
    let mut at = start;
    for i in 0..k {
        let end = start + length * (i + 1) / k;
        let gap = if i + 1 < k { rng.gen_range(2..15) } else { 0 };
        plans.push(Plan {
            minute: at,
            length: (end - at - gap).max(5),
            place,
            flags,
            glance: false,
        });
        at = end;
    }
}

/// A night or weekend on call: a few short sessions scattered through it, at the hospital or
/// from home.
fn on_call(
    sim: &Sim,
    w: &World,
    p: usize,
    weekend: bool,
    rng: &mut SmallRng,
    plans: &mut Vec<Plan>,
) {
    let oc = &w.spec.on_call;
    let person = &w.persons[p];
    let tenant = &sim.pop.tenants[person.tenant as usize];
    let (start, length) = if weekend {
        (oc.weekend_start.whole(rng), oc.weekend_length.whole(rng))
    } else {
        (oc.start.whole(rng), oc.length.whole(rng))
    };
    let at_hospital = tenant.kind == TenantKind::Hospital && chance(rng, 0.7);
    for _ in 0..oc.sessions.count(rng).max(1) {
        let minute = start + rng.gen_range(0..length.max(1));
        let local = minute.rem_euclid(1440);
        let night = if !(420..1260).contains(&local) {
            Lookalike::NightShift.bit()
        } else {
            0
        };
        let place = match tenant.site_ips.choose(rng) {
            Some(&ip) if at_hospital => Place::Site(ip),
            _ if person.phone.is_some() && rng.gen_bool(0.3) => Place::Mobile,
            _ => Place::Home,
        };
        plans.push(Plan {
            minute,
            length: rng.gen_range(3..25),
            place,
            flags: night,
            glance: place == Place::Mobile,
        });
    }
}

/// A day abroad: a conference's evening at the hotel and a look at the phone, or a holiday's
/// occasional look.
fn trip_day(w: &World, p: usize, i: usize, day: u32, rng: &mut SmallRng, plans: &mut Vec<Plan>) {
    let person = &w.persons[p];
    let trip = &person.trips[i];
    let phone = person.phone.is_some();
    if trip.conference {
        if chance(rng, 0.85) {
            plans.push(Plan {
                minute: rng.gen_range(1140..1350),
                length: rng.gen_range(15..60),
                place: Place::Trip(i, !phone || (person.laptop.is_none() && rng.gen_bool(0.5))),
                flags: 0,
                glance: false,
            });
        }
        if phone && (day == trip.start || chance(rng, 0.4)) {
            plans.push(Plan {
                minute: rng.gen_range(420..600),
                length: rng.gen_range(2..10),
                place: Place::Trip(i, true),
                flags: 0,
                glance: true,
            });
        }
    } else if chance(rng, w.spec.travel.vacation_use) {
        let on_phone = phone && (person.laptop.is_none() || rng.gen_bool(0.75));
        plans.push(Plan {
            minute: rng.gen_range(540..1380),
            length: rng.gen_range(3..30),
            place: Place::Trip(i, on_phone),
            flags: 0,
            glance: on_phone,
        });
    }
}

/// A service account's nightly job (and its midday run): login from its cloud address, a
/// search, an export, logout.
fn integration_day(sim: &mut Sim, w: &World, p: usize, day: u32, rng: &mut SmallRng) {
    let person = &w.persons[p];
    let Some(job) = &person.integration else {
        return;
    };
    let runs: &[i64] = if job.twice { &[0, 720] } else { &[0] };
    let ua = sim.literal_ua(job.ua);
    for &offset in runs {
        let midnight = sim.day_start(day);
        // Cron fires on the minute; queues and clock drift add seconds to minutes.
        let start =
            person.zone.at(midnight, job.minute + offset).max(midnight) + rng.gen_range(0..240_000);
        let session = sim.new_session(false);
        let label = sim.new_label(person.name, session, Lookalike::Integration.bit());
        let who = Actor {
            account: person.name,
            tenant: person.tenant,
            session,
            ip: job.ip,
            ua,
            device: NONE,
            attack: NONE,
            label,
        };
        sim.login(&who, start, Outcome::Success, None);
        sim.legit_logins += 1;
        sim.legit_sessions += 1;
        let mut t = start + rng.gen_range(500..5_000);
        if rng.gen_bool(0.5) {
            let n = w.spec.habits.search_results.count(rng).max(1);
            sim.access(&who, t, Action::Search, "patient_record", n);
            t += rng.gen_range(1_000..20_000);
        }
        let records = w.spec.tenants.job_records.count(rng).max(1);
        sim.access(&who, t, Action::Export, "patient_record", records);
        t += rng.gen_range(2_000..120_000);
        sim.logout(&who, t);
    }
}
