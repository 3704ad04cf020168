#!/usr/bin/env bash
# Set-up command 2: install what the tests need into .venv, then run the static gates and the
# whole test suite. CI (.ci/run) runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# Real parts the tests run, from Debian: fish for `gcp2aws env` (bash and dash ship with
# Debian), the AWS CLI v2 (Debian's awscli) for the onboarding and compatibility tests, Debian's
# own pipx and venv for the install-path tests on the system Python, and Go with Debian's AWS SDK
# for Go v2 (built offline) for the compatibility table. The JS SDK comes from npm, in the test
# itself (tests/compat/js, `npm ci`). One guarded apt-get, only as root on a Debian-like machine.
DEBIAN_PACKAGES=(fish awscli pipx python3-venv golang-go golang-github-aws-aws-sdk-go-v2-dev)
missing=()
command -v fish >/dev/null 2>&1 || missing+=(fish)
[ -x /usr/bin/aws ] || missing+=(awscli)
[ -x /usr/bin/pipx ] || missing+=(pipx)
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
[ -x /usr/bin/go ] || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/aws/aws-sdk-go-v2/service/sts ] \
  || missing+=(golang-github-aws-aws-sdk-go-v2-dev)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${DEBIAN_PACKAGES[@]}" >/dev/null) \
    || echo "test.sh: could not install ${missing[*]}; the tests that need them will skip (or fail under CI)" >&2
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
