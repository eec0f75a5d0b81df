//! The blast-radius guard (issue 6): being built.

use crate::alert::Alert;

/// Caps automatic revocations per minute and per tenant per hour, in event time.
pub struct Guard {}

impl Guard {
    /// A guard with these limits.
    pub fn new(_max_per_minute: u32, _max_per_tenant_per_hour: u32) -> Guard {
        Guard {}
    }

    /// Admits `alert`'s revocation or strips it; when the guard trips, pushes one critical
    /// alert for humans to `extra`.
    pub fn check(&self, _alert: &mut Alert, _now_ms: i64, _extra: &mut Vec<Alert>) {}
}
