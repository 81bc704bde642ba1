"""The documentation site (issue 32, item 1): ``./docs.sh``'s build with the notebooks
executed, warnings as errors; and the checks that make a broken cross-reference or an
undocumented public name fail it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(src: Path, out: Path, *extra: str, execute: bool = True, path: str = "") -> tuple:
    """``sphinx-build -E -W --keep-going -b html`` as ``docs.sh`` runs it: (rc, output)."""
    env = os.environ | {"LCC_DOCS_EXECUTE": "force" if execute else "off"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-b", "html"]
    done = subprocess.run(
        [*command, str(src), str(out), *extra], capture_output=True, text=True, env=env
    )
    return done.returncode, done.stdout + done.stderr


def _copy(tmp_path: Path) -> Path:
    """The docs with what they include (README, benchmarks, notebooks) in ``tmp_path``."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs", symlinks=True,
                    ignore=shutil.ignore_patterns("_build"))  # fmt: skip
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "README.md", tmp_path / "benchmarks" / "README.md")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path / "docs"


def test_the_site_builds_with_the_notebooks_executed(tmp_path):
    start = time.perf_counter()
    rc, output = _build(ROOT / "docs", tmp_path / "html")
    seconds = time.perf_counter() - start
    assert rc == 0, output[-3000:]
    html = tmp_path / "html"
    reference = (html / "api" / "lcc.deep.html").read_text()
    assert "BRBCallback" in reference and "eq. (" in (html / "api" / "lcc.html").read_text()
    notebook = (html / "notebooks" / "lcc_finetune.html").read_text()
    assert "data:image/png;base64" in notebook or "<img" in notebook  # executed: its plots
    assert "Quick start" in (html / "guide" / "quickstart.html").read_text()
    print(f"docs built in {seconds:.0f} s")


def test_a_broken_cross_reference_fails_the_build(tmp_path):
    docs = _copy(tmp_path)
    (docs / "broken.md").write_text(
        "# Broken\n\nSee {func}`lcc.knn`, {func}`lcc.no_such_function` and {doc}`missing`.\n"
    )
    with open(docs / "index.md", "a") as f:
        f.write("\n```{toctree}\n:hidden:\n\nbroken\n```\n")
    rc, output = _build(docs, tmp_path / "html", execute=False)
    assert rc != 0
    assert "broken cross-reference lcc.no_such_function: no such lcc name" in output
    assert "unknown document: 'missing'" in output
    assert "broken cross-reference lcc.knn" not in output  # the good one passes


def test_an_undocumented_public_name_fails_the_build(tmp_path):
    docs = _copy(tmp_path)
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "lcc_docs_probe.py").write_text(
        '"""A public module."""\n__all__ = ["described", "bare"]\n\n\n'
        'def described():\n    """Has a docstring."""\n\n\ndef bare():\n    pass\n'
    )
    (docs / "api" / "lcc_docs_probe.md").write_text(
        "# probe\n\n```{eval-rst}\n.. automodule:: lcc_docs_probe\n```\n"
    )
    with open(docs / "api" / "index.md", "a") as f:
        f.write("\n```{toctree}\n:hidden:\n\nlcc_docs_probe\n```\n")
    modules = "lcc,lcc.deep,lcc_docs_probe,lcc.io"  # lcc.io: public names, no page
    rc, output = _build(docs, tmp_path / "html", "-D", f"lcc_public_modules={modules}",
                        execute=False, path=str(probe))  # fmt: skip
    assert rc != 0
    assert "undocumented public name lcc_docs_probe.bare: it has no docstring" in output
    assert "lcc_docs_probe.described" not in output
    assert "public module lcc.io has no page api/lcc.io.md" in output


@pytest.mark.parametrize("page", ["install", "training", "deep", "gpu", "cli", "resume"])
def test_each_guide_page_includes_a_readme_section(page):
    text = (ROOT / "docs" / "guide" / f"{page}.md").read_text()
    marker = text.split(":start-after: ")[1].split("\n")[0]
    readme = (ROOT / "README.md").read_text()
    assert readme.count(marker) == 1 and readme.count(marker.replace("guide:", "/guide:")) == 1
