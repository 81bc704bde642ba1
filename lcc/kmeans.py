"""k-Means and mini-batch k-Means (landmarks) on either backend.

``kmeans`` is scikit-learn's ``KMeans`` on CPU and cuML's ``KMeans`` on GPU.
``minibatch_kmeans`` is scikit-learn's ``MiniBatchKMeans`` on CPU; cuML has no
mini-batch k-Means, so the GPU runs :func:`minibatch_kmeans_xp`, Sculley's
algorithm written once against the numpy API that cupy mirrors (the CPU tests
run it on numpy against scikit-learn's inertia).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, NamedTuple

from lcc import backends
from lcc._backend import is_dask_array, move, resolve
from lcc._validation import check_latents, check_positive_int

__all__ = ["KMeansResult", "kmeans", "minibatch_kmeans", "minibatch_kmeans_xp"]


class KMeansResult(NamedTuple):
    """``(labels, centers)``: ``(n_samples,)`` int64 and ``(n_clusters, n_features)``."""

    labels: Any
    centers: Any


def _check(z: Any, n_clusters: Any, seed: Any) -> tuple[Any, int, int]:
    z = check_latents(z, min_samples=1)
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if n_clusters > z.shape[0]:
        raise ValueError(f"n_clusters={n_clusters} exceeds the number of samples ({z.shape[0]})")
    return z, n_clusters, check_positive_int(seed, "seed", minimum=0)


def kmeans(
    z: Any,
    n_clusters: int,
    *,
    seed: int = 0,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    backend: str | None = None,
) -> KMeansResult:
    """Lloyd k-Means with k-means++ initialisation (best of ``n_init`` runs by inertia).

    Parameters
    ----------
    z : (n_samples, n_features) numpy, cupy or Dask array
        Dask input: ``cuml.dask.cluster.KMeans`` on GPU workers; on CPU workers
        the latents are gathered to this process (scikit-learn). The labels
        come back as a Dask array chunked like ``z``.
    n_clusters : int
    seed : int, default 0
    n_init : int, default 1
        Restarts; DEC / IDEC papers use 20.
    max_iter, tol
        Lloyd iterations and relative centre-shift tolerance.
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    KMeansResult
        ``(labels, centers)`` of the input's kind.
    """
    z, n_clusters, seed = _check(z, n_clusters, seed)
    n_init = check_positive_int(n_init, "n_init")
    max_iter = check_positive_int(max_iter, "max_iter")
    if is_dask_array(z):
        from lcc.backends import dask as dask_backend

        options = {"seed": seed, "n_init": n_init, "max_iter": max_iter, "tol": float(tol)}
        return KMeansResult(*dask_backend.kmeans(z, n_clusters, **options))
    given, target = resolve(z, backend)
    labels, centers = backends.get(target).kmeans(
        move(z, target), n_clusters, seed=seed, n_init=n_init, max_iter=max_iter, tol=float(tol)
    )
    return KMeansResult(move(labels, given), move(centers, given))


def minibatch_kmeans(
    z: Any,
    n_clusters: int,
    *,
    seed: int = 0,
    batch_size: int = 1024,
    max_iter: int = 100,
    n_init: int = 1,
    backend: str | None = None,
) -> KMeansResult:
    """Mini-batch k-Means (Sculley 2010), e.g. for the landmarks of spectral clustering.

    Parameters
    ----------
    z : (n_samples, n_features) numpy or cupy array
    n_clusters : int
    seed : int, default 0
    batch_size : int, default 1024
    max_iter : int, default 100
        Passes over the data (each ``n_samples / batch_size`` mini-batches);
        stops earlier when the smoothed batch inertia stops improving.
    n_init : int, default 1
        k-means++ initialisations tried; the lowest inertia wins.
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    KMeansResult
        ``(labels, centers)``; labels assign every sample to its nearest centre.
    """
    z, n_clusters, seed = _check(z, n_clusters, seed)
    batch_size = check_positive_int(batch_size, "batch_size")
    max_iter = check_positive_int(max_iter, "max_iter")
    n_init = check_positive_int(n_init, "n_init")
    given, target = resolve(z, backend)
    labels, centers = backends.get(target).minibatch_kmeans(
        move(z, target),
        n_clusters,
        seed=seed,
        batch_size=batch_size,
        max_iter=max_iter,
        n_init=n_init,
    )
    return KMeansResult(move(labels, given), move(centers, given))


# ----------------------------------------------------------------- shared glue (GPU)
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
