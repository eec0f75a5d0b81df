//! A fixed-size "heavy hitters" table with decay: the building block of every per-account
//! profile (countries, cities, ASNs, networks, devices, browsers, OSes).
//!
//! Each slot keeps a key, a count and the day the key was last seen. The count is stored as of
//! that day and decays lazily (halved every [`HALF_LIFE_DAYS`]): reading it at a later day applies
//! the decay, so nothing has to sweep the tables. When the table is full the weakest entry (lowest
//! decayed count) is evicted, which is what lets an account that moved house forget the old place.

use serde::{Deserialize, Serialize};

/// Days after which a count is worth half.
pub const HALF_LIFE_DAYS: f32 = 30.0;

/// Counts are stored in 1/8ths in a `u16`: 8191 logins of headroom, which decay keeps far away.
const SCALE: f32 = 8.0;

/// One remembered value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The value (a hash, an ASN, a packed country code). 0 = empty slot.
    pub key: u32,
    /// Count as of `day`, in 1/8ths.
    count: u16,
    /// Day (since the Unix epoch) the value was last seen.
    pub day: u16,
}

impl Slot {
    /// The count decayed to `today`.
    pub fn count_at(&self, today: u16) -> f32 {
        if self.key == 0 {
            return 0.0;
        }
        let age = today.saturating_sub(self.day) as f32;
        (self.count as f32 / SCALE) * (-age / HALF_LIFE_DAYS * std::f32::consts::LN_2).exp()
    }
}

/// Up to `N` values with decayed counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopK<const N: usize> {
    #[serde(with = "serde_arrays")]
    slots: [Slot; N],
}

impl<const N: usize> Default for TopK<N> {
    fn default() -> Self {
        TopK {
            slots: [Slot::default(); N],
        }
    }
}

impl<const N: usize> TopK<N> {
    /// The decayed count of `key` at `today` (0 when unknown).
    pub fn count(&self, key: u32, today: u16) -> f32 {
        self.slots
            .iter()
            .find(|s| s.key == key && key != 0)
            .map_or(0.0, |s| s.count_at(today))
    }

    /// True when `key` is remembered.
    pub fn contains(&self, key: u32) -> bool {
        key != 0 && self.slots.iter().any(|s| s.key == key)
    }

    /// Sum of the decayed counts.
    pub fn total(&self, today: u16) -> f32 {
        self.slots.iter().map(|s| s.count_at(today)).sum()
    }

    /// `key`'s share (0..1) of the decayed counts at `today`; 0 when the table is empty.
    pub fn share(&self, key: u32, today: u16) -> f32 {
        let t = self.total(today);
        if t > 0.0 {
            self.count(key, today) / t
        } else {
            0.0
        }
    }

    /// Adds `weight` observations of `key` seen on `today`, evicting the weakest entry when full.
    pub fn add(&mut self, key: u32, weight: f32, today: u16) {
        if key == 0 {
            return;
        }
        let idx = match self.slots.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => {
                // An empty slot counts 0 and so is always the weakest.
                let mut weakest = 0;
                let mut weakest_count = f32::INFINITY;
                for (i, s) in self.slots.iter().enumerate() {
                    let c = s.count_at(today);
                    if c < weakest_count {
                        weakest = i;
                        weakest_count = c;
                    }
                }
                self.slots[weakest] = Slot {
                    key,
                    count: 0,
                    day: today,
                };
                weakest
            }
        };
        let s = &mut self.slots[idx];
        let c = s.count_at(today) + weight;
        s.count = (c * SCALE).round().clamp(0.0, u16::MAX as f32) as u16;
        s.day = today.max(s.day);
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: u32) {
        for s in &mut self.slots {
            if s.key == key {
                *s = Slot::default();
            }
        }
    }

    /// The non-empty slots, strongest first (ties broken by key, so the order is deterministic).
    pub fn ranked(&self, today: u16) -> impl Iterator<Item = (u32, f32, u16)> {
        let mut v: [(u32, f32, u16); N] = [(0, 0.0, 0); N];
        for (d, s) in v.iter_mut().zip(self.slots.iter()) {
            *d = (s.key, s.count_at(today), s.day);
        }
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().filter(|e| e.0 != 0)
    }

    /// The strongest key, if any.
    pub fn top(&self, today: u16) -> Option<u32> {
        self.ranked(today).next().map(|e| e.0)
    }
}

/// serde for `[Slot; N]` with a const generic `N` (serde derives arrays only up to 32 and not
/// generically).
mod serde_arrays {
    use super::Slot;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        v: &[Slot; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[Slot; N], D::Error> {
        let v: Vec<Slot> = Vec::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::invalid_length(len, &"a table of the compiled size"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decay_by_half_every_thirty_days() {
        let mut t = TopK::<4>::default();
        t.add(7, 4.0, 100);
        assert!((t.count(7, 100) - 4.0).abs() < 0.01);
        assert!((t.count(7, 130) - 2.0).abs() < 0.05);
    }

    #[test]
    fn evicts_the_weakest_when_full() {
        let mut t = TopK::<2>::default();
        t.add(1, 10.0, 100);
        t.add(2, 1.0, 100);
        t.add(3, 1.0, 101);
        assert!(t.contains(1) && t.contains(3) && !t.contains(2));
    }

    #[test]
    fn an_old_habit_loses_to_a_new_one() {
        let mut t = TopK::<2>::default();
        t.add(1, 8.0, 0);
        t.add(2, 2.0, 150);
        t.add(3, 1.0, 150);
        // Five half-lives later, 8 logins weigh 0.25: the old place is the one evicted.
        assert!(!t.contains(1) && t.contains(2) && t.contains(3));
    }

    #[test]
    fn ranking_is_deterministic() {
        let mut t = TopK::<4>::default();
        t.add(9, 1.0, 1);
        t.add(4, 1.0, 1);
        t.add(5, 3.0, 1);
        let keys: Vec<u32> = t.ranked(1).map(|e| e.0).collect();
        assert_eq!(keys, vec![5, 4, 9]);
    }
}
