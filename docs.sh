#!/usr/bin/env bash
# The documentation site, built from the code: ./docs.sh [extra sphinx-build arguments].
# Sets up .venv with the docs extra once, then builds docs/ into docs/_build/html with
# Sphinx from a fresh environment (-E: the public-name check sees every page), every
# notebook executed, and warnings as errors (-W): a broken cross-reference, a link to a
# missing page, an undocumented public name or a failing notebook cell fails the build.
# LCC_DOCS_EXECUTE=off skips the notebooks' execution. Open docs/_build/html/index.html.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f .venv/.docs-extras ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev,docs]"
    touch .venv/.docs-extras
fi
exec .venv/bin/python -m sphinx -E -W --keep-going -b html docs docs/_build/html "$@"
