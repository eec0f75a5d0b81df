//! Detection (issue 3): features, the risk score and the rules. Being built.

use serde::Deserialize;

use crate::alert::Alert;
use crate::enrich::Enriched;
use crate::event::Event;

pub mod rules;

/// `[detect]`: detection tuning.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSettings {}

/// Detection that cannot start (bad rules).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DetectError(pub String);

/// Baselines + risk + rules. `Send + Sync`.
pub struct Detector {}

impl Detector {
    /// Loads the rules and builds empty baselines.
    pub fn from_settings(
        _rules: &crate::settings::RulesSettings,
        _detect: &DetectSettings,
    ) -> Result<Detector, DetectError> {
        Ok(Detector {})
    }

    /// Updates baselines with one event and appends the alerts it raises to `out`. `now_ms` is
    /// the decision time (event time in replay).
    pub fn process(&self, _ev: &Event<'_>, _enr: &Enriched, _now_ms: i64, _out: &mut Vec<Alert>) {}
}
