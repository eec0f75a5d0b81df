//! `tocsin decode` as a user runs it: the shape of its output for good, bad and compressed
//! input, and its exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/events")
        .join(name)
}

fn tocsin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tocsin");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for tocsin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "tocsin panicked: {stderr}");
    out
}

/// `mixed-bad.expected.tsv`: (line, "event" or rejection kind).
fn expected_mixed_bad() -> Vec<(u64, String)> {
    std::fs::read_to_string(fixture("mixed-bad.expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (n, what) = l.split_once('\t').expect("line<TAB>outcome");
            (n.parse().unwrap(), what.to_owned())
        })
        .collect()
}

#[test]
fn every_field_decodes_to_the_reviewed_normalised_events() {
    let input = fixture("every-field.jsonl");
    let out = tocsin(&["decode", input.to_str().unwrap()], None);
    assert!(out.status.success(), "{out:?}");
    let expected = std::fs::read_to_string(fixture("every-field.decoded.jsonl")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("7 records: 7 events, 0 rejected, 0 not applicable"),
        "{stderr}"
    );
}

#[test]
fn normalised_output_is_valid_input_and_decodes_to_itself() {
    let normalised = std::fs::read(fixture("every-field.decoded.jsonl")).unwrap();
    let out = tocsin(&["decode", "-"], Some(&normalised));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, normalised);
}

#[test]
fn mixed_bad_input_gives_one_line_per_record_in_order() {
    let input = fixture("mixed-bad.jsonl");
    let name = input.to_str().unwrap();
    let out = tocsin(&["decode", name], None);
    assert!(
        out.status.success(),
        "bad lines must not fail the run: {out:?}"
    );
    let stdout = String::from_utf8(out.stdout).expect("output is UTF-8 even for binary input");
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = expected_mixed_bad();
    assert_eq!(lines.len(), expected.len(), "{stdout}");
    for ((line, what), got) in expected.iter().zip(&lines) {
        let v: serde_json::Value = serde_json::from_str(got).expect("each output line is JSON");
        if what == "event" {
            assert!(v.get("type").is_some() && v.get("ts").is_some(), "{got}");
            assert!(v.get("rejected").is_none(), "line {line}: {got}");
        } else {
            assert_eq!(v["file"], name, "{got}");
            assert_eq!(v["line"], *line, "{got}");
            assert_eq!(v["rejected"], what.as_str(), "line {line}: {got}");
            let detail = v["detail"].as_str().unwrap();
            assert!(detail.len() > 10 && detail.len() < 300, "{got}");
        }
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    let bad = expected.iter().filter(|(_, w)| w != "event").count();
    let good = expected.len() - bad;
    assert!(
        stderr.contains(&format!(
            "{} records: {good} events, {bad} rejected",
            expected.len()
        )),
        "{stderr}"
    );
}

#[test]
fn rejection_details_name_the_field_and_quote_the_value() {
    let input = fixture("mixed-bad.jsonl");
    let out = tocsin(&["decode", input.to_str().unwrap()], None);
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in [
        r#""detail":"field `count` must be an integer ≥ 1, got \"12\"""#,
        r#""detail":"field `ip`: \"300.1.1.1\" is not an IPv4 or IPv6 address""#,
        r#""detail":"field `type`: \"logon\" is not one of login, mfa, access, logout, password_change""#,
        r#""detail":"field `account` is required""#,
        "looks like epoch seconds",
    ] {
        assert!(stdout.contains(needle), "missing {needle} in\n{stdout}");
    }
}

#[test]
fn gzip_on_stdin_is_detected() {
    let plain = std::fs::read(fixture("every-field.jsonl")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let out = tocsin(&["decode", "-"], Some(&gz.finish().unwrap()));
    assert!(out.status.success(), "{out:?}");
    let expected = std::fs::read_to_string(fixture("every-field.decoded.jsonl")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn missing_file_exits_2_before_printing_anything() {
    let good = fixture("every-field.jsonl");
    let out = tocsin(
        &["decode", good.to_str().unwrap(), "no-such-file.jsonl"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file.jsonl: no such file"));
}

#[test]
fn truncated_gzip_prints_what_it_could_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(fixture("every-field.jsonl"))
        .unwrap()
        .repeat(200);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let cut = dir.path().join("cut.jsonl.gz");
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
    let out = tocsin(&["decode", cut.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    assert!(last.contains(r#""rejected":"io""#), "{last}");
    assert!(stdout.lines().count() > 10);
}

/// `tocsin decode --format NAME testdata/formats/NAME/FILE`, run from the repository root as
/// the formats README says, prints exactly the reviewed `.expected.jsonl` beside each fixture of
/// the identity providers added last (Auth0, Google Workspace, Keycloak); refused records are
/// reported, never fatal (exit 0).
#[test]
fn decode_prints_the_reviewed_output_for_the_new_identity_providers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for format in ["auth0", "google_workspace", "keycloak"] {
        let dir = root.join("testdata/formats").join(format);
        let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                !n.ends_with(".expected.jsonl") && (n.ends_with(".json") || n.ends_with(".jsonl"))
            })
            .collect();
        fixtures.sort();
        assert!(fixtures.len() >= 2, "{format}: {fixtures:?}");
        for fixture in fixtures {
            let rel = fixture.strip_prefix(root).unwrap().to_str().unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
                .args(["decode", "--format", format, rel])
                .current_dir(root)
                .output()
                .unwrap();
            let stem = fixture.file_stem().unwrap().to_string_lossy();
            let expected =
                std::fs::read_to_string(fixture.with_file_name(format!("{stem}.expected.jsonl")))
                    .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{rel}");
            assert!(out.status.success(), "{rel}: {out:?}");
        }
    }
}
