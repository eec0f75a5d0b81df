//! The two pieces of shared memory enrichment needs: a bounded, sharded LRU ([`ShardedLru`]) in
//! front of GeoIP and user-agent parsing, and a string [`Interner`] so that every cached answer
//! shares one `Arc<str>` per distinct city, time zone, organisation or browser name.
//!
//! Both are used from many worker threads through `&self`. A shard's lock is held only for one
//! `get` or `put` (never across a database lookup or a parse), so contention stays low.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Arc;

use dashmap::DashSet;
use lru::LruCache;
use parking_lot::Mutex;

/// Number of shards: a power of two comfortably above the number of worker threads.
const SHARDS: usize = 16;

type Shard<K, V> = Mutex<LruCache<K, V>>;

/// A bounded least-recently-used map split into independently locked shards.
pub struct ShardedLru<K, V> {
    // `parking_lot::Mutex` rather than an `RwLock`: an LRU `get` reorders the list, so every
    // access writes; the critical section is a few hundred nanoseconds and never awaits.
    shards: Option<Box<[Shard<K, V>]>>,
    hasher: ahash::RandomState,
}

impl<K: Hash + Eq, V: Clone> ShardedLru<K, V> {
    /// A cache holding at most about `capacity` entries (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        let shards = if capacity == 0 {
            None
        } else {
            let per_shard =
                NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
            Some(
                (0..SHARDS)
                    .map(|_| Mutex::new(LruCache::new(per_shard)))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            )
        };
        ShardedLru {
            shards,
            // Fixed keys: shard choice needs no randomness (keys are not attacker-chosen
            // hash-flooding material once bounded by the LRU), and fixed keys keep runs alike.
            hasher: ahash::RandomState::with_seeds(0x746f_6373, 0x696e_2d65, 0x6e72_6963, 0x6821),
        }
    }

    fn shard(&self, key: &K) -> Option<&Shard<K, V>> {
        let shards = self.shards.as_ref()?;
        let h = self.hasher.hash_one(key);
        // The high bits: the LRU's own hash map uses the low ones.
        shards.get((h >> 60) as usize % shards.len())
    }

    /// A clone of the cached value, marking it recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        self.shard(key)?.lock().get(key).cloned()
    }

    /// Caches a value, evicting the shard's least recently used entry when full.
    pub fn put(&self, key: K, value: V) {
        if let Some(shard) = self.shard(&key) {
            shard.lock().put(key, value);
        }
    }

    /// Entries currently cached, all shards together.
    pub fn len(&self) -> usize {
        self.shards
            .as_ref()
            .map_or(0, |s| s.iter().map(|m| m.lock().len()).sum())
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One shared `Arc<str>` per distinct string.
///
/// Only cache misses intern, and what they intern comes from the configured databases and the
/// parser's fixed vocabulary, so the set is bounded by the data, not by the traffic.
#[derive(Default)]
pub struct Interner {
    strings: DashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `s`, creating it on first sight.
    pub fn intern(&self, s: &str) -> Arc<str> {
        if let Some(hit) = self.strings.get(s) {
            return hit.key().clone();
        }
        let fresh: Arc<str> = Arc::from(s);
        // Another thread may have inserted the same string meanwhile; either copy is fine,
        // but return the one that stays in the set so later callers share it.
        self.strings.insert(fresh.clone());
        self.strings.get(s).map_or(fresh, |e| e.key().clone())
    }

    /// Distinct strings held.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// True when no string has been interned.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_evicts_least_recent() {
        let c: ShardedLru<u32, u32> = ShardedLru::new(64);
        for i in 0..10_000 {
            c.put(i, i * 2);
        }
        // Each of the 16 shards keeps at most ceil(64 / 16) entries.
        assert!(c.len() <= 64, "{} entries", c.len());
        assert_eq!(c.get(&9_999), Some(19_998));
        assert_eq!(c.get(&0), None);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let c: ShardedLru<u32, u32> = ShardedLru::new(0);
        c.put(1, 1);
        assert_eq!(c.get(&1), None);
        assert!(c.is_empty());
    }

    #[test]
    fn interned_strings_share_one_allocation() {
        let i = Interner::default();
        let a = i.intern("Rouen");
        let b = i.intern("Rouen");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(i.len(), 1);
    }
}
