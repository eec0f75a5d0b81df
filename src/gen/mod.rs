//! Realistic synthetic traffic with labelled attacks (`tocsin gen`).
//!
//! [`generate_profile`] builds a population of tenants and accounts, then plays the run day by
//! day: each account's sessions for the day (logins, MFA, record reads, searches, prints,
//! exports, logout), the attacks scheduled that day, sorted by time and handed to a sink. Only
//! one day (plus the sessions that run past midnight) is in memory at a time, so runs of tens
//! of millions of events stay small. This module owns that machinery (the event buffer, the
//! emitter that numbers events and records the ground truth); what the traffic looks like is
//! the profile's.
//!
//! # Profiles
//!
//! - `classic` ([`generate`], the default): the French medical SaaS `tocsin gen` has always
//!   produced ([`classic`], [`population`], [`attack`]), with fixed habits. Its bytes are
//!   pinned: tests, the demo and the benches depend on them.
//! - `tune` and `holdout` ([`profile`]): two independently designed customer bases — a French
//!   medical SaaS (France, Belgium, Switzerland) and an Iberian one (Spain, Portugal, travel to
//!   Latin America) — with other carriers, hours, data-access habits and proportions. Every
//!   parameter is drawn from a distribution, so no rule can sit just under a constant, and every
//!   honest look-alike family ([`family::Lookalike`]) and attack variant is present and
//!   labelled in the truth. **Detection is tuned on `tune` and reported on `holdout`**: a figure
//!   measured on the profile it was tuned on says little about traffic nobody tuned for.
//!
//! Everything comes from the seed: the same [`GenConfig`] and profile give the same bytes.
//! Separate random streams for the population, each day's honest traffic and the attacks mean
//! that choosing other attack kinds leaves the honest traffic unchanged.

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
mod classic;
pub mod dist;
pub mod family;
pub mod net;
pub mod population;
pub mod profile;
pub mod truth;
pub mod tz;

pub use attack::AttackKind;
pub use family::Lookalike;
pub use profile::Profile;
pub use truth::{AttackLabel, AttackTruth, Labels, SessionTruth, Truth, TruthEvent, TruthSummary};

use agent::Family;
use net::Atlas;
use population::Population;

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

/// What a run produced: the ground truth (attacks and totals) and, for the profiles that label
/// them, the honest sessions' look-alike families and the attacks' variants.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenSummary {
    /// Ground truth of the run.
    pub truth: Truth,
    /// Labels (empty for `classic`).
    pub labels: Labels,
}

const NONE: u32 = u32::MAX;

/// An honest session's look-alike families ([`Lookalike`] bits), kept until it is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionLabel {
    /// Index into the name table.
    pub account: u32,
    /// Session number (as [`Sim::new_session`] gave it).
    pub session: u64,
    /// [`Lookalike`] bits; 0 = an ordinary session, not written.
    pub families: u32,
}

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
    /// Index into [`Sim::labels`], `NONE` for unlabelled traffic. Failed logins before a
    /// session carry their session's label, so the truth's session starts at them.
    pub label: u32,
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
    pub label: u32,
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
    /// Look-alike labels of honest sessions, by label id.
    pub labels: Vec<SessionLabel>,
}

impl Sim {
    fn new(cfg: &GenConfig, atlas: Atlas, pop: Population) -> Sim {
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
            labels: Vec::new(),
        };
        for ua in agent::TOOL_AGENTS {
            sim.uas.push((*ua).to_string());
            sim.tool_uas.push((sim.uas.len() - 1) as u32);
        }
        sim
    }

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
            label: who.label,
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

    /// Interns a literal user agent (integrations, scripts); a linear search, for the few
    /// strings a population has.
    pub fn literal_ua(&mut self, ua: &str) -> u32 {
        if let Some(i) = self.uas.iter().position(|u| u == ua) {
            return i as u32;
        }
        self.uas.push(ua.to_string());
        (self.uas.len() - 1) as u32
    }

    /// A new label for an honest session (families filled in while the session is built).
    pub fn new_label(&mut self, account: u32, session: u64, families: u32) -> u32 {
        self.labels.push(SessionLabel {
            account,
            session,
            families,
        });
        (self.labels.len() - 1) as u32
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
    pub(crate) fn offsets(&mut self, rng: &mut impl Rng, n: usize, lo: i64, hi: i64) -> Vec<i64> {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        let hi = hi.max(lo + 1);
        v.extend((0..n).map(|_| rng.gen_range(lo..hi)));
        v.sort_unstable();
        v
    }

    pub(crate) fn give_back(&mut self, v: Vec<i64>) {
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

pub(crate) fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser: a bijection, so distinct session numbers give distinct ids.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn stream(seed: u64, purpose: u64, n: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(
        seed ^ mix(purpose.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n)
    ))
}

/// Generates the `classic` traffic of `cfg` in time order, handing each event to `sink`, and
/// returns the ground truth. Stops at the first error `sink` returns.
pub fn generate(
    cfg: &GenConfig,
    sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
) -> io::Result<GenSummary> {
    generate_profile(cfg, Profile::Classic, sink)
}

/// Generates the traffic of `cfg` as `profile` describes it, in time order, handing each event
/// to `sink`; returns the ground truth and the labels. Stops at the first error `sink` returns.
pub fn generate_profile(
    cfg: &GenConfig,
    profile: Profile,
    sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
) -> io::Result<GenSummary> {
    match profile.spec() {
        Some(spec) => profile::run(cfg, spec, sink),
        None => generate_classic(cfg, sink),
    }
}

fn generate_classic(
    cfg: &GenConfig,
    sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
) -> io::Result<GenSummary> {
    let atlas = Atlas::new();
    let pop = Population::build(&atlas, cfg.accounts, cfg.days, &mut stream(cfg.seed, 1, 0));
    let mut sim = Sim::new(cfg, atlas, pop);
    let mut attack_rng = stream(cfg.seed, 2, 0);
    let mut plans = attack::plan(&mut sim, &mut attack_rng);
    let skeletons = plans
        .iter()
        .map(|p| attack_skeleton(&sim, &p.id, p.kind, p.primary, p.tenant))
        .collect();
    let mut out = Emitter::new(cfg.seed, skeletons);
    for day in 0..cfg.days {
        let mut rng = stream(cfg.seed, 3, day as u64);
        classic::life_events(&mut sim, day, &mut rng);
        for a in 0..sim.pop.accounts.len() as u32 {
            classic::account_day(&mut sim, a, day, &mut rng);
        }
        attack::play_day(&mut sim, &mut plans, day, &mut attack_rng);
        let end = day_end(&sim, day);
        out.flush_until(&mut sim, end, sink)?;
    }
    let accounts = sim.pop.accounts.len() as u32;
    Ok(out.finish(&sim, accounts, Vec::new()))
}

/// Where the events of run day `day` stop: the next UTC midnight, or never after the last day.
pub(crate) fn day_end(sim: &Sim, day: u32) -> i64 {
    if day + 1 == sim.cfg.days {
        i64::MAX
    } else {
        sim.day_start(day + 1)
    }
}

/// An attack's truth record before any of its events is written.
pub(crate) fn attack_skeleton(
    sim: &Sim,
    id: &str,
    kind: AttackKind,
    primary: u32,
    tenant: u32,
) -> AttackTruth {
    AttackTruth {
        record: "attack".into(),
        id: id.to_string(),
        kind: kind.as_str().into(),
        account: sim.pop.names[primary as usize].clone(),
        accounts: Vec::new(),
        tenant: (tenant != NONE).then(|| sim.pop.tenant_name(tenant).to_string()),
        sessions: Vec::new(),
        source_ips: Vec::new(),
        start: String::new(),
        end: String::new(),
        events: Vec::new(),
    }
}

/// Turns simulated events into native events, assigns ids, and records the truth.
pub(crate) struct Emitter {
    seed_salt: u64,
    events: u64,
    truth: Vec<AttackTruth>,
    id: String,
    session: String,
    order: Vec<(i64, u64, u32)>,
    carry: Vec<Ev>,
    /// Labelled honest sessions, in the order their first event was written.
    sessions: Vec<SessionTruth>,
    /// Label id → index into `sessions` (`NONE` until its first event).
    written: Vec<u32>,
}

impl Emitter {
    /// An emitter whose attack `i` is `truth[i]` (events are added as they are written).
    pub(crate) fn new(seed: u64, truth: Vec<AttackTruth>) -> Emitter {
        Emitter {
            seed_salt: mix(seed ^ 0x5e55_1011),
            events: 0,
            truth,
            id: String::with_capacity(16),
            session: String::with_capacity(24),
            order: Vec::new(),
            carry: Vec::new(),
            sessions: Vec::new(),
            written: Vec::new(),
        }
    }

    /// The run's truth and labels once every day is written. Attacks that never produced an
    /// event (no victim left, no session to hijack) are left out, with their labels.
    pub(crate) fn finish(
        self,
        sim: &Sim,
        accounts: u32,
        mut attack_labels: Vec<AttackLabel>,
    ) -> GenSummary {
        let summary = TruthSummary {
            events: self.events,
            legit_logins: sim.legit_logins,
            legit_sessions: sim.legit_sessions,
            accounts,
            days: sim.cfg.days,
            seed: sim.cfg.seed,
        };
        let attacks: Vec<AttackTruth> = self
            .truth
            .into_iter()
            .filter(|a| !a.events.is_empty())
            .collect();
        attack_labels.retain(|l| attacks.iter().any(|a| a.id == l.id));
        GenSummary {
            truth: Truth { attacks, summary },
            labels: Labels {
                attacks: attack_labels,
                sessions: self.sessions,
            },
        }
    }

    /// Notes a labelled event in its session's truth record.
    fn label(&mut self, sim: &Sim, label: u32, ts: i64) {
        let Some(l) = sim.labels.get(label as usize) else {
            return;
        };
        if l.families == 0 {
            return;
        }
        let l = *l;
        if self.written.len() <= label as usize {
            self.written.resize(label as usize + 1, NONE);
        }
        let at = self.written[label as usize];
        if at != NONE {
            self.sessions[at as usize].end = timefmt::rfc3339(ts);
            return;
        }
        let mut session = String::with_capacity(20);
        session.push_str("s-");
        push_hex(&mut session, mix(l.session ^ self.seed_salt), 16);
        self.written[label as usize] = self.sessions.len() as u32;
        self.sessions.push(SessionTruth {
            record: "session".into(),
            session,
            account: sim.pop.names[l.account as usize].clone(),
            families: Lookalike::names(l.families),
            start: timefmt::rfc3339(ts),
            end: timefmt::rfc3339(ts),
        });
    }

    pub(crate) fn flush_until(
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
            account_kind: crate::event::AccountKind::User,
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
        if ev.label != NONE {
            self.label(sim, ev.label, ev.ts);
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
