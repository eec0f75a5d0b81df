//! A file mixing good lines with many kinds of bad ones —
//! including a 1 MiB line — is replayed to the end: every good line used, every bad one reported
//! with its line number and reason, exit 0, no panic. Plain and gzip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/events")
        .join(name)
}

/// The test input: `mixed-bad.jsonl`, a 1 MiB line, then `mixed-bad.jsonl` again, so good lines
/// after the huge one prove that reading went on. Returns the bytes and, per record, its line
/// number and expected outcome ("event" or a rejection kind).
fn build_input() -> (Vec<u8>, Vec<(u64, String)>) {
    let mixed = std::fs::read(fixture("mixed-bad.jsonl")).unwrap();
    let lines_per_copy = mixed.iter().filter(|&&b| b == b'\n').count() as u64;
    let table: Vec<(u64, String)> = std::fs::read_to_string(fixture("mixed-bad.expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (n, what) = l.split_once('\t').unwrap();
            (n.parse().unwrap(), what.to_owned())
        })
        .collect();

    let mut input = mixed.clone();
    // A JSON-looking 1 MiB line: an exporter that dumped a whole record set into one field.
    input.extend_from_slice(br#"{"ts":"2025-11-10T09:00:00Z","type":"login","blob":""#);
    input.extend(std::iter::repeat_n(b'A', 1024 * 1024));
    input.extend_from_slice(b"\"}\n");
    input.extend_from_slice(&mixed);

    let huge_line = lines_per_copy + 1;
    let mut expected = table.clone();
    expected.push((huge_line, "too_long".to_owned()));
    expected.extend(table.iter().map(|(n, w)| (n + huge_line, w.clone())));
    (input, expected)
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .output()
        .expect("run tocsin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "tocsin panicked: {stderr}");
    out
}

fn assert_replayed_to_the_end(path: &Path, expected: &[(u64, String)]) {
    let name = path.to_str().unwrap();
    let out = run(&["replay", "--no-progress", name]);
    assert!(
        out.status.success(),
        "bad lines must not fail a replay: {out:?}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();

    let good = expected.iter().filter(|(_, w)| w == "event").count();
    assert!(
        stderr.contains(&format!(" {good} events used")),
        "every good line must be used ({good}):\n{stderr}"
    );
    for (line, what) in expected {
        let report = format!("{name}:{line}: skipped: ");
        if what == "event" {
            assert!(
                !stderr.contains(&report),
                "good line {line} reported:\n{stderr}"
            );
        } else {
            let reason = format!("{report}{what}: ");
            assert!(stderr.contains(&reason), "missing `{reason}` in:\n{stderr}");
        }
    }
    let skipped = stderr.lines().filter(|l| l.contains(": skipped: ")).count();
    assert_eq!(skipped, expected.len() - good, "{stderr}");
}

#[test]
fn replay_uses_every_good_line_and_reports_every_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = build_input();
    let path = dir.path().join("mixed-with-huge-line.jsonl");
    std::fs::write(&path, &input).unwrap();
    assert_replayed_to_the_end(&path, &expected);
}

#[test]
fn replay_of_the_same_input_gzipped_reports_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = build_input();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&input).unwrap();
    let path = dir.path().join("mixed-with-huge-line.jsonl.gz");
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    assert_replayed_to_the_end(&path, &expected);
}

#[test]
fn decode_reports_the_huge_line_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = build_input();
    let path = dir.path().join("mixed-with-huge-line.jsonl");
    std::fs::write(&path, &input).unwrap();
    let out = run(&["decode", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), expected.len());
    for ((line, what), got) in expected.iter().zip(&lines) {
        let v: serde_json::Value = serde_json::from_str(got).unwrap();
        if what == "event" {
            assert!(v.get("rejected").is_none(), "line {line}: {got}");
        } else {
            assert_eq!(
                (v["line"].as_u64(), v["rejected"].as_str()),
                (Some(*line), Some(what.as_str()))
            );
        }
    }
    let huge = lines
        .iter()
        .find(|l| l.contains(r#""rejected":"too_long""#))
        .unwrap();
    assert!(huge.contains("65536 byte limit"), "{huge}");
    // The output never carries the megabyte back.
    assert!(stdout.len() < 64 * 1024, "{} bytes of output", stdout.len());
}
