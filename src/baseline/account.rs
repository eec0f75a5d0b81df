//! One account's behavioural baseline: where it logs in from, with what, when, and how much it
//! reads. Fixed-size (no heap), so its size is a compile-time fact: see [`AccountBaseline`].

use serde::{Deserialize, Serialize};

use super::topk::TopK;
use crate::event::Action;

/// Hour buckets: 24 local hours × {weekday, weekend}.
///
/// Why not 168 hour-of-week buckets: a doctor logs in a handful of times a day, so 168 buckets
/// take months to fill and flag every first Tuesday-at-7 as rare; the weekday/weekend split keeps
/// the signal that matters (nights and weekends) and learns in two weeks, in 48 bytes.
pub const HOUR_BUCKETS: usize = 48;

/// The hour bucket of a local hour-of-week (0 = Monday 00:00).
pub fn hour_bucket(hour_of_week: u8) -> usize {
    let day = hour_of_week / 24;
    let hour = (hour_of_week % 24) as usize;
    if day >= 5 {
        24 + hour
    } else {
        hour
    }
}

/// Local-hour profile, decayed: counts saturate at 255 (then all halve) and halve every 30 days.
///
/// The sum of the buckets is kept with them: every event reads it (twice), and summing the
/// buckets each time was ~3% of the hot path's instructions (BENCHMARKS.md §2). It is not
/// written to snapshots (the wire format is [`HourProfileWire`], as before it existed) and is
/// recomputed when one is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "HourProfileWire", into = "HourProfileWire")]
pub struct HourProfile {
    buckets: [u8; HOUR_BUCKETS],
    /// Sum of `buckets` (at most 48 × 255).
    total: u16,
    /// Day of the last 30-day halving.
    decayed_day: u16,
}

/// [`HourProfile`] as snapshots hold it: the buckets and the day of the last halving.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct HourProfileWire {
    #[serde(with = "hours_serde")]
    buckets: [u8; HOUR_BUCKETS],
    decayed_day: u16,
}

impl From<HourProfileWire> for HourProfile {
    fn from(w: HourProfileWire) -> HourProfile {
        HourProfile {
            buckets: w.buckets,
            total: sum(&w.buckets),
            decayed_day: w.decayed_day,
        }
    }
}

impl From<HourProfile> for HourProfileWire {
    fn from(h: HourProfile) -> HourProfileWire {
        HourProfileWire {
            buckets: h.buckets,
            decayed_day: h.decayed_day,
        }
    }
}

fn sum(buckets: &[u8; HOUR_BUCKETS]) -> u16 {
    buckets.iter().map(|&b| u16::from(b)).sum()
}

impl Default for HourProfile {
    fn default() -> Self {
        HourProfile {
            buckets: [0; HOUR_BUCKETS],
            total: 0,
            decayed_day: 0,
        }
    }
}

impl HourProfile {
    /// Records a login in `bucket` on `today`.
    pub fn add(&mut self, bucket: usize, today: u16) {
        if self.decayed_day == 0 {
            self.decayed_day = today;
        }
        // One halving per 30 days elapsed; eight empty a u8, so more are pointless.
        let periods = today.saturating_sub(self.decayed_day) / 30;
        for _ in 0..periods.min(8) {
            self.halve();
        }
        self.decayed_day += periods * 30;
        if let Some(b) = self.buckets.get_mut(bucket) {
            if *b == u8::MAX {
                self.halve();
            }
        }
        if let Some(b) = self.buckets.get_mut(bucket) {
            *b += 1;
            self.total += 1;
        }
    }

    fn halve(&mut self) {
        for b in &mut self.buckets {
            *b /= 2;
        }
        self.total = sum(&self.buckets);
    }

    /// Total of all buckets (a whole number: the same `f32` as summing them).
    pub fn total(&self) -> f32 {
        f32::from(self.total)
    }

    /// Share of the profile "around" `bucket`: the bucket itself, half of each neighbouring hour
    /// and a quarter of the hours two away (a 08:30 habit also covers a 10:00 login; a doctor's
    /// day is not a timetable), and 30% of the same hours on the other kind of day (a weekday
    /// habit makes a Saturday morning unusual, not unheard of). 0 when empty.
    pub fn share(&self, bucket: usize) -> f32 {
        let total = self.total();
        if total == 0.0 {
            return 0.0;
        }
        let around = |b: usize| -> f32 {
            let base = b / 24 * 24;
            let h = b % 24;
            let at = |hh: usize| self.buckets[base + hh % 24] as f32;
            at(h) + 0.5 * (at(h + 23) + at(h + 1)) + 0.25 * (at(h + 22) + at(h + 2))
        };
        let other = (bucket + 24) % HOUR_BUCKETS;
        ((around(bucket) + 0.3 * around(other)) / total).min(1.0)
    }

    /// The raw buckets (for views).
    pub fn buckets(&self) -> &[u8; HOUR_BUCKETS] {
        &self.buckets
    }
}

mod hours_serde {
    use super::HOUR_BUCKETS;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; HOUR_BUCKETS], s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; HOUR_BUCKETS], D::Error> {
        let v: Vec<u8> = Vec::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::invalid_length(len, &"48 hour buckets"))
    }
}

/// Where and when the last trusted successful login happened (the reference for travel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LastLogin {
    /// Seconds since the Unix epoch; 0 = never.
    pub ts_s: u32,
    /// Latitude, degrees (valid when `has_geo`).
    pub lat: f32,
    /// Longitude, degrees.
    pub lon: f32,
    /// Autonomous system, 0 when unknown.
    pub asn: u32,
    /// Packed country code, 0 when unknown.
    pub country: u16,
    /// True when the login had a location.
    pub has_geo: bool,
}

/// Per-action access volume: the long-term per-session baseline (EWMA of per-session totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeBaseline {
    /// Mean records per session, per tracked action (read, search, export, print).
    pub mean: [f32; 4],
    /// Variance of records per session, per tracked action.
    pub var: [f32; 4],
    /// Sessions folded in (saturating).
    pub sessions: u16,
}

/// The index of a tracked volume action in per-action tables (read, search, export, print);
/// `None` for actions whose volume is not tracked.
pub fn tracked(a: Action) -> Option<usize> {
    match a {
        Action::Read => Some(0),
        Action::Search => Some(1),
        Action::Export => Some(2),
        Action::Print => Some(3),
        Action::Update | Action::Delete => None,
    }
}

/// Weight of a new session in the volume EWMA once past the first sessions: about the last
/// 20 sessions matter.
const VOLUME_ALPHA: f32 = 0.1;

impl VolumeBaseline {
    /// Folds one finished session's per-action totals in. Early sessions are a plain average,
    /// so the baseline is usable after a few sessions rather than after 1/α.
    pub fn fold(&mut self, totals: [u32; 4]) {
        self.sessions = self.sessions.saturating_add(1);
        let alpha = (1.0 / self.sessions as f32).max(VOLUME_ALPHA);
        for (i, &t) in totals.iter().enumerate() {
            let x = t as f32;
            let d = x - self.mean[i];
            self.mean[i] += alpha * d;
            self.var[i] = (1.0 - alpha) * (self.var[i] + alpha * d * d);
        }
    }

    /// Usual records per session for a tracked action (None before any session).
    pub fn usual(&self, action: usize) -> Option<f32> {
        (self.sessions > 0).then(|| self.mean.get(action).copied().unwrap_or(0.0))
    }

    /// A high quantile (≈ p99 under a normal approximation) of records per session.
    pub fn p99(&self, action: usize) -> Option<f32> {
        let m = self.usual(action)?;
        Some(m + 2.33 * self.var.get(action).copied().unwrap_or(0.0).max(0.0).sqrt())
    }

    /// The same quantile of all tracked records per session together (the actions' means
    /// added, their variances added as if independent). None before any session.
    pub fn p99_all(&self) -> Option<f32> {
        (self.sessions > 0).then(|| {
            let m: f32 = self.mean.iter().sum();
            let v: f32 = self.var.iter().map(|v| v.max(0.0)).sum();
            m + 2.33 * v.sqrt()
        })
    }
}

/// An exponentially decayed event counter approximating a sliding window of `tau` seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decayed {
    /// Value at `ts_s`.
    pub value: f32,
    /// Seconds since the epoch of the last update.
    pub ts_s: u32,
}

impl Decayed {
    /// The value decayed to `now_s` with time constant `tau_s`.
    pub fn at(&self, now_s: u32, tau_s: f32) -> f32 {
        let dt = now_s.saturating_sub(self.ts_s) as f32;
        self.value * (-dt / tau_s).exp()
    }

    /// Adds `x` at `now_s`.
    pub fn add(&mut self, x: f32, now_s: u32, tau_s: f32) {
        self.value = self.at(now_s, tau_s) + x;
        self.ts_s = self.ts_s.max(now_s);
    }
}

/// Account-level access windows (all sessions together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeWindows {
    /// Records touched (read, search, export, print), ≈ last 10 minutes.
    pub records_10m: Decayed,
    /// Records exported or printed, ≈ last hour.
    pub exports_1h: Decayed,
    /// Windows written to snapshots beside the baseline (see `store::snapshot`), not inside
    /// it: they came after the baseline's layout was fixed.
    #[serde(skip)]
    pub extra: ExtraWindows,
}

/// The account windows kept beside the baseline in snapshots (from version 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtraWindows {
    /// Days on which records left through a network the account rarely uses.
    pub unusual_exports: UnusualExportDays,
    /// Failed second-factor steps, ≈ last 10 minutes (push prompts denied, codes refused).
    pub mfa_failures: Decayed,
    /// When an identity provider said the account's password leaked (seconds since the
    /// epoch; 0: never, or a password change since).
    pub leaked_s: u32,
}

/// Records exported or printed per day from networks that carry under a fifth of the
/// account's logins, and the last days on which they reached a floor: exfiltration spread
/// over days ("low and slow") is unremarkable in each session and visible only as its
/// persistence, day after day, through a network that is not the owner's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusualExportDays {
    /// The last days (since the epoch) that reached the floor, latest first; 0 = none.
    pub days: [u16; UNUSUAL_EXPORT_DAY_SLOTS],
    /// Day of `today`.
    pub day: u16,
    /// Records exported or printed on `day` through such networks (saturating).
    pub today: u16,
}

/// Days remembered by [`UnusualExportDays`]: more than any rule needs within its window.
pub const UNUSUAL_EXPORT_DAY_SLOTS: usize = 4;

impl UnusualExportDays {
    /// Counts `records` exported on `day`; a day that reaches `floor` is remembered.
    pub fn add(&mut self, day: u16, records: u32, floor: u16) {
        if self.day != day {
            self.day = day;
            self.today = 0;
        }
        self.today = self
            .today
            .saturating_add(u16::try_from(records).unwrap_or(u16::MAX));
        if self.today >= floor && self.days[0] != day {
            self.days.rotate_right(1);
            self.days[0] = day;
        }
    }

    /// Remembered days within the `window` days ending `today` (today included).
    pub fn days_within(&self, today: u16, window: u16) -> usize {
        self.days
            .iter()
            .filter(|&&d| d != 0 && d <= today && today - d < window)
            .count()
    }
}

/// What a held-back value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingKind {
    /// A device fingerprint.
    Device,
    /// A network prefix.
    Prefix,
    /// An ASN.
    Asn,
    /// A country.
    Country,
    /// A city.
    City,
}

/// A value seen only in a login that raised a high or critical alert: not learned until seen
/// again on a later day without an alert, or confirmed by a `false_positive` verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// What it is.
    pub kind: PendingKind,
    /// Its key in the matching table.
    pub key: u32,
    /// Day it was held back.
    pub day: u16,
}

/// Values held back at once (oldest dropped first).
pub const PENDING_SLOTS: usize = 6;

/// The values held back for one account. Most accounts have none (only a login that raised a
/// high or critical alert holds values back), so the store keeps these sets in a map of
/// their own instead of 48 bytes in every [`AccountBaseline`]. In snapshots a set follows its
/// account's baseline, where the baseline's last field used to be: the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PendingSet(pub [Option<Pending>; PENDING_SLOTS]);

impl PendingSet {
    /// True when nothing is held back.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// True when `key` of this kind is held back.
    pub fn contains(&self, kind: PendingKind, key: u32) -> bool {
        self.0
            .iter()
            .flatten()
            .any(|p| p.kind == kind && p.key == key)
    }

    /// The held-back values.
    pub fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.0.iter().flatten()
    }

    /// Holds `key` back instead of learning it.
    pub fn hold_back(&mut self, kind: PendingKind, key: u32, today: u16) {
        if key == 0 || self.contains(kind, key) {
            return;
        }
        let slot = match self.0.iter().position(|p| p.is_none()) {
            Some(i) => i,
            None => {
                // Full: drop the oldest.
                let mut oldest = 0;
                for (i, p) in self.0.iter().enumerate() {
                    if let (Some(p), Some(o)) = (p, &self.0[oldest]) {
                        if p.day < o.day {
                            oldest = i;
                        }
                    }
                }
                oldest
            }
        };
        self.0[slot] = Some(Pending {
            kind,
            key,
            day: today,
        });
    }

    /// If `key` is held back since an earlier day, releases it and returns true (promote it).
    /// A held-back value seen again the same day (the attacker again) stays held back.
    pub fn release_if_older(&mut self, kind: PendingKind, key: u32, today: u16) -> bool {
        for p in &mut self.0 {
            if let Some(v) = p {
                if v.kind == kind && v.key == key && v.day < today {
                    *p = None;
                    return true;
                }
            }
        }
        false
    }

    /// Forgets a held-back value (true if it was there).
    pub fn drop_pending(&mut self, kind: PendingKind, key: u32) -> bool {
        let mut found = false;
        for p in &mut self.0 {
            if matches!(p, Some(v) if v.kind == kind && v.key == key) {
                *p = None;
                found = true;
            }
        }
        found
    }
}

/// One account's baseline. Fixed size — `size_of::<AccountBaseline>()` is the worst case, and
/// `tests::account_baseline_fits_its_budget` holds it to [`ACCOUNT_BYTES_BOUND`]. The account's
/// name is not stored: the map is keyed by its 64-bit hash. Values held back are not here but
/// in a [`PendingSet`], for the few accounts that have any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountBaseline {
    /// Countries of trusted successful logins (key: packed ISO code).
    pub countries: TopK<4>,
    /// Cities (key: hash of country + city name).
    pub cities: TopK<4>,
    /// Autonomous systems (key: the ASN).
    pub asns: TopK<6>,
    /// Networks: /24 IPv4, /64 IPv6 (key: hash of the prefix).
    pub prefixes: TopK<8>,
    /// Device fingerprints (key: low 32 bits of the fingerprint).
    pub devices: TopK<6>,
    /// Browser families (key: hash of the name).
    pub browsers: TopK<3>,
    /// OS families (key: hash of the name).
    pub oses: TopK<3>,
    /// Device types seen (bit = `DeviceType` index).
    pub device_kinds: u8,
    /// Local-hour profile.
    pub hours: HourProfile,
    /// Trusted successful logins (not decayed; saturating).
    pub logins: u32,
    /// Day the account was first seen.
    pub first_day: u16,
    /// Interned time zone of the usual place (0 = the configured default).
    pub tz: u16,
    /// The usual place: location of the most frequent city.
    pub home: (f32, f32),
    /// True once `home` is set.
    pub has_home: bool,
    /// The last trusted successful login.
    pub last_login: LastLogin,
    /// Per-session volume baseline.
    pub volume: VolumeBaseline,
    /// Account-level access windows.
    pub windows: VolumeWindows,
}

/// Documented worst-case bytes of one account's baseline in memory: the [`AccountBaseline`]
/// as the heap holds it (boxed: an 8-byte allocator header, rounded up to 16) plus its slot in
/// the accounts map (key, pointer, control byte) at the map's worst load, 7/16 full. Values
/// held back, sessions, failure counters and shared state are estimated separately by
/// `Store::stats`.
pub const ACCOUNT_BYTES_BOUND: usize = 512;

/// [`ACCOUNT_BYTES_BOUND`]'s sum for a baseline of `size` bytes.
pub const fn account_bytes(size: usize) -> usize {
    let boxed = (size + 8 + 15) & !15;
    // A slot of 8 + 8 + 1 bytes; a hashbrown table is at least 7/16 full once it has grown.
    let slot = (17usize * 16).div_ceil(7);
    boxed + slot
}

impl AccountBaseline {
    /// True while the account has fewer trusted logins than `learning_logins`.
    pub fn learning(&self, learning_logins: u32) -> bool {
        self.logins < learning_logins
    }

    /// The table a pending kind belongs to.
    pub fn table_mut(&mut self, kind: PendingKind) -> TableMut<'_> {
        match kind {
            PendingKind::Device => TableMut::Six(&mut self.devices),
            PendingKind::Prefix => TableMut::Eight(&mut self.prefixes),
            PendingKind::Asn => TableMut::Six(&mut self.asns),
            PendingKind::Country => TableMut::Four(&mut self.countries),
            PendingKind::City => TableMut::Four(&mut self.cities),
        }
    }
}

/// A mutable reference to one of the account's tables, whatever its size.
pub enum TableMut<'a> {
    /// A 4-slot table.
    Four(&'a mut TopK<4>),
    /// A 6-slot table.
    Six(&'a mut TopK<6>),
    /// An 8-slot table.
    Eight(&'a mut TopK<8>),
}

impl TableMut<'_> {
    /// Adds observations.
    pub fn add(self, key: u32, weight: f32, today: u16) {
        match self {
            TableMut::Four(t) => t.add(key, weight, today),
            TableMut::Six(t) => t.add(key, weight, today),
            TableMut::Eight(t) => t.add(key, weight, today),
        }
    }

    /// Forgets a key.
    pub fn remove(self, key: u32) {
        match self {
            TableMut::Four(t) => t.remove(key),
            TableMut::Six(t) => t.remove(key),
            TableMut::Eight(t) => t.remove(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_export_days_count_days_that_reach_the_floor_within_the_window() {
        let mut d = UnusualExportDays::default();
        d.add(100, 6, 10);
        assert_eq!(d.days_within(100, 7), 0, "under the floor");
        d.add(100, 6, 10);
        assert_eq!(d.days_within(100, 7), 1, "the day's records add up");
        d.add(100, 30, 10);
        assert_eq!(d.days_within(100, 7), 1, "one day counts once");
        d.add(102, 25, 10);
        d.add(105, 11, 10);
        assert_eq!(d.days_within(105, 7), 3);
        // A week later the first day has left the window; the oldest slot is dropped when full.
        assert_eq!(d.days_within(107, 7), 2);
        for day in 110..115 {
            d.add(day, 10, 10);
        }
        assert_eq!(d.days, [114, 113, 112, 111]);
    }

    #[test]
    fn the_p99_of_all_records_adds_the_actions() {
        let mut v = VolumeBaseline::default();
        assert_eq!(v.p99_all(), None);
        v.fold([10, 20, 0, 0]);
        v.fold([10, 20, 0, 0]);
        assert_eq!(v.p99_all(), Some(30.0));
        v.fold([30, 0, 5, 0]);
        let p = v.p99_all().unwrap();
        assert!(p > 30.0 && p >= v.p99(0).unwrap(), "{p}");
    }

    #[test]
    fn account_baseline_fits_its_budget() {
        let size = std::mem::size_of::<AccountBaseline>();
        assert!(
            account_bytes(size) <= ACCOUNT_BYTES_BOUND,
            "AccountBaseline is {size} bytes, {} with its box and map slot",
            account_bytes(size)
        );
    }

    #[test]
    fn night_hours_are_rare_for_a_day_worker_and_not_for_a_night_worker() {
        let mut day = HourProfile::default();
        let mut night = HourProfile::default();
        for d in 0..20u16 {
            day.add(hour_bucket(9), 100 + d);
            day.add(hour_bucket(14), 100 + d);
            night.add(hour_bucket(23), 100 + d);
            night.add(hour_bucket(2), 100 + d);
        }
        assert!(day.share(hour_bucket(3)) < 0.01);
        assert!(night.share(hour_bucket(3)) > 0.1);
        // Saturday 09:00 for a weekday worker: unusual, not never.
        assert!(day.share(hour_bucket(5 * 24 + 9)) > 0.05);
    }

    #[test]
    fn the_kept_hour_total_is_the_sum_of_the_buckets_through_decay_and_saturation() {
        let mut h = HourProfile::default();
        let check = |h: &HourProfile| {
            let summed: f32 = h.buckets().iter().map(|&b| b as f32).sum();
            assert_eq!(h.total(), summed);
        };
        // Saturate one bucket (it halves everything at 255) and let months pass (decay).
        for i in 0..1200u16 {
            h.add(hour_bucket((i % 2) as u8 * 60), 100 + i / 4);
            check(&h);
        }
        h.add(hour_bucket(9), 2000);
        check(&h);
        // Snapshots do not carry the total: it is recomputed on reading.
        let bytes = postcard::to_allocvec(&h).unwrap();
        let back: HourProfile = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, h);
        check(&back);
    }

    #[test]
    fn the_hour_profile_wire_format_is_unchanged() {
        // Written by the layout without a kept total: 48 buckets (length-prefixed) and the day.
        let mut old = vec![48u8];
        old.extend((0..48u8).map(|i| i % 7));
        old.extend(postcard::to_allocvec(&300u16).unwrap());
        let h: HourProfile = postcard::from_bytes(&old).unwrap();
        assert_eq!(h.total(), (0..48u32).map(|i| i % 7).sum::<u32>() as f32);
        assert_eq!(postcard::to_allocvec(&h).unwrap(), old);
    }

    #[test]
    fn volume_baseline_learns_the_usual_session() {
        let mut v = VolumeBaseline::default();
        for n in [3, 4, 2, 3, 5, 3] {
            v.fold([n, 0, 0, 0]);
        }
        let usual = v.usual(0).unwrap();
        assert!((2.5..4.0).contains(&usual), "{usual}");
        assert!(v.p99(0).unwrap() < 10.0);
    }

    #[test]
    fn a_value_held_back_is_released_only_on_a_later_day() {
        let mut a = PendingSet::default();
        a.hold_back(PendingKind::Device, 42, 10);
        assert!(!a.release_if_older(PendingKind::Device, 42, 10));
        assert!(a.release_if_older(PendingKind::Device, 42, 11));
        assert!(!a.release_if_older(PendingKind::Device, 42, 12));
    }
}
