//! The small world that test fixtures and `tocsin gen` share: networks with realistic prefixes,
//! each with its place and autonomous system.
//!
//! `testdata/*.mmdb` are generated from this table (see `enrich::fixtures`), and the generator
//! draws its client addresses from it, so every generated address resolves in the fixtures.
//! Prefixes approximate real allocations of the named operators; they are test data, not a
//! source of truth about who owns what.

/// What kind of network a prefix is: drives both realism in `gen` and expectations in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetKind {
    /// Home broadband.
    Residential,
    /// Mobile carrier (CGNAT; addresses change often).
    Mobile,
    /// A hospital's own network or its VPN concentrator.
    Hospital,
    /// Business connection of a practice or clinic (one NAT for the whole staff).
    Business,
    /// Datacentre / cloud / VPS: where infostealer operators log in from.
    Hosting,
    /// Commercial VPN exit.
    Vpn,
    /// Hotel or conference Wi-Fi abroad.
    Hotel,
}

/// One network of the fixture world.
#[derive(Clone, Copy, Debug)]
pub struct Network {
    /// CIDR prefix.
    pub cidr: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// Country name (English).
    pub country_name: &'static str,
    /// City.
    pub city: &'static str,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// IANA time zone.
    pub tz: &'static str,
    /// Autonomous system number.
    pub asn: u32,
    /// Autonomous system organisation.
    pub as_org: &'static str,
    /// Network kind.
    pub kind: NetKind,
}

// One row per network reads best as a table of positional values.
#[allow(clippy::too_many_arguments)]
const fn net(
    cidr: &'static str,
    country: &'static str,
    country_name: &'static str,
    city: &'static str,
    lat: f64,
    lon: f64,
    tz: &'static str,
    asn: u32,
    as_org: &'static str,
    kind: NetKind,
) -> Network {
    Network {
        cidr,
        country,
        country_name,
        city,
        lat,
        lon,
        tz,
        asn,
        as_org,
        kind,
    }
}

use NetKind::*;

/// Every network of the fixture world. IPv4 and IPv6 prefixes; French networks dominate, as in
/// the medical SaaS the generator imitates.
pub const NETWORKS: &[Network] = &[
    // French home broadband.
    net(
        "90.0.0.0/16",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        3215,
        "Orange",
        Residential,
    ),
    net(
        "90.1.0.0/16",
        "FR",
        "France",
        "Rouen",
        49.4431,
        1.0993,
        "Europe/Paris",
        3215,
        "Orange",
        Residential,
    ),
    net(
        "90.2.0.0/16",
        "FR",
        "France",
        "Lyon",
        45.7640,
        4.8357,
        "Europe/Paris",
        3215,
        "Orange",
        Residential,
    ),
    net(
        "90.3.0.0/16",
        "FR",
        "France",
        "Lille",
        50.6292,
        3.0573,
        "Europe/Paris",
        3215,
        "Orange",
        Residential,
    ),
    net(
        "2a01:cb00::/32",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        3215,
        "Orange",
        Residential,
    ),
    net(
        "82.64.0.0/16",
        "FR",
        "France",
        "Bordeaux",
        44.8378,
        -0.5792,
        "Europe/Paris",
        12322,
        "Free SAS",
        Residential,
    ),
    net(
        "82.65.0.0/16",
        "FR",
        "France",
        "Marseille",
        43.2965,
        5.3698,
        "Europe/Paris",
        12322,
        "Free SAS",
        Residential,
    ),
    net(
        "82.66.0.0/16",
        "FR",
        "France",
        "Nantes",
        47.2184,
        -1.5536,
        "Europe/Paris",
        12322,
        "Free SAS",
        Residential,
    ),
    net(
        "2a01:e0a::/32",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        12322,
        "Free SAS",
        Residential,
    ),
    net(
        "93.20.0.0/16",
        "FR",
        "France",
        "Toulouse",
        43.6047,
        1.4442,
        "Europe/Paris",
        15557,
        "SFR SA",
        Residential,
    ),
    net(
        "93.21.0.0/16",
        "FR",
        "France",
        "Strasbourg",
        48.5734,
        7.7521,
        "Europe/Paris",
        15557,
        "SFR SA",
        Residential,
    ),
    // French mobile carriers (CGNAT pools that move between cities).
    net(
        "37.160.0.0/16",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        5410,
        "Bouygues Telecom",
        Mobile,
    ),
    net(
        "37.161.0.0/16",
        "FR",
        "France",
        "Lyon",
        45.7640,
        4.8357,
        "Europe/Paris",
        5410,
        "Bouygues Telecom",
        Mobile,
    ),
    net(
        "2001:861::/32",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        5410,
        "Bouygues Telecom",
        Mobile,
    ),
    net(
        "80.214.0.0/16",
        "FR",
        "France",
        "Rouen",
        49.4431,
        1.0993,
        "Europe/Paris",
        51207,
        "Free Mobile SAS",
        Mobile,
    ),
    net(
        "80.215.0.0/16",
        "FR",
        "France",
        "Marseille",
        43.2965,
        5.3698,
        "Europe/Paris",
        51207,
        "Free Mobile SAS",
        Mobile,
    ),
    // Hospital networks and their VPN concentrators (RENATER carries French university hospitals).
    net(
        "193.48.0.0/16",
        "FR",
        "France",
        "Rouen",
        49.4431,
        1.0993,
        "Europe/Paris",
        2200,
        "RENATER",
        Hospital,
    ),
    net(
        "193.49.0.0/16",
        "FR",
        "France",
        "Lyon",
        45.7640,
        4.8357,
        "Europe/Paris",
        2200,
        "RENATER",
        Hospital,
    ),
    net(
        "193.50.0.0/16",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        2200,
        "RENATER",
        Hospital,
    ),
    // Practices and clinics on business lines (one NAT per site).
    net(
        "81.250.0.0/16",
        "FR",
        "France",
        "Rouen",
        49.4431,
        1.0993,
        "Europe/Paris",
        3215,
        "Orange Business",
        Business,
    ),
    net(
        "81.251.0.0/16",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        3215,
        "Orange Business",
        Business,
    ),
    net(
        "81.252.0.0/16",
        "FR",
        "France",
        "Lyon",
        45.7640,
        4.8357,
        "Europe/Paris",
        3215,
        "Orange Business",
        Business,
    ),
    net(
        "81.253.0.0/16",
        "FR",
        "France",
        "Bordeaux",
        44.8378,
        -0.5792,
        "Europe/Paris",
        3215,
        "Orange Business",
        Business,
    ),
    // Neighbouring countries: cross-border doctors, holidays.
    net(
        "81.240.0.0/16",
        "BE",
        "Belgium",
        "Brussels",
        50.8503,
        4.3517,
        "Europe/Brussels",
        5432,
        "Proximus NV",
        Residential,
    ),
    net(
        "85.0.0.0/16",
        "CH",
        "Switzerland",
        "Geneva",
        46.2044,
        6.1432,
        "Europe/Zurich",
        3303,
        "Swisscom",
        Residential,
    ),
    // Conferences and hotels abroad.
    net(
        "83.32.0.0/16",
        "ES",
        "Spain",
        "Barcelona",
        41.3874,
        2.1686,
        "Europe/Madrid",
        3352,
        "Telefonica de Espana",
        Hotel,
    ),
    net(
        "91.64.0.0/16",
        "DE",
        "Germany",
        "Berlin",
        52.5200,
        13.4050,
        "Europe/Berlin",
        3320,
        "Deutsche Telekom AG",
        Hotel,
    ),
    net(
        "73.0.0.0/16",
        "US",
        "United States",
        "Boston",
        42.3601,
        -71.0589,
        "America/New_York",
        7922,
        "Comcast Cable",
        Hotel,
    ),
    net(
        "2601::/32",
        "US",
        "United States",
        "Boston",
        42.3601,
        -71.0589,
        "America/New_York",
        7922,
        "Comcast Cable",
        Hotel,
    ),
    // Hosting providers: where stolen credentials get used.
    net(
        "51.75.0.0/16",
        "FR",
        "France",
        "Roubaix",
        50.6942,
        3.1746,
        "Europe/Paris",
        16276,
        "OVH SAS",
        Hosting,
    ),
    net(
        "2001:41d0::/32",
        "FR",
        "France",
        "Roubaix",
        50.6942,
        3.1746,
        "Europe/Paris",
        16276,
        "OVH SAS",
        Hosting,
    ),
    net(
        "188.166.0.0/16",
        "NL",
        "Netherlands",
        "Amsterdam",
        52.3676,
        4.9041,
        "Europe/Amsterdam",
        14061,
        "DigitalOcean, LLC",
        Hosting,
    ),
    net(
        "2a03:b0c0::/32",
        "NL",
        "Netherlands",
        "Amsterdam",
        52.3676,
        4.9041,
        "Europe/Amsterdam",
        14061,
        "DigitalOcean, LLC",
        Hosting,
    ),
    net(
        "95.216.0.0/16",
        "FI",
        "Finland",
        "Helsinki",
        60.1699,
        24.9384,
        "Europe/Helsinki",
        24940,
        "Hetzner Online GmbH",
        Hosting,
    ),
    net(
        "45.133.0.0/16",
        "US",
        "United States",
        "Ashburn",
        39.0438,
        -77.4874,
        "America/New_York",
        396982,
        "Google LLC",
        Hosting,
    ),
    // Commercial VPN exits.
    net(
        "185.220.0.0/16",
        "RO",
        "Romania",
        "Bucharest",
        44.4268,
        26.1025,
        "Europe/Bucharest",
        9009,
        "M247 Europe SRL",
        Vpn,
    ),
    net(
        "146.70.0.0/16",
        "FR",
        "France",
        "Paris",
        48.8566,
        2.3522,
        "Europe/Paris",
        9009,
        "M247 Europe SRL",
        Vpn,
    ),
    // Foreign residential and mobile networks.
    net(
        "102.88.0.0/16",
        "NG",
        "Nigeria",
        "Lagos",
        6.4550,
        3.3941,
        "Africa/Lagos",
        36873,
        "Airtel Networks Limited",
        Mobile,
    ),
    net(
        "95.24.0.0/16",
        "RU",
        "Russia",
        "Moscow",
        55.7558,
        37.6173,
        "Europe/Moscow",
        12389,
        "Rostelecom",
        Residential,
    ),
    net(
        "177.0.0.0/16",
        "BR",
        "Brazil",
        "Sao Paulo",
        -23.5505,
        -46.6333,
        "America/Sao_Paulo",
        26599,
        "Telefonica Brasil S.A.",
        Residential,
    ),
    net(
        "14.160.0.0/16",
        "VN",
        "Vietnam",
        "Hanoi",
        21.0285,
        105.8542,
        "Asia/Ho_Chi_Minh",
        7552,
        "Viettel Group",
        Residential,
    ),
    net(
        "2402:800::/32",
        "VN",
        "Vietnam",
        "Hanoi",
        21.0285,
        105.8542,
        "Asia/Ho_Chi_Minh",
        7552,
        "Viettel Group",
        Residential,
    ),
];

/// Networks of one kind.
pub fn of_kind(kind: NetKind) -> impl Iterator<Item = &'static Network> {
    NETWORKS.iter().filter(move |n| n.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn every_prefix_parses_and_none_overlap() {
        let parsed: Vec<(IpAddr, u8)> = NETWORKS
            .iter()
            .map(|n| {
                let (a, l) = n.cidr.split_once('/').unwrap();
                (a.parse().unwrap(), l.parse().unwrap())
            })
            .collect();
        for (i, a) in parsed.iter().enumerate() {
            for b in &parsed[i + 1..] {
                assert!(!overlaps(*a, *b), "{a:?} overlaps {b:?}");
            }
        }
    }

    fn overlaps((a, la): (IpAddr, u8), (b, lb): (IpAddr, u8)) -> bool {
        let l = la.min(lb) as u32;
        match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = if l == 0 { 0 } else { u128::MAX << (128 - l) };
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}
