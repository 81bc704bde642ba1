#!/usr/bin/env bash
# The main job from a fresh clone: set up .venv (CPU install) once, then run the
# LCC demo pipeline — a baseline and an LCC fine-tune of a small CNN on the
# embedded digits. Extra arguments are config overrides, e.g. finetune.epochs=2.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/lcc ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
fi
exec .venv/bin/lcc run pipelines/configs/lcc_demo.yaml "$@"
