"""Ruff lint and format checks run with the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    pytest.importorskip("ruff", reason="ruff is a dev dependency: pip install -e '.[dev]'")
    command = [sys.executable, "-m", "ruff", *args]  # not through PATH: no venv is activated
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
