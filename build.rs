//! Build script: embeds the shipped rules tree (`rules/`: `README.md`, the maturity folders and
//! `lists/`, but not the `tests/` fixtures) into the library, so `tocsin` detects with no rules
//! directory configured and `tocsin rules dump DIR` can write the tree out.
//!
//! It only lists files: each is embedded with `include_str!`, and cargo reruns this script
//! whenever anything under `rules/` changes, so editing, adding or removing a rule or a list
//! takes no code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("rules");
    println!("cargo:rerun-if-changed=rules");
    let mut files = Vec::new();
    walk(&root, "", &mut files);
    files.sort();

    let mut out = String::from(
        "/// Every file of the shipped rules tree: path relative to the tree (`/`-separated), \
         text. Sorted by path.\n\
         pub(crate) static FILES: &[(&str, &str)] = &[\n",
    );
    for rel in &files {
        let abs = root.join(rel);
        let abs = abs.to_str().expect("rules paths are UTF-8");
        writeln!(out, "    ({rel:?}, include_str!({abs:?})),").expect("writing to a String");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("builtin_rules.rs");
    std::fs::write(&dest, out).expect("writing the embedded rules index");
}

/// Collects the relative paths of the tree's `.toml` and `.md` files, skipping hidden entries
/// (editor swap files) and the top-level `tests/` fixtures.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read rules folder {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("reading the rules folder");
        let name = entry
            .file_name()
            .into_string()
            .expect("UTF-8 rule file names");
        if name.starts_with('.') {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        if path.is_dir() {
            if child != "tests" {
                walk(&path, &child, out);
            }
        } else if name.ends_with(".toml") || name.ends_with(".md") {
            out.push(child);
        }
    }
}
