//! Writes the GeoIP test fixtures (`testdata/geo/*.mmdb`) from the world table
//! (`src/world.rs`), using the record shapes of `tocsin::enrich::fixtures`.
//!
//! ```text
//! cargo run --example gen_mmdb -- testdata/geo
//! ```
//!
//! Output is reproducible byte for byte (fixed build time, fixed insertion order), and
//! `tests/geo_fixtures.rs` checks the committed files against a fresh run of this code.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::Writer;
use serde::Serialize;
use tocsin::enrich::fixtures;
use tocsin::world::{Network, NETWORKS};

/// Writes the three fixtures into `dir` (created if missing); returns their paths.
pub fn write_fixtures(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        (
            fixtures::CITY_MAXMIND_FILE,
            build(fixtures::CITY_MAXMIND_TYPE, fixtures::maxmind_city)?,
        ),
        (
            fixtures::ASN_FILE,
            build(fixtures::ASN_TYPE, fixtures::asn)?,
        ),
        (
            fixtures::CITY_DBIP_FILE,
            build(fixtures::CITY_DBIP_TYPE, fixtures::dbip_city)?,
        ),
    ];
    let mut paths = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        paths.push(path);
    }
    Ok(paths)
}

/// One IPv6-tree database (IPv4 networks under `::/96`, reachable from IPv4 lookups and from
/// IPv4-mapped addresses, as in MaxMind's own files) with one record per world network.
fn build<R: Serialize>(
    database_type: &str,
    record: fn(&Network) -> R,
) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut w = Writer::builder(database_type)
        .description(&[("en", fixtures::DESCRIPTION)])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(fixtures::BUILD_EPOCH))
        .build();
    for n in NETWORKS {
        let net: IpNet = n
            .cidr
            .parse()
            .map_err(|e| format!("world network {}: {e}", n.cidr))?;
        w.insert(net, &record(n))?;
    }
    Ok(w.to_bytes()?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("testdata/geo"));
    for p in write_fixtures(&dir)? {
        println!("wrote {}", p.display());
    }
    Ok(())
}
