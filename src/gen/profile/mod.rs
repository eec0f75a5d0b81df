//! The `tune` and `holdout` traffic profiles: two independently designed customer bases of a
//! medical SaaS, each described by a [`Spec`] — who the customers are, when they work, how they
//! use the records, how often each honest look-alike happens, how attackers behave — and played
//! by one engine ([`people`] builds the population, [`day`] the honest days, [`attacks`] the
//! labelled attacks). Every parameter is a distribution ([`super::dist`]), never a constant.
//!
//! - [`tune::SPEC`]: a French medical SaaS (France, Belgium, Switzerland; French carriers,
//!   RENATER hospitals, GPs' long days and printed prescriptions).
//! - [`holdout::SPEC`]: an Iberian one (Spain and Portugal, the Canaries an hour behind; Spanish
//!   and Portuguese carriers, RedIRIS and RCTS hospitals; morning/afternoon primary-care turns,
//!   split days with a long lunch, 17- and 24-hour *guardias*; electronic prescriptions, more
//!   searches, bigger exports; holidays and family visits in Latin America).
//!
//! Detection is tuned on `tune` and reported on `holdout`. The two specs were written
//! separately, each from its own country's facts (cited next to the numbers); none of their
//! numbers was chosen to suit a detection rule.
//!
//! This module stops at traffic: the event buffer, ids and truth records are the generator's
//! ([`super::Sim`], [`super::Emitter`]).

use std::io;

use super::agent::Family;
use super::dist::Dist;
use super::{stream, Emitter, GenConfig, GenSummary, Sim};
use crate::event::Event;

pub(crate) mod attacks;
pub(crate) mod day;
pub mod holdout;
pub(crate) mod people;
pub(crate) mod session;
pub mod tune;

/// A traffic profile of `tocsin gen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Profile {
    /// The original French generator with fixed habits (the default; its bytes are pinned).
    Classic,
    /// A French medical SaaS (France, Belgium, Switzerland): tune detection on it.
    Tune,
    /// An Iberian medical SaaS (Spain, Portugal, Latin-American travel): report on it.
    Holdout,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [Profile::Classic, Profile::Tune, Profile::Holdout];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Classic => "classic",
            Profile::Tune => "tune",
            Profile::Holdout => "holdout",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The spec of a labelled profile; `None` for `classic`.
    pub fn spec(self) -> Option<&'static Spec> {
        match self {
            Profile::Classic => None,
            Profile::Tune => Some(&tune::SPEC),
            Profile::Holdout => Some(&holdout::SPEC),
        }
    }
}

/// Everything that differs between two customer bases.
#[derive(Debug)]
pub struct Spec {
    /// Profile name.
    pub name: &'static str,
    /// Home countries of the customers.
    pub countries: &'static [Country],
    /// Customer organisations.
    pub tenants: Tenants,
    /// Regular shifts.
    pub shifts: &'static [Shift],
    /// Nights and weekends on call on top of a regular shift.
    pub on_call: OnCall,
    /// How records are used.
    pub habits: Habits,
    /// Devices and browsers.
    pub devices: Devices,
    /// Networks at home and on the move.
    pub nets: Nets,
    /// Rates of the look-alike events of a life.
    pub lives: Lives,
    /// Holidays and conferences abroad.
    pub travel: Travel,
    /// How attackers behave.
    pub attacks: Attacks,
    /// Names of people and tenants.
    pub names: Names,
}

/// A home country.
#[derive(Debug)]
pub struct Country {
    /// ISO code, as in `world.rs`.
    pub code: &'static str,
    /// Share of tenants.
    pub share: f64,
    /// Public holidays with a fixed date, (month, day).
    pub holidays: &'static [(u32, u32)],
}

/// Customer organisations: solo practices, group practices, clinics, hospitals (in that order
/// in every array).
#[derive(Debug)]
pub struct Tenants {
    /// Weights of the four kinds.
    pub kinds: [f64; 4],
    /// Doctors, nurses and secretaries per tenant, by kind.
    pub staff: [[Dist; 3]; 4],
    /// Site addresses (practice NATs, hospital egress), by kind.
    pub sites: [Dist; 4],
    /// Share of tenants enforcing MFA, by kind.
    pub mfa: [f64; 4],
    /// Share of people who turn MFA on where their tenant does not enforce it.
    pub mfa_personal: f64,
    /// Share of solo and group practices with a locum.
    pub locum: f64,
    /// Colleagues' practices a locum works at.
    pub locum_sites: Dist,
    /// Expected integration service accounts per tenant, by kind.
    pub integrations: [f64; 4],
    /// Integration systems: account name part and user agent.
    pub systems: &'static [(&'static str, &'static str)],
    /// Local minute the nightly integration job starts; records it exports.
    pub job_start: Dist,
    /// Records a nightly job exports.
    pub job_records: Dist,
    /// Share of jobs that also run at midday.
    pub job_twice: f64,
}

/// Which days a shift works.
#[derive(Clone, Copy, Debug)]
pub enum Days {
    /// Monday to Friday except public holidays, and Saturday with this probability.
    Weekdays(f64),
    /// Any day with this probability (rotas; public holidays are worked).
    Rota(f64),
}

/// A regular shift.
#[derive(Debug)]
pub struct Shift {
    /// Name (documentation and tests).
    pub name: &'static str,
    /// Weight for doctors, nurses and secretaries, in solo and group practices, in clinics and
    /// in hospitals.
    pub weight: [[f64; 3]; 3],
    /// Blocks of a working day: local start minute (may pass 1440) and length in minutes.
    pub blocks: &'static [(Dist, Dist)],
    /// Which days.
    pub days: Days,
    /// Its sessions are night work.
    pub night: bool,
}

/// Nights on call (*gardes*, *guardias*): a few sessions scattered through a long duty.
#[derive(Debug)]
pub struct OnCall {
    /// Share of hospital doctors on the on-call rota.
    pub hospital_doctors: f64,
    /// Share of practice doctors doing out-of-hours duty.
    pub practice_doctors: f64,
    /// Duties per 30 days.
    pub per_month: Dist,
    /// Local start minute.
    pub start: Dist,
    /// Length in minutes.
    pub length: Dist,
    /// Local start minute of a weekend duty.
    pub weekend_start: Dist,
    /// Length of a weekend duty, minutes.
    pub weekend_length: Dist,
    /// Sessions during one duty.
    pub sessions: Dist,
}

/// How records are used. Role arrays are doctors, nurses, secretaries.
#[derive(Debug)]
pub struct Habits {
    /// Per hour of work: reads, searches, updates, prints, exports.
    pub rates: [[f64; 5]; 3],
    /// Per-person activity multiplier.
    pub activity: Dist,
    /// Records a search lists.
    pub search_results: Dist,
    /// Pages a print has.
    pub print_pages: Dist,
    /// Records a routine export holds.
    pub export_records: [Dist; 3],
    /// Sessions a block of work is split into (idle time-outs, closed tabs).
    pub sessions_per_block: Dist,
    /// Chance of an evening session from home on a working day.
    pub evening: [f64; 3],
    /// Its local start minute.
    pub evening_start: Dist,
    /// Its length, minutes.
    pub evening_length: Dist,
    /// Chance of a late-night session (after 22:00) on a working day.
    pub late: [f64; 3],
    /// Its local start minute (past 1440 = after midnight).
    pub late_start: Dist,
    /// Its length, minutes.
    pub late_length: Dist,
    /// Chance of a look-up on the phone on a working day.
    pub phone: f64,
    /// Chance of a session from home on a day off.
    pub day_off: [f64; 3],
    /// Chance of an unplanned day off.
    pub absent: f64,
    /// Share of logins after a typo or two (ordinary, not a family).
    pub typo: f64,
    /// Share of sessions ended by an explicit logout.
    pub logout: f64,
}

/// Devices and browsers.
#[derive(Debug)]
pub struct Devices {
    /// Desk browsers.
    pub desk: &'static [(Family, f64)],
    /// Share with a phone used for the SaaS.
    pub phone: f64,
    /// Share of iPhones among those phones.
    pub iphone: f64,
    /// Share (doctors and nurses) with a laptop or tablet at home.
    pub home: f64,
    /// Home device browsers.
    pub home_families: &'static [(Family, f64)],
    /// Share of browsers that keep the SaaS's cookie (only those send a device id).
    pub keeps_cookie: f64,
    /// Days behind the release calendar a browser updates.
    pub update_lag: Dist,
}

/// Networks at home and on the move.
#[derive(Debug)]
pub struct Nets {
    /// Share living in their tenant's city.
    pub same_city: f64,
    /// Share of homes with IPv6 whose browsers prefer it.
    pub v6_household: f64,
    /// Share of such a home's sessions over IPv6.
    pub v6_session: f64,
    /// Chance per hour of session that the address changes (privacy address rotated, or a
    /// fall back between IPv6 and IPv4).
    pub v6_change_per_hour: f64,
    /// Chance per day the home IPv4 address is renumbered.
    pub renumber: f64,
    /// Mobile carriers: country, ASN, market share.
    pub carriers: &'static [(&'static str, u32, f64)],
    /// Chance per hour of session that a phone's carrier address jumps.
    pub mobile_jump_per_hour: f64,
    /// Cloud ASNs integrations run on.
    pub clouds: &'static [u32],
}

/// Rates of the look-alike events of a life. "Per month" means per 30 days.
#[derive(Debug)]
pub struct Lives {
    /// Chance per month of a legitimate bulk export, by role.
    pub bulk_export: [f64; 3],
    /// Its size, by role.
    pub bulk_records: [Dist; 3],
    /// Chance per month of moving house.
    pub moving: f64,
    /// Share with a personal VPN at home.
    pub personal_vpn: f64,
    /// Share of their home sessions through it.
    pub vpn_use: f64,
    /// Share of VPN users whose exit is abroad.
    pub vpn_abroad: f64,
    /// Share of Apple users with iCloud Private Relay on.
    pub relay: f64,
    /// Chance per day of a tethered laptop session.
    pub tethering: f64,
    /// Share of hospital nurses charting on shared ward PCs.
    pub ward_pc: f64,
    /// Short sessions per shift on a ward PC.
    pub ward_sessions: Dist,
    /// Share of hospital staff reaching the SaaS from home through the hospital VPN.
    pub hospital_vpn: f64,
    /// Chance per month per device of losing the SaaS cookie.
    pub cookie_reset: f64,
    /// Chance per month of a new phone.
    pub new_phone: f64,
    /// Chance per month of a new laptop or desk browser.
    pub new_laptop: f64,
    /// Share of new phones on the other platform.
    pub switch_platform: f64,
    /// Share of accounts dormant when the run starts.
    pub dormant: f64,
    /// Share of dormant accounts coming back during the run.
    pub dormant_returns: f64,
    /// Accounts created per month, as a share of the population.
    pub new_accounts: f64,
    /// Chance per login of a forgotten password.
    pub forgotten: f64,
    /// Failed attempts before the right password.
    pub forgotten_failures: Dist,
    /// Share of forgotten passwords ending in a reset.
    pub reset: f64,
    /// Chance per MFA prompt of a missed or refused first prompt.
    pub mfa_retry: f64,
    /// Failed prompts before the accepted one.
    pub mfa_retries: Dist,
}

/// Holidays and conferences abroad.
#[derive(Debug)]
pub struct Travel {
    /// Chance per month of a holiday abroad.
    pub vacation: f64,
    /// Its length in days.
    pub vacation_days: Dist,
    /// Destinations (city of a `Hotel` network in `world.rs`) and weights.
    pub vacation_places: &'static [(&'static str, f64)],
    /// Chance per holiday day of using the SaaS.
    pub vacation_use: f64,
    /// How a traveller connects: hotel Wi-Fi, roaming on the home carrier, a local SIM.
    pub connect: [f64; 3],
    /// Chance per month (doctors) of a conference abroad.
    pub conference: f64,
    /// Its length in days.
    pub conference_days: Dist,
    /// Conference cities and weights.
    pub conference_places: &'static [(&'static str, f64)],
}

/// How attackers behave.
#[derive(Debug)]
pub struct Attacks {
    /// Instances of each kind per 1,000 accounts (at least one each).
    pub per_1000: f64,
    /// Share of logins in the victim's night (the others in the evening or by day).
    pub night: f64,
    /// Records an infostealer-style takeover exports.
    pub takeover_records: Dist,
    /// Records a dormant-account takeover exports.
    pub dormant_records: Dist,
    /// Records a hijacked session exports.
    pub hijack_records: Dist,
    /// Plain infostealer networks: hosting abroad, hosting at home, commercial VPN.
    pub plain_nets: [f64; 3],
    /// Share of residential proxies in the victim's own city (else elsewhere in the country).
    pub proxy_city: f64,
    /// Copied-user-agent networks: residential proxy in the country, hosting, VPN.
    pub copy_nets: [f64; 3],
    /// Share of copied-user-agent logins that also replay the stolen device cookie.
    pub copy_cookie: f64,
    /// Share of login-based victims with MFA (the prompt passes: a stolen seed, a tired yes).
    pub mfa_victims: f64,
    /// Stuffing list size.
    pub stuffing_list: Dist,
    /// Share of the list that is not an account here.
    pub stuffing_unknown: f64,
    /// Share of stuffing runs through rotating residential proxies (else one source).
    pub stuffing_rotating: f64,
    /// Share of known accounts whose password works.
    pub stuffing_success: Dist,
    /// Seconds between attempts.
    pub stuffing_gap_s: Dist,
    /// Tenants sprayed.
    pub spray_tenants: Dist,
    /// Passwords tried (one round each).
    pub spray_rounds: Dist,
    /// Seconds between accounts.
    pub spray_gap_s: Dist,
    /// Minutes between rounds.
    pub spray_round_gap_min: Dist,
    /// Share of accounts using the sprayed password.
    pub spray_success: f64,
    /// Brute-force attempts.
    pub brute_attempts: Dist,
    /// Seconds between them.
    pub brute_gap_s: Dist,
    /// Chance the brute force ends with the right password.
    pub brute_success: f64,
    /// Minutes after the owner's login the stolen cookie is replayed.
    pub hijack_delay_min: Dist,
    /// Share of hijacks replayed from a residential proxy in the victim's country.
    pub hijack_domestic: f64,
    /// Days a low-and-slow exfiltration lasts.
    pub slow_days: Dist,
    /// Records a day it takes above the account's habit.
    pub slow_records: Dist,
    /// Pushes an MFA-fatigue attacker sends.
    pub fatigue_pushes: Dist,
    /// Seconds between pushes.
    pub fatigue_gap_s: Dist,
    /// Chance the victim accepts one.
    pub fatigue_accept: f64,
}

/// Names of people and tenants.
#[derive(Debug)]
pub struct Names {
    /// First names.
    pub first: &'static [&'static str],
    /// Last names.
    pub last: &'static [&'static str],
    /// Tenant name prefixes: solo, group, clinic, hospital.
    pub kinds: [&'static str; 4],
    /// Clinic names.
    pub clinics: &'static [&'static str],
    /// Prefix of doctors' user names.
    pub doctor: &'static str,
}

/// Generates `cfg` as `spec` describes it.
pub(crate) fn run(
    cfg: &GenConfig,
    spec: &'static Spec,
    sink: &mut dyn FnMut(&Event<'_>) -> io::Result<()>,
) -> io::Result<GenSummary> {
    let atlas = super::net::Atlas::full();
    let mut world = people::World::build(spec, &atlas, cfg, &mut stream(cfg.seed, 101, 0));
    let pop = std::mem::take(&mut world.pop);
    let mut sim = Sim::new(cfg, atlas, pop);
    let mut attack_rng = stream(cfg.seed, 102, 0);
    let mut plans = attacks::plan(&mut sim, &world, &mut attack_rng);
    let skeletons = plans.iter().map(|p| p.skeleton(&sim)).collect();
    let mut out = Emitter::new(cfg.seed, skeletons);
    for d in 0..cfg.days {
        let mut rng = stream(cfg.seed, 103, d as u64);
        day::life_events(&mut sim, &mut world, d, &mut rng);
        for p in 0..world.persons.len() {
            day::person_day(&mut sim, &mut world, p, d, &mut rng);
        }
        attacks::play_day(&mut sim, &world, &mut plans, d, &mut attack_rng);
        let end = super::day_end(&sim, d);
        out.flush_until(&mut sim, end, sink)?;
    }
    let labels = plans.iter().map(|p| p.label()).collect();
    let accounts = world.persons.len() as u32;
    Ok(out.finish(&sim, accounts, labels))
}
