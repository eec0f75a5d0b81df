//! GeoIP against the committed `.mmdb` fixtures (`testdata/geo/`): both city layouts, the ASN
//! layout, IPv4, IPv6 and IPv4-mapped IPv6, addresses that must get no location, and the errors
//! a user sees for a wrong file. Also proves the fixtures match the code that generates them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;
use tocsin::enrich::fixtures::{self, ASN_FILE, CITY_DBIP_FILE, CITY_MAXMIND_FILE};
use tocsin::enrich::geo::CityLayout;
use tocsin::enrich::{AddrClass, Country, DeviceType, Enricher};
use tocsin::event::{Event, EventKind, Outcome};
use tocsin::settings::GeoipSettings;
use tocsin::world::{NetKind, Network, NETWORKS};

#[path = "../examples/gen_mmdb.rs"]
#[allow(dead_code)] // its `main` is for `cargo run --example`
mod gen_mmdb;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/geo")
        .join(name)
}

fn settings(city: &[PathBuf], asn: Option<PathBuf>) -> GeoipSettings {
    GeoipSettings {
        city: city.to_vec(),
        asn,
        cache_entries: 1024,
    }
}

fn enricher(city: &str) -> Enricher {
    Enricher::from_settings(&settings(&[testdata(city)], Some(testdata(ASN_FILE))))
        .expect("fixtures open")
}

/// An address inside a world network, away from its network address: `/16` → `a.b.1.2`,
/// `/32` (IPv6) → `prefix::1:2`.
fn inside(n: &Network) -> IpAddr {
    let (base, _) = n.cidr.split_once('/').unwrap();
    match base.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) | 0x0102).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) | 0x1_0002).into()),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn committed_fixtures_match_their_generator() {
    let dir = tempfile::tempdir().unwrap();
    let written = gen_mmdb::write_fixtures(dir.path()).unwrap();
    assert_eq!(written.len(), 3);
    for fresh in written {
        let name = fresh.file_name().unwrap().to_str().unwrap().to_string();
        let committed = std::fs::read(testdata(&name)).unwrap_or_else(|e| {
            panic!("testdata/geo/{name}: {e}; run `cargo run --example gen_mmdb -- testdata/geo`")
        });
        assert!(
            std::fs::read(&fresh).unwrap() == committed,
            "testdata/geo/{name} is stale: run `cargo run --example gen_mmdb -- testdata/geo`"
        );
    }
}

#[test]
fn layouts_are_detected_from_the_records() {
    for (file, want) in [
        (CITY_MAXMIND_FILE, CityLayout::MaxMind),
        (CITY_DBIP_FILE, CityLayout::Flat),
    ] {
        let e = enricher(file);
        let layouts: Vec<_> = e.geo().city_layouts().map(|(_, l)| l).collect();
        assert_eq!(layouts, vec![want], "{file}");
    }
}

#[test]
fn maxmind_layout_gives_every_world_network_its_place_and_network() {
    let e = enricher(CITY_MAXMIND_FILE);
    for n in NETWORKS {
        let g = e.geo_of(Some(inside(n)));
        assert_eq!(g.class, AddrClass::Public, "{}", n.cidr);
        assert_eq!(g.country, Country::parse(n.country), "{}", n.cidr);
        assert_eq!(g.city.as_deref(), Some(n.city), "{}", n.cidr);
        assert_eq!(g.lat_lon, Some((n.lat as f32, n.lon as f32)), "{}", n.cidr);
        assert_eq!(g.tz.as_deref(), Some(n.tz), "{}", n.cidr);
        assert_eq!(g.asn, Some(n.asn), "{}", n.cidr);
        assert_eq!(g.as_org.as_deref(), Some(n.as_org), "{}", n.cidr);
    }
}

#[test]
fn dbip_flat_layout_gives_every_world_network_its_place_and_network() {
    let e = enricher(CITY_DBIP_FILE);
    for n in NETWORKS {
        let g = e.geo_of(Some(inside(n)));
        assert_eq!(g.class, AddrClass::Public, "{}", n.cidr);
        assert_eq!(g.country, Country::parse(n.country), "{}", n.cidr);
        assert_eq!(g.city.as_deref(), Some(n.city), "{}", n.cidr);
        assert_eq!(g.lat_lon, Some((n.lat as f32, n.lon as f32)), "{}", n.cidr);
        // The flat files often leave the time zone empty (the fixture does for mobile pools):
        // empty means unknown, not "".
        let tz = (n.kind != NetKind::Mobile).then_some(n.tz);
        assert_eq!(g.tz.as_deref(), tz, "{}", n.cidr);
        assert_eq!(g.asn, Some(n.asn), "{}", n.cidr);
    }
}

#[test]
fn ipv6_and_ipv4_mapped_ipv6_resolve_in_both_layouts() {
    for file in [CITY_MAXMIND_FILE, CITY_DBIP_FILE] {
        let e = enricher(file);
        let v6 = e.geo_of(Some(ip("2a01:cb00:1234:5678::9")));
        assert_eq!(
            (v6.country, v6.city.as_deref(), v6.asn),
            (Country::parse("FR"), Some("Paris"), Some(3215)),
            "{file}"
        );
        let lagos = e.geo_of(Some(ip("2402:800:63a0::1")));
        assert_eq!(lagos.country, Country::parse("VN"), "{file}");
        let mapped = e.geo_of(Some(ip("::ffff:90.1.2.3")));
        assert_eq!(mapped.city.as_deref(), Some("Rouen"), "{file}");
        assert_eq!(mapped, e.geo_of(Some(ip("90.1.2.3"))), "{file}");
    }
}

#[test]
fn internal_and_special_addresses_never_get_a_location() {
    let e = enricher(CITY_MAXMIND_FILE);
    for (addr, class) in [
        ("10.20.30.40", AddrClass::Private),
        ("192.168.1.20", AddrClass::Private),
        ("fd00::20", AddrClass::Private),
        ("100.72.1.9", AddrClass::Cgnat),
        ("127.0.0.1", AddrClass::Loopback),
        ("::1", AddrClass::Loopback),
        ("169.254.1.1", AddrClass::LinkLocal),
        ("fe80::1", AddrClass::LinkLocal),
        ("203.0.113.7", AddrClass::Reserved),
        ("2001:db8::7", AddrClass::Reserved),
    ] {
        let g = e.geo_of(Some(ip(addr)));
        assert_eq!(g.class, class, "{addr}");
        assert_eq!(
            (g.country, g.city, g.lat_lon, g.asn),
            (None, None, None, None),
            "{addr}"
        );
    }
    assert_eq!(e.geo_of(None).class, AddrClass::Absent);
}

#[test]
fn a_public_address_outside_every_prefix_is_unlisted() {
    for file in [CITY_MAXMIND_FILE, CITY_DBIP_FILE] {
        let e = enricher(file);
        for addr in ["8.8.8.8", "90.4.0.1", "2a00:1450:4007::1"] {
            let g = e.geo_of(Some(ip(addr)));
            assert_eq!(g.class, AddrClass::Unlisted, "{file} {addr}");
            assert_eq!((g.country, g.lat_lon, g.asn), (None, None, None), "{addr}");
        }
    }
}

#[test]
fn no_database_configured_means_unlisted_not_an_error() {
    let e = Enricher::from_settings(&GeoipSettings::default()).unwrap();
    let g = e.geo_of(Some(ip("90.1.2.3")));
    assert_eq!(g.class, AddrClass::Unlisted);
    assert_eq!(g.country, None);
}

#[test]
fn a_file_that_is_not_an_mmdb_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("GeoLite2-City.mmdb");
    std::fs::write(
        &bogus,
        "this is a CSV export, not a database\n1.0.0.0,1.0.0.255,AU\n",
    )
    .unwrap();
    let err = Enricher::from_settings(&settings(std::slice::from_ref(&bogus), None))
        .err()
        .expect("rejected");
    let msg = err.to_string();
    assert!(msg.contains(&bogus.display().to_string()), "{msg}");
    assert!(msg.contains("not a usable MaxMind DB"), "{msg}");

    let missing = dir.path().join("nowhere.mmdb");
    let err = Enricher::from_settings(&settings(&[], Some(missing.clone())))
        .err()
        .expect("rejected");
    assert!(err.to_string().contains("nowhere.mmdb"), "{err}");
    assert!(err.to_string().contains("cannot open"), "{err}");
}

#[test]
fn swapped_city_and_asn_files_are_refused_with_a_hint() {
    let err = Enricher::from_settings(&settings(&[testdata(ASN_FILE)], None))
        .err()
        .expect("an ASN file is not a city database");
    let msg = err.to_string();
    assert!(msg.contains(ASN_FILE), "{msg}");
    assert!(msg.contains("[geoip] asn"), "{msg}");

    let err = Enricher::from_settings(&settings(&[], Some(testdata(CITY_MAXMIND_FILE))))
        .err()
        .expect("a city file is not an ASN database");
    assert!(
        err.to_string().contains("unknown ASN database layout"),
        "{err}"
    );
}

fn write_db<R: Serialize>(
    path: &Path,
    database_type: &str,
    version: IpVersion,
    rows: &[(&str, R)],
) {
    let mut w = Writer::builder(database_type)
        .ip_version(version)
        .build_epoch(UNIX_EPOCH + Duration::from_secs(fixtures::BUILD_EPOCH))
        .build();
    for (net, rec) in rows {
        w.insert(net.parse::<IpNet>().unwrap(), rec).unwrap();
    }
    std::fs::write(path, w.to_bytes().unwrap()).unwrap();
}

#[test]
fn dbip_split_ipv4_and_ipv6_files_are_asked_in_order() {
    // DB-IP Lite from `@ip-location-db` comes as an IPv4-only and an IPv6-only file, both
    // listed under `[geoip] city`. The IPv4-only file must not be asked about IPv6 addresses.
    let dir = tempfile::tempdir().unwrap();
    let by_cidr = |c: &str| NETWORKS.iter().find(|n| n.cidr == c).unwrap();
    let v4 = dir.path().join("dbip-city-ipv4.mmdb");
    let v6 = dir.path().join("dbip-city-ipv6.mmdb");
    write_db(
        &v4,
        "dbip-city-ipv4",
        IpVersion::V4,
        &[("90.1.0.0/16", fixtures::dbip_city(by_cidr("90.1.0.0/16")))],
    );
    write_db(
        &v6,
        "dbip-city-ipv6",
        IpVersion::V6,
        &[(
            "2001:41d0::/32",
            fixtures::dbip_city(by_cidr("2001:41d0::/32")),
        )],
    );
    let e = Enricher::from_settings(&settings(&[v4, v6], None)).unwrap();
    assert_eq!(
        e.geo_of(Some(ip("90.1.9.9"))).city.as_deref(),
        Some("Rouen")
    );
    let ovh = e.geo_of(Some(ip("2001:41d0:303::10")));
    assert_eq!(ovh.city.as_deref(), Some("Roubaix"));
    assert_eq!(ovh.class, AddrClass::Public);
    assert_eq!(e.geo_of(Some(ip("8.8.8.8"))).class, AddrClass::Unlisted);
}

#[test]
fn layout_follows_the_records_not_the_database_type() {
    // Redistributors keep MaxMind's `database_type` on files of their own layout.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("renamed.mmdb");
    let n = &NETWORKS[1];
    write_db(
        &path,
        "GeoLite2-City",
        IpVersion::V6,
        &[(n.cidr, fixtures::dbip_city(n))],
    );
    let e = Enricher::from_settings(&settings(&[path], None)).unwrap();
    assert_eq!(
        e.geo().city_layouts().map(|(_, l)| l).collect::<Vec<_>>(),
        vec![CityLayout::Flat]
    );
    assert_eq!(e.geo_of(Some(inside(n))).city.as_deref(), Some(n.city));
}

#[test]
fn flat_records_with_numbers_as_text_still_resolve() {
    // CSV-to-mmdb converters often store every column as a string.
    #[derive(Serialize)]
    struct TextRecord {
        country_code: &'static str,
        city: &'static str,
        latitude: &'static str,
        longitude: &'static str,
        timezone: &'static str,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.mmdb");
    write_db(
        &path,
        "ip-location-db",
        IpVersion::V6,
        &[(
            "82.64.0.0/16",
            TextRecord {
                country_code: "FR",
                city: "Bordeaux",
                latitude: "44.8378",
                longitude: "-0.5792",
                timezone: "",
            },
        )],
    );
    let e = Enricher::from_settings(&settings(&[path], None)).unwrap();
    let g = e.geo_of(Some(ip("82.64.3.4")));
    assert_eq!(g.lat_lon, Some((44.8378, -0.5792)));
    assert_eq!(g.tz, None);
}

#[test]
fn the_cache_never_spreads_a_narrow_network_to_its_neighbours() {
    // A /25 inside a /24: after caching the /24's answer for one address, an address of the
    // /25 must still get its own answer, whatever the lookup order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested.mmdb");
    let rouen = fixtures::dbip_city(&NETWORKS[1]);
    let lyon = fixtures::dbip_city(&NETWORKS[2]);
    write_db(
        &path,
        "nested",
        IpVersion::V6,
        &[("90.9.9.0/24", rouen), ("90.9.9.128/25", lyon)],
    );
    let e = Enricher::from_settings(&settings(&[path], None)).unwrap();
    for _ in 0..2 {
        assert_eq!(
            e.geo_of(Some(ip("90.9.9.1"))).city.as_deref(),
            Some("Rouen")
        );
        assert_eq!(
            e.geo_of(Some(ip("90.9.9.200"))).city.as_deref(),
            Some("Lyon")
        );
        assert_eq!(
            e.geo_of(Some(ip("90.9.9.2"))).city.as_deref(),
            Some("Rouen")
        );
    }
    // And a wide network answers the whole /24 from one cached lookup.
    let e = enricher(CITY_MAXMIND_FILE);
    let a = e.geo_of(Some(ip("90.1.7.1")));
    let b = e.geo_of(Some(ip("90.1.7.254")));
    assert!(std::sync::Arc::ptr_eq(
        a.city.as_ref().unwrap(),
        b.city.as_ref().unwrap()
    ));
}

#[test]
fn an_event_is_enriched_with_place_network_and_device() {
    let e = enricher(CITY_MAXMIND_FILE);
    let mut ev = Event::new(
        1_762_817_462_000,
        EventKind::Login,
        "dr.martin@cabinet-rouen",
    );
    ev.outcome = Some(Outcome::Success);
    ev.ip = Some(ip("102.88.14.3"));
    ev.user_agent = Some(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36"
            .into(),
    );
    let en = e.enrich(&ev);
    assert_eq!(en.geo.country, Country::parse("NG"));
    assert_eq!(en.geo.city.as_deref(), Some("Lagos"));
    assert_eq!(en.geo.asn, Some(36873));
    assert_eq!(&*en.device.browser, "Chrome");
    assert_eq!(&*en.device.os, "Windows");
    assert_eq!(en.device.kind, DeviceType::Desktop);
    assert_ne!(en.device.fingerprint, 0);
    assert!(!en.device.explicit_id);
}
