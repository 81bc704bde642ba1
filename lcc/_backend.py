"""Which backend runs a computation: dispatch on the input array type.

Every public engine function takes numpy / scipy.sparse input (CPU backend) or
cupy / cupyx.scipy.sparse input (GPU backend) and returns results of the same
kind. Nothing here imports cupy at module import time, so ``import lcc`` works
with only the CPU dependencies installed.

The ``backend=`` argument of the public functions, or the ``LCC_BACKEND``
environment variable when the argument is omitted, can force a device:

* ``"auto"`` (default): follow the input (cupy → GPU, numpy → CPU);
* ``"cpu"``: compute on the CPU; cupy input is copied to the host and the
  results are copied back, so the caller still gets the kind of array it gave;
* ``"gpu"``: compute on the GPU, likewise; an error says so if no usable CUDA
  device exists (``cupy.is_available()``; a successful ``import cupy`` proves
  nothing, RAPIDS wheels import on machines without a GPU).

The arithmetic between library calls is written once against ``xp`` (numpy or
cupy, from :func:`array_module`) and ``sparse`` (scipy.sparse or
cupyx.scipy.sparse, from :func:`sparse_module`) rather than the stricter
Array API: cupy mirrors numpy's API including what the Array API lacks and
the glue needs (``bincount``, ``median``, sparse matrices, ``default_rng``),
so one code path runs on both devices and the CPU tests exercise it.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Any, Literal

Backend = Literal["cpu", "gpu"]
BackendChoice = Literal["auto", "cpu", "gpu"]
BACKEND_ENV_VAR = "LCC_BACKEND"
_CHOICES = ("auto", "cpu", "gpu")


@functools.cache
def gpu_available() -> bool:
    """True when cupy is installed *and* a CUDA device can be used.

    Cached: device discovery is slow and does not change within a process.
    Clear with ``gpu_available.cache_clear()`` (tests do).
    """
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install raising on import
        return False
    try:
        return bool(cupy.is_available())
    except Exception:
        return False


def is_gpu_array(x: Any) -> bool:
    """True for cupy arrays and cupyx sparse matrices, without importing cupy."""
    module = type(x).__module__
    return module.startswith(("cupy", "cupyx"))


def is_dask_array(x: Any) -> bool:
    """True for a ``dask.array.Array`` (checked without importing dask)."""
    return type(x).__module__.startswith("dask.array") and type(x).__name__ == "Array"


def backend_of(x: Any) -> Backend:
    """The backend an array or sparse matrix lives on: ``"gpu"`` for cupy, else ``"cpu"``."""
    return "gpu" if is_gpu_array(x) else "cpu"


def requested_backend(backend: str | None = None) -> BackendChoice:
    """The backend choice in force: the argument, else ``$LCC_BACKEND``, else ``"auto"``."""
    source = "backend"
    if backend is None:
        backend = os.environ.get(BACKEND_ENV_VAR, "auto").strip().lower() or "auto"
        source = f"${BACKEND_ENV_VAR}"
    if backend not in _CHOICES:
        raise ValueError(f"{source}={backend!r} is not a backend; choose one of {_CHOICES}")
    return backend  # type: ignore[return-value]


def require_gpu(source: str = "backend='gpu'") -> None:
    """Raise a clear error when the GPU backend is asked for but cannot run."""
    if not gpu_available():
        raise RuntimeError(
            f"{source} was requested but no usable CUDA device was found "
            "(cupy.is_available() is False or cupy is not installed). Install the GPU "
            "extra with `pip install 'lcc[gpu]'` on a machine with an NVIDIA GPU, or use "
            "backend='cpu'."
        )


def resolve(x: Any, backend: str | None = None) -> tuple[Backend, Backend]:
    """Return ``(input_backend, compute_backend)`` for an input and a backend choice."""
    given = backend_of(x)
    choice = requested_backend(backend)
    target: Backend = given if choice == "auto" else choice
    if target == "gpu":
        require_gpu(f"backend={choice!r}" if backend is not None else f"${BACKEND_ENV_VAR}=gpu")
    return given, target


def array_module(backend: Backend) -> ModuleType:
    """numpy for the CPU backend, cupy for the GPU backend."""
    if backend == "gpu":
        import cupy

        return cupy
    import numpy

    return numpy


def sparse_module(backend: Backend) -> ModuleType:
    """scipy.sparse for the CPU backend, cupyx.scipy.sparse for the GPU backend."""
    if backend == "gpu":
        import cupyx.scipy.sparse

        return cupyx.scipy.sparse
    import scipy.sparse

    return scipy.sparse


def move(x: Any, backend: Backend) -> Any:
    """Copy a dense array or sparse matrix to ``backend``'s device (no-op when already there)."""
    on_gpu = is_gpu_array(x)
    if (backend == "gpu") == on_gpu:
        return x
    if backend == "gpu":
        import cupy
        import cupyx.scipy.sparse
        import scipy.sparse

        if scipy.sparse.issparse(x):
            return cupyx.scipy.sparse.csr_matrix(x.tocsr())
        return cupy.asarray(x)
    return x.get()  # cupy arrays and cupyx sparse matrices both copy to host with .get()
