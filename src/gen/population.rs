//! The synthetic customer base: tenants (practices, clinics, hospitals) and their accounts, each
//! with a role, a shift, home and mobile networks, devices, and the irregular life events
//! (holidays, conferences, dormancy, a new phone) that make honest traffic look new.

use std::collections::HashSet;
use std::net::IpAddr;

use rand::seq::SliceRandom;
use rand::Rng;

use super::agent::Family;
use super::net::Atlas;
use crate::world::NetKind;

/// What kind of customer a tenant is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantKind {
    /// One doctor, sometimes a secretary.
    Solo,
    /// A group practice (maison de santé).
    Group,
    /// A private clinic.
    Clinic,
    /// A hospital, with its own network and a VPN for staff at home.
    Hospital,
}

/// A customer organisation.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Index into the name table.
    pub name: u32,
    /// Kind of customer.
    pub kind: TenantKind,
    /// The site's public addresses (a practice NAT, or a hospital's egress).
    pub site_ips: Vec<IpAddr>,
    /// A hospital's VPN concentrator, through which staff reach the SaaS from home.
    pub vpn_ip: Option<IpAddr>,
    /// Whether the tenant enforces a second factor on every login.
    pub mfa: bool,
    /// Accounts of this tenant (indexes into the account table).
    pub members: Vec<u32>,
}

/// What someone does; drives volumes and hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads many records, updates, prints prescriptions, exports rarely.
    Doctor,
    /// Reads and updates charts.
    Nurse,
    /// Searches a lot (appointments), prints, occasionally exports lists.
    Secretary,
    /// Replacement doctor moving between colleagues' practices.
    Locum,
}

/// When someone works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// Office hours on weekdays.
    Day,
    /// Afternoon and evening.
    Evening,
    /// Nights, a few per week, any weekday.
    Night,
    /// Office hours plus every other weekend on call from home.
    WeekendOnCall,
}

/// One device of an account.
#[derive(Clone, Debug)]
pub struct Device {
    /// Browser and platform.
    pub family: Family,
    /// Index into the device-id table.
    pub id: u32,
    /// Whether the SaaS's cookie survives on it (only then logins carry a `device_id`).
    pub keeps_id: bool,
    /// Days behind the release calendar its browser updates.
    pub update_lag: i64,
}

/// An account and its owner's habits.
#[derive(Clone, Debug)]
pub struct Account {
    /// Index into the name table.
    pub name: u32,
    /// Index into the tenant table.
    pub tenant: u32,
    /// Role.
    pub role: Role,
    /// Shift.
    pub shift: Shift,
    /// Desktop at work (index into `devices`).
    pub desk: usize,
    /// Phone, if any.
    pub phone: Option<usize>,
    /// Home laptop or tablet, if any.
    pub home_device: Option<usize>,
    /// Devices (replaced ones are swapped in place).
    pub devices: Vec<Device>,
    /// Home broadband prefix (index into the atlas).
    pub home_net: usize,
    /// Current home IPv4 address (renumbered now and then).
    pub home_v4: IpAddr,
    /// The household's IPv6 /64, when the ISP gives one and the browser prefers it.
    pub home_v6: Option<u64>,
    /// Mobile carrier prefixes (addresses jump between them).
    pub mobile_nets: Vec<usize>,
    /// Uses a commercial VPN from home (prefix index).
    pub vpn_net: Option<usize>,
    /// Hospital staff connecting from home through the hospital VPN.
    pub uses_site_vpn: bool,
    /// Validates every login with a second factor.
    pub mfa: bool,
    /// First day (index in the run) the account exists; 0 for established accounts.
    pub created_day: u32,
    /// Dormant until this day (silent before); `u32::MAX` = never comes back.
    pub dormant_until: Option<u32>,
    /// Holiday: first day, days.
    pub holiday: Option<(u32, u32)>,
    /// Conference abroad: first day (travel), days, hotel prefix index.
    pub conference: Option<(u32, u32, usize)>,
    /// Day the phone is replaced by a new one.
    pub new_phone_day: Option<u32>,
    /// Practices (site addresses) a locum rotates between.
    pub locum_sites: Vec<IpAddr>,
    /// Activity multiplier (some people use the SaaS far more than others).
    pub activity: f64,
}

/// Tenants and accounts, with the string tables events borrow from.
#[derive(Debug, Default)]
pub struct Population {
    /// Tenants.
    pub tenants: Vec<Tenant>,
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Tenant and account names (events borrow from here).
    pub names: Vec<String>,
    /// Device ids.
    pub device_ids: Vec<String>,
}

const FIRST: &[&str] = &[
    "marie",
    "jean",
    "pierre",
    "sophie",
    "nathalie",
    "isabelle",
    "philippe",
    "camille",
    "thomas",
    "julie",
    "nicolas",
    "claire",
    "antoine",
    "laure",
    "francois",
    "helene",
    "mathieu",
    "anne",
    "olivier",
    "celine",
    "vincent",
    "emilie",
    "sebastien",
    "aurelie",
    "karim",
    "yasmine",
    "hugo",
    "lea",
    "paul",
    "ines",
    "louis",
    "sarah",
    "julien",
    "manon",
    "alexandre",
    "chloe",
];
const LAST: &[&str] = &[
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
    "laurent",
    "lefebvre",
    "michel",
    "garcia",
    "david",
    "bertrand",
    "roux",
    "vincent",
    "fournier",
    "morel",
    "girard",
    "andre",
    "lefevre",
    "mercier",
    "dupont",
    "lambert",
    "bonnet",
    "francois",
    "martinez",
    "legrand",
    "garnier",
    "faure",
    "rousseau",
    "blanc",
    "guerin",
    "muller",
    "henry",
    "roussel",
    "nicolas",
    "perrin",
    "morin",
    "mathieu",
    "clement",
    "gauthier",
    "dumont",
    "lopez",
    "fontaine",
    "chevalier",
    "robin",
    "benali",
    "haddad",
    "nguyen",
    "diallo",
];
const SAINTS: &[&str] = &[
    "saint-joseph",
    "sainte-anne",
    "saint-louis",
    "les-tilleuls",
    "du-parc",
    "pasteur",
    "saint-martin",
    "les-cedres",
    "jeanne-d-arc",
    "du-lac",
];

fn slug(city: &str) -> String {
    city.to_ascii_lowercase().replace(' ', "-")
}

struct Builder<'a> {
    atlas: &'a Atlas,
    days: u32,
    pop: Population,
    used_names: HashSet<String>,
    business: Vec<usize>,
    hospital: Vec<usize>,
    residential_fr: Vec<usize>,
    residential_v6: Vec<usize>,
    mobile_carriers: Vec<Vec<usize>>,
    hotels: Vec<usize>,
    vpns: Vec<usize>,
}

impl Population {
    /// Builds `n_accounts` accounts over tenants of every kind for a run of `days` days.
    pub fn build(atlas: &Atlas, n_accounts: u32, days: u32, rng: &mut impl Rng) -> Population {
        let by_asn = |asn: u32| atlas.select(|n, _| n.kind == NetKind::Mobile && n.asn == asn);
        let mut b = Builder {
            atlas,
            days,
            pop: Population::default(),
            used_names: HashSet::new(),
            business: atlas.v4_of(NetKind::Business),
            hospital: atlas.v4_of(NetKind::Hospital),
            residential_fr: atlas
                .select(|n, p| n.kind == NetKind::Residential && n.country == "FR" && !p.is_v6()),
            residential_v6: atlas
                .select(|n, p| n.kind == NetKind::Residential && n.country == "FR" && p.is_v6()),
            // Bouygues Telecom and Free Mobile: the two French carriers of the world table.
            mobile_carriers: vec![by_asn(5410), by_asn(51207)],
            hotels: atlas.select(|n, _| n.kind == NetKind::Hotel),
            vpns: atlas.v4_of(NetKind::Vpn),
        };
        b.mobile_carriers.retain(|c| !c.is_empty());
        while (b.pop.accounts.len() as u32) < n_accounts {
            let left = n_accounts - b.pop.accounts.len() as u32;
            b.tenant(rng, left);
        }
        b.pop
    }

    /// The account's name.
    pub fn account_name(&self, a: u32) -> &str {
        &self.names[self.accounts[a as usize].name as usize]
    }

    /// The tenant's name.
    pub fn tenant_name(&self, t: u32) -> &str {
        &self.names[self.tenants[t as usize].name as usize]
    }
}

impl Builder<'_> {
    fn unique_name(&mut self, base: String) -> u32 {
        let mut name = base.clone();
        let mut n = 2;
        while self.used_names.contains(&name) {
            name = match base.split_once('@') {
                Some((user, host)) => format!("{user}{n}@{host}"),
                None => format!("{base}-{n}"),
            };
            n += 1;
        }
        self.used_names.insert(name.clone());
        self.pop.names.push(name);
        (self.pop.names.len() - 1) as u32
    }

    fn tenant(&mut self, rng: &mut impl Rng, left: u32) {
        let kind = match rng.gen_range(0..100) {
            0..=44 => TenantKind::Solo,
            45..=79 => TenantKind::Group,
            80..=94 => TenantKind::Clinic,
            _ => TenantKind::Hospital,
        };
        let nets = if kind == TenantKind::Hospital {
            &self.hospital
        } else {
            &self.business
        };
        let net = *nets
            .choose(rng)
            .expect("the world has business and hospital networks");
        let prefix = self.atlas.prefixes[net];
        let city = slug(prefix.network().city);
        let base = match kind {
            TenantKind::Solo => format!("cabinet-{}-{city}", LAST.choose(rng).unwrap_or(&"x")),
            TenantKind::Group => format!("msp-{city}"),
            TenantKind::Clinic => format!("clinique-{}-{city}", SAINTS.choose(rng).unwrap_or(&"x")),
            TenantKind::Hospital => format!("ch-{city}"),
        };
        let name = self.unique_name(base);
        let n_sites = match kind {
            TenantKind::Solo | TenantKind::Group => 1,
            TenantKind::Clinic => rng.gen_range(1..=2),
            TenantKind::Hospital => rng.gen_range(2..=4),
        };
        let site_ips = (0..n_sites).map(|_| prefix.random_addr(rng)).collect();
        let vpn_ip = (kind == TenantKind::Hospital).then(|| prefix.random_addr(rng));
        let mfa = match kind {
            TenantKind::Hospital => rng.gen_bool(0.7),
            TenantKind::Clinic => rng.gen_bool(0.3),
            _ => rng.gen_bool(0.1),
        };
        let t = self.pop.tenants.len() as u32;
        self.pop.tenants.push(Tenant {
            name,
            kind,
            site_ips,
            vpn_ip,
            mfa,
            members: Vec::new(),
        });
        let (doctors, nurses, secretaries) = match kind {
            TenantKind::Solo => (1, 0, rng.gen_bool(0.5) as u32),
            TenantKind::Group => (
                rng.gen_range(2..=6),
                rng.gen_range(0..=2),
                rng.gen_range(1..=2),
            ),
            TenantKind::Clinic => (
                rng.gen_range(4..=10),
                rng.gen_range(3..=10),
                rng.gen_range(2..=4),
            ),
            TenantKind::Hospital => (
                rng.gen_range(15..=50),
                rng.gen_range(20..=60),
                rng.gen_range(3..=8),
            ),
        };
        let locum = matches!(kind, TenantKind::Solo | TenantKind::Group) && rng.gen_bool(0.12);
        let mut roles: Vec<Role> = std::iter::repeat_n(Role::Doctor, doctors)
            .chain(std::iter::repeat_n(Role::Nurse, nurses))
            .chain(std::iter::repeat_n(Role::Secretary, secretaries as usize))
            .chain(locum.then_some(Role::Locum))
            .collect();
        roles.truncate(left as usize);
        for role in roles {
            self.account(rng, t, kind, role, &city);
        }
    }

    fn account(&mut self, rng: &mut impl Rng, t: u32, kind: TenantKind, role: Role, city: &str) {
        let tenant_name = self.pop.names[self.pop.tenants[t as usize].name as usize].clone();
        let first = FIRST.choose(rng).unwrap_or(&"x");
        let last = LAST.choose(rng).unwrap_or(&"x");
        let user = match role {
            Role::Doctor | Role::Locum => format!("dr.{first}.{last}"),
            _ => format!("{first}.{last}"),
        };
        let name = self.unique_name(format!("{user}@{tenant_name}"));
        let hospital = kind == TenantKind::Hospital;
        let shift = match (role, hospital, rng.gen_range(0..100)) {
            (Role::Nurse, true, 0..=59) | (Role::Nurse, false, 0..=69) => Shift::Day,
            (Role::Nurse, true, 60..=74) | (Role::Nurse, false, 70..=89) => Shift::Evening,
            (Role::Nurse, _, _) => Shift::Night,
            (Role::Doctor, true, 0..=74) => Shift::Day,
            (Role::Doctor, true, 75..=84) => Shift::Night,
            (Role::Doctor, _, 90..=99) => Shift::WeekendOnCall,
            (Role::Doctor, true, _) => Shift::WeekendOnCall,
            _ => Shift::Day,
        };
        let mut devices = Vec::with_capacity(3);
        let desk_family = match rng.gen_range(0..100) {
            0..=54 => Family::WindowsChrome,
            55..=74 => Family::WindowsEdge,
            75..=84 => Family::WindowsFirefox,
            85..=92 => Family::MacSafari,
            _ => Family::MacChrome,
        };
        devices.push(self.device(rng, desk_family));
        let phone = rng.gen_bool(0.7).then(|| {
            let f = if rng.gen_bool(0.55) {
                Family::IphoneSafari
            } else {
                Family::AndroidChrome
            };
            devices.push(self.device(rng, f));
            devices.len() - 1
        });
        let home_device = (role != Role::Secretary && rng.gen_bool(0.35)).then(|| {
            let f = match rng.gen_range(0..10) {
                0..=3 => Family::Ipad,
                4..=6 => Family::MacSafari,
                _ => Family::WindowsChrome,
            };
            devices.push(self.device(rng, f));
            devices.len() - 1
        });
        // Most people live in or near their work city; some commute from elsewhere.
        let same_city: Vec<usize> = self
            .residential_fr
            .iter()
            .copied()
            .filter(|&p| slug(self.atlas.prefixes[p].network().city) == city)
            .collect();
        let home_net = if !same_city.is_empty() && rng.gen_bool(0.8) {
            *same_city.choose(rng).unwrap_or(&self.residential_fr[0])
        } else {
            *self.residential_fr.choose(rng).unwrap_or(&0)
        };
        let home_prefix = self.atlas.prefixes[home_net];
        let home_v4 = home_prefix.random_addr(rng);
        let home_asn = home_prefix.network().asn;
        let home_v6 = self
            .residential_v6
            .iter()
            .find(|&&p| self.atlas.prefixes[p].network().asn == home_asn)
            .filter(|_| rng.gen_bool(0.4))
            .map(|&p| self.atlas.prefixes[p].random_subnet64(rng));
        let mobile_nets = self
            .mobile_carriers
            .choose(rng)
            .cloned()
            .unwrap_or_default();
        let vpn_net = rng
            .gen_bool(0.04)
            .then(|| self.vpns.choose(rng).copied())
            .flatten();
        let tenant_mfa = self.pop.tenants[t as usize].mfa;
        let days = self.days;
        let created_day = if days > 6 && rng.gen_bool(0.03) {
            rng.gen_range(3..days)
        } else {
            0
        };
        let dormant_until = (created_day == 0 && rng.gen_bool(0.03)).then(|| {
            if days > 14 && rng.gen_bool(0.4) {
                rng.gen_range(days / 2..days)
            } else {
                u32::MAX
            }
        });
        let holiday = (days > 10 && rng.gen_bool(0.25))
            .then(|| (rng.gen_range(0..days), rng.gen_range(5..=9)));
        let conference = (matches!(role, Role::Doctor)
            && rng.gen_bool(0.06)
            && !self.hotels.is_empty())
        .then(|| {
            (
                rng.gen_range(0..days),
                rng.gen_range(3..=5),
                *self.hotels.choose(rng).unwrap_or(&0),
            )
        });
        let new_phone_day = phone
            .filter(|_| rng.gen_bool(0.04))
            .map(|_| rng.gen_range(0..days));
        let locum_sites = if role == Role::Locum {
            let own = self.pop.tenants[t as usize].site_ips.clone();
            let mut sites = own;
            // Colleagues' practices: real sites of other tenants when there are some yet.
            for _ in 0..rng.gen_range(1..=2) {
                let colleague = self
                    .pop
                    .tenants
                    .choose(rng)
                    .filter(|c| c.kind != TenantKind::Hospital)
                    .and_then(|c| c.site_ips.first().copied());
                let net = *self.business.choose(rng).unwrap_or(&0);
                sites.push(colleague.unwrap_or_else(|| self.atlas.prefixes[net].random_addr(rng)));
            }
            sites
        } else {
            Vec::new()
        };
        let a = self.pop.accounts.len() as u32;
        self.pop.accounts.push(Account {
            name,
            tenant: t,
            role,
            shift,
            desk: 0,
            phone,
            home_device,
            devices,
            home_net,
            home_v4,
            home_v6,
            mobile_nets,
            vpn_net,
            uses_site_vpn: kind == TenantKind::Hospital && rng.gen_bool(0.7),
            mfa: tenant_mfa || rng.gen_bool(0.15),
            created_day,
            dormant_until,
            holiday,
            conference,
            new_phone_day,
            locum_sites,
            activity: rng.gen_range(0.6..1.4),
        });
        self.pop.tenants[t as usize].members.push(a);
    }

    fn device(&mut self, rng: &mut impl Rng, family: Family) -> Device {
        let id = new_device_id(&mut self.pop.device_ids, rng);
        Device {
            family,
            id,
            keeps_id: rng.gen_bool(0.6),
            update_lag: rng.gen_range(0..=12),
        }
    }
}

/// Registers a fresh random device id (`d-` and 12 hex digits) and returns its index.
pub fn new_device_id(table: &mut Vec<String>, rng: &mut impl Rng) -> u32 {
    table.push(format!("d-{:012x}", rng.gen::<u64>() & 0xffff_ffff_ffff));
    (table.len() - 1) as u32
}

impl Account {
    /// True when the account is silent on `day` because it does not exist yet or is dormant.
    pub fn absent(&self, day: u32) -> bool {
        day < self.created_day || self.dormant_until.is_some_and(|d| day < d)
    }

    /// True when its owner is on holiday on `day`.
    pub fn on_holiday(&self, day: u32) -> bool {
        self.holiday.is_some_and(|(s, n)| day >= s && day < s + n)
    }

    /// `Some(first_day)` when the owner is at the conference on `day`.
    pub fn at_conference(&self, day: u32) -> Option<(bool, usize)> {
        self.conference
            .filter(|&(s, n, _)| day >= s && day < s + n)
            .map(|(s, _, net)| (day == s, net))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn a_customer_base_of_2000_has_every_kind_of_honest_oddity() {
        let atlas = Atlas::new();
        let pop = Population::build(&atlas, 2000, 30, &mut SmallRng::seed_from_u64(1));
        assert_eq!(pop.accounts.len(), 2000);
        for kind in [
            TenantKind::Solo,
            TenantKind::Group,
            TenantKind::Clinic,
            TenantKind::Hospital,
        ] {
            assert!(pop.tenants.iter().any(|t| t.kind == kind), "no {kind:?}");
        }
        for role in [Role::Doctor, Role::Nurse, Role::Secretary, Role::Locum] {
            assert!(pop.accounts.iter().any(|a| a.role == role), "no {role:?}");
        }
        for shift in [
            Shift::Day,
            Shift::Evening,
            Shift::Night,
            Shift::WeekendOnCall,
        ] {
            assert!(
                pop.accounts.iter().any(|a| a.shift == shift),
                "no {shift:?}"
            );
        }
        let count = |f: &dyn Fn(&Account) -> bool| pop.accounts.iter().filter(|a| f(a)).count();
        assert!(
            count(&|a| a.dormant_until == Some(u32::MAX)) >= 8,
            "too few dormant accounts to attack"
        );
        assert!(count(&|a| a.created_day > 0) > 10);
        assert!(count(&|a| a.conference.is_some()) > 10);
        assert!(count(&|a| a.vpn_net.is_some()) > 10);
        assert!(count(&|a| a.home_v6.is_some()) > 10);
        assert!(count(&|a| a.uses_site_vpn) > 10);
        assert!(count(&|a| a.devices.len() == 3) > 100);
        // Names are unique: an account is one person.
        let names: HashSet<&str> = pop
            .accounts
            .iter()
            .map(|a| pop.names[a.name as usize].as_str())
            .collect();
        assert_eq!(names.len(), 2000);
    }
}
