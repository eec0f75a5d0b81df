//! What the `.mmdb` test fixtures in `testdata/geo/` contain: one record per network of
//! [`crate::world::NETWORKS`], in each of the three layouts [`super::geo`] reads.
//!
//! This module only shapes the records (serde `Serialize`); the bytes are written by
//! `examples/gen_mmdb.rs` with the `mmdb-writer` crate, a dev-dependency, so the engine itself
//! carries no writer. Keeping the record shapes here, next to the reader, means a layout change
//! shows up in one diff.
//!
//! Regenerate with `cargo run --example gen_mmdb -- testdata/geo`; `tests/geo_fixtures.rs`
//! fails if the committed files differ from what this code produces.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::world::{NetKind, Network};

/// MaxMind GeoLite2 City layout.
pub const CITY_MAXMIND_FILE: &str = "GeoLite2-City-Test.mmdb";
/// MaxMind GeoLite2 ASN layout.
pub const ASN_FILE: &str = "GeoLite2-ASN-Test.mmdb";
/// Flat DB-IP Lite city layout, as redistributed by `@ip-location-db`.
pub const CITY_DBIP_FILE: &str = "dbip-city-lite-test.mmdb";

/// Build time written into every fixture's metadata (2025-11-11T00:00:00Z), fixed so the files
/// are reproducible byte for byte.
pub const BUILD_EPOCH: u64 = 1_762_819_200;

/// The metadata description of every fixture.
pub const DESCRIPTION: &str =
    "Tocsin test fixture generated from src/world.rs (approximate, not a source of truth)";

/// `database_type` of each fixture, as the real files name themselves.
pub const CITY_MAXMIND_TYPE: &str = "GeoLite2-City";
/// `database_type` of the ASN fixture.
pub const ASN_TYPE: &str = "GeoLite2-ASN";
/// `database_type` of the flat DB-IP fixture.
pub const CITY_DBIP_TYPE: &str = "DBIP-City-Lite";

/// A GeoLite2 City record (the subset of fields real files always carry).
#[derive(Debug, Serialize)]
pub struct MaxMindCityRecord {
    /// `city.names`
    pub city: Named,
    /// `continent` (code and names)
    pub continent: Continent,
    /// `country` (ISO code and names)
    pub country: CountryRecord,
    /// `location`
    pub location: LocationRecord,
    /// `registered_country`: where the network is registered (here: where it is).
    pub registered_country: CountryRecord,
}

/// Something with localised names.
#[derive(Debug, Serialize)]
pub struct Named {
    /// Names by language; English only here.
    pub names: BTreeMap<&'static str, &'static str>,
}

/// `continent`
#[derive(Debug, Serialize)]
pub struct Continent {
    /// Two-letter continent code (`EU`, `NA`...).
    pub code: &'static str,
    /// Names by language.
    pub names: BTreeMap<&'static str, &'static str>,
}

/// `country` / `registered_country`
#[derive(Debug, Serialize)]
pub struct CountryRecord {
    /// ISO 3166-1 alpha-2.
    pub iso_code: &'static str,
    /// Names by language.
    pub names: BTreeMap<&'static str, &'static str>,
}

/// `location`
#[derive(Debug, Serialize)]
pub struct LocationRecord {
    /// Radius in km around the point where the address is likely to be.
    pub accuracy_radius: u16,
    /// Degrees (double, as in MaxMind files).
    pub latitude: f64,
    /// Degrees.
    pub longitude: f64,
    /// IANA time zone.
    pub time_zone: &'static str,
}

/// A flat DB-IP Lite City record.
#[derive(Debug, Serialize)]
pub struct DbipCityRecord {
    /// ISO 3166-1 alpha-2.
    pub country_code: &'static str,
    /// City name.
    pub city: &'static str,
    /// Degrees, single precision (as the flat redistributions store them).
    pub latitude: f32,
    /// Degrees.
    pub longitude: f32,
    /// IANA time zone; empty for mobile carrier pools, as it often is in the real files.
    pub timezone: &'static str,
}

/// A GeoLite2 ASN record.
#[derive(Debug, Serialize)]
pub struct AsnRecord {
    /// AS number.
    pub autonomous_system_number: u32,
    /// AS organisation.
    pub autonomous_system_organization: &'static str,
}

fn en(name: &'static str) -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([("en", name)])
}

fn continent_of(country: &str) -> (&'static str, &'static str) {
    match country {
        "US" | "CA" | "MX" | "DO" => ("NA", "North America"),
        "BR" | "AR" | "CO" => ("SA", "South America"),
        "NG" | "MA" | "RE" => ("AF", "Africa"),
        "VN" => ("AS", "Asia"),
        _ => ("EU", "Europe"),
    }
}

/// The MaxMind City record for one network of the world.
pub fn maxmind_city(n: &Network) -> MaxMindCityRecord {
    let (code, continent) = continent_of(n.country);
    let country = || CountryRecord {
        iso_code: n.country,
        names: en(n.country_name),
    };
    MaxMindCityRecord {
        city: Named { names: en(n.city) },
        continent: Continent {
            code,
            names: en(continent),
        },
        country: country(),
        location: LocationRecord {
            // Mobile carrier pools are located far less precisely than a fixed line.
            accuracy_radius: if n.kind == NetKind::Mobile { 500 } else { 20 },
            latitude: n.lat,
            longitude: n.lon,
            time_zone: n.tz,
        },
        registered_country: country(),
    }
}

/// The flat DB-IP record for one network of the world.
pub fn dbip_city(n: &Network) -> DbipCityRecord {
    DbipCityRecord {
        country_code: n.country,
        city: n.city,
        latitude: n.lat as f32,
        longitude: n.lon as f32,
        timezone: if n.kind == NetKind::Mobile { "" } else { n.tz },
    }
}

/// The ASN record for one network of the world.
pub fn asn(n: &Network) -> AsnRecord {
    AsnRecord {
        autonomous_system_number: n.asn,
        autonomous_system_organization: n.as_org,
    }
}
