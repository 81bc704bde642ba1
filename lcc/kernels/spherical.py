"""Spherical k-Means (Dhillon & Modha, 2001) on ``xp``: the k-Means of ``metric="cosine"``.

On rows of unit length ``u_i`` it maximises ``Σ_i u_i · μ_{c(i)}`` over unit centres
``μ``: each sample joins the centre of highest cosine, and each centre becomes the
normalised sum (mean direction) of its samples. Seeding is k-means++ with the cosine
distance ``1 − u · μ``. Written once on the numpy API that cupy mirrors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._dispatch import Placement

__all__ = ["spherical_kmeans"]

ROWS = 65536  # rows per similarity tile: bounds the (rows, n_clusters) temporary


def spherical_kmeans(
    on: Placement, u: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float
) -> tuple[Any, Any]:
    """``(labels, centres)`` of unit rows ``u``: the best of ``n_init`` runs by the summed
    cosine; a run stops when no centre turns by more than ``tol`` (``1 − cos``)."""
    rng = np.random.default_rng(seed)
    best: tuple[float, Any, Any] | None = None
    for _ in range(n_init):
        centres = _plus_plus(on, u, n_clusters, rng)
        for _ in range(max_iter):
            labels, _ = _assign(on, u, centres)
            moved = _mean_directions(on, u, labels, centres)
            turn = float(on.xp.max(1.0 - on.xp.sum(moved * centres, axis=1)))
            centres = moved
            if turn <= tol:
                break
        labels, score = _assign(on, u, centres)
        if best is None or score > best[0]:
            best = (score, labels, centres)
    return best[1], best[2]


def _assign(on: Placement, u: Any, centres: Any) -> tuple[Any, float]:
    """Each row's centre of highest cosine (int64) and the summed cosine."""
    xp = on.xp
    labels, total = [], 0.0
    for start in range(0, u.shape[0], ROWS):
        sims = u[start : start + ROWS] @ centres.T
        labels.append(xp.argmax(sims, axis=1))
        total += float(xp.sum(xp.max(sims, axis=1)))
    return xp.concatenate(labels).astype(xp.int64), total


def _mean_directions(on: Placement, u: Any, labels: Any, centres: Any) -> Any:
    """The normalised sum of each cluster's rows; an empty cluster keeps its centre."""
    xp, n = on.xp, u.shape[0]
    members = on.sparse.csr_matrix(
        (xp.ones(n, dtype=u.dtype), (labels, xp.arange(n))), shape=(centres.shape[0], n)
    )
    sums = xp.asarray(members @ u)
    length = xp.sqrt(xp.sum(sums * sums, axis=1, keepdims=True))
    return xp.where(length > 0, sums / xp.where(length > 0, length, 1), centres)


def _plus_plus(on: Placement, u: Any, n_clusters: int, rng: np.random.Generator) -> Any:
    """k-means++ seeding under the cosine distance ``1 − u · μ``."""
    xp, n = on.xp, u.shape[0]
    chosen = [int(rng.integers(n))]
    gap = xp.maximum(1.0 - u @ u[chosen[0]], 0.0)
    for _ in range(1, n_clusters):
        weights = _host(gap).astype(np.float64)  # one (n,) copy per centre drawn
        total = weights.sum()
        # every row on a chosen centre: any row
        pick = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        chosen.append(pick)
        gap = xp.minimum(gap, xp.maximum(1.0 - u @ u[pick], 0.0))
    return u[xp.asarray(chosen)].copy()


def _host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)
