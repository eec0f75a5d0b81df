//! The detection state store: every map the detector keeps between events, and the only code
//! that touches them. Per account: baselines, values held back, open sessions. Shared:
//! failure counters (per account, per account and source, per source), tenant networks,
//! population frequencies, display names, time zones, suppression windows and the alerts
//! remembered for feedback.
//!
//! The detector drives it: it reads an account's state in place ([`Store::read`],
//! [`Store::counters`]), computes features, scores and rules, then asks the store to learn
//! ([`Store::learn`], in [`learn`]). Bounding lives with the maps ([`counters`], [`evict`]),
//! and so do snapshots ([`snapshot`]), analyst verdicts ([`feedback`]) and the API's view
//! of an account ([`view`]). The store stops at state: it knows no rule, feature or alert
//! text.
//!
//! # Lock order
//!
//! Maps are `dashmap`s; no two entries of one map are held at once. Locks nest in one order
//! only: `accounts`, then `sessions`, then any other map; `accounts`, then `pending` while
//! learning. The detector holds the account's baseline and sessions (shared, through
//! [`AccountRead`]) while it computes features, rules and alerts, and releases them before
//! learning. No code takes `accounts` or `sessions` while holding another map's lock, so the
//! worker threads cannot deadlock. Nothing iterates a hash map into the output: replay is
//! deterministic.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use dashmap::mapref::one::Ref;
use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::account::{account_bytes, Decayed, ACCOUNT_BYTES_BOUND};
use super::{
    city_key, country_key, day_of, device_key, key32, name_key64, prefix_key, secs_of, source_key,
    AccountBaseline, FailureCount, PendingSet, Population, SessionSet, SourceFailures, TenantState,
    Zones, NAMES_CAP,
};
use crate::enrich::Enriched;
use crate::event::{canonical_ip, Event};

pub mod counters;
pub mod evict;
pub mod feedback;
pub mod learn;
pub mod partition;
pub mod snapshot;
pub mod view;

pub use feedback::FeedbackError;
pub use learn::Learning;
pub use snapshot::{SnapshotError, SNAPSHOT_VERSION};
pub use view::AccountView;

/// The store's maps are keyed by xxh3 hashes of accounts, sources and tenants: already
/// uniform 64-bit values, so hashing them again (SipHash by default) is pure cost on the hot
/// path — about 3% of its instructions in the profile (BENCHMARKS.md). The key is used as is.
pub(crate) type KeyedMap<V> = DashMap<u64, V, BuildHasherDefault<PreHashed>>;

/// A `Hasher` for keys that are already hashes: `write_u64` passes the value through.
#[derive(Default)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for u64 keys; fold anything else rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Which table a hashed key belongs to, for name look-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameTable {
    /// Cities.
    City,
    /// AS organisations (key: the ASN).
    AsOrg,
    /// Browser families.
    Browser,
    /// OS families.
    Os,
}

fn name_slot(t: NameTable, key: u32) -> u64 {
    ((t as u64) << 32) | key as u64
}

/// One event's keys into the store and its times, computed once per event.
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    /// The account.
    pub account: u64,
    /// The account in 32 bits (never 0), for per-source and per-tenant account sets.
    pub account32: u32,
    /// The tenant, when the event names one.
    pub tenant: Option<u64>,
    /// The source the attempt comes from (address, or its /64).
    pub source: Option<u64>,
    /// The network (/24 or /64).
    pub prefix: Option<u32>,
    /// The country.
    pub country: Option<u32>,
    /// The city (with its country).
    pub city: Option<u32>,
    /// The ASN (never 0).
    pub asn: Option<u32>,
    /// The device fingerprint.
    pub device: Option<u32>,
    /// The browser family.
    pub browser: u32,
    /// The OS family.
    pub os: u32,
    /// The session id.
    pub session: Option<u32>,
    /// The address's location, degrees.
    pub place: Option<(f32, f32)>,
    /// Event time, seconds since the epoch.
    pub now_s: u32,
    /// Event day since the epoch.
    pub today: u16,
}

impl Keys {
    /// The keys of an enriched event.
    #[inline]
    pub fn of(ev: &Event<'_>, enr: &Enriched) -> Keys {
        let account = name_key64(&ev.account);
        let ip = ev.ip.map(canonical_ip);
        let g = &enr.geo;
        let d = &enr.device;
        Keys {
            account,
            account32: (account as u32).max(1),
            tenant: ev.tenant.as_deref().map(name_key64),
            source: ip.map(source_key),
            prefix: ip.map(prefix_key),
            country: g.country.map(country_key),
            city: match (g.country, g.city.as_deref()) {
                (Some(c), Some(city)) => Some(city_key(c, city)),
                _ => None,
            },
            asn: g.asn.filter(|&a| a != 0),
            device: (d.fingerprint != 0).then(|| device_key(d.fingerprint)),
            browser: key32(d.browser.as_bytes()),
            os: key32(d.os.as_bytes()),
            session: ev.session.as_deref().map(|s| key32(s.as_bytes())),
            place: g.lat_lon,
            now_s: secs_of(ev.ts_ms),
            today: day_of(ev.ts_ms),
        }
    }

    /// The key of this account and source together (failures per pair).
    fn pair(&self, source: u64) -> u64 {
        source ^ self.account.rotate_left(17)
    }
}

/// An account's baseline and open sessions, read in place: the maps' shared guards are held
/// until this is dropped. While it lives, the thread holding it must not take `accounts` or
/// `sessions` again (a second lock of a shard behind another worker's pending write would
/// deadlock); other maps may be read.
pub struct AccountRead<'s> {
    acct: Option<Ref<'s, u64, Box<AccountBaseline>>>,
    sessions: Option<Ref<'s, u64, SessionSet>>,
    empty: &'s Empty,
}

impl AccountRead<'_> {
    /// The baseline (an empty one for an account never seen).
    pub fn baseline(&self) -> &AccountBaseline {
        self.acct
            .as_ref()
            .map_or(&self.empty.account, |r| r.value())
    }

    /// The open sessions (none for an account without any).
    pub fn sessions(&self) -> &SessionSet {
        self.sessions
            .as_ref()
            .map_or(&self.empty.sessions, |r| r.value())
    }

    /// True when the account has a baseline.
    pub fn existing(&self) -> bool {
        self.acct.is_some()
    }
}

/// What an account without state reads as.
#[derive(Default)]
struct Empty {
    account: AccountBaseline,
    sessions: SessionSet,
}

/// What a tenant knows of the event's network.
#[derive(Clone, Copy, Debug, Default)]
pub struct TenantSeen {
    /// The network is known to the tenant ([`TenantState::net_known`]).
    pub net_known: bool,
    /// The ASN is known to the tenant.
    pub asn_known: bool,
    /// Distinct accounts of the tenant.
    pub accounts: usize,
    /// Days the tenant has been watched ([`TenantState::first_day`] to today); computed for
    /// logins only (the one place it is read), 0 otherwise.
    pub watched_days: u16,
}

/// The shared counters an event's features read, as they were before it (failures include
/// the event itself when it is a failed login: they are counted first).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Failures on the account.
    pub account_failures: Option<FailureCount>,
    /// Failures on the account from the event's source.
    pub pair_failures: Option<FailureCount>,
    /// Failures from the event's source, across accounts, summed up at the event's time (the
    /// source's ring of accounts is read in place, not copied).
    pub source_failures: Option<SourceSeen>,
    /// The tenant's knowledge of the network.
    pub tenant: TenantSeen,
}

/// What the failures from one source say at the event's time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceSeen {
    /// ≈ failures from the source in the last 10 minutes (decayed).
    pub recent: Decayed,
    /// Distinct accounts the source failed on in the last 10 minutes.
    pub accounts_10m: u32,
    /// Distinct accounts the source failed on in the last hour.
    pub accounts_1h: u32,
}

/// Size of the detection state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Accounts with a baseline.
    pub accounts: usize,
    /// Accounts evicted for the `max_accounts` budget since start.
    pub evicted: u64,
    /// Tenants with shared-network memory.
    pub tenants: usize,
    /// Tenants evicted for the tenant-table budget since start.
    pub tenants_evicted: u64,
    /// Estimated bytes of all detection state (baselines, sessions, failure counters, tenants,
    /// population).
    pub state_bytes: usize,
}

/// Every piece of detection state. `Send + Sync`.
pub struct Store {
    /// Accounts with a baseline at most (see [`evict`]); also sizes the tenant tables.
    max_accounts: usize,
    /// Boxed: the table then holds 16-byte (key, pointer) slots, and its empty slots (a hash
    /// table is 44–87% full) cost 16 bytes each instead of a whole baseline (BENCHMARKS.md §3).
    /// One allocation per new account, none per event.
    accounts: KeyedMap<Box<AccountBaseline>>,
    /// Values held back, for the accounts that have any (few: see [`PendingSet`]).
    pending: KeyedMap<PendingSet>,
    sessions: KeyedMap<SessionSet>,
    account_failures: KeyedMap<FailureCount>,
    pair_failures: KeyedMap<FailureCount>,
    source_failures: KeyedMap<SourceFailures>,
    /// Sizes that trigger the next sweep of the account, pair and source failure maps.
    failure_sweep_at: [AtomicUsize; 3],
    tenants: KeyedMap<TenantState>,
    /// Estimated bytes of all tenant tables ([`TenantState::approx_bytes`]); see
    /// [`Store::tenant_budget`].
    tenant_bytes: AtomicUsize,
    /// Tenants evicted for the tenant-table budget since start.
    tenants_evicted: AtomicU64,
    population: RwLock<Population>,
    /// Display names by (table, key): keys are small structured values, not hashes, so this
    /// map keeps the default hasher.
    names: DashMap<u64, Box<str>>,
    zones: Zones,
    suppress: KeyedMap<i64>,
    /// Size that triggers the next sweep of `suppress`.
    suppress_sweep_at: AtomicUsize,
    /// The longest `suppress` window of any rule: older entries suppress nothing.
    longest_suppress_ms: i64,
    /// Alerts remembered for feedback (allocated whole at start: see [`feedback`]).
    memos: Mutex<feedback::Memos>,
    /// Held while one thread evicts for the account budget; others skip the sweep.
    evicting: Mutex<()>,
    /// The same for the tenant budget.
    evicting_tenants: Mutex<()>,
    /// Accounts evicted for the budget since start.
    evicted: AtomicU64,
    /// What an account without state reads as.
    empty: Empty,
}

impl Store {
    /// An empty store for at most `max_accounts` baselines, hours in `default_timezone` for
    /// accounts without a usual place, and suppression windows up to `longest_suppress_ms`.
    pub fn new(max_accounts: usize, default_timezone: &str, longest_suppress_ms: i64) -> Store {
        Store {
            max_accounts,
            accounts: KeyedMap::default(),
            pending: KeyedMap::default(),
            sessions: KeyedMap::default(),
            account_failures: KeyedMap::default(),
            pair_failures: KeyedMap::default(),
            source_failures: KeyedMap::default(),
            failure_sweep_at: std::array::from_fn(|_| AtomicUsize::new(evict::SWEEP_MIN)),
            tenants: KeyedMap::default(),
            tenant_bytes: AtomicUsize::new(0),
            tenants_evicted: AtomicU64::new(0),
            population: RwLock::new(Population::default()),
            names: DashMap::new(),
            zones: Zones::new(default_timezone),
            suppress: KeyedMap::default(),
            suppress_sweep_at: AtomicUsize::new(evict::SWEEP_MIN),
            longest_suppress_ms,
            memos: Mutex::new(feedback::memos()),
            evicting: Mutex::new(()),
            evicting_tenants: Mutex::new(()),
            evicted: AtomicU64::new(0),
            empty: Empty::default(),
        }
    }

    /// The account's baseline and sessions, read in place (`accounts`, then `sessions`).
    #[inline]
    pub fn read(&self, account: u64) -> AccountRead<'_> {
        let acct = self.accounts.get(&account);
        let sessions = self.sessions.get(&account);
        AccountRead {
            acct,
            sessions,
            empty: &self.empty,
        }
    }

    /// The failure counters and tenant knowledge the event's features read (the tenant's
    /// watched days only for a `login`). May be called
    /// while an [`AccountRead`] is held: it takes only other maps, one at a time.
    #[inline]
    pub fn counters(&self, k: &Keys, login: bool) -> Counters {
        let tenant = match k.tenant.and_then(|t| self.tenants.get(&t)) {
            Some(t) => TenantSeen {
                net_known: k.prefix.is_some_and(|p| t.net_known(p)),
                asn_known: k.asn.is_some_and(|a| t.asn_known(a)),
                accounts: t.accounts.len(),
                watched_days: if login {
                    k.today.saturating_sub(t.first_day())
                } else {
                    0
                },
            },
            None => TenantSeen::default(),
        };
        let (pair_failures, source_failures) = match k.source {
            Some(src) => (
                self.pair_failures.get(&k.pair(src)).map(|r| *r),
                self.source_failures.get(&src).map(|r| SourceSeen {
                    recent: r.recent,
                    accounts_10m: r.distinct_accounts(k.now_s, 600),
                    accounts_1h: r.distinct_accounts(k.now_s, 3600),
                }),
            ),
            None => (None, None),
        };
        Counters {
            account_failures: self.account_failures.get(&k.account).map(|r| *r),
            pair_failures,
            source_failures,
            tenant,
        }
    }

    /// Runs `f` on the population frequencies (under their read lock).
    #[inline]
    pub fn with_population<R>(&self, f: impl FnOnce(&Population) -> R) -> R {
        f(&self.population.read())
    }

    /// The interned time zones of accounts.
    pub fn zones(&self) -> &Zones {
        &self.zones
    }

    /// The display name behind a hashed key, if remembered.
    pub fn name(&self, t: NameTable, key: u32) -> Option<String> {
        self.names.get(&name_slot(t, key)).map(|n| n.to_string())
    }

    fn remember_name(&self, t: NameTable, key: u32, name: &str) {
        if name.is_empty() || self.names.len() >= NAMES_CAP {
            return;
        }
        let slot = name_slot(t, key);
        if !self.names.contains_key(&slot) {
            self.names.insert(slot, name.into());
        }
    }

    /// Accounts tracked and estimated bytes of state.
    pub fn stats(&self) -> StoreStats {
        // DashMap entry overhead: key + value + about one control word per slot.
        const ENTRY: usize = 16;
        let per = |n: usize, v: usize| n * (v + ENTRY);
        let accounts = self.accounts.len();
        let tenants = self.tenant_bytes.load(Relaxed);
        let names: usize = self.names.iter().map(|n| n.len() + 8 + ENTRY + 16).sum();
        let memos = feedback::memos_bytes(&self.memos.lock());
        // Two sketches of 4 × 4096 u32, plus the exact tables (a few hundred keys each).
        let population = 2 * 4 * 4096 * 4 + self.population.read().distinct_keys() * 24;
        StoreStats {
            accounts,
            evicted: self.evicted.load(Relaxed),
            tenants: self.tenants.len(),
            tenants_evicted: self.tenants_evicted.load(Relaxed),
            state_bytes: self.accounts_bytes()
                + per(self.pending.len(), std::mem::size_of::<PendingSet>())
                + per(self.sessions.len(), std::mem::size_of::<SessionSet>())
                + per(
                    self.account_failures.len(),
                    std::mem::size_of::<FailureCount>(),
                )
                + per(
                    self.pair_failures.len(),
                    std::mem::size_of::<FailureCount>(),
                )
                + per(
                    self.source_failures.len(),
                    std::mem::size_of::<SourceFailures>(),
                )
                + per(self.suppress.len(), 8)
                + memos
                + tenants
                + names
                + population,
        }
    }

    /// Bytes the accounts map holds: every bucket of its tables, used or not (a key, a pointer
    /// and hashbrown's control byte; a table keeps between 1/8 and 9/16 of its buckets empty),
    /// and each boxed baseline as glibc's malloc serves it (an 8-byte header, rounded up to 16).
    fn accounts_bytes(&self) -> usize {
        // hashbrown's capacity is 7/8 of its buckets.
        let buckets = self.accounts.capacity() * 8 / 7;
        let slot = std::mem::size_of::<(u64, Box<AccountBaseline>)>() + 1;
        buckets * slot + self.accounts.len() * boxed_bytes(std::mem::size_of::<AccountBaseline>())
    }

    /// The values held back for an account (tests look at them directly).
    #[cfg(test)]
    pub(crate) fn pending_of(&self, account: u64) -> Option<PendingSet> {
        self.pending.get(&account).map(|p| *p)
    }

    /// Accounts with values held back.
    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// What a heap allocation of `size` bytes occupies with glibc's malloc on 64-bit Linux: the
/// request plus an 8-byte header, rounded up to 16, at least 32.
const fn boxed_bytes(size: usize) -> usize {
    let chunk = (size + 8 + 15) & !15;
    if chunk < 32 {
        32
    } else {
        chunk
    }
}

const _: () = assert!(account_bytes(std::mem::size_of::<AccountBaseline>()) <= ACCOUNT_BYTES_BOUND);

#[cfg(test)]
mod tests;
