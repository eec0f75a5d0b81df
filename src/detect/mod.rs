//! Detection: for each event, read the account's state from the store ([`crate::baseline::store`]),
//! compute the features ([`features`]) and the login risk ([`risk`]), evaluate the rules
//! ([`rules`]), build explained alerts ([`explain`]), then ask the store to learn from the event.
//!
//! This module is the driver and stops there: the maps, their lock order, what is learned and
//! what is held back, eviction, snapshots and analyst feedback belong to the store
//! ([`crate::baseline::store::learn`] says what is learned, and what is not).
//!
//! # Concurrency
//!
//! `process(&self)` reads the account's baseline and sessions in place
//! ([`crate::baseline::store::AccountRead`]): their shared guards are held while the features,
//! rules and alerts are computed, and released before learning. The store's lock order
//! (`accounts`, then `sessions`, then any other map) keeps the worker threads from
//! deadlocking. Replay is single-threaded and deterministic: nothing iterates a hash map into
//! the output.

use crate::alert::{Alert, Severity, Verdict};
use crate::baseline::account::hour_bucket;
use crate::baseline::store::{AccountRead, AccountView, Keys, Learning, Store, StoreStats};
use crate::enrich::Enriched;
use crate::event::{Event, EventKind};
use crate::timefmt::hour_of_week;

pub mod explain;
pub mod features;
pub mod risk;
pub mod rules;
pub mod value;

/// `[detect]` lives with the rest of the configuration; re-exported where it is used.
pub use crate::settings::DetectSettings;

pub use crate::baseline::store::{FeedbackError, SnapshotError, SNAPSHOT_VERSION};
use explain::{Evidence, NameTable};
use features::compute::{self, Before, NetworkLists};
use features::FEATURES;
use risk::{LoginKeys, RiskScore};
use rules::{Mode, RuleErrors, RuleSet};

/// Detection that cannot start (bad rules).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The rules directory has problems (every one, by file and line).
    #[error("{0}")]
    Rules(#[from] RuleErrors),
}

/// Rules, risk and the state store. `Send + Sync`.
pub struct Detector {
    rules: RuleSet,
    /// Per rule (same order), the event kinds it can fire on: bit `EventKind as u8`.
    rule_kinds: Vec<u8>,
    settings: DetectSettings,
    store: Store,
    /// The lists evidence families read, from the rules directory.
    network_lists: NetworkLists,
}

impl Detector {
    /// Loads the rules and builds empty baselines.
    pub fn from_settings(
        rules: &crate::settings::RulesSettings,
        detect: &DetectSettings,
    ) -> Result<Detector, DetectError> {
        let set = match &rules.dir {
            Some(dir) => rules::load_dir(dir, &rules.maturity, FEATURES)?,
            None => rules::load_built_in(&rules.maturity, FEATURES)?,
        };
        tracing::info!(
            rules = set.rules.len(),
            from = %rules.dir.as_deref().unwrap_or(rules::BUILT_IN_ROOT.as_ref()).display(),
            "rules loaded"
        );
        Ok(Detector::with_rules(set, detect))
    }

    /// A detector over already-loaded rules.
    pub fn with_rules(rules: RuleSet, detect: &DetectSettings) -> Detector {
        if jiff::tz::TimeZone::get(&detect.default_timezone).is_err() {
            tracing::warn!(
                zone = %detect.default_timezone,
                "unknown detect.default_timezone; hours will be computed in UTC"
            );
        }
        let rule_kinds = rules
            .rules
            .iter()
            .map(|r| kind_mask(r.when.required()))
            .collect();
        let longest_suppress_ms = rules
            .rules
            .iter()
            .map(|r| r.suppress_ms)
            .max()
            .unwrap_or(0)
            .max(10 * 60_000);
        Detector {
            network_lists: NetworkLists::of(&rules.lists),
            rules,
            rule_kinds,
            settings: detect.clone(),
            store: Store::new(
                detect.max_accounts,
                &detect.default_timezone,
                longest_suppress_ms,
            ),
        }
    }

    /// The loaded rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Updates baselines with one event and appends the alerts it raises to `out`. `now_ms` is
    /// the decision time (event time in replay).
    pub fn process(&self, ev: &Event<'_>, enr: &Enriched, now_ms: i64, out: &mut Vec<Alert>) {
        let k = Keys::of(ev, enr);
        // Failures are counted first, so the features include this attempt.
        if ev.is_login_failure() {
            self.store.count_failure(&k);
        }
        // Read in place: the guards are held (shared) until learning.
        let state = self.store.read(k.account);
        let b = self.before(ev, enr, &k, &state);
        let (f, derived) = compute::compute(ev, enr, &k, &b, &self.network_lists);
        let names = |t: NameTable, key: u32| self.store.name(t, key);
        let evidence = Evidence {
            ev,
            enr,
            feats: &f,
            acct: b.acct,
            risk: b.risk,
            risk_score: derived.risk_score,
            today: k.today,
            learning_logins: self.settings.learning_logins,
            names: &names,
            session: derived.this_session,
        };
        let first_alert = out.len();
        let worst = self.fire(&evidence, k.account, now_ms, out);
        self.store.remember_alerts(&k, &out[first_alert..]);

        let learning = Learning {
            ev,
            enr,
            keys: &k,
            hour_bucket: b.bucket,
            risk: derived.risk_score,
            families: derived.families,
            flagged: worst.is_some_and(|s| s >= Severity::High),
            away_network: derived.away_network,
            new_account: !b.existing,
            windows: derived.windows,
        };
        // Learning takes the maps' entries again: the guards go first.
        drop(state);
        self.store.learn(&learning);
    }

    /// What the features are computed from: the account's state before the event, its local
    /// hour, its login risk and the shared counters.
    fn before<'s>(
        &self,
        ev: &Event<'_>,
        enr: &Enriched,
        k: &Keys,
        state: &'s AccountRead<'_>,
    ) -> Before<'s> {
        let acct = state.baseline();
        let offset = self.store.zones().offset_min(acct.tz, ev.ts_ms);
        let how = hour_of_week(ev.ts_ms, offset);
        let is_auth = matches!(ev.kind, EventKind::Login | EventKind::Mfa);
        let (risk, pop_country, pop_asn) = self.store.with_population(|pop| {
            let r = if is_auth {
                risk::score(
                    acct,
                    pop,
                    &LoginKeys {
                        prefix: k.prefix,
                        asn: k.asn,
                        country: k.country,
                        fingerprint: enr.device.fingerprint,
                        browser: k.browser,
                        os: k.os,
                        kind: enr.device.kind,
                        hour_of_week: how,
                    },
                    k.today,
                )
            } else {
                RiskScore::default()
            };
            (
                r,
                k.country.map(|c| pop.countries.share(c)),
                k.asn.map(|a| pop.asns.share(a)),
            )
        });
        Before {
            acct,
            existing: state.existing(),
            sessions: state.sessions(),
            learning: acct.learning(self.settings.learning_logins),
            how,
            bucket: hour_bucket(how),
            is_auth,
            risk,
            pop_country,
            pop_asn,
            counters: self.store.counters(k, ev.is_login_success()),
        }
    }

    /// Evaluates the rules that can fire on this kind of event and appends an explained alert
    /// for each that holds and is not suppressed. Returns the worst severity of the active
    /// rules that held, suppressed or not (what learning must not trust).
    fn fire(
        &self,
        x: &Evidence<'_>,
        account: u64,
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) -> Option<Severity> {
        let mut worst: Option<Severity> = None;
        let kind_bit = 1u8 << (x.ev.kind as u8);
        for (rule, &kinds) in self.rules.rules.iter().zip(&self.rule_kinds) {
            if kinds & kind_bit == 0 || !rule.when.eval(x.feats) {
                continue;
            }
            if rule.mode == Mode::Active {
                worst = worst.max(Some(rule.severity));
            }
            let before = self.store.last_alert_ms(&rule.id, account);
            if self
                .store
                .suppressed(&rule.id, account, x.ev.ts_ms, rule.suppress_ms)
            {
                continue;
            }
            // The rule already fired since this session opened and its window has passed: a
            // re-fire, which needs an id of its own (the session's first fire keeps its id).
            let refire = match (before, &x.session) {
                (Some(t), Some(s)) if t >= i64::from(s.start_s) * 1000 => Some(x.ev.ts_ms),
                _ => None,
            };
            out.push(explain::build_alert(rule, x, now_ms, refire));
        }
        worst
    }

    /// Closes sessions idle for longer than [`crate::baseline::SESSION_IDLE_S`] (learning their
    /// volume) and drops failure counters idle for an hour. Accounts that come back do this
    /// themselves; call it periodically (e.g. at each checkpoint) so accounts that never
    /// return do not keep sessions. Returns the number of sessions closed.
    pub fn expire_idle(&self, now_ms: i64) -> usize {
        self.store.expire_idle(now_ms)
    }

    /// An identity provider said `account`'s password leaked, at `at_ms` (see
    /// `Store::credential_leaked`); false when the account is unknown.
    pub fn credential_leaked(&self, account: &str, at_ms: i64) -> bool {
        self.store.credential_leaked(account, at_ms)
    }

    /// Applies an analyst's verdict on an alert at once: `false_positive` learns the alert's
    /// device, place, ASN and network for that account; `confirmed_compromise` removes them
    /// from the account's tables and held-back values.
    pub fn feedback(&self, alert: &Alert, verdict: Verdict) -> Result<(), FeedbackError> {
        self.store.feedback(alert, verdict)
    }

    /// The account's baseline in human terms (`GET /v1/accounts/{account}`), `None` for an
    /// account never seen.
    pub fn account_view(&self, account: &str) -> Option<AccountView> {
        self.store
            .account_view(account, self.settings.learning_logins)
    }

    /// Accounts tracked and estimated bytes of state.
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// Writes every piece of detection state (not the rules) to `w`: a magic, a format version,
    /// then a `postcard` encoding. Entries are sorted by key, so equal states give equal bytes.
    pub fn write_snapshot(&self, w: &mut dyn std::io::Write) -> Result<(), SnapshotError> {
        self.store.write_snapshot(w)
    }

    /// Replaces the detection state with a snapshot written by [`Detector::write_snapshot`].
    /// On error the current state is left untouched.
    pub fn read_snapshot(&self, r: &mut dyn std::io::Read) -> Result<(), SnapshotError> {
        self.store.read_snapshot(r)
    }
}

/// The event kinds a rule requiring the bool features `required` can fire on.
fn kind_mask(required: &[usize]) -> u8 {
    let mut mask = u8::MAX;
    for &i in required {
        if let Some(kind) = features::only_true_for(i) {
            mask &= 1 << (kind as u8);
        }
    }
    mask
}

#[cfg(test)]
mod tests;
