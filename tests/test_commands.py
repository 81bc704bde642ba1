"""The README's two commands: ``./demo.sh`` (the main job) and ``./test.sh`` (the tests),
CI's ``.ci/run`` being exactly ``./test.sh``, and the README's first example running as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
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


def test_the_readme_starts_with_the_lcc_step_and_its_examples_run():
    """The first code after Install is the LCC step a user calls first: the callback in a
    training loop, then ``lcc.correct`` on latents; both blocks run as written."""
    sections = (ROOT / "README.md").read_text().split("\n## ")
    titles = [section.splitlines()[0] for section in sections[1:]]
    assert titles[:2] == ["Install", "Quick start: LCC in your training loop"]
    blocks = re.findall(r"```python\n(.*?)```", sections[2], re.S)
    assert len(blocks) == 2
    assert "lcc.LCCCallback(" in blocks[0] and "lcc.correct(" in blocks[1]
    expected = ["'mc_fraction'", "(1000, 16)"]
    for block, printed in zip(blocks, expected, strict=True):
        run = [sys.executable, "-c", block]  # from ROOT: the lcc of this checkout
        result = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert printed in result.stdout, result.stdout
