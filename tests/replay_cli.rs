//! `tocsin replay` on a testdata file prints alerts in the shape of
//! README.md's alert example (src/alert.rs), and running it twice gives byte-identical output.

use std::path::Path;
use std::process::Command;

fn replay(root: &Path) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .current_dir(root)
        .args(["replay", "--no-progress", "--config", "tocsin.example.toml"])
        .arg("testdata/formats/native/takeover.jsonl")
        .output()
        .expect("tocsin runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn replay_prints_contract_alerts_and_is_deterministic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let first = replay(root);
    let second = replay(root);
    assert_eq!(
        first, second,
        "two replays of the same input and config must be byte-identical"
    );

    let text = String::from_utf8(first).unwrap();
    let alerts: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect();
    assert!(
        alerts
            .iter()
            .any(|a| a["rule"] == "stolen_password.new_device_new_asn"),
        "the takeover in the file is detected: {text}"
    );
    for a in &alerts {
        let id = a["id"].as_str().unwrap();
        assert!(id.starts_with("al_") && id.len() == 35, "{id}");
        for key in ["rule", "title", "ts", "detected_at", "account"] {
            assert!(
                a[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {a}"
            );
        }
        assert!(["low", "medium", "high", "critical"].contains(&a["severity"].as_str().unwrap()));
        let risk = a["risk"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&risk));
        assert!(tocsin::timefmt::parse_rfc3339(a["ts"].as_str().unwrap()).is_some());
        let reasons = a["reasons"].as_array().unwrap();
        assert!(!reasons.is_empty(), "reasons always say why: {a}");
        for r in reasons {
            assert!(
                r["feature"].as_str().is_some() && r["text"].as_str().is_some(),
                "{r}"
            );
        }
        for list in ["actions", "mitre", "events"] {
            assert!(a[list].is_array(), "{list} in {a}");
        }
        assert!(a["actions"].as_array().unwrap().iter().all(|x| [
            "alert",
            "revoke_session",
            "revoke_account"
        ]
        .contains(&x.as_str().unwrap())));
        if let Some(geo) = a.get("geo") {
            assert!(
                geo["country"].as_str().is_some_and(|c| c.len() == 2),
                "{geo}"
            );
        }
    }
}
