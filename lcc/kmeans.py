"""k-Means and mini-batch k-Means (landmarks) on either backend.

``kmeans`` is scikit-learn's ``KMeans`` on CPU and cuML's ``KMeans`` on GPU.
``minibatch_kmeans`` is scikit-learn's ``MiniBatchKMeans`` on CPU; cuML has no
mini-batch k-Means, so the GPU runs :func:`lcc.backends.xp_kmeans.minibatch_kmeans_xp`, Sculley's
algorithm written once against the numpy API that cupy mirrors (the CPU tests
run it on numpy against scikit-learn's inertia).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from lcc import sharded
from lcc._dispatch import place
from lcc._validation import check_choice, check_latents, check_positive_int
from lcc.kernels.landmarks import unit_rows
from lcc.kernels.spherical import spherical_kmeans

__all__ = ["KMeansResult", "kmeans", "minibatch_kmeans"]

Metric = Literal["euclidean", "cosine"]


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
    metric: Metric = "euclidean",
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
    metric : {"euclidean", "cosine"}, default "euclidean"
        ``"cosine"``: spherical k-Means (:mod:`lcc.kernels.spherical`) on the rows
        scaled to unit length, centres of unit length (``tol`` is then the largest
        ``1 − cos`` a centre may still turn by); Dask input is gathered here.
        There is no ``"inner_product"`` k-Means: assigning each sample to the centre
        of largest ``⟨x, μ⟩`` favours the longest centre whatever the direction, and
        the mean no longer minimises anything (Dhillon & Modha normalise for this);
        it is an error that points to ``"cosine"``.

    Returns
    -------
    KMeansResult
        ``(labels, centers)`` of the input's kind.
    """
    z, n_clusters, seed = _check(z, n_clusters, seed)
    n_init = check_positive_int(n_init, "n_init")
    max_iter = check_positive_int(max_iter, "max_iter")
    options = {"seed": seed, "n_init": n_init, "max_iter": max_iter, "tol": float(tol)}
    if metric == "inner_product":
        raise ValueError(
            "kmeans has no metric='inner_product' (the centre of largest inner product is "
            "the longest one, not the nearest); use metric='cosine' (spherical k-Means) "
            "or 'euclidean'"
        )
    check_choice(metric, "metric", ("euclidean", "cosine"))
    on = place(z, backend=backend)
    if metric == "cosine":
        return _spherical(z, on, n_clusters, options)
    if on.sharded:
        return KMeansResult(*sharded.decomposition.kmeans(z, n_clusters, **options))
    return KMeansResult(*on.back(*on.impl.kmeans(on.to(z), n_clusters, **options)))


def _spherical(z: Any, on: Any, n_clusters: int, options: dict[str, Any]) -> KMeansResult:
    """Spherical k-Means where ``z`` is (a Dask ``z`` gathered; labels chunked like it)."""
    local = sharded.gather(z) if on.sharded else z
    here_ = place(local) if on.sharded else on
    u = unit_rows(here_, here_.to(local), "z")
    labels, centres = here_.back(*spherical_kmeans(here_, u, n_clusters, **options))
    if on.sharded:
        import dask.array as da

        labels = da.from_array(labels, chunks=(z.chunks[0],))
    return KMeansResult(labels, centres)


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
    options = {"seed": seed, "batch_size": batch_size, "max_iter": max_iter, "n_init": n_init}
    on = place(z, backend=backend)
    return KMeansResult(*on.back(*on.impl.minibatch_kmeans(on.to(z), n_clusters, **options)))
