#!/usr/bin/env bash
# The tests from a fresh clone, nothing else to do: set up .venv with the dev and gpu
# extras once (~10 min and ~13 GB here: torch, the CPU engine, RAPIDS 26.10 wheels, which
# import without a GPU so that the contract test checks every RAPIDS call against the real
# API), then run pytest through the venv's python (~15 min on 2 cores). Extra arguments
# go to pytest, e.g. ./test.sh tests/deep -x. CI's .ci/run is this script.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f .venv/.test-extras ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev,gpu]"
    .venv/bin/python -m pip check
    touch .venv/.test-extras
fi
exec .venv/bin/python -m pytest "$@"
