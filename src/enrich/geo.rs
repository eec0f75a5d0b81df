//! GeoIP: where an address is, from memory-mapped MaxMind DB (`.mmdb`) files.
//!
//! This module owns address classification ([`classify`]), the database readers and their
//! layout detection, and the lookup cache. It stops at [`GeoInfo`]: what a location *means* for
//! an account (new country, travel speed) is the detector's business.
//!
//! Two city layouts are read, and told apart by the shape of their records rather than by file
//! name, because redistributors rename files and keep MaxMind's `database_type`:
//!
//! - MaxMind GeoIP2/GeoLite2 City (also DB-IP's own GeoIP2-compatible downloads): nested
//!   `country.iso_code`, `city.names.en`, `location.{latitude,longitude,time_zone}`;
//! - the flat layout of the `@ip-location-db` DB-IP Lite files: `country_code`, `city`,
//!   `latitude`, `longitude`, `timezone` (often empty), numbers sometimes stored as text.
//!
//! ASN databases use the GeoLite2-ASN field names (`autonomous_system_number`,
//! `autonomous_system_organization`), which the flat ASN redistributions share.
//!
//! Several city files may be configured (DB-IP Lite ships IPv4 and IPv6 as two files): they are
//! asked in order and the first with a record answers.
//!
//! Never a fake location: an address that is not public, or that no database lists, gets no
//! country, city or coordinates, and `(0, 0)` coordinates (a common "unknown" filler) are dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::{MaxMindDbError, Mmap, Reader};
use serde::de::{self, IgnoredAny, Visitor};
use serde::Deserialize;

use super::cache::{Interner, ShardedLru};
use super::{AddrClass, Country, EnrichError, GeoInfo};
use crate::event::canonical_ip;

/// What an address is, before any database is asked. Only [`AddrClass::Unlisted`] (meaning
/// "public, ask the database") can come out of here for a routable address.
pub fn classify(ip: IpAddr) -> AddrClass {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_private() {
        AddrClass::Private
    } else if a == 100 && (b & 0xC0) == 64 {
        AddrClass::Cgnat
    } else if ip.is_link_local() {
        AddrClass::LinkLocal
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // "this network" 0/8, IETF protocol assignments 192.0.0/24, benchmarking 198.18/15,
        // and the old class E 240/4: none of them is a client on the Internet.
        || a == 0
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xFE) == 18)
        || a >= 240
    {
        AddrClass::Reserved
    } else {
        AddrClass::Unlisted
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let s = ip.segments();
    if ip.is_loopback() {
        AddrClass::Loopback
    } else if (s[0] & 0xFE00) == 0xFC00 {
        AddrClass::Private
    } else if (s[0] & 0xFFC0) == 0xFE80 {
        AddrClass::LinkLocal
    } else if ip.is_unspecified()
        || ip.is_multicast()
        // 2001:db8::/32 documentation, 3fff::/20 documentation (RFC 9637).
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && (s[1] & 0xF000) == 0)
        // 100::/64 discard-only.
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
        // Only 2000::/3 is allocated as global unicast; everything else left is reserved.
        || (s[0] & 0xE000) != 0x2000
    {
        AddrClass::Reserved
    } else {
        AddrClass::Unlisted
    }
}

/// How a city database lays out its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CityLayout {
    /// MaxMind GeoIP2/GeoLite2 City: nested `country.iso_code`, `city.names.en`, `location`.
    MaxMind,
    /// Flat DB-IP Lite (`@ip-location-db`): `country_code`, `city`, `latitude`, `longitude`.
    Flat,
}

struct CityDb {
    path: PathBuf,
    reader: Reader<Mmap>,
    layout: CityLayout,
}

struct AsnDb {
    path: PathBuf,
    reader: Reader<Mmap>,
}

/// The GeoIP databases and the cache in front of them. `Send + Sync`: share by reference.
pub struct GeoDb {
    city: Vec<CityDb>,
    asn: Option<AsnDb>,
    // Keyed by (network bits, prefix length in the 128-bit space): see `lookup`.
    cache: ShardedLru<(u128, u8), GeoInfo>,
    strings: Arc<Interner>,
}

impl Default for GeoDb {
    fn default() -> Self {
        GeoDb {
            city: Vec::new(),
            asn: None,
            cache: ShardedLru::new(0),
            strings: Arc::default(),
        }
    }
}

/// Coarse cache granularity: a lookup whose database network is at least this wide is cached
/// for the whole block, so the neighbours of an address (a mobile carrier's pool) hit the cache.
const COARSE_V4: u8 = 24;
const COARSE_V6: u8 = 48;

impl GeoDb {
    /// Opens the city databases (asked in order) and the optional ASN database, memory-mapped.
    /// `cache_entries` bounds the lookup cache (0 disables it).
    pub fn open(
        city: &[PathBuf],
        asn: Option<&Path>,
        cache_entries: usize,
        strings: Arc<Interner>,
    ) -> Result<GeoDb, EnrichError> {
        let city = city
            .iter()
            .map(|p| open_city(p))
            .collect::<Result<Vec<_>, _>>()?;
        let asn = asn.map(open_asn).transpose()?;
        Ok(GeoDb {
            city,
            asn,
            cache: ShardedLru::new(cache_entries),
            strings,
        })
    }

    /// The layout detected for each city database, in lookup order.
    pub fn city_layouts(&self) -> impl Iterator<Item = (&Path, CityLayout)> {
        self.city.iter().map(|c| (c.path.as_path(), c.layout))
    }

    /// The ASN database in use, if any.
    pub fn asn_path(&self) -> Option<&Path> {
        self.asn.as_ref().map(|a| a.path.as_path())
    }

    /// Where `ip` is. Cached: a hit clones three `Arc`s and allocates nothing.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let ip = canonical_ip(ip);
        let class = classify(ip);
        if class != AddrClass::Unlisted {
            return GeoInfo {
                class,
                ..GeoInfo::default()
            };
        }
        if self.city.is_empty() && self.asn.is_none() {
            return GeoInfo {
                class: AddrClass::Unlisted,
                ..GeoInfo::default()
            };
        }
        let (bits, coarse) = match ip {
            IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 96 + COARSE_V4),
            IpAddr::V6(v6) => (u128::from(v6), COARSE_V6),
        };
        let coarse_key = (mask(bits, coarse), coarse);
        let exact_key = (bits, 128);
        if let Some(hit) = self.cache.get(&coarse_key) {
            return hit;
        }
        if let Some(hit) = self.cache.get(&exact_key) {
            return hit;
        }
        let (info, prefix) = self.lookup_uncached(ip);
        // The answer holds for every address of the smallest database network that decided it,
        // so it can be shared by the whole coarse block only when that network covers it.
        let own_bits = if ip.is_ipv4() { 96 } else { 0 };
        let key = if own_bits + prefix <= coarse {
            coarse_key
        } else {
            exact_key
        };
        self.cache.put(key, info.clone());
        info
    }

    /// Looks `ip` up in every database; returns the answer and the prefix length (in `ip`'s own
    /// address family) of the narrowest database network that decided it.
    fn lookup_uncached(&self, ip: IpAddr) -> (GeoInfo, u8) {
        let full: u8 = if ip.is_ipv4() { 32 } else { 128 };
        let mut prefix = full;
        let mut info = GeoInfo {
            class: AddrClass::Unlisted,
            ..GeoInfo::default()
        };
        let mut listed = false;
        // A failed lookup (a damaged file) must not be cached for a whole block.
        let mut failed = false;
        for db in &self.city {
            if ip.is_ipv6() && db.reader.metadata.ip_version == 4 {
                continue;
            }
            match self.city_record(db, ip, &mut info) {
                Ok((found, p)) => {
                    prefix = prefix.min(p);
                    if found {
                        listed = true;
                        break;
                    }
                }
                Err(e) => {
                    failed = true;
                    tracing::debug!(db = %db.path.display(), error = %e, "city lookup failed");
                }
            }
        }
        if let Some(db) = &self.asn {
            if !(ip.is_ipv6() && db.reader.metadata.ip_version == 4) {
                match db.reader.lookup_prefix::<AsnRecord<'_>>(ip) {
                    Ok((rec, p)) => {
                        prefix = prefix.min(p as u8);
                        if let Some(rec) = rec {
                            info.asn = rec.autonomous_system_number.and_then(|n| n.0);
                            info.as_org = non_empty(rec.autonomous_system_organization)
                                .map(|s| self.strings.intern(s));
                            listed |= info.asn.is_some() || info.as_org.is_some();
                        }
                    }
                    Err(e) => {
                        failed = true;
                        tracing::debug!(db = %db.path.display(), error = %e, "ASN lookup failed");
                    }
                }
            }
        }
        if listed {
            info.class = AddrClass::Public;
        }
        if failed {
            prefix = full;
        }
        (info, prefix)
    }

    /// Fills the location fields from one city database. `Ok((true, _))` when it had a record.
    fn city_record(
        &self,
        db: &CityDb,
        ip: IpAddr,
        info: &mut GeoInfo,
    ) -> Result<(bool, u8), MaxMindDbError> {
        let s = &self.strings;
        match db.layout {
            CityLayout::MaxMind => {
                let (rec, p) = db.reader.lookup_prefix::<MaxMindCity<'_>>(ip)?;
                let Some(rec) = rec else {
                    return Ok((false, p as u8));
                };
                info.country = rec
                    .country
                    .and_then(|c| c.iso_code)
                    .and_then(Country::parse);
                info.city = rec
                    .city
                    .and_then(|c| c.names)
                    .and_then(|n| non_empty(n.en))
                    .map(|c| s.intern(c));
                if let Some(loc) = rec.location {
                    info.lat_lon = lat_lon(
                        loc.latitude.and_then(|d| d.0),
                        loc.longitude.and_then(|d| d.0),
                    );
                    info.tz = non_empty(loc.time_zone).map(|t| s.intern(t));
                }
                Ok((true, p as u8))
            }
            CityLayout::Flat => {
                let (rec, p) = db.reader.lookup_prefix::<FlatCity<'_>>(ip)?;
                let Some(rec) = rec else {
                    return Ok((false, p as u8));
                };
                info.country = rec.country_code.and_then(Country::parse);
                info.city = non_empty(rec.city).map(|c| s.intern(c));
                info.lat_lon = lat_lon(
                    rec.latitude.and_then(|d| d.0),
                    rec.longitude.and_then(|d| d.0),
                );
                info.tz = non_empty(rec.timezone).map(|t| s.intern(t));
                Ok((true, p as u8))
            }
        }
    }
}

fn mask(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => bits,
        p => bits & (u128::MAX << (128 - u32::from(p))),
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn lat_lon(lat: Option<f64>, lon: Option<f64>) -> Option<(f32, f32)> {
    let (lat, lon) = (lat?, lon?);
    let valid = lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
        // Null Island is how several databases say "unknown".
        && !(lat == 0.0 && lon == 0.0);
    valid.then_some((lat as f32, lon as f32))
}

fn open_reader(path: &Path) -> Result<Reader<Mmap>, EnrichError> {
    Reader::open_mmap(path).map_err(|e| {
        let message = match e {
            MaxMindDbError::Io(e) | MaxMindDbError::Mmap(e) => {
                format!("cannot open GeoIP database: {e}")
            }
            other => format!("not a usable MaxMind DB (.mmdb) file: {other}"),
        };
        EnrichError {
            path: path.display().to_string(),
            message,
        }
    })
}

fn open_city(path: &Path) -> Result<CityDb, EnrichError> {
    let reader = open_reader(path)?;
    let shape = probe(&reader);
    let layout = if shape.maxmind {
        CityLayout::MaxMind
    } else if shape.flat {
        CityLayout::Flat
    } else {
        let hint = if shape.asn {
            "; it looks like an ASN database: configure it as `[geoip] asn`"
        } else {
            ""
        };
        return Err(EnrichError {
            path: path.display().to_string(),
            message: format!(
                "unknown city database layout (database_type {:?}): expected MaxMind City \
                 (`country.iso_code`, `location`) or DB-IP Lite (`country_code`, `latitude`){hint}",
                reader.metadata.database_type
            ),
        });
    };
    Ok(CityDb {
        path: path.to_path_buf(),
        reader,
        layout,
    })
}

fn open_asn(path: &Path) -> Result<AsnDb, EnrichError> {
    let reader = open_reader(path)?;
    if !probe(&reader).asn {
        return Err(EnrichError {
            path: path.display().to_string(),
            message: format!(
                "unknown ASN database layout (database_type {:?}): expected \
                 `autonomous_system_number` as in GeoLite2-ASN",
                reader.metadata.database_type
            ),
        });
    }
    Ok(AsnDb {
        path: path.to_path_buf(),
        reader,
    })
}

/// What the first records of a database look like.
#[derive(Default)]
struct Shape {
    maxmind: bool,
    flat: bool,
    asn: bool,
}

/// Records inspected before giving up on recognising a layout. The first record of a MaxMind
/// file may be a bare `registered_country` (anycast, satellite), so one is not always enough.
const PROBE_RECORDS: usize = 64;

fn probe(reader: &Reader<Mmap>) -> Shape {
    let whole_space = if reader.metadata.ip_version == 4 {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    let mut shape = Shape::default();
    // The network type is maxminddb's own (from its `ipnetwork` dependency), inferred from
    // `within` below: naming it would take a second IP-network crate besides `ipnet`.
    let Ok(all) = whole_space.parse() else {
        return shape;
    };
    let Ok(records) = reader.within::<ProbeRecord>(all) else {
        return shape;
    };
    for rec in records.take(PROBE_RECORDS) {
        let Ok(item) = rec else { break };
        let r = item.info;
        shape.maxmind |= r.country.is_some()
            || r.location.is_some()
            || r.registered_country.is_some()
            || r.continent.is_some();
        shape.flat |= r.country_code.is_some() || r.latitude.is_some();
        shape.asn |= r.autonomous_system_number.is_some();
        if shape.maxmind || shape.flat {
            break;
        }
    }
    shape
}

#[derive(Deserialize)]
struct ProbeRecord {
    country: Option<IgnoredAny>,
    location: Option<IgnoredAny>,
    registered_country: Option<IgnoredAny>,
    continent: Option<IgnoredAny>,
    country_code: Option<IgnoredAny>,
    latitude: Option<IgnoredAny>,
    autonomous_system_number: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct MaxMindCity<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    city: Option<Names<'a>>,
    #[serde(borrow)]
    location: Option<Location<'a>>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    names: Option<English<'a>>,
}

#[derive(Deserialize)]
struct English<'a> {
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location<'a> {
    latitude: Option<Degrees>,
    longitude: Option<Degrees>,
    time_zone: Option<&'a str>,
}

#[derive(Deserialize)]
struct FlatCity<'a> {
    country_code: Option<&'a str>,
    city: Option<&'a str>,
    latitude: Option<Degrees>,
    longitude: Option<Degrees>,
    timezone: Option<&'a str>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<AsNumber>,
    autonomous_system_organization: Option<&'a str>,
}

/// An angle stored as a double, a float, an integer or text (CSV-converted files keep text);
/// `None` when the text is not a number, so one odd record never fails a lookup.
struct Degrees(Option<f64>);

impl<'de> Deserialize<'de> for Degrees {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Degrees;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of degrees")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Degrees, E> {
                Ok(Degrees(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Degrees, E> {
                Ok(Degrees(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Degrees, E> {
                Ok(Degrees(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Degrees, E> {
                Ok(Degrees(v.trim().parse().ok()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An AS number stored as an integer or as text (`"3215"`, `"AS3215"`).
struct AsNumber(Option<u32>);

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AsNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an AS number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsNumber, E> {
                Ok(AsNumber(u32::try_from(v).ok().filter(|&n| n != 0)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsNumber, E> {
                Ok(AsNumber(u32::try_from(v).ok().filter(|&n| n != 0)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AsNumber, E> {
                let v = v.trim();
                let digits = v
                    .strip_prefix("AS")
                    .or_else(|| v.strip_prefix("as"))
                    .unwrap_or(v);
                Ok(AsNumber(digits.parse().ok().filter(|&n| n != 0)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn internal_and_special_addresses_are_classified_before_lookup() {
        for (ip, want) in [
            ("10.1.2.3", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("192.168.1.10", AddrClass::Private),
            ("fd12:3456::1", AddrClass::Private),
            ("100.64.0.1", AddrClass::Cgnat),
            ("100.127.255.254", AddrClass::Cgnat),
            ("127.0.0.1", AddrClass::Loopback),
            ("::1", AddrClass::Loopback),
            ("169.254.10.1", AddrClass::LinkLocal),
            ("fe80::1", AddrClass::LinkLocal),
            ("192.0.2.7", AddrClass::Reserved),
            ("198.51.100.7", AddrClass::Reserved),
            ("203.0.113.7", AddrClass::Reserved),
            ("2001:db8::7", AddrClass::Reserved),
            ("224.0.0.1", AddrClass::Reserved),
            ("ff02::1", AddrClass::Reserved),
            ("0.0.0.0", AddrClass::Reserved),
            ("::", AddrClass::Reserved),
            ("255.255.255.255", AddrClass::Reserved),
            ("198.18.0.1", AddrClass::Reserved),
            ("::ffff:10.0.0.1", AddrClass::Private),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn public_addresses_go_to_the_database() {
        for ip in [
            "90.1.2.3",
            "100.128.0.1",
            "172.32.0.1",
            "2a01:cb00::1",
            "::ffff:90.1.2.3",
        ] {
            assert_eq!(class(ip), AddrClass::Unlisted, "{ip}");
        }
    }

    #[test]
    fn no_database_means_public_addresses_are_unlisted() {
        let g = GeoDb::default();
        let info = g.lookup("90.1.2.3".parse().unwrap());
        assert_eq!(info.class, AddrClass::Unlisted);
        assert_eq!(info.country, None);
    }

    #[test]
    fn null_island_and_out_of_range_coordinates_are_dropped() {
        assert_eq!(lat_lon(Some(0.0), Some(0.0)), None);
        assert_eq!(lat_lon(Some(91.0), Some(2.0)), None);
        assert_eq!(lat_lon(Some(f64::NAN), Some(2.0)), None);
        assert_eq!(lat_lon(Some(48.5), Some(2.25)), Some((48.5, 2.25)));
    }

    #[test]
    fn numbers_stored_as_text_are_read() {
        let rec: AsnRecord<'_> =
            serde_json::from_str(r#"{"autonomous_system_number":"AS3215"}"#).unwrap();
        assert_eq!(rec.autonomous_system_number.and_then(|n| n.0), Some(3215));
        let rec: AsnRecord<'_> = serde_json::from_str(r#"{"autonomous_system_number":0}"#).unwrap();
        assert_eq!(rec.autonomous_system_number.and_then(|n| n.0), None);
        let rec: FlatCity<'_> =
            serde_json::from_str(r#"{"latitude":"48.85","longitude":"n/a"}"#).unwrap();
        assert_eq!(rec.latitude.and_then(|d| d.0), Some(48.85));
        assert_eq!(rec.longitude.and_then(|d| d.0), None);
    }

    #[test]
    fn cache_keys_cover_the_right_block() {
        let a = u128::from("::ffff:90.1.2.3".parse::<Ipv6Addr>().unwrap());
        let b = u128::from("::ffff:90.1.2.200".parse::<Ipv6Addr>().unwrap());
        assert_eq!(mask(a, 120), mask(b, 120));
        assert_ne!(mask(a, 128), mask(b, 128));
        assert_eq!(mask(a, 0), 0);
    }
}
