//! Analyst verdicts: the store remembers what each recent alert was about (the exact keys of
//! its account, place, network and device) so that a verdict on it reaches the right values
//! at once: `false_positive` learns them, `confirmed_compromise` removes them from the
//! account's tables and its values held back.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use xxhash_rust::xxh3::xxh3_64;

use super::{Keys, PreHashed, Store};
use crate::alert::{Alert, Verdict};
use crate::baseline::{
    city_key, country_key, day_of, device_key, name_key64, prefix_key, PendingKind,
};
use crate::event::canonical_ip;

/// Alerts remembered for feedback: as many as the API's default alert history (`[api]
/// recent_alerts`), since feedback is only taken on an alert still in that history; for older
/// ones (or after a restart) feedback reads the values from the alert itself. The table is
/// allocated whole at start ([`memos`]), so it does not grow with alerts.
const MEMO_CAP: usize = 10_000;

/// What an alert was about, kept so feedback can find the exact values again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Memo {
    account: u64,
    country: Option<u32>,
    city: Option<u32>,
    asn: Option<u32>,
    prefix: Option<u32>,
    device: Option<u32>,
}

/// Alerts remembered for feedback, by the xxh3 hash of the alert id (8-byte keys instead of
/// two copies of each id), with their order of arrival, oldest first.
pub(super) type Memos = (
    HashMap<u64, Memo, BuildHasherDefault<PreHashed>>,
    VecDeque<u64>,
);

/// An empty memo table, allocated whole.
pub(super) fn memos() -> Memos {
    // Twice the cap: a table that keeps deleting and inserting at its cap rehashes in place
    // only while at most half full; sized so, it never grows after start.
    (
        HashMap::with_capacity_and_hasher(2 * MEMO_CAP, Default::default()),
        VecDeque::with_capacity(MEMO_CAP + 1),
    )
}

/// Bytes of the memo table: per remembered alert, a map slot (key, memo, control byte) and a
/// queue slot.
pub(super) fn memos_bytes(m: &Memos) -> usize {
    m.0.capacity() * (8 + std::mem::size_of::<Memo>() + 1) + m.1.capacity() * 8
}

/// A verdict that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// The alert is about another account than it says (its id was reused or tampered with).
    #[error("alert {alert} does not belong to account {account}")]
    NotThisAccount {
        /// The alert id.
        alert: String,
        /// The account the alert names.
        account: String,
    },
    /// The alert's `ts` is not an RFC 3339 time.
    #[error("alert {alert}: bad ts `{ts}`")]
    BadTimestamp {
        /// The alert id.
        alert: String,
        /// Its `ts`.
        ts: String,
    },
}

impl Store {
    /// Remembers what `alerts`, just raised on the event with keys `k`, were about.
    pub fn remember_alerts(&self, k: &Keys, alerts: &[Alert]) {
        if alerts.is_empty() {
            return;
        }
        let memo = Memo {
            account: k.account,
            country: k.country,
            city: k.city,
            asn: k.asn,
            prefix: k.prefix,
            device: k.device,
        };
        let mut m = self.memos.lock();
        for a in alerts {
            let id = xxh3_64(a.id.as_bytes());
            if m.0.insert(id, memo).is_none() {
                m.1.push_back(id);
            }
        }
        while m.1.len() > MEMO_CAP {
            if let Some(old) = m.1.pop_front() {
                m.0.remove(&old);
            }
        }
    }

    /// An identity provider's word that `account`'s password leaked, at `at_ms`: its logins
    /// carry the credential family of evidence until a password change or 90 days
    /// (`account.credential_leaked`). False when the account has no baseline: there is no
    /// login of it to judge yet, and an unknown name must not make the store grow.
    pub fn credential_leaked(&self, account: &str, at_ms: i64) -> bool {
        let Some(mut a) = self.accounts.get_mut(&name_key64(account)) else {
            return false;
        };
        a.windows.extra.leaked_s = super::super::secs_of(at_ms).max(1);
        true
    }

    /// Applies an analyst's verdict on an alert at once: `false_positive` learns the alert's
    /// device, place, ASN and network for that account; `confirmed_compromise` removes them
    /// from the account's tables and held-back values.
    pub fn feedback(&self, alert: &Alert, verdict: Verdict) -> Result<(), FeedbackError> {
        // Another alert's id hashing alike would fail the account check below, not mislearn.
        let memo = self
            .memos
            .lock()
            .0
            .get(&xxh3_64(alert.id.as_bytes()))
            .copied();
        // Not remembered (older than the memo, or from before a restart): use what the alert
        // itself says.
        let memo = memo.unwrap_or_else(|| memo_of(alert));
        if memo.account != name_key64(&alert.account) {
            return Err(FeedbackError::NotThisAccount {
                alert: alert.id.clone(),
                account: alert.account.clone(),
            });
        }
        let today = crate::timefmt::parse_rfc3339(&alert.ts)
            .map(day_of)
            .ok_or_else(|| FeedbackError::BadTimestamp {
                alert: alert.id.clone(),
                ts: alert.ts.clone(),
            })?;
        let mut a = self.accounts.entry(memo.account).or_default();
        let values = [
            (PendingKind::Country, memo.country),
            (PendingKind::City, memo.city),
            (PendingKind::Asn, memo.asn),
            (PendingKind::Prefix, memo.prefix),
            (PendingKind::Device, memo.device),
        ];
        // Lock order: `accounts`, then `pending`.
        let mut held = self.pending.get_mut(&memo.account);
        for (kind, key) in values {
            let Some(key) = key else { continue };
            if let Some(p) = held.as_mut() {
                p.drop_pending(kind, key);
            }
            match verdict {
                Verdict::FalsePositive => a.table_mut(kind).add(key, 2.0, today),
                Verdict::ConfirmedCompromise => a.table_mut(kind).remove(key),
            }
        }
        let emptied = held.as_ref().is_some_and(|p| p.is_empty());
        drop(held);
        if emptied {
            self.pending.remove_if(&memo.account, |_, p| p.is_empty());
        }
        Ok(())
    }
}

/// The values an alert shows, as keys: its account, place, network and device.
fn memo_of(alert: &Alert) -> Memo {
    let g = alert.geo.clone().unwrap_or_default();
    let country = g.country.as_deref().and_then(crate::enrich::Country::parse);
    Memo {
        account: name_key64(&alert.account),
        country: country.map(country_key),
        city: match (country, g.city.as_deref()) {
            (Some(c), Some(city)) => Some(city_key(c, city)),
            _ => None,
        },
        asn: g.asn,
        prefix: alert.ip.map(|ip| prefix_key(canonical_ip(ip))),
        device: alert
            .device
            .as_ref()
            .and_then(|d| d.id.as_deref())
            .map(
                |id| match id.strip_prefix("fp_").map(|h| u64::from_str_radix(h, 16)) {
                    Some(Ok(fp)) => fp,
                    // Not a user-agent fingerprint: the event's own device_id.
                    _ => crate::enrich::device::device_id_fingerprint(id),
                },
            )
            .filter(|&fp| fp != 0)
            .map(device_key),
    }
}
