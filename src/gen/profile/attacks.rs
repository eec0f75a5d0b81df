//! The labelled attacks of the `tune` and `holdout` profiles: every kind of
//! [`AttackKind::ALL`], each instance with its own variant and parameters drawn from the
//! profile's distributions (network, hour, records, attempts, days), recorded in its
//! `attack_label` truth line. Planned once (victims, day, source), played on their day
//! alongside the honest traffic, from their own random stream. No two attacks share a victim,
//! so an alert names one attack.
//!
//! Variants of the infostealer family, the ones `tocsin eval` reports separately:
//! - `infostealer` / `plain`: the stolen password at the first try from a datacentre (abroad or
//!   at home) or a commercial VPN, with the attacker's own browser;
//! - `residential_proxy` / `proxy_city` or `proxy_country`: the same through a home connection
//!   in the victim's own city, or elsewhere in their country;
//! - `ua_copy` / `copied_ua` or `copied_ua_cookie`: the victim's exact user agent (from the
//!   stealer log), at the victim's own working hours on a working day, sometimes replaying the
//!   stolen device cookie too.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::super::agent::Family;
use super::super::dist::{chance, distance_km, pick};
use super::super::population::new_device_id;
use super::super::tz::Zone;
use super::super::{attack_skeleton, weekday, Actor, AttackKind, Sim, NONE, WARM_UP_DAYS};
use super::people::{Person, Role, World, NEVER};
use super::Days;
use crate::event::{Action, EventKind, Outcome};
use crate::gen::truth::{AttackLabel, AttackTruth};
use crate::timefmt::DAY_MS;
use crate::world::{NetKind, Network};

/// Numbers drawn for one attack.
#[derive(Clone, Debug, Default)]
pub(crate) struct Drawn {
    records: u32,
    attempts: u32,
    gap_ms: i64,
    rounds: u32,
    round_gap_ms: i64,
    success: f64,
    delay_ms: i64,
    accept: bool,
}

/// One planned attack.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    id: String,
    kind: AttackKind,
    variant: &'static str,
    day: u32,
    last_day: u32,
    /// Person index of the victim (`usize::MAX` for multi-account kinds).
    victim: usize,
    primary: u32,
    tenant: u32,
    /// Name and tenant indexes of every target (multi-account kinds).
    targets: Vec<(u32, u32)>,
    ip: IpAddr,
    /// Prefixes of rotating residential proxies (empty: one source).
    proxies: Vec<usize>,
    ua: u32,
    device: u32,
    /// Local minute (victim's zone) the attack starts.
    minute: i64,
    zone: Zone,
    n: Drawn,
    params: BTreeMap<String, Value>,
}

impl Plan {
    /// The attack's truth record before any event.
    pub fn skeleton(&self, sim: &Sim) -> AttackTruth {
        attack_skeleton(sim, &self.id, self.kind, self.primary, self.tenant)
    }

    /// The attack's variant and parameters.
    pub fn label(&self) -> AttackLabel {
        AttackLabel {
            record: "attack_label".into(),
            id: self.id.clone(),
            kind: self.kind.as_str().into(),
            variant: self.variant.into(),
            params: self.params.clone(),
        }
    }
}

/// Networks attackers come from.
struct Sources {
    hosting: Vec<usize>,
    vpn: Vec<usize>,
    residential: Vec<usize>,
    /// Home and mobile networks outside the profile's countries.
    foreign_home: Vec<usize>,
}

impl Sources {
    fn new(sim: &Sim, w: &World) -> Sources {
        let home: Vec<&str> = w.spec.countries.iter().map(|c| c.code).collect();
        let v4 = |kind: NetKind| sim.atlas.select(|n, p| n.kind == kind && !p.is_v6());
        Sources {
            hosting: v4(NetKind::Hosting),
            vpn: v4(NetKind::Vpn),
            residential: v4(NetKind::Residential),
            foreign_home: sim.atlas.select(|n, p| {
                matches!(n.kind, NetKind::Residential | NetKind::Mobile)
                    && !p.is_v6()
                    && !home.contains(&n.country)
            }),
        }
    }
}

/// Where an attack comes from: address, kind of network, and what to record about it.
fn source(sim: &Sim, nets: &[usize], rng: &mut SmallRng) -> Option<(IpAddr, usize)> {
    let &net = nets.choose(rng)?;
    Some((sim.atlas.prefixes[net].random_addr(rng), net))
}

fn kind_name(k: NetKind) -> &'static str {
    match k {
        NetKind::Residential => "residential",
        NetKind::Mobile => "mobile",
        NetKind::Hospital => "hospital",
        NetKind::Business => "business",
        NetKind::Hosting => "hosting",
        NetKind::Vpn => "vpn",
        NetKind::Hotel => "hotel",
        NetKind::Relay => "relay",
    }
}

/// Victims: established active people, taken once each.
struct Victims {
    with_mfa: Vec<usize>,
    without_mfa: Vec<usize>,
    dormant: Vec<usize>,
}

impl Victims {
    fn take(&mut self, rng: &mut SmallRng, p_mfa: f64) -> Option<usize> {
        self.take_where(rng, p_mfa, |_| true)
    }

    /// The last victim `fits` accepts, from the list with MFA with probability `p_mfa` (from
    /// the other one when that has none).
    fn take_where(
        &mut self,
        rng: &mut SmallRng,
        p_mfa: f64,
        fits: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let lists = if chance(rng, p_mfa) {
            [&mut self.with_mfa, &mut self.without_mfa]
        } else {
            [&mut self.without_mfa, &mut self.with_mfa]
        };
        for list in lists {
            if let Some(i) = list.iter().rposition(|&v| fits(v)) {
                return Some(list.remove(i));
            }
        }
        None
    }

    fn free(&self) -> Vec<usize> {
        self.with_mfa
            .iter()
            .chain(&self.without_mfa)
            .copied()
            .collect()
    }
}

/// Plans every attack of `sim.cfg.attacks`. Runs shorter than the warm-up get none.
pub(crate) fn plan(sim: &mut Sim, w: &World, rng: &mut SmallRng) -> Vec<Plan> {
    let days = sim.cfg.days;
    if days <= WARM_UP_DAYS {
        return Vec::new();
    }
    let a = &w.spec.attacks;
    let n = ((sim.cfg.accounts as f64 * a.per_1000 / 1000.0).round() as u32).max(1);
    let src = Sources::new(sim, w);
    let mut established: Vec<usize> = (0..w.persons.len())
        .filter(|&i| {
            let p = &w.persons[i];
            p.role != Role::Service && p.created == 0 && p.dormant_until == 0
        })
        .collect();
    established.shuffle(rng);
    let (with_mfa, without_mfa) = established.iter().partition(|&&i| w.persons[i].mfa);
    let mut dormant: Vec<usize> = (0..w.persons.len())
        .filter(|&i| w.persons[i].dormant_until == NEVER && w.persons[i].role != Role::Service)
        .collect();
    dormant.shuffle(rng);
    let mut victims = Victims {
        with_mfa,
        without_mfa,
        dormant,
    };
    let mut kinds = sim.cfg.attacks.clone();
    kinds.sort();
    kinds.dedup();
    kinds.sort_by_key(|k| k.is_multi_account());
    let mut plans = Vec::new();
    for kind in kinds {
        for _ in 0..n {
            let id = format!("atk-{:03}", plans.len() + 1);
            match plan_one(sim, w, &src, &mut victims, kind, id, rng) {
                Some(p) => plans.push(p),
                None => break,
            }
        }
    }
    plans
}

/// The first day an attack may start, and its last.
fn attack_day(sim: &Sim, kind: AttackKind, rng: &mut SmallRng) -> u32 {
    let days = sim.cfg.days;
    let last_start = match kind {
        AttackKind::SessionHijack => (days - 1).saturating_sub(4).max(WARM_UP_DAYS),
        AttackKind::LowAndSlow => (days - 1).saturating_sub(3).max(WARM_UP_DAYS),
        _ => days - 1,
    };
    match sim.cfg.attack_day {
        Some(d) => d.clamp(WARM_UP_DAYS, last_start),
        None => rng.gen_range(WARM_UP_DAYS..=last_start),
    }
}

/// A local start minute: the victim's night, or an evening or a day.
fn attacker_minute(rng: &mut SmallRng, night: f64) -> i64 {
    if chance(rng, night) {
        rng.gen_range(90..330)
    } else {
        rng.gen_range(540..1380)
    }
}

/// A minute inside one of the victim's working blocks.
fn victims_hours(w: &World, v: &Person, rng: &mut SmallRng) -> i64 {
    let shift = &w.spec.shifts[v.shift];
    match shift.blocks.choose(rng) {
        Some((start, length)) => {
            start.whole(rng) + (length.whole(rng) as f64 * rng.gen_range(0.1..0.8)) as i64
        }
        None => rng.gen_range(540..1080),
    }
}

/// Moves `day` to the victim's next working day (weekdays-only shifts), within the run.
fn working_day(sim: &Sim, w: &World, v: &Person, mut day: u32) -> u32 {
    if matches!(w.spec.shifts[v.shift].days, Days::Weekdays(_)) {
        while day + 1 < sim.cfg.days && weekday(sim.day_start(day).div_euclid(DAY_MS)) >= 5 {
            day += 1;
        }
    }
    day
}

fn attacker_ua(sim: &mut Sim, day: u32, rng: &mut SmallRng) -> u32 {
    let family = pick(
        rng,
        &[
            (Family::WindowsChrome, 0.45),
            (Family::LinuxChrome, 0.2),
            (Family::WindowsFirefox, 0.15),
            (Family::LinuxFirefox, 0.1),
            (Family::MacChrome, 0.1),
        ],
    )
    .unwrap_or(Family::WindowsChrome);
    // Attackers' browsers are often releases behind.
    let lag = rng.gen_range(0..150);
    sim.ua(family, day, lag)
}

#[allow(clippy::too_many_arguments)]
fn plan_one(
    sim: &mut Sim,
    w: &World,
    src: &Sources,
    victims: &mut Victims,
    kind: AttackKind,
    id: String,
    rng: &mut SmallRng,
) -> Option<Plan> {
    let a = &w.spec.attacks;
    let mut day = attack_day(sim, kind, rng);
    let victim = match kind {
        AttackKind::DormantTakeover => victims.dormant.pop()?,
        AttackKind::MfaFatigue => victims.with_mfa.pop()?,
        k if k.is_multi_account() => usize::MAX,
        // A stolen cookie is replayed while its owner's session is alive: owners with long
        // desk sessions (not a ward PC's few minutes).
        AttackKind::SessionHijack => {
            victims.take_where(rng, a.mfa_victims, |v| w.persons[v].ward.is_empty())?
        }
        _ => victims.take(rng, a.mfa_victims)?,
    };
    let mut params = BTreeMap::new();
    let mut n = Drawn::default();
    let mut plan = Plan {
        id,
        kind,
        variant: "",
        day,
        last_day: day,
        victim,
        primary: 0,
        tenant: NONE,
        targets: Vec::new(),
        ip: IpAddr::from([0, 0, 0, 0]),
        proxies: Vec::new(),
        ua: NONE,
        device: NONE,
        minute: attacker_minute(rng, a.night),
        zone: Zone::UTC,
        n: Drawn::default(),
        params: BTreeMap::new(),
    };
    if kind.is_multi_account() {
        multi(sim, w, src, victims, &mut plan, &mut n, &mut params, rng)?;
    } else {
        single(sim, w, src, &mut plan, &mut n, &mut params, &mut day, rng)?;
    }
    plan.day = day;
    plan.last_day = plan.last_day.max(day);
    let hour = (plan.minute.rem_euclid(1440) as f64 / 6.0).round() / 10.0;
    params.insert("local_hour".into(), json!(hour));
    plan.n = n;
    plan.params = params;
    Some(plan)
}

/// Victim-related fields, source, variant and numbers of a single-victim attack.
#[allow(clippy::too_many_arguments)]
fn single(
    sim: &mut Sim,
    w: &World,
    src: &Sources,
    plan: &mut Plan,
    n: &mut Drawn,
    params: &mut BTreeMap<String, Value>,
    day: &mut u32,
    rng: &mut SmallRng,
) -> Option<()> {
    let a = &w.spec.attacks;
    let kind = plan.kind;
    let v = &w.persons[plan.victim];
    plan.primary = v.name;
    plan.tenant = v.tenant;
    plan.zone = v.zone;
    let home = sim.atlas.prefixes[v.home_net].network();
    let in_country: Vec<usize> = src
        .residential
        .iter()
        .copied()
        .filter(|&q| sim.atlas.prefixes[q].network().country == v.country)
        .collect();
    let hosting_abroad: Vec<usize> = src
        .hosting
        .iter()
        .copied()
        .filter(|&q| sim.atlas.prefixes[q].network().country != v.country)
        .collect();
    let hosting_home: Vec<usize> = src
        .hosting
        .iter()
        .copied()
        .filter(|&q| sim.atlas.prefixes[q].network().country == v.country)
        .collect();
    let or = |a: Vec<usize>, b: &Vec<usize>| if a.is_empty() { b.clone() } else { a };
    let nets: Vec<usize> = match kind {
        AttackKind::Infostealer => {
            plan.variant = "plain";
            match pick(
                rng,
                &[
                    (0, a.plain_nets[0]),
                    (1, a.plain_nets[1]),
                    (2, a.plain_nets[2]),
                ],
            ) {
                Some(1) => or(hosting_home, &hosting_abroad),
                Some(2) => src.vpn.clone(),
                _ => hosting_abroad,
            }
        }
        AttackKind::ResidentialProxy => {
            let city: Vec<usize> = in_country
                .iter()
                .copied()
                .filter(|&q| sim.atlas.prefixes[q].network().city == home.city)
                .collect();
            if chance(rng, a.proxy_city) && !city.is_empty() {
                plan.variant = "proxy_city";
                city
            } else {
                plan.variant = "proxy_country";
                let elsewhere: Vec<usize> = in_country
                    .iter()
                    .copied()
                    .filter(|&q| sim.atlas.prefixes[q].network().city != home.city)
                    .collect();
                or(elsewhere, &in_country)
            }
        }
        AttackKind::UaCopy => {
            let cookie = chance(rng, a.copy_cookie) && v.devices[v.desk].keeps_id;
            plan.variant = if cookie {
                "copied_ua_cookie"
            } else {
                "copied_ua"
            };
            if cookie {
                plan.device = v.devices[v.desk].id;
            }
            plan.minute = victims_hours(w, v, rng);
            *day = working_day(sim, w, v, *day);
            match pick(
                rng,
                &[
                    (0, a.copy_nets[0]),
                    (1, a.copy_nets[1]),
                    (2, a.copy_nets[2]),
                ],
            ) {
                Some(1) => src.hosting.clone(),
                Some(2) => src.vpn.clone(),
                _ => in_country,
            }
        }
        AttackKind::BruteForce | AttackKind::DormantTakeover => {
            match pick(rng, &[(0, 0.5), (1, 0.3), (2, 0.2)]) {
                Some(1) => src.foreign_home.clone(),
                Some(2) => src.vpn.clone(),
                _ => src.hosting.clone(),
            }
        }
        AttackKind::SessionHijack => {
            if chance(rng, a.hijack_domestic) {
                plan.variant = "domestic_proxy";
                in_country
            } else {
                plan.variant = "foreign";
                if rng.gen_bool(0.5) {
                    hosting_abroad
                } else {
                    src.foreign_home.clone()
                }
            }
        }
        AttackKind::LowAndSlow => {
            plan.minute = victims_hours(w, v, rng);
            *day = working_day(sim, w, v, *day);
            let d = a.slow_days.count(rng).max(2);
            plan.last_day = (*day + d).min(sim.cfg.days - 1);
            params.insert("days".into(), json!(plan.last_day - *day + 1));
            if rng.gen_bool(0.6) {
                in_country
            } else {
                src.vpn.clone()
            }
        }
        AttackKind::MfaFatigue => {
            n.accept = chance(rng, a.fatigue_accept);
            plan.variant = if n.accept { "accepted" } else { "refused" };
            n.attempts = a.fatigue_pushes.count(rng).max(2);
            n.gap_ms = (a.fatigue_gap_s.sample(rng) * 1000.0) as i64;
            params.insert("pushes".into(), json!(n.attempts));
            match pick(rng, &[(0, 0.4), (1, 0.3), (2, 0.3)]) {
                Some(1) => in_country,
                Some(2) => src.vpn.clone(),
                _ => hosting_abroad,
            }
        }
        _ => src.hosting.clone(),
    };
    let mfa = v.mfa;
    place_at(sim, plan, params, &nets, home, rng)?;
    params.insert("mfa".into(), json!(mfa));
    draw_single(sim, w, plan, n, params, rng);
    Some(())
}

/// Places the attack on one of `nets` and records where that is (the variant is the kind of
/// network when the kind has no other).
fn place_at(
    sim: &Sim,
    plan: &mut Plan,
    params: &mut BTreeMap<String, Value>,
    nets: &[usize],
    home: &Network,
    rng: &mut SmallRng,
) -> Option<()> {
    let (ip, net) = source(sim, nets, rng)?;
    plan.ip = ip;
    let place = sim.atlas.prefixes[net].network();
    if plan.variant.is_empty() {
        plan.variant = kind_name(place.kind);
    }
    params.insert("network".into(), json!(kind_name(place.kind)));
    params.insert("asn".into(), json!(place.asn));
    params.insert("country".into(), json!(place.country));
    let km = distance_km(home.lat, home.lon, place.lat, place.lon);
    params.insert("distance_km".into(), json!(km.round()));
    Some(())
}

/// The user agent, device and numbers of a single-victim attack.
fn draw_single(
    sim: &mut Sim,
    w: &World,
    plan: &mut Plan,
    n: &mut Drawn,
    params: &mut BTreeMap<String, Value>,
    rng: &mut SmallRng,
) {
    let a = &w.spec.attacks;
    plan.ua = match plan.kind {
        AttackKind::BruteForce => sim.tool_ua(rng),
        // Copied from the victim when the attack plays.
        AttackKind::UaCopy => NONE,
        _ => attacker_ua(sim, plan.day, rng),
    };
    let fresh_device = match plan.kind {
        AttackKind::LowAndSlow => true,
        AttackKind::UaCopy => false,
        _ => chance(rng, 0.3),
    };
    if fresh_device {
        plan.device = new_device_id(&mut sim.pop.device_ids, rng);
    }
    n.records = match plan.kind {
        AttackKind::DormantTakeover => a.dormant_records.count(rng),
        AttackKind::SessionHijack => a.hijack_records.count(rng),
        AttackKind::LowAndSlow => 0,
        _ => a.takeover_records.count(rng),
    }
    .max(1);
    match plan.kind {
        AttackKind::BruteForce => {
            n.attempts = a.brute_attempts.count(rng).max(3);
            n.gap_ms = (a.brute_gap_s.sample(rng) * 1000.0) as i64;
            n.accept = chance(rng, a.brute_success);
            n.records = (n.records / 4).max(20);
            params.insert("attempts".into(), json!(n.attempts));
            params.insert("succeeded".into(), json!(n.accept));
        }
        AttackKind::SessionHijack => {
            n.delay_ms = (a.hijack_delay_min.sample(rng) * 60_000.0) as i64;
            params.insert("delay_min".into(), json!(n.delay_ms / 60_000));
        }
        _ => {}
    }
    if plan.kind != AttackKind::LowAndSlow {
        params.insert("records".into(), json!(n.records));
    }
}

/// Targets and numbers of a stuffing or spraying run.
#[allow(clippy::too_many_arguments)]
fn multi(
    sim: &mut Sim,
    w: &World,
    src: &Sources,
    victims: &Victims,
    plan: &mut Plan,
    n: &mut Drawn,
    params: &mut BTreeMap<String, Value>,
    rng: &mut SmallRng,
) -> Option<()> {
    let a = &w.spec.attacks;
    let pool = victims.free();
    plan.ua = sim.tool_ua(rng);
    if plan.kind == AttackKind::CredentialStuffing {
        let size = (a.stuffing_list.count(rng) as usize).clamp(5, pool.len().max(5));
        let start = rng.gen_range(0..=pool.len().saturating_sub(size));
        for &p in pool.iter().skip(start).take(size) {
            let person = &w.persons[p];
            plan.targets.push((person.name, person.tenant));
            if chance(rng, a.stuffing_unknown) {
                let base = &sim.pop.names[person.name as usize];
                let fake = match base.split_once('@') {
                    Some((u, h)) => format!("{u}.{}@{h}", rng.gen_range(10..99)),
                    None => format!("{base}.{}", rng.gen_range(10..99)),
                };
                sim.pop.names.push(fake);
                plan.targets.push(((sim.pop.names.len() - 1) as u32, NONE));
            }
        }
        plan.targets.shuffle(rng);
        n.success = a.stuffing_success.sample(rng);
        n.gap_ms = (a.stuffing_gap_s.sample(rng) * 1000.0) as i64;
        if chance(rng, a.stuffing_rotating) {
            plan.variant = "rotating_proxies";
            plan.proxies = src
                .residential
                .iter()
                .chain(&src.foreign_home)
                .copied()
                .collect();
        } else {
            plan.variant = "single_source";
        }
        let nets = if rng.gen_bool(0.6) {
            &src.hosting
        } else {
            &src.foreign_home
        };
        plan.ip = source(sim, nets, rng)?.0;
        params.insert("list".into(), json!(plan.targets.len()));
        params.insert(
            "success_rate".into(),
            json!((n.success * 1000.0).round() / 1000.0),
        );
    } else {
        // Victims of other attacks are left out so that every alert names one attack.
        let free: std::collections::HashSet<usize> = pool.iter().copied().collect();
        let mut big: Vec<u32> = (0..sim.pop.tenants.len() as u32)
            .filter(|&t| sim.pop.tenants[t as usize].members.len() >= 8)
            .collect();
        big.shuffle(rng);
        let tenants = a.spray_tenants.count(rng).max(1) as usize;
        for &t in big.iter().take(tenants) {
            let members = &sim.pop.tenants[t as usize].members;
            for &m in members
                .iter()
                .filter(|&&m| free.contains(&(m as usize)))
                .take(80)
            {
                plan.targets.push((w.persons[m as usize].name, t));
            }
        }
        n.rounds = a.spray_rounds.count(rng).max(1);
        n.gap_ms = (a.spray_gap_s.sample(rng) * 1000.0) as i64;
        n.round_gap_ms = (a.spray_round_gap_min.sample(rng) * 60_000.0) as i64;
        n.success = a.spray_success;
        plan.variant = "single_source";
        let nets = if rng.gen_bool(0.5) {
            &src.vpn
        } else {
            &src.hosting
        };
        plan.ip = source(sim, nets, rng)?.0;
        plan.minute = rng.gen_range(120..1200);
        params.insert("accounts".into(), json!(plan.targets.len()));
        params.insert("rounds".into(), json!(n.rounds));
    }
    let &(primary, tenant) = plan.targets.iter().find(|t| t.1 != NONE)?;
    plan.primary = primary;
    plan.tenant = tenant;
    plan.zone = w.tenant_place[tenant as usize].2;
    params.insert("gap_s".into(), json!(n.gap_ms / 1000));
    Some(())
}

/// Plays every attack that falls on `day`.
pub(crate) fn play_day(sim: &mut Sim, w: &World, plans: &mut [Plan], day: u32, rng: &mut SmallRng) {
    for (i, p) in plans.iter_mut().enumerate() {
        if day < p.day || day > p.last_day {
            continue;
        }
        let i = i as u32;
        let midnight = sim.day_start(day);
        let t = p.zone.at(midnight, p.minute).max(midnight) + rng.gen_range(0..60_000);
        match p.kind {
            AttackKind::Infostealer
            | AttackKind::ResidentialProxy
            | AttackKind::UaCopy
            | AttackKind::DormantTakeover => {
                let mut who = attacker(sim, w, p, i, day);
                let t = takeover_login(sim, w, p, &who, t, rng);
                who.ua = NONE;
                bulk_export(sim, &who, t, p.n.records, rng);
                if rng.gen_bool(0.3) {
                    let end = sim.buf.last().map_or(t, |e| e.ts);
                    sim.logout(&who, end + rng.gen_range(5_000..60_000));
                }
            }
            AttackKind::LowAndSlow => low_and_slow(sim, w, p, i, day, rng),
            AttackKind::BruteForce => brute_force(sim, w, p, i, day, t, rng),
            AttackKind::CredentialStuffing | AttackKind::PasswordSpraying => {
                many_accounts(sim, p, i, t, rng)
            }
            AttackKind::SessionHijack => {
                if !hijack(sim, w, p, i, day, rng) && p.day + 1 < sim.cfg.days {
                    // No long session for the victim today: try the next day.
                    p.day += 1;
                    p.last_day += 1;
                }
            }
            AttackKind::MfaFatigue => fatigue(sim, w, p, i, day, t, rng),
        }
    }
}

/// The attacker's session context for single-victim kinds (a fresh session).
fn attacker(sim: &mut Sim, w: &World, p: &Plan, i: u32, day: u32) -> Actor {
    let v = &w.persons[p.victim];
    let ua = if p.kind == AttackKind::UaCopy {
        let desk = &v.devices[v.desk];
        sim.ua(desk.family, day, desk.lag)
    } else {
        p.ua
    };
    Actor {
        account: v.name,
        tenant: v.tenant,
        session: sim.new_session(true),
        ip: p.ip,
        ua,
        device: p.device,
        attack: i,
        label: NONE,
    }
}

/// The right password at the first try, then the MFA prompt when the victim has one (a stolen
/// seed or a tired yes). Returns the time after.
fn takeover_login(
    sim: &mut Sim,
    w: &World,
    p: &Plan,
    who: &Actor,
    t: i64,
    rng: &mut SmallRng,
) -> i64 {
    sim.login(who, t, Outcome::Success, None);
    let mut t = t + rng.gen_range(3_000..20_000);
    if w.persons[p.victim].mfa {
        sim.mfa(who, t);
        t += rng.gen_range(2_000..30_000);
    }
    t
}

/// Searches, then exports `records` records in a few batches within minutes.
fn bulk_export(sim: &mut Sim, who: &Actor, mut t: i64, records: u32, rng: &mut SmallRng) {
    for _ in 0..rng.gen_range(1..=4) {
        t += rng.gen_range(5_000..90_000);
        sim.access(
            who,
            t,
            Action::Search,
            "patient_record",
            rng.gen_range(10..=150),
        );
    }
    let batches = rng.gen_range(1..=8u32).min(records.max(1));
    let mut left = records;
    for b in 0..batches {
        t += rng.gen_range(5_000..120_000);
        let n = if b + 1 == batches {
            left
        } else {
            // Uneven batches: tools page through results of varying sizes.
            let share = rng.gen_range(0.5..1.5) / (batches - b) as f64;
            ((left as f64 * share) as u32).clamp(1, left.saturating_sub(batches - b - 1).max(1))
        };
        left = left.saturating_sub(n);
        sim.access(who, t, Action::Export, "patient_record", n.max(1));
    }
}

fn low_and_slow(sim: &mut Sim, w: &World, p: &Plan, i: u32, day: u32, rng: &mut SmallRng) {
    let v = &w.persons[p.victim];
    if matches!(w.spec.shifts[v.shift].days, Days::Weekdays(_))
        && weekday(sim.day_start(day).div_euclid(DAY_MS)) >= 5
    {
        return;
    }
    let who = attacker(sim, w, p, i, day);
    let midnight = sim.day_start(day);
    let minute = p.minute + rng.gen_range(-60..60);
    let mut t = p.zone.at(midnight, minute).max(midnight) + rng.gen_range(0..60_000);
    let t0 = takeover_login(sim, w, p, &who, t, rng);
    t = t0;
    let records = w.spec.attacks.slow_records.count(rng).max(5);
    // A few dozen records a day: some read one by one, the rest in one export.
    let reads = rng.gen_range(0..=records.min(12));
    for _ in 0..reads {
        t += rng.gen_range(20_000..240_000);
        sim.access(&who, t, Action::Read, "patient_record", 1);
    }
    t += rng.gen_range(30_000..300_000);
    sim.access(&who, t, Action::Export, "patient_record", records - reads);
    sim.logout(&who, t + rng.gen_range(10_000..120_000));
}

fn brute_force(
    sim: &mut Sim,
    w: &World,
    p: &Plan,
    i: u32,
    day: u32,
    mut t: i64,
    rng: &mut SmallRng,
) {
    let mut who = attacker(sim, w, p, i, day);
    let session = who.session;
    who.session = 0;
    for _ in 0..p.n.attempts {
        sim.login(&who, t, Outcome::Failure, Some("bad_password"));
        t += (p.n.gap_ms as f64 * rng.gen_range(0.5..1.5)) as i64 + 200;
    }
    if p.n.accept {
        who.session = session;
        let t = takeover_login(sim, w, p, &who, t, rng);
        who.ua = NONE;
        bulk_export(sim, &who, t, p.n.records, rng);
    }
}

fn many_accounts(sim: &mut Sim, p: &Plan, i: u32, start: i64, rng: &mut SmallRng) {
    let spray = p.kind == AttackKind::PasswordSpraying;
    let rounds = if spray { p.n.rounds.max(1) } else { 1 };
    let mut t = start;
    let mut succeeded = false;
    let mut won = vec![false; p.targets.len()];
    for round in 0..rounds {
        for (n, &(name, tenant)) in p.targets.iter().enumerate() {
            if won[n] {
                continue;
            }
            let known = tenant != NONE;
            let ip = match p.proxies.choose(rng) {
                Some(&net) => sim.atlas.prefixes[net].random_addr(rng),
                None => p.ip,
            };
            let mut who = Actor {
                account: name,
                tenant,
                session: 0,
                ip,
                ua: p.ua,
                device: NONE,
                attack: i,
                label: NONE,
            };
            let tries = if !spray && rng.gen_bool(0.3) { 2 } else { 1 };
            for _ in 0..tries {
                // Reused or common passwords work for a few; the run's owner gets at least one.
                let last_chance = !succeeded && round + 1 == rounds && n + 3 >= p.targets.len();
                if known && (last_chance || chance(rng, p.n.success)) {
                    succeeded = true;
                    won[n] = true;
                    who.session = sim.new_session(true);
                    sim.login(&who, t, Outcome::Success, None);
                    who.ua = NONE;
                    let look = t + rng.gen_range(5_000..60_000);
                    sim.access(
                        &who,
                        look,
                        Action::Search,
                        "patient_record",
                        rng.gen_range(1..=25),
                    );
                    if rng.gen_bool(0.35) {
                        let records = rng.gen_range(20..=150);
                        let at = look + rng.gen_range(5_000..60_000);
                        sim.access(&who, at, Action::Export, "patient_record", records);
                    }
                    break;
                }
                let reason = if known {
                    "bad_password"
                } else {
                    "unknown_user"
                };
                sim.login(&who, t, Outcome::Failure, Some(reason));
                t += rng.gen_range(1_000..5_000);
            }
            t += (p.n.gap_ms as f64 * rng.gen_range(0.3..1.7)) as i64 + 500;
        }
        t += p.n.round_gap_ms;
    }
}

/// Replays the victim's longest session of the day from the attacker's address while it runs.
/// Returns false when the victim has no session of at least an hour today.
fn hijack(sim: &mut Sim, w: &World, p: &Plan, i: u32, day: u32, rng: &mut SmallRng) -> bool {
    let name = w.persons[p.victim].name;
    let day_start = sim.day_start(day);
    let mut best: Option<(u64, i64, i64)> = None;
    for e in sim
        .buf
        .iter()
        .filter(|e| e.account == name && e.attack == NONE && e.session != 0)
    {
        if e.kind == EventKind::Login && e.ts >= day_start {
            let end = sim
                .buf
                .iter()
                .filter(|x| x.session == e.session)
                .map(|x| x.ts)
                .max()
                .unwrap_or(e.ts);
            if end - e.ts >= 3_600_000 && best.is_none_or(|(_, s, en)| end - e.ts > en - s) {
                best = Some((e.session, e.ts, end));
            }
        }
    }
    let Some((session, start, end)) = best else {
        return false;
    };
    let who = Actor {
        account: name,
        tenant: w.persons[p.victim].tenant,
        session,
        ip: p.ip,
        ua: NONE,
        device: NONE,
        attack: i,
        label: NONE,
    };
    // While the owner is still at work: the stolen cookie is only good for a live session.
    let latest = (end - 600_000).max(start + 60_000);
    let t = (start + p.n.delay_ms).min(latest) + rng.gen_range(0..60_000);
    bulk_export(sim, &who, t, p.n.records, rng);
    true
}

/// Push after push until the victim accepts one (then an export) or the attacker gives up.
fn fatigue(sim: &mut Sim, w: &World, p: &Plan, i: u32, day: u32, t: i64, rng: &mut SmallRng) {
    let mut who = attacker(sim, w, p, i, day);
    sim.login(&who, t, Outcome::Success, None);
    let mut t = t + rng.gen_range(2_000..10_000);
    for _ in 0..p.n.attempts {
        let e = sim.push(&who, t, EventKind::Mfa);
        e.outcome = Some(Outcome::Failure);
        e.method = Some("push");
        e.failure_reason = Some(if rng.gen_bool(0.6) {
            "timeout"
        } else {
            "denied"
        });
        e.device = NONE;
        t += (p.n.gap_ms as f64 * rng.gen_range(0.5..1.5)) as i64 + 1_000;
    }
    if p.n.accept {
        sim.mfa(&who, t);
        who.ua = NONE;
        let t = t + rng.gen_range(5_000..60_000);
        bulk_export(sim, &who, t, p.n.records, rng);
    }
}
