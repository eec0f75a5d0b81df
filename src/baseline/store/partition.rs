//! The state of a group of accounts, cut out of a store snapshot and put back into one: what a
//! changelog carries when an input partition moves from one instance to another.
//!
//! A *part* holds, for its accounts only, what the store keeps per account: the baseline with
//! its held-back values and extra windows, the open sessions, the failures on the account and
//! the suppression windows of every rule on it. Time zones travel by name (each store interns
//! its own indexes). What spans accounts — failures per source and per account-and-source pair,
//! tenant networks, population frequencies, display names — is not in a part: it stays with the
//! instance that learned it.
//!
//! Everything here works on snapshot bytes ([`super::snapshot`]), so the caller needs no
//! access to the store itself: write a snapshot, cut or merge, read it back. The caller keeps
//! the store still meanwhile (the Kafka source does it at a checkpoint barrier).

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::io::Read;

use serde::{Deserialize, Serialize};

use super::snapshot::{decode, encode, AccountV4, SnapshotV4};
use super::{PreHashed, SnapshotError};
use crate::baseline::{name_key64, FailureCount, SessionSet};

const PART_MAGIC: &[u8; 8] = b"TOCSACP\0";
/// Version of the part layout; bump it when a state type changes, like the snapshot's.
const PART_VERSION: u32 = 1;

/// A set of account keys (already hashes: used as is).
pub type AccountSet = HashSet<u64, BuildHasherDefault<PreHashed>>;

/// The per-account state of a group of accounts.
#[derive(Default, Serialize, Deserialize)]
struct Part {
    /// Time zone names; an account's `tz` indexes this list.
    zones: Vec<String>,
    accounts: Vec<(u64, AccountV4)>,
    sessions: Vec<(u64, SessionSet)>,
    account_failures: Vec<(u64, FailureCount)>,
    /// Suppression windows, by their key in the store (rule and account).
    suppress: Vec<(u64, i64)>,
}

/// The key of `rule`'s suppression window on `account`, as the store computes it.
fn suppress_key(rule: u64, account: u64) -> u64 {
    rule ^ account.rotate_left(29)
}

/// For each group of accounts, the part of `snapshot` that is theirs. `rules` are the ids of
/// the rules whose suppression windows follow their accounts.
pub fn export_groups(
    snapshot: &[u8],
    groups: &[&AccountSet],
    rules: &[&str],
) -> Result<Vec<Vec<u8>>, SnapshotError> {
    let snap = decode(&mut &*snapshot)?;
    let rule_keys: Vec<u64> = rules.iter().map(|r| name_key64(r)).collect();
    let mut parts: Vec<Part> = groups.iter().map(|_| Part::default()).collect();
    let group_of = |k: u64| groups.iter().position(|g| g.contains(&k));
    for (k, a) in &snap.accounts {
        if let Some(g) = group_of(*k) {
            let mut a = *a;
            let zone = snap.zones.get(usize::from(a.0.tz)).cloned();
            a.0.tz = zone_index(&mut parts[g].zones, zone);
            parts[g].accounts.push((*k, a));
        }
    }
    for (k, s) in &snap.sessions {
        if let Some(g) = group_of(*k) {
            parts[g].sessions.push((*k, *s));
        }
    }
    for (k, f) in &snap.account_failures {
        if let Some(g) = group_of(*k) {
            parts[g].account_failures.push((*k, *f));
        }
    }
    if !snap.suppress.is_empty() {
        let windows: std::collections::HashMap<u64, i64> = snap.suppress.iter().copied().collect();
        for (g, group) in groups.iter().enumerate() {
            for &account in group.iter() {
                for &rule in &rule_keys {
                    let key = suppress_key(rule, account);
                    if let Some(&t) = windows.get(&key) {
                        parts[g].suppress.push((key, t));
                    }
                }
            }
            parts[g].suppress.sort_unstable();
        }
    }
    parts.iter().map(encode_part).collect()
}

/// The index of `name` in `zones`, added when missing (`None`: the default zone, index 0).
fn zone_index(zones: &mut Vec<String>, name: Option<String>) -> u16 {
    let Some(name) = name else { return 0 };
    match zones.iter().position(|z| *z == name) {
        Some(i) => i as u16,
        None if zones.len() < usize::from(u16::MAX) => {
            zones.push(name);
            (zones.len() - 1) as u16
        }
        None => 0,
    }
}

fn encode_part(part: &Part) -> Result<Vec<u8>, SnapshotError> {
    let mut out = PART_MAGIC.to_vec();
    out.extend_from_slice(&PART_VERSION.to_le_bytes());
    postcard::to_io(part, &mut out).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    Ok(out)
}

fn decode_part(bytes: &[u8]) -> Result<Part, SnapshotError> {
    if bytes.len() < 12 || &bytes[..8] != PART_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != PART_VERSION {
        return Err(SnapshotError::Version {
            found: version,
            expected: PART_VERSION,
        });
    }
    postcard::from_bytes(&bytes[12..]).map_err(|e| SnapshotError::Decode(e.to_string()))
}

/// `snapshot` with `parts` added (their accounts replace any the snapshot has); returns the new
/// snapshot and, per part, the keys of its accounts. Nothing is returned unless every part
/// decodes.
pub fn import_parts(
    snapshot: &mut dyn Read,
    parts: &[&[u8]],
) -> Result<(Vec<u8>, Vec<AccountSet>), SnapshotError> {
    let decoded: Vec<Part> = parts
        .iter()
        .map(|p| decode_part(p))
        .collect::<Result<_, _>>()?;
    let mut snap = decode(snapshot)?;
    let mut keys = Vec::with_capacity(decoded.len());
    for part in decoded {
        let mut set = AccountSet::default();
        set.extend(part.accounts.iter().map(|(k, _)| *k));
        let remap: Vec<u16> = part
            .zones
            .into_iter()
            .map(|z| zone_index(&mut snap.zones, Some(z)))
            .collect();
        let accounts = part.accounts.into_iter().map(|(k, mut a)| {
            a.0.tz = remap.get(usize::from(a.0.tz)).copied().unwrap_or(0);
            (k, a)
        });
        merge(&mut snap.accounts, accounts);
        merge(&mut snap.sessions, part.sessions);
        merge(&mut snap.account_failures, part.account_failures);
        merge(&mut snap.suppress, part.suppress);
        keys.push(set);
    }
    let mut out = Vec::new();
    encode(&snap, &mut out)?;
    Ok((out, keys))
}

/// Adds `new` to the sorted `entries`, replacing entries with the same key; keeps them sorted.
fn merge<V>(entries: &mut Vec<(u64, V)>, new: impl IntoIterator<Item = (u64, V)>) {
    let mut new: Vec<(u64, V)> = new.into_iter().collect();
    if new.is_empty() {
        return;
    }
    let replaced: HashSet<u64> = new.iter().map(|e| e.0).collect();
    entries.retain(|e| !replaced.contains(&e.0));
    entries.append(&mut new);
    entries.sort_unstable_by_key(|e| e.0);
}

/// `snapshot` without the per-account state of `accounts` (their suppression windows of
/// `rules` included).
pub fn drop_accounts(
    snapshot: &mut dyn Read,
    accounts: &AccountSet,
    rules: &[&str],
) -> Result<Vec<u8>, SnapshotError> {
    let mut snap: SnapshotV4 = decode(snapshot)?;
    snap.accounts.retain(|e| !accounts.contains(&e.0));
    snap.sessions.retain(|e| !accounts.contains(&e.0));
    snap.account_failures.retain(|e| !accounts.contains(&e.0));
    if !snap.suppress.is_empty() {
        let mut gone: HashSet<u64> = HashSet::new();
        for &account in accounts {
            for r in rules {
                gone.insert(suppress_key(name_key64(r), account));
            }
        }
        snap.suppress.retain(|e| !gone.contains(&e.0));
    }
    let mut out = Vec::new();
    encode(&snap, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    fn snapshot(store: &Store) -> Vec<u8> {
        let mut v = Vec::new();
        store.write_snapshot(&mut v).unwrap();
        v
    }

    fn set(keys: &[u64]) -> AccountSet {
        keys.iter().copied().collect()
    }

    /// A store with accounts 1..=4, each in its own zone, with failures, sessions and a
    /// suppression window of rule `r1`.
    fn populated() -> Store {
        let store = Store::new(1_000, "Europe/Paris", 3_600_000);
        let zones = [
            "Europe/Paris",
            "America/New_York",
            "Asia/Tokyo",
            "Africa/Lagos",
        ];
        for k in 1..=4u64 {
            let a = crate::baseline::AccountBaseline {
                tz: store.zones.intern(zones[k as usize - 1]),
                logins: k as u32,
                ..Default::default()
            };
            store.accounts.insert(k, Box::new(a));
            store.account_failures.insert(k, FailureCount::default());
            store.sessions.insert(k, SessionSet::default());
            assert!(!store.suppressed("r1", k, 1_000 * k as i64, 60_000));
        }
        store
    }

    /// Cut out of one store and put into another that interns zones in another order: each
    /// account comes back whole, in its own zone, with its suppression window.
    #[test]
    fn a_group_moves_whole_between_stores() {
        let from = populated();
        let parts = export_groups(&snapshot(&from), &[&set(&[2, 4]), &set(&[1])], &["r1"]).unwrap();
        assert_eq!(parts.len(), 2);

        let to = Store::new(1_000, "Europe/Paris", 3_600_000);
        to.zones.intern("Asia/Tokyo");
        let other = crate::baseline::AccountBaseline {
            logins: 99,
            ..Default::default()
        };
        to.accounts.insert(7, Box::new(other));
        let (merged, keys) = import_parts(&mut snapshot(&to).as_slice(), &[&parts[0]]).unwrap();
        assert_eq!(keys, vec![set(&[2, 4])]);
        to.read_snapshot(&mut merged.as_slice()).unwrap();

        let mut got: Vec<u64> = to.accounts.iter().map(|e| *e.key()).collect();
        got.sort_unstable();
        assert_eq!(
            got,
            vec![2, 4, 7],
            "the group's accounts and the receiver's own"
        );
        for k in [2u64, 4] {
            let a = to.accounts.get(&k).unwrap();
            assert_eq!(a.logins, k as u32);
            assert_eq!(
                to.zones.name(a.tz),
                from.zones.name(from.accounts.get(&k).unwrap().tz)
            );
            assert!(to.sessions.contains_key(&k) && to.account_failures.contains_key(&k));
            assert_eq!(to.last_alert_ms("r1", k), Some(1_000 * k as i64));
        }
        assert!(
            to.last_alert_ms("r1", 1).is_none(),
            "not in the moved group"
        );
    }

    /// Dropping a group leaves every other account as it was.
    #[test]
    fn dropping_a_group_keeps_the_others() {
        let store = populated();
        let left = drop_accounts(&mut snapshot(&store).as_slice(), &set(&[1, 3]), &["r1"]).unwrap();
        store.read_snapshot(&mut left.as_slice()).unwrap();
        let mut got: Vec<u64> = store.accounts.iter().map(|e| *e.key()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![2, 4]);
        assert!(!store.sessions.contains_key(&1) && !store.account_failures.contains_key(&3));
        assert!(store.last_alert_ms("r1", 1).is_none());
        assert_eq!(store.last_alert_ms("r1", 2), Some(2_000));
    }

    /// Bytes that are not a part are refused, and nothing is merged.
    #[test]
    fn a_corrupt_part_is_refused() {
        let store = populated();
        let snap = snapshot(&store);
        assert!(matches!(
            import_parts(&mut snap.as_slice(), &[b"not a part"]),
            Err(SnapshotError::BadMagic)
        ));
        let mut bad = PART_MAGIC.to_vec();
        bad.extend_from_slice(&PART_VERSION.to_le_bytes());
        bad.extend_from_slice(&[0xff; 7]);
        assert!(import_parts(&mut snap.as_slice(), &[&bad]).is_err());
    }
}
