//! Detection: for each event, read the account's baseline, compute the features
//! ([`features`]) and the login risk ([`risk`]), evaluate the rules ([`rules`]), build explained
//! alerts ([`explain`]), then learn from the event ([`crate::baseline`]).
//!
//! # What is learned, and what is not
//!
//! Detection reads the state as it was *before* the event; learning happens after, knowing which
//! alerts fired. A successful login that raised an active high or critical alert is not learned:
//! its device, network, ASN, country and city are held back ("pending") and promoted only when
//! seen again on a later day in a login that raised nothing, or at once by a `false_positive`
//! verdict. Its place does not become the reference for travel, its hour is not added to the
//! profile, and the volume of its session is never folded into the account's usual volume.
//! So an attacker cannot teach the baseline with one login, and a doctor's genuinely new laptop
//! is learned by the next day. `confirmed_compromise` purges the alert's values from the
//! account's tables and pending values.
//!
//! # Concurrency
//!
//! `process(&self)` uses `dashmap` entries; no two entries of one map are held at once. The
//! account's baseline and sessions are read in place: their (shared) guards are held while
//! the features, rules and alerts are computed, and released before learning. Locks nest in
//! one order only: `accounts`, then `sessions`, then any other map; `accounts`, then `pending`
//! while learning. No code takes `accounts` or `sessions` while holding another map's lock,
//! so the worker threads cannot deadlock. Replay is single-threaded and
//! deterministic: nothing iterates a hash map into the output.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::alert::{Alert, Severity, Verdict};
use crate::baseline::account::{hour_bucket, ACCOUNT_BYTES_BOUND};
use crate::baseline::{
    self, city_key, country_key, day_of, device_key, distance_km, key32, name_key64, prefix_key,
    secs_of, source_key, to_cdeg, AccountBaseline, FailureCount, OpenSession, PendingKind,
    PendingSet, Population, SessionSet, SourceFailures, TenantState, Zones, NAMES_CAP,
    SESSION_LIVE_S, TAU_10M, TAU_1H,
};
use crate::enrich::Enriched;
use crate::event::{canonical_ip, Action, Event, EventKind, Outcome};
use crate::timefmt::{hour_of_week, DAY_MS};

pub mod explain;
pub mod features;
pub mod risk;
pub mod rules;

/// `[detect]` lives with the rest of the configuration; re-exported where it is used.
pub use crate::settings::DetectSettings;

use explain::{Evidence, NameTable};
use features::{EventFeatures, F, FEATURES};
use risk::{LoginKeys, RiskScore};
use rules::{Mode, RuleSet, Value};

/// A writer that remembers the first error of the one it wraps (see `write_snapshot`).
struct KeepIoError<'w> {
    w: &'w mut dyn Write,
    error: Option<std::io::Error>,
}

impl Write for KeepIoError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.w.write(buf).inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// The detector's maps are keyed by xxh3 hashes of accounts, sources and tenants: already
/// uniform 64-bit values, so hashing them again (SipHash by default) is pure cost on the hot
/// path — about 3% of its instructions in the profile (BENCHMARKS.md). The key is used as is.
type KeyedMap<V> = DashMap<u64, V, BuildHasherDefault<PreHashed>>;

/// A `Hasher` for keys that are already hashes: `write_u64` passes the value through.
#[derive(Default)]
struct PreHashed(u64);

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

/// Detection that cannot start (bad rules).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DetectError(pub String);

/// A snapshot that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The underlying reader or writer failed.
    #[error("snapshot I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Not a Tocsin detector snapshot.
    #[error("not a detector snapshot (bad magic)")]
    BadMagic,
    /// Written by a version this build cannot read.
    #[error("snapshot format version {found}, this build reads {expected}")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// Corrupt or truncated.
    #[error("corrupt snapshot: {0}")]
    Decode(String),
}

/// Size of the detection state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DetectorStats {
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

/// Caps of the failure maps (see [`sweep_idle`]).
const FAILURE_MAP_CAP: usize = 200_000;
/// Idle times after which a failure counter is dropped, longest first (seconds): the failure
/// features look back at most an hour; the shorter ones apply only at the cap, and the last, 0,
/// empties the map.
const FAILURE_IDLE_S: [i64; 4] = [3600, 600, 1, 0];
/// A swept map is first swept once it holds this many entries.
const SWEEP_MIN: usize = 1_024;

/// Drops the entries of a bounded map that no feature can see any more, once the map has
/// doubled since its last sweep (`next` holds the size that triggers the next one), so a sweep
/// costs O(1) per insert, amortised. Entries idle for `idle[0]` (in the unit of `now` and
/// `last`) go first: the map then holds about twice the keys active in that window, not `cap`
/// stale ones. If the map is still at `cap` (a flood within the window), entries idle for
/// `idle[1]` go too, and so on: the state of a flood that large is lost rather than memory.
/// The last threshold should be 0 (empty the map), so that `cap` is a hard bound.
fn sweep_idle<V>(
    m: &KeyedMap<V>,
    next: &std::sync::atomic::AtomicUsize,
    cap: usize,
    now: i64,
    idle: &[i64],
    last: impl Fn(&V) -> i64,
) {
    use std::sync::atomic::Ordering::Relaxed;
    if m.len() <= next.load(Relaxed) {
        return;
    }
    for &idle in idle {
        m.retain(|_, v| now.saturating_sub(last(v)) < idle);
        if m.len() < cap {
            break;
        }
    }
    next.store(m.len().saturating_mul(2).clamp(SWEEP_MIN, cap), Relaxed);
}
/// Tenant-table bytes allowed per budgeted account (see [`Detector::tenant_budget`]).
const TENANT_BYTES_PER_ACCOUNT: usize = 64;
/// Smallest tenant-table budget: room for the largest tenant many times over.
const TENANT_BYTES_MIN: usize = 16 << 20;
/// Cap of the suppression map (see [`sweep_idle`]): windows older than the longest rule's
/// `suppress` go first, then older than 10 minutes, then all but this second's.
const SUPPRESS_CAP: usize = 500_000;
/// Alerts remembered for feedback: as many as the API's default alert history (`[api]
/// recent_alerts`), since feedback is only taken on an alert still in that history; for older
/// ones (or after a restart) feedback reads the values from the alert itself. The table is
/// allocated whole at start (see [`Detector::with_rules`]), so it does not grow with alerts.
const MEMO_CAP: usize = 10_000;
/// A session whose login scored at least this is never learned from.
const RISKY_SESSION: f64 = 0.5;
/// Distance from which two live sessions are "distant".
const DISTANT_KM: f64 = 500.0;

/// What an alert was about, kept so feedback can find the exact values again.
#[derive(Clone, Copy, Debug)]
struct Memo {
    account: u64,
    country: Option<u32>,
    city: Option<u32>,
    asn: Option<u32>,
    prefix: Option<u32>,
    device: Option<u32>,
}

/// Alerts remembered for feedback, by alert-id hash, with their order of arrival.
type Memos = (
    HashMap<u64, Memo, BuildHasherDefault<PreHashed>>,
    VecDeque<u64>,
);

/// Baselines + risk + rules. `Send + Sync`.
pub struct Detector {
    rules: RuleSet,
    /// Per rule (same order), the event kinds it can fire on: bit `EventKind as u8`.
    rule_kinds: Vec<u8>,
    settings: DetectSettings,
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
    failure_sweep_at: [std::sync::atomic::AtomicUsize; 3],
    tenants: KeyedMap<TenantState>,
    /// Estimated bytes of all tenant tables ([`TenantState::approx_bytes`]); see
    /// [`Detector::tenant_budget`].
    tenant_bytes: std::sync::atomic::AtomicUsize,
    /// Tenants evicted for the tenant-table budget since start.
    tenants_evicted: std::sync::atomic::AtomicU64,
    population: RwLock<Population>,
    /// Display names by (table, key): keys are small structured values, not hashes, so this
    /// map keeps the default hasher.
    names: DashMap<u64, Box<str>>,
    zones: Zones,
    suppress: KeyedMap<i64>,
    /// Size that triggers the next sweep of `suppress`.
    suppress_sweep_at: std::sync::atomic::AtomicUsize,
    /// The longest `suppress` window of any rule: older entries suppress nothing.
    longest_suppress_ms: i64,
    /// By the xxh3 hash of the alert id, oldest first in the queue: 8-byte keys instead of two
    /// copies of each id (allocated whole at start: `MEMO_CAP`).
    memos: Mutex<Memos>,
    /// Held while one thread evicts for the account budget; others skip the sweep.
    evicting: Mutex<()>,
    /// The same for the tenant budget.
    evicting_tenants: Mutex<()>,
    /// Accounts evicted for the budget since start.
    evicted: std::sync::atomic::AtomicU64,
}

/// Table index for tracked volume actions (read, search, export, print).
fn tracked(a: Action) -> Option<usize> {
    match a {
        Action::Read => Some(0),
        Action::Search => Some(1),
        Action::Export => Some(2),
        Action::Print => Some(3),
        Action::Update | Action::Delete => None,
    }
}

fn name_slot(t: NameTable, key: u32) -> u64 {
    ((t as u64) << 32) | key as u64
}

/// Per-event keys, computed once.
struct Keys {
    account: u64,
    account32: u32,
    source: Option<u64>,
    prefix: Option<u32>,
    country: Option<u32>,
    city: Option<u32>,
    asn: Option<u32>,
    device: Option<u32>,
    browser: u32,
    os: u32,
    session: Option<u32>,
    place: Option<(f32, f32)>,
}

/// What the detector knew before an event, in the terms features are computed from. The
/// baseline and sessions are read in place, through the maps' guards.
#[derive(Clone, Copy)]
struct Before<'b> {
    acct: &'b AccountBaseline,
    existing: bool,
    sessions: &'b SessionSet,
    learning: bool,
    how: u8,
    bucket: usize,
    is_auth: bool,
    risk: RiskScore,
    pop_country: Option<f64>,
    pop_asn: Option<f64>,
    now_s: u32,
    today: u16,
}

/// Values computed along with the features that explanation and learning need too.
struct Derived {
    this_session: Option<OpenSession>,
    risk_score: f64,
    windows: baseline::account::VolumeWindows,
}

impl Detector {
    /// Loads the rules and builds empty baselines.
    pub fn from_settings(
        rules: &crate::settings::RulesSettings,
        detect: &DetectSettings,
    ) -> Result<Detector, DetectError> {
        let set = rules::load_dir(&rules.dir, &rules.maturity, FEATURES)
            .map_err(|e| DetectError(e.to_string()))?;
        Ok(Detector::with_rules(set, detect))
    }

    /// A detector over already-loaded rules.
    pub fn with_rules(rules: RuleSet, detect: &DetectSettings) -> Detector {
        if jiff::tz::TimeZone::get(&detect.default_timezone).is_err() {
            tracing::warn!(
                zone = %detect.default_timezone,
                "unknown detect.default_timezone; hours will be computed in UTC"
            );
        }
        let rule_kinds = rules
            .rules
            .iter()
            .map(|r| kind_mask(r.when.required()))
            .collect();
        let longest_suppress_ms = rules
            .rules
            .iter()
            .map(|r| r.suppress_ms)
            .max()
            .unwrap_or(0)
            .max(10 * 60_000);
        Detector {
            rules,
            rule_kinds,
            settings: detect.clone(),
            accounts: KeyedMap::default(),
            pending: KeyedMap::default(),
            sessions: KeyedMap::default(),
            account_failures: KeyedMap::default(),
            pair_failures: KeyedMap::default(),
            source_failures: KeyedMap::default(),
            failure_sweep_at: std::array::from_fn(|_| {
                std::sync::atomic::AtomicUsize::new(SWEEP_MIN)
            }),
            tenants: KeyedMap::default(),
            tenant_bytes: std::sync::atomic::AtomicUsize::new(0),
            tenants_evicted: std::sync::atomic::AtomicU64::new(0),
            population: RwLock::new(Population::default()),
            names: DashMap::new(),
            zones: Zones::new(&detect.default_timezone),
            suppress: KeyedMap::default(),
            suppress_sweep_at: std::sync::atomic::AtomicUsize::new(SWEEP_MIN),
            longest_suppress_ms,
            // Twice the cap: a table that keeps deleting and inserting at its cap rehashes in
            // place only while at most half full; sized so, it never grows after start.
            memos: Mutex::new((
                HashMap::with_capacity_and_hasher(2 * MEMO_CAP, Default::default()),
                VecDeque::with_capacity(MEMO_CAP + 1),
            )),
            evicting: Mutex::new(()),
            evicting_tenants: Mutex::new(()),
            evicted: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The loaded rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
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

    fn keys(&self, ev: &Event<'_>, enr: &Enriched) -> Keys {
        let account = name_key64(&ev.account);
        let ip = ev.ip.map(canonical_ip);
        let g = &enr.geo;
        let d = &enr.device;
        Keys {
            account,
            account32: (account as u32).max(1),
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
        }
    }

    /// Updates baselines with one event and appends the alerts it raises to `out`. `now_ms` is
    /// the decision time (event time in replay).
    pub fn process(&self, ev: &Event<'_>, enr: &Enriched, now_ms: i64, out: &mut Vec<Alert>) {
        let k = self.keys(ev, enr);
        let now_s = secs_of(ev.ts_ms);
        let today = day_of(ev.ts_ms);

        // Failures are counted first, so the features include this attempt.
        if ev.is_login_failure() {
            self.count_failure(&k, now_s);
        }

        // Read in place: the guards are held (shared) until learning, which takes the maps'
        // entries again. While they are held this thread touches neither map again (a second
        // lock of a shard behind the other worker's pending write would deadlock), and nothing
        // anywhere takes `accounts` or `sessions` while holding another map's lock.
        let acct_guard = self.accounts.get(&k.account);
        let sessions_guard = self.sessions.get(&k.account);
        let no_acct;
        let no_sessions;
        let acct: &AccountBaseline = match &acct_guard {
            Some(r) => r.value(),
            None => {
                no_acct = AccountBaseline::default();
                &no_acct
            }
        };
        let sessions: &SessionSet = match &sessions_guard {
            Some(r) => r.value(),
            None => {
                no_sessions = SessionSet::default();
                &no_sessions
            }
        };
        let existing = acct_guard.is_some();
        let learning = acct.learning(self.settings.learning_logins);

        let offset = self.zones.offset_min(acct.tz, ev.ts_ms);
        let how = hour_of_week(ev.ts_ms, offset);
        let bucket = hour_bucket(how);

        let is_auth = matches!(ev.kind, EventKind::Login | EventKind::Mfa);
        let (risk, pop_country, pop_asn) = {
            let pop = self.population.read();
            let r = if is_auth {
                risk::score(
                    acct,
                    &pop,
                    &LoginKeys {
                        prefix: k.prefix,
                        asn: k.asn,
                        country: k.country,
                        fingerprint: enr.device.fingerprint,
                        browser: k.browser,
                        os: k.os,
                        kind: enr.device.kind,
                        hour_of_week: how,
                    },
                    today,
                )
            } else {
                RiskScore::default()
            };
            (
                r,
                k.country.map(|c| pop.countries.share(c)),
                k.asn.map(|a| pop.asns.share(a)),
            )
        };

        let b = Before {
            acct,
            existing,
            sessions,
            learning,
            how,
            bucket,
            is_auth,
            risk,
            pop_country,
            pop_asn,
            now_s,
            today,
        };
        let (
            f,
            Derived {
                this_session,
                risk_score,
                windows,
            },
        ) = self.features(ev, enr, &k, &b);
        // Rules.
        let mut worst: Option<Severity> = None;
        let first_alert = out.len();
        let kind_bit = 1u8 << (ev.kind as u8);
        for (rule, &kinds) in self.rules.rules.iter().zip(&self.rule_kinds) {
            if kinds & kind_bit == 0 || !rule.when.eval(&f) {
                continue;
            }
            if rule.mode == Mode::Active {
                worst = worst.max(Some(rule.severity));
            }
            if self.suppressed(&rule.id, k.account, ev.ts_ms, rule.suppress_ms) {
                continue;
            }
            let names =
                |t: NameTable, key: u32| self.names.get(&name_slot(t, key)).map(|n| n.to_string());
            let evidence = Evidence {
                ev,
                enr,
                feats: &f,
                acct,
                risk,
                risk_score,
                today,
                learning_logins: self.settings.learning_logins,
                names: &names,
                session: this_session,
            };
            out.push(explain::build_alert(rule, &evidence, now_ms));
        }
        if out.len() > first_alert {
            let memo = Memo {
                account: k.account,
                country: k.country,
                city: k.city,
                asn: k.asn,
                prefix: k.prefix,
                device: k.device,
            };
            let mut m = self.memos.lock();
            for a in &out[first_alert..] {
                let id = xxh3_64(a.id.as_bytes());
                if m.0.insert(id, memo).is_none() {
                    m.1.push_back(id);
                }
            }
            while m.1.len() > MEMO_CAP {
                if let Some(old) = m.1.pop_front() {
                    m.0.remove(&old);
                }
            }
        }

        // Learning.
        drop(acct_guard);
        drop(sessions_guard);
        let flagged = worst.is_some_and(|s| s >= Severity::High);
        self.learn(
            ev, enr, &k, today, now_s, bucket, risk_score, flagged, !existing, windows,
        );
    }

    /// Computes every catalog feature of one event from the state as it was before it.
    fn features<'e>(
        &self,
        ev: &'e Event<'_>,
        enr: &'e Enriched,
        k: &Keys,
        b: &Before<'_>,
    ) -> (EventFeatures<'e>, Derived) {
        let Before {
            acct,
            existing,
            sessions,
            learning,
            how,
            bucket,
            is_auth,
            risk,
            pop_country,
            pop_asn,
            now_s,
            today,
        } = *b;
        let mut f = EventFeatures::default();
        // Event.
        let success = |o| ev.outcome == Some(o);
        f.bool(
            F::LoginSuccess,
            ev.kind == EventKind::Login && success(Outcome::Success),
        );
        f.bool(
            F::LoginFailure,
            ev.kind == EventKind::Login && success(Outcome::Failure),
        );
        f.bool(
            F::MfaSuccess,
            ev.kind == EventKind::Mfa && success(Outcome::Success),
        );
        f.bool(
            F::MfaFailure,
            ev.kind == EventKind::Mfa && success(Outcome::Failure),
        );
        f.bool(F::Access, ev.kind == EventKind::Access);
        f.str(F::EventType, ev.kind.as_str());
        if ev.kind == EventKind::Access {
            if let Some(a) = ev.action {
                f.str(F::AccessAction, a.as_str());
            }
            f.num(F::AccessCount, ev.count as f64);
        }
        let failures = self.account_failures.get(&k.account).map(|r| *r);
        if ev.is_login_success() {
            let first_try = failures.is_none_or(|fc| now_s.saturating_sub(fc.last_s) > 30 * 60);
            f.bool(F::LoginFirstTry, first_try);
        } else {
            f.bool(F::LoginFirstTry, false);
        }
        // Account.
        f.str(F::Account, &ev.account);
        if let Some(t) = &ev.tenant {
            f.str(F::Tenant, t);
        }
        f.num(F::AccountLogins, acct.logins as f64);
        f.bool(F::AccountLearning, learning);
        if acct.last_login.ts_s > 0 {
            f.num(
                F::AccountDaysSinceLastLogin,
                now_s.saturating_sub(acct.last_login.ts_s) as f64 / 86_400.0,
            );
        }
        f.num(
            F::AccountAgeDays,
            if existing {
                today.saturating_sub(acct.first_day) as f64
            } else {
                0.0
            },
        );
        // Device.
        let d = &enr.device;
        let has_device = d.fingerprint != 0;
        f.bool(
            F::DeviceNew,
            has_device && !k.device.is_some_and(|x| acct.devices.contains(x)),
        );
        f.bool(F::DeviceBrowserNew, !acct.browsers.contains(k.browser));
        f.bool(F::DeviceOsNew, !acct.oses.contains(k.os));
        f.str(F::DeviceType, d.kind.as_str());
        f.bool(F::DeviceBot, d.kind == crate::enrich::DeviceType::Bot);
        f.bool(F::DeviceExplicitId, d.explicit_id);
        f.str(F::DeviceBrowser, &d.browser);
        f.str(F::DeviceOs, &d.os);
        // Network.
        if let Some(ip) = ev.ip {
            f.set(F::Ip, Value::Ip(canonical_ip(ip)));
        }
        f.str(F::IpClass, enr.geo.class.as_str());
        let tenant = ev.tenant.as_deref().map(name_key64);
        let (tenant_net, tenant_asn, tenant_accounts) =
            match tenant.and_then(|t| self.tenants.get(&t)) {
                Some(t) => (
                    k.prefix.is_some_and(|p| t.net_known(p)),
                    k.asn.is_some_and(|a| t.asn_known(a)),
                    t.accounts.len(),
                ),
                None => (false, false, 0),
            };
        f.bool(
            F::IpNewPrefix,
            k.prefix.is_some_and(|p| !acct.prefixes.contains(p)),
        );
        f.bool(F::IpTenantKnown, tenant_net);
        if let Some(a) = k.asn {
            f.num(F::AsnNumber, a as f64);
            f.bool(F::AsnNew, !acct.asns.contains(a));
            let t = acct.asns.total(today);
            f.num(
                F::AsnShare,
                if t > 0.0 {
                    (acct.asns.count(a, today) / t) as f64
                } else {
                    0.0
                },
            );
        } else {
            f.bool(F::AsnNew, false);
        }
        f.bool(F::AsnTenantKnown, tenant_asn);
        // Geo.
        let geo_country = enr.geo.country;
        f.bool(F::GeoKnown, geo_country.is_some());
        if let Some(c) = &enr.geo.country {
            f.str(F::GeoCountry, c.as_str());
        }
        if let Some(city) = enr.geo.city.as_deref() {
            f.str(F::GeoCity, city);
        }
        f.bool(
            F::GeoNewCountry,
            k.country.is_some_and(|c| !acct.countries.contains(c)),
        );
        f.bool(
            F::GeoNewCity,
            k.city.is_some_and(|c| !acct.cities.contains(c)),
        );
        if let Some(c) = k.country {
            let t = acct.countries.total(today);
            f.num(
                F::GeoCountryShare,
                if t > 0.0 {
                    (acct.countries.count(c, today) / t) as f64
                } else {
                    0.0
                },
            );
        }
        if let (Some(p), true) = (k.place, acct.has_home) {
            f.num(F::GeoDistanceKm, distance_km(p, acct.home));
        }
        // Travel.
        let last = acct.last_login;
        if let (Some(p), true, true) = (k.place, last.has_geo, last.ts_s > 0) {
            let dist = distance_km(p, (last.lat, last.lon));
            let hours = now_s.saturating_sub(last.ts_s) as f64 / 3600.0;
            f.num(F::TravelDistanceKm, dist);
            f.num(F::TravelHours, hours);
            f.num(F::TravelSpeedKmh, dist / hours.max(1.0 / 60.0));
            f.bool(F::TravelSameAsn, last.asn != 0 && k.asn == Some(last.asn));
        }
        // Hour.
        let local_hour = (how % 24) as f64;
        let hour_share = acct.hours.share(bucket) as f64;
        f.num(F::HourLocal, local_hour);
        f.bool(F::HourWeekend, how >= 5 * 24);
        f.num(F::HourShare, hour_share);
        f.bool(
            F::HourRare,
            !learning && acct.hours.total() >= 10.0 && hour_share < 0.01,
        );
        // Sessions and volume.
        let this_session = k.session.and_then(|s| sessions.get(s)).copied();
        let track = ev.action.and_then(tracked);
        let risk_score = if is_auth {
            risk.score
        } else {
            this_session.map_or(0.0, |s| s.risk())
        };
        if is_auth {
            f.num(F::RiskScore, risk.score);
            f.num(F::RiskNetwork, risk.network);
            f.num(F::RiskDevice, risk.device);
            f.num(F::RiskHour, risk.hour);
        } else if let Some(s) = this_session {
            f.num(F::RiskScore, s.risk());
        }
        f.bool(F::SessionKnown, this_session.is_some());
        let added = if ev.kind == EventKind::Access && track.is_some() {
            ev.count
        } else {
            0
        };
        if let Some(s) = this_session {
            f.num(F::SessionRisk, s.risk());
            f.num(
                F::SessionAgeMin,
                now_s.saturating_sub(s.start_s) as f64 / 60.0,
            );
            f.num(F::SessionRecords, s.records().saturating_add(added) as f64);
            let exp = matches!(track, Some(2 | 3)) as u32 * ev.count;
            f.num(F::SessionExports, s.exports().saturating_add(exp) as f64);
            if ev.kind == EventKind::Access {
                if let (Some(p), Some(sp)) = (k.place, s.place()) {
                    f.num(F::SessionIpChangedKm, distance_km(p, sp));
                }
                f.bool(F::SessionSameAsn, s.asn != 0 && k.asn == Some(s.asn));
            }
        } else if ev.kind == EventKind::Access {
            // An access in a session whose login was not seen: it is its own session so far.
            f.num(F::SessionRecords, added as f64);
            f.num(
                F::SessionExports,
                matches!(track, Some(2 | 3)) as u32 as f64 * ev.count as f64,
            );
            f.num(F::SessionAgeMin, 0.0);
        }
        if let Some(p) = k.place {
            let mut far = 0.0f64;
            let mut all_same_asn = true;
            for s in sessions.slots.iter() {
                if s.key == 0
                    || Some(s.key) == k.session
                    || now_s.saturating_sub(s.last_s) > SESSION_LIVE_S
                {
                    continue;
                }
                if let Some(sp) = s.place() {
                    far = far.max(distance_km(p, sp));
                }
                all_same_asn &= s.asn != 0 && k.asn == Some(s.asn);
            }
            if ev.kind != EventKind::Access {
                f.bool(F::SessionSameAsn, far > 0.0 && all_same_asn);
            }
            f.num(F::SessionConcurrentDistanceKm, far);
            f.bool(F::SessionConcurrentDistant, far >= DISTANT_KM);
        }
        let mut windows = acct.windows;
        if ev.kind == EventKind::Access {
            if let Some(t) = track {
                windows.records_10m.add(ev.count as f32, now_s, TAU_10M);
                if t >= 2 {
                    windows.exports_1h.add(ev.count as f32, now_s, TAU_1H);
                }
                let usual = acct.volume.usual(t);
                let so_far = this_session
                    .map_or(0, |s| s.totals[t])
                    .saturating_add(ev.count);
                f.num(
                    F::VolumeRatio,
                    so_far as f64 / usual.unwrap_or(0.0).max(1.0) as f64,
                );
                f.opt_num(F::VolumeBaseline, usual.map(|u| u as f64));
                f.opt_num(F::VolumeP99, acct.volume.p99(t).map(|u| u as f64));
            }
        }
        f.num(
            F::VolumeRecords10m,
            windows.records_10m.at(now_s, TAU_10M) as f64,
        );
        f.num(
            F::VolumeExports1h,
            windows.exports_1h.at(now_s, TAU_1H) as f64,
        );
        // Authentication failures.
        f.num(
            F::AuthFailuresAccount10m,
            failures.map_or(0.0, |fc| fc.recent.at(now_s, TAU_10M) as f64),
        );
        if let Some(src) = k.source {
            let pair = self
                .pair_failures
                .get(&(src ^ k.account.rotate_left(17)))
                .map(|r| *r);
            f.num(
                F::AuthFailuresAccountSource10m,
                pair.map_or(0.0, |p| p.recent.at(now_s, TAU_10M) as f64),
            );
            let sf = self.source_failures.get(&src).map(|r| *r);
            f.num(
                F::AuthFailuresSource10m,
                sf.map_or(0.0, |s| s.recent.at(now_s, TAU_10M) as f64),
            );
            f.num(
                F::AuthSourceAccounts10m,
                sf.map_or(0, |s| s.distinct_accounts(now_s, 600)) as f64,
            );
            f.num(
                F::AuthSourceAccounts1h,
                sf.map_or(0, |s| s.distinct_accounts(now_s, 3600)) as f64,
            );
        }
        // Tenant and population.
        f.num(F::TenantAccounts, tenant_accounts as f64);
        f.opt_num(F::PopulationCountryShare, pop_country);
        f.opt_num(F::PopulationAsnShare, pop_asn);

        (
            f,
            Derived {
                this_session,
                risk_score,
                windows,
            },
        )
    }

    fn suppressed(&self, rule: &str, account: u64, ts_ms: i64, window_ms: i64) -> bool {
        if window_ms <= 0 {
            // Nothing to remember for a rule without a suppression window.
            return false;
        }
        let key = name_key64(rule) ^ account.rotate_left(29);
        let mut e = self.suppress.entry(key).or_insert(i64::MIN);
        let last = *e;
        if window_ms > 0
            && last != i64::MIN
            && ts_ms.saturating_sub(last) < window_ms
            && ts_ms >= last
        {
            return true;
        }
        *e = ts_ms;
        drop(e);
        let idle = [self.longest_suppress_ms, 10 * 60_000, 1_000, 0];
        sweep_idle(
            &self.suppress,
            &self.suppress_sweep_at,
            SUPPRESS_CAP,
            ts_ms,
            &idle,
            |t| *t,
        );
        false
    }

    fn count_failure(&self, k: &Keys, now_s: u32) {
        let [at_account, at_pair, at_source] = &self.failure_sweep_at;
        let bump = |m: &KeyedMap<FailureCount>, key: u64, next| {
            let mut e = m.entry(key).or_default();
            e.recent.add(1.0, now_s, TAU_10M);
            e.last_s = e.last_s.max(now_s);
            drop(e);
            sweep_idle(
                m,
                next,
                FAILURE_MAP_CAP,
                now_s.into(),
                &FAILURE_IDLE_S,
                |v| v.last_s.into(),
            );
        };
        bump(&self.account_failures, k.account, at_account);
        if let Some(src) = k.source {
            bump(
                &self.pair_failures,
                src ^ k.account.rotate_left(17),
                at_pair,
            );
            self.source_failures
                .entry(src)
                .or_default()
                .add(k.account32, now_s);
            sweep_idle(
                &self.source_failures,
                at_source,
                FAILURE_MAP_CAP,
                now_s.into(),
                &FAILURE_IDLE_S,
                |v| v.last_s.into(),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn learn(
        &self,
        ev: &Event<'_>,
        enr: &Enriched,
        k: &Keys,
        today: u16,
        now_s: u32,
        bucket: usize,
        risk_score: f64,
        flagged: bool,
        new_account: bool,
        windows: baseline::account::VolumeWindows,
    ) {
        // Sessions first (their map lock is released before the account's is taken).
        let mut finished: [Option<OpenSession>; baseline::SESSION_SLOTS + 1] = Default::default();
        let mut n_finished = 0;
        {
            let mut push = |s: OpenSession| {
                if n_finished < finished.len() {
                    finished[n_finished] = Some(s);
                    n_finished += 1;
                }
            };
            let has_sessions = self.sessions.contains_key(&k.account);
            let opens = ev.is_login_success() && k.session.is_some();
            let touches = k.session.is_some()
                && matches!(
                    ev.kind,
                    EventKind::Access | EventKind::Logout | EventKind::Mfa
                );
            if has_sessions || opens || (touches && ev.kind == EventKind::Access) {
                let mut set = self.sessions.entry(k.account).or_default();
                set.expire(now_s, &mut push);
                let fresh = |risk: f64| OpenSession {
                    key: k.session.unwrap_or(0),
                    start_s: now_s,
                    last_s: now_s,
                    prefix: k.prefix.unwrap_or(0),
                    asn: k.asn.unwrap_or(0),
                    lat_cdeg: k.place.map_or(0, |p| to_cdeg(p.0)),
                    lon_cdeg: k.place.map_or(0, |p| to_cdeg(p.1)),
                    has_geo: k.place.is_some(),
                    risk: (risk.clamp(0.0, 1.0) * 255.0).round() as u8,
                    flagged,
                    totals: [0; 4],
                };
                if opens {
                    if let Some(old) = set.open(fresh(risk_score)) {
                        push(old);
                    }
                } else if let Some(sk) = k.session {
                    match ev.kind {
                        EventKind::Logout => {
                            if let Some(s) = set.close(sk) {
                                push(s);
                            }
                        }
                        EventKind::Access | EventKind::Mfa => {
                            if set.get(sk).is_none() && ev.kind == EventKind::Access {
                                if let Some(old) = set.open(fresh(0.0)) {
                                    push(old);
                                }
                            }
                            if let Some(s) = set.get_mut(sk) {
                                s.last_s = s.last_s.max(now_s);
                                s.flagged |= flagged;
                                if let Some(t) = ev.action.and_then(tracked) {
                                    s.totals[t] = s.totals[t].saturating_add(ev.count);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                let empty = set.is_empty();
                drop(set);
                if empty {
                    self.sessions.remove_if(&k.account, |_, s| s.is_empty());
                }
            }
        }

        let login_ok = ev.is_login_success();
        if !login_ok && n_finished == 0 && ev.kind != EventKind::Access {
            return;
        }
        if !login_ok && ev.kind != EventKind::Access && !self.accounts.contains_key(&k.account) {
            return;
        }
        let tz_idx = if login_ok && !flagged {
            enr.geo.tz.as_deref().map(|tz| self.zones.intern(tz))
        } else {
            None
        };
        if login_ok && !flagged {
            if let (Some(c), Some(city)) = (k.city, enr.geo.city.as_deref()) {
                self.remember_name(NameTable::City, c, city);
            }
            if let (Some(a), Some(org)) = (k.asn, enr.geo.as_org.as_deref()) {
                self.remember_name(NameTable::AsOrg, a, org);
            }
            self.remember_name(NameTable::Browser, k.browser, &enr.device.browser);
            self.remember_name(NameTable::Os, k.os, &enr.device.os);
        }

        if new_account && self.accounts.len() >= self.settings.max_accounts.max(1) {
            self.evict_for_budget();
        }
        let mut a = self.accounts.entry(k.account).or_default();
        if new_account && a.first_day == 0 {
            a.first_day = today;
        }
        for s in finished.iter().take(n_finished).flatten() {
            if !s.flagged && s.risk() < RISKY_SESSION && s.records() > 0 {
                a.volume.fold(s.totals);
            }
        }
        if ev.kind == EventKind::Access {
            a.windows = windows;
        }
        if !login_ok {
            return;
        }
        let values = [
            (PendingKind::Country, k.country),
            (PendingKind::City, k.city),
            (PendingKind::Asn, k.asn),
            (PendingKind::Prefix, k.prefix),
            (PendingKind::Device, k.device),
        ];
        if flagged {
            let mut held = None;
            for (kind, key) in values {
                if let Some(key) = key {
                    let known = match kind {
                        PendingKind::Country => a.countries.contains(key),
                        PendingKind::City => a.cities.contains(key),
                        PendingKind::Asn => a.asns.contains(key),
                        PendingKind::Prefix => a.prefixes.contains(key),
                        PendingKind::Device => a.devices.contains(key),
                    };
                    if !known && key != 0 {
                        // Lock order: `accounts`, then `pending`.
                        held.get_or_insert_with(|| self.pending.entry(k.account).or_default())
                            .hold_back(kind, key, today);
                    }
                }
            }
            return;
        }
        let mut held = self.pending.get_mut(&k.account);
        for (kind, key) in values {
            if let Some(key) = key {
                // A value held back from a flagged login and now seen again on a later day
                // counts both sightings.
                let w = if held
                    .as_mut()
                    .is_some_and(|p| p.release_if_older(kind, key, today))
                {
                    2.0
                } else {
                    1.0
                };
                if held.as_ref().is_some_and(|p| p.contains(kind, key)) {
                    continue;
                }
                a.table_mut(kind).add(key, w, today);
            }
        }
        let emptied = held.as_ref().is_some_and(|p| p.is_empty());
        drop(held);
        if emptied {
            self.pending.remove_if(&k.account, |_, p| p.is_empty());
        }
        a.browsers.add(k.browser, 1.0, today);
        a.oses.add(k.os, 1.0, today);
        a.device_kinds |= 1 << (enr.device.kind as u8);
        a.hours.add(bucket, today);
        a.logins = a.logins.saturating_add(1);
        a.last_login = baseline::account::LastLogin {
            ts_s: now_s,
            lat: k.place.map_or(0.0, |p| p.0),
            lon: k.place.map_or(0.0, |p| p.1),
            asn: k.asn.unwrap_or(0),
            country: k.country.unwrap_or(0) as u16,
            has_geo: k.place.is_some(),
        };
        // The usual place (and its time zone) follows the most frequent city.
        if let (Some(city), Some(place)) = (k.city, k.place) {
            if a.cities.top(today) == Some(city) {
                a.home = place;
                a.has_home = true;
                if let Some(tz) = tz_idx {
                    a.tz = tz;
                }
            }
        } else if a.tz == 0 {
            if let Some(tz) = tz_idx {
                if k.country.is_some() && a.countries.top(today) == k.country {
                    a.tz = tz;
                }
            }
        }
        drop(a);

        if let Some(t) = ev.tenant.as_deref() {
            let (mut tenant, before) = match self.tenants.entry(name_key64(t)) {
                dashmap::Entry::Occupied(e) => {
                    let before = e.get().approx_bytes();
                    (e.into_ref(), before)
                }
                dashmap::Entry::Vacant(e) => (e.insert(TenantState::default()), 0),
            };
            tenant.add(k.account32, k.prefix, k.asn, today);
            let added = tenant.approx_bytes().saturating_sub(before);
            drop(tenant);
            if added > 0 {
                let total = self
                    .tenant_bytes
                    .fetch_add(added, std::sync::atomic::Ordering::Relaxed)
                    + added;
                if total > self.tenant_budget() {
                    self.evict_tenants();
                }
            }
        }
        self.population.write().add_login(
            k.country,
            k.asn,
            k.prefix,
            enr.device.fingerprint,
            k.browser,
            k.os,
            enr.device.kind,
            bucket,
        );
    }

    /// Closes sessions idle for longer than [`baseline::SESSION_IDLE_S`] (learning their volume)
    /// and drops failure counters idle for an hour. Accounts that come back do this themselves;
    /// call it periodically (e.g. at each checkpoint) so accounts that never return do not keep
    /// sessions. Returns the number of sessions closed.
    pub fn expire_idle(&self, now_ms: i64) -> usize {
        let now_s = secs_of(now_ms);
        let mut finished: Vec<(u64, OpenSession)> = Vec::new();
        self.sessions.retain(|&account, set| {
            set.expire(now_s, |s| finished.push((account, s)));
            !set.is_empty()
        });
        // The sessions map is released before any account entry is taken.
        for (account, s) in &finished {
            if !s.flagged && s.risk() < RISKY_SESSION && s.records() > 0 {
                if let Some(mut a) = self.accounts.get_mut(account) {
                    a.volume.fold(s.totals);
                }
            }
        }
        for m in [&self.account_failures, &self.pair_failures] {
            m.retain(|_, v| now_s.saturating_sub(v.last_s) < 3600);
        }
        self.source_failures
            .retain(|_, v| now_s.saturating_sub(v.last_s) < 3600);
        finished.len()
    }

    /// Applies an analyst's verdict on an alert at once: `false_positive` learns the alert's
    /// device, place, ASN and network for that account; `confirmed_compromise` removes them
    /// from the account's tables and held-back values.
    pub fn feedback(&self, alert: &Alert, verdict: Verdict) -> Result<(), DetectError> {
        // Another alert's id hashing alike would fail the account check below, not mislearn.
        let memo = self
            .memos
            .lock()
            .0
            .get(&xxh3_64(alert.id.as_bytes()))
            .copied();
        let memo = match memo {
            Some(m) => m,
            None => {
                // Not remembered (older than the memo, or from before a restart): use what the
                // alert itself says.
                let g = alert.geo.clone().unwrap_or_default();
                let country = g.country.as_deref().and_then(crate::enrich::Country::parse);
                Memo {
                    account: name_key64(&alert.account),
                    country: country.map(country_key),
                    city: match (country, g.city.as_deref()) {
                        (Some(c), Some(city)) => Some(city_key(c, city)),
                        _ => None,
                    },
                    asn: g.asn,
                    prefix: alert.ip.map(|ip| prefix_key(canonical_ip(ip))),
                    device: alert
                        .device
                        .as_ref()
                        .and_then(|d| d.id.as_deref())
                        .map(|id| {
                            match id.strip_prefix("fp_").map(|h| u64::from_str_radix(h, 16)) {
                                Some(Ok(fp)) => fp,
                                // Not a user-agent fingerprint: the event's own device_id.
                                _ => crate::enrich::device::device_id_fingerprint(id),
                            }
                        })
                        .filter(|&fp| fp != 0)
                        .map(device_key),
                }
            }
        };
        if memo.account != name_key64(&alert.account) {
            return Err(DetectError(format!(
                "alert {} does not belong to account {}",
                alert.id, alert.account
            )));
        }
        let today = crate::timefmt::parse_rfc3339(&alert.ts)
            .map(day_of)
            .ok_or_else(|| DetectError(format!("alert {}: bad ts `{}`", alert.id, alert.ts)))?;
        let mut a = self.accounts.entry(memo.account).or_default();
        let values = [
            (PendingKind::Country, memo.country),
            (PendingKind::City, memo.city),
            (PendingKind::Asn, memo.asn),
            (PendingKind::Prefix, memo.prefix),
            (PendingKind::Device, memo.device),
        ];
        // Lock order: `accounts`, then `pending`.
        let mut held = self.pending.get_mut(&memo.account);
        for (kind, key) in values {
            let Some(key) = key else { continue };
            if let Some(p) = held.as_mut() {
                p.drop_pending(kind, key);
            }
            match verdict {
                Verdict::FalsePositive => a.table_mut(kind).add(key, 2.0, today),
                Verdict::ConfirmedCompromise => a.table_mut(kind).remove(key),
            }
        }
        let emptied = held.as_ref().is_some_and(|p| p.is_empty());
        drop(held);
        if emptied {
            self.pending.remove_if(&memo.account, |_, p| p.is_empty());
        }
        Ok(())
    }

    /// The account's baseline in human terms (`GET /v1/accounts/{account}`), `None` for an
    /// account never seen.
    pub fn account_view(&self, account: &str) -> Option<serde_json::Value> {
        let key = name_key64(account);
        let a = self.accounts.get(&key).map(|r| **r)?;
        let today = day_of(a.last_login.ts_s as i64 * 1000).max(a.first_day);
        let name = |t: NameTable, k: u32| {
            self.names
                .get(&name_slot(t, k))
                .map(|n| n.to_string())
                .unwrap_or_else(|| format!("#{k:08x}"))
        };
        let share = |c: f32, total: f32| {
            if total > 0.0 {
                ((c / total) * 1000.0).round() / 1000.0
            } else {
                0.0
            }
        };
        let day = |d: u16| crate::timefmt::rfc3339(d as i64 * DAY_MS)[..10].to_string();
        let ct = a.countries.total(today);
        let countries: Vec<_> = a
            .countries
            .ranked(today)
            .map(|(k, c, d)| serde_json::json!({"country": baseline::country_of_key(k).map(|c| c.as_str().to_string()), "share": share(c, ct), "last_seen": day(d)}))
            .collect();
        let cit = a.cities.total(today);
        let cities: Vec<_> = a
            .cities
            .ranked(today)
            .map(|(k, c, d)| serde_json::json!({"city": name(NameTable::City, k), "share": share(c, cit), "last_seen": day(d)}))
            .collect();
        let at = a.asns.total(today);
        let asns: Vec<_> = a
            .asns
            .ranked(today)
            .map(|(k, c, d)| serde_json::json!({"asn": k, "as_org": name(NameTable::AsOrg, k), "share": share(c, at), "last_seen": day(d)}))
            .collect();
        let dt = a.devices.total(today);
        let devices: Vec<_> = a
            .devices
            .ranked(today)
            .map(|(k, c, d)| serde_json::json!({"device": format!("{k:08x}"), "share": share(c, dt), "last_seen": day(d)}))
            .collect();
        let bt = a.browsers.total(today);
        let browsers: Vec<_> = a
            .browsers
            .ranked(today)
            .map(|(k, c, _)| serde_json::json!({"browser": name(NameTable::Browser, k), "share": share(c, bt)}))
            .collect();
        let ot = a.oses.total(today);
        let oses: Vec<_> = a
            .oses
            .ranked(today)
            .map(|(k, c, _)| serde_json::json!({"os": name(NameTable::Os, k), "share": share(c, ot)}))
            .collect();
        let b = a.hours.buckets();
        let volume: serde_json::Map<String, serde_json::Value> = ["read", "search", "export", "print"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.to_string(),
                    serde_json::json!({
                        "usual_per_session": a.volume.usual(i).map(|v| (v as f64 * 10.0).round() / 10.0),
                        "p99_per_session": a.volume.p99(i).map(|v| (v as f64 * 10.0).round() / 10.0),
                    }),
                )
            })
            .collect();
        let pending: Vec<_> = self
            .pending
            .get(&key)
            .map(|set| *set)
            .unwrap_or_default()
            .iter()
            .map(|p| serde_json::json!({"kind": format!("{:?}", p.kind).to_lowercase(), "since": day(p.day)}))
            .collect();
        let open_sessions = self
            .sessions
            .get(&key)
            .map_or(0, |s| s.slots.iter().filter(|s| s.key != 0).count());
        Some(serde_json::json!({
            "account": account,
            "logins": a.logins,
            "learning": a.learning(self.settings.learning_logins),
            "first_seen": day(a.first_day),
            "time_zone": self.zones.name(a.tz),
            "last_login": (a.last_login.ts_s > 0).then(|| serde_json::json!({
                "ts": crate::timefmt::rfc3339(a.last_login.ts_s as i64 * 1000),
                "country": baseline::country_of_key(a.last_login.country as u32).map(|c| c.as_str().to_string()),
                "asn": (a.last_login.asn != 0).then_some(a.last_login.asn),
            })),
            "countries": countries,
            "cities": cities,
            "asns": asns,
            "networks": a.prefixes.ranked(today).count(),
            "devices": devices,
            "browsers": browsers,
            "oses": oses,
            "hours": {"weekday": &b[..24], "weekend": &b[24..]},
            "volume": {"sessions": a.volume.sessions, "by_action": volume},
            "pending": pending,
            "open_sessions": open_sessions,
        }))
    }

    /// Makes room under `max_accounts`: evicts the least recently active tenth of the budget
    /// (by last trusted login; accounts that never logged in successfully first). One sweep is
    /// O(accounts) but runs once per tenth of the budget of new accounts, so its cost per new
    /// account is constant. Their sessions go with them.
    fn evict_for_budget(&self) {
        let Some(_sweeping) = self.evicting.try_lock() else {
            return;
        };
        let budget = self.settings.max_accounts.max(1);
        if self.accounts.len() < budget {
            return;
        }
        let excess = self.accounts.len() + 1 - budget;
        let n = (budget / 10).max(excess).max(1);
        let mut by_age: Vec<(u32, u32, u64)> = self
            .accounts
            .iter()
            .map(|e| (e.last_login.ts_s, e.logins, *e.key()))
            .collect();
        let n = n.min(by_age.len());
        by_age.select_nth_unstable(n.saturating_sub(1));
        for &(_, _, key) in &by_age[..n] {
            self.accounts.remove(&key);
            self.pending.remove(&key);
            self.sessions.remove(&key);
        }
        self.evicted
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            evicted = n,
            budget,
            "account budget reached: least recently active baselines evicted"
        );
    }

    /// Bytes all tenant tables may hold together: [`TENANT_BYTES_PER_ACCOUNT`] per budgeted
    /// account (a real account adds about 10 bytes to its tenant's account set, and a few
    /// networks), at least [`TENANT_BYTES_MIN`]. Each tenant's own tables are capped too
    /// ([`baseline::TENANT_ACCOUNTS`], [`baseline::TENANT_NETS`], [`baseline::TENANT_ASNS`]),
    /// but a flood of made-up tenant names (each ~600 bytes) would multiply them without this.
    fn tenant_budget(&self) -> usize {
        self.settings
            .max_accounts
            .saturating_mul(TENANT_BYTES_PER_ACCOUNT)
            .max(TENANT_BYTES_MIN)
    }

    /// Brings the tenant tables back under nine tenths of [`Detector::tenant_budget`] by
    /// evicting the tenants seen the longest ago, the smallest first among those last seen on
    /// the same day: a flood of made-up tenants, each one account on one network, goes before
    /// a clinic whose staff signed in today. Counted in `tocsin_tenants_evicted_total`.
    fn evict_tenants(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(_sweeping) = self.evicting_tenants.try_lock() else {
            return;
        };
        let target = self.tenant_budget() / 10 * 9;
        let total = self.tenant_bytes.load(Relaxed);
        if total <= target {
            return;
        }
        let mut by_age: Vec<(u16, usize, u64)> = self
            .tenants
            .iter()
            .map(|t| (t.last_day(), t.approx_bytes(), *t.key()))
            .collect();
        by_age.sort_unstable();
        let (mut freed, mut n) = (0, 0u64);
        for &(_, _, key) in &by_age {
            if total - freed <= target {
                break;
            }
            if let Some((_, t)) = self.tenants.remove(&key) {
                freed += t.approx_bytes();
                n += 1;
            }
        }
        self.tenant_bytes.fetch_sub(freed.min(total), Relaxed);
        self.tenants_evicted.fetch_add(n, Relaxed);
        tracing::warn!(
            evicted = n,
            budget = self.tenant_budget(),
            "tenant budget reached: tenants seen the longest ago evicted"
        );
    }

    /// Accounts tracked and estimated bytes of state.
    pub fn stats(&self) -> DetectorStats {
        // DashMap entry overhead: key + value + about one control word per slot.
        const ENTRY: usize = 16;
        let per = |n: usize, v: usize| n * (v + ENTRY);
        let accounts = self.accounts.len();
        let tenants = self.tenant_bytes.load(std::sync::atomic::Ordering::Relaxed);
        let names: usize = self.names.iter().map(|n| n.len() + 8 + ENTRY + 16).sum();
        // Per remembered alert: a map slot (key, memo, control byte) and a queue slot.
        let memos = {
            let m = self.memos.lock();
            m.0.capacity() * (8 + std::mem::size_of::<Memo>() + 1) + m.1.capacity() * 8
        };
        // Two sketches of 4 × 4096 u32, plus the exact tables (a few hundred keys each).
        let population = 2 * 4 * 4096 * 4 + self.population.read().distinct_keys() * 24;
        DetectorStats {
            accounts,
            evicted: self.evicted.load(std::sync::atomic::Ordering::Relaxed),
            tenants: self.tenants.len(),
            tenants_evicted: self
                .tenants_evicted
                .load(std::sync::atomic::Ordering::Relaxed),
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

    /// Writes every piece of detection state (not the rules) to `w`: a magic, a format version,
    /// then a `postcard` encoding. Entries are sorted by key, so equal states give equal bytes.
    pub fn write_snapshot(&self, w: &mut dyn Write) -> Result<(), SnapshotError> {
        fn sorted<V: Copy>(m: &KeyedMap<V>) -> Vec<(u64, V)> {
            let mut v: Vec<(u64, V)> = m.iter().map(|e| (*e.key(), *e.value())).collect();
            v.sort_by_key(|e| e.0);
            v
        }
        let mut tenants: Vec<(u64, TenantState)> = self
            .tenants
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        tenants.sort_by_key(|e| e.0);
        let mut names: Vec<(u64, String)> = self
            .names
            .iter()
            .map(|e| (*e.key(), e.value().to_string()))
            .collect();
        names.sort();
        // Each baseline with its held-back values, as the format has always had them; one
        // copy, made in one pass (a checkpoint every few seconds should not churn the heap).
        let mut accounts: Vec<(u64, (AccountBaseline, PendingSet))> =
            Vec::with_capacity(self.accounts.len());
        for e in self.accounts.iter() {
            let k = *e.key();
            let pending = self.pending.get(&k).map(|p| *p).unwrap_or_default();
            accounts.push((k, (**e, pending)));
        }
        accounts.sort_unstable_by_key(|e| e.0);
        let snap = SnapshotV1 {
            accounts,
            sessions: sorted(&self.sessions),
            account_failures: sorted(&self.account_failures),
            pair_failures: sorted(&self.pair_failures),
            source_failures: sorted(&self.source_failures),
            tenants,
            population: self.population.read().clone(),
            names,
            zones: self.zones.names(),
            suppress: sorted(&self.suppress),
        };
        w.write_all(SNAPSHOT_MAGIC)?;
        w.write_all(&SNAPSHOT_VERSION.to_le_bytes())?;
        // Straight into `w`: no intermediate buffer the size of the state. postcard reports a
        // failed write as its own error; the writer's error is kept to be returned as it was.
        let mut out = KeepIoError { w, error: None };
        match postcard::to_io(&snap, &mut out) {
            Ok(_) => Ok(()),
            Err(e) => Err(match out.error.take() {
                Some(io) => SnapshotError::Io(io),
                None => SnapshotError::Decode(e.to_string()),
            }),
        }
    }

    /// Replaces the detection state with a snapshot written by [`Detector::write_snapshot`].
    /// On error the current state is left untouched.
    pub fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), SnapshotError> {
        let mut head = [0u8; 12];
        r.read_exact(&mut head)?;
        if &head[..8] != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version {
                found: version,
                expected: SNAPSHOT_VERSION,
            });
        }
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes)?;
        let snap: SnapshotV1 =
            postcard::from_bytes(&bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        fn fill<V>(m: &KeyedMap<V>, v: Vec<(u64, V)>) {
            m.clear();
            for (k, x) in v {
                m.insert(k, x);
            }
        }
        self.accounts.clear();
        self.pending.clear();
        for (k, (a, p)) in snap.accounts {
            self.accounts.insert(k, Box::new(a));
            if !p.is_empty() {
                self.pending.insert(k, p);
            }
        }
        fill(&self.sessions, snap.sessions);
        fill(&self.account_failures, snap.account_failures);
        fill(&self.pair_failures, snap.pair_failures);
        fill(&self.source_failures, snap.source_failures);
        fill(&self.tenants, snap.tenants);
        self.tenant_bytes.store(
            self.tenants.iter().map(|t| t.approx_bytes()).sum(),
            std::sync::atomic::Ordering::Relaxed,
        );
        fill(&self.suppress, snap.suppress);
        self.names.clear();
        for (k, n) in snap.names {
            self.names.insert(k, n.into());
        }
        *self.population.write() = snap.population;
        self.zones.restore(&snap.zones);
        Ok(())
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

/// The event kinds a rule requiring the bool features `required` can fire on.
fn kind_mask(required: &[usize]) -> u8 {
    let mut mask = u8::MAX;
    for &i in required {
        if let Some(kind) = features::only_true_for(i) {
            mask &= 1 << (kind as u8);
        }
    }
    mask
}

const SNAPSHOT_MAGIC: &[u8; 8] = b"TOCSDET\0";
/// Version of the snapshot layout; bump it (and add an upgrade step) when a state type changes.
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SnapshotV1 {
    /// A baseline then its held-back values: the bytes of the baseline type that held them
    /// inline as its last field, so snapshots written before the split still load.
    accounts: Vec<(u64, (AccountBaseline, PendingSet))>,
    sessions: Vec<(u64, SessionSet)>,
    account_failures: Vec<(u64, FailureCount)>,
    pair_failures: Vec<(u64, FailureCount)>,
    source_failures: Vec<(u64, SourceFailures)>,
    tenants: Vec<(u64, TenantState)>,
    population: Population,
    names: Vec<(u64, String)>,
    zones: Vec<String>,
    suppress: Vec<(u64, i64)>,
}

const _: () = assert!(
    baseline::account::account_bytes(std::mem::size_of::<AccountBaseline>()) <= ACCOUNT_BYTES_BOUND
);

#[cfg(test)]
mod tests;
