//! A crash and a restart from the last checkpoint raise exactly the alerts an uninterrupted run
//! raises: the state that decides an alert's identity (suppression windows, the guard's windows
//! and trips) comes back from the checkpoint, and the guard decides on a clock that does not
//! depend on when a record happens to be re-processed.
//!
//! The engine's decision time in `tocsin run` is the wall clock; here it is simulated: the first
//! life processes each record one second after its event, the restarted life two minutes after
//! (a restart and a catch-up), which is what makes a wall-clock guard trip elsewhere.

use std::collections::BTreeSet;
use std::sync::Arc;

use tocsin::alert::Alert;
use tocsin::checkpoint::Snapshot;
use tocsin::engine::{DetectorState, GuardState};
use tocsin::pipeline::{Pipeline, RecordStats};
use tocsin::respond::guard::GUARD_RULE;
use tocsin::settings::Settings;
use tocsin::source::decode::Format;
use tocsin::timefmt::rfc3339;

const T0: i64 = 1_762_817_462_000;

fn pipeline(dir: &std::path::Path) -> Arc<Pipeline> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(rules.join("stable")).unwrap();
    std::fs::write(
        rules.join("stable/login.toml"),
        r#"id = "probe.login"
name = "A login"
severity = "high"
mitre = []
when = "login.success"
actions = ["alert", "revoke_session"]
suppress = "1h"
false_positives = ["probe"]
"#,
    )
    .unwrap();
    let settings = Settings::parse(
        &format!(
            "[rules]\ndir = {rules:?}\n[revocation]\nmax_per_minute = 3\ntenant_share_percent = 100\n"
        ),
        "t.toml",
    )
    .unwrap();
    Arc::new(Pipeline::from_settings(&settings).unwrap())
}

/// Logins every 10 s: six a minute, twice the guard's limit. Every fourth is a second login of
/// an earlier account in the same session (suppressed).
fn records() -> Vec<(i64, Vec<u8>)> {
    (0..40)
        .map(|i: i64| {
            let ts = T0 + i * 10_000;
            let who = if i % 4 == 3 { i - 1 } else { i };
            let line = format!(
                r#"{{"ts":"{}","type":"login","outcome":"success","account":"dr.{who}@cabinet-rouen","tenant":"cabinet-rouen","session":"s-{who}","ip":"81.250.12.34"}}"#,
                rfc3339(ts)
            );
            (ts, line.into_bytes())
        })
        .collect()
}

fn process(p: &Pipeline, records: &[(i64, Vec<u8>)], lag_ms: i64, out: &mut Vec<Alert>) {
    let mut stats = RecordStats::default();
    for (ts, r) in records {
        p.process_record(
            Format::Native,
            r,
            Some(ts + lag_ms),
            &mut stats,
            out,
            &mut |_| {},
        );
    }
}

fn ids(alerts: &[Alert]) -> BTreeSet<String> {
    alerts.iter().map(|a| a.id.clone()).collect()
}

#[test]
fn a_restart_from_the_checkpoint_raises_exactly_the_uninterrupted_runs_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records();

    let mut uninterrupted = Vec::new();
    process(&pipeline(dir.path()), &recs, 1_000, &mut uninterrupted);
    assert_eq!(
        uninterrupted
            .iter()
            .filter(|a| a.rule == GUARD_RULE)
            .count(),
        1,
        "the storm trips the guard once"
    );

    // First life: checkpoint after 2 records, go on to 12, crash. Everything it emitted is out.
    let first = pipeline(dir.path());
    let mut emitted = Vec::new();
    process(&first, &recs[..2], 1_000, &mut emitted);
    let mut detector = Vec::new();
    let mut guard = Vec::new();
    DetectorState(first.clone())
        .write_snapshot(&mut detector)
        .unwrap();
    GuardState(first.clone())
        .write_snapshot(&mut guard)
        .unwrap();
    process(&first, &recs[2..12], 1_000, &mut emitted);
    drop(first);

    // The restart: the checkpoint's state, the records after it again, two minutes late.
    let second = pipeline(dir.path());
    DetectorState(second.clone())
        .read_snapshot(&mut detector.as_slice())
        .unwrap();
    GuardState(second.clone())
        .read_snapshot(&mut guard.as_slice())
        .unwrap();
    process(&second, &recs[2..], 120_000, &mut emitted);

    assert_eq!(
        ids(&emitted),
        ids(&uninterrupted),
        "a restart added or lost an alert"
    );
    // And the decisions match: the same alerts ask for a revocation.
    let revoking = |alerts: &[Alert]| -> BTreeSet<String> {
        alerts
            .iter()
            .filter(|a| a.wants_revocation())
            .map(|a| a.id.clone())
            .collect()
    };
    assert_eq!(revoking(&emitted), revoking(&uninterrupted));
}
