"""A numpy-backed ``cupy`` that keeps cupy's rules (tests only, never imported by ``lcc``).

Arrays live in host memory but behave like device arrays of the *oldest*
cupy the ``gpu`` extra admits (cupy-cuda13x 14.0):

* implicit host conversion is refused exactly as cupy does it:
  ``numpy.asarray(x)`` calls ``ndarray.__array__``, which raises
  ``TypeError("Implicit conversion to a NumPy array is not allowed. Please use
  `.get()` to construct a NumPy array explicitly.")`` (cupy ``_core/core.pyx``,
  ``ndarray.__array__``); ``.get()``, ``cupy.asnumpy`` and DLPack work;
* cupy functions and ufuncs refuse numpy arrays as operands (cupy raises
  ``TypeError: Unsupported type <class 'numpy.ndarray'>`` from its ufunc
  argument preprocessing), so a host array leaking into device glue fails;
* reductions and scalar indexing return 0-d device arrays, never numpy scalars;
* ``cupy.repeat`` refuses an array as ``repeats`` ("cupy.ndarray cannot be
  specified as `repeats` argument.", cupy ``_manipulation/tiling.py``, 14.0);
* ``cupy.random.default_rng`` gives a ``Generator`` with cupy's method set only
  (cupy ``random/_generator_api.pyx``: no ``choice`` / ``permutation`` /
  ``shuffle`` / ``normal``).

numpy functions called on these arrays dispatch to the fake through
``__array_function__`` / ``__array_ufunc__``, as they do for real cupy.

Device memory (:mod:`.fake_cuda`): an array's memory is its owning numpy
storage and lives while any array or view over it lives; ``ascontiguousarray``
returns its argument when no copy is needed, as cupy does, so a copy's lifetime
is the caller's. A non-owning holder (cuVS's brute-force index) reads through a
weak :class:`~.fake_cuda.DeviceView` and raises once the storage is freed. What
stays unmodelled: freed memory is never reused or poisoned for readers that
escaped a ``DeviceView`` (raw ``.data.ptr``), storage numpy does not own
(``from_dlpack``) is never reported freed, streams are synchronous, and cupy's
default pool does not see array allocations (only ``MemoryPool.malloc`` calls).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from .fake_cuda import (  # noqa: F401  (cupy.cuda, its pools: cupy attributes)
    _ALLOCATOR,
    Device,
    MemoryPool,
    _allocated,
    cuda_module,
    get_default_memory_pool,
    get_default_pinned_memory_pool,
)

IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
    "a NumPy array explicitly."
)


HOST_COPIES = {"count": 0}  # device → host copies made by .get() (tests read it)


def _refuse_host(value: Any) -> None:
    """cupy's ufunc preprocessing wraps a numpy array in CScalar, which raises (0-d too)."""
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}")


def unwrap(value: Any, *, strict: bool = True) -> Any:
    """Device values → their numpy storage; numpy arrays refused when ``strict``."""
    if isinstance(value, ndarray):
        return value._a
    if strict:
        _refuse_host(value)
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return type(value)(unwrap(v, strict=strict) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, strict=strict) for k, v in value.items()}
    if getattr(type(value), "_emulated_sparse", False):
        return value._m
    return value


def wrap(value: Any) -> Any:
    """numpy results → device arrays (numpy scalars become 0-d arrays, as in cupy)."""
    if isinstance(value, np.ndarray):
        return ndarray._of(value)
    if isinstance(value, np.generic):
        return ndarray._of(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


class ndarray(NDArrayOperatorsMixin):
    """A device array: numpy storage behind cupy's interface and rules."""

    __slots__ = ("__weakref__", "_a")
    __module__ = "cupy"
    __array_priority__ = 100  # cupy's
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any, dtype: Any = float, order: str = "C"):
        self._a = np.empty(shape, dtype=dtype, order=order)
        _allocated(self._a)

    @classmethod
    def _of(cls, a: np.ndarray) -> ndarray:
        out = cls.__new__(cls)
        out._a = a
        if _ALLOCATOR["observe"] is not None:
            _allocated(a)
        return out

    # -- refusing implicit host copies (cupy's __array__)
    def __array__(self, *args: Any, **kwargs: Any):
        raise TypeError(IMPLICIT)

    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> np.ndarray:
        HOST_COPIES["count"] += 1
        return np.array(self._a, order=order, copy=True)

    def __reduce__(self) -> Any:
        """As cupy's: pickling copies the array to the host (``(array, (self.get(),))``)."""
        return (array, (self.get(),))

    # -- numpy protocol dispatch, as cupy implements it
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        args = [unwrap(x) for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(unwrap(o) for o in kwargs["out"])
        return wrap(getattr(ufunc, method)(*args, **kwargs))

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        name = func.__name__
        module = linalg if "linalg" in func.__module__ else sys.modules[__name__]
        impl = getattr(module, name, None)
        if impl is None or not callable(impl):
            return NotImplemented
        return impl(*args, **kwargs)

    # -- attributes and methods
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._of(self._a.T))
    data = property(lambda self: _MemoryPointer(self._a))
    device = property(lambda self: Device(0))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # never numpy's __array_interface__ / __array_struct__
            raise AttributeError(f"cupy.ndarray has no attribute {name!r}")
        attr = getattr(self._a, name)  # AttributeError for what numpy lacks
        if name in _HOST_METHODS:
            raise AttributeError(f"cupy.ndarray has no attribute {name!r}")
        if not callable(attr):
            return wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            return wrap(attr(*unwrap(args), **unwrap(kwargs)))

        return method

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._a[unwrap(key, strict=False)])

    def __setitem__(self, key: Any, value: Any) -> None:
        basic = all(isinstance(k, int | slice | type(Ellipsis)) or k is None
                    for k in (key if isinstance(key, tuple) else (key,)))  # fmt: skip
        if basic and isinstance(value, np.ndarray) and value.ndim > 0:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[unwrap(key, strict=False)] = unwrap(value, strict=False)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (wrap(v) for v in self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def __repr__(self) -> str:
        return repr(self._a).replace("array", "emulated_cupy.array", 1)

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self._a.__dlpack_device__()

    def __copy__(self) -> ndarray:
        return ndarray._of(self._a.copy())

    def tolist(self) -> Any:
        return self._a.tolist()

    def item(self, *args: Any) -> Any:
        return self._a.item(*args)


# numpy methods cupy does not have: using them on a device array is a bug
_HOST_METHODS = {"tofile", "dump", "dumps", "tobytes", "setflags", "getfield", "itemset"}


class _MemoryPointer:
    """``ndarray.data``: cupy gives a device pointer, never the host buffer."""

    def __init__(self, a: np.ndarray):
        self.ptr = a.__array_interface__["data"][0]
        self.mem = types.SimpleNamespace(size=a.nbytes)


# ---------------------------------------------------------------- module functions
def _device_function(name: str) -> Any:
    func = getattr(np, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        return wrap(func(*unwrap(args), **unwrap(kwargs)))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"cupy.{name}, emulated on numpy."
    return call


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    """Copies host data to the device (cupy.asarray); device arrays pass through."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    if hasattr(type(a), "__cuda_array_interface__"):  # device_ndarray, cuDF columns: no copy
        return asarray(ndarray._of(a._a), dtype=dtype)
    if getattr(type(a), "_emulated_sparse", False):
        raise TypeError("cupy.asarray does not take sparse matrices; use .toarray()")
    return ndarray._of(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", **_: Any) -> ndarray:
    if isinstance(obj, ndarray):
        return ndarray._of(np.array(obj._a, dtype=dtype, copy=copy, order=order))
    return asarray(obj, dtype=dtype, order=order)


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    """``a`` itself when it is C-contiguous of ``dtype`` ("If no copy is required, it
    returns ``a``", cupy ``_creation/from_data.py``), else a new array."""
    if not isinstance(a, ndarray):
        if not hasattr(type(a), "__cuda_array_interface__"):
            _refuse_host(a)
        return asarray(a, dtype=dtype)
    if a._a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    return ndarray._of(np.ascontiguousarray(a._a, dtype=dtype))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, **_: Any) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a, order=order)


def from_dlpack(array: Any, *, device: Any = None, copy: Any = None) -> ndarray:
    return ndarray._of(np.from_dlpack(array))


def repeat(a: Any, repeats: Any, axis: Any = None) -> ndarray:
    """cupy 14.0.x: ``repeats`` must be an int or a sequence, never a device array
    (``_routines_manipulation.pyx`` ``_repeat``; accepted from 14.1.0)."""
    if isinstance(repeats, ndarray):
        raise ValueError("cupy.ndaray cannot be specified as `repeats` argument.")
    return wrap(np.repeat(unwrap(a), repeats, axis=axis))


def take(a: Any, indices: Any, axis: Any = None, out: Any = None) -> ndarray:
    """Host index arrays are copied to the device, as for indexing (cupy ``_indexing``)."""
    return wrap(np.take(unwrap(a), unwrap(indices, strict=False), axis=axis))


def lexsort(keys: Any) -> ndarray:
    """cupy takes one (k, N) device array, not a sequence of arrays (``_sorting/sort.py``)."""
    if not isinstance(keys, ndarray):
        raise AttributeError(f"{type(keys).__name__!r} object has no attribute 'ndim'")
    return wrap(np.lexsort(keys._a))


def bincount(x: Any, weights: Any = None, minlength: Any = None) -> ndarray:
    """cupy 14.0.x takes ``max`` of ``x`` first, which fails on an empty array."""
    if not isinstance(x, ndarray):
        raise TypeError(f"Unsupported type {type(x)}")
    if x.size == 0:
        raise ValueError("zero-size array to reduction operation cupy_max which has no identity")
    minlength = None if minlength is None else int(minlength)
    return wrap(np.bincount(x._a, weights=unwrap(weights), minlength=minlength or 0))


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> ndarray:
    """``a`` a device array; ``v`` a device array or a Python scalar (``_sorting/search.py``)."""
    if not isinstance(a, ndarray):
        raise NotImplementedError("Only int or ndarray are supported for a")
    if not isinstance(v, ndarray | int | float | complex) or isinstance(v, np.generic):
        raise NotImplementedError("Only python scalars or ndarrays are supported for v")
    return wrap(np.searchsorted(a._a, unwrap(v), side=side, sorter=unwrap(sorter)).astype(np.int64))


def empty(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    """Uninitialised device memory: stale values, never conveniently zeros or sentinels.

    Integers hold small plausible values (0 … 6, as a freed label array would),
    so reading an unwritten entry silently joins it to a real cluster id.
    """
    out = np.empty(shape, dtype=dtype, order=order)
    if out.dtype.kind in "iu":
        out.reshape(-1)[:] = np.arange(out.size) % 7
    elif out.dtype.kind in "fc":
        out.fill(np.nan)
    elif out.dtype.kind == "b":
        out.fill(True)
    return ndarray._of(out)


def empty_like(a: Any, dtype: Any = None, order: str = "K", shape: Any = None) -> ndarray:
    return empty(a.shape if shape is None else shape, dtype=dtype or a.dtype)


def get_array_module(*args: Any) -> Any:
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


def is_available() -> bool:
    return True


# ------------------------------------------------------------------------- random
_GENERATOR_METHODS = (
    "beta binomial chisquare dirichlet exponential f gamma geometric hypergeometric "
    "integers logseries poisson power random standard_exponential standard_gamma "
    "standard_normal uniform"
).split()


class Generator:
    """cupy.random.Generator: cuRAND-backed, with a subset of numpy's methods."""

    __module__ = "cupy.random"

    def __init__(self, seed: Any = None):
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name: str) -> Any:
        if name not in _GENERATOR_METHODS:
            raise AttributeError(f"'cupy.random.Generator' object has no attribute {name!r}")
        method = getattr(self._rng, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return wrap(method(*unwrap(args), **unwrap(kwargs)))

        return call


def _random_module() -> types.ModuleType:
    random = types.ModuleType("cupy.random")
    random.default_rng = lambda seed=None: Generator(seed)
    random.Generator = Generator

    class RandomState:
        """The legacy cupy RandomState (what ``dask.array.random.RandomState`` wraps)."""

        __module__ = "cupy.random"

        def __init__(self, seed: Any = None):
            self._rs = np.random.RandomState(seed)

        def __getattr__(self, name: str) -> Any:
            method = getattr(self._rs, name)
            return lambda *a, **k: wrap(method(*unwrap(a), **unwrap(k)))

    random.RandomState = RandomState
    state = {"rng": np.random.RandomState(0)}
    random.seed = lambda seed=None: state.update(rng=np.random.RandomState(seed))
    for name in ("rand", "randn", "random", "randint", "uniform", "normal", "permutation"):
        random.__dict__[name] = (lambda n: lambda *a, **k: wrap(getattr(state["rng"], n)(*a, **k)))(
            name
        )
    return random


random = _random_module()
cuda = cuda_module()
linalg = types.ModuleType("cupy.linalg")
linalg.__dict__.update(
    {
        n: (lambda f: lambda *a, **k: wrap(f(*unwrap(a), **unwrap(k))))(getattr(np.linalg, n))
        for n in ("norm", "qr", "solve", "inv", "cholesky", "lstsq")
    }
)
# cuSOLVER's batched svd / eigh (gesvdj / syevj batched) take matrices up to 32 × 32;
# above that cupy loops, one solver call per matrix. Counted so tests can see it.
PER_MATRIX_SOLVER_CALLS = {"count": 0}


def _batched(name: str) -> Any:
    func = getattr(np.linalg, name)

    def call(a: Any, *args: Any, **kwargs: Any) -> Any:
        if a.ndim > 2 and max(a.shape[-2:]) > 32:
            PER_MATRIX_SOLVER_CALLS["count"] += int(np.prod(a.shape[:-2]))
        return wrap(func(unwrap(a), *unwrap(args), **unwrap(kwargs)))

    call.__name__ = name
    return call


linalg.svd, linalg.eigh = _batched("svd"), _batched("eigh")
__version__ = "14.0.0"

_CONSTANTS = {"newaxis": None, "inf": np.inf, "nan": np.nan, "pi": np.pi, "e": np.e}
# The names the installed cupy has (set by tests.emulation.install when cupy is installed):
# a numpy function cupy lacks is then an AttributeError here, and a TypeError when a numpy
# function is called on a device array, as with cupy's __array_function__.
REAL_NAMES: set[str] | None = None


def __getattr__(name: str) -> Any:
    """numpy's dtypes and constants as they are; numpy's functions as device functions."""
    if name in _CONSTANTS:
        return _CONSTANTS[name]
    if name.startswith("__"):
        raise AttributeError(name)
    obj = getattr(np, name, None)
    if obj is None or (REAL_NAMES is not None and name not in REAL_NAMES):
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    if isinstance(obj, type) or isinstance(obj, np.dtype) or not callable(obj):
        return obj  # float32, int64, bool_, finfo, ...
    if name in ("finfo", "iinfo", "dtype", "result_type", "can_cast", "promote_types"):
        return obj
    func = _device_function(name)
    globals()[name] = func
    return func
