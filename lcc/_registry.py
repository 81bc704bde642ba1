"""The one place lcc imports by name: whatever a registry names is imported on first use.

Backends (:data:`lcc._backend.BACKENDS`), k-NN algorithms
(:data:`lcc.backends.knn.ALGORITHMS`), pipelines (:data:`lcc.cli.PIPELINES`) and
the torch-based public names of :mod:`lcc` are registered as import paths, so that
``import lcc`` stays light and a GPU library is imported only where it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

__all__ = ["installed", "load", "source_file"]


def load(path: str) -> Any:
    """The module ``"package.module"``, or the attribute ``"package.module:name"``."""
    module, _, name = path.partition(":")
    loaded: ModuleType = importlib.import_module(module)
    return getattr(loaded, name) if name else loaded


def installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (its parent package aside)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # imported without a spec
        return True


def source_file(module: str) -> str:
    """The path of ``module``'s source file, without importing it."""
    return importlib.util.find_spec(module).origin
