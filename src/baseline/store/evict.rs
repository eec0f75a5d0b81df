//! Keeping the store bounded: sweeping maps of idle entries as they grow (`sweep_idle`),
//! evicting the least recently active accounts at the `max_accounts` budget and the tenants
//! seen the longest ago at the tenant budget, and closing idle sessions periodically
//! ([`Store::expire_idle`]).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::learn::RISKY_SESSION;
use super::{KeyedMap, Store};
use crate::baseline::{secs_of, OpenSession};

/// A swept map is first swept once it holds this many entries.
pub(crate) const SWEEP_MIN: usize = 1_024;
/// Tenant-table bytes allowed per budgeted account (see [`Store::tenant_budget`]).
const TENANT_BYTES_PER_ACCOUNT: usize = 64;
/// Smallest tenant-table budget: room for the largest tenant many times over.
const TENANT_BYTES_MIN: usize = 16 << 20;

/// Drops the entries of a bounded map that no feature can see any more, once the map has
/// doubled since its last sweep (`next` holds the size that triggers the next one), so a sweep
/// costs O(1) per insert, amortised. Entries idle for `idle[0]` (in the unit of `now` and
/// `last`) go first: the map then holds about twice the keys active in that window, not `cap`
/// stale ones. If the map is still at `cap` (a flood within the window), entries idle for
/// `idle[1]` go too, and so on: the state of a flood that large is lost rather than memory.
/// The last threshold should be 0 (empty the map), so that `cap` is a hard bound.
pub(crate) fn sweep_idle<V>(
    m: &KeyedMap<V>,
    next: &AtomicUsize,
    cap: usize,
    now: i64,
    idle: &[i64],
    last: impl Fn(&V) -> i64,
) {
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

impl Store {
    /// Closes sessions idle for longer than [`crate::baseline::SESSION_IDLE_S`] (learning
    /// their volume) and drops failure counters idle for an hour. Accounts that come back do
    /// this themselves; call it periodically (e.g. at each checkpoint) so accounts that never
    /// return do not keep sessions. Returns the number of sessions closed.
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

    /// Makes room under `max_accounts`: evicts the least recently active tenth of the budget
    /// (by last trusted login; accounts that never logged in successfully first). One sweep is
    /// O(accounts) but runs once per tenth of the budget of new accounts, so its cost per new
    /// account is constant. Their sessions go with them.
    pub(super) fn evict_for_budget(&self) {
        let Some(_sweeping) = self.evicting.try_lock() else {
            return;
        };
        let budget = self.max_accounts.max(1);
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
        self.evicted.fetch_add(n as u64, Relaxed);
        tracing::warn!(
            evicted = n,
            budget,
            "account budget reached: least recently active baselines evicted"
        );
    }

    /// Bytes all tenant tables may hold together: [`TENANT_BYTES_PER_ACCOUNT`] per budgeted
    /// account (a real account adds about 10 bytes to its tenant's account set, and a few
    /// networks), at least [`TENANT_BYTES_MIN`]. Each tenant's own tables are capped too
    /// ([`crate::baseline::TENANT_ACCOUNTS`], [`crate::baseline::TENANT_NETS`],
    /// [`crate::baseline::TENANT_ASNS`]), but a flood of made-up tenant names (each ~600
    /// bytes) would multiply them without this.
    pub(super) fn tenant_budget(&self) -> usize {
        self.max_accounts
            .saturating_mul(TENANT_BYTES_PER_ACCOUNT)
            .max(TENANT_BYTES_MIN)
    }

    /// Brings the tenant tables back under nine tenths of [`Store::tenant_budget`] by
    /// evicting the tenants seen the longest ago, the smallest first among those last seen on
    /// the same day: a flood of made-up tenants, each one account on one network, goes before
    /// a clinic whose staff signed in today. Counted in `tocsin_tenants_evicted_total`.
    pub(super) fn evict_tenants(&self) {
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
}
