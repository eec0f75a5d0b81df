//! The attacks `tocsin gen` injects, each labelled in the ground truth: planned once after the
//! population exists (victims, day, source network), played on their day alongside the honest
//! traffic. Every kind imitates what DOMAIN.md describes; none shares a victim with another,
//! so a detection names one attack.

use std::net::IpAddr;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::agent::Family;
use super::{Actor, Sim, NONE, WARM_UP_DAYS};
use crate::event::{Action, EventKind, Outcome};
use crate::world::NetKind;

/// The labelled attack kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttackKind {
    /// Valid password first try from a new device on a foreign hosting network, then bulk export.
    Infostealer,
    /// The same through a residential proxy in the victim's country, another city.
    ResidentialProxy,
    /// The attacker copies the victim's exact user agent, without its device id.
    UaCopy,
    /// One source, many accounts, one or two tries each, a few successes.
    CredentialStuffing,
    /// One source, every account of a few tenants, one common password, slowly.
    PasswordSpraying,
    /// One account, many failures, maybe a success.
    BruteForce,
    /// The victim's live session replayed from another country while it is in use.
    SessionHijack,
    /// A few dozen records exported per day over many days, office hours, new device.
    LowAndSlow,
    /// A dormant account wakes up somewhere new and exports.
    DormantTakeover,
    /// The password is known but the account asks for a push: the attacker sends push after
    /// push until the tired victim accepts one (or gives up). Not in the `classic` profile.
    MfaFatigue,
}

impl AttackKind {
    /// Every kind, in a fixed order.
    pub const ALL: [AttackKind; 10] = [
        AttackKind::Infostealer,
        AttackKind::ResidentialProxy,
        AttackKind::UaCopy,
        AttackKind::CredentialStuffing,
        AttackKind::PasswordSpraying,
        AttackKind::BruteForce,
        AttackKind::SessionHijack,
        AttackKind::LowAndSlow,
        AttackKind::DormantTakeover,
        AttackKind::MfaFatigue,
    ];

    /// The kinds the `classic` profile injects (it predates MFA fatigue, and its output is
    /// pinned byte for byte).
    pub const CLASSIC: [AttackKind; 9] = [
        AttackKind::Infostealer,
        AttackKind::ResidentialProxy,
        AttackKind::UaCopy,
        AttackKind::CredentialStuffing,
        AttackKind::PasswordSpraying,
        AttackKind::BruteForce,
        AttackKind::SessionHijack,
        AttackKind::LowAndSlow,
        AttackKind::DormantTakeover,
    ];

    /// The name used on the command line and in the truth.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackKind::Infostealer => "infostealer",
            AttackKind::ResidentialProxy => "residential_proxy",
            AttackKind::UaCopy => "ua_copy",
            AttackKind::CredentialStuffing => "credential_stuffing",
            AttackKind::PasswordSpraying => "password_spraying",
            AttackKind::BruteForce => "brute_force",
            AttackKind::SessionHijack => "session_hijack",
            AttackKind::LowAndSlow => "low_and_slow",
            AttackKind::DormantTakeover => "dormant_takeover",
            AttackKind::MfaFatigue => "mfa_fatigue",
        }
    }

    /// Parses a name (see [`AttackKind::as_str`]).
    pub fn parse(s: &str) -> Option<AttackKind> {
        AttackKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds that touch many accounts from one source.
    pub fn is_multi_account(self) -> bool {
        matches!(
            self,
            AttackKind::CredentialStuffing | AttackKind::PasswordSpraying
        )
    }

    /// Kinds that may have no session (failures only), matched by source or account and time.
    pub fn is_sessionless(self) -> bool {
        self.is_multi_account() || self == AttackKind::BruteForce
    }
}

/// One planned attack.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub id: String,
    pub kind: AttackKind,
    /// First day; moves forward for a hijack whose victim has no long session that day.
    pub day: u32,
    /// Last day (low-and-slow spans several).
    pub last_day: u32,
    /// Account index of the victim (first target for multi-account kinds).
    pub victim: u32,
    /// Name index of the account the truth names.
    pub primary: u32,
    /// Tenant index of the victim.
    pub tenant: u32,
    /// Name indexes of every target (multi-account kinds), with the tenant or `NONE`.
    pub targets: Vec<(u32, u32)>,
    /// The attacker's address.
    pub ip: IpAddr,
    /// The attacker's user agent.
    pub ua: u32,
    /// The attacker's device id.
    pub device: u32,
    /// Local minute the attack starts.
    pub minute: i64,
}

/// Attacks per kind: at least one, eight at 2,000 accounts.
pub fn per_kind(accounts: u32) -> u32 {
    accounts.div_ceil(250).max(1)
}

// Local minutes of the attack's start. Nights start at 02:00 local: earlier would fall on the
// previous UTC day, which has already been written out.
fn night_or_day(rng: &mut SmallRng, p_night: f64) -> i64 {
    if rng.gen_bool(p_night) {
        rng.gen_range(120..360)
    } else {
        rng.gen_range(540..1320)
    }
}

/// Plans every attack of `sim.cfg.attacks`. Runs shorter than the warm-up get none.
pub(crate) fn plan(sim: &mut Sim, rng: &mut SmallRng) -> Vec<Plan> {
    let days = sim.cfg.days;
    if days <= WARM_UP_DAYS {
        return Vec::new();
    }
    let n = per_kind(sim.cfg.accounts);
    let atlas = sim.atlas.clone();
    let atlas = &atlas;
    let hosting = atlas.select(|n, _| n.kind == NetKind::Hosting);
    let foreign_hosting = atlas.select(|n, _| n.kind == NetKind::Hosting && n.country != "FR");
    let foreign_home = atlas.select(|n, _| {
        matches!(n.kind, NetKind::Residential | NetKind::Mobile)
            && !matches!(n.country, "FR" | "BE" | "CH")
    });
    let vpns = atlas.select(|n, _| n.kind == NetKind::Vpn);
    let residential_fr = atlas.v4_of(NetKind::Residential);
    let residential_fr: Vec<usize> = residential_fr
        .into_iter()
        .filter(|&p| atlas.prefixes[p].network().country == "FR")
        .collect();

    // Victims: established, active accounts, each attacked once.
    let mut active: Vec<u32> = (0..sim.pop.accounts.len() as u32)
        .filter(|&a| {
            let acc = &sim.pop.accounts[a as usize];
            acc.created_day == 0 && acc.dormant_until.is_none()
        })
        .collect();
    active.shuffle(rng);
    let mut dormant: Vec<u32> = (0..sim.pop.accounts.len() as u32)
        .filter(|&a| sim.pop.accounts[a as usize].dormant_until == Some(u32::MAX))
        .collect();
    dormant.shuffle(rng);

    let mut plans = Vec::new();
    let mut kinds = sim.cfg.attacks.clone();
    kinds.retain(|k| AttackKind::CLASSIC.contains(k));
    kinds.sort();
    kinds.dedup();
    // Multi-account kinds draw from whoever single-victim kinds leave.
    kinds.sort_by_key(|k| k.is_multi_account());
    for kind in kinds {
        for _ in 0..n {
            // A hijack waits for a day its victim works, and low-and-slow spans days: leave
            // them room before the end of the run.
            let last_start = match kind {
                AttackKind::SessionHijack => (days - 1).saturating_sub(4).max(WARM_UP_DAYS),
                AttackKind::LowAndSlow => (days - 1).saturating_sub(2).max(WARM_UP_DAYS),
                _ => days - 1,
            };
            let day = match sim.cfg.attack_day {
                Some(d) => d.clamp(WARM_UP_DAYS, last_start),
                None => rng.gen_range(WARM_UP_DAYS..=last_start),
            };
            let pick = |rng: &mut SmallRng, nets: &[usize]| -> IpAddr {
                let p = *nets.choose(rng).unwrap_or(&0);
                atlas.prefixes[p].random_addr(rng)
            };
            let victim = if kind == AttackKind::DormantTakeover {
                match dormant.pop() {
                    Some(v) => v,
                    None => break,
                }
            } else if kind.is_multi_account() {
                NONE
            } else {
                match active.pop() {
                    Some(v) => v,
                    None => break,
                }
            };
            let mut last_day = day;
            let (ip, minute) = match kind {
                AttackKind::Infostealer => (pick(rng, &hosting), night_or_day(rng, 0.6)),
                AttackKind::ResidentialProxy => {
                    let home_city = atlas.prefixes[sim.pop.accounts[victim as usize].home_net]
                        .network()
                        .city;
                    let elsewhere: Vec<usize> = residential_fr
                        .iter()
                        .copied()
                        .filter(|&p| atlas.prefixes[p].network().city != home_city)
                        .collect();
                    (pick(rng, &elsewhere), night_or_day(rng, 0.5))
                }
                AttackKind::UaCopy => {
                    let nets = if rng.gen_bool(0.5) { &hosting } else { &vpns };
                    (pick(rng, nets), night_or_day(rng, 0.4))
                }
                AttackKind::CredentialStuffing | AttackKind::BruteForce => {
                    let nets = if rng.gen_bool(0.6) {
                        &hosting
                    } else {
                        &foreign_home
                    };
                    (pick(rng, nets), night_or_day(rng, 0.5))
                }
                AttackKind::PasswordSpraying => {
                    let nets = if rng.gen_bool(0.5) {
                        &vpns
                    } else {
                        &foreign_hosting
                    };
                    (pick(rng, nets), rng.gen_range(120..1440))
                }
                AttackKind::SessionHijack => {
                    let nets = if rng.gen_bool(0.5) {
                        &foreign_hosting
                    } else {
                        &foreign_home
                    };
                    (pick(rng, nets), 0)
                }
                AttackKind::LowAndSlow => {
                    last_day = (day + rng.gen_range(4..12)).min(days - 1);
                    let nets = if rng.gen_bool(0.6) {
                        &residential_fr
                    } else {
                        &vpns
                    };
                    (pick(rng, nets), rng.gen_range(600..1020))
                }
                // Not in CLASSIC: filtered out above.
                AttackKind::MfaFatigue => continue,
                AttackKind::DormantTakeover => {
                    let nets = match rng.gen_range(0..3) {
                        0 => &hosting,
                        1 => &foreign_home,
                        _ => &vpns,
                    };
                    (pick(rng, nets), night_or_day(rng, 0.5))
                }
            };
            let ua = match kind {
                AttackKind::CredentialStuffing
                | AttackKind::PasswordSpraying
                | AttackKind::BruteForce => sim.tool_ua(rng),
                // Copied from the victim when the attack plays.
                AttackKind::UaCopy => NONE,
                _ => {
                    let family = *[
                        Family::WindowsChrome,
                        Family::LinuxChrome,
                        Family::WindowsFirefox,
                        Family::LinuxFirefox,
                    ]
                    .choose(rng)
                    .unwrap_or(&Family::WindowsChrome);
                    // Attackers' browsers are often a few releases behind.
                    let lag = rng.gen_range(0..120);
                    sim.ua(family, day, lag)
                }
            };
            let keeps_device = match kind {
                AttackKind::LowAndSlow => true,
                AttackKind::Infostealer
                | AttackKind::ResidentialProxy
                | AttackKind::DormantTakeover => rng.gen_bool(0.3),
                _ => false,
            };
            let device = if keeps_device {
                super::population::new_device_id(&mut sim.pop.device_ids, rng)
            } else {
                NONE
            };
            let mut targets = Vec::new();
            let (primary, tenant) = if kind.is_multi_account() {
                targets = multi_targets(sim, kind, &active, rng);
                match targets.first() {
                    Some(&(name, t)) => (name, t),
                    None => break,
                }
            } else {
                let acc = &sim.pop.accounts[victim as usize];
                (acc.name, acc.tenant)
            };
            plans.push(Plan {
                id: format!("atk-{:03}", plans.len() + 1),
                kind,
                day,
                last_day,
                victim,
                primary,
                tenant,
                targets,
                ip,
                ua,
                device,
                minute,
            });
        }
    }
    plans
}

/// Targets of a stuffing list (accounts of many tenants plus addresses that are not accounts
/// here) or of a spraying run (every account of one to three tenants).
fn multi_targets(
    sim: &mut Sim,
    kind: AttackKind,
    pool: &[u32],
    rng: &mut SmallRng,
) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    if kind == AttackKind::CredentialStuffing {
        let n = rng.gen_range(40..150).min(pool.len());
        let start = rng.gen_range(0..=pool.len() - n);
        for &a in &pool[start..start + n] {
            let acc = &sim.pop.accounts[a as usize];
            out.push((acc.name, acc.tenant));
            // A leaked list holds addresses that were never accounts here.
            if rng.gen_bool(0.4) {
                let base = &sim.pop.names[acc.name as usize];
                let fake = match base.split_once('@') {
                    Some((u, h)) => format!("{u}.{}@{h}", rng.gen_range(10..99)),
                    None => format!("{base}.{}", rng.gen_range(10..99)),
                };
                sim.pop.names.push(fake);
                out.push(((sim.pop.names.len() - 1) as u32, NONE));
            }
        }
        out.shuffle(rng);
    } else {
        // Victims of other attacks are left out so that every alert names one attack.
        let mut free = vec![false; sim.pop.accounts.len()];
        for &a in pool.iter() {
            free[a as usize] = true;
        }
        let mut big: Vec<u32> = (0..sim.pop.tenants.len() as u32)
            .filter(|&t| sim.pop.tenants[t as usize].members.len() >= 8)
            .collect();
        big.shuffle(rng);
        for &t in big.iter().take(rng.gen_range(1..=3)) {
            let members = &sim.pop.tenants[t as usize].members;
            let mut taken = 0;
            for &a in members {
                if taken < 80 && free[a as usize] {
                    out.push((sim.pop.accounts[a as usize].name, t));
                    free[a as usize] = false;
                    taken += 1;
                }
            }
        }
    }
    out
}

/// Plays every attack that falls on `day`.
pub(crate) fn play_day(sim: &mut Sim, plans: &mut [Plan], day: u32, rng: &mut SmallRng) {
    for (i, p) in plans.iter_mut().enumerate() {
        if day < p.day || day > p.last_day {
            continue;
        }
        let i = i as u32;
        match p.kind {
            AttackKind::Infostealer
            | AttackKind::ResidentialProxy
            | AttackKind::UaCopy
            | AttackKind::DormantTakeover => {
                let mut who = attacker(sim, p, i, day);
                let t = sim.local(day, p.minute) + rng.gen_range(0..60_000);
                sim.login(&who, t, Outcome::Success, None);
                let mut t = t + rng.gen_range(3_000..20_000);
                if sim.pop.accounts[p.victim as usize].mfa {
                    // A push accepted by a tired victim, or a stolen MFA-backed cookie.
                    sim.mfa(&who, t);
                    t += rng.gen_range(2_000..30_000);
                }
                who.ua = NONE;
                let records = match p.kind {
                    AttackKind::DormantTakeover => rng.gen_range(100..1000),
                    _ => rng.gen_range(200..3000),
                };
                bulk_export(sim, &who, t, records, rng);
            }
            AttackKind::LowAndSlow => {
                let who = attacker(sim, p, i, day);
                let t =
                    sim.local(day, p.minute + rng.gen_range(-90..90)) + rng.gen_range(0..60_000);
                sim.login(&who, t, Outcome::Success, None);
                let mut t = t + rng.gen_range(5_000..30_000);
                if sim.pop.accounts[p.victim as usize].mfa {
                    sim.mfa(&who, t);
                }
                for _ in 0..rng.gen_range(1..=3) {
                    t += rng.gen_range(30_000..300_000);
                    sim.access(&who, t, Action::Read, "patient_record", 1);
                }
                t += rng.gen_range(30_000..300_000);
                sim.access(
                    &who,
                    t,
                    Action::Export,
                    "patient_record",
                    rng.gen_range(20..=60),
                );
                sim.logout(&who, t + rng.gen_range(10_000..120_000));
            }
            AttackKind::BruteForce => {
                let mut who = attacker(sim, p, i, day);
                let mut t = sim.local(day, p.minute) + rng.gen_range(0..60_000);
                for _ in 0..rng.gen_range(20..200) {
                    sim.login(&who, t, Outcome::Failure, Some("bad_password"));
                    t += rng.gen_range(2_000..20_000);
                }
                if rng.gen_bool(0.4) {
                    who.session = sim.new_session(true);
                    sim.login(&who, t, Outcome::Success, None);
                    who.ua = NONE;
                    bulk_export(
                        sim,
                        &who,
                        t + rng.gen_range(5_000..60_000),
                        rng.gen_range(50..300),
                        rng,
                    );
                }
            }
            AttackKind::CredentialStuffing | AttackKind::PasswordSpraying => {
                let spray = p.kind == AttackKind::PasswordSpraying;
                let mut t = sim.local(day, p.minute) + rng.gen_range(0..60_000);
                let mut succeeded = false;
                for (n, &(name, tenant)) in p.targets.iter().enumerate() {
                    let known = tenant != NONE;
                    let mut who = Actor {
                        account: name,
                        tenant,
                        session: 0,
                        ip: p.ip,
                        ua: p.ua,
                        device: NONE,
                        attack: i,
                        label: NONE,
                    };
                    let tries = if !spray && rng.gen_bool(0.3) { 2 } else { 1 };
                    for _ in 0..tries {
                        // Reused or common passwords work for a few; guarantee the list's
                        // owner at least one, as real campaigns do by volume.
                        let last_chance = !succeeded && n + 3 >= p.targets.len();
                        let p_success = if spray { 0.05 } else { 0.04 };
                        if known && (last_chance || rng.gen_bool(p_success)) {
                            succeeded = true;
                            who.session = sim.new_session(true);
                            sim.login(&who, t, Outcome::Success, None);
                            who.ua = NONE;
                            let look = t + rng.gen_range(5_000..60_000);
                            sim.access(
                                &who,
                                look,
                                Action::Search,
                                "patient_record",
                                rng.gen_range(1..=10),
                            );
                            if rng.gen_bool(0.3) {
                                sim.access(
                                    &who,
                                    look + rng.gen_range(5_000..60_000),
                                    Action::Export,
                                    "patient_record",
                                    rng.gen_range(20..=80),
                                );
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
                    t += if spray {
                        rng.gen_range(60_000..300_000)
                    } else {
                        rng.gen_range(2_000..20_000)
                    };
                }
            }
            AttackKind::MfaFatigue => {}
            AttackKind::SessionHijack => {
                if !hijack(sim, p, i, day, rng) {
                    // No long session for the victim today: try the next day.
                    if p.day + 1 < sim.cfg.days {
                        p.day += 1;
                        p.last_day += 1;
                    }
                }
            }
        }
    }
}

/// The attacker's session context for single-victim kinds (a fresh session each call).
fn attacker(sim: &mut Sim, p: &Plan, i: u32, day: u32) -> Actor {
    let acc = &sim.pop.accounts[p.victim as usize];
    let (name, tenant, desk) = (acc.name, acc.tenant, acc.desk);
    let ua = if p.kind == AttackKind::UaCopy {
        sim.device_ua(p.victim, desk, day).0
    } else {
        p.ua
    };
    Actor {
        account: name,
        tenant,
        session: if p.kind == AttackKind::BruteForce {
            0
        } else {
            sim.new_session(true)
        },
        ip: p.ip,
        ua,
        device: p.device,
        attack: i,
        label: NONE,
    }
}

/// Searches, then exports `records` records in a few large batches within minutes.
fn bulk_export(sim: &mut Sim, who: &Actor, mut t: i64, records: u32, rng: &mut SmallRng) {
    for _ in 0..rng.gen_range(1..=4) {
        t += rng.gen_range(5_000..60_000);
        sim.access(
            who,
            t,
            Action::Search,
            "patient_record",
            rng.gen_range(20..=100),
        );
    }
    let batches = rng.gen_range(2..=6u32).min(records);
    let mut left = records;
    for b in 0..batches {
        t += rng.gen_range(10_000..60_000);
        let n = if b + 1 == batches {
            left
        } else {
            records / batches
        };
        left -= n;
        sim.access(who, t, Action::Export, "patient_record", n);
    }
}

/// Replays the victim's longest session of the day from the attacker's address while it runs.
/// Returns false when the victim has no session of at least an hour today.
fn hijack(sim: &mut Sim, p: &Plan, i: u32, day: u32, rng: &mut SmallRng) -> bool {
    let name = sim.pop.accounts[p.victim as usize].name;
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
    let Some((session, start, _)) = best else {
        return false;
    };
    let who = Actor {
        account: name,
        tenant: sim.pop.accounts[p.victim as usize].tenant,
        session,
        ip: p.ip,
        ua: NONE,
        device: NONE,
        attack: i,
        label: NONE,
    };
    let t = start + rng.gen_range(600_000..2_400_000);
    bulk_export(sim, &who, t, rng.gen_range(100..800), rng);
    true
}
