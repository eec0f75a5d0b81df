//! `tocsin demo --json` end to end: the built binary starts the mock
//! Kafka cluster, the engine, the SOC receiver and the SaaS endpoint, plays the day, and its
//! facts must show the takeover detected, signed, revoked at the SaaS and confirmed by the API,
//! the revocation also received as a verified Shared Signals SET, with no honest user revoked.
//!
//! It plays the default day, the one `cargo run --release -- demo` shows a newcomer (about 30 s
//! in a debug build): the facts checked are the ones a newcomer reads in it.

use std::process::Command;

use serde_json::Value;

fn demo_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("demo")
        .arg("--json")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tocsin binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo exited with {:?}\nstderr:\n{}\nstdout:\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "--json prints one object: {stdout}");
    serde_json::from_str(lines[0]).expect("--json output is JSON")
}

#[test]
fn demo_detects_signs_and_revokes_the_takeover_without_revoking_honest_users() {
    let r = demo_json(&[]);

    assert!(r["events"].as_u64().unwrap() > 0, "{r}");
    assert!(r["history_events"].as_u64().unwrap() > r["events"].as_u64().unwrap());
    assert_eq!(r["incomplete"], Value::Array(vec![]), "{r}");

    let takeovers = r["takeovers"].as_array().expect("takeovers listed");
    assert!(
        !takeovers.is_empty(),
        "the played day holds a takeover: {r}"
    );
    assert_eq!(r["takeover"], takeovers[0]);
    for t in takeovers {
        assert_eq!(t["detected"], true, "takeover missed: {t}");
        assert_eq!(t["revoked"], true, "takeover not revoked at the SaaS: {t}");
        assert_eq!(t["signature_verified"], true, "SOC could not verify: {t}");
        assert!(t["webhook_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(
            t["check_revoked"], true,
            "API check did not say revoked: {t}"
        );
        let before = t["records_before_revocation"].as_u64().unwrap();
        assert!(before <= t["records_total"].as_u64().unwrap(), "{t}");
        assert!(t["event_to_revocation_ms"].as_f64().unwrap() > 0.0, "{t}");
    }

    assert_eq!(r["false_revocations"], 0, "an honest user was revoked: {r}");
    assert!(r["true_revocations"].as_u64().unwrap() >= takeovers.len() as u64);
    assert_eq!(r["webhooks_received"], r["webhooks_verified"], "{r}");
    assert!(
        r["shared_signals_verified"].as_u64().unwrap() >= takeovers.len() as u64,
        "every revoked takeover session reached the SaaS as a verified session-revoked SET: {r}"
    );
    let by_rule = r["alerts_by_rule"].as_object().unwrap();
    assert!(!by_rule.is_empty());
    assert!(r["latency_ms"]["p50"].as_f64().unwrap() <= r["latency_ms"]["p99"].as_f64().unwrap());
}

#[test]
fn demo_refuses_unusable_options() {
    for args in [
        &["demo", "--speed", "-1"][..],
        &["demo", "--accounts", "0"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}
