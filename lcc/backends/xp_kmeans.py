"""Mini-batch k-Means written once on ``xp`` (numpy or cupy): the GPU backend's
implementation, since cuML has none; the CPU tests run it on numpy against
scikit-learn's inertia (Sculley 2010, as scikit-learn's ``MiniBatchKMeans``)."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

__all__ = ["minibatch_kmeans_xp"]


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
