"""A scipy-backed ``cupyx.scipy.sparse`` with cupyx's rules (tests only).

Matrices hold a scipy matrix; their ``data`` / ``indices`` / ``indptr`` /
``row`` / ``col`` are emulated device arrays sharing its memory, reductions
give device arrays (cupyx returns a 2-D ``cupy.ndarray`` from ``sum(axis=…)``,
not ``numpy.matrix``), and building one from host arrays is refused (cupyx
takes cupy arrays; a scipy matrix is copied to the device, cupyx
``_compressed.py``). Index arrays are int32 where every index, the entry count and the
shape fit, int64 otherwise, as cupyx 14.2 chooses them (``cupyx/scipy/sparse/
_compressed.py``: "Choose int32 when all values fit, int64 otherwise"; before cupy 14
they were always int32, cupy #9825).

``linalg.svds`` follows cupyx 14.0 (``cupyx/scipy/sparse/linalg/_eigen.py``):
no seed and no start vector (the Lanczos start is ``cupy.random`` without a
seed), and in float32 singular values below about 1 % of σ₁ come back as 0
with arbitrary vectors — the defect the GPU backend must not inherit.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import fake_cupy as fc


def _out(value: Any) -> Any:
    if sp.issparse(value):
        return _FORMATS[value.format]._of(value)
    if isinstance(value, np.matrix):
        return fc.ndarray._of(np.asarray(value))
    return fc.wrap(value)


class spmatrix:
    """Base of the emulated cupyx sparse matrices."""

    __module__ = "cupyx.scipy.sparse"
    _emulated_sparse = True
    _format = ""
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, arg1: Any, shape: Any = None, dtype: Any = None, copy: bool = False):
        if isinstance(arg1, spmatrix):
            m = arg1._m
        elif sp.issparse(arg1):
            m = arg1.copy()  # host → device copy
        elif isinstance(arg1, tuple) and not all(isinstance(v, int) for v in arg1):
            m = _from_arrays(arg1)
        elif isinstance(arg1, fc.ndarray):
            m = arg1._a
        elif isinstance(arg1, tuple):
            m = np.zeros(arg1, dtype=dtype or np.float64)
        else:
            raise ValueError(f"Unsupported initializer format: {type(arg1)}")
        m = getattr(sp, f"{self._format}_matrix")(m, shape=shape, dtype=dtype, copy=copy)
        if m.dtype.char not in "?fdFD":  # cupyx _compressed.py, whatever the initializer
            raise ValueError("Only bool, float32, float64, complex64 and complex128 are supported")
        self._m = _int32_indices(m)

    @classmethod
    def _of(cls, m: Any) -> spmatrix:
        out = cls.__new__(cls)
        out._m = _int32_indices(m)
        return out

    def get(self, stream: Any = None) -> Any:
        return self._m.copy()

    def __array__(self, *args: Any, **kwargs: Any):
        raise TypeError(fc.IMPLICIT)

    shape = property(lambda self: self._m.shape)
    dtype = property(lambda self: self._m.dtype)
    nnz = property(lambda self: self._m.nnz)
    ndim = property(lambda self: 2)
    format = property(lambda self: self._format)
    T = property(lambda self: _out(self._m.T))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"cupyx sparse matrices have no attribute {name!r}")
        attr = getattr(self._m, name)
        if not callable(attr):
            return _out(attr) if isinstance(attr, np.ndarray) else attr

        def method(*args: Any, **kwargs: Any) -> Any:
            return _out(attr(*fc.unwrap(args), **fc.unwrap(kwargs)))

        return method

    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        return _out(self._m.sum(axis=axis, dtype=dtype))

    def toarray(self, order: Any = None, out: Any = None) -> fc.ndarray:
        return fc.ndarray._of(self._m.toarray())

    def __getitem__(self, key: Any) -> Any:
        return _out(self._m[fc.unwrap(key, strict=False)])

    def __len__(self) -> int:
        raise TypeError("sparse matrix length is ambiguous; use getnnz() or shape[0]")

    def __repr__(self) -> str:
        return f"<emulated cupyx {self._format} {self.shape} nnz={self.nnz}>"


def _binary(op: str):
    def method(self: spmatrix, other: Any) -> Any:
        return _out(getattr(self._m, op)(fc.unwrap(other)))

    method.__name__ = op
    return method


for _op in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __matmul__ __rmatmul__ __truediv__ "
    "__pow__ __eq__ __ne__ __lt__ __gt__ __le__ __ge__"
).split():
    setattr(spmatrix, _op, _binary(_op))
spmatrix.__neg__ = lambda self: _out(-self._m)
spmatrix.__abs__ = lambda self: _out(abs(self._m))


def _from_arrays(arg: tuple) -> Any:
    """``(data, (row, col))`` or ``(data, indices, indptr)`` of device arrays.

    cupyx refuses host arrays ("row, column, and data arrays must be 1-D") and
    integer data (only bool, float32/64, complex64/128).
    """
    parts = [arg[0], *(arg[1] if len(arg) == 2 and isinstance(arg[1], tuple) else arg[1:])]
    if not all(isinstance(a, fc.ndarray) for a in parts):
        raise ValueError("row, column, and data arrays must be 1-D")
    if parts[0].dtype.kind not in "bfc":
        raise ValueError(f"Only bool, float32, float64, complex64 and complex128 are supported, "
                         f"got {parts[0].dtype}")  # fmt: skip
    if len(arg) == 2 and isinstance(arg[1], tuple):
        return (fc.unwrap(arg[0]), tuple(fc.unwrap(a) for a in arg[1]))
    return tuple(fc.unwrap(a) for a in arg)


def _int32_indices(m: Any) -> Any:
    """``m`` with int32 index arrays where everything fits, else int64 ones."""
    names = [n for n in ("indices", "indptr", "row", "col") if getattr(m, n, None) is not None]
    limit = np.iinfo(np.int32).max
    fits = max(*m.shape, m.nnz) <= limit and all(
        getattr(m, n).size == 0 or int(getattr(m, n).max()) <= limit for n in names
    )
    for name in names:
        setattr(m, name, getattr(m, name).astype(np.int32 if fits else np.int64, copy=False))
    return m


class csr_matrix(spmatrix):
    __module__ = "cupyx.scipy.sparse"
    _format = "csr"


class csc_matrix(spmatrix):
    __module__ = "cupyx.scipy.sparse"
    _format = "csc"


class coo_matrix(spmatrix):
    __module__ = "cupyx.scipy.sparse"
    _format = "coo"


class dia_matrix(spmatrix):
    __module__ = "cupyx.scipy.sparse"
    _format = "dia"


_FORMATS = {"csr": csr_matrix, "csc": csc_matrix, "coo": coo_matrix, "dia": dia_matrix}


def issparse(x: Any) -> bool:
    return isinstance(x, spmatrix)


def _sparse_function(name: str) -> Any:
    func = getattr(sp, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        return _out(func(*fc.unwrap(args), **fc.unwrap(kwargs)))

    call.__name__ = name
    return call


hstack, vstack, diags, identity, eye, kron = (
    _sparse_function(n) for n in ("hstack", "vstack", "diags", "identity", "eye", "kron")
)
isspmatrix = issparse
isspmatrix_csr = lambda x: isinstance(x, csr_matrix)  # noqa: E731


# --------------------------------------------------------------------------- linalg
def svds(
    a: Any,
    k: int = 6,
    *,
    ncv: Any = None,
    tol: float = 0,
    which: str = "LM",
    maxiter: Any = None,
    return_singular_vectors: bool = True,
) -> Any:
    """cupyx 14.0 ``svds``: no seed; the Lanczos start vector is drawn from the global
    ``cupy.random`` state (``linalg/_eigen.py``); float32 drops small singular values."""
    from scipy.sparse.linalg import svds as host_svds

    m = a._m if isinstance(a, spmatrix) else fc.unwrap(a)
    start = fc.random.random(min(m.shape))._a * 2 - 1  # the global cupy.random state
    u, s, vt = host_svds(m.astype(np.float64), k=k, v0=start)
    if m.dtype == np.float32:
        lost = s < 0.01 * s.max()
        s[lost] = 0
        noise = np.random.default_rng()
        u[:, lost] = noise.normal(size=(u.shape[0], int(lost.sum())))
        vt[lost] = noise.normal(size=(int(lost.sum()), vt.shape[1]))
    dtype = m.dtype
    return tuple(fc.ndarray._of(x.astype(dtype)) for x in (u, s, vt))


def eigsh(a: Any, k: int = 6, *, which: str = "LM", v0: Any = None, ncv: Any = None,
          maxiter: Any = None, tol: float = 0, return_eigenvectors: bool = True):  # fmt: skip
    """cupyx ``eigsh`` (thick-restart Lanczos); without ``v0`` the start is unseeded."""
    from scipy.sparse.linalg import eigsh as host_eigsh

    m = a._m if isinstance(a, spmatrix) else fc.unwrap(a)
    start = fc.random.random(a.shape[0])._a if v0 is None else fc.unwrap(v0)
    return fc.wrap(host_eigsh(m, k=k, which=which, v0=start, ncv=ncv, maxiter=maxiter, tol=tol,
                              return_eigenvectors=return_eigenvectors))  # fmt: skip


linalg = types.ModuleType("cupyx.scipy.sparse.linalg")
linalg.svds = svds
linalg.eigsh = eigsh
_this = sys.modules[__name__]
