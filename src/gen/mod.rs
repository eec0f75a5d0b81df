//! Realistic synthetic traffic with labelled attacks (`tocsin gen`).
//!
//! [`generate`] builds a population of tenants and accounts ([`population`]), then plays the
//! run day by day: each account's sessions for the day (logins with the odd typo, MFA, record
//! reads, searches, prints, rare exports, logout), the attacks scheduled that day
//! ([`attack`]), sorted by time and handed to a sink. Only one day (plus the sessions that run
//! past midnight) is in memory at a time, so runs of tens of millions of events stay small.
//!
//! Everything comes from the seed: the same [`GenConfig`] gives the same bytes. Separate random
//! streams for the population, each day's honest traffic and the attacks mean that choosing
//! other attack kinds leaves the honest traffic unchanged.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::event::{Action, Event, EventKind, Outcome};
use crate::timefmt::{self, days_from_civil, DAY_MS};

pub mod agent;
pub mod attack;
pub mod net;
pub mod population;
pub mod truth;

pub use attack::AttackKind;
pub use truth::{AttackTruth, Truth, TruthEvent, TruthSummary};

use agent::Family;
use net::Atlas;
use population::{Account, Population, Role, Shift, TenantKind};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Accounts in the population.
    pub accounts: u32,
    /// Days of traffic.
    pub days: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Attack kinds to inject (empty: none).
    pub attacks: Vec<AttackKind>,
    /// First day, epoch milliseconds (UTC midnight).
    pub start_ms: i64,
    /// Day (0-based) on which every attack starts, instead of a random day after the warm-up;
    /// kept within the warm-up and the run. `tocsin demo` puts its takeover on the day it plays.
    pub attack_day: Option<u32>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            accounts: 2000,
            days: 30,
            seed: 1,
            attacks: AttackKind::ALL.to_vec(),
            // Monday 2025-11-03, the month of the incident in DOMAIN.md.
            start_ms: days_from_civil(2025, 11, 3) * DAY_MS,
            attack_day: None,
        }
    }
}

/// Days of honest traffic before the first attack, so baselines have something to learn.
pub const WARM_UP_DAYS: u32 = 7;

/// What a run produced: the ground truth (attacks and totals).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenSummary {
    /// Ground truth of the run.
    pub truth: Truth,
}

const NONE: u32 = u32::MAX;

/// One event as the simulation holds it: indexes into string tables instead of strings, so
/// building a day allocates nothing per event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ev {
    pub ts: i64,
    pub seq: u64,
    pub kind: EventKind,
    pub outcome: Option<Outcome>,
    pub action: Option<Action>,
    pub count: u32,
    /// Index into the name table.
    pub account: u32,
    pub tenant: u32,
    /// 0 = no session.
    pub session: u64,
    pub ip: Option<IpAddr>,
    pub ua: u32,
    pub device: u32,
    pub method: Option<&'static str>,
    pub failure_reason: Option<&'static str>,
    pub resource: Option<&'static str>,
    /// Index into the attack table, `NONE` for honest traffic.
    pub attack: u32,
}

/// Who an event is from: the fields a session shares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Actor {
    pub account: u32,
    pub tenant: u32,
    pub session: u64,
    pub ip: IpAddr,
    pub ua: u32,
    pub device: u32,
    pub attack: u32,
}

/// The simulation state shared by honest traffic and attacks.
pub(crate) struct Sim {
    pub cfg: GenConfig,
    pub atlas: Atlas,
    pub pop: Population,
    pub uas: Vec<String>,
    ua_cache: HashMap<(Family, i64), u32>,
    tool_uas: Vec<u32>,
    pub buf: Vec<Ev>,
    seq: u64,
    legit_sessions_opened: u64,
    attack_sessions_opened: u64,
    pub legit_logins: u64,
    pub legit_sessions: u64,
    scratch: Vec<i64>,
}

impl Sim {
    /// UTC midnight of run day `day`.
    pub fn day_start(&self, day: u32) -> i64 {
        self.cfg.start_ms + day as i64 * DAY_MS
    }

    /// Epoch milliseconds of local (Paris) minute `minute` of run day `day`; minutes past
    /// 24 h fall on the next day.
    pub fn local(&self, day: u32, minute: i64) -> i64 {
        let midnight = self.day_start(day);
        midnight + minute * 60_000 - paris_offset_min(midnight) * 60_000
    }

    pub fn push(&mut self, who: &Actor, ts: i64, kind: EventKind) -> &mut Ev {
        self.seq += 1;
        self.buf.push(Ev {
            ts,
            seq: self.seq,
            kind,
            outcome: None,
            action: None,
            count: 1,
            account: who.account,
            tenant: who.tenant,
            session: who.session,
            ip: Some(who.ip),
            ua: who.ua,
            device: who.device,
            method: None,
            failure_reason: None,
            resource: None,
            attack: who.attack,
        });
        let last = self.buf.len() - 1;
        &mut self.buf[last]
    }

    pub fn login(&mut self, who: &Actor, ts: i64, outcome: Outcome, reason: Option<&'static str>) {
        let e = self.push(who, ts, EventKind::Login);
        e.outcome = Some(outcome);
        e.method = Some("password");
        e.failure_reason = reason;
        if outcome == Outcome::Failure {
            e.session = 0;
        }
    }

    pub fn access(&mut self, who: &Actor, ts: i64, action: Action, resource: &'static str, n: u32) {
        let e = self.push(who, ts, EventKind::Access);
        e.action = Some(action);
        e.resource = Some(resource);
        e.count = n.max(1);
        e.ua = NONE;
        e.device = NONE;
    }

    pub fn mfa(&mut self, who: &Actor, ts: i64) {
        let e = self.push(who, ts, EventKind::Mfa);
        e.outcome = Some(Outcome::Success);
        e.method = Some("push");
        e.device = NONE;
    }

    pub fn logout(&mut self, who: &Actor, ts: i64) {
        let e = self.push(who, ts, EventKind::Logout);
        e.ua = NONE;
        e.device = NONE;
    }

    /// A new session number. Attack sessions live in their own number space so that the
    /// honest traffic's session ids do not depend on which attacks run.
    pub fn new_session(&mut self, attack: bool) -> u64 {
        if attack {
            self.attack_sessions_opened += 1;
            (1 << 63) | self.attack_sessions_opened
        } else {
            self.legit_sessions_opened += 1;
            self.legit_sessions_opened
        }
    }

    /// Interns the user agent `family` sends on run day `day` shifted by `lag` days.
    pub fn ua(&mut self, family: Family, day: u32, lag: i64) -> u32 {
        let civil = self.day_start(day).div_euclid(DAY_MS) - lag;
        let key = (family, agent::version_key(family, civil));
        if let Some(&i) = self.ua_cache.get(&key) {
            return i;
        }
        let mut s = String::with_capacity(140);
        agent::write_user_agent(family, civil, &mut s);
        self.uas.push(s);
        let i = (self.uas.len() - 1) as u32;
        self.ua_cache.insert(key, i);
        i
    }

    /// Interns a fixed user agent (scripted clients).
    pub fn tool_ua(&mut self, rng: &mut impl Rng) -> u32 {
        *self.tool_uas.choose(rng).unwrap_or(&NONE)
    }

    /// The user agent and device id an account's device sends on `day`.
    pub fn device_ua(&mut self, a: u32, dev: usize, day: u32) -> (u32, u32) {
        let d = &self.pop.accounts[a as usize].devices[dev];
        let (family, lag, id, keeps) = (d.family, d.update_lag, d.id, d.keeps_id);
        (self.ua(family, day, lag), if keeps { id } else { NONE })
    }

    /// Random sorted offsets in `[lo, hi)`, in a reused buffer.
    fn offsets(&mut self, rng: &mut impl Rng, n: usize, lo: i64, hi: i64) -> Vec<i64> {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        let hi = hi.max(lo + 1);
        v.extend((0..n).map(|_| rng.gen_range(lo..hi)));
        v.sort_unstable();
        v
    }

    fn give_back(&mut self, v: Vec<i64>) {
        self.scratch = v;
    }
}

/// Offset of Paris from UTC at `ms`, in minutes (EU rule: summer time from the last Sunday of
/// March to the last Sunday of October, 01:00 UTC).
pub fn paris_offset_min(ms: i64) -> i64 {
    let day = ms.div_euclid(DAY_MS);
    let (y, _, _) = timefmt::civil_from_days(day);
    let last_sunday = |m: u32| {
        let d31 = days_from_civil(y, m, 31);
        d31 - (weekday(d31) + 1) % 7
    };
    let summer_start = last_sunday(3) * DAY_MS + 3_600_000;
    let summer_end = last_sunday(10) * DAY_MS + 3_600_000;
    if ms >= summer_start && ms < summer_end {
        120
    } else {
        60
    }
}

/// Day of the week of a day number, Monday = 0.
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// French public holidays with a fixed date (Easter-based ones are left out).
fn is_public_holiday(day: i64) -> bool {
    let (_, m, d) = timefmt::civil_from_days(day);
    matches!(
        (m, d),
        (1, 1) | (5, 1) | (5, 8) | (7, 14) | (8, 15) | (11, 1) | (11, 11) | (12, 25)
    )
}

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser: a bijection, so distinct session numbers give distinct ids.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn stream(seed: u64, purpose: u64, n: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(
        seed ^ mix(purpose.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n)
    ))
}

/// Generates the traffic of `cfg` in time order, handing each event to `sink`, and returns the
/// ground truth. Stops at the first error `sink` returns.
pub fn generate(
    cfg: &GenConfig,
    sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
) -> io::Result<GenSummary> {
    let atlas = Atlas::new();
    let pop = Population::build(&atlas, cfg.accounts, cfg.days, &mut stream(cfg.seed, 1, 0));
    let mut sim = Sim {
        cfg: cfg.clone(),
        atlas,
        pop,
        uas: Vec::new(),
        ua_cache: HashMap::new(),
        tool_uas: Vec::new(),
        buf: Vec::new(),
        seq: 0,
        legit_sessions_opened: 0,
        attack_sessions_opened: 0,
        legit_logins: 0,
        legit_sessions: 0,
        scratch: Vec::new(),
    };
    for ua in agent::TOOL_AGENTS {
        sim.uas.push((*ua).to_string());
        sim.tool_uas.push((sim.uas.len() - 1) as u32);
    }
    let mut attack_rng = stream(cfg.seed, 2, 0);
    let mut plans = attack::plan(&mut sim, &mut attack_rng);
    let mut out = Emitter::new(cfg.seed, &plans, &sim);
    for day in 0..cfg.days {
        let mut rng = stream(cfg.seed, 3, day as u64);
        life_events(&mut sim, day, &mut rng);
        for a in 0..sim.pop.accounts.len() as u32 {
            account_day(&mut sim, a, day, &mut rng);
        }
        attack::play_day(&mut sim, &mut plans, day, &mut attack_rng);
        let end = if day + 1 == cfg.days {
            i64::MAX
        } else {
            sim.day_start(day + 1)
        };
        out.flush_until(&mut sim, end, sink)?;
    }
    let summary = TruthSummary {
        events: out.events,
        legit_logins: sim.legit_logins,
        legit_sessions: sim.legit_sessions,
        accounts: sim.pop.accounts.len() as u32,
        days: cfg.days,
        seed: cfg.seed,
    };
    let attacks = out
        .truth
        .into_iter()
        .filter(|a| !a.events.is_empty())
        .collect();
    Ok(GenSummary {
        truth: Truth { attacks, summary },
    })
}

/// Turns simulated events into native events, assigns ids, and records the truth.
struct Emitter {
    seed_salt: u64,
    events: u64,
    truth: Vec<AttackTruth>,
    id: String,
    session: String,
    order: Vec<(i64, u64, u32)>,
    carry: Vec<Ev>,
}

impl Emitter {
    fn new(seed: u64, plans: &[attack::Plan], sim: &Sim) -> Emitter {
        let truth = plans
            .iter()
            .map(|p| AttackTruth {
                record: "attack".into(),
                id: p.id.clone(),
                kind: p.kind.as_str().into(),
                account: sim.pop.names[p.primary as usize].clone(),
                accounts: Vec::new(),
                tenant: (p.tenant != NONE).then(|| sim.pop.tenant_name(p.tenant).to_string()),
                sessions: Vec::new(),
                source_ips: Vec::new(),
                start: String::new(),
                end: String::new(),
                events: Vec::new(),
            })
            .collect();
        Emitter {
            seed_salt: mix(seed ^ 0x5e55_1011),
            events: 0,
            truth,
            id: String::with_capacity(16),
            session: String::with_capacity(24),
            order: Vec::new(),
            carry: Vec::new(),
        }
    }

    fn flush_until(
        &mut self,
        sim: &mut Sim,
        end: i64,
        sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        // Sort small keys rather than the events themselves: moving 100-byte events around
        // cost more than everything else the generator does.
        self.order.clear();
        self.order.extend(
            sim.buf
                .iter()
                .enumerate()
                .map(|(i, e)| (e.ts, e.seq, i as u32)),
        );
        self.order.sort_unstable();
        let cut = self.order.partition_point(|&(ts, _, _)| ts < end);
        let order = std::mem::take(&mut self.order);
        for &(_, _, i) in &order[..cut] {
            self.emit(sim, &sim.buf[i as usize], sink)?;
        }
        self.order = order;
        // Sessions running past the cut wait for the next day, in order.
        self.carry.clear();
        self.carry.extend(
            self.order[cut..]
                .iter()
                .map(|&(_, _, i)| sim.buf[i as usize]),
        );
        std::mem::swap(&mut sim.buf, &mut self.carry);
        Ok(())
    }

    fn emit(
        &mut self,
        sim: &Sim,
        ev: &Ev,
        sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.events += 1;
        self.id.clear();
        self.id.push('e');
        push_hex(&mut self.id, self.events, 1);
        self.session.clear();
        if ev.session != 0 {
            self.session.push_str("s-");
            push_hex(&mut self.session, mix(ev.session ^ self.seed_salt), 16);
        }
        let names = &sim.pop.names;
        let event = Event {
            ts_ms: ev.ts,
            kind: ev.kind,
            outcome: ev.outcome,
            account: Cow::Borrowed(&names[ev.account as usize]),
            tenant: (ev.tenant != NONE).then(|| Cow::Borrowed(sim.pop.tenant_name(ev.tenant))),
            session: (ev.session != 0).then_some(Cow::Borrowed(self.session.as_str())),
            ip: ev.ip,
            user_agent: (ev.ua != NONE).then(|| Cow::Borrowed(sim.uas[ev.ua as usize].as_str())),
            device_id: (ev.device != NONE)
                .then(|| Cow::Borrowed(sim.pop.device_ids[ev.device as usize].as_str())),
            method: ev.method.map(Cow::Borrowed),
            failure_reason: ev.failure_reason.map(Cow::Borrowed),
            action: ev.action,
            resource: ev.resource.map(Cow::Borrowed),
            count: ev.count,
            id: Some(Cow::Borrowed(self.id.as_str())),
        };
        sink(&event)?;
        if ev.attack != NONE {
            record(&mut self.truth, &self.id, ev, &event);
        }
        Ok(())
    }
}

/// Appends `v` in lower-case hex, zero-padded to `width` digits. Ids and sessions are written
/// for every event: `core::fmt` showed up in profiles.
fn push_hex(out: &mut String, v: u64, width: u32) {
    let digits = (16 - v.leading_zeros() / 4).max(width).min(16);
    for i in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[((v >> (i * 4)) & 0xf) as usize],
        ));
    }
}

/// Adds an attack event to its attack's truth.
fn record(truth: &mut [AttackTruth], id: &str, ev: &Ev, event: &Event<'_>) {
    let Some(t) = truth.get_mut(ev.attack as usize) else {
        return;
    };
    let ts = timefmt::rfc3339(ev.ts);
    if t.events.is_empty() {
        t.start = ts.clone();
    }
    t.end = ts.clone();
    if let Some(s) = &event.session {
        if !t.sessions.iter().any(|x| x == s) {
            t.sessions.push(s.to_string());
        }
    }
    if let Some(ip) = ev.ip {
        let ip = ip.to_string();
        if !t.source_ips.contains(&ip) {
            t.source_ips.push(ip);
        }
    }
    let kind = AttackKind::parse(&t.kind);
    if kind.is_some_and(|k| k.is_multi_account())
        && !t.accounts.iter().any(|a| a == &*event.account)
    {
        t.accounts.push(event.account.to_string());
    }
    t.events.push(TruthEvent {
        id: id.to_string(),
        ts,
        count: if ev.kind == EventKind::Access {
            ev.count
        } else {
            0
        },
        kind: ev.kind.as_str().into(),
        account: event.account.to_string(),
        outcome: ev.outcome.map(|o| o.as_str().into()),
    });
}

/// Things that change overnight: home routers renumbered, phones replaced.
fn life_events(sim: &mut Sim, day: u32, rng: &mut SmallRng) {
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

fn account_day(sim: &mut Sim, a: u32, day: u32, rng: &mut SmallRng) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_match_the_formatter() {
        for v in [0u64, 1, 0xab, 0x1234_5678_9abc_def0, u64::MAX] {
            let mut s = String::new();
            push_hex(&mut s, v, 1);
            assert_eq!(s, format!("{v:x}"));
            s.clear();
            push_hex(&mut s, v, 16);
            assert_eq!(s, format!("{v:016x}"));
        }
    }

    #[test]
    fn paris_switches_to_winter_time_on_the_last_sunday_of_october() {
        let oct25 = days_from_civil(2025, 10, 25) * DAY_MS;
        let oct27 = days_from_civil(2025, 10, 27) * DAY_MS;
        assert_eq!(paris_offset_min(oct25), 120);
        assert_eq!(paris_offset_min(oct27), 60);
        assert_eq!(weekday(days_from_civil(2025, 11, 3)), 0);
    }

    #[test]
    fn attack_day_puts_every_attack_on_that_day() {
        let cfg = GenConfig {
            accounts: 120,
            days: 12,
            seed: 5,
            attacks: vec![AttackKind::Infostealer, AttackKind::BruteForce],
            attack_day: Some(11),
            ..GenConfig::default()
        };
        let truth = generate(&cfg, &mut |_| Ok(())).unwrap().truth;
        assert!(!truth.attacks.is_empty());
        let day = timefmt::rfc3339(cfg.start_ms + 11 * DAY_MS);
        for a in &truth.attacks {
            assert_eq!(a.start[..10], day[..10], "{} starts on {}", a.id, a.start);
        }
    }
}
