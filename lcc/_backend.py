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
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from lcc._registry import load

Backend = str  # a registered backend's name: "cpu", "gpu", or one added with register_backend
BackendChoice = str  # "auto" or a backend name
BACKEND_ENV_VAR = "LCC_BACKEND"


@dataclass(frozen=True)
class BackendSpec:
    """What the engine needs to know of a backend, all by import path (nothing is imported).

    module : the backend module (implements :class:`lcc.backends.EngineBackend`)
    array_module, sparse_module : its array and sparse-matrix modules (the glue's ``xp``)
    array_types : module-name prefixes of the array types that live on it
    available : ``"module:function"`` telling whether it can run here, or None (always)
    """

    module: str
    array_module: str
    sparse_module: str
    array_types: tuple[str, ...] = ()
    available: str | None = None


BACKENDS: dict[str, BackendSpec] = {
    "cpu": BackendSpec("lcc.backends.cpu", "numpy", "scipy.sparse"),
    "gpu": BackendSpec(
        "lcc.backends.gpu",
        "cupy",
        "cupyx.scipy.sparse",
        ("cupy", "cupyx"),
        "lcc._backend:gpu_available",
    ),
}


def register_backend(name: str, spec: BackendSpec) -> None:
    """Add a backend: the one line besides its module that a new backend needs."""
    if name == "auto":
        raise ValueError("'auto' is not a backend name; it means: follow the input")
    BACKENDS[name] = spec


def backend_spec(backend: str) -> BackendSpec:
    try:
        return BACKENDS[backend]
    except KeyError:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, got {backend!r}") from None


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
    """The backend an array or sparse matrix lives on: the registered backend whose
    ``array_types`` its type's module starts with (cupy → ``"gpu"``), else ``"cpu"``."""
    module = type(x).__module__
    for name, spec in BACKENDS.items():
        if spec.array_types and module.startswith(spec.array_types):
            return name
    return "cpu"


def requested_backend(backend: str | None = None) -> BackendChoice:
    """The backend choice in force: the argument, else ``$LCC_BACKEND``, else ``"auto"``."""
    source = "backend"
    if backend is None:
        backend = os.environ.get(BACKEND_ENV_VAR, "auto").strip().lower() or "auto"
        source = f"${BACKEND_ENV_VAR}"
    choices = ("auto", *BACKENDS)
    if backend not in choices:
        raise ValueError(f"{source}={backend!r} is not a backend; choose one of {choices}")
    return backend


def require_gpu(source: str = "backend='gpu'") -> None:
    """Raise a clear error when the GPU backend is asked for but cannot run."""
    if not gpu_available():
        raise RuntimeError(
            f"{source} was requested but no usable CUDA device was found "
            "(cupy.is_available() is False or cupy is not installed). Install the GPU "
            "extra with `pip install 'lcc-torch[gpu]'` on a machine with an NVIDIA GPU, or use "
            "backend='cpu'."
        )


def resolve(x: Any, backend: str | None = None) -> tuple[Backend, Backend]:
    """Return ``(input_backend, compute_backend)`` for an input and a backend choice."""
    given = backend_of(x)
    choice = requested_backend(backend)
    target: Backend = given if choice == "auto" else choice
    available = backend_spec(target).available
    if available is not None:
        if target == "gpu":
            where = f"backend={choice!r}" if backend is not None else f"${BACKEND_ENV_VAR}=gpu"
            require_gpu(where)
        elif not load(available)():
            raise RuntimeError(f"backend {target!r} was requested but cannot run here")
    return given, target


def array_module(backend: Backend) -> ModuleType:
    """The backend's array module: numpy for the CPU backend, cupy for the GPU backend."""
    return load(backend_spec(backend).array_module)


def sparse_module(backend: Backend) -> ModuleType:
    """scipy.sparse for the CPU backend, cupyx.scipy.sparse for the GPU backend."""
    return load(backend_spec(backend).sparse_module)


def _device_sparse_dtype(m: Any) -> Any:
    """``m`` in a dtype cupyx's sparse matrices hold (bool, float32 / 64, complex64 / 128):
    integer weights (networkx's adjacency) as float64, float16 as float32."""
    import numpy as np

    if m.dtype == np.bool_ or m.dtype in (np.float32, np.float64, np.complex64, np.complex128):
        return m
    return m.astype(np.float64 if m.dtype.kind in "iu" else np.float32)


def move(x: Any, backend: Backend) -> Any:
    """Copy a dense array or sparse matrix to ``backend``'s device (no-op when already there)."""
    here = backend_spec(backend_of(x))
    there = backend_spec(backend)
    if here.array_module == there.array_module:
        return x  # the same kind of array (e.g. a numpy-based backend)
    if there.array_module != "numpy":
        if here.array_module != "numpy":
            x = x.get()
        if load("scipy.sparse").issparse(x):
            return load(there.sparse_module).csr_matrix(_device_sparse_dtype(x.tocsr()))
        return load(there.array_module).asarray(x)
    return x.get()  # device arrays and sparse matrices copy to the host with .get()
