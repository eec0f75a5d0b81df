//! A rule that fires again in the same session once its suppression window has passed raises a
//! new alert with an id of its own (so the responder does not drop it as already handled, and a
//! revocation the guard withheld the first time is asked for again); the first fire in a
//! session keeps the id it always had: rule, account and session.

use std::process::Command;

use tocsin::alert::alert_id;

const ACCOUNT: &str = "dr.martin@cabinet-rouen";

fn event(ts: &str, kind: &str, session: &str) -> String {
    match kind {
        "login" => format!(
            r#"{{"ts":"{ts}","type":"login","outcome":"success","account":"{ACCOUNT}","tenant":"cabinet-rouen","session":"{session}","ip":"81.250.12.34"}}"#
        ),
        _ => format!(
            r#"{{"ts":"{ts}","type":"access","account":"{ACCOUNT}","tenant":"cabinet-rouen","session":"{session}","ip":"81.250.12.34","action":"export","resource":"patient_record","count":3}}"#
        ),
    }
}

#[test]
fn a_re_fire_after_the_suppression_window_has_its_own_id_and_first_fires_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("stable")).unwrap();
    std::fs::write(
        rules.join("stable/export.toml"),
        r#"id = "probe.export"
name = "An export"
severity = "high"
mitre = []
when = "access"
actions = ["alert", "revoke_session"]
suppress = "1h"
false_positives = ["probe"]
"#,
    )
    .unwrap();
    let config = dir.path().join("tocsin.toml");
    std::fs::write(&config, format!("[rules]\ndir = {rules:?}\n")).unwrap();
    let events = [
        event("2025-11-10T08:00:00Z", "login", "s1"),
        event("2025-11-10T08:01:00Z", "access", "s1"), // first fire in s1
        event("2025-11-10T08:30:00Z", "access", "s1"), // inside the window: suppressed
        event("2025-11-10T10:00:00Z", "access", "s1"), // re-fire in s1 after the window
        event("2025-11-10T12:00:00Z", "login", "s2"),
        event("2025-11-10T12:01:00Z", "access", "s2"), // first fire in s2
    ];
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, events.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["replay", "--no-progress", "--config"])
        .arg(&config)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|a: &serde_json::Value| a["rule"] == "probe.export")
        .collect();
    let ids: Vec<&str> = alerts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    let times: Vec<&str> = alerts.iter().map(|a| a["ts"].as_str().unwrap()).collect();
    assert_eq!(
        times,
        [
            "2025-11-10T08:01:00Z",
            "2025-11-10T10:00:00Z",
            "2025-11-10T12:01:00Z"
        ]
    );
    assert_eq!(ids[0], alert_id("probe.export", ACCOUNT, "session:s1"));
    assert_eq!(ids[2], alert_id("probe.export", ACCOUNT, "session:s2"));
    assert_ne!(ids[1], ids[0], "the re-fire needs an id of its own");
    assert_ne!(ids[1], ids[2]);
}
