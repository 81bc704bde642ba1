"""pytest plugin of ``gpu_check.sh``: a test module that cannot import an absent package is a skip.

The GPU machine has torch, cupy and pytest but not every optional package lcc's tests
import (Dask, zarr, pydantic, faiss, igraph, RAPIDS, hypothesis, ...). ``pytest -m "gpu or
rapids"`` still imports every test module to collect it, so such a module would be a
collection *error*. With ``-p gpu_check_plugin`` a collection error whose exception (or its
cause, as pytest wraps it in a ``CollectError`` / ``ConftestImportFailure``) is a
``ModuleNotFoundError`` for a top-level package that is not installed here is reported as a
skip with the reason ``"<package> not installed"``; every other collection error, including a
``ModuleNotFoundError`` inside an installed package or for a module of this repository, stays
a failure. At run time the same holds for a test that fails on such an import
(:func:`pytest_runtest_makereport`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and what caused it: ``__cause__``, ``__context__`` and pytest's ``.cause``."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]


def _installed(root: str) -> bool:
    try:
        return importlib.util.find_spec(root) is not None
    except Exception:  # ValueError (no __spec__), a broken package: it is there
        return True


def _local(root: str, config: pytest.Config, here: Path) -> bool:
    """A module of this repository (``tests/helpers.py``, ``lcc``): missing means broken."""
    dirs = {Path(config.rootpath), here}
    dirs |= {Path(config.rootpath, p) for p in config.getini("pythonpath") or ()}
    return any((d / f"{root}.py").exists() or (d / root).is_dir() for d in dirs)


def absent_package(exc: BaseException | None, config: pytest.Config, here: Path) -> str | None:
    """The top-level package whose absence ``exc`` reports, or None (then: a real failure)."""
    for e in _chain(exc):
        if isinstance(e, ModuleNotFoundError) and e.name:
            root = e.name.split(".")[0]
            if not _installed(root) and not _local(root, config, here):
                return root
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    call = getattr(report, "call", None)  # pytest keeps the CallInfo there until it is logged
    if not report.failed or call is None or call.excinfo is None:
        return
    path = Path(getattr(collector, "path", None) or collector.config.rootpath)
    here = path if path.is_dir() else path.parent
    root = absent_package(call.excinfo.value, collector.config, here)
    if root is not None:
        report.outcome = "skipped"
        report.longrepr = (str(path), None, f"{root} not installed")
        report.result = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """The same at run time: a GPU test whose CPU reference needs a package that is not
    installed here (faiss, for lcc's CPU k-NN) fails with that ``ModuleNotFoundError``,
    which is this machine's gap, not the GPU path's: a skip naming the package."""
    outcome: Any = yield
    report = outcome.get_result()
    if not report.failed or call.excinfo is None:
        return
    root = absent_package(call.excinfo.value, item.config, Path(item.path).parent)
    if root is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), None, f"{root} not installed (needed at run time)")
