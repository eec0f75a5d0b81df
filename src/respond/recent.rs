//! The recent-alerts log behind `GET /v1/alerts` and feedback: a bounded ring of the last
//! alerts, each with a cursor, indexed by alert id. It also de-duplicates: an alert whose id is
//! already here (a replayed detection) is not acted on twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::alert::{Alert, Verdict};

/// One alert as the API lists it.
#[derive(Debug)]
pub struct RecentAlert {
    /// Position in the log; pass it back as `since` to read what follows.
    pub cursor: u64,
    /// The alert.
    pub alert: Alert,
    /// The analyst's verdict, once given.
    pub verdict: parking_lot::Mutex<Option<Verdict>>,
}

/// Which alerts to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlertQuery<'a> {
    /// Only alerts after this cursor.
    pub since_cursor: Option<u64>,
    /// Only alerts whose event time is at or after this (epoch ms).
    pub since_ms: Option<i64>,
    /// Only this account's alerts.
    pub account: Option<&'a str>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Arc<RecentAlert>>,
    by_id: HashMap<String, Arc<RecentAlert>, ahash::RandomState>,
    last_cursor: u64,
}

/// The last `capacity` alerts. `Send + Sync`; share it as an `Arc`.
pub struct RecentAlerts {
    capacity: usize,
    // A plain RwLock: every method is short and synchronous.
    ring: RwLock<Ring>,
}

impl RecentAlerts {
    /// Keeps at most `capacity` alerts (at least one).
    pub fn new(capacity: usize) -> RecentAlerts {
        RecentAlerts {
            capacity: capacity.max(1),
            ring: RwLock::new(Ring::default()),
        }
    }

    /// Records `alert`; returns `None` when an alert with the same id is already recorded.
    pub fn push(&self, alert: Alert) -> Option<Arc<RecentAlert>> {
        let mut ring = self.ring.write();
        if ring.by_id.contains_key(&alert.id) {
            return None;
        }
        ring.last_cursor += 1;
        let entry = Arc::new(RecentAlert {
            cursor: ring.last_cursor,
            alert,
            verdict: parking_lot::Mutex::new(None),
        });
        ring.by_id.insert(entry.alert.id.clone(), entry.clone());
        ring.entries.push_back(entry.clone());
        while ring.entries.len() > self.capacity {
            if let Some(old) = ring.entries.pop_front() {
                ring.by_id.remove(&old.alert.id);
            }
        }
        Some(entry)
    }

    /// The alert with this id, if still recorded.
    pub fn get(&self, id: &str) -> Option<Arc<RecentAlert>> {
        self.ring.read().by_id.get(id).cloned()
    }

    /// Alerts matching `q`, oldest first, at most `limit`, into `out`. Returns the cursor to
    /// pass as `since` next time.
    pub fn list(&self, q: AlertQuery<'_>, limit: usize, out: &mut Vec<Arc<RecentAlert>>) -> u64 {
        let ring = self.ring.read();
        let since = q.since_cursor.unwrap_or(0);
        // Cursors are consecutive in the ring, so the first wanted entry is found by offset.
        let first = ring.entries.front().map_or(0, |e| e.cursor);
        let skip = since.saturating_add(1).saturating_sub(first) as usize;
        let mut next = since.max(first.saturating_sub(1));
        for e in ring.entries.iter().skip(skip) {
            if out.len() >= limit {
                break;
            }
            next = e.cursor;
            if q.account.is_some_and(|a| a != e.alert.account) {
                continue;
            }
            if let Some(t) = q.since_ms {
                if crate::timefmt::parse_rfc3339(&e.alert.ts).is_some_and(|ts| ts < t) {
                    continue;
                }
            }
            out.push(e.clone());
        }
        next
    }

    /// Alerts recorded.
    pub fn len(&self) -> usize {
        self.ring.read().entries.len()
    }

    /// True when none are recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{ResponseAction, Severity};

    pub(crate) fn alert(id: &str, account: &str) -> Alert {
        Alert {
            id: id.into(),
            rule: "r".into(),
            title: "t".into(),
            severity: Severity::High,
            risk: 0.9,
            ts: "2025-11-10T23:31:02Z".into(),
            detected_at: "2025-11-10T23:31:02Z".into(),
            account: account.into(),
            tenant: None,
            session: None,
            ip: None,
            geo: None,
            device: None,
            reasons: vec![],
            actions: vec![ResponseAction::Alert],
            mitre: vec![],
            events: vec![],
            mode: None,
        }
    }

    #[test]
    fn duplicates_are_refused_and_the_ring_is_bounded() {
        let r = RecentAlerts::new(2);
        assert!(r.push(alert("a", "x")).is_some());
        assert!(r.push(alert("a", "x")).is_none());
        r.push(alert("b", "y"));
        r.push(alert("c", "x"));
        assert!(r.get("a").is_none());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn cursor_paging_and_account_filter() {
        let r = RecentAlerts::new(10);
        for (i, acc) in ["x", "y", "x", "x"].iter().enumerate() {
            r.push(alert(&format!("a{i}"), acc));
        }
        let mut out = Vec::new();
        let q = AlertQuery {
            account: Some("x"),
            ..Default::default()
        };
        let next = r.list(q, 2, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(next, 3);
        out.clear();
        let next = r.list(
            AlertQuery {
                since_cursor: Some(next),
                ..q
            },
            2,
            &mut out,
        );
        assert_eq!((out.len(), next), (1, 4));
        assert_eq!(out[0].alert.id, "a3");
    }
}
