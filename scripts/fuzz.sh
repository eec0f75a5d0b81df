#!/usr/bin/env bash
# Runs one of Tocsin's fuzz targets (fuzz/fuzz_targets/) with libFuzzer through cargo-fuzz.
#
#   scripts/fuzz.sh TARGET [SECONDS]   run TARGET for SECONDS (default 600), niced, one job
#   scripts/fuzz.sh seeds              rebuild fuzz/corpus/*/seed-* from testdata/ and rules/
#   scripts/fuzz.sh list               the targets
#
# Targets: decode_native, decode_vendor, rule_compile (SECURITY.md says what each checks).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It works on the stable toolchain:
# RUSTC_BOOTSTRAP=1 lets stable rustc accept the -Z flags cargo-fuzz passes for sanitizer
# coverage; no nightly is downloaded. Builds go to fuzz/target (git-ignored).
#
# The committed seeds in fuzz/corpus/TARGET/ (seed-*, and regression-*: inputs of crashes that were
# fixed) are read, never written: new inputs libFuzzer finds
# go to fuzz/target/corpus/TARGET/, crashes to fuzz/artifacts/TARGET/ (both git-ignored). To
# replay a crash: `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...`
# (from the repository root); to minimise it: `RUSTC_BOOTSTRAP=1 cargo fuzz tmin TARGET FILE`.
#
# Environment: FUZZ_JOBS (default 1: the machine has two cores and other builds run beside it),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-max_len=4096").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
targets=(decode_native decode_vendor rule_compile)

seeds() {
    python3 - "$root" <<'PY'
import hashlib, pathlib, re, sys, tomllib

root = pathlib.Path(sys.argv[1])
corpus = root / "fuzz" / "corpus"
formats = ["native", "ocsf", "ecs", "okta", "entra", "cloudtrail"]

def write(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:8]
    (d / f"seed-{name}-{digest}").write_bytes(data)

for d in (corpus / t for t in ("decode_native", "decode_vendor", "rule_compile")):
    for old in d.glob("seed-*") if d.exists() else []:
        old.unlink()

# One record per seed: each line of a JSON-lines fixture; whole documents for vendor documents.
for path in sorted((root / "testdata").rglob("*")):
    if not path.is_file() or ".expected." in path.name or path.suffix not in (".jsonl", ".json"):
        continue
    fmt = path.parent.name if path.parent.name in formats else "native"
    sel = formats.index(fmt)
    if path.suffix == ".jsonl":
        for i, line in enumerate(path.read_bytes().splitlines()):
            if not line.strip():
                continue
            if fmt == "native":
                write("decode_native", f"{path.stem}-{i}", line)
            write("decode_vendor", f"{fmt}-{path.stem}-{i}", bytes([sel]) + line)
    else:
        write("decode_vendor", f"{fmt}-doc-{path.stem}", bytes([sel | 0x80]) + path.read_bytes())

# Every shipped rule's `when`.
for path in sorted((root / "rules").rglob("*.toml")):
    if "lists" in path.parts:
        continue
    try:
        when = tomllib.loads(path.read_text()).get("when")
    except tomllib.TOMLDecodeError:
        continue
    if isinstance(when, str):
        write("rule_compile", re.sub(r"[^a-z0-9_]", "_", path.stem), when.encode())

total = sum(p.stat().st_size for p in corpus.rglob("seed-*"))
print(f"seeds written under {corpus} ({total} bytes)")
PY
}

case "${1:-}" in
    seeds) seeds; exit 0 ;;
    list) printf '%s\n' "${targets[@]}"; exit 0 ;;
    "" | -h | --help) sed -n '2,20p' "$0"; exit 2 ;;
esac

target="$1"
seconds="${2:-600}"
if [[ ! " ${targets[*]} " == *" $target "* ]]; then
    echo "unknown target '$target' (one of: ${targets[*]})" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

work="fuzz/target/corpus/$target"
mkdir -p "$work" "fuzz/artifacts/$target"
export RUSTC_BOOTSTRAP=1
# The fuzz crate keeps its own target dir (fuzz/target) even when the shell exports a shared
# one: sanitizer flags would otherwise force rebuilds of the shared cache.
unset CARGO_TARGET_DIR
parallel=()
if [[ "${FUZZ_JOBS:-1}" -gt 1 ]]; then
    parallel=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
fi
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of libFuzzer flags
exec nice -n 19 cargo fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 "${parallel[@]}" ${FUZZ_ARGS:-}
