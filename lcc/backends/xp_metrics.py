"""Calinski–Harabasz and Davies–Bouldin written once on ``xp`` (numpy or cupy): the GPU
backend's implementations, since cuML has neither; tested against scikit-learn."""

from __future__ import annotations

from typing import Any

from lcc._backend import array_module, backend_of, sparse_module

__all__ = ["calinski_harabasz_xp", "davies_bouldin_xp"]


def _xp(x: Any):
    return array_module(backend_of(x))


def _centroids(z: Any, labels: Any, xp: Any) -> tuple[Any, Any, Any]:
    """Compact labels, per-cluster counts and centroids (float64).

    Sums per cluster as a sparse membership matrix times ``z``: O(n·d) time and
    O(n) extra memory (a dense one-hot would be n × C, 8 GB at 1 M × 1,000).
    """
    _, lab = xp.unique(labels, return_inverse=True)
    lab = lab.reshape(-1)
    n, n_clusters = lab.shape[0], int(lab.max()) + 1
    counts = xp.bincount(lab, minlength=n_clusters).astype(xp.float64)
    sparse = sparse_module(backend_of(z))
    members = sparse.csr_matrix(
        (xp.ones(n, dtype=xp.float64), (lab, xp.arange(n))), shape=(n_clusters, n)
    )
    centroids = (members @ z.astype(xp.float64)) / counts[:, None]
    return lab, counts, centroids


def calinski_harabasz_xp(z: Any, labels: Any) -> float:
    """CH = [tr(B) / (C − 1)] / [tr(W) / (N − C)] on numpy or cupy arrays."""
    xp = _xp(z)
    lab, counts, centroids = _centroids(z, labels, xp)
    n, n_clusters = z.shape[0], counts.shape[0]
    mean = z.astype(xp.float64).mean(axis=0)
    between = float(xp.sum(counts * xp.sum((centroids - mean) ** 2, axis=1)))
    within = float(xp.sum((z.astype(xp.float64) - centroids[lab]) ** 2))
    if within == 0:
        return 1.0
    return between * (n - n_clusters) / (within * (n_clusters - 1))


def davies_bouldin_xp(z: Any, labels: Any) -> float:
    """DB = mean_i max_{j≠i} (s_i + s_j) / ‖c_i − c_j‖ on numpy or cupy arrays."""
    xp = _xp(z)
    lab, counts, centroids = _centroids(z, labels, xp)
    spread = xp.sqrt(xp.sum((z.astype(xp.float64) - centroids[lab]) ** 2, axis=1))
    s = xp.bincount(lab, weights=spread, minlength=counts.shape[0]) / counts
    sq = xp.sum(centroids**2, axis=1)
    gaps = xp.sqrt(xp.maximum(sq[:, None] + sq[None, :] - 2 * centroids @ centroids.T, 0))
    if bool(xp.all(s == 0)) or bool(xp.all(gaps == 0)):
        return 0.0
    ratio = (s[:, None] + s[None, :]) / xp.where(gaps == 0, xp.inf, gaps)
    ratio[xp.arange(ratio.shape[0]), xp.arange(ratio.shape[0])] = 0
    return float(xp.mean(xp.max(ratio, axis=1)))
