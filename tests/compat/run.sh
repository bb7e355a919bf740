#!/usr/bin/env bash
# Runs the twilio-python compatibility suite against a real confab process.
#
#   tests/compat/run.sh [pytest args...]     e.g. -k wire_shape, -x, -v
#
# Uses $CONFAB_BIN or target/debug/confab (build it first: `cargo build`).
# Set CONFAB_COMPAT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
# to run against a fresh PostgreSQL database (created and dropped by the suite).
# Set CONFAB_COMPAT_BASE_URL to run against a server that is already up
# instead (conftest.py lists what else external mode reads); the binary is
# then only used for `confab admin`, and may also be `confab` on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

bin="${CONFAB_BIN:-$repo/target/debug/confab}"
if [[ -f "$bin" && -x "$bin" ]]; then
    CONFAB_BIN="$(realpath "$bin")"  # absolute: pytest runs from the repo root
    export CONFAB_BIN
elif [[ -n "${CONFAB_BIN:-}" || -z "${CONFAB_COMPAT_BASE_URL:-}" ]]; then
    echo "run.sh: confab binary not found at $bin" >&2
    echo "run.sh: build it with 'cargo build' (or point CONFAB_BIN at one)" >&2
    exit 2
fi

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

cd "$repo"
exec "$venv/bin/python" -m pytest -q tests/compat "$@"
