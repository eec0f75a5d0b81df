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
    /// Egress of a privacy relay (Apple iCloud Private Relay runs its egress on Akamai,
    /// Cloudflare and Fastly): addresses change per connection but stay in the user's region.
    Relay,
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

/// Rows of [`NETWORKS`] that `tocsin gen --profile classic` draws from: the world as it was
/// before the `tune` and `holdout` profiles. Classic output is pinned byte for byte, so these
/// rows never change and every later row goes after them.
pub const CLASSIC_NETWORKS: usize = 42;

/// Every network of the fixture world. IPv4 and IPv6 prefixes; French networks dominate, as in
/// the medical SaaS the generator imitates. The rows after [`CLASSIC_NETWORKS`] add what the
/// `tune` (France, Belgium, Switzerland) and `holdout` (Spain, Portugal, Latin-American travel)
/// profiles need; they are one line each.
#[rustfmt::skip]
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
    // ---- Added for the `tune` profile (France, Belgium, Switzerland). ----
    // More French, Belgian and Swiss home broadband (moving house needs other cities and ISPs).
    net("86.192.0.0/16", "FR", "France", "Rennes", 48.1173, -1.6778, "Europe/Paris", 3215, "Orange", Residential),
    net("90.5.0.0/16", "FR", "France", "Nice", 43.7102, 7.2620, "Europe/Paris", 3215, "Orange", Residential),
    net("82.67.0.0/16", "FR", "France", "Grenoble", 45.1885, 5.7245, "Europe/Paris", 12322, "Free SAS", Residential),
    net("93.22.0.0/16", "FR", "France", "Montpellier", 43.6108, 3.8767, "Europe/Paris", 15557, "SFR SA", Residential),
    net("176.128.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 5410, "Bouygues Telecom", Residential),
    net("176.129.0.0/16", "FR", "France", "Lyon", 45.7640, 4.8357, "Europe/Paris", 5410, "Bouygues Telecom", Residential),
    net("176.130.0.0/16", "FR", "France", "Lille", 50.6292, 3.0573, "Europe/Paris", 5410, "Bouygues Telecom", Residential),
    net("2a02:8400::/32", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 15557, "SFR SA", Residential),
    net("84.192.0.0/16", "BE", "Belgium", "Antwerp", 51.2194, 4.4025, "Europe/Brussels", 6848, "Telenet BV", Residential),
    net("109.88.0.0/16", "BE", "Belgium", "Liege", 50.6326, 5.5797, "Europe/Brussels", 12392, "VOO SA", Residential),
    net("81.241.0.0/16", "BE", "Belgium", "Namur", 50.4674, 4.8718, "Europe/Brussels", 5432, "Proximus NV", Residential),
    net("83.76.0.0/16", "CH", "Switzerland", "Lausanne", 46.5197, 6.6323, "Europe/Zurich", 6730, "Sunrise GmbH", Residential),
    net("85.1.0.0/16", "CH", "Switzerland", "Zurich", 47.3769, 8.5417, "Europe/Zurich", 3303, "Swisscom", Residential),
    // Orange and SFR mobile, Belgian and Swiss carriers.
    net("92.184.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 3215, "Orange", Mobile),
    net("92.185.0.0/16", "FR", "France", "Marseille", 43.2965, 5.3698, "Europe/Paris", 3215, "Orange", Mobile),
    net("2a01:cd00::/32", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 3215, "Orange", Mobile),
    net("77.136.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 15557, "SFR SA", Mobile),
    net("77.137.0.0/16", "FR", "France", "Toulouse", 43.6047, 1.4442, "Europe/Paris", 15557, "SFR SA", Mobile),
    net("46.178.0.0/16", "BE", "Belgium", "Brussels", 50.8503, 4.3517, "Europe/Brussels", 5432, "Proximus NV", Mobile),
    net("94.105.0.0/16", "BE", "Belgium", "Brussels", 50.8503, 4.3517, "Europe/Brussels", 47377, "Orange Belgium SA", Mobile),
    net("178.197.0.0/16", "CH", "Switzerland", "Zurich", 47.3769, 8.5417, "Europe/Zurich", 3303, "Swisscom", Mobile),
    net("31.10.0.0/16", "CH", "Switzerland", "Geneva", 46.2044, 6.1432, "Europe/Zurich", 15796, "Salt Mobile SA", Mobile),
    // Belgian and Swiss hospitals on their research networks.
    net("193.190.0.0/16", "BE", "Belgium", "Brussels", 50.8503, 4.3517, "Europe/Brussels", 2611, "Belnet", Hospital),
    net("130.59.0.0/16", "CH", "Switzerland", "Geneva", 46.2044, 6.1432, "Europe/Zurich", 559, "SWITCH", Hospital),
    // Practices in more cities.
    net("81.254.0.0/16", "FR", "France", "Marseille", 43.2965, 5.3698, "Europe/Paris", 3215, "Orange Business", Business),
    net("81.255.0.0/16", "FR", "France", "Toulouse", 43.6047, 1.4442, "Europe/Paris", 3215, "Orange Business", Business),
    net("62.160.0.0/16", "FR", "France", "Lille", 50.6292, 3.0573, "Europe/Paris", 15557, "SFR Business", Business),
    net("62.161.0.0/16", "FR", "France", "Nantes", 47.2184, -1.5536, "Europe/Paris", 15557, "SFR Business", Business),
    net("62.162.0.0/16", "FR", "France", "Strasbourg", 48.5734, 7.7521, "Europe/Paris", 15557, "SFR Business", Business),
    net("62.163.0.0/16", "FR", "France", "Rennes", 48.1173, -1.6778, "Europe/Paris", 15557, "SFR Business", Business),
    net("62.164.0.0/16", "FR", "France", "Nice", 43.7102, 7.2620, "Europe/Paris", 15557, "SFR Business", Business),
    net("212.68.0.0/16", "BE", "Belgium", "Brussels", 50.8503, 4.3517, "Europe/Brussels", 5432, "Proximus NV", Business),
    net("212.69.0.0/16", "BE", "Belgium", "Liege", 50.6326, 5.5797, "Europe/Brussels", 5432, "Proximus NV", Business),
    net("195.186.0.0/16", "CH", "Switzerland", "Geneva", 46.2044, 6.1432, "Europe/Zurich", 3303, "Swisscom", Business),
    net("195.187.0.0/16", "CH", "Switzerland", "Lausanne", 46.5197, 6.6323, "Europe/Zurich", 3303, "Swisscom", Business),
    // Where French-speaking doctors go on holiday or to conferences.
    net("89.152.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 3243, "MEO", Hotel),
    net("105.128.0.0/16", "MA", "Morocco", "Marrakech", 31.6295, -7.9811, "Africa/Casablanca", 36903, "Maroc Telecom", Hotel),
    net("79.0.0.0/16", "IT", "Italy", "Rome", 41.9028, 12.4964, "Europe/Rome", 3269, "Telecom Italia", Hotel),
    net("94.64.0.0/16", "GR", "Greece", "Athens", 37.9838, 23.7275, "Europe/Athens", 6799, "OTE SA", Hotel),
    net("70.80.0.0/16", "CA", "Canada", "Montreal", 45.5017, -73.5673, "America/Toronto", 577, "Bell Canada", Hotel),
    net("102.35.0.0/16", "RE", "Reunion", "Saint-Denis", -20.8821, 55.4507, "Indian/Reunion", 37002, "Reunicable SAS", Hotel),
    net("83.33.0.0/16", "ES", "Spain", "Malaga", 36.7213, -4.4214, "Europe/Madrid", 3352, "Telefonica de Espana", Hotel),
    // Clouds that integrations run on (and that attackers rent).
    net("15.236.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 16509, "Amazon.com, Inc.", Hosting),
    net("20.74.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 8075, "Microsoft Corporation", Hosting),
    net("51.158.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 12876, "Scaleway S.A.S.", Hosting),
    net("3.120.0.0/16", "DE", "Germany", "Frankfurt", 50.1109, 8.6821, "Europe/Berlin", 16509, "Amazon.com, Inc.", Hosting),
    net("88.198.0.0/16", "DE", "Germany", "Falkenstein", 50.4779, 12.3713, "Europe/Berlin", 24940, "Hetzner Online GmbH", Hosting),
    net("173.212.0.0/16", "DE", "Germany", "Nuremberg", 49.4521, 11.0767, "Europe/Berlin", 51167, "Contabo GmbH", Hosting),
    // Personal VPN exits.
    net("212.102.0.0/16", "DE", "Germany", "Frankfurt", 50.1109, 8.6821, "Europe/Berlin", 60068, "Datacamp Limited", Vpn),
    net("185.159.0.0/16", "CH", "Switzerland", "Zurich", 47.3769, 8.5417, "Europe/Zurich", 209103, "Proton AG", Vpn),
    net("185.213.0.0/16", "SE", "Sweden", "Stockholm", 59.3293, 18.0686, "Europe/Stockholm", 39351, "31173 Services AB", Vpn),
    net("146.72.0.0/16", "NL", "Netherlands", "Amsterdam", 52.3676, 4.9041, "Europe/Amsterdam", 9009, "M247 Europe SRL", Vpn),
    // iCloud Private Relay egress, geolocated to the user's region.
    net("172.224.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 36183, "Akamai Technologies, Inc.", Relay),
    net("172.225.0.0/16", "FR", "France", "Lyon", 45.7640, 4.8357, "Europe/Paris", 36183, "Akamai Technologies, Inc.", Relay),
    net("104.28.0.0/16", "FR", "France", "Marseille", 43.2965, 5.3698, "Europe/Paris", 13335, "Cloudflare, Inc.", Relay),
    net("172.226.0.0/16", "FR", "France", "Lille", 50.6292, 3.0573, "Europe/Paris", 36183, "Akamai Technologies, Inc.", Relay),
    net("2a02:26f7::/32", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 36183, "Akamai Technologies, Inc.", Relay),
    net("172.227.0.0/16", "BE", "Belgium", "Brussels", 50.8503, 4.3517, "Europe/Brussels", 36183, "Akamai Technologies, Inc.", Relay),
    net("172.228.0.0/16", "CH", "Switzerland", "Zurich", 47.3769, 8.5417, "Europe/Zurich", 36183, "Akamai Technologies, Inc.", Relay),
    // ---- Added for the `holdout` profile (Spain, Portugal, Latin-American travel). ----
    // Spanish and Portuguese home broadband (the Canaries are an hour behind the mainland).
    net("88.0.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 3352, "Telefonica de Espana", Residential),
    net("88.1.0.0/16", "ES", "Spain", "Sevilla", 37.3891, -5.9845, "Europe/Madrid", 3352, "Telefonica de Espana", Residential),
    net("88.2.0.0/16", "ES", "Spain", "Valencia", 39.4699, -0.3763, "Europe/Madrid", 3352, "Telefonica de Espana", Residential),
    net("88.3.0.0/16", "ES", "Spain", "Santa Cruz de Tenerife", 28.4636, -16.2518, "Atlantic/Canary", 3352, "Telefonica de Espana", Residential),
    net("95.16.0.0/16", "ES", "Spain", "Barcelona", 41.3874, 2.1686, "Europe/Madrid", 12430, "Vodafone Espana S.A.U.", Residential),
    net("95.17.0.0/16", "ES", "Spain", "Bilbao", 43.2630, -2.9350, "Europe/Madrid", 12430, "Vodafone Espana S.A.U.", Residential),
    net("90.160.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 12479, "Orange Espagne SA", Residential),
    net("90.161.0.0/16", "ES", "Spain", "Zaragoza", 41.6488, -0.8891, "Europe/Madrid", 12479, "Orange Espagne SA", Residential),
    net("79.116.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 57269, "DIGI Spain Telecom S.L.", Residential),
    net("79.117.0.0/16", "ES", "Spain", "Valencia", 39.4699, -0.3763, "Europe/Madrid", 57269, "DIGI Spain Telecom S.L.", Residential),
    net("2a0c:5a80::/32", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 57269, "DIGI Spain Telecom S.L.", Residential),
    net("2a02:9000::/32", "ES", "Spain", "Barcelona", 41.3874, 2.1686, "Europe/Madrid", 12430, "Vodafone Espana S.A.U.", Residential),
    net("85.240.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 3243, "MEO", Residential),
    net("85.241.0.0/16", "PT", "Portugal", "Porto", 41.1579, -8.6291, "Europe/Lisbon", 3243, "MEO", Residential),
    net("188.80.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 2860, "NOS Comunicacoes", Residential),
    net("188.81.0.0/16", "PT", "Portugal", "Braga", 41.5454, -8.4265, "Europe/Lisbon", 2860, "NOS Comunicacoes", Residential),
    net("2001:8a0::/32", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 3243, "MEO", Residential),
    // Spanish and Portuguese mobile carriers.
    net("85.52.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 3352, "Telefonica de Espana", Mobile),
    net("37.133.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 12430, "Vodafone Espana S.A.U.", Mobile),
    net("37.134.0.0/16", "ES", "Spain", "Barcelona", 41.3874, 2.1686, "Europe/Madrid", 12430, "Vodafone Espana S.A.U.", Mobile),
    net("90.167.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 12479, "Orange Espagne SA", Mobile),
    net("37.10.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 16299, "Xfera Moviles S.A.", Mobile),
    net("176.79.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 3243, "MEO", Mobile),
    net("89.115.0.0/16", "PT", "Portugal", "Porto", 41.1579, -8.6291, "Europe/Lisbon", 2860, "NOS Comunicacoes", Mobile),
    net("148.69.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 12353, "Vodafone Portugal", Mobile),
    // Public hospitals on the research and health networks.
    net("130.206.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 766, "RedIRIS", Hospital),
    net("150.214.0.0/16", "ES", "Spain", "Sevilla", 37.3891, -5.9845, "Europe/Madrid", 766, "RedIRIS", Hospital),
    net("147.83.0.0/16", "ES", "Spain", "Barcelona", 41.3874, 2.1686, "Europe/Madrid", 766, "RedIRIS", Hospital),
    net("158.42.0.0/16", "ES", "Spain", "Valencia", 39.4699, -0.3763, "Europe/Madrid", 766, "RedIRIS", Hospital),
    net("193.136.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 1930, "RCTS (FCCN)", Hospital),
    net("193.137.0.0/16", "PT", "Portugal", "Porto", 41.1579, -8.6291, "Europe/Lisbon", 1930, "RCTS (FCCN)", Hospital),
    // Clinics and practices on business lines.
    net("80.24.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 3352, "Telefonica de Espana", Business),
    net("80.25.0.0/16", "ES", "Spain", "Barcelona", 41.3874, 2.1686, "Europe/Madrid", 3352, "Telefonica de Espana", Business),
    net("80.26.0.0/16", "ES", "Spain", "Valencia", 39.4699, -0.3763, "Europe/Madrid", 3352, "Telefonica de Espana", Business),
    net("80.27.0.0/16", "ES", "Spain", "Sevilla", 37.3891, -5.9845, "Europe/Madrid", 3352, "Telefonica de Espana", Business),
    net("80.28.0.0/16", "ES", "Spain", "Bilbao", 43.2630, -2.9350, "Europe/Madrid", 3352, "Telefonica de Espana", Business),
    net("80.29.0.0/16", "ES", "Spain", "Zaragoza", 41.6488, -0.8891, "Europe/Madrid", 3352, "Telefonica de Espana", Business),
    net("62.82.0.0/16", "ES", "Spain", "Santa Cruz de Tenerife", 28.4636, -16.2518, "Atlantic/Canary", 3352, "Telefonica de Espana", Business),
    net("194.65.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 3243, "MEO", Business),
    net("194.66.0.0/16", "PT", "Portugal", "Porto", 41.1579, -8.6291, "Europe/Lisbon", 3243, "MEO", Business),
    net("213.13.0.0/16", "PT", "Portugal", "Braga", 41.5454, -8.4265, "Europe/Lisbon", 2860, "NOS Comunicacoes", Business),
    // Latin-American holidays and family visits, and conferences.
    net("189.203.0.0/16", "MX", "Mexico", "Mexico City", 19.4326, -99.1332, "America/Mexico_City", 8151, "Uninet S.A. de C.V.", Hotel),
    net("187.190.0.0/16", "MX", "Mexico", "Cancun", 21.1619, -86.8515, "America/Cancun", 22884, "Totalplay Telecomunicaciones", Hotel),
    net("181.49.0.0/16", "CO", "Colombia", "Cartagena", 10.3910, -75.4794, "America/Bogota", 10620, "Telmex Colombia S.A.", Hotel),
    net("181.46.0.0/16", "AR", "Argentina", "Buenos Aires", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", 7303, "Telecom Argentina S.A.", Hotel),
    net("152.166.0.0/16", "DO", "Dominican Republic", "Punta Cana", 18.5601, -68.3725, "America/Santo_Domingo", 6400, "Compania Dominicana de Telefonos", Hotel),
    net("73.1.0.0/16", "US", "United States", "Miami", 25.7617, -80.1918, "America/New_York", 7922, "Comcast Cable", Hotel),
    net("80.110.0.0/16", "AT", "Austria", "Vienna", 48.2082, 16.3738, "Europe/Vienna", 8447, "A1 Telekom Austria AG", Hotel),
    net("78.192.0.0/16", "FR", "France", "Paris", 48.8566, 2.3522, "Europe/Paris", 12322, "Free SAS", Hotel),
    // Local SIM cards bought on long trips (roaming there is dear).
    net("189.240.0.0/16", "MX", "Mexico", "Mexico City", 19.4326, -99.1332, "America/Mexico_City", 28403, "Radiomovil Dipsa (Telcel)", Mobile),
    net("186.84.0.0/16", "CO", "Colombia", "Bogota", 4.7110, -74.0721, "America/Bogota", 10620, "Telmex Colombia S.A.", Mobile),
    net("181.0.0.0/16", "AR", "Argentina", "Buenos Aires", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", 22927, "Telefonica de Argentina", Mobile),
    // Iberian clouds.
    net("18.100.0.0/16", "ES", "Spain", "Zaragoza", 41.6488, -0.8891, "Europe/Madrid", 16509, "Amazon.com, Inc.", Hosting),
    net("68.221.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 8075, "Microsoft Corporation", Hosting),
    net("34.175.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 396982, "Google LLC", Hosting),
    // VPN exits in Spain.
    net("89.187.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 60068, "Datacamp Limited", Vpn),
    net("146.71.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 9009, "M247 Europe SRL", Vpn),
    // Private Relay egress in Spain and Portugal.
    net("172.232.0.0/16", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 36183, "Akamai Technologies, Inc.", Relay),
    net("172.233.0.0/16", "ES", "Spain", "Barcelona", 41.3874, 2.1686, "Europe/Madrid", 36183, "Akamai Technologies, Inc.", Relay),
    net("104.29.0.0/16", "ES", "Spain", "Sevilla", 37.3891, -5.9845, "Europe/Madrid", 13335, "Cloudflare, Inc.", Relay),
    net("146.75.0.0/16", "ES", "Spain", "Valencia", 39.4699, -0.3763, "Europe/Madrid", 54113, "Fastly, Inc.", Relay),
    net("2a09:bac0::/32", "ES", "Spain", "Madrid", 40.4168, -3.7038, "Europe/Madrid", 13335, "Cloudflare, Inc.", Relay),
    net("172.234.0.0/16", "PT", "Portugal", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 36183, "Akamai Technologies, Inc.", Relay),
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
    fn classic_rows_end_where_they_always_did() {
        // `tocsin gen --profile classic` is pinned byte for byte to these rows.
        assert_eq!(NETWORKS[CLASSIC_NETWORKS - 1].cidr, "2402:800::/32");
        assert_eq!(NETWORKS[CLASSIC_NETWORKS].cidr, "86.192.0.0/16");
    }

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
