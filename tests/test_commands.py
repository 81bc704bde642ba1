"""The README's two commands: ``./demo.sh`` (the main job) and ``./test.sh`` (the tests), and
CI's ``.ci/run`` being exactly ``./test.sh``."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(path: Path) -> list[list[str]]:
    """The script's command lines, comments and ``set`` / ``cd`` plumbing left out."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    words = [shlex.split(line) for line in lines if line]
    return [w for w in words if w[0] not in ("set", "cd")]


def test_ci_runs_exactly_test_sh():
    assert _commands(ROOT / ".ci" / "run") == [["exec", "bash", "./test.sh"]]


def test_the_scripts_are_executable_and_name_no_tool_through_path():
    for name in ("demo.sh", "test.sh"):
        script = ROOT / name
        assert os.access(script, os.X_OK), f"{name} is not executable"
        text = script.read_text()
        # every tool runs through the venv's python (`python -m tool`), never a bare `pytest`
        assert not re.search(r"^\s*(pytest|ruff|pip)\b", text, re.M), name


def test_the_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## The two commands", 1)[1].split("```", 2)[1]
    assert [line.split("#")[0].split() for line in block.strip().splitlines()[1:]] == [
        ["./demo.sh"],
        ["./test.sh"],
    ]


def test_test_sh_installs_the_dev_and_gpu_extras_and_runs_pytest_from_the_venv():
    text = (ROOT / "test.sh").read_text()
    assert '.venv/bin/python -m pip install --quiet -e ".[dev,gpu]"' in text
    assert 'exec .venv/bin/python -m pytest "$@"' in text
