"""k nearest neighbours and the k-NN graph of a latent set (LCC paper, section III.B).

Each function checks its arguments and places the call once (:func:`lcc._dispatch.place`);
the library calls (faiss on CPU, cuVS on GPU) live in :mod:`lcc.backends`, the glue
(self removal, kernel weights, symmetrisation) in :mod:`lcc.kernels.neighbors`, written
once against the numpy API that cupy mirrors, so the CPU tests run the GPU glue. Dask
input runs in :mod:`lcc.sharded.neighbors`.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from lcc import sharded
from lcc._dispatch import here, place
from lcc._validation import (
    check_choice,
    check_k,
    check_latents,
    check_positive_int,
)
from lcc.kernels import neighbors as kernels
from lcc.kernels.landmarks import unit_rows

__all__ = ["METRICS", "Metric", "Neighbors", "knn", "knn_graph", "unit_latents"]

ApproxMethod = Literal["hnsw", "ivf", "cagra"]
Metric = Literal["euclidean", "cosine", "inner_product"]
METRICS: tuple[str, ...] = ("euclidean", "cosine", "inner_product")
"""``metric=``: ``"euclidean"`` (‖a − b‖), ``"cosine"`` (the cosine distance
``1 − cos(a, b)``, which is ``‖â − b̂‖² / 2`` on the rows scaled to unit length: every
search runs on those, so each backend's exact and approximate indexes serve it) or
``"inner_product"`` (neighbours of largest ``⟨a, b⟩`` at the distance ``1 − ⟨a, b⟩``,
hnswlib's ``"ip"`` space, which is the cosine distance on unit rows; exact search only,
through the exact reduction to Euclidean search of :func:`lcc.kernels.neighbors.nearest`)."""
DEFAULT_CHUNK_SIZE = 8192


class _Pair(NamedTuple):
    distances: Any
    indices: Any


class Neighbors(_Pair):
    """Result of :func:`knn`: ``(distances, indices)``, each ``(n_samples, k)``, and
    ``search``, how the search ran: ``"certified int8 (candidates per row: mean …,
    max …)"`` for the certified-exact CPU search (:mod:`lcc.backends.knn.cpu_certified`,
    which also says what share of block pairs it proved apart and skipped, when rows
    went to brute force, or that the search fell back to float32),
    ``"exact"`` for the float32 exact engines, ``"approximate (ivf)"`` and the like."""

    search: str = "exact"

    def __new__(cls, distances: Any, indices: Any, search: str | None = None) -> Neighbors:
        result = super().__new__(cls, distances, indices)
        if search is not None:
            result.search = search
        return result


def knn(
    z: Any,
    k: int,
    *,
    exact: bool = True,
    method: ApproxMethod | None = None,
    nprobe: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = False,
    backend: str | None = None,
    metric: Metric = "euclidean",
) -> Neighbors:
    """The ``k`` nearest neighbours of every row of ``z``, the row itself excluded.

    Parameters
    ----------
    z : (n_samples, n_features) numpy, cupy or Dask array
        Latent vectors; cast to float32 (what faiss and cuVS search in). A Dask
        array sharded by samples runs on the cluster (:mod:`lcc.sharded`:
        every worker holds the latents once, the queries are sharded) and
        gives Dask results chunked like ``z``.
    k : int
        Neighbours per sample, ``1 <= k < n_samples``.
    exact : bool, default True
        Exact brute-force search. On the CPU, where int8 products are fast (x86
        VNNI / AMX) and ``n_samples >= 4096``, the certified search: an int8
        candidate pass with a proven error bound and an exact float64 re-rank of
        every candidate it cannot exclude, which returns the float64 brute-force
        answer (ties to the smaller index) at int8 speed; from 100,000 samples it
        searches in k-Means cells and skips the pairs of cells it proves farther
        apart than every row's k-th neighbour, which on clustered latents is most
        of them (:mod:`lcc.backends.knn.cpu_certified`; ``result.search`` says
        what share it skipped, whether rows went to brute force or it fell back
        to float32). Elsewhere on the
        CPU, float32 BLAS tiles with faiss's top-k heaps, each pair's distance
        computed once (:mod:`lcc.backends.knn.cpu_exact`); on the GPU, cuVS
        ``brute_force``, or cupy tiles where cuVS is absent
        (:mod:`lcc.backends.knn.gpu_tiles`; approximate methods then run exact too).
        ``False`` uses an approximate index, chosen by ``method``.
    method : {"hnsw", "ivf", "cagra"}, optional
        Approximate index: ``"ivf"`` (faiss / cuVS IVF-Flat; the CPU default),
        ``"hnsw"`` (faiss HNSW, CPU only) or ``"cagra"`` (cuVS CAGRA, GPU only and
        the GPU default). A method the device lacks is an error.
    nprobe : int, optional
        IVF lists searched per query (``method="ivf"``). Default: 1/14 of the
        ``2√n`` lists, at least 16 — recall@k ≥ 0.97 on 50,000 hard isotropic
        blobs, but the work per query grows with ``n``; from a few hundred
        thousand latents a fixed 32–64 is the usual choice (check the recall
        on a sample, as ``benchmarks/bench_dask_knn.py`` does).
    chunk_size : int, default 8192
        Queries per search call of the approximate searches, which bounds their
        temporary memory. The exact CPU search works in cache-sized tiles, one
        per core, whatever ``chunk_size`` (:mod:`lcc.backends.knn.cpu_exact`).
    progress : bool, default False
        Show a progress bar over the query chunks.
    backend : {"auto", "cpu", "gpu"}, optional
        See :mod:`lcc._backend`; default follows the input array type.
    metric : {"euclidean", "cosine", "inner_product"}, default "euclidean"
        :data:`METRICS`. ``"cosine"`` searches the rows scaled to unit length
        (an all-zero row is an error) and reports ``1 − cos``; ``"inner_product"``
        finds the rows of largest inner product (``exact=True`` only: every exact
        engine serves it through :func:`lcc.kernels.neighbors.nearest`, the
        certified search excepted) and reports ``1 − ⟨z_i, z_j⟩``, which can be
        negative.

    Returns
    -------
    Neighbors
        ``distances`` (float32 in the metric: Euclidean, not squared, the cosine
        distance or ``1 −`` the inner product; ascending per row) and
        ``indices`` (int64), both ``(n_samples, k)`` and of the input's kind;
        ``search`` says how the search ran. Duplicate points are kept as
        neighbours at distance 0; only the query row itself is removed.
    """
    z, k, options, on = _placed(z, k, exact, method, nprobe, chunk_size, backend, metric)
    z = _in_metric_space(on, z, metric)
    if on.sharded:
        dist, idx = sharded.neighbors.knn(z, k, **options)
        return Neighbors(_metric_distances(dist, metric), idx)
    dist, idx, how = kernels.search(on, z, k, **options, progress=progress)
    return Neighbors(*on.back(_metric_distances(dist, metric), idx), search=how)


def unit_latents(on: Any, z: Any) -> Any:
    """The rows of ``z`` (placed by ``on``; local or Dask) scaled to unit length: the
    space where Euclidean nearest neighbours are the cosine ones."""
    if on.sharded:
        return z.map_blocks(lambda block: unit_rows(here(block), block, "z"), dtype=z.dtype)
    return unit_rows(on, z, "z")


def _in_metric_space(on: Any, z: Any, metric: str) -> Any:
    """``z`` where the backend searches it: as placed (Euclidean, inner product) or unit
    rows (cosine)."""
    z = z if on.sharded else on.to(z)
    return unit_latents(on, z) if metric == "cosine" else z


def _metric_distances(dist: Any, metric: str) -> Any:
    """The searched distances in the metric: the cosine search ran Euclidean on unit rows,
    ``1 − cos = ‖â − b̂‖² / 2``; the others are the metric's already."""
    return dist * dist / 2 if metric == "cosine" else dist


def _graph_distances(dist: Any, metric: str) -> Any:
    """The ``d`` of eq. (2): the metric's distance, shifted for the inner product to
    ``s_max − ⟨z_i, z_j⟩ ≥ 0`` (``s_max`` the largest inner product of any edge), since
    ``1 − ⟨z_i, z_j⟩`` can be negative and ``exp(−d²/σ²)`` must decrease with ``d``."""
    dist = _metric_distances(dist, metric)
    return dist - dist.min() if metric == "inner_product" else dist


def _placed(z, k, exact, method, nprobe, chunk_size, backend, metric):
    """The checked ``z`` and ``k``, the search options and the placement of the search."""
    z = check_latents(z)
    k = check_k(k, z.shape[0])
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    check_choice(metric, "metric", METRICS)
    if metric == "inner_product" and not exact:
        raise ValueError(
            "metric='inner_product' searches exactly (the approximate indexes are "
            "Euclidean); pass exact=True, or metric='cosine' on normalised latents"
        )
    on = place(z, backend=backend)
    if not (exact or on.sharded):
        method = method or on.default_knn_method
        check_choice(method, "method", on.knn_methods)
    _check_search(exact, method, nprobe, "ivf" if on.sharded else method)
    options = {"exact": exact, "method": method, "nprobe": nprobe, "chunk_size": chunk_size}
    return z, k, options | {"inner_product": metric == "inner_product"}, on


def _check_search(exact: bool, method: Any, nprobe: Any, resolved: Any) -> None:
    """``method`` and ``nprobe`` only go with ``exact=False``; ``nprobe`` only with IVF."""
    if exact and method is not None:
        raise ValueError("method= selects an approximate index; pass exact=False with it")
    if nprobe is None:
        return
    check_positive_int(nprobe, "nprobe")
    if exact or (resolved or "ivf") != "ivf":
        raise ValueError(
            "nprobe= applies to the approximate IVF search (exact=False, method='ivf')"
        )


def knn_graph(
    z: Any,
    k: int,
    *,
    bandwidth: float | Literal["median"] | None = "median",
    exact: bool = True,
    method: ApproxMethod | None = None,
    nprobe: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = False,
    backend: str | None = None,
    metric: Metric = "euclidean",
) -> Any:
    """Symmetric weighted k-NN graph of ``z`` as a sparse CSR adjacency matrix.

    Samples ``i`` and ``j`` are linked when either is among the other's ``k``
    nearest neighbours (self excluded), with the Gaussian weight of the LCC
    paper (section III.B), ``w_ij = exp(-‖z_i − z_j‖² / σ²)``.

    The paper uses σ = 1. On real latents ‖z_i − z_j‖ is often 10 or more, so
    exp(−d²) is below float32's smallest number and every edge weight becomes 0:
    the graph carries no information and community detection degenerates. So
    the default here is ``bandwidth="median"``: σ is the median over samples of
    the distance to the k-th neighbour, which makes weights scale-free (a typical
    k-th neighbour edge weighs e⁻¹ ≈ 0.37) and keeps all of them representable.
    Pass ``bandwidth=None`` for the paper's raw σ = 1 or a float for a fixed σ.

    With ``metric="cosine"`` the neighbours and ``d`` are cosine ones (``d = 1 − cos``,
    σ the median k-th cosine distance); with ``"inner_product"`` the neighbours are those
    of largest inner product and ``d = s_max − ⟨z_i, z_j⟩``, ``s_max`` the largest inner
    product among the edges (``1 − ⟨z_i, z_j⟩`` shifted to start at 0).

    Parameters
    ----------
    z, k, exact, method, nprobe, chunk_size, progress, backend, metric
        As in :func:`knn`.
    bandwidth : "median", float or None, default "median"
        The kernel width σ (see above).

    Returns
    -------
    scipy.sparse.csr_matrix or cupyx.scipy.sparse.csr_matrix
        ``(n_samples, n_samples)`` float32, symmetric, zero diagonal, sorted
        indices. Between ``n·k/2`` and ``n·k`` undirected edges. For a Dask
        ``z``: a Dask array of CSR row blocks chunked like ``z``, symmetrised
        on the workers block pair by block pair.
    """
    if not (bandwidth is None or bandwidth == "median"):
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float):
            raise TypeError(
                f"bandwidth must be 'median', a positive float or None, got {bandwidth!r}"
            )
        if not bandwidth > 0:
            raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    z, k, options, on = _placed(z, k, exact, method, nprobe, chunk_size, backend, metric)
    z = _in_metric_space(on, z, metric)
    if on.sharded:  # rerun when a worker dies meanwhile
        return sharded.survive_worker_loss(lambda: _sharded_graph(z, k, bandwidth, metric, options))
    dist, idx, _ = kernels.search(on, z, k, **options, progress=progress)
    dist = _graph_distances(dist, metric)
    return on.back(kernels.graph_from_neighbors(on, dist, idx, bandwidth))


def _sharded_graph(z: Any, k: int, bandwidth: Any, metric: str, options: dict) -> Any:
    dist, idx = sharded.neighbors.knn(z, k, **options)
    return sharded.neighbors.graph_from_neighbors(_graph_distances(dist, metric), idx, bandwidth)
