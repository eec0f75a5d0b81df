//! The recent-alerts log behind `GET /v1/alerts` and feedback: a bounded ring of the last
//! alerts, each with a cursor, indexed by alert id. It also de-duplicates: an alert whose id is
//! already here (a replayed detection) is not acted on twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::value::RawValue;

use crate::alert::Alert;

/// One alert as the API lists it, held compactly: the alert's JSON (what the API returns, about
/// half the memory of the parsed [`Alert`]) and the few fields the listing filters on.
#[derive(Debug)]
pub struct RecentAlert {
    /// Position in the log; pass it back as `since` to read what follows.
    pub cursor: u64,
    id: Arc<str>,
    account: Box<str>,
    /// The alert's event time (epoch ms), when its `ts` parses.
    ts_ms: Option<i64>,
    json: Box<RawValue>,
}

impl RecentAlert {
    /// The alert's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The account the alert is about.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The alert as JSON ([`Alert::to_json`]), exactly as it was raised.
    pub fn json(&self) -> &RawValue {
        &self.json
    }

    /// The alert, parsed back (for feedback).
    pub fn alert(&self) -> Result<Alert, serde_json::Error> {
        serde_json::from_str(self.json.get())
    }
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
    /// Alert id → cursor; the key shares the entry's id.
    by_id: HashMap<Arc<str>, u64, ahash::RandomState>,
    last_cursor: u64,
}

impl Ring {
    fn at(&self, cursor: u64) -> Option<&Arc<RecentAlert>> {
        let first = self.entries.front()?.cursor;
        self.entries.get(cursor.checked_sub(first)? as usize)
    }
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
        let capacity = capacity.max(1);
        // Allocated whole at start, so memory does not creep as the history fills: the id
        // index at twice the capacity, as a table that deletes and inserts at its cap rehashes
        // in place only while at most half full.
        RecentAlerts {
            capacity,
            ring: RwLock::new(Ring {
                entries: VecDeque::with_capacity(capacity + 1),
                by_id: HashMap::with_capacity_and_hasher(2 * capacity, Default::default()),
                last_cursor: 0,
            }),
        }
    }

    /// Records `alert`; returns false when an alert with the same id is already recorded.
    pub fn push(&self, alert: &Alert) -> Result<bool, serde_json::Error> {
        if self.ring.read().by_id.contains_key(alert.id.as_str()) {
            return Ok(false);
        }
        // Serialised outside the lock; the check is repeated under it.
        let json = serde_json::value::to_raw_value(alert)?;
        let id: Arc<str> = Arc::from(alert.id.as_str());
        let mut ring = self.ring.write();
        if ring.by_id.contains_key(&id) {
            return Ok(false);
        }
        ring.last_cursor += 1;
        let cursor = ring.last_cursor;
        ring.by_id.insert(id.clone(), cursor);
        ring.entries.push_back(Arc::new(RecentAlert {
            cursor,
            id,
            account: alert.account.as_str().into(),
            ts_ms: crate::timefmt::parse_rfc3339(&alert.ts),
            json,
        }));
        while ring.entries.len() > self.capacity {
            if let Some(old) = ring.entries.pop_front() {
                ring.by_id.remove(&old.id);
            }
        }
        Ok(true)
    }

    /// The alert with this id, if still recorded.
    pub fn get(&self, id: &str) -> Option<Arc<RecentAlert>> {
        let ring = self.ring.read();
        let cursor = *ring.by_id.get(id)?;
        ring.at(cursor).cloned()
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
            if q.account.is_some_and(|a| a != e.account()) {
                continue;
            }
            if let (Some(t), Some(ts)) = (q.since_ms, e.ts_ms) {
                if ts < t {
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
        assert!(r.push(&alert("a", "x")).unwrap());
        assert!(!r.push(&alert("a", "x")).unwrap());
        r.push(&alert("b", "y")).unwrap();
        r.push(&alert("c", "x")).unwrap();
        assert!(r.get("a").is_none());
        assert_eq!(r.len(), 2);
        // The id that fell out may be recorded again; the others are found by id.
        assert!(r.push(&alert("a", "z")).unwrap());
        assert!(r.get("b").is_none());
        assert_eq!(r.get("c").unwrap().account(), "x");
        assert_eq!(r.get("a").unwrap().account(), "z");
    }

    #[test]
    fn cursor_paging_and_account_filter() {
        let r = RecentAlerts::new(10);
        for (i, acc) in ["x", "y", "x", "x"].iter().enumerate() {
            r.push(&alert(&format!("a{i}"), acc)).unwrap();
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
        assert_eq!(out[0].id(), "a3");
    }

    #[test]
    fn the_alert_comes_back_as_it_was_raised() {
        let r = RecentAlerts::new(4);
        let mut a = alert("a", "x");
        a.session = Some("s-1".into());
        r.push(&a).unwrap();
        let e = r.get("a").unwrap();
        assert_eq!(e.alert().unwrap(), a);
        assert_eq!(e.json().get(), serde_json::to_string(&a).unwrap());
    }

    #[test]
    fn since_time_filters_on_the_event_time() {
        let r = RecentAlerts::new(4);
        let mut early = alert("early", "x");
        early.ts = "2025-11-10T08:00:00Z".into();
        r.push(&early).unwrap();
        r.push(&alert("late", "x")).unwrap();
        let mut out = Vec::new();
        let q = AlertQuery {
            since_ms: crate::timefmt::parse_rfc3339("2025-11-10T12:00:00Z"),
            ..Default::default()
        };
        assert_eq!(r.list(q, 10, &mut out), 2);
        assert_eq!(out.iter().map(|e| e.id()).collect::<Vec<_>>(), ["late"]);
    }
}
