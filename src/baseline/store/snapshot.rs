//! Snapshots of the store for checkpoints: a magic, a format version, then a `postcard`
//! encoding of every map, sorted by key, so equal states give equal bytes. The layout is a
//! file format: checkpoints written by earlier builds must keep loading, so a change to it
//! bumps [`SNAPSHOT_VERSION`] (and adds an upgrade step).

use std::io::{Read, Write};
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use super::{KeyedMap, Store};
use crate::baseline::{
    AccountBaseline, FailureCount, PendingSet, Population, SessionSet, SourceFailures, TenantState,
};

const SNAPSHOT_MAGIC: &[u8; 8] = b"TOCSDET\0";
/// Version of the snapshot layout; bump it (and add an upgrade step) when a state type changes.
pub const SNAPSHOT_VERSION: u32 = 1;

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

impl Store {
    /// Writes every piece of detection state to `w`: a magic, a format version, then a
    /// `postcard` encoding. Entries are sorted by key, so equal states give equal bytes.
    pub fn write_snapshot(&self, w: &mut dyn Write) -> Result<(), SnapshotError> {
        let snap = self.to_snapshot();
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

    /// A sorted copy of every map.
    fn to_snapshot(&self) -> SnapshotV1 {
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
        SnapshotV1 {
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
        self.restore(snap);
        Ok(())
    }

    /// Replaces every map with the snapshot's.
    fn restore(&self, snap: SnapshotV1) {
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
