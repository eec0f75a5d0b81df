//! Behavioural state: per-account baselines, open sessions, authentication failures,
//! tenant-shared networks, population frequencies, and the [`store`] that keeps them between
//! events. Pure code: every update takes the event time, nothing here knows about tokio, Kafka
//! or the clock.
//!
//! Everything is bounded. Per account: [`AccountBaseline`] is a fixed-size struct (its worst case
//! is `size_of`, held to [`account::ACCOUNT_BYTES_BOUND`]); open sessions live in a separate map
//! (at most [`SESSION_SLOTS`] per account, [`session_bytes`] each, expired after
//! [`SESSION_IDLE_S`] on the account's next event or by [`store::Store::expire_idle`]) because most
//! accounts have none at any moment. Failure maps and tenant
//! tables have caps with eviction of the stalest entries; population counts use exact maps for
//! low-cardinality values and count-min sketches for networks and devices.
//!
//! Keys are hashes (account and tenant names keyed per installation, see [`name_key64`];
//! the rest `xxh3`): the account's name is not kept in its state. Maps inside state
//! values are ordered (`BTreeMap`), so a snapshot of equal state is equal bytes.
//!
//! This module and [`account`], [`topk`] hold the value types; [`store`] owns the maps, the
//! lock order, learning, eviction, snapshots and feedback. `detect` reads through the store
//! and asks it to learn.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::enrich::{Country, DeviceType};
use crate::timefmt::DAY_MS;

pub mod account;
pub mod store;
pub mod topk;

pub use account::{
    AccountBaseline, Decayed, ExtraWindows, PendingKind, PendingSet, UnusualExportDays,
};

/// The per-installation key of account and tenant names, set once per process by
/// [`set_name_key`] (`tocsin run` reads it from the state directory). Unset (`replay`, tests,
/// state from before keyed names): names are hashed unkeyed.
static NAME_KEY: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();

/// Keys [`name_key64`] with `key` for the rest of the process. False when another key was set
/// first (the first one stays: keys already in state must not change under it).
pub fn set_name_key(key: [u8; 16]) -> bool {
    *NAME_KEY.get_or_init(|| key) == key
}

/// The 64-bit key of an account (or tenant) name: keyed SipHash-1-3 ([`keyed_name_key64`])
/// once [`set_name_key`] was called, so nobody who does not hold the installation's key can
/// choose names whose keys collide (and merge or evict someone's baseline); plain `xxh3`
/// otherwise.
pub fn name_key64(name: &str) -> u64 {
    match NAME_KEY.get() {
        Some(key) => keyed_name_key64(key, name),
        None => xxh3_64(name.as_bytes()),
    }
}

/// SipHash-1-3 (128-bit) of `name` under `key`, folded to the 64 bits the state keys by.
pub fn keyed_name_key64(key: &[u8; 16], name: &str) -> u64 {
    let h = siphasher::sip128::SipHasher13::new_with_key(key).hash(name.as_bytes());
    h.h1 ^ h.h2
}

/// A 32-bit key for values inside one account's tables (never 0, which marks an empty slot).
pub fn key32(bytes: &[u8]) -> u32 {
    (xxh3_64(bytes) as u32).max(1)
}

/// The network an address belongs to for baselines: its /24 (IPv4) or /64 (IPv6). An IPv6
/// privacy address rotates inside its /64, so the network stays known.
pub fn prefix_key(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            key32(&[4, o[0], o[1], o[2]])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut b = [6u8; 9];
            b[1..].copy_from_slice(&o[..8]);
            key32(&b)
        }
    }
}

/// The source an attempt comes from, for failure counting: the address (IPv4) or its /64 (IPv6,
/// where one client owns the whole /64).
pub fn source_key(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u64 | (4 << 56),
        IpAddr::V6(v6) => xxh3_64(&v6.octets()[..8]),
    }
}

/// A country as a table key.
pub fn country_key(c: Country) -> u32 {
    ((c.0[0] as u32) << 8) | c.0[1] as u32
}

/// The country of a table key.
pub fn country_of_key(k: u32) -> Option<Country> {
    let a = (k >> 8) as u8;
    let b = k as u8;
    (a.is_ascii_uppercase() && b.is_ascii_uppercase()).then_some(Country([a, b]))
}

/// A city as a table key (cities of different countries may share a name).
pub fn city_key(c: Country, city: &str) -> u32 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&c.0);
    h.update(city.as_bytes());
    (h.digest() as u32).max(1)
}

/// A device fingerprint as a table key.
pub fn device_key(fingerprint: u64) -> u32 {
    ((fingerprint ^ (fingerprint >> 32)) as u32).max(1)
}

/// Day number since the Unix epoch of an event time (saturating to the `u16` range).
pub fn day_of(ms: i64) -> u16 {
    ms.div_euclid(DAY_MS).clamp(0, u16::MAX as i64) as u16
}

/// Seconds since the Unix epoch (saturating to the `u32` range).
pub fn secs_of(ms: i64) -> u32 {
    (ms.div_euclid(1000)).clamp(0, u32::MAX as i64) as u32
}

/// Great-circle distance in kilometres (haversine).
pub fn distance_km(a: (f32, f32), b: (f32, f32)) -> f64 {
    let (la1, la2) = ((a.0 as f64).to_radians(), (b.0 as f64).to_radians());
    let dlat = la2 - la1;
    let dlon = (b.1 as f64 - a.1 as f64).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().clamp(0.0, 1.0).asin()
}

/// Sessions remembered per account at once.
pub const SESSION_SLOTS: usize = 4;
/// A session with no event for this long is closed.
pub const SESSION_IDLE_S: u32 = 12 * 3600;
/// A session with an event in this window is "alive" for concurrency checks.
pub const SESSION_LIVE_S: u32 = 30 * 60;

/// An open session and the context of the login that started it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenSession {
    /// Hash of the session id (0 = empty).
    pub key: u32,
    /// Start, seconds since the epoch.
    pub start_s: u32,
    /// Last event, seconds since the epoch.
    pub last_s: u32,
    /// Network of the login.
    pub prefix: u32,
    /// ASN of the login (0 unknown).
    pub asn: u32,
    /// Location of the login, 1/100 degree.
    pub lat_cdeg: i16,
    /// Longitude, 1/100 degree.
    pub lon_cdeg: i16,
    /// True when the login had a location.
    pub has_geo: bool,
    /// Risk of the login, 0..=255 for 0..=1.
    pub risk: u8,
    /// True when the session raised a high or critical alert: its volume is not learned.
    pub flagged: bool,
    /// Records per tracked action (read, search, export, print) so far.
    pub totals: [u32; 4],
    /// The login's families of evidence against the owner, one bit each (see
    /// [`LoginFamilies`]): what the session then does is judged with them.
    pub families: u8,
    /// The login came from a phone or tablet: a carrier's network met mid-session is its
    /// owner switching between Wi-Fi and cellular, not a second user.
    pub handheld: bool,
    /// ASN of the session's latest event from a network other than its login's that no
    /// relay, VPN, tenant network or (for a handheld) carrier explains (0: none).
    pub away_asn: u32,
    /// Time of that event, seconds since the epoch.
    pub away_s: u32,
    /// ASN of the session's latest event (0: unknown): a change of network is judged once, at
    /// the event that makes it, not again at every later event from the new network.
    pub last_asn: u32,
}

/// The families of evidence a login carried, as the bits of [`OpenSession::families`]. What a
/// session does at access time (an export beyond the account's history) is one more family,
/// so it is judged together with these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginFamilies(pub u8);

impl LoginFamilies {
    /// The source failed on other accounts, or the account was being guessed.
    pub const CREDENTIAL: u8 = 1;
    /// A network the account never used that is no carrier, relay or tenant network.
    pub const NETWORK: u8 = 2;
    /// A never-seen device with a new browser or OS family, or a new explicit device id.
    pub const DEVICE: u8 = 4;
    /// An hour the account is rarely active.
    pub const HOUR: u8 = 8;
    /// The account comes back after a long silence (see the dormant rule).
    pub const DORMANT: u8 = 16;
    /// Not a family: the login came from a network (/24, /64) the account never used, that is
    /// no tenant network, relay or carrier seen from a phone. Addresses change too often for
    /// this to count against the owner alone; what the session then does is judged with it.
    pub const NEW_NETWORK: u8 = 32;
    /// The bits that are families of evidence.
    const FAMILIES: u8 = Self::NEW_NETWORK - 1;

    /// How many families hold ([`LoginFamilies::NEW_NETWORK`] is not one).
    pub fn count(self) -> u32 {
        (self.0 & Self::FAMILIES).count_ones()
    }

    /// How many families hold that say something of what the session then does: all but the
    /// hour. A rare hour is weak evidence (a night shift, a doctor catching up at midnight)
    /// that the login's score already weighs; counted with the session's reading it would
    /// judge a long night shift's records as a stranger's.
    pub fn count_for_session(self) -> u32 {
        (self.0 & Self::FAMILIES & !Self::HOUR).count_ones()
    }

    /// The login came from a network the account never used (see [`LoginFamilies::NEW_NETWORK`]).
    pub fn new_network(self) -> bool {
        self.0 & Self::NEW_NETWORK != 0
    }
}

/// Bytes one open session costs (the per-account worst case is [`SESSION_SLOTS`] of them).
pub const fn session_bytes() -> usize {
    std::mem::size_of::<OpenSession>()
}

impl OpenSession {
    /// The login's location in degrees, if it had one.
    pub fn place(&self) -> Option<(f32, f32)> {
        self.has_geo
            .then(|| (self.lat_cdeg as f32 / 100.0, self.lon_cdeg as f32 / 100.0))
    }

    /// The login's risk in [0, 1].
    pub fn risk(&self) -> f64 {
        self.risk as f64 / 255.0
    }

    /// Records touched so far (all tracked actions).
    pub fn records(&self) -> u32 {
        self.totals.iter().fold(0u32, |a, &b| a.saturating_add(b))
    }

    /// Records exported or printed so far.
    pub fn exports(&self) -> u32 {
        self.totals[2].saturating_add(self.totals[3])
    }

    /// The login's families of evidence.
    pub fn login_families(&self) -> LoginFamilies {
        LoginFamilies(self.families)
    }
}

/// Degrees to 1/100 degree, clamped to `i16`.
pub fn to_cdeg(d: f32) -> i16 {
    (d * 100.0).round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// The open sessions of one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionSet {
    /// Slots; `key == 0` is free.
    pub slots: [OpenSession; SESSION_SLOTS],
}

impl SessionSet {
    /// The session with this key.
    pub fn get(&self, key: u32) -> Option<&OpenSession> {
        self.slots.iter().find(|s| s.key != 0 && s.key == key)
    }

    /// The session with this key, mutably.
    pub fn get_mut(&mut self, key: u32) -> Option<&mut OpenSession> {
        self.slots.iter_mut().find(|s| s.key != 0 && s.key == key)
    }

    /// Opens (or replaces) a session; returns the session evicted to make room, so its
    /// volume can be folded into the baseline.
    pub fn open(&mut self, s: OpenSession) -> Option<OpenSession> {
        if let Some(existing) = self.get_mut(s.key) {
            let old = *existing;
            *existing = s;
            return (old.records() > 0).then_some(old);
        }
        let mut idx = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.key == 0 {
                idx = i;
                break;
            }
            if slot.last_s < self.slots[idx].last_s {
                idx = i;
            }
        }
        let evicted = self.slots[idx];
        self.slots[idx] = s;
        (evicted.key != 0).then_some(evicted)
    }

    /// Closes a session, returning it.
    pub fn close(&mut self, key: u32) -> Option<OpenSession> {
        let s = self.get_mut(key)?;
        let out = *s;
        *s = OpenSession::default();
        Some(out)
    }

    /// Closes sessions idle since before `now_s - SESSION_IDLE_S`, passing each to `f`.
    pub fn expire(&mut self, now_s: u32, mut f: impl FnMut(OpenSession)) {
        for s in &mut self.slots {
            if s.key != 0 && now_s.saturating_sub(s.last_s) > SESSION_IDLE_S {
                f(*s);
                *s = OpenSession::default();
            }
        }
    }

    /// True when no slot is used.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.key == 0)
    }
}

/// Failures counted for one account, or one account+source pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureCount {
    /// ≈ failures in the last 10 minutes.
    pub recent: Decayed,
    /// Last failure, seconds since the epoch.
    pub last_s: u32,
}

/// Time constant of the 10-minute windows, seconds.
pub const TAU_10M: f32 = 600.0;
/// Time constant of the 1-hour windows, seconds.
pub const TAU_1H: f32 = 3600.0;

/// Accounts remembered per failing source (distinct-account counts saturate here).
pub const SOURCE_ACCOUNTS: usize = 32;

/// Failures from one source across accounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceFailures {
    /// ≈ failures in the last 10 minutes.
    pub recent: Decayed,
    /// Last failure, seconds since the epoch.
    pub last_s: u32,
    /// Recent (account key, time) pairs, a ring.
    pub accounts: [(u32, u32); SOURCE_ACCOUNTS],
    /// Next ring position.
    pub next: u8,
}

impl SourceFailures {
    /// Records a failure against `account`.
    pub fn add(&mut self, account: u32, now_s: u32) {
        self.recent.add(1.0, now_s, TAU_10M);
        self.last_s = self.last_s.max(now_s);
        if let Some(e) = self.accounts.iter_mut().find(|e| e.0 == account) {
            e.1 = now_s;
            return;
        }
        let i = self.next as usize % SOURCE_ACCOUNTS;
        self.accounts[i] = (account, now_s);
        self.next = ((i + 1) % SOURCE_ACCOUNTS) as u8;
    }

    /// Distinct accounts with a failure from this source within `window_s` of `now_s`.
    pub fn distinct_accounts(&self, now_s: u32, window_s: u32) -> u32 {
        self.accounts
            .iter()
            .filter(|e| e.0 != 0 && now_s.saturating_sub(e.1) <= window_s)
            .count() as u32
    }
}

/// How a network or ASN is known to a tenant: which of its accounts used it, on how many days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSeen {
    /// The accounts that used it, one bit per account (bit = account key mod 64): a linear
    /// counting sketch, exact for a few accounts and a fair estimate up to a few hundred.
    pub accounts: u64,
    /// First day used.
    pub first_day: u16,
    /// Last day used.
    pub last_day: u16,
    /// Distinct days it was used on (saturating).
    pub days: u16,
}

/// Days a network must have been used on before the tenant knows it: a clinic's NAT or a
/// hospital's VPN is used every working day; a credential-stuffing run or an infostealer
/// operator working through a practice's stolen passwords spends hours, not half a week.
pub const TENANT_KNOWN_DAYS: u16 = 3;
/// Share of the tenant's accounts that must have used a network before it is the tenant's:
/// the institution's NAT, VPN or the regional carrier most staff have at home is used by far
/// more than one in twenty; two stolen accounts of a hospital's hundreds are not.
pub const TENANT_KNOWN_SHARE: f64 = 0.05;

impl NetSeen {
    /// Estimated distinct accounts (linear counting over the 64-bit sketch).
    pub fn distinct_accounts(&self) -> f64 {
        let zeros = self.accounts.count_zeros();
        if zeros == 0 {
            // Saturated: at least the estimate of one zero bit left.
            64.0 * 64f64.ln()
        } else {
            -64.0 * (f64::from(zeros) / 64.0).ln()
        }
    }

    /// Known to a tenant of `tenant_accounts` accounts: used by at least two of them on
    /// [`TENANT_KNOWN_DAYS`] days or more, and, when `share` is asked, by
    /// [`TENANT_KNOWN_SHARE`] of them. One attacker with two stolen accounts of a big tenant
    /// does not make their ISP the tenant's.
    pub fn known(&self, tenant_accounts: usize, share: bool) -> bool {
        self.accounts.count_ones() >= 2
            && self.days >= TENANT_KNOWN_DAYS
            && (!share || self.distinct_accounts() >= TENANT_KNOWN_SHARE * tenant_accounts as f64)
    }

    fn add(&mut self, account: u32, today: u16) {
        if self.first_day == 0 {
            self.first_day = today;
        }
        if today > self.last_day || self.days == 0 {
            self.days = self.days.saturating_add(1);
        }
        self.last_day = self.last_day.max(today);
        self.accounts |= 1u64 << (account % 64);
    }
}

/// Networks per tenant remembered.
pub const TENANT_NETS: usize = 1024;
/// ASNs per tenant remembered.
pub const TENANT_ASNS: usize = 256;
/// Distinct accounts per tenant counted exactly (beyond: saturates).
pub const TENANT_ACCOUNTS: usize = 100_000;

/// What a tenant's accounts share.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    /// Distinct account keys seen with a trusted login.
    pub accounts: BTreeSet<u32>,
    /// Networks by prefix key.
    pub nets: BTreeMap<u32, NetSeen>,
    /// ASNs.
    pub asns: BTreeMap<u32, NetSeen>,
}

impl TenantState {
    /// Records a trusted login of `account` from `prefix`/`asn`.
    pub fn add(&mut self, account: u32, prefix: Option<u32>, asn: Option<u32>, today: u16) {
        if self.accounts.len() < TENANT_ACCOUNTS {
            self.accounts.insert(account);
        }
        if let Some(p) = prefix {
            bounded_add(&mut self.nets, p, account, today, TENANT_NETS);
        }
        if let Some(a) = asn {
            bounded_add(&mut self.asns, a, account, today, TENANT_ASNS);
        }
    }

    /// Estimated heap bytes of this tenant, its slot in the store's table included: what
    /// the store's tenant budget counts. B-tree nodes hold up to 11 keys and are about
    /// two-thirds full: 64-byte nodes for the account set, 192-byte ones for the network maps.
    pub fn approx_bytes(&self) -> usize {
        const SLOT: usize = 112;
        let nodes = |n: usize| n.div_ceil(7);
        SLOT + nodes(self.accounts.len()) * 64
            + (nodes(self.nets.len()) + nodes(self.asns.len())) * 192
    }

    /// The last day any of the tenant's networks was used (0 when none is known).
    pub fn last_day(&self) -> u16 {
        self.nets
            .values()
            .chain(self.asns.values())
            .map(|n| n.last_day)
            .max()
            .unwrap_or(0)
    }

    /// The first day of the oldest network the tenant still remembers (0 when none): how long
    /// it has been watched, as far as its memory reaches (the busiest networks, the practice's
    /// own, are the last evicted).
    pub fn first_day(&self) -> u16 {
        self.asns.values().map(|n| n.first_day).min().unwrap_or(0)
    }

    /// True when the tenant knows this network.
    ///
    /// A /24 (or /64) two colleagues use on three days is an institution's NAT whatever its
    /// size (neighbours share a residential /24, colleagues do not; a proxy's exits rotate
    /// across /24s from day to day), so no share is asked: a big hospital has many egress
    /// networks, each used by a few of its staff.
    pub fn net_known(&self, prefix: u32) -> bool {
        let n = self.accounts.len();
        self.nets.get(&prefix).is_some_and(|s| s.known(n, false))
    }

    /// True when the tenant knows this ASN.
    ///
    /// An ASN is a whole ISP: two accounts on it say nothing, a share of the staff does.
    pub fn asn_known(&self, asn: u32) -> bool {
        let n = self.accounts.len();
        self.asns.get(&asn).is_some_and(|s| s.known(n, true))
    }
}

fn bounded_add(m: &mut BTreeMap<u32, NetSeen>, key: u32, account: u32, today: u16, cap: usize) {
    if !m.contains_key(&key) && m.len() >= cap {
        // Evict the network unused the longest (ties: smallest key, for determinism).
        if let Some(k) = m
            .iter()
            .min_by(|a, b| a.1.last_day.cmp(&b.1.last_day).then(a.0.cmp(b.0)))
            .map(|(k, _)| *k)
        {
            m.remove(&k);
        }
    }
    m.entry(key).or_default().add(account, today);
}

/// A count-min sketch: approximate counts of high-cardinality values (networks, devices) in
/// fixed memory. Over-estimates only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    cells: Vec<u32>,
}

const SKETCH_ROWS: usize = 4;
const SKETCH_COLS: usize = 4096;

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            cells: vec![0; SKETCH_ROWS * SKETCH_COLS],
        }
    }
}

impl Sketch {
    fn cell(row: usize, key: u64) -> usize {
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(&key.to_le_bytes(), row as u64);
        row * SKETCH_COLS + (h as usize % SKETCH_COLS)
    }

    /// Estimated count.
    pub fn get(&self, key: u64) -> u32 {
        (0..SKETCH_ROWS)
            .map(|r| self.cells.get(Self::cell(r, key)).copied().unwrap_or(0))
            .min()
            .unwrap_or(0)
    }

    /// Adds one.
    pub fn add(&mut self, key: u64) {
        for r in 0..SKETCH_ROWS {
            if let Some(c) = self.cells.get_mut(Self::cell(r, key)) {
                *c = c.saturating_add(1);
            }
        }
    }
}

/// Distinct values tracked exactly per population table (beyond: new values count as rare).
pub const POPULATION_KEYS: usize = 65_536;

/// One population table: exact counts for low-cardinality values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frequencies {
    counts: BTreeMap<u32, f64>,
    total: f64,
}

impl Frequencies {
    /// Adds one observation.
    pub fn add(&mut self, key: u32) {
        self.total += 1.0;
        if self.counts.len() < POPULATION_KEYS || self.counts.contains_key(&key) {
            *self.counts.entry(key).or_default() += 1.0;
        }
    }

    /// Smoothed frequency: (count + 1) / (total + distinct + 1). Never 0, never 1.
    pub fn p(&self, key: u32) -> f64 {
        let c = self.counts.get(&key).copied().unwrap_or(0.0);
        (c + 1.0) / (self.total + self.counts.len() as f64 + 1.0)
    }

    /// Raw share (for reasons): count / total.
    pub fn share(&self, key: u32) -> f64 {
        if self.total == 0.0 {
            return 0.0;
        }
        self.counts.get(&key).copied().unwrap_or(0.0) / self.total
    }

    /// Observations.
    pub fn total(&self) -> f64 {
        self.total
    }
}

/// Population frequencies over every trusted successful login: the `p(x)` of the risk score.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// Countries.
    pub countries: Frequencies,
    /// ASNs.
    pub asns: Frequencies,
    /// Browser families.
    pub browsers: Frequencies,
    /// OS families.
    pub oses: Frequencies,
    /// Device types (key: type index).
    pub kinds: Frequencies,
    /// Local-hour buckets.
    pub hours: Frequencies,
    /// Networks (sketch over prefix keys).
    pub prefixes: Sketch,
    /// Distinct networks seen (approx.).
    pub prefixes_distinct: f64,
    /// Devices (sketch over fingerprints).
    pub devices: Sketch,
    /// Distinct devices seen (approx.).
    pub devices_distinct: f64,
    /// Logins counted.
    pub logins: f64,
}

impl Population {
    /// Smoothed frequency of a network.
    pub fn p_prefix(&self, prefix: u32) -> f64 {
        (self.prefixes.get(prefix as u64) as f64 + 1.0)
            / (self.logins + self.prefixes_distinct + 1.0)
    }

    /// Smoothed frequency of a device.
    pub fn p_device(&self, fp: u64) -> f64 {
        (self.devices.get(fp) as f64 + 1.0) / (self.logins + self.devices_distinct + 1.0)
    }

    /// Distinct keys held by the exact tables (for size estimates).
    pub fn distinct_keys(&self) -> usize {
        [
            &self.countries,
            &self.asns,
            &self.browsers,
            &self.oses,
            &self.kinds,
            &self.hours,
        ]
        .iter()
        .map(|f| f.counts.len())
        .sum()
    }

    /// Counts one trusted login.
    #[allow(clippy::too_many_arguments)]
    pub fn add_login(
        &mut self,
        country: Option<u32>,
        asn: Option<u32>,
        prefix: Option<u32>,
        fp: u64,
        browser: u32,
        os: u32,
        kind: DeviceType,
        hour_bucket: usize,
    ) {
        self.logins += 1.0;
        if let Some(c) = country {
            self.countries.add(c);
        }
        if let Some(a) = asn {
            self.asns.add(a);
        }
        if let Some(p) = prefix {
            if self.prefixes.get(p as u64) == 0 {
                self.prefixes_distinct += 1.0;
            }
            self.prefixes.add(p as u64);
        }
        if fp != 0 {
            if self.devices.get(fp) == 0 {
                self.devices_distinct += 1.0;
            }
            self.devices.add(fp);
        }
        self.browsers.add(browser);
        self.oses.add(os);
        self.kinds.add(kind as u32 + 1);
        self.hours.add(hour_bucket as u32 + 1);
    }
}

/// Names behind hashed keys (cities, browsers, OSes, AS organisations), for views and reasons.
/// Bounded at [`NAMES_CAP`]; names beyond it show as their key.
pub const NAMES_CAP: usize = 100_000;

/// IANA time zones, interned: accounts store a `u16` index, and the UTC offset of each zone is
/// cached per hour (offsets change at DST transitions, which fall on whole hours in every zone
/// an account of a medical SaaS plausibly has). The hot path takes a read lock and one atomic
/// load; only a new hour or a new zone writes.
pub struct Zones {
    inner: RwLock<ZoneTable>,
}

struct ZoneTable {
    names: Vec<Box<str>>,
    zones: Vec<Option<jiff::tz::TimeZone>>,
    /// Per zone: `(hour since epoch as u32) << 32 | (offset minutes as u32)`; `u64::MAX` = empty.
    cache: Vec<AtomicU64>,
}

impl ZoneTable {
    fn push(&mut self, name: &str) {
        self.names.push(name.into());
        self.zones.push(jiff::tz::TimeZone::get(name).ok());
        self.cache.push(AtomicU64::new(u64::MAX));
    }
}

impl Zones {
    /// A table whose index 0 is `default` (an unknown name falls back to UTC).
    pub fn new(default: &str) -> Zones {
        let mut t = ZoneTable {
            names: Vec::new(),
            zones: Vec::new(),
            cache: Vec::new(),
        };
        t.push(default);
        Zones {
            inner: RwLock::new(t),
        }
    }

    /// The index of `name` (interned on first use; at most `u16::MAX` zones, then the default).
    pub fn intern(&self, name: &str) -> u16 {
        if let Some(i) = self.inner.read().names.iter().position(|n| &**n == name) {
            return i as u16;
        }
        let mut t = self.inner.write();
        if let Some(i) = t.names.iter().position(|n| &**n == name) {
            return i as u16;
        }
        if t.names.len() >= u16::MAX as usize {
            return 0;
        }
        t.push(name);
        (t.names.len() - 1) as u16
    }

    /// The zone name of an index.
    pub fn name(&self, idx: u16) -> String {
        let t = self.inner.read();
        t.names
            .get(idx as usize)
            .or_else(|| t.names.first())
            .map(|n| n.to_string())
            .unwrap_or_default()
    }

    /// Every interned name, by index (for snapshots).
    pub fn names(&self) -> Vec<String> {
        self.inner
            .read()
            .names
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    /// Replaces the table with `names` (from a snapshot).
    pub fn restore(&self, names: &[String]) {
        let mut t = ZoneTable {
            names: Vec::new(),
            zones: Vec::new(),
            cache: Vec::new(),
        };
        for n in names {
            t.push(n);
        }
        *self.inner.write() = t;
    }

    /// UTC offset in minutes of zone `idx` at `ts_ms`.
    pub fn offset_min(&self, idx: u16, ts_ms: i64) -> i32 {
        let hour = ts_ms
            .div_euclid(crate::timefmt::HOUR_MS)
            .clamp(0, u32::MAX as i64 - 1) as u32;
        let t = self.inner.read();
        let i = if (idx as usize) < t.zones.len() {
            idx as usize
        } else {
            0
        };
        let Some(cell) = t.cache.get(i) else { return 0 };
        let packed = cell.load(Ordering::Relaxed);
        if packed != u64::MAX && (packed >> 32) as u32 == hour {
            return packed as u32 as i32;
        }
        let off = match (t.zones.get(i), jiff::Timestamp::from_millisecond(ts_ms)) {
            (Some(Some(z)), Ok(ts)) => z.to_offset(ts).seconds() / 60,
            _ => 0,
        };
        cell.store(((hour as u64) << 32) | off as u32 as u64, Ordering::Relaxed);
        off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_offset_follows_daylight_saving() {
        let z = Zones::new("Europe/Paris");
        let winter = crate::timefmt::parse_rfc3339("2025-01-15T12:00:00Z").unwrap();
        let summer = crate::timefmt::parse_rfc3339("2025-07-15T12:00:00Z").unwrap();
        assert_eq!(z.offset_min(0, winter), 60);
        assert_eq!(z.offset_min(0, summer), 120);
        let ny = z.intern("America/New_York");
        assert_eq!(z.offset_min(ny, winter), -300);
    }

    #[test]
    fn ipv6_privacy_addresses_share_a_network() {
        let a: IpAddr = "2a01:cb00:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2a01:cb00:1:2:bbbb:cccc::9".parse().unwrap();
        let c: IpAddr = "2a01:cb00:1:3::1".parse().unwrap();
        assert_eq!(prefix_key(a), prefix_key(b));
        assert_ne!(prefix_key(a), prefix_key(c));
    }

    #[test]
    fn paris_to_lagos_is_about_4700_km() {
        let d = distance_km((48.8566, 2.3522), (6.455, 3.3941));
        assert!((4600.0..4800.0).contains(&d), "{d}");
    }

    #[test]
    fn a_new_network_is_no_family_and_the_hour_says_nothing_of_the_session() {
        let f = LoginFamilies(LoginFamilies::NEW_NETWORK | LoginFamilies::HOUR);
        assert!(f.new_network());
        assert_eq!((f.count(), f.count_for_session()), (1, 0));
        let f =
            LoginFamilies(LoginFamilies::NETWORK | LoginFamilies::DEVICE | LoginFamilies::DORMANT);
        assert!(!f.new_network());
        assert_eq!((f.count(), f.count_for_session()), (3, 3));
    }

    #[test]
    fn a_network_is_the_tenants_after_three_days_of_two_accounts() {
        let mut t = TenantState::default();
        t.add(1, Some(9), None, 100);
        t.add(2, Some(9), None, 100);
        assert!(!t.net_known(9), "a one-day burst");
        t.add(1, Some(9), None, 101);
        assert!(!t.net_known(9), "two days");
        t.add(2, Some(9), None, 102);
        assert!(t.net_known(9));
    }

    #[test]
    fn two_stolen_accounts_do_not_make_a_big_tenants_network_known() {
        let mut t = TenantState::default();
        // A hospital of 200 staff on its own network.
        for day in 100..105 {
            for a in 1..=200 {
                t.add(a, Some(1), Some(100), day);
            }
        }
        assert!(t.net_known(1) && t.asn_known(100));
        // An attacker with two of its accounts, on their network, every day of a week.
        for day in 105..112 {
            t.add(7, Some(66), Some(666), day);
            t.add(8, Some(66), Some(666), day);
        }
        assert!(!t.asn_known(666));
        // Used by a twentieth of the staff, it is theirs (the carrier many have at home).
        for a in 10..=24 {
            t.add(a, Some(66), Some(666), 112);
        }
        assert!(t.asn_known(666));
    }

    #[test]
    fn distinct_accounts_estimate_is_exact_when_few_and_close_when_many() {
        let mut n = NetSeen::default();
        for a in [3u32, 5, 700] {
            n.add(a, 1);
        }
        assert!((n.distinct_accounts() - 3.0).abs() < 0.2);
        for a in 0..40u32 {
            n.add(a * 7 + 1000, 1);
        }
        let est = n.distinct_accounts();
        assert!((25.0..70.0).contains(&est), "{est}");
    }

    #[test]
    fn source_counts_distinct_accounts_in_window() {
        let mut s = SourceFailures::default();
        for a in 1..=6 {
            s.add(a, 1000 + a);
            s.add(a, 1000 + a);
        }
        assert_eq!(s.distinct_accounts(1010, 600), 6);
        assert_eq!(s.distinct_accounts(1010 + 3600, 600), 0);
    }
}
