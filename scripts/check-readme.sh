#!/usr/bin/env bash
# Runs the README's offline commands exactly as written: the "Try it on files" block, in a
# scratch copy of the repository, with the release binary on PATH (as the README says).
# The demo and the test command are run by the test suite itself (tests/demo.rs, cargo test).
# Usage: scripts/check-readme.sh   (from anywhere; builds the release binary if needed)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The block between "## Try it on files" and the next heading, first ```sh fence.
block="$(awk '/^## Try it on files/{f=1} f&&/^```sh/{g=1;next} g&&/^```/{exit} g{print}' README.md)"
[ -n "$block" ] || { echo "check-readme: no command block found under 'Try it on files'" >&2; exit 1; }
cp -r rules testdata tocsin.example.toml "$work/"
mkdir -p "$work/target" && ln -s "${CARGO_TARGET_DIR:-$root/target}/release" "$work/target/release"
# `cargo build --release` in the block is a no-op here (already built); run it in the repo.
cd "$work"
echo "$block" | sed "s#^cargo build --release#(cd '$root' \&\& cargo build --release --quiet)#" > commands.sh
echo "check-readme: running:"; sed 's/^/  /' commands.sh
bash -euo pipefail commands.sh > out.txt 2> err.txt || { cat err.txt >&2; echo "check-readme: FAILED" >&2; exit 1; }
grep -q 'infostealer' out.txt || { echo "check-readme: eval table missing" >&2; exit 1; }
grep -q '"type":"login"' out.txt || { echo "check-readme: decode output missing" >&2; exit 1; }
grep -q 'cases, .* passed, 0 failed' out.txt || { echo "check-readme: rules test did not pass" >&2; exit 1; }
echo "check-readme: every command in 'Try it on files' ran as written"
