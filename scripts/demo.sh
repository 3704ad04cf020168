#!/usr/bin/env bash
# Set-up command 1: install gcp2aws (with the demo extra) into .venv and run `gcp2aws demo`,
# the full flow against a local metadata emulator and a local STS. No cloud account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[demo]'
exec .venv/bin/gcp2aws demo
