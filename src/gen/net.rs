//! Addresses drawn from [`crate::world::NETWORKS`], so every generated address resolves in the
//! fixture GeoIP databases (and, for the real operators they imitate, in real ones).
//!
//! [`Atlas::new`] holds the classic rows only (the `classic` profile is pinned byte for byte to
//! them); [`Atlas::full`] holds every row, for the `tune` and `holdout` profiles.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::Rng;

use crate::world::{NetKind, Network, CLASSIC_NETWORKS, NETWORKS};

/// One parsed prefix of the world table.
#[derive(Clone, Copy, Debug)]
pub struct Prefix {
    /// Index into `NETWORKS`.
    pub net: usize,
    base: u128,
    bits: u8,
    v6: bool,
}

impl Prefix {
    /// The world row.
    pub fn network(&self) -> &'static Network {
        &NETWORKS[self.net]
    }

    /// True for an IPv6 prefix.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// A random host address inside the prefix (never the network or broadcast address of a /24).
    pub fn random_addr(&self, rng: &mut impl Rng) -> IpAddr {
        if self.v6 {
            let host_bits = 128 - self.bits as u32;
            let host = rng.gen::<u128>() & low_mask(host_bits);
            IpAddr::V6(Ipv6Addr::from(self.base | host.max(1)))
        } else {
            let host_bits = 32 - self.bits as u32;
            let host = rng.gen::<u32>() & (low_mask(host_bits) as u32);
            // Keep the last octet in 1..=254: real clients never sit on .0 or .255.
            let host = (host & !0xff) | rng.gen_range(1..=254u32);
            IpAddr::V4(Ipv4Addr::from(self.base as u32 | host))
        }
    }

    /// A random /64 inside an IPv6 prefix (a household's delegated prefix), as its upper 64 bits.
    pub fn random_subnet64(&self, rng: &mut impl Rng) -> u64 {
        let sub_bits = 64u32.saturating_sub(self.bits as u32);
        ((self.base >> 64) as u64) | (rng.gen::<u64>() & (low_mask(sub_bits) as u64))
    }
}

fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// An address with a privacy interface id (RFC 8981) inside a household's /64.
pub fn privacy_addr(subnet64: u64, rng: &mut impl Rng) -> IpAddr {
    let iid = rng.gen::<u64>() | 1;
    IpAddr::V6(Ipv6Addr::from(((subnet64 as u128) << 64) | iid as u128))
}

/// Every prefix of the world, parsed once.
#[derive(Clone, Debug)]
pub struct Atlas {
    /// All prefixes, in `NETWORKS` order.
    pub prefixes: Vec<Prefix>,
}

impl Atlas {
    /// Parses the classic rows of `NETWORKS` (the world `tocsin gen --profile classic` knows).
    /// A malformed row is a bug in the table, caught by the world's own tests.
    pub fn new() -> Atlas {
        Atlas::of(&NETWORKS[..CLASSIC_NETWORKS])
    }

    /// Parses every row of `NETWORKS`.
    pub fn full() -> Atlas {
        Atlas::of(NETWORKS)
    }

    fn of(rows: &[Network]) -> Atlas {
        let prefixes = rows
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let (addr, len) = n.cidr.split_once('/')?;
                let bits: u8 = len.parse().ok()?;
                let (base, v6) = match addr.parse::<IpAddr>().ok()? {
                    IpAddr::V4(a) => (u32::from(a) as u128, false),
                    IpAddr::V6(a) => (u128::from(a), true),
                };
                Some(Prefix {
                    net: i,
                    base,
                    bits,
                    v6,
                })
            })
            .collect();
        Atlas { prefixes }
    }

    /// Prefixes matching `pred`, as indexes into [`Atlas::prefixes`].
    pub fn select(&self, pred: impl Fn(&Network, &Prefix) -> bool) -> Vec<usize> {
        (0..self.prefixes.len())
            .filter(|&i| pred(self.prefixes[i].network(), &self.prefixes[i]))
            .collect()
    }

    /// IPv4 prefixes of one kind.
    pub fn v4_of(&self, kind: NetKind) -> Vec<usize> {
        self.select(|n, p| n.kind == kind && !p.v6)
    }

    /// True when `ip` lies inside some world prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.prefixes.iter().any(|p| {
            let (v, width) = match ip {
                IpAddr::V4(a) if !p.v6 => (u32::from(a) as u128, 32u32),
                IpAddr::V6(a) if p.v6 => (u128::from(a), 128u32),
                _ => return false,
            };
            let host = low_mask(width - p.bits as u32);
            v & !host == p.base
        })
    }
}

impl Default for Atlas {
    fn default() -> Self {
        Atlas::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn random_addresses_stay_inside_their_prefix() {
        let atlas = Atlas::full();
        assert_eq!(atlas.prefixes.len(), NETWORKS.len());
        assert_eq!(Atlas::new().prefixes.len(), CLASSIC_NETWORKS);
        let mut rng = SmallRng::seed_from_u64(7);
        for p in &atlas.prefixes {
            for _ in 0..50 {
                let ip = p.random_addr(&mut rng);
                assert!(atlas.contains(ip), "{ip} outside {}", p.network().cidr);
            }
            if p.is_v6() {
                let ip = privacy_addr(p.random_subnet64(&mut rng), &mut rng);
                assert!(atlas.contains(ip), "{ip} outside {}", p.network().cidr);
            }
        }
        assert!(!atlas.contains("8.8.8.8".parse().unwrap()));
    }
}
