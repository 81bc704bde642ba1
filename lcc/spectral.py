"""Truncated SVD of dense or sparse matrices on either backend.

CPU: scipy's ARPACK ``svds`` for dense and sparse input. GPU: the float64
Gram matrix of the smaller side, decomposed by ``cupy.linalg.eigh`` (or a
seeded cupyx ``eigsh`` above 4096 columns); see :func:`lcc.backends.gpu.truncated_svd`
for why not cupyx ``svds`` or cuML ``TruncatedSVD``.
Signs are made deterministic (the largest-magnitude entry of each left
singular vector is positive) so that both backends return the same vectors.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lcc import sharded
from lcc._dispatch import place
from lcc._validation import check_latents, check_positive_int
from lcc.kernels.spectral import flip_signs

__all__ = ["SVDResult", "truncated_svd"]


class SVDResult(NamedTuple):
    """``(U, S, Vt)``: ``(m, k)``, ``(k,)`` descending, ``(k, n)``; ``U·diag(S)·Vt ≈ matrix``."""

    U: Any
    S: Any
    Vt: Any


def truncated_svd(matrix: Any, k: int, *, seed: int = 0, backend: str | None = None) -> SVDResult:
    """The ``k`` leading singular triplets of a dense array or sparse matrix.

    Parameters
    ----------
    matrix : (m, n) numpy / cupy array, scipy / cupyx sparse matrix or dense Dask array
        A Dask array (sharded by rows) runs ``dask.array.linalg.svd_compressed``
        on the cluster (randomised, 4 power iterations) and gives Dask ``U``.
    k : int
        Number of triplets, ``1 <= k < min(m, n)``.
    seed : int, default 0
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    SVDResult
        ``(U, S, Vt)`` of the input's kind (dense arrays even for sparse input).
    """
    on = place(matrix, backend=backend)
    if on.sharded:
        matrix = check_latents(matrix, "matrix")
        k = check_positive_int(k, "k")
        if k >= min(matrix.shape):
            raise ValueError(f"k={k} must be smaller than min(matrix.shape) = {min(matrix.shape)}")
        seed = check_positive_int(seed, "seed", minimum=0)
        return SVDResult(*sharded.decomposition.truncated_svd(matrix, k, seed=seed))
    xp, sparse = on.origin.xp, on.origin.sparse
    if not (sparse.issparse(matrix) or (hasattr(matrix, "ndim") and hasattr(matrix, "dtype"))):
        raise TypeError(
            f"matrix must be a numpy / cupy array or a sparse matrix, got {type(matrix).__name__}"
        )
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {tuple(matrix.shape)}")
    m, n = matrix.shape
    k = check_positive_int(k, "k")
    if k >= min(m, n):
        raise ValueError(f"k={k} must be smaller than min(matrix.shape) = {min(m, n)}")
    if matrix.dtype.kind not in "fiu":
        raise ValueError(f"matrix must hold real numbers, got dtype {matrix.dtype}")
    values = matrix.data if sparse.issparse(matrix) else matrix
    if not bool(xp.all(xp.isfinite(values))):
        raise ValueError("matrix contains NaN or infinite values")
    if matrix.dtype.kind != "f":
        matrix = matrix.astype(xp.float32)
    seed = check_positive_int(seed, "seed", minimum=0)
    u, s, vt = on.impl.truncated_svd(on.to(matrix), k, seed=seed)
    u, vt = flip_signs(on, u, vt)
    return SVDResult(*on.back(u, s, vt))
