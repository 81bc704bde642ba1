"""The only modules that call k-NN, graph, k-Means and SVD libraries.

:mod:`lcc.backends.cpu` wraps faiss, igraph, scikit-learn and scipy;
:mod:`lcc.backends.gpu` wraps cuVS, cuGraph, cuML and cupyx. Both expose the
same function names and signatures; the public functions in :mod:`lcc` pick
one with :func:`get` after validating their input.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["get"]


def get(backend: str) -> ModuleType:
    """The backend module for ``"cpu"`` or ``"gpu"`` (imported on first use)."""
    if backend not in ("cpu", "gpu"):
        raise ValueError(f"backend must be 'cpu' or 'gpu', got {backend!r}")
    return importlib.import_module(f"lcc.backends.{backend}")
