//! Runs every rule fixture under `rules/tests/` (see `detect::rule_tests`) against the shipped
//! rules, with the fixture GeoIP databases of `testdata/geo/`.

use std::path::Path;

use tocsin::detect::rule_tests::run_rule_tests;
use tocsin::settings::GeoipSettings;

#[test]
fn shipped_rule_fixtures_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let geo = GeoipSettings {
        city: vec![root.join("testdata/geo/GeoLite2-City-Test.mmdb")],
        asn: Some(root.join("testdata/geo/GeoLite2-ASN-Test.mmdb")),
        cache_entries: 1024,
    };
    let report = run_rule_tests(&root.join("rules"), &geo);
    println!("{report}");
    if std::env::var_os("TOCSIN_SHOW_ALERTS").is_some() {
        for c in &report.cases {
            for a in &c.alerts {
                println!("{} {}", c.name, a.to_json());
            }
        }
    }
    assert!(report.error.is_none(), "{report}");
    assert!(report.cases.len() >= 20, "{report}");
    assert!(report.passed(), "{report}");
}

#[test]
fn every_shipped_stable_rule_has_a_positive_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = root.join("rules/tests");
    let mut expected = String::new();
    for case in std::fs::read_dir(&tests).unwrap() {
        let p = case.unwrap().path().join("expected.toml");
        if let Ok(s) = std::fs::read_to_string(p) {
            expected.push_str(&s);
        }
    }
    let rules = tocsin::detect::rules::load_dir(
        &root.join("rules"),
        &["stable".to_string(), "incubating".to_string()],
        tocsin::detect::features::FEATURES,
    )
    .unwrap();
    for r in &rules.rules {
        assert!(
            expected.contains(&format!("[[alert]]\nrule = \"{}\"", r.id)),
            "rule {} has no positive fixture in rules/tests/*/expected.toml",
            r.id
        );
    }
}
