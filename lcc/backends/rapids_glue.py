"""What the single-GPU (:mod:`lcc.backends.gpu`) and multi-GPU (:mod:`lcc.backends.dask_gpu`)
RAPIDS calls share, so that neither backend imports the other."""

from __future__ import annotations

from typing import Any

__all__ = ["kmeans_scale", "labels_from_frame"]


def labels_from_frame(vertex: Any, partition: Any, n: int) -> Any:
    """``(n,)`` int64 labels from cuGraph's unordered ``(vertex, partition)`` columns.

    cuGraph returns the vertices of its graph only: a vertex absent from an edge
    list (no edges, or only zero weights dropped on the way) is not in the
    result. Each such vertex is its own community, numbered after the others.
    """
    import cupy as cp

    labels = cp.full(n, -1, dtype=cp.int64)
    labels[vertex.astype(cp.int64)] = partition.astype(cp.int64)
    missing = labels < 0
    n_missing = int(missing.sum())
    if n_missing:
        labels[missing] = int(labels.max()) + 1 + cp.arange(n_missing, dtype=cp.int64)
    return cp.unique(labels, return_inverse=True)[1].reshape(-1).astype(cp.int64)  # 0..C-1


def kmeans_scale(z: Any) -> float:
    """``√(mean per-feature variance)`` of ``z`` (1 for constant data).

    scikit-learn stops Lloyd when ``Σ‖Δc‖² ≤ tol · mean(var(z))``; cuVS when
    ``Σ‖Δc‖² < tol`` (absolute) or the inertia ratio passes ``1 − tol``
    (``kmeans_common.cuh`` ``check_convergence``). Clustering ``z / scale``,
    the same partition, gives cuVS scikit-learn's relative tolerance; the
    ratio test is scale-free. Without it Lloyd stops after a few iterations
    on small-valued data such as spectral embeddings (entries ~ 1/√n).
    """
    variance = float(z.var(axis=0).mean())
    return variance**0.5 if variance > 0 else 1.0
