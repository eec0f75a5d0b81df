//! Short-lived counters that only need bounding: failed logins (per account, per account and
//! source, per source) and the suppression window of each rule and account. Both are swept
//! as they grow (`evict::sweep_idle`), so a flood costs bounded memory.

use super::evict::sweep_idle;
use super::{KeyedMap, Keys, Store};
use crate::baseline::{name_key64, FailureCount, TAU_10M};

/// Caps of the failure maps (see [`sweep_idle`]).
pub(crate) const FAILURE_MAP_CAP: usize = 200_000;
/// Idle times after which a failure counter is dropped, longest first (seconds): the failure
/// features look back at most an hour; the shorter ones apply only at the cap, and the last, 0,
/// empties the map.
pub(crate) const FAILURE_IDLE_S: [i64; 4] = [3600, 600, 1, 0];
/// Cap of the suppression map (see [`sweep_idle`]): windows older than the longest rule's
/// `suppress` go first, then older than 10 minutes, then all but this second's.
pub(crate) const SUPPRESS_CAP: usize = 500_000;

impl Store {
    /// Counts a failed login against the account, the account from this source, and the
    /// source. Called before the event's features are computed, so they include it.
    pub fn count_failure(&self, k: &Keys) {
        let now_s = k.now_s;
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
            bump(&self.pair_failures, k.pair(src), at_pair);
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

    /// When `rule` last alerted on `account` (the start of its latest suppression window), if
    /// it is still remembered.
    pub fn last_alert_ms(&self, rule: &str, account: u64) -> Option<i64> {
        let key = name_key64(rule) ^ account.rotate_left(29);
        self.suppress
            .get(&key)
            .map(|t| *t)
            .filter(|&t| t != i64::MIN)
    }

    /// True when `rule` already alerted on `account` less than `window_ms` before `ts_ms`;
    /// otherwise opens a new window at `ts_ms` and returns false.
    pub fn suppressed(&self, rule: &str, account: u64, ts_ms: i64, window_ms: i64) -> bool {
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
}
