//! The `classic` profile's honest traffic: the French medical SaaS `tocsin gen` has always
//! produced, with fixed habits per role and shift. Its bytes are pinned (tests, the demo and
//! the benches depend on them), so nothing here changes: new behaviour goes into the `tune` and
//! `holdout` profiles ([`super::profile`]).

use std::net::IpAddr;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::agent::Family;
use super::population::{self, Account, Role, Shift, TenantKind};
use super::{net, stream, weekday, Actor, Sim, NONE};
use crate::event::{Action, Outcome};
use crate::timefmt::{self, DAY_MS};

/// French public holidays with a fixed date (Easter-based ones are left out).
fn is_public_holiday(day: i64) -> bool {
    let (_, m, d) = timefmt::civil_from_days(day);
    matches!(
        (m, d),
        (1, 1) | (5, 1) | (5, 8) | (7, 14) | (8, 15) | (11, 1) | (11, 11) | (12, 25)
    )
}

/// Things that change overnight: home routers renumbered, phones replaced.
pub(super) fn life_events(sim: &mut Sim, day: u32, rng: &mut SmallRng) {
    for a in 0..sim.pop.accounts.len() {
        let acc = &sim.pop.accounts[a];
        if rng.gen_bool(0.02) {
            let prefix = sim.atlas.prefixes[acc.home_net];
            sim.pop.accounts[a].home_v4 = prefix.random_addr(rng);
        }
        let acc = &sim.pop.accounts[a];
        if acc.new_phone_day == Some(day) {
            if let Some(p) = acc.phone {
                let id = population::new_device_id(&mut sim.pop.device_ids, rng);
                let dev = &mut sim.pop.accounts[a].devices[p];
                dev.id = id;
                dev.update_lag = 0;
                if rng.gen_bool(0.2) {
                    dev.family = if dev.family == Family::IphoneSafari {
                        Family::AndroidChrome
                    } else {
                        Family::IphoneSafari
                    };
                }
            }
        }
    }
}

/// Where a session comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Work,
    Home,
    Mobile,
    Hotel(usize),
}

/// One planned session: local start minute, duration in minutes, place.
type Slot = (i64, i64, Place);

pub(super) fn account_day(sim: &mut Sim, a: u32, day: u32, rng: &mut SmallRng) {
    let acc = &sim.pop.accounts[a as usize];
    if acc.absent(day) {
        return;
    }
    let civil = sim.day_start(day).div_euclid(DAY_MS);
    let wd = weekday(civil);
    let hospital = sim.pop.tenants[acc.tenant as usize].kind == TenantKind::Hospital;
    let holiday = is_public_holiday(civil) && !hospital;
    let mut slots: [Option<Slot>; 4] = [None; 4];
    let new_account = acc.created_day > 0;
    if acc.on_holiday(day) {
        // On holiday, a few still glance at a result from their phone.
        if rng.gen_bool(0.05) {
            slots[0] = Some((
                rng.gen_range(540..1260),
                rng.gen_range(3..10),
                Place::Mobile,
            ));
        }
    } else if let Some((travel, net)) = acc.at_conference(day) {
        if travel {
            slots[0] = Some((rng.gen_range(360..480), rng.gen_range(3..10), Place::Mobile));
        }
        slots[1] = Some((
            rng.gen_range(1140..1320),
            rng.gen_range(15..60),
            Place::Hotel(net),
        ));
    } else {
        let weekend = wd >= 5;
        let works = match (acc.role, acc.shift) {
            (Role::Locum, _) => !weekend && !holiday && rng.gen_bool(0.7),
            (_, Shift::Night) => rng.gen_bool(0.5),
            (_, Shift::Evening) => (!weekend && !holiday) || (hospital && rng.gen_bool(0.3)),
            _ => !weekend && !holiday,
        } && !rng.gen_bool(0.03);
        // New accounts are used sparingly while their owner finds their feet.
        let works = works && (!new_account || rng.gen_bool(0.4));
        let (morning, afternoon) = (rng.gen_range(0..90), rng.gen_range(0..60));
        if works {
            match acc.shift {
                Shift::Evening => {
                    slots[0] = Some((810 + afternoon, rng.gen_range(200..250), Place::Work));
                    slots[1] = Some((1110 + morning / 3, rng.gen_range(180..230), Place::Work));
                }
                Shift::Night => {
                    slots[0] = Some((1170 + afternoon, rng.gen_range(240..300), Place::Work));
                    slots[1] = Some((1500 + afternoon, rng.gen_range(200..330), Place::Work));
                }
                _ => {
                    slots[0] = Some((465 + morning, rng.gen_range(180..260), Place::Work));
                    slots[1] = Some((810 + afternoon, rng.gen_range(180..300), Place::Work));
                }
            }
            let evening_work = match acc.role {
                Role::Doctor | Role::Locum => 0.35,
                Role::Nurse => 0.08,
                Role::Secretary => 0.04,
            };
            if acc.shift != Shift::Night && rng.gen_bool(evening_work) {
                slots[2] = Some((
                    rng.gen_range(1200..1350),
                    rng.gen_range(15..60),
                    Place::Home,
                ));
            }
            if rng.gen_bool(0.15) {
                slots[3] = Some((
                    rng.gen_range(420..1260),
                    rng.gen_range(3..10),
                    Place::Mobile,
                ));
            }
        } else if weekend && acc.shift == Shift::WeekendOnCall && (civil / 7 + a as i64) % 2 == 0 {
            for (i, slot) in slots.iter_mut().enumerate().take(rng.gen_range(2..=4)) {
                let place = if i % 2 == 0 {
                    Place::Home
                } else {
                    Place::Mobile
                };
                *slot = Some((rng.gen_range(480..1320), rng.gen_range(5..40), place));
            }
        } else if matches!(acc.role, Role::Doctor) && rng.gen_bool(0.1) {
            // Sunday-evening paperwork.
            slots[0] = Some((
                rng.gen_range(1080..1320),
                rng.gen_range(20..90),
                Place::Home,
            ));
        }
    }
    let locum_site = (!acc.locum_sites.is_empty())
        .then(|| acc.locum_sites[rng.gen_range(0..acc.locum_sites.len())]);
    for slot in slots.into_iter().flatten() {
        session(sim, a, day, slot, locum_site, rng);
    }
}

fn session(
    sim: &mut Sim,
    a: u32,
    day: u32,
    slot: Slot,
    locum_site: Option<IpAddr>,
    rng: &mut SmallRng,
) {
    let (start_min, dur_min, place) = slot;
    let acc: &Account = &sim.pop.accounts[a as usize];
    let tenant = &sim.pop.tenants[acc.tenant as usize];
    let home_ip = |rng: &mut SmallRng| -> IpAddr {
        if acc.uses_site_vpn {
            if let Some(ip) = tenant.vpn_ip {
                return ip;
            }
        }
        if let Some(vpn) = acc.vpn_net.filter(|_| rng.gen_bool(0.6)) {
            return sim.atlas.prefixes[vpn].random_addr(rng);
        }
        if let Some(sub) = acc.home_v6.filter(|_| rng.gen_bool(0.6)) {
            // Privacy addresses: a new interface id each day inside the household's /64.
            let mut day_rng = stream(sub, 4, (day as u64) << 32 | a as u64);
            return net::privacy_addr(sub, &mut day_rng);
        }
        acc.home_v4
    };
    let (ip, dev) = match place {
        Place::Work => (
            locum_site.unwrap_or_else(|| *tenant.site_ips.choose(rng).unwrap_or(&acc.home_v4)),
            acc.desk,
        ),
        Place::Home => (
            home_ip(rng),
            acc.home_device.or(acc.phone).unwrap_or(acc.desk),
        ),
        Place::Mobile => {
            let Some(phone) = acc.phone else { return };
            let Some(&net) = acc.mobile_nets.choose(rng) else {
                return;
            };
            (sim.atlas.prefixes[net].random_addr(rng), phone)
        }
        Place::Hotel(net) => {
            // One hotel NAT address for the whole stay.
            let mut stay = stream(sim.cfg.seed, 5, a as u64);
            (
                sim.atlas.prefixes[net].random_addr(&mut stay),
                acc.home_device.or(acc.phone).unwrap_or(acc.desk),
            )
        }
    };
    let (role, activity, mfa, tenant_ix, name) =
        (acc.role, acc.activity, acc.mfa, acc.tenant, acc.name);
    let (ua, device) = sim.device_ua(a, dev, day);
    let session = sim.new_session(false);
    let who = Actor {
        account: name,
        tenant: tenant_ix,
        session,
        ip,
        ua,
        device,
        attack: NONE,
        label: NONE,
    };
    let mut t = sim.local(day, start_min) + rng.gen_range(0..60_000);
    // Honest typos: one or two failures seconds apart, then the right password.
    if rng.gen_bool(0.04) {
        for _ in 0..rng.gen_range(1..=2) {
            sim.login(&who, t, Outcome::Failure, Some("bad_password"));
            sim.legit_logins += 1;
            t += rng.gen_range(4_000..40_000);
        }
    }
    sim.login(&who, t, Outcome::Success, None);
    sim.legit_logins += 1;
    sim.legit_sessions += 1;
    t += rng.gen_range(2_000..15_000);
    if mfa {
        sim.mfa(&who, t);
        t += rng.gen_range(1_000..5_000);
    }
    let end = t + dur_min * 60_000;
    let hours = dur_min as f64 / 60.0;
    let short = place == Place::Mobile;
    // Per-hour rates by role: reads, searches, updates, prints, exports.
    let rates: [f64; 5] = match role {
        Role::Doctor | Role::Locum => [5.5, 1.7, 3.3, 0.4, 0.004],
        Role::Nurse => [3.5, 0.9, 3.7, 0.2, 0.0],
        Role::Secretary => [4.5, 7.5, 2.5, 0.9, 0.003],
    };
    let mut counts = [0u32; 5];
    for (i, r) in rates.iter().enumerate() {
        let mean = r * hours * activity * rng.gen_range(0.7..1.3);
        counts[i] = (mean + rng.gen::<f64>()) as u32;
    }
    if short {
        counts = [rng.gen_range(1..6), 0, 0, 0, 0];
    }
    let total: u32 = counts.iter().sum();
    let offsets = sim.offsets(rng, total as usize, t + 20_000, end);
    let mut left = counts;
    for &at in &offsets {
        let remaining: u32 = left.iter().sum();
        let mut pick = rng.gen_range(0..remaining.max(1));
        let mut i = 0;
        while i < 4 && pick >= left[i] {
            pick -= left[i];
            i += 1;
        }
        left[i] = left[i].saturating_sub(1);
        let (action, resource, n) = match i {
            0 => (
                Action::Read,
                *[
                    "patient_record",
                    "patient_record",
                    "patient_record",
                    "lab_result",
                    "prescription",
                ]
                .choose(rng)
                .unwrap_or(&"patient_record"),
                if rng.gen_bool(0.9) {
                    1
                } else {
                    rng.gen_range(2..=3)
                },
            ),
            1 => (Action::Search, "patient_record", rng.gen_range(1..=25)),
            2 => (
                Action::Update,
                if role == Role::Secretary {
                    "appointment"
                } else {
                    "patient_record"
                },
                1,
            ),
            3 => (
                Action::Print,
                if role == Role::Secretary {
                    "appointment"
                } else {
                    "prescription"
                },
                rng.gen_range(1..=3),
            ),
            _ => match role {
                Role::Secretary => (Action::Export, "appointment", rng.gen_range(5..=40)),
                _ => (Action::Export, "patient_record", rng.gen_range(1..=10)),
            },
        };
        sim.access(&who, at, action, resource, n);
    }
    sim.give_back(offsets);
    if rng.gen_bool(0.8) {
        sim.logout(&who, end + rng.gen_range(0..120_000));
    }
}
