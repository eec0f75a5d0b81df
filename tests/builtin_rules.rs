//! The rules built into the binary: used when no `[rules] dir` is configured (so `tocsin replay`
//! detects from any directory, with no configuration), written out by `tocsin rules dump DIR`
//! byte for byte as the repository's `rules/` (less its `tests/` fixtures); and a configured
//! rules directory that is missing or holds no rule stops the command with exit 2, naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tocsin(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .current_dir(cwd)
        .args(args)
        .env_remove("TOCSIN_LOG")
        .output()
        .expect("tocsin runs")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `root` (relative path → bytes), less `tests/` and hidden files.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if rel == "tests" || path.file_name().unwrap().to_str().unwrap().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn replay_without_configuration_detects_from_another_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let cwd = elsewhere.path();
    let gen = tocsin(
        cwd,
        &["gen", "--seed", "1", "--accounts", "30", "--days", "8"],
    );
    assert!(gen.status.success(), "{}", stderr(&gen));
    std::fs::write(cwd.join("events.jsonl"), &gen.stdout).unwrap();

    let out = tocsin(cwd, &["replay", "--no-progress", "events.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        alerts.lines().count() >= 5,
        "the built-in rules detect the generated attacks: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("loaded from <built-in rules>"),
        "the rule count is said at start: {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("rules: 0 loaded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_or_empty_rules_directory_exits_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("testdata/formats/native/takeover.jsonl");
    let input = input.to_str().unwrap();

    let missing = tmp.path().join("no-such-rules");
    let empty = tmp.path().join("empty-rules");
    std::fs::create_dir_all(empty.join("stable")).unwrap();
    std::fs::write(empty.join("README.md"), "not a rule\n").unwrap();
    for dir in [&missing, &empty] {
        // From the configuration file and from the flag.
        let config = tmp.path().join("tocsin.toml");
        std::fs::write(
            &config,
            format!("[rules]\ndir = {:?}\n", dir.to_str().unwrap()),
        )
        .unwrap();
        for args in [
            vec!["replay", "--config", config.to_str().unwrap(), input],
            vec!["replay", "--rules", dir.to_str().unwrap(), input],
        ] {
            let out = tocsin(tmp.path(), &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(dir.to_str().unwrap()),
                "the message names the directory: {}",
                stderr(&out)
            );
            assert!(out.stdout.is_empty());
        }
    }
    let out = tocsin(
        tmp.path(),
        &["replay", "--rules", missing.to_str().unwrap(), input],
    );
    assert!(
        stderr(&out).contains("no such rules directory"),
        "{}",
        stderr(&out)
    );
    let out = tocsin(
        tmp.path(),
        &["replay", "--rules", empty.to_str().unwrap(), input],
    );
    assert!(stderr(&out).contains("holds no rule"), "{}", stderr(&out));
}

#[test]
fn rules_dump_writes_the_repository_rules_and_they_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("my-rules");
    let out = tocsin(tmp.path(), &["rules", "dump", dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        tree(&dest),
        tree(&repo().join("rules")),
        "the dump is the repository's rules tree, byte for byte"
    );
    for sub in ["stable", "incubating", "sandbox", "lists", "README.md"] {
        assert!(dest.join(sub).exists(), "{sub}");
    }

    let check = tocsin(tmp.path(), &["rules", "check", dest.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));

    // The dumped set detects exactly as the built-in one.
    let input = repo().join("testdata/formats/native/takeover.jsonl");
    let with_dump = tocsin(
        tmp.path(),
        &[
            "replay",
            "--rules",
            dest.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
    );
    let built_in = tocsin(tmp.path(), &["replay", input.to_str().unwrap()]);
    assert!(with_dump.status.success(), "{}", stderr(&with_dump));
    assert!(!with_dump.stdout.is_empty());
    assert_eq!(with_dump.stdout, built_in.stdout);

    // A dump never overwrites a rules set.
    let again = tocsin(tmp.path(), &["rules", "dump", dest.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains(dest.to_str().unwrap()));
}
