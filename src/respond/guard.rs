//! The blast-radius guard: caps *automatic* revocations so that a detection bug, a bad rule or
//! an attacker provoking alerts cannot log out a whole customer base (README.md, "Responses").
//!
//! Sliding windows in event time (`now_ms`, so replay is deterministic) count the revocations
//! admitted in the last minute, hour and day, across all tenants and per tenant. An alert whose
//! revocation would exceed a limit keeps alerting but loses its `revoke_*` actions, with a reason
//! giving the numbers. The first refusal *trips* its scope (all tenants, or one tenant) and raises
//! exactly one critical alert for humans; a tripped scope then withholds every automatic
//! revocation, saying so, until an operator acknowledges the trip with `POST /v1/guard/reset`
//! ([`Guard::reset`]): a storm that pauses for a minute does not resume revoking on its own.
//!
//! **Tenant shares.** The `tenant` of an event is whatever the producer wrote, so an attacker can
//! make one up. No tenant may use more than `tenant_share_percent` of any global window (at least
//! one revocation): 20 bad alerts a minute under a made-up tenant trip that tenant after its
//! share (5 of the default 20) and leave the rest of the global budget to every other tenant.
//! Only a storm spread over several tenants trips the global scope, and that is what the global
//! scope is for. Alerts without a tenant share one bucket, the empty tenant.
//!
//! Per-tenant state exists only for tenants with an admitted revocation in the last day, or a
//! trip: admissions are bounded by the global daily cap, so the map stays small whatever tenant
//! names a producer invents. The whole state is a checkpoint part ([`Guard::write_snapshot`]),
//! so a restart keeps the windows and the trips.
//!
//! **Clock.** The windows run on the event's time, held within [`EVENT_TIME_SLACK_MS`] of the
//! decision time ([`Guard::check_at`]): in `replay` the two are the same; in `tocsin run` the
//! decision time is the wall clock, so a record re-processed after a crash (within the slack)
//! meets the same windows and trips at the same alert with the same trip id, as the
//! uninterrupted run did; yet a producer forging timestamps cannot spread a storm over days
//! (a time in the future counts as now, one older than the slack as the slack's edge).
//!
//! Manual revocations through the API never pass here.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::alert::{alert_id, Alert, Reason, ResponseAction, Severity};
use crate::settings::RevocationSettings;
use crate::timefmt::rfc3339;

/// The rule id of the guard's own alert.
pub const GUARD_RULE: &str = "tocsin.guard.revocation_limit";

/// The `account` of the guard's alert: it is about the engine, not one account.
pub const GUARD_ACCOUNT: &str = "*";

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// How far behind the decision time the guard's clock may follow an event's own time. Ten
/// minutes: far more than a checkpoint interval plus a restart, so re-processing after a crash
/// decides as the first pass did; short enough that forged timestamps spread a storm over ten
/// minutes at most, which the hourly and daily caps still hold.
pub const EVENT_TIME_SLACK_MS: i64 = 10 * MINUTE_MS;

/// Every how many checks idle tenants are forgotten.
const SWEEP_EVERY: u32 = 1024;

/// The guard's limits (`[revocation]`).
///
/// Defaults, and why: 20 a minute and 10 per tenant an hour (the original caps); 100 an hour and
/// 300 a day across all tenants, an order of magnitude above what real takeovers of a SaaS of
/// tens of thousands of accounts cause (a handful a day), so a genuine campaign is still
/// contained while a rule bug or a forged storm logs out at most 300 sessions before a human
/// looks; 25% tenant share, so one tenant (perhaps a made-up one) holds at most 5 of the 20 a
/// minute, 25 of the 100 an hour and 75 of the 300 a day, and it takes four tenants at their
/// caps to stop everyone's automatic revocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardLimits {
    /// All tenants, per minute.
    pub per_minute: u32,
    /// All tenants, per hour.
    pub per_hour: u32,
    /// All tenants, per day.
    pub per_day: u32,
    /// One tenant, per hour (also bounded by its share of `per_hour`).
    pub per_tenant_per_hour: u32,
    /// The largest share of each global window one tenant may use, percent.
    pub tenant_share_percent: u32,
}

impl GuardLimits {
    /// The limits `[revocation]` sets.
    pub fn from_settings(s: &RevocationSettings) -> GuardLimits {
        GuardLimits {
            per_minute: s.max_per_minute,
            per_hour: s.max_per_hour,
            per_day: s.max_per_day,
            per_tenant_per_hour: s.max_per_tenant_per_hour,
            tenant_share_percent: s.tenant_share_percent,
        }
    }

    /// One tenant's part of a global limit: its share, rounded up, at least one (unless the
    /// global limit is 0: then nothing).
    fn share(&self, global: u32) -> u32 {
        if global == 0 {
            return 0;
        }
        let share =
            (u64::from(global) * u64::from(self.tenant_share_percent.min(100))).div_ceil(100);
        (share as u32).max(1)
    }

    /// A window's limits: `(window, all tenants, one tenant)`.
    fn windows(&self) -> [(Window, u32, u32); 3] {
        [
            (Window::Minute, self.per_minute, self.share(self.per_minute)),
            (
                Window::Hour,
                self.per_hour,
                self.share(self.per_hour).min(self.per_tenant_per_hour),
            ),
            (Window::Day, self.per_day, self.share(self.per_day)),
        ]
    }
}

/// Caps automatic revocations in event time. Clones share one state: the pipeline checks
/// alerts through one, the API resets through another.
#[derive(Clone)]
pub struct Guard {
    limits: GuardLimits,
    // A plain mutex: `check` is synchronous, short and never held across `.await`.
    state: Arc<Mutex<GuardState>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    fn ms(self) -> i64 {
        match self {
            Window::Minute => MINUTE_MS,
            Window::Hour => HOUR_MS,
            Window::Day => DAY_MS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }
}

/// The limit that refused a revocation and tripped a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Limit {
    /// `None`: all tenants; otherwise the tenant.
    tenant: Option<String>,
    window: Window,
    count: usize,
    max: u32,
}

impl Limit {
    fn feature(&self) -> String {
        let scope = if self.tenant.is_some() { "tenant_" } else { "" };
        format!("guard.{scope}revocations_last_{}", self.window.name())
    }

    fn per(&self) -> String {
        match &self.tenant {
            None => format!("in the last {} across all tenants", self.window.name()),
            Some(t) if t.is_empty() => {
                format!(
                    "in the last {} for alerts without a tenant",
                    self.window.name()
                )
            }
            Some(t) => format!("in the last {} for tenant {t}", self.window.name()),
        }
    }
}

/// A tripped scope: since when, and which limit tripped it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Trip {
    since: i64,
    limit: Limit,
}

#[derive(Default, Serialize, Deserialize)]
struct GuardState {
    /// Times of revocations admitted in the last day, all tenants, oldest first.
    global: VecDeque<i64>,
    global_trip: Option<Trip>,
    /// Sorted, so that a snapshot of equal states is equal bytes.
    tenants: BTreeMap<String, TenantWindow>,
    #[serde(skip)]
    checks: u32,
}

#[derive(Default, Serialize, Deserialize)]
struct TenantWindow {
    /// Times of revocations admitted for this tenant in the last day, oldest first.
    admitted: VecDeque<i64>,
    trip: Option<Trip>,
}

/// What [`Guard::reset`] acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GuardReset {
    /// The global scope was tripped, since this time (RFC 3339).
    pub global_tripped_since: Option<String>,
    /// The tenants that were tripped.
    pub tenants_tripped: Vec<String>,
}

/// The guard's checkpoint part could not be read.
#[derive(Debug, thiserror::Error)]
#[error("guard state: {0}")]
pub struct GuardSnapshotError(#[from] serde_json::Error);

fn prune(times: &mut VecDeque<i64>, now_ms: i64) {
    while times.front().is_some_and(|&t| t <= now_ms - DAY_MS) {
        times.pop_front();
    }
}

/// Admitted revocations inside the window ending at `now_ms`. Counting rather than taking the
/// length keeps an out-of-order event (earlier than the newest admitted one) honest.
fn in_window(times: &VecDeque<i64>, now_ms: i64, window_ms: i64) -> usize {
    times
        .iter()
        .filter(|&&t| t > now_ms - window_ms && t <= now_ms)
        .count()
}

impl Guard {
    /// A guard with these global-per-minute and per-tenant-per-hour limits, and the default
    /// hourly, daily and share limits. A limit of 0 disables automatic revocation entirely.
    pub fn new(max_per_minute: u32, max_per_tenant_per_hour: u32) -> Guard {
        let d = RevocationSettings::default();
        Guard::with_limits(GuardLimits {
            per_minute: max_per_minute,
            per_tenant_per_hour: max_per_tenant_per_hour,
            ..GuardLimits::from_settings(&d)
        })
    }

    /// A guard with `limits`.
    pub fn with_limits(limits: GuardLimits) -> Guard {
        Guard {
            limits,
            state: Arc::new(Mutex::new(GuardState::default())),
        }
    }

    /// [`Self::check`] on the clock the module doc describes: the event's time `event_ms`, held
    /// within [`EVENT_TIME_SLACK_MS`] before `now_ms`, the decision time.
    pub fn check_at(&self, alert: &mut Alert, event_ms: i64, now_ms: i64, extra: &mut Vec<Alert>) {
        let at = event_ms.clamp(now_ms.saturating_sub(EVENT_TIME_SLACK_MS), now_ms);
        self.check(alert, at, extra);
    }

    /// Admits `alert`'s revocation or strips it at `now_ms`; when a scope trips, pushes one critical
    /// alert for humans to `extra`. Alerts that do not ask for a revocation (or run in shadow
    /// mode) pass untouched and are not counted.
    pub fn check(&self, alert: &mut Alert, now_ms: i64, extra: &mut Vec<Alert>) {
        if !alert.wants_revocation() {
            return;
        }
        let tenant = alert.tenant.as_deref().unwrap_or("");
        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.checks = st.checks.wrapping_add(1);
        if st.checks % SWEEP_EVERY == 0 {
            st.tenants.retain(|_, w| {
                w.trip.is_some() || w.admitted.back().is_some_and(|&t| t > now_ms - DAY_MS)
            });
        }
        prune(&mut st.global, now_ms);
        // A tripped scope withholds until an operator resets it.
        let tripped = st
            .global_trip
            .as_ref()
            .or_else(|| st.tenants.get(tenant).and_then(|w| w.trip.as_ref()));
        if let Some(trip) = tripped {
            withhold(alert, trip);
            return;
        }
        let empty = VecDeque::new();
        let tenant_times = match st.tenants.get_mut(tenant) {
            Some(w) => {
                prune(&mut w.admitted, now_ms);
                &w.admitted
            }
            None => &empty,
        };
        let mut refused = None;
        for (window, all, _) in self.limits.windows() {
            let count = in_window(&st.global, now_ms, window.ms());
            if count >= all as usize {
                refused = Some(Limit {
                    tenant: None,
                    window,
                    count,
                    max: all,
                });
                break;
            }
        }
        if refused.is_none() {
            for (window, _, one) in self.limits.windows() {
                let count = in_window(tenant_times, now_ms, window.ms());
                if count >= one as usize {
                    refused = Some(Limit {
                        tenant: Some(tenant.to_string()),
                        window,
                        count,
                        max: one,
                    });
                    break;
                }
            }
        }
        let Some(limit) = refused else {
            st.global.push_back(now_ms);
            st.tenants
                .entry(tenant.to_string())
                .or_default()
                .admitted
                .push_back(now_ms);
            return;
        };
        let trip = Trip {
            since: now_ms,
            limit,
        };
        withhold(alert, &trip);
        extra.push(trip_alert(alert, &trip, now_ms));
        match trip.limit.tenant.clone() {
            None => st.global_trip = Some(trip),
            Some(t) => st.tenants.entry(t).or_default().trip = Some(trip),
        }
    }

    /// An operator acknowledges the trips: every scope is untripped and every window starts
    /// afresh. Returns what was tripped.
    pub fn reset(&self) -> GuardReset {
        let mut st = self.state.lock();
        let done = GuardReset {
            global_tripped_since: st.global_trip.as_ref().map(|t| rfc3339(t.since)),
            tenants_tripped: st
                .tenants
                .iter()
                .filter(|(_, w)| w.trip.is_some())
                .map(|(t, _)| t.clone())
                .collect(),
        };
        *st = GuardState::default();
        done
    }

    /// True when any scope is tripped.
    pub fn is_tripped(&self) -> bool {
        let st = self.state.lock();
        st.global_trip.is_some() || st.tenants.values().any(|w| w.trip.is_some())
    }

    /// Writes the windows and trips (a checkpoint part; JSON, tenants sorted).
    pub fn write_snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer(w, &*self.state.lock()).map_err(std::io::Error::other)
    }

    /// Replaces the windows and trips with a snapshot written by [`Self::write_snapshot`].
    pub fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), GuardSnapshotError> {
        let restored: GuardState = serde_json::from_reader(r)?;
        *self.state.lock() = restored;
        Ok(())
    }
}

/// Removes the revocation actions and says why, in numbers.
fn withhold(alert: &mut Alert, trip: &Trip) {
    let withheld: Vec<&'static str> = alert
        .actions
        .iter()
        .filter(|a| a.is_revocation())
        .map(|a| a.as_str())
        .collect();
    alert.actions.retain(|a| !a.is_revocation());
    if !alert.actions.contains(&ResponseAction::Alert) {
        alert.actions.insert(0, ResponseAction::Alert);
    }
    let l = &trip.limit;
    let (count, max, per) = (l.count, l.max, l.per());
    alert.reasons.push(Reason {
        feature: l.feature(),
        value: serde_json::json!(count),
        baseline: Some(format!("limit {max} automatic revocations {per}")),
        weight: None,
        text: format!(
            "automatic {} withheld by the blast-radius guard: {count} automatic revocations \
             {per} reached the limit {max} at {}; it stays tripped until an operator resets it \
             (POST /v1/guard/reset); revoke by hand if this is an attack",
            withheld.join(" and "),
            rfc3339(trip.since)
        ),
    });
}

/// The one critical alert of a trip. Its id depends only on the scope and the trip's start, so
/// a replay produces the same id.
fn trip_alert(cause: &Alert, trip: &Trip, now_ms: i64) -> Alert {
    let l = &trip.limit;
    let (count, max, per) = (l.count, l.max, l.per());
    let scope = match &l.tenant {
        None => "all".to_string(),
        Some(t) => format!("tenant:{t}"),
    };
    let start = trip.since;
    Alert {
        id: alert_id(GUARD_RULE, GUARD_ACCOUNT, &format!("{scope}@{start}")),
        rule: GUARD_RULE.to_string(),
        title: format!("Automatic revocations paused: {count} {per}, limit {max}"),
        severity: Severity::Critical,
        risk: 1.0,
        ts: rfc3339(start),
        detected_at: rfc3339(now_ms),
        account: GUARD_ACCOUNT.to_string(),
        tenant: l.tenant.clone().filter(|t| !t.is_empty()),
        session: None,
        ip: None,
        geo: None,
        device: None,
        reasons: vec![
            Reason {
                feature: l.feature(),
                value: serde_json::json!(count),
                baseline: Some(format!("limit {max} {per}")),
                weight: None,
                text: format!(
                    "{count} automatic revocations {per} reached the limit of {max}; alerts \
                     continue but sessions are not revoked automatically until an operator \
                     resets the guard (POST /v1/guard/reset)"
                ),
            },
            Reason {
                feature: "guard.first_withheld".into(),
                value: serde_json::json!(cause.id),
                baseline: None,
                weight: None,
                text: format!(
                    "first withheld revocation: alert {} ({}) on account {}; review the \
                     alerts and revoke by hand where they are attacks",
                    cause.id, cause.rule, cause.account
                ),
            },
        ],
        actions: vec![ResponseAction::Alert],
        mitre: Vec::new(),
        events: cause.events.clone(),
        mode: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: usize, tenant: &str) -> Alert {
        Alert {
            id: format!("al_{n}"),
            rule: "r".into(),
            title: "t".into(),
            severity: Severity::High,
            risk: 0.9,
            ts: "2025-11-10T23:31:02Z".into(),
            detected_at: "2025-11-10T23:31:02Z".into(),
            account: format!("a{n}"),
            tenant: Some(tenant.into()),
            session: Some(format!("s{n}")),
            ip: None,
            geo: None,
            device: None,
            reasons: vec![],
            actions: vec![ResponseAction::Alert, ResponseAction::RevokeSession],
            mitre: vec![],
            events: vec![],
            mode: None,
        }
    }

    #[test]
    fn per_tenant_limit_trips_once_and_spares_other_tenants() {
        let g = Guard::new(100, 2);
        let mut extra = Vec::new();
        let mut kept = 0;
        for i in 0..5 {
            let mut a = alert(i, "t1");
            g.check(&mut a, 1_000 + i as i64, &mut extra);
            kept += a.wants_revocation() as usize;
        }
        assert_eq!(kept, 2);
        assert_eq!(extra.len(), 1);
        assert_eq!(extra[0].tenant.as_deref(), Some("t1"));
        let mut other = alert(9, "t2");
        g.check(&mut other, 2_000, &mut extra);
        assert!(other.wants_revocation());
    }

    #[test]
    fn a_trip_holds_after_its_window_until_reset_then_a_new_trip_gets_a_new_id() {
        let g = Guard::new(1, 100);
        let mut extra = Vec::new();
        for (i, t) in [0, 10, 20].into_iter().enumerate() {
            g.check(&mut alert(i, "t"), t, &mut extra);
        }
        assert_eq!(extra.len(), 1);
        // A minute later the guard is still tripped: nothing is admitted, nothing new is said.
        let mut a = alert(7, "t");
        g.check(&mut a, 61_000, &mut extra);
        assert!(!a.wants_revocation());
        assert_eq!(extra.len(), 1);
        assert!(g.is_tripped());
        let done = g.reset();
        assert!(done.global_tripped_since.is_some());
        assert!(!g.is_tripped());
        let mut b = alert(8, "t");
        g.check(&mut b, 61_001, &mut extra);
        assert!(b.wants_revocation(), "admitted again after the reset");
        g.check(&mut alert(9, "t"), 61_002, &mut extra);
        assert_eq!(extra.len(), 2);
        assert_ne!(extra[0].id, extra[1].id);
    }

    #[test]
    fn shares_round_up_and_never_exceed_the_tenant_hourly_cap() {
        let l = GuardLimits {
            per_minute: 20,
            per_hour: 100,
            per_day: 300,
            per_tenant_per_hour: 10,
            tenant_share_percent: 25,
        };
        assert_eq!(
            l.windows().map(|(_, all, one)| (all, one)),
            [(20, 5), (100, 10), (300, 75)]
        );
        assert_eq!(l.share(2), 1, "at least one");
        assert_eq!(l.share(0), 0, "0 disables");
    }

    #[test]
    fn shadow_alerts_are_neither_counted_nor_stripped() {
        let g = Guard::new(0, 0);
        let mut a = alert(1, "t");
        a.mode = Some("shadow".into());
        let mut extra = Vec::new();
        g.check(&mut a, 0, &mut extra);
        assert!(a.actions.contains(&ResponseAction::RevokeSession));
        assert!(extra.is_empty());
    }
}
