//! The customer base of a labelled profile: tenants in the profile's countries, their staff and
//! integration service accounts, each person with a shift, devices, home and mobile networks,
//! and the calendar of look-alike events of their month (trips, a move, a new phone, a lost
//! cookie, a bulk export...).
//!
//! Rare events are drawn per population rather than per person: the number of people it
//! happens to is a Poisson count around the spec's rate, but at least one whenever someone is
//! eligible, so that every family can be measured even in a small run.

use std::collections::HashSet;
use std::net::IpAddr;

use rand::seq::SliceRandom;
use rand::Rng;

use super::super::agent::Family;
use super::super::dist::{chance, pick, poisson};
use super::super::net::Atlas;
use super::super::population::{new_device_id, Population, Tenant, TenantKind};
use super::super::tz::Zone;
use super::super::{GenConfig, NONE};
use super::Spec;
use crate::world::NetKind;

/// "Never" for a day field.
pub(crate) const NEVER: u32 = u32::MAX;

/// What someone does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Doctor,
    Nurse,
    Secretary,
    /// A replacement doctor moving between practices.
    Locum,
    /// An integration's service account.
    Service,
}

impl Role {
    /// Index into the spec's role arrays (doctors, nurses, secretaries).
    pub fn ix(self) -> usize {
        match self {
            Role::Doctor | Role::Locum => 0,
            Role::Nurse => 1,
            Role::Secretary | Role::Service => 2,
        }
    }
}

/// One device (or a shared ward PC).
#[derive(Clone, Debug)]
pub(crate) struct Dev {
    pub family: Family,
    /// Index into the device-id table.
    pub id: u32,
    /// Whether the SaaS cookie survives on it (only then logins carry a device id).
    pub keeps_id: bool,
    /// Days behind the release calendar it updates.
    pub lag: i64,
    /// The user agent of its last session (`NONE` before the first).
    pub last_ua: u32,
    /// Sessions before this day are on a new device.
    pub new_until: u32,
    /// Sessions before this day follow a lost cookie.
    pub reset_until: u32,
}

/// A holiday or conference abroad.
#[derive(Clone, Debug)]
pub(crate) struct Trip {
    pub start: u32,
    pub days: u32,
    pub conference: bool,
    /// The hotel's NAT address for the whole stay.
    pub hotel_ip: IpAddr,
    pub zone: Zone,
    /// Mobile prefixes of the destination (local SIM cards).
    pub local_sim: Vec<usize>,
}

/// A nightly integration job.
#[derive(Clone, Debug)]
pub(crate) struct Integration {
    pub ip: IpAddr,
    pub ua: &'static str,
    /// Local start minute.
    pub minute: i64,
    /// Also runs at midday.
    pub twice: bool,
}

/// An account and its owner's habits and calendar.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub name: u32,
    pub tenant: u32,
    pub role: Role,
    /// Index into the spec's shifts.
    pub shift: usize,
    pub zone: Zone,
    pub country: &'static str,
    pub devices: Vec<Dev>,
    pub desk: usize,
    pub phone: Option<usize>,
    pub laptop: Option<usize>,
    /// Ward PCs (indexes into `World::ward_pcs`) a ward nurse charts on.
    pub ward: Vec<usize>,
    pub home_net: usize,
    pub home_v4: IpAddr,
    pub home_v6: Option<u64>,
    pub carrier: Vec<usize>,
    pub vpn: Option<usize>,
    /// Private Relay egress prefixes (empty: relay off).
    pub relay: Vec<usize>,
    pub hospital_vpn: bool,
    pub mfa: bool,
    pub activity: f64,
    /// First day the account exists (0 = before the run).
    pub created: u32,
    /// Silent until this day (`NEVER` = never comes back); 0 = active.
    pub dormant_until: u32,
    pub trips: Vec<Trip>,
    /// Day of a move and the new home prefix.
    pub moving: Option<(u32, usize)>,
    /// Sessions from home still to be labelled as just moved (the new network is new until
    /// a few sessions have used it, however long the owner waits before working from home).
    pub moved_sessions: u32,
    /// Days with a legitimate bulk export still to do (sorted).
    pub bulk_days: Vec<u32>,
    /// Colleagues' practices a locum works at.
    pub locum_sites: Vec<IpAddr>,
    /// On-call duty days (sorted).
    pub on_call: Vec<u32>,
    /// Days with a tethered laptop session.
    pub tether_days: Vec<u32>,
    /// Days a device is replaced: (day, device).
    pub new_devices: Vec<(u32, usize)>,
    /// Days a device loses its cookie: (day, device).
    pub cookie_resets: Vec<(u32, usize)>,
    pub integration: Option<Integration>,
}

impl Person {
    /// True when the account is silent on `day` (not created yet, or dormant).
    pub fn absent(&self, day: u32) -> bool {
        day < self.created || day < self.dormant_until
    }

    /// The trip under way on `day`.
    pub fn trip_on(&self, day: u32) -> Option<&Trip> {
        self.trips
            .iter()
            .find(|t| day >= t.start && day < t.start + t.days)
    }
}

/// The population and the networks it draws from.
pub(crate) struct World {
    pub spec: &'static Spec,
    /// Names, tenants and device ids (moved into the simulation once built).
    pub pop: Population,
    pub persons: Vec<Person>,
    pub ward_pcs: Vec<Dev>,
    /// Per tenant: country, city and time zone of its site.
    pub tenant_place: Vec<(&'static str, &'static str, Zone)>,
}

struct Builder<'a> {
    spec: &'static Spec,
    atlas: &'a Atlas,
    w: World,
    used: HashSet<String>,
    has_hospital: bool,
}

fn in_country(atlas: &Atlas, kind: NetKind, country: &str, v6: bool) -> Vec<usize> {
    atlas.select(|n, p| n.kind == kind && n.country == country && p.is_v6() == v6)
}

impl World {
    /// Builds `cfg.accounts` accounts for a run of `cfg.days` days.
    pub fn build(spec: &'static Spec, atlas: &Atlas, cfg: &GenConfig, rng: &mut impl Rng) -> World {
        let mut b = Builder {
            spec,
            atlas,
            w: World {
                spec,
                pop: Population::default(),
                persons: Vec::new(),
                ward_pcs: Vec::new(),
                tenant_place: Vec::new(),
            },
            used: HashSet::new(),
            has_hospital: false,
        };
        while (b.w.persons.len() as u32) < cfg.accounts {
            let left = cfg.accounts - b.w.persons.len() as u32;
            let forced = !b.has_hospital && left * 2 <= cfg.accounts && left >= 12;
            b.tenant(rng, left, forced);
        }
        calendar(&mut b, cfg, rng);
        b.w
    }
}

impl Builder<'_> {
    fn unique_name(&mut self, base: String) -> u32 {
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            name = match base.split_once('@') {
                Some((user, host)) => format!("{user}{n}@{host}"),
                None => format!("{base}-{n}"),
            };
            n += 1;
        }
        self.used.insert(name.clone());
        self.w.pop.names.push(name);
        (self.w.pop.names.len() - 1) as u32
    }

    fn tenant(&mut self, rng: &mut impl Rng, left: u32, force_hospital: bool) {
        let spec = self.spec;
        let t = &spec.tenants;
        let countries: Vec<(&'static str, f64)> =
            spec.countries.iter().map(|c| (c.code, c.share)).collect();
        let country = pick(rng, &countries).unwrap_or("FR");
        let kinds = [
            TenantKind::Solo,
            TenantKind::Group,
            TenantKind::Clinic,
            TenantKind::Hospital,
        ];
        let k = if force_hospital {
            3
        } else {
            pick(
                rng,
                &[
                    (0, t.kinds[0]),
                    (1, t.kinds[1]),
                    (2, t.kinds[2]),
                    (3, t.kinds[3]),
                ],
            )
            .unwrap_or(0)
        };
        let kind = kinds[k];
        self.has_hospital |= kind == TenantKind::Hospital;
        let net_kind = if kind == TenantKind::Hospital {
            NetKind::Hospital
        } else {
            NetKind::Business
        };
        let nets = in_country(self.atlas, net_kind, country, false);
        let Some(&net) = nets.choose(rng) else {
            // A profile whose country has no such network: a spec bug caught by the tests.
            panic!(
                "profile {}: no {net_kind:?} network in {country}",
                spec.name
            );
        };
        let prefix = self.atlas.prefixes[net];
        let place = prefix.network();
        let city = place.city.to_ascii_lowercase().replace(' ', "-");
        let names = &spec.names;
        let base = match kind {
            TenantKind::Solo => format!(
                "{}-{}-{city}",
                names.kinds[0],
                names.last.choose(rng).unwrap_or(&"x")
            ),
            TenantKind::Group => format!("{}-{city}", names.kinds[1]),
            TenantKind::Clinic => format!(
                "{}-{}-{city}",
                names.kinds[2],
                names.clinics.choose(rng).unwrap_or(&"x")
            ),
            TenantKind::Hospital => format!("{}-{city}", names.kinds[3]),
        };
        let name = self.unique_name(base);
        let n_sites = t.sites[k].count(rng).max(1);
        let site_ips = (0..n_sites).map(|_| prefix.random_addr(rng)).collect();
        let vpn_ip = (kind == TenantKind::Hospital).then(|| prefix.random_addr(rng));
        let mfa = chance(rng, t.mfa[k]);
        let ti = self.w.pop.tenants.len() as u32;
        self.w.pop.tenants.push(Tenant {
            name,
            kind,
            site_ips,
            vpn_ip,
            mfa,
            members: Vec::new(),
        });
        self.w
            .tenant_place
            .push((country, place.city, Zone::of(place.tz)));
        let staff = t.staff[k].map(|d| d.count(rng));
        let locum = k <= 1 && chance(rng, t.locum);
        let services = poisson(rng, t.integrations[k]);
        let mut roles: Vec<Role> = std::iter::repeat_n(Role::Doctor, staff[0].max(1) as usize)
            .chain(std::iter::repeat_n(Role::Nurse, staff[1] as usize))
            .chain(std::iter::repeat_n(Role::Secretary, staff[2] as usize))
            .chain(locum.then_some(Role::Locum))
            .chain(std::iter::repeat_n(Role::Service, services as usize))
            .collect();
        roles.truncate(left as usize);
        let ward_first = self.w.ward_pcs.len();
        if kind == TenantKind::Hospital {
            let nurses = roles.iter().filter(|r| **r == Role::Nurse).count();
            for _ in 0..(nurses / 4).max(2) {
                let family = if rng.gen_bool(0.6) {
                    Family::WindowsEdge
                } else {
                    Family::WindowsChrome
                };
                let id = new_device_id(&mut self.w.pop.device_ids, rng);
                let lag = self.spec.devices.update_lag.whole(rng) + rng.gen_range(0..10);
                self.w.ward_pcs.push(dev(family, id, true, lag));
            }
        }
        let wards = ward_first..self.w.ward_pcs.len();
        for role in roles {
            self.person(rng, ti, k, role, wards.clone());
        }
    }

    fn person(
        &mut self,
        rng: &mut impl Rng,
        t: u32,
        k: usize,
        role: Role,
        wards: std::ops::Range<usize>,
    ) {
        let spec = self.spec;
        let tenant_name = self.w.pop.names[self.w.pop.tenants[t as usize].name as usize].clone();
        let (country, city, zone) = self.w.tenant_place[t as usize];
        let names = &spec.names;
        let (first, last) = (
            names.first.choose(rng).unwrap_or(&"x"),
            names.last.choose(rng).unwrap_or(&"x"),
        );
        let user = match role {
            Role::Doctor | Role::Locum => format!("{}.{first}.{last}", names.doctor),
            Role::Service => {
                let (system, _) = spec
                    .tenants
                    .systems
                    .choose(rng)
                    .copied()
                    .unwrap_or(("svc", ""));
                format!("svc-{system}")
            }
            _ => format!("{first}.{last}"),
        };
        let name = self.unique_name(format!("{user}@{tenant_name}"));
        let a = self.w.persons.len() as u32;
        self.w.pop.tenants[t as usize].members.push(a);
        let setting = match k {
            0 | 1 => 0,
            2 => 1,
            _ => 2,
        };
        let shifts: Vec<(usize, f64)> = spec
            .shifts
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.weight[setting][role.ix()]))
            .collect();
        let shift = pick(rng, &shifts).unwrap_or(0);
        let (home_net, home_v4) = self.home(rng, country, Some(city));
        let mut p = Person {
            name,
            tenant: t,
            role,
            shift,
            zone,
            country,
            devices: Vec::new(),
            desk: 0,
            phone: None,
            laptop: None,
            ward: Vec::new(),
            home_net,
            home_v4,
            home_v6: None,
            carrier: Vec::new(),
            vpn: None,
            relay: Vec::new(),
            hospital_vpn: false,
            mfa: false,
            activity: spec.habits.activity.sample(rng),
            created: 0,
            dormant_until: 0,
            trips: Vec::new(),
            moving: None,
            moved_sessions: 0,
            bulk_days: Vec::new(),
            locum_sites: Vec::new(),
            on_call: Vec::new(),
            tether_days: Vec::new(),
            new_devices: Vec::new(),
            cookie_resets: Vec::new(),
            integration: None,
        };
        if role == Role::Service {
            p.integration = Some(self.integration(rng, country, &self.w.pop.names[name as usize]));
            self.w.persons.push(p);
            return;
        }
        self.devices(rng, &mut p);
        p.home_v6 = self.home_v6(rng, home_net);
        p.carrier = self.carrier(rng, country);
        let tenant = &self.w.pop.tenants[t as usize];
        p.mfa = tenant.mfa || chance(rng, spec.tenants.mfa_personal);
        if tenant.kind == TenantKind::Hospital {
            p.hospital_vpn = chance(rng, spec.lives.hospital_vpn);
            if role == Role::Nurse && !wards.is_empty() && chance(rng, spec.lives.ward_pc) {
                let w = rng.gen_range(wards.clone());
                p.ward = vec![w];
                if wards.len() > 1 && rng.gen_bool(0.3) {
                    p.ward.push(rng.gen_range(wards));
                }
            }
        }
        if role == Role::Locum {
            p.locum_sites = self.locum_sites(rng, t);
        }
        self.w.persons.push(p);
    }

    /// A home prefix in `country` (in `city` with the spec's probability) and an address in it.
    fn home(&self, rng: &mut impl Rng, country: &str, city: Option<&str>) -> (usize, IpAddr) {
        let all = in_country(self.atlas, NetKind::Residential, country, false);
        let same: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&p| Some(self.atlas.prefixes[p].network().city) == city)
            .collect();
        let net = if !same.is_empty() && chance(rng, self.spec.nets.same_city) {
            *same.choose(rng).unwrap_or(&all[0])
        } else {
            *all.choose(rng)
                .expect("every profile country has home broadband")
        };
        (net, self.atlas.prefixes[net].random_addr(rng))
    }

    fn home_v6(&self, rng: &mut impl Rng, home_net: usize) -> Option<u64> {
        let home = self.atlas.prefixes[home_net].network();
        let v6 = self
            .atlas
            .select(|n, p| p.is_v6() && n.kind == NetKind::Residential && n.asn == home.asn);
        let &p = v6.first()?;
        chance(rng, self.spec.nets.v6_household)
            .then(|| self.atlas.prefixes[p].random_subnet64(rng))
    }

    fn carrier(&self, rng: &mut impl Rng, country: &str) -> Vec<usize> {
        let carriers: Vec<(u32, f64)> = self
            .spec
            .nets
            .carriers
            .iter()
            .filter(|c| c.0 == country)
            .map(|c| (c.1, c.2))
            .collect();
        let asn = pick(rng, &carriers);
        let pools = self
            .atlas
            .select(|n, _| n.kind == NetKind::Mobile && n.country == country && Some(n.asn) == asn);
        if pools.is_empty() {
            self.atlas
                .select(|n, _| n.kind == NetKind::Mobile && n.country == country)
        } else {
            pools
        }
    }

    fn devices<R: Rng>(&mut self, rng: &mut R, p: &mut Person) {
        let d = &self.spec.devices;
        let ids = &mut self.w.pop.device_ids;
        let mut new = |rng: &mut R, family: Family| {
            let id = new_device_id(ids, rng);
            dev(
                family,
                id,
                chance(rng, d.keeps_cookie),
                d.update_lag.whole(rng),
            )
        };
        let desk = match p.role {
            // Locums carry their own laptop between practices.
            Role::Locum => Family::WindowsChrome,
            _ => pick(rng, d.desk).unwrap_or(Family::WindowsChrome),
        };
        p.devices.push(new(rng, desk));
        if chance(rng, d.phone) {
            let f = if chance(rng, d.iphone) {
                Family::IphoneSafari
            } else {
                Family::AndroidChrome
            };
            p.devices.push(new(rng, f));
            p.phone = Some(p.devices.len() - 1);
        }
        if p.role != Role::Secretary && chance(rng, d.home) {
            let f = pick(rng, d.home_families).unwrap_or(Family::WindowsChrome);
            p.devices.push(new(rng, f));
            p.laptop = Some(p.devices.len() - 1);
        }
    }

    fn locum_sites(&self, rng: &mut impl Rng, own: u32) -> Vec<IpAddr> {
        let n = self.spec.tenants.locum_sites.count(rng).max(1);
        let country = self.w.tenant_place[own as usize].0;
        let colleagues: Vec<&Tenant> = self
            .w
            .pop
            .tenants
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                *i as u32 != own
                    && matches!(c.kind, TenantKind::Solo | TenantKind::Group)
                    && self.w.tenant_place[*i].0 == country
            })
            .map(|(_, c)| c)
            .collect();
        let business = in_country(self.atlas, NetKind::Business, country, false);
        (0..n)
            .map(
                |_| match colleagues.choose(rng).and_then(|c| c.site_ips.first()) {
                    Some(&ip) => ip,
                    None => {
                        let net = *business.choose(rng).unwrap_or(&0);
                        self.atlas.prefixes[net].random_addr(rng)
                    }
                },
            )
            .collect()
    }

    fn integration(&self, rng: &mut impl Rng, country: &str, name: &str) -> Integration {
        let t = &self.spec.tenants;
        let clouds = self.spec.nets.clouds;
        let all = self
            .atlas
            .select(|n, p| n.kind == NetKind::Hosting && !p.is_v6() && clouds.contains(&n.asn));
        let home: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&p| self.atlas.prefixes[p].network().country == country)
            .collect();
        let nets = if home.is_empty() || rng.gen_bool(0.2) {
            &all
        } else {
            &home
        };
        let net = *nets.choose(rng).expect("the world has the spec's clouds");
        let ua = t
            .systems
            .iter()
            .find(|(s, _)| name.starts_with(&format!("svc-{s}")))
            .map_or("curl/8.5.0", |(_, ua)| *ua);
        Integration {
            ip: self.atlas.prefixes[net].random_addr(rng),
            ua,
            minute: t.job_start.whole(rng),
            twice: chance(rng, t.job_twice),
        }
    }
}

fn dev(family: Family, id: u32, keeps_id: bool, lag: i64) -> Dev {
    Dev {
        family,
        id,
        keeps_id,
        lag: lag.max(0),
        last_ua: NONE,
        new_until: 0,
        reset_until: 0,
    }
}

/// `k` distinct members of `pool`, where `k` is a Poisson count of mean `mean`, at least one
/// when the pool is not empty.
fn some_of(rng: &mut impl Rng, pool: &[usize], mean: f64) -> Vec<usize> {
    let k = (poisson(rng, mean).max(1) as usize).min(pool.len());
    pool.choose_multiple(rng, k).copied().collect()
}

fn month(days: u32) -> f64 {
    days as f64 / 30.0
}

/// Draws every person's calendar of look-alike events.
fn calendar(b: &mut Builder<'_>, cfg: &GenConfig, rng: &mut impl Rng) {
    ensure_integration(b, rng);
    let spec = b.spec;
    let days = cfg.days;
    let humans: Vec<usize> = (0..b.w.persons.len())
        .filter(|&i| b.w.persons[i].role != Role::Service)
        .collect();
    let n = humans.len() as f64;
    let lives = &spec.lives;
    if humans.is_empty() || days == 0 {
        return;
    }
    // Dormant accounts; enough that never come back for the dormant-takeover attacks.
    let attacks = ((cfg.accounts as f64 * spec.attacks.per_1000 / 1000.0).round() as usize).max(1);
    let dormant = some_of(rng, &humans, n * lives.dormant);
    let returning = ((dormant.len() as f64 * lives.dormant_returns).round() as usize)
        .min(dormant.len().saturating_sub(attacks))
        .max(usize::from(dormant.len() > 1 && days > 6));
    for (i, &p) in dormant.iter().enumerate() {
        b.w.persons[p].dormant_until = if i < returning && days > 6 {
            rng.gen_range(days / 3..days - 2)
        } else {
            NEVER
        };
    }
    let active: Vec<usize> = humans
        .iter()
        .copied()
        .filter(|&p| b.w.persons[p].dormant_until == 0)
        .collect();
    if days > 5 {
        for p in some_of(rng, &active, n * lives.new_accounts * month(days)) {
            b.w.persons[p].created = rng.gen_range(3..(days * 2 / 3).max(4));
        }
    }
    // The rarer events go to people present from the start, so that they show in the run.
    let active: Vec<usize> = active
        .into_iter()
        .filter(|&p| b.w.persons[p].created == 0)
        .collect();
    // Moving only shows for people who use the SaaS from home (doctors' evening paperwork),
    // and only if they have time to, before the run ends.
    let from_home: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&p| b.w.persons[p].role.ix() == 0)
        .collect();
    // At least two: one mover may still never work from home before the run ends.
    let movers = (from_home.len() as f64 * lives.moving * month(days)).max(2.0);
    let mut movers = some_of(rng, &from_home, movers);
    if movers.len() < 2 {
        movers.extend(from_home.iter().find(|p| !movers.contains(p)));
    }
    for p in movers {
        let day = rng.gen_range(1..(days * 2 / 3).max(2));
        let person = &b.w.persons[p];
        let old_city = b.atlas.prefixes[person.home_net].network().city;
        let country = person.country;
        let others: Vec<usize> = in_country(b.atlas, NetKind::Residential, country, false)
            .into_iter()
            .filter(|&q| b.atlas.prefixes[q].network().city != old_city)
            .collect();
        if let Some(&net) = others.choose(rng) {
            b.w.persons[p].moving = Some((day, net));
        }
    }
    for p in some_of(rng, &active, n * lives.personal_vpn) {
        let country = b.w.persons[p].country;
        let vpns = b.atlas.select(|x, q| x.kind == NetKind::Vpn && !q.is_v6());
        let (home, abroad): (Vec<usize>, Vec<usize>) = vpns
            .iter()
            .partition(|&&q| b.atlas.prefixes[q].network().country == country);
        let nets = if home.is_empty() || chance(rng, lives.vpn_abroad) {
            abroad
        } else {
            home
        };
        b.w.persons[p].vpn = nets.choose(rng).copied();
    }
    let apple: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&p| {
            b.w.persons[p].devices.iter().any(|d| {
                matches!(
                    d.family,
                    Family::IphoneSafari | Family::MacSafari | Family::Ipad
                )
            })
        })
        .collect();
    for p in some_of(rng, &apple, apple.len() as f64 * lives.relay) {
        let person = &b.w.persons[p];
        let city = b.atlas.prefixes[person.home_net].network().city;
        let all = b
            .atlas
            .select(|x, _| x.kind == NetKind::Relay && x.country == person.country);
        let near: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&q| b.atlas.prefixes[q].network().city == city)
            .collect();
        b.w.persons[p].relay = if near.is_empty() { all } else { near };
    }
    travel(b, rng, &active, days);
    devices_and_days(b, rng, &active, days);
    duties(b, rng, days);
}

fn travel(b: &mut Builder<'_>, rng: &mut impl Rng, active: &[usize], days: u32) {
    let t = &b.spec.travel;
    let n = active.len() as f64;
    let doctors: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&p| b.w.persons[p].role.ix() == 0)
        .collect();
    let trips = some_of(rng, active, n * t.vacation * month(days))
        .into_iter()
        .map(|p| (p, false))
        .chain(
            some_of(
                rng,
                &doctors,
                doctors.len() as f64 * t.conference * month(days),
            )
            .into_iter()
            .map(|p| (p, true)),
        )
        .collect::<Vec<_>>();
    for (p, conference) in trips {
        let country = b.w.persons[p].country;
        let places: Vec<(&str, f64)> = if conference {
            t.conference_places.to_vec()
        } else {
            t.vacation_places.to_vec()
        };
        let hotels: Vec<(usize, f64)> = places
            .iter()
            .filter_map(|&(city, w)| {
                let net = b.atlas.select(|x, q| {
                    x.kind == NetKind::Hotel && x.city == city && !q.is_v6() && x.country != country
                });
                net.first().map(|&q| (q, w))
            })
            .collect();
        let Some(hotel) = pick(rng, &hotels) else {
            continue;
        };
        let dest = b.atlas.prefixes[hotel].network();
        let length = if conference {
            t.conference_days.count(rng)
        } else {
            t.vacation_days.count(rng)
        };
        let start = rng.gen_range(0..days);
        let length = length.max(1);
        let person = &b.w.persons[p];
        if (start..start + length).any(|d| person.trip_on(d).is_some()) {
            continue;
        }
        let local_sim = b
            .atlas
            .select(|x, _| x.kind == NetKind::Mobile && x.country == dest.country);
        b.w.persons[p].trips.push(Trip {
            start,
            days: length,
            conference,
            hotel_ip: b.atlas.prefixes[hotel].random_addr(rng),
            zone: Zone::of(dest.tz),
            local_sim,
        });
    }
}

fn devices_and_days(b: &mut Builder<'_>, rng: &mut impl Rng, active: &[usize], days: u32) {
    let lives = &b.spec.lives;
    let n = active.len() as f64;
    let m = month(days);
    let with_phone: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&p| b.w.persons[p].phone.is_some())
        .collect();
    for p in some_of(
        rng,
        &with_phone,
        with_phone.len() as f64 * lives.new_phone * m,
    ) {
        let dev = b.w.persons[p].phone.unwrap_or(0);
        b.w.persons[p]
            .new_devices
            .push((rng.gen_range(0..days), dev));
    }
    for p in some_of(rng, active, n * lives.new_laptop * m) {
        let person = &b.w.persons[p];
        let dev = person.laptop.unwrap_or(person.desk);
        b.w.persons[p]
            .new_devices
            .push((rng.gen_range(0..days), dev));
    }
    let cookies: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&p| b.w.persons[p].devices.iter().any(|d| d.keeps_id))
        .collect();
    let per_person = 2.0;
    for p in some_of(
        rng,
        &cookies,
        cookies.len() as f64 * per_person * lives.cookie_reset * m,
    ) {
        let keeps: Vec<usize> = (0..b.w.persons[p].devices.len())
            .filter(|&d| b.w.persons[p].devices[d].keeps_id)
            .collect();
        if let Some(&d) = keeps.choose(rng) {
            b.w.persons[p]
                .cookie_resets
                .push((rng.gen_range(0..days), d));
        }
    }
    let tetherers: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&p| b.w.persons[p].phone.is_some() && b.w.persons[p].laptop.is_some())
        .collect();
    let tethers = tetherers.len() as f64 * lives.tethering * days as f64;
    for p in some_of(rng, &tetherers, tethers) {
        b.w.persons[p].tether_days.push(rng.gen_range(0..days));
    }
    for (role, &rate) in lives.bulk_export.iter().enumerate() {
        let pool: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&p| b.w.persons[p].role.ix() == role)
            .collect();
        for p in some_of(rng, &pool, pool.len() as f64 * rate * m) {
            let day = rng.gen_range(0..days);
            let list = &mut b.w.persons[p].bulk_days;
            list.push(day);
            list.sort_unstable();
        }
    }
}

/// On-call rotas, and floors for the families that need a particular role (a locum, a ward
/// nurse, hospital staff on the VPN).
fn duties(b: &mut Builder<'_>, rng: &mut impl Rng, days: u32) {
    let oc = &b.spec.on_call;
    for i in 0..b.w.persons.len() {
        let p = &b.w.persons[i];
        if p.role != Role::Doctor {
            continue;
        }
        let hospital = b.w.pop.tenants[p.tenant as usize].kind == TenantKind::Hospital;
        let share = if hospital {
            oc.hospital_doctors
        } else {
            oc.practice_doctors
        };
        if chance(rng, share) {
            let per_month = oc.per_month.sample(rng);
            let k = poisson(rng, per_month * month(days));
            let mut list: Vec<u32> = (0..k).map(|_| rng.gen_range(0..days)).collect();
            list.sort_unstable();
            list.dedup();
            b.w.persons[i].on_call = list;
        }
    }
    let of = |b: &Builder<'_>, f: &dyn Fn(&Person) -> bool| -> Vec<usize> {
        (0..b.w.persons.len())
            .filter(|&i| f(&b.w.persons[i]))
            .collect()
    };
    let settled = |p: &Person| p.dormant_until == 0 && p.created == 0;
    if of(b, &|p| p.role == Role::Locum && settled(p)).is_empty() {
        // A practice's or, failing one, a clinic's doctor.
        let mut doctors = of(b, &|p| {
            p.role == Role::Doctor
                && settled(p)
                && matches!(
                    b.w.pop.tenants[p.tenant as usize].kind,
                    TenantKind::Solo | TenantKind::Group
                )
        });
        if doctors.is_empty() {
            doctors = of(b, &|p| {
                p.role == Role::Doctor
                    && settled(p)
                    && b.w.pop.tenants[p.tenant as usize].kind != TenantKind::Hospital
            });
        }
        if let Some(&i) = doctors.choose(rng) {
            let t = b.w.persons[i].tenant;
            b.w.persons[i].locum_sites = b.locum_sites(rng, t);
            b.w.persons[i].role = Role::Locum;
        }
    }
    let hospital_staff = of(b, &|p| {
        p.role != Role::Service
            && settled(p)
            && b.w.pop.tenants[p.tenant as usize].kind == TenantKind::Hospital
    });
    if !hospital_staff.is_empty() && of(b, &|p| p.hospital_vpn && settled(p)).is_empty() {
        let &i = hospital_staff.choose(rng).unwrap_or(&hospital_staff[0]);
        b.w.persons[i].hospital_vpn = true;
    }
}

/// Every customer base has at least one integration: if none was drawn, the last secretary
/// (or else the last non-locum account) of the largest tenant becomes its service account.
/// Runs before the calendars are drawn, so the account has none.
fn ensure_integration(b: &mut Builder<'_>, rng: &mut impl Rng) {
    if b.w.persons.iter().any(|p| p.integration.is_some()) {
        return;
    }
    let Some(t) = (0..b.w.pop.tenants.len()).max_by_key(|&t| b.w.pop.tenants[t].members.len())
    else {
        return;
    };
    let members = &b.w.pop.tenants[t].members;
    let role = |m: &u32| b.w.persons[*m as usize].role;
    let Some(&last) = members
        .iter()
        .rev()
        .find(|m| role(m) == Role::Secretary)
        .or_else(|| members.iter().rev().find(|m| role(m) != Role::Locum))
    else {
        return;
    };
    let last = last as usize;
    let tenant_name = b.w.pop.names[b.w.pop.tenants[t].name as usize].clone();
    let (system, _) = b.spec.tenants.systems[0];
    let name = b.unique_name(format!("svc-{system}@{tenant_name}"));
    let country = b.w.tenant_place[t].0;
    let integration = b.integration(rng, country, &b.w.pop.names[name as usize]);
    let p = &mut b.w.persons[last];
    p.name = name;
    p.role = Role::Service;
    p.ward.clear();
    p.integration = Some(integration);
}
