#!/usr/bin/env bash
# Makes the Python environment of the independent Shared Signals receiver the end-to-end test
# runs (tests/ssf_receiver/receiver.py): a venv under target/ with the jwcrypto JOSE library.
# Idempotent. Prints the venv's python on its last line. On Debian without the venv module,
# installs python3-venv (needs root, as CI has).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/ssf-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jwcrypto' 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'jwcrypto>=1.5,<2'
fi
"$venv/bin/python" -c 'import jwcrypto; print("jwcrypto", jwcrypto.__version__ if hasattr(jwcrypto, "__version__") else "")' >&2
echo "$PWD/$venv/bin/python"
