"""The package's shape: nothing inside it imports ``lcc`` itself (only the module it needs)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lcc"


def _submodules() -> set[str]:
    return {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir()
    }


def test_nothing_inside_the_package_imports_lcc_itself():
    submodules = _submodules()
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import) and any(a.name == "lcc" for a in node.names):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} import lcc")
            if isinstance(node, ast.ImportFrom) and node.module == "lcc" and node.level == 0:
                names = [a.name for a in node.names if a.name not in submodules]
                if names:
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {names}")
    assert offenders == []


# ------------------------------------------------------------------ layers, one way
def _lint_imports(package_parent: Path, contract: str | None = None) -> subprocess.CompletedProcess:
    """import-linter on the ``lcc`` found in ``package_parent`` with the ``pyproject.toml`` there
    (only the contract ``contract`` when given)."""
    only = (contract,) if contract else ()
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(no_cache=True, limit_to_contracts={only!r}))"
    )
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=package_parent, capture_output=True, text=True, env=env
    )


def _contracts() -> list[dict]:
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_lint_imports_keeps_every_contract():
    pytest.importorskip("importlinter", reason="import-linter is a dev dependency")
    result = _lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(_contracts())} kept, 0 broken" in result.stdout


# Each contract broken on purpose: (contract id, module, the import added to it).
VIOLATIONS = [
    ("layers", "graph.py", "from lcc.correction import correct"),  # up a layer
    ("layers", "graph.py", "from lcc.neighbors import knn"),  # a sibling in its layer
    ("backends-are-leaves", "backends/cpu.py", "from lcc.kernels import graph"),
    ("engine-through-the-dispatcher", "graph.py", "from lcc.backends import cpu"),
    ("engine-below-training", "sharded/_plumbing.py", "from lcc.training import trainer"),
    ("independent-backends", "backends/gpu.py", "from lcc.backends import cpu"),
    ("inside-sharded", "sharded/_plumbing.py", "from lcc.sharded import correction"),
    ("inside-kernels", "kernels/neighbors.py", "from lcc.kernels import targets"),
    ("inside-backends", "backends/knn/cpu_exact.py", "from lcc.backends import cpu"),
    ("inside-backends-knn", "backends/knn/cpu_exact.py", "from lcc.backends.knn import cpu_ivf"),
    ("inside-training", "training/capture.py", "from lcc.training import trainer"),
    ("inside-pipelines", "pipelines/_schema.py", "from lcc.pipelines import ssc"),
    ("inside-models", "models/_weights.py", "from lcc.models import _timm"),
]


@pytest.mark.parametrize(("contract", "module", "line"), VIOLATIONS)
def test_a_violation_breaks_its_contract(tmp_path, contract, module, line):
    """Each rule of the contract constrains: one deliberate import breaks it."""
    pytest.importorskip("importlinter", reason="import-linter is a dev dependency")
    shutil.copytree(PACKAGE, tmp_path / "lcc", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "lcc" / module
    path.write_text(path.read_text() + f"\n\ndef _violation():\n    {line}\n")
    result = _lint_imports(tmp_path, contract)
    assert result.returncode != 0, result.stdout
    assert "0 kept, 1 broken" in result.stdout, result.stdout


def test_every_contract_is_tested_broken():
    assert {c["id"] for c in _contracts()} == {v[0] for v in VIOLATIONS}


def test_no_import_cycles_inside_the_package():
    """Module-level and function-level imports alike (grimp reads both)."""
    grimp = pytest.importorskip("grimp", reason="import-linter (grimp) is a dev dependency")
    graph = grimp.build_graph("lcc")
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i != "lcc"}
        for m in graph.modules
        if m != "lcc"  # the root package re-exports everything by design
    }
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for nxt in sorted(edges.get(module, ())):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [module, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    # a package's __init__ importing its own submodules is not a cycle of code
    real = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert real == []


# --------------------------------------------------------------------------- sizes
MAX_FILE_LINES = 400
MAX_FUNCTION_CODE_LINES = 60


def _code_lines(source_lines: list[str], node: ast.AST) -> int:
    """Lines of a function holding code: its docstring, blank and comment lines left out."""
    skip: set[int] = set()
    body = node.body
    if ast.get_docstring(node, clean=False) is not None:
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = source_lines[number - 1].strip()
        if text and not text.startswith("#") and number not in skip:
            count += 1
    return count


def test_no_file_over_400_lines_and_no_function_over_60_lines_of_code():
    too_long = []
    for root in (PACKAGE, PACKAGE.parent / "benchmarks"):
        for path in sorted(root.rglob("*.py")):
            source = path.read_text()
            lines = source.splitlines()
            name = path.relative_to(PACKAGE.parent)
            if len(lines) > MAX_FILE_LINES:
                too_long.append(f"{name}: {len(lines)} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    count = _code_lines(lines, node)
                    if count > MAX_FUNCTION_CODE_LINES:
                        too_long.append(f"{name}:{node.lineno} {node.name}: {count} lines of code")
    assert too_long == []


def test_every_module_is_in_a_layer():
    """A module left out of the contract would escape it: every top-level module of lcc is
    named in one of the layers."""
    import re

    (layers,) = [c for c in _contracts() if c["id"] == "layers"]
    named = {m for layer in layers["layers"] for m in re.split(r"\s*[:|]\s*", layer.strip())}
    modules = {m for m in _submodules() if m not in ("__init__", "__pycache__")}
    assert modules - named == set()


def test_docstrings_cite_only_what_exists():
    """Every ``:mod:`` / ``:func:`` / ``:class:`` / … reference to ``lcc.*`` in the package
    names a module, or an attribute of one, that exists (a renamed module leaves none stale)."""
    import importlib
    import re

    role = re.compile(r":(?:mod|func|class|data|meth|attr|exc):`~?(lcc[\w.]*)`")

    def is_module(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent that is a module, not a package
            return False

    stale = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in role.findall(line):
                parts = name.split(".")
                cut = next(c for c in range(len(parts), 0, -1) if is_module(".".join(parts[:c])))
                owner = importlib.import_module(".".join(parts[:cut]))
                for attribute in parts[cut:]:
                    owner = getattr(owner, attribute, None)
                if owner is None:
                    stale.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {name}")
    assert stale == []


def test_exactly_one_class_named_lcc_callback():
    """The plain-PyTorch callback is ``LCCCallback``; the Lightning one is named for Lightning."""
    named = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "LCCCallback"
    ]
    assert len(named) == 1 and named[0].startswith("lcc/training/callback.py:"), named


# each pipeline module's schema is its ``Config``: the CLI reads ``module.Config``
ONE_PER_PIPELINE = {"Config"}


def test_no_two_classes_share_a_name():
    """A class name says which class it is: no two classes of the package share one, each
    pipeline's ``Config`` (the one name the CLI looks up in every pipeline module) aside."""
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                name = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                where.setdefault(node.name, []).append(name)
    shared = {name: places for name, places in where.items() if len(places) > 1}
    assert set(shared) <= ONE_PER_PIPELINE, shared
    assert all(place.startswith("lcc/pipelines/") for place in shared.get("Config", []))


def test_the_public_names_resolve_and_leave_the_plumbing_out():
    import lcc

    assert len(set(lcc.__all__)) == len(lcc.__all__)
    assert {"BACKEND_ENV_VAR", "sharded"}.isdisjoint(lcc.__all__)
    for name in lcc.__all__:
        getattr(lcc, name)


# ------------------------------------------------------------------ one dispatcher
def _calls_outside(pattern: str, allowed: tuple[str, ...]) -> list[str]:
    import re

    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(allowed):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line) and not line.lstrip().startswith(("def ", "#")):
                found.append(f"lcc/{name}:{number}: {line.strip()}")
    return found


def test_the_engine_asks_where_it_runs_only_in_the_dispatcher():
    """Outside the dispatcher, the backend registry and the backends, at most 8 calls of
    ``backend_of`` / ``sharded`` / ``resolve`` / ``backends.get`` (71 before the one
    dispatcher): helpers receive the placement instead of asking again."""
    pattern = r"(?<![\w.])(backend_of|sharded|resolve)\(|backends\.get\("
    calls = _calls_outside(pattern, ("_dispatch.py", "_backend.py", "backends/"))
    assert len(calls) <= 8, "\n".join(calls)


def test_only_the_registry_and_the_doctor_import_by_name():
    assert _calls_outside(r"\bimportlib\b", ("_registry.py", "doctor.py")) == []
