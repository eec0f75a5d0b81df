//! The blast-radius guard: caps *automatic* revocations so that a detection bug, a bad rule or
//! an attacker provoking alerts cannot log out a whole customer base (README.md, "Responses").
//!
//! Two sliding windows in event time (`now_ms`, so replay is deterministic): revocations admitted
//! in the last minute across all tenants, and per tenant in the last hour. An alert whose
//! revocation would exceed either limit keeps alerting but loses its `revoke_*` actions, with a
//! reason giving the numbers. The first refusal in a scope (all tenants, or one tenant) opens a
//! *trip window* as long as that scope's sliding window, and raises exactly one critical alert
//! for humans; further refusals in the same trip window are silent apart from their own reason.
//! Manual revocations through the API never pass here.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::alert::{alert_id, Alert, Reason, ResponseAction, Severity};
use crate::timefmt::rfc3339;

/// The rule id of the guard's own alert.
pub const GUARD_RULE: &str = "tocsin.guard.revocation_limit";

/// The `account` of the guard's alert: it is about the engine, not one account.
pub const GUARD_ACCOUNT: &str = "*";

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Every how many checks idle tenants are forgotten, so the map stays bounded by the tenants
/// with revocations in the last hour.
const SWEEP_EVERY: u32 = 1024;

/// Caps automatic revocations per minute (all tenants) and per tenant per hour, in event time.
pub struct Guard {
    max_per_minute: u32,
    max_per_tenant_per_hour: u32,
    // A plain mutex: `check` is synchronous, short and never held across `.await`.
    state: Mutex<GuardState>,
}

#[derive(Default)]
struct GuardState {
    /// Times of revocations admitted in the last minute, oldest first.
    global: VecDeque<i64>,
    /// Start of the current global trip window, if one is open.
    global_trip: Option<i64>,
    tenants: HashMap<String, TenantWindow>,
    checks: u32,
}

#[derive(Default)]
struct TenantWindow {
    /// Times of revocations admitted for this tenant in the last hour, oldest first.
    admitted: VecDeque<i64>,
    /// Start of the current trip window for this tenant, if one is open.
    trip: Option<i64>,
}

/// Which limit refused a revocation.
#[derive(Clone, Copy)]
enum Limit {
    Global { count: usize },
    Tenant { count: usize },
}

fn prune(times: &mut VecDeque<i64>, now_ms: i64, window_ms: i64) {
    while times.front().is_some_and(|&t| t <= now_ms - window_ms) {
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
    /// A guard with these limits. A limit of 0 disables automatic revocation entirely.
    pub fn new(max_per_minute: u32, max_per_tenant_per_hour: u32) -> Guard {
        Guard {
            max_per_minute,
            max_per_tenant_per_hour,
            state: Mutex::new(GuardState::default()),
        }
    }

    /// Admits `alert`'s revocation or strips it; when the guard trips, pushes one critical
    /// alert for humans to `extra`. Alerts that do not ask for a revocation (or run in shadow
    /// mode) pass untouched and are not counted.
    pub fn check(&self, alert: &mut Alert, now_ms: i64, extra: &mut Vec<Alert>) {
        if !alert.wants_revocation() {
            return;
        }
        let mut st = self.state.lock();
        st.checks = st.checks.wrapping_add(1);
        if st.checks % SWEEP_EVERY == 0 {
            st.tenants.retain(|_, w| {
                w.admitted.back().is_some_and(|&t| t > now_ms - HOUR_MS)
                    || w.trip.is_some_and(|t| t > now_ms - HOUR_MS)
            });
        }
        prune(&mut st.global, now_ms, MINUTE_MS);
        let global = in_window(&st.global, now_ms, MINUTE_MS);
        let tenant_count = match alert.tenant.as_deref() {
            Some(t) => {
                if !st.tenants.contains_key(t) {
                    st.tenants.insert(t.to_string(), TenantWindow::default());
                }
                let Some(w) = st.tenants.get_mut(t) else {
                    return;
                };
                prune(&mut w.admitted, now_ms, HOUR_MS);
                Some(in_window(&w.admitted, now_ms, HOUR_MS))
            }
            None => None,
        };

        let refused = if global >= self.max_per_minute as usize {
            Some(Limit::Global { count: global })
        } else {
            match tenant_count {
                Some(c) if c >= self.max_per_tenant_per_hour as usize => {
                    Some(Limit::Tenant { count: c })
                }
                _ => None,
            }
        };

        let Some(limit) = refused else {
            st.global.push_back(now_ms);
            if let Some(t) = alert.tenant.as_deref() {
                if let Some(w) = st.tenants.get_mut(t) {
                    w.admitted.push_back(now_ms);
                }
            }
            return;
        };

        self.withhold(alert, limit);
        // Open a trip window if none is open for this scope; only then tell humans.
        let trip_start = match limit {
            Limit::Global { .. } => open_trip(&mut st.global_trip, now_ms, MINUTE_MS),
            Limit::Tenant { .. } => {
                let t = alert.tenant.as_deref().unwrap_or_default();
                st.tenants
                    .get_mut(t)
                    .and_then(|w| open_trip(&mut w.trip, now_ms, HOUR_MS))
            }
        };
        if let Some(start) = trip_start {
            extra.push(self.trip_alert(alert, limit, start, now_ms));
        }
    }

    /// Removes the revocation actions and says why, in numbers.
    fn withhold(&self, alert: &mut Alert, limit: Limit) {
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
        let (feature, count, max, per) = self.numbers(alert, limit);
        alert.reasons.push(Reason {
            feature: feature.into(),
            value: serde_json::json!(count),
            baseline: Some(format!("limit {max} automatic revocations {per}")),
            weight: None,
            text: format!(
                "automatic {} withheld by the blast-radius guard: {count} automatic revocations \
                 {per} already, limit {max}; revoke by hand if this is an attack",
                withheld.join(" and ")
            ),
        });
    }

    fn numbers(&self, alert: &Alert, limit: Limit) -> (&'static str, usize, u32, String) {
        match limit {
            Limit::Global { count } => (
                "guard.revocations_last_minute",
                count,
                self.max_per_minute,
                "in the last minute across all tenants".to_string(),
            ),
            Limit::Tenant { count } => (
                "guard.tenant_revocations_last_hour",
                count,
                self.max_per_tenant_per_hour,
                format!(
                    "in the last hour for tenant {}",
                    alert.tenant.as_deref().unwrap_or("")
                ),
            ),
        }
    }

    /// The one critical alert of a trip window. Its id depends only on the scope and the
    /// window's start, so a replay produces the same id.
    fn trip_alert(&self, cause: &Alert, limit: Limit, start: i64, now_ms: i64) -> Alert {
        let (feature, count, max, per) = self.numbers(cause, limit);
        let (scope, tenant, window) = match limit {
            Limit::Global { .. } => ("all".to_string(), None, "1 minute"),
            Limit::Tenant { .. } => (
                format!("tenant:{}", cause.tenant.as_deref().unwrap_or("")),
                cause.tenant.clone(),
                "1 hour",
            ),
        };
        let at = rfc3339(now_ms);
        Alert {
            id: alert_id(GUARD_RULE, GUARD_ACCOUNT, &format!("{scope}@{start}")),
            rule: GUARD_RULE.to_string(),
            title: format!("Automatic revocations paused: {count} {per}, limit {max}"),
            severity: Severity::Critical,
            risk: 1.0,
            ts: rfc3339(start),
            detected_at: at,
            account: GUARD_ACCOUNT.to_string(),
            tenant,
            session: None,
            ip: None,
            geo: None,
            device: None,
            reasons: vec![
                Reason {
                    feature: feature.into(),
                    value: serde_json::json!(count),
                    baseline: Some(format!("limit {max} {per}")),
                    weight: None,
                    text: format!(
                        "{count} automatic revocations {per} reached the limit of {max}; \
                         for the next {window} alerts continue but sessions are not revoked \
                         automatically"
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
}

/// Opens a trip window at `now_ms` unless one is open; returns its start when newly opened.
fn open_trip(trip: &mut Option<i64>, now_ms: i64, window_ms: i64) -> Option<i64> {
    match *trip {
        Some(start) if now_ms >= start && now_ms < start + window_ms => None,
        _ => {
            *trip = Some(now_ms);
            Some(now_ms)
        }
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
    fn window_slides_and_a_new_trip_gets_a_new_id() {
        let g = Guard::new(1, 100);
        let mut extra = Vec::new();
        for (i, t) in [0, 10, 20].into_iter().enumerate() {
            g.check(&mut alert(i, "t"), t, &mut extra);
        }
        assert_eq!(extra.len(), 1);
        // A minute later one more is admitted, then the next refusal opens a new window.
        let mut a = alert(7, "t");
        g.check(&mut a, 61_000, &mut extra);
        assert!(a.wants_revocation());
        g.check(&mut alert(8, "t"), 61_001, &mut extra);
        assert_eq!(extra.len(), 2);
        assert_ne!(extra[0].id, extra[1].id);
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
