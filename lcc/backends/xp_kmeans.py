"""k-Means written once on ``xp`` (numpy or cupy): mini-batch k-Means, the GPU
backend's implementation since cuML has none (Sculley 2010, as scikit-learn's
``MiniBatchKMeans``), and Lloyd's k-Means, the cupy tier's where cuML is absent
(as scikit-learn's ``KMeans``). The CPU tests run both on numpy against
scikit-learn's inertia."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

__all__ = ["kmeans_xp", "minibatch_kmeans_xp"]


def _sq_dist_argmin(x: Any, centers: Any, xp: ModuleType, chunk: int = 16384):
    """Nearest centre and squared distance for every row of ``x``, in row chunks."""
    c_sq = xp.sum(centers * centers, axis=1)
    labels = xp.empty(x.shape[0], dtype=xp.int64)
    dist = xp.empty(x.shape[0], dtype=x.dtype)
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk]
        d = c_sq[None, :] - 2 * (xb @ centers.T)
        lab = xp.argmin(d, axis=1)
        labels[start : start + chunk] = lab
        best = xp.take_along_axis(d, lab[:, None], axis=1)[:, 0]
        dist[start : start + chunk] = xp.maximum(best + xp.sum(xb * xb, axis=1), 0)
    return labels, dist


def _kmeans_plusplus(x: Any, n_clusters: int, rng: Any, xp: ModuleType) -> Any:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007), as scikit-learn does it.

    Each new centre is the best, by the resulting potential Σ min d², of
    ``2 + ⌊ln k⌋`` candidates drawn with probability ∝ squared distance.
    """
    n_trials = 2 + int(math.log(n_clusters))
    centers = xp.empty((n_clusters, x.shape[1]), dtype=x.dtype)
    x_sq = xp.sum(x * x, axis=1)
    first = int(rng.integers(0, x.shape[0]))
    centers[0] = x[first]
    d2 = xp.maximum(x_sq - 2 * (x @ x[first]) + x_sq[first], 0)
    for i in range(1, n_clusters):
        cum = xp.cumsum(d2.astype(xp.float64))
        draws = rng.random(n_trials) * cum[-1]
        picks = xp.minimum(xp.searchsorted(cum, draws, side="right"), x.shape[0] - 1)
        cand_d2 = xp.maximum(x_sq[picks][:, None] - 2 * (x[picks] @ x.T) + x_sq[None, :], 0)
        potentials = xp.minimum(cand_d2, d2[None, :]).sum(axis=1)
        best = int(xp.argmin(potentials))
        centers[i] = x[picks[best]]
        d2 = xp.minimum(d2, cand_d2[best])
    return centers


def minibatch_kmeans_xp(
    z: Any,
    n_clusters: int,
    *,
    seed: int,
    batch_size: int,
    max_iter: int,
    n_init: int,
    xp: ModuleType,
    max_no_improvement: int = 10,
) -> tuple[Any, Any]:
    """Mini-batch k-Means on numpy or cupy arrays (the GPU backend's implementation).

    Per mini-batch, each centre moves towards the mean of its batch members with
    step ``n_batch / n_total`` (its per-centre learning rate, Sculley 2010, as
    scikit-learn does). Initialised by k-means++ on ``3 · batch_size`` samples.
    """
    rng = xp.random.default_rng(seed)
    n = z.shape[0]
    init_size = min(n, max(3 * batch_size, 3 * n_clusters))
    steps = max_iter * math.ceil(n / batch_size)
    best = None
    for _ in range(n_init):
        sample = xp.argsort(rng.random(n))[:init_size]
        centers = _kmeans_plusplus(z[sample], n_clusters, rng, xp)
        counts = xp.zeros(n_clusters, dtype=z.dtype)
        ewa, ewa_best, no_improvement = None, math.inf, 0
        alpha = min(1.0, 2.0 * batch_size / (n + 1))
        for _step in range(steps):
            xb = z[rng.integers(0, n, batch_size)]
            lab, dist = _sq_dist_argmin(xb, centers, xp)
            one_hot = (lab[:, None] == xp.arange(n_clusters)[None, :]).astype(z.dtype)
            batch_counts = one_hot.sum(axis=0)
            sums = one_hot.T @ xb
            counts += batch_counts
            seen = batch_counts > 0
            rate = xp.where(seen, batch_counts / xp.maximum(counts, 1), 0)[:, None]
            means = sums / xp.maximum(batch_counts, 1)[:, None]
            centers = centers + rate * (means - centers)
            inertia = float(dist.mean())
            ewa = inertia if ewa is None else (1 - alpha) * ewa + alpha * inertia
            if ewa < ewa_best:
                ewa_best, no_improvement = ewa, 0
            else:
                no_improvement += 1
                if no_improvement >= max_no_improvement:
                    break
        labels, dist = _sq_dist_argmin(z, centers, xp)
        inertia = float(dist.sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, centers)
    return best[1], best[2]


def kmeans_xp(
    z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float, xp: ModuleType
) -> tuple[Any, Any]:
    """Lloyd's k-Means on numpy or cupy arrays, best of ``n_init`` runs by inertia.

    As scikit-learn's ``KMeans(algorithm="lloyd")``: greedy k-means++ seeding,
    stop when the labels no longer change or the squared centre shift
    ``Σ‖Δc‖²`` is at most ``tol · mean(var(z))`` (its relative tolerance), a
    final assignment to the final centres; an emptied cluster takes the point
    farthest from its centre. Distances in ``z``'s precision, sums in float64.
    """
    rng = xp.random.default_rng(seed)
    threshold = tol * float(xp.mean(xp.var(z.astype(xp.float64), axis=0)))
    best = None
    for _ in range(n_init):
        centers = _kmeans_plusplus(z, n_clusters, rng, xp)
        labels = None
        for _step in range(max_iter):
            new_labels, dist = _sq_dist_argmin(z, centers, xp)
            if labels is not None and bool(xp.all(new_labels == labels)):
                break
            labels = new_labels
            new_centers = _means(z, labels, dist, n_clusters, xp)
            shift = float(xp.sum((new_centers - centers.astype(xp.float64)) ** 2))
            centers = new_centers.astype(z.dtype)
            if shift <= threshold:
                break
        labels, dist = _sq_dist_argmin(z, centers, xp)
        inertia = float(dist.astype(xp.float64).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, centers)
    return best[1], best[2]


def _means(z: Any, labels: Any, dist: Any, n_clusters: int, xp: ModuleType) -> Any:
    """Cluster means (float64); an empty cluster moves to the farthest unmoved point."""
    counts = xp.bincount(labels, minlength=n_clusters)
    sums = xp.zeros((n_clusters, z.shape[1]), dtype=xp.float64)
    for col in range(z.shape[1]):  # d bincounts: O(n·d), no n × C one-hot
        sums[:, col] = xp.bincount(labels, weights=z[:, col].astype(xp.float64),
                                   minlength=n_clusters)  # fmt: skip
    centers = sums / xp.maximum(counts, 1)[:, None]
    empty = xp.flatnonzero(counts == 0)
    if empty.shape[0]:
        far = xp.argsort(-dist)[: empty.shape[0]]
        centers[empty] = z[far].astype(xp.float64)
    return centers
