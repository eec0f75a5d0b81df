//! The demo's scenario: [`HISTORY_DAYS`] days of honest traffic learned straight through the
//! pipeline (as `tocsin replay` would), and the played day kept as native JSON, keyed by account,
//! ready to produce to Kafka.

use crate::gen::{self, AttackKind, GenConfig, Truth};
use crate::pipeline::{Pipeline, RecordStats};
use crate::source::decode::Format;
use crate::timefmt::DAY_MS;

use super::{DemoConfig, HISTORY_DAYS};

/// One event of the played day, ready to produce.
pub(super) struct LiveEvent {
    pub(super) ts_ms: i64,
    account_end: usize,
    /// Key (the account) followed by the JSON payload.
    bytes: Vec<u8>,
}

impl LiveEvent {
    pub(super) fn key(&self) -> &[u8] {
        &self.bytes[..self.account_end]
    }
    pub(super) fn payload(&self) -> &[u8] {
        &self.bytes[self.account_end..]
    }
}

/// The scenario: history learned, the day serialised, the truth of the day.
pub(super) struct Scenario {
    /// The played day, in event-time order.
    pub(super) live: Vec<LiveEvent>,
    /// The ground truth of the played day.
    pub(super) truth: Truth,
    /// Events of the history learned.
    pub(super) history_events: u64,
    /// Alerts raised while learning (not sent anywhere).
    pub(super) history_alerts: u64,
}

/// Generates `HISTORY_DAYS + 1` days with the takeovers on the last; learns the history through
/// `pipeline` in event time and keeps the last day as native JSON.
pub(super) fn prepare(cfg: &DemoConfig, pipeline: &Pipeline) -> Scenario {
    let gen_cfg = GenConfig {
        accounts: cfg.accounts,
        days: HISTORY_DAYS + 1,
        seed: cfg.seed,
        attacks: vec![AttackKind::Infostealer],
        start_ms: cfg.day_ms - HISTORY_DAYS as i64 * DAY_MS,
        attack_day: Some(HISTORY_DAYS),
    };
    let mut live = Vec::new();
    let mut stats = RecordStats::default();
    let mut alerts = Vec::new();
    let mut line = Vec::with_capacity(512);
    let summary = gen::generate(&gen_cfg, &mut |ev| {
        if ev.ts_ms < cfg.day_ms {
            line.clear();
            ev.write_json(&mut line)?;
            pipeline.process_record(
                Format::Native,
                &line,
                None,
                &mut stats,
                &mut alerts,
                &mut |_| {},
            );
            alerts.clear();
        } else {
            let mut bytes = Vec::with_capacity(ev.account.len() + 320);
            bytes.extend_from_slice(ev.account.as_bytes());
            let account_end = bytes.len();
            ev.write_json(&mut bytes)?;
            live.push(LiveEvent {
                ts_ms: ev.ts_ms,
                account_end,
                bytes,
            });
        }
        Ok(())
    });
    // The sink above only fails on a write into a Vec, which cannot fail.
    let truth = summary.map(|s| s.truth).unwrap_or_default();
    Scenario {
        live,
        truth,
        history_events: stats.events,
        history_alerts: stats.alerts_total(),
    }
}

/// The `id` of a native event, read back from its JSON.
pub(super) fn event_id(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_slice::<Id>(payload).ok()?.id
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::demo::locate;
    use crate::settings::Settings;

    #[test]
    fn the_played_day_holds_the_takeovers_and_the_history_warms_the_baselines() {
        let mut settings = Settings::default();
        settings.geoip.city = vec![locate("testdata/geo/GeoLite2-City-Test.mmdb").unwrap()];
        settings.geoip.asn = Some(locate("testdata/geo/GeoLite2-ASN-Test.mmdb").unwrap());
        let pipeline = Pipeline::from_settings(&settings).unwrap();
        let cfg = DemoConfig {
            accounts: 60,
            ..DemoConfig::default()
        };
        let s = prepare(&cfg, &pipeline);
        assert!(!s.truth.attacks.is_empty());
        for a in &s.truth.attacks {
            assert_eq!(a.kind, "infostealer");
            assert!(a.start.starts_with("2025-11-10"), "{}", a.start);
        }
        assert!(s.history_events > 10 * s.live.len() as u64);
        assert!(s.live.iter().all(|e| e.ts_ms >= cfg.day_ms));
        assert!(s.live.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
        let attack_events: HashSet<&str> = s.truth.attacks[0]
            .events
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        let streamed = s
            .live
            .iter()
            .filter_map(|e| event_id(e.payload()))
            .filter(|id| attack_events.contains(id.as_str()))
            .count();
        assert_eq!(
            streamed,
            attack_events.len(),
            "every attack event is streamed"
        );
        let first: serde_json::Value = serde_json::from_slice(s.live[0].payload()).unwrap();
        assert_eq!(
            first["account"].as_str().unwrap().as_bytes(),
            s.live[0].key()
        );
    }
}
