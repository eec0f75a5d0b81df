//! Runs every rule fixture under `rules/tests/` (see `cmd::rules::fixtures`) against the shipped
//! rules, with the fixture GeoIP databases of `testdata/geo/`.

use std::path::Path;

use tocsin::cmd::rules::fixtures::run_rule_tests;
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// The look-alike fixtures are not decoration: drop the tenant-network clauses from the
/// near-home infostealer rule and the locum's first day at the practice raises an alert.
#[test]
fn look_alike_fixtures_catch_a_rule_that_ignores_tenant_networks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root.join("rules"), tmp.path());
    let rule = tmp
        .path()
        .join("stable/stolen_password/new_device_new_network_near.toml");
    let text = std::fs::read_to_string(&rule).unwrap();
    let careless = text.replace(
        "&& !asn.tenant_known && !ip.tenant_known && !(ip in list.tenant_networks)",
        "",
    );
    assert_ne!(
        text, careless,
        "the clause to remove is in the shipped rule"
    );
    std::fs::write(&rule, careless).unwrap();
    let geo = GeoipSettings {
        city: vec![root.join("testdata/geo/GeoLite2-City-Test.mmdb")],
        asn: Some(root.join("testdata/geo/GeoLite2-ASN-Test.mmdb")),
        cache_entries: 1024,
    };
    let report = run_rule_tests(tmp.path(), &geo);
    let locum = report
        .cases
        .iter()
        .find(|c| c.name == "negative_locum_on_practice_network")
        .expect("locum case");
    assert!(!locum.passed(), "{report}");
    assert!(
        locum
            .failures
            .iter()
            .any(|f| f.contains("stolen_password.new_device_new_network_near")),
        "{report}"
    );
}
