#!/usr/bin/env bash
# Set-up command 2: install what the tests need into .venv, then run the static gates and the
# whole test suite. CI (.ci/run) runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# Real shells for `gcp2aws env` tests (bash and dash ship with Debian; fish does not).
if ! command -v fish >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fish >/dev/null) \
    || echo "test.sh: could not install fish; its shell tests will be skipped" >&2
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

echo "== ruff"
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest (branch coverage of src/gcp2aws; the floor applies to a whole-suite run)"
# pip-audit is not run here: this network reaches the package index but neither PyPI's JSON
# vulnerability data nor OSV, so it would audit nothing and report "no known vulnerabilities".
scripts/coverage_gate.sh "$@"
