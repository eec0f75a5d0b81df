//! Snapshots of the store for checkpoints: a magic, a format version, then a `postcard`
//! encoding of every map, sorted by key, so equal states give equal bytes. The layout is a
//! file format: checkpoints written by earlier builds must keep loading, so a change to it
//! bumps [`SNAPSHOT_VERSION`] (and adds an upgrade step).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use super::{KeyedMap, Store};
use crate::baseline::account::{Decayed, UnusualExportDays};
use crate::baseline::{
    AccountBaseline, ExtraWindows, FailureCount, NetSeen, OpenSession, PendingSet, Population,
    SessionSet, SourceFailures, TenantState, SESSION_SLOTS,
};

const SNAPSHOT_MAGIC: &[u8; 8] = b"TOCSDET\0";
/// Version of the snapshot layout; bump it (and add an upgrade step) when a state type changes.
/// 2: open sessions keep their login's families of evidence (version 1 loads, with none).
/// 3: each account's days of exports through unusual networks and its recent second-factor
/// failures follow its held-back values (versions 1 and 2 load, with none); a tenant's networks count their accounts and days
/// (versions 1 and 2 load with the accounts and days they kept).
/// 4: open sessions remember whether their login came from a phone or tablet, their latest
/// event's network and their latest event from another network; accounts when an identity
/// provider said their password leaked (earlier versions load with none).
pub const SNAPSHOT_VERSION: u32 = 4;

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
    #[error("snapshot format version {found}, this build reads 1 to {expected}")]
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

/// The snapshot layout, over the open-session and account types of its version.
#[derive(Serialize, Deserialize)]
pub(super) struct Snapshot<S, A, T> {
    /// A baseline then its held-back values (the bytes of the baseline type that held them
    /// inline as its last field, so snapshots written before the split still load), then,
    /// from version 3, its days of unusual exports.
    pub(super) accounts: Vec<(u64, A)>,
    pub(super) sessions: Vec<(u64, S)>,
    pub(super) account_failures: Vec<(u64, FailureCount)>,
    pub(super) pair_failures: Vec<(u64, FailureCount)>,
    pub(super) source_failures: Vec<(u64, SourceFailures)>,
    pub(super) tenants: Vec<(u64, T)>,
    pub(super) population: Population,
    pub(super) names: Vec<(u64, String)>,
    pub(super) zones: Vec<String>,
    pub(super) suppress: Vec<(u64, i64)>,
}

/// An account as versions 1 and 2 hold it.
type AccountV2 = (AccountBaseline, PendingSet);
/// An account as version 3 holds it.
type AccountV3 = (AccountBaseline, PendingSet, ExtraWindowsV3);
/// An account as version 4 holds it.
pub(super) type AccountV4 = (AccountBaseline, PendingSet, ExtraWindows);
/// Version 4: the current types.
pub(super) type SnapshotV4 = Snapshot<SessionSet, AccountV4, TenantState>;
/// Version 3: open sessions without their device kind and other network, accounts without
/// their leaked-password mark.
type SnapshotV3 = Snapshot<SessionSetV3, AccountV3, TenantState>;

/// An account's windows as version 3 wrote them.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct ExtraWindowsV3 {
    unusual_exports: UnusualExportDays,
    mfa_failures: Decayed,
}

impl ExtraWindowsV3 {
    /// No identity provider had said the password leaked.
    fn upgrade(self) -> ExtraWindows {
        ExtraWindows {
            unusual_exports: self.unusual_exports,
            mfa_failures: self.mfa_failures,
            leaked_s: 0,
        }
    }
}
/// Version 2: accounts without their days of unusual exports, tenants' networks with two
/// accounts.
type SnapshotV2 = Snapshot<SessionSetV3, AccountV2, TenantStateV2>;
/// Version 1: open sessions without their login's families.
type SnapshotV1 = Snapshot<SessionSetV1, AccountV2, TenantStateV2>;

/// How a tenant knew a network in versions 1 and 2: its first two accounts and its days.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct NetSeenV2 {
    accounts: [u32; 2],
    first_day: u16,
    last_day: u16,
}

impl NetSeenV2 {
    /// Its accounts as bits of the sketch; one day, or two when first and last differ (all
    /// that was kept: a network then needs another day to be known).
    fn upgrade(self) -> NetSeen {
        let accounts = self
            .accounts
            .iter()
            .filter(|&&a| a != 0)
            .fold(0u64, |bits, &a| bits | 1u64 << (a % 64));
        NetSeen {
            accounts,
            first_day: self.first_day,
            last_day: self.last_day,
            days: if self.last_day > self.first_day { 2 } else { 1 },
        }
    }
}

/// A tenant as versions 1 and 2 wrote it.
#[derive(Clone, Serialize, Deserialize)]
struct TenantStateV2 {
    accounts: BTreeSet<u32>,
    nets: BTreeMap<u32, NetSeenV2>,
    asns: BTreeMap<u32, NetSeenV2>,
}

impl TenantStateV2 {
    fn upgrade(self) -> TenantState {
        let nets = |m: BTreeMap<u32, NetSeenV2>| -> BTreeMap<u32, NetSeen> {
            m.into_iter().map(|(k, n)| (k, n.upgrade())).collect()
        };
        TenantState {
            accounts: self.accounts,
            nets: nets(self.nets),
            asns: nets(self.asns),
        }
    }
}

/// An open session as version 1 wrote it.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct OpenSessionV1 {
    key: u32,
    start_s: u32,
    last_s: u32,
    prefix: u32,
    asn: u32,
    lat_cdeg: i16,
    lon_cdeg: i16,
    has_geo: bool,
    risk: u8,
    flagged: bool,
    totals: [u32; 4],
}

/// An open session as versions 2 and 3 wrote it.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct OpenSessionV3 {
    key: u32,
    start_s: u32,
    last_s: u32,
    prefix: u32,
    asn: u32,
    lat_cdeg: i16,
    lon_cdeg: i16,
    has_geo: bool,
    risk: u8,
    flagged: bool,
    totals: [u32; 4],
    families: u8,
}

impl OpenSessionV3 {
    /// A session opened before the upgrade: its login's device kind is not known (judged as a
    /// computer's) and no other network has been seen yet.
    fn upgrade(self) -> OpenSession {
        OpenSession {
            key: self.key,
            start_s: self.start_s,
            last_s: self.last_s,
            prefix: self.prefix,
            asn: self.asn,
            lat_cdeg: self.lat_cdeg,
            lon_cdeg: self.lon_cdeg,
            has_geo: self.has_geo,
            risk: self.risk,
            flagged: self.flagged,
            totals: self.totals,
            families: self.families,
            handheld: false,
            away_asn: 0,
            away_s: 0,
            last_asn: 0,
        }
    }
}

/// The open sessions of one account as versions 2 and 3 wrote them.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct SessionSetV3 {
    slots: [OpenSessionV3; SESSION_SLOTS],
}

/// The open sessions of one account as version 1 wrote them.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct SessionSetV1 {
    slots: [OpenSessionV1; SESSION_SLOTS],
}

impl SnapshotV1 {
    /// Version 1 to 2: a session opened before the upgrade carries no login families (its
    /// login was judged by its risk alone, which it keeps).
    fn upgrade(self) -> SnapshotV2 {
        let session = |s: OpenSessionV1| OpenSessionV3 {
            key: s.key,
            start_s: s.start_s,
            last_s: s.last_s,
            prefix: s.prefix,
            asn: s.asn,
            lat_cdeg: s.lat_cdeg,
            lon_cdeg: s.lon_cdeg,
            has_geo: s.has_geo,
            risk: s.risk,
            flagged: s.flagged,
            totals: s.totals,
            families: 0,
        };
        Snapshot {
            accounts: self.accounts,
            sessions: self
                .sessions
                .into_iter()
                .map(|(k, set)| {
                    let slots = set.slots.map(session);
                    (k, SessionSetV3 { slots })
                })
                .collect(),
            account_failures: self.account_failures,
            pair_failures: self.pair_failures,
            source_failures: self.source_failures,
            tenants: self.tenants,
            population: self.population,
            names: self.names,
            zones: self.zones,
            suppress: self.suppress,
        }
    }
}

impl SnapshotV3 {
    /// Version 3 to 4: sessions gain their device kind and other network (see
    /// [`OpenSessionV3::upgrade`]), accounts their leaked-password mark (none).
    fn upgrade(self) -> SnapshotV4 {
        Snapshot {
            accounts: self
                .accounts
                .into_iter()
                .map(|(k, (a, p, x))| (k, (a, p, x.upgrade())))
                .collect(),
            sessions: self
                .sessions
                .into_iter()
                .map(|(k, set)| {
                    let slots = set.slots.map(OpenSessionV3::upgrade);
                    (k, SessionSet { slots })
                })
                .collect(),
            account_failures: self.account_failures,
            pair_failures: self.pair_failures,
            source_failures: self.source_failures,
            tenants: self.tenants,
            population: self.population,
            names: self.names,
            zones: self.zones,
            suppress: self.suppress,
        }
    }
}

impl SnapshotV2 {
    /// Version 2 to 3: no account has days of unusual exports yet (they are counted again
    /// from the next export; a campaign under way is seen a few days later, not missed).
    fn upgrade(self) -> SnapshotV3 {
        Snapshot {
            accounts: self
                .accounts
                .into_iter()
                .map(|(k, (a, p))| (k, (a, p, ExtraWindowsV3::default())))
                .collect(),
            sessions: self.sessions,
            account_failures: self.account_failures,
            pair_failures: self.pair_failures,
            source_failures: self.source_failures,
            tenants: self
                .tenants
                .into_iter()
                .map(|(k, t)| (k, t.upgrade()))
                .collect(),
            population: self.population,
            names: self.names,
            zones: self.zones,
            suppress: self.suppress,
        }
    }
}

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

/// Writes `snap` as a snapshot file: a magic, a format version, then a `postcard` encoding,
/// straight into `w` (no intermediate buffer the size of the state).
pub(super) fn encode(snap: &SnapshotV4, w: &mut dyn Write) -> Result<(), SnapshotError> {
    w.write_all(SNAPSHOT_MAGIC)?;
    w.write_all(&SNAPSHOT_VERSION.to_le_bytes())?;
    // postcard reports a failed write as its own error; the writer's error is kept to be
    // returned as it was.
    let mut out = KeepIoError { w, error: None };
    match postcard::to_io(snap, &mut out) {
        Ok(_) => Ok(()),
        Err(e) => Err(match out.error.take() {
            Some(io) => SnapshotError::Io(io),
            None => SnapshotError::Decode(e.to_string()),
        }),
    }
}

/// Reads a snapshot file of any version this build knows, upgraded to the current layout.
pub(super) fn decode(r: &mut dyn Read) -> Result<SnapshotV4, SnapshotError> {
    let mut head = [0u8; 12];
    r.read_exact(&mut head)?;
    if &head[..8] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if version == 0 || version > SNAPSHOT_VERSION {
        return Err(SnapshotError::Version {
            found: version,
            expected: SNAPSHOT_VERSION,
        });
    }
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    let decode = |e: postcard::Error| SnapshotError::Decode(e.to_string());
    Ok(match version {
        1 => postcard::from_bytes::<SnapshotV1>(&bytes)
            .map_err(decode)?
            .upgrade()
            .upgrade()
            .upgrade(),
        2 => postcard::from_bytes::<SnapshotV2>(&bytes)
            .map_err(decode)?
            .upgrade()
            .upgrade(),
        3 => postcard::from_bytes::<SnapshotV3>(&bytes)
            .map_err(decode)?
            .upgrade(),
        _ => postcard::from_bytes(&bytes).map_err(decode)?,
    })
}

impl Store {
    /// Writes every piece of detection state to `w`: a magic, a format version, then a
    /// `postcard` encoding. Entries are sorted by key, so equal states give equal bytes.
    pub fn write_snapshot(&self, w: &mut dyn Write) -> Result<(), SnapshotError> {
        encode(&self.to_snapshot(), w)
    }

    /// A sorted copy of every map.
    fn to_snapshot(&self) -> SnapshotV4 {
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
        let mut accounts: Vec<(u64, AccountV4)> = Vec::with_capacity(self.accounts.len());
        for e in self.accounts.iter() {
            let k = *e.key();
            let pending = self.pending.get(&k).map(|p| *p).unwrap_or_default();
            accounts.push((k, (**e, pending, e.windows.extra)));
        }
        accounts.sort_unstable_by_key(|e| e.0);
        Snapshot {
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
        }
    }

    /// Replaces the detection state with a snapshot written by [`Store::write_snapshot`].
    /// On error the current state is left untouched.
    pub fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), SnapshotError> {
        self.restore(decode(r)?);
        Ok(())
    }

    /// Replaces every map with the snapshot's.
    fn restore(&self, snap: SnapshotV4) {
        fn fill<V>(m: &KeyedMap<V>, v: Vec<(u64, V)>) {
            m.clear();
            for (k, x) in v {
                m.insert(k, x);
            }
        }
        self.accounts.clear();
        self.pending.clear();
        for (k, (mut a, p, extra)) in snap.accounts {
            a.windows.extra = extra;
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
        self.tenant_bytes
            .store(self.tenants.iter().map(|t| t.approx_bytes()).sum(), Relaxed);
        fill(&self.suppress, snap.suppress);
        self.names.clear();
        for (k, n) in snap.names {
            self.names.insert(k, n.into());
        }
        *self.population.write() = snap.population;
        self.zones.restore(&snap.zones);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of any layout holding nothing but these open sessions.
    fn only_sessions<S, A, T>(sessions: Vec<(u64, S)>) -> Snapshot<S, A, T> {
        Snapshot {
            accounts: Vec::new(),
            sessions,
            account_failures: Vec::new(),
            pair_failures: Vec::new(),
            source_failures: Vec::new(),
            tenants: Vec::new(),
            population: Population::default(),
            names: Vec::new(),
            zones: Vec::new(),
            suppress: Vec::new(),
        }
    }

    /// A store that read `snap` written as a file of format `version`.
    fn loaded(version: u32, snap: &impl Serialize) -> Store {
        let mut file = SNAPSHOT_MAGIC.to_vec();
        file.extend_from_slice(&version.to_le_bytes());
        file.extend_from_slice(&postcard::to_allocvec(snap).unwrap());
        let store = Store::new(1_000, "Europe/Paris", 3_600_000);
        store.read_snapshot(&mut file.as_slice()).unwrap();
        store
    }

    /// A checkpoint written before sessions kept their login's families still loads: its open
    /// sessions come back with their risk and volume, and no families.
    #[test]
    fn version_1_snapshots_load_with_sessions_upgraded() {
        let old = OpenSessionV1 {
            key: 7,
            start_s: 100,
            last_s: 160,
            prefix: 0x0a00_0000,
            asn: 3215,
            lat_cdeg: 4944,
            lon_cdeg: 109,
            has_geo: true,
            risk: 200,
            flagged: false,
            totals: [3, 0, 12, 0],
        };
        let empty = OpenSessionV1 {
            key: 0,
            start_s: 0,
            last_s: 0,
            prefix: 0,
            asn: 0,
            lat_cdeg: 0,
            lon_cdeg: 0,
            has_geo: false,
            risk: 0,
            flagged: false,
            totals: [0; 4],
        };
        let mut slots = [empty; SESSION_SLOTS];
        slots[1] = old;
        let v1: SnapshotV1 = only_sessions(vec![(42, SessionSetV1 { slots })]);
        let store = loaded(1, &v1);
        let set = *store.sessions.get(&42).unwrap();
        let s = set.get(7).unwrap();
        assert_eq!(
            (s.risk, s.totals, s.asn, s.families),
            (200, [3, 0, 12, 0], 3215, 0)
        );
        assert!(set.slots[0].key == 0 && set.slots[2].key == 0);

        // Written again, it is the current version, and reads back the same.
        let mut again = Vec::new();
        store.write_snapshot(&mut again).unwrap();
        assert_eq!(again[8..12], SNAPSHOT_VERSION.to_le_bytes());
        let back = Store::new(1_000, "Europe/Paris", 3_600_000);
        back.read_snapshot(&mut again.as_slice()).unwrap();
        assert_eq!(*back.sessions.get(&42).unwrap(), set);
    }

    /// A checkpoint written before sessions remembered their device kind and other network
    /// still loads: its sessions keep their login's families, as a computer's, with no other
    /// network seen.
    #[test]
    fn version_3_snapshots_load_with_sessions_upgraded() {
        let old = OpenSessionV3 {
            key: 7,
            start_s: 100,
            last_s: 160,
            prefix: 0x0a00_0000,
            asn: 3215,
            lat_cdeg: 4944,
            lon_cdeg: 109,
            has_geo: true,
            risk: 200,
            flagged: true,
            totals: [3, 0, 12, 0],
            families: 6,
        };
        let empty = OpenSessionV3 {
            key: 0,
            families: 0,
            flagged: false,
            ..old
        };
        let mut slots = [empty; SESSION_SLOTS];
        slots[2] = old;
        let v3: SnapshotV3 = only_sessions(vec![(42, SessionSetV3 { slots })]);
        let store = loaded(3, &v3);
        let set = *store.sessions.get(&42).unwrap();
        let s = set.get(7).unwrap();
        assert_eq!(
            (s.risk, s.totals, s.asn, s.families, s.flagged),
            (200, [3, 0, 12, 0], 3215, 6, true)
        );
        assert_eq!(
            (s.handheld, s.away_asn, s.away_s, s.last_asn),
            (false, 0, 0, 0)
        );
    }

    /// A checkpoint written before accounts counted their days of unusual exports and tenants
    /// sketched their networks' accounts still loads: no unusual days, and each network keeps
    /// the accounts and days it had (a second day counts two).
    #[test]
    fn version_2_snapshots_load_with_accounts_and_tenants_upgraded() {
        let mut nets = BTreeMap::new();
        nets.insert(
            9,
            NetSeenV2 {
                accounts: [65, 3],
                first_day: 100,
                last_day: 101,
            },
        );
        let v2 = SnapshotV2 {
            accounts: vec![(42, (AccountBaseline::default(), PendingSet::default()))],
            sessions: Vec::new(),
            account_failures: Vec::new(),
            pair_failures: Vec::new(),
            source_failures: Vec::new(),
            tenants: vec![(
                7,
                TenantStateV2 {
                    accounts: [3u32, 65].into_iter().collect(),
                    nets,
                    asns: BTreeMap::new(),
                },
            )],
            population: Population::default(),
            names: Vec::new(),
            zones: Vec::new(),
            suppress: Vec::new(),
        };
        let mut file = SNAPSHOT_MAGIC.to_vec();
        file.extend_from_slice(&2u32.to_le_bytes());
        file.extend_from_slice(&postcard::to_allocvec(&v2).unwrap());

        let store = Store::new(1_000, "Europe/Paris", 3_600_000);
        store.read_snapshot(&mut file.as_slice()).unwrap();
        let a = store.accounts.get(&42).unwrap();
        assert_eq!(a.windows.extra, ExtraWindows::default());
        let t = store.tenants.get(&7).unwrap();
        let n = t.nets.get(&9).unwrap();
        assert_eq!((n.accounts, n.days), (1 << (65 % 64) | 1 << 3, 2));
        assert!(!t.net_known(9), "two days: a third makes it known");
    }
}
