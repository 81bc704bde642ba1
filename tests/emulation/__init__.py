"""Strict RAPIDS emulation for the tests: the GPU code path, run without a GPU.

:func:`install` puts a numpy-backed ``cupy`` / ``cupyx`` (:mod:`.fake_cupy`,
:mod:`.fake_sparse`) and thin cuVS / cuML / cuGraph / cuDF / Dask-RAPIDS fakes
(:mod:`.fake_rapids`, :mod:`.fake_dask_rapids`) in ``sys.modules`` for one
test, hiding any real RAPIDS, so that ``lcc``'s lazy ``import cupy`` inside
the GPU backend gets the emulation. Never imported by the package.
"""

from __future__ import annotations

import sys
from typing import Any

from . import fake_cupy, fake_dask_rapids, fake_rapids

ROOTS = ("cupy", "cupyx", "cuml", "cugraph", "cudf", "cuvs", "dask_cudf", "pylibraft", "rmm",
         "dask_cuda", "raft_dask")  # fmt: skip


def modules() -> dict[str, Any]:
    """Every fake module, keyed by the name ``import`` looks up."""
    tree = {
        "cupy": fake_cupy,
        "cupy.random": fake_cupy.random,
        "cupy.cuda": fake_cupy.cuda,
        "cupy.linalg": fake_cupy.linalg,
    }
    tree |= fake_rapids.sparse_tree()
    tree |= fake_rapids.module_tree()
    tree |= fake_dask_rapids.module_tree()
    return tree


TORCH_ALLOCATORS: list[Any] = []  # what torch.cuda.memory.change_current_allocator received


CUPY_ONLY = ("cupy", "cupyx")  # what a machine with torch + cupy-cuda13x and no RAPIDS has


def install(monkeypatch: Any, *, rapids: bool = True) -> None:
    """Swap the emulation in for the rest of the test (``monkeypatch`` undoes it).

    ``rapids=False`` emulates a GPU machine with cupy but no RAPIDS: only the fake
    ``cupy`` / ``cupyx`` are installed and every other root in :data:`ROOTS` is
    blocked (``sys.modules[name] = None``: ``import cuvs`` raises ``ImportError`` and
    ``importlib.util.find_spec("cuvs")`` is None, as where it is not installed), so
    lcc's GPU backend runs its cupy tier.

    Also: ``lcc.gpu_memory``'s once-per-process choice starts afresh, and torch's
    ``change_current_allocator`` (which needs CUDA) records its argument instead.
    """
    import torch

    from lcc import _backend, gpu_memory

    gpu_memory._reset_for_tests()
    TORCH_ALLOCATORS.clear()
    if fake_cupy.REAL_NAMES is None:
        fake_cupy.REAL_NAMES = _real_cupy_names()
    monkeypatch.setattr(torch.cuda.memory, "change_current_allocator", TORCH_ALLOCATORS.append)

    for name in list(sys.modules):
        if name.split(".")[0] in ROOTS:
            monkeypatch.delitem(sys.modules, name)
    from importlib.machinery import ModuleSpec

    for name, module in modules().items():
        if not rapids and name.split(".")[0] not in CUPY_ONLY:
            continue
        if getattr(module, "__spec__", None) is None:
            module.__spec__ = ModuleSpec(name, None)  # find_spec works on the fakes
        monkeypatch.setitem(sys.modules, name, module)
    if not rapids:
        for root in ROOTS:
            if root not in CUPY_ONLY:
                monkeypatch.setitem(sys.modules, root, None)
    _register_dask_chunk_types()
    _backend.gpu_available.cache_clear()  # re-evaluated on the fake: cupy.is_available() is True


def _real_cupy_names() -> set[str] | None:
    """``dir(cupy)`` of the installed cupy (imports without a GPU), or None without one."""
    import importlib
    import importlib.util

    real = sys.modules.get("cupy")
    if real is None or real is fake_cupy:
        if importlib.util.find_spec("cupy") is None:
            return None
        real = importlib.import_module("cupy")
    return set(dir(real))


def _register_dask_chunk_types() -> None:
    """dask.array registers cupy's array types as chunk types when *it* is imported; if
    that happened before the emulation (real cupy), register the emulated types too."""
    from dask.array.chunk_types import is_valid_chunk_type, register_chunk_type

    from . import fake_sparse

    for kind in (fake_cupy.ndarray, fake_sparse.spmatrix):
        if not is_valid_chunk_type(kind):
            register_chunk_type(kind)
