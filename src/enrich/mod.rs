//! Enrichment: where an event came from ([`geo`], GeoIP over `.mmdb` files) and what with
//! ([`device`], the user agent). Both are cached; both are pure lookups with no I/O after load.

use std::net::IpAddr;
use std::sync::Arc;

use crate::event::Event;

pub mod cache;
pub mod device;
pub mod fixtures;
pub mod geo;

use cache::Interner;
use device::DeviceParser;
use geo::GeoDb;

/// An ISO 3166-1 alpha-2 country code, stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(pub [u8; 2]);

impl Country {
    /// From a two-letter code (upper-cased); `None` for anything else.
    pub fn parse(s: &str) -> Option<Country> {
        let b = s.as_bytes();
        if b.len() == 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic() {
            Some(Country([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else {
            None
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

/// What kind of address an event came from, decided before any database lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AddrClass {
    /// The event had no address.
    #[default]
    Absent,
    /// Public and found in the database.
    Public,
    /// Public but not in the database (or no database configured): no geo.
    Unlisted,
    /// RFC 1918 / unique-local (fc00::/7): an internal network, no geo.
    Private,
    /// Shared address space of carrier-grade NAT (100.64.0.0/10): no geo.
    Cgnat,
    /// Loopback.
    Loopback,
    /// Link-local.
    LinkLocal,
    /// Documentation, multicast, unspecified, reserved: no geo.
    Reserved,
}

impl AddrClass {
    /// Stable name (for features and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Absent => "absent",
            AddrClass::Public => "public",
            AddrClass::Unlisted => "unlisted",
            AddrClass::Private => "private",
            AddrClass::Cgnat => "cgnat",
            AddrClass::Loopback => "loopback",
            AddrClass::LinkLocal => "link_local",
            AddrClass::Reserved => "reserved",
        }
    }
}

/// Where an address is. Every field is `None` unless a database said so: never a fake location.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeoInfo {
    /// Address class.
    pub class: AddrClass,
    /// Country.
    pub country: Option<Country>,
    /// City name.
    pub city: Option<Arc<str>>,
    /// Latitude and longitude, degrees.
    pub lat_lon: Option<(f32, f32)>,
    /// IANA time zone, when the database has one.
    pub tz: Option<Arc<str>>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<Arc<str>>,
}

/// Device form factor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Desktop or laptop.
    Desktop,
    /// Phone.
    Mobile,
    /// Tablet.
    Tablet,
    /// Crawler, script, HTTP library.
    Bot,
    /// No user agent, or one nobody recognises.
    #[default]
    Unknown,
}

impl DeviceType {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Desktop => "desktop",
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Bot => "bot",
            DeviceType::Unknown => "unknown",
        }
    }
}

/// What a client is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceInfo {
    /// Stable fingerprint: a hash of `device_id` when the event has one, else of the stable
    /// parts of the user agent (not the browser's patch version, which changes every update).
    /// 0 when the event has neither.
    pub fingerprint: u64,
    /// True when the fingerprint comes from the event's `device_id`.
    pub explicit_id: bool,
    /// Browser family (`Chrome`, `Firefox`, `Safari`, `Edge`...), `Other` when unknown.
    pub browser: Arc<str>,
    /// OS family (`Windows`, `macOS`, `iOS`, `Android`, `Linux`...), `Other` when unknown.
    pub os: Arc<str>,
    /// Form factor.
    pub kind: DeviceType,
}

/// An event's context: where from and what with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Enriched {
    /// Where from.
    pub geo: GeoInfo,
    /// What with.
    pub device: DeviceInfo,
}

/// Enrichment that cannot start (a database that cannot be opened or has an unknown layout).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EnrichError {
    /// The file at fault.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The enrichment stage: GeoIP databases, the user-agent parser and their caches.
/// `Send + Sync`; share it by reference between worker threads.
#[derive(Default)]
pub struct Enricher {
    geo: GeoDb,
    devices: DeviceParser,
}

impl Enricher {
    /// Opens the configured databases (none configured: every public address is `Unlisted`).
    /// A file that cannot be opened or whose layout is not recognised is an error naming it.
    pub fn from_settings(s: &crate::settings::GeoipSettings) -> Result<Enricher, EnrichError> {
        let strings = Arc::new(Interner::default());
        let geo = GeoDb::open(&s.city, s.asn.as_deref(), s.cache_entries, strings.clone())?;
        Ok(Enricher {
            geo,
            devices: DeviceParser::new(strings),
        })
    }

    /// Where and what with, for one event. Never fails: what is unknown stays `None`.
    pub fn enrich(&self, ev: &Event<'_>) -> Enriched {
        Enriched {
            geo: self.geo_of(ev.ip),
            device: self
                .devices
                .describe(ev.user_agent.as_deref(), ev.device_id.as_deref()),
        }
    }

    /// Where an address is (`AddrClass::Absent` for no address).
    pub fn geo_of(&self, ip: Option<IpAddr>) -> GeoInfo {
        match ip {
            Some(ip) => self.geo.lookup(ip),
            None => GeoInfo::default(),
        }
    }

    /// The GeoIP databases in use.
    pub fn geo(&self) -> &GeoDb {
        &self.geo
    }
}
