"""The package's shape: nothing inside it imports ``lcc`` itself (only the module it needs)."""

from __future__ import annotations

import ast
from pathlib import Path

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
