"""k nearest neighbours and the k-NN graph of a latent set (LCC paper, section III.B).

The library calls (faiss on CPU, cuVS on GPU) live in :mod:`lcc.backends`;
the glue here (self removal, kernel weights, symmetrisation) is written once
against the numpy API that cupy mirrors, so the CPU tests run the GPU glue.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from lcc import backends
from lcc._backend import (
    array_module,
    backend_of,
    move,
    resolve,
    sparse_module,
)
from lcc._dispatch import sharded
from lcc._validation import (
    check_choice,
    check_k,
    check_latents,
    check_positive_int,
)
from lcc.backends.knn import approximate_methods

__all__ = ["Neighbors", "knn", "knn_graph"]

ApproxMethod = Literal["hnsw", "ivf", "cagra"]
DEFAULT_CHUNK_SIZE = 8192


class Neighbors(NamedTuple):
    """Result of :func:`knn`: ``(distances, indices)``, each ``(n_samples, k)``."""

    distances: Any
    indices: Any


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
        Exact brute-force search: on the CPU, BLAS tiles with faiss's top-k heaps, each
        pair's distance computed once (:mod:`lcc.backends.knn.cpu_exact`); on the GPU,
        cuVS ``brute_force``, or cupy tiles where cuVS is absent
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

    Returns
    -------
    Neighbors
        ``distances`` (float32 Euclidean, not squared, ascending per row) and
        ``indices`` (int64), both ``(n_samples, k)`` and of the input's kind.
        Duplicate points are kept as neighbours at distance 0; only the query
        row itself is removed.
    """
    z = check_latents(z)
    k = check_k(k, z.shape[0])
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    impl = sharded("knn", z)
    if impl is not None:
        _check_search(exact, method, nprobe, "ivf")
        options = {"exact": exact, "method": method, "nprobe": nprobe, "chunk_size": chunk_size}
        return Neighbors(*impl(z, k, **options))
    given, target = resolve(z, backend)
    if not exact:
        method = method or ("cagra" if target == "gpu" else "ivf")
        check_choice(method, "method", approximate_methods(target))
    _check_search(exact, method, nprobe, method)
    impl = backends.get(target)
    d2, idx = impl.knn_search(
        move(z, target),
        k + 1,
        exact=exact,
        method=method,
        nprobe=nprobe,
        chunk_size=chunk_size,
        progress=progress,
    )
    dist, idx = _drop_self(d2, idx, k, target, n_base=z.shape[0])
    return Neighbors(move(dist, given), move(idx, given))


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


def _drop_self(
    sq_dist: Any, idx: Any, k: int, backend: str, query_ids: Any = None, *, n_base: int
) -> tuple[Any, Any]:
    """Remove each query from its own ``k + 1`` neighbours (or the farthest if absent).

    Self is not always in column 0: duplicates tie with it at distance 0, and an
    approximate index may miss it. Every row loses exactly one column. Query
    ``i`` is base row ``query_ids[i]`` (default: ``i``); the base has ``n_base``
    rows, so an id outside ``0 … n_base − 1`` is an index's "not found" sentinel:
    faiss pads with −1, cuVS IVF with int64-max, CAGRA with uint32-max.
    """
    xp = array_module(backend)
    n = idx.shape[0]
    if query_ids is None:
        query_ids = xp.arange(n, dtype=idx.dtype)
    is_self = idx == query_ids[:, None]
    no_self = ~xp.any(is_self, axis=1)
    is_self[:, -1] |= no_self
    keep = ~is_self
    kept = idx[keep]
    if bool(xp.any((kept < 0) | (kept >= n_base))):
        raise RuntimeError(
            "the approximate index returned fewer than k neighbours for some samples; "
            "use exact=True or a larger nprobe"
        )
    dist = xp.sqrt(xp.maximum(sq_dist[keep], 0)).astype(xp.float32).reshape(n, k)
    return dist, idx[keep].astype(xp.int64).reshape(n, k)


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

    Parameters
    ----------
    z, k, exact, method, nprobe, chunk_size, progress, backend
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
    options = {"exact": exact, "method": method, "nprobe": nprobe, "chunk_size": chunk_size}
    survive = sharded("survive_worker_loss", z)  # Dask: rerun when a worker dies meanwhile
    if survive is not None:
        return survive(lambda: _knn_graph(z, k, bandwidth, options, progress, backend))
    return _knn_graph(z, k, bandwidth, options, progress, backend)


def _knn_graph(z, k, bandwidth, options, progress, backend) -> Any:
    dist, idx = knn(z, k, **options, progress=progress, backend=backend)
    impl = sharded("graph_from_neighbors", dist)
    if impl is not None:
        return impl(dist, idx, bandwidth)
    return _graph_from_neighbors(dist, idx, bandwidth, backend_of(dist))


def _graph_from_neighbors(dist: Any, idx: Any, bandwidth: Any, backend: str) -> Any:
    xp = array_module(backend)
    sigma = _bandwidth(dist[:, -1], dist, bandwidth)
    weights = _edge_weights(dist, sigma)
    directed = _directed_rows(dist, idx, sigma, idx.shape[0], weights)
    # either direction links: the max of the two (equal) weights, present in either
    adjacency = directed.maximum(directed.T.tocsr()).tocsr()
    adjacency.sort_indices()
    _warn_underflow(float(xp.mean(weights == 0)))
    return adjacency


def _bandwidth(kth: Any, dist: Any, bandwidth: Any) -> float:
    """σ: the median distance to the k-th neighbour (``kth``), a given float, or 1 (None).

    If more than half the points have k exact duplicates the median is 0; then
    the median positive distance of ``dist`` (a local array) is used.
    """
    if bandwidth is None:
        return 1.0
    if bandwidth != "median":
        return float(bandwidth)
    xp = array_module(backend_of(kth))
    sigma = float(xp.median(kth))
    if sigma == 0.0:
        positive = dist[dist > 0]
        if hasattr(positive, "compute"):  # a Dask array
            positive = positive.compute()
        sigma = float(xp.median(positive)) if positive.size else 1.0
    return sigma


def _edge_weights(dist: Any, sigma: float) -> Any:
    """The Gaussian weights ``exp(−d² / σ²)`` as float32 (computed in float64)."""
    xp = array_module(backend_of(dist))
    return xp.exp(-((dist.astype(xp.float64) / sigma) ** 2)).astype(xp.float32)


def _directed_rows(dist: Any, idx: Any, sigma: float, n_cols: int, weights: Any = None) -> Any:
    """CSR ``(rows, n_cols)``: row ``i`` links to its ``k`` neighbours ``idx[i]``."""
    backend = backend_of(dist)
    xp, sparse = array_module(backend), sparse_module(backend)
    n, k = idx.shape
    if weights is None:
        weights = _edge_weights(dist, sigma)
    rows = xp.repeat(xp.arange(n, dtype=xp.int64), k)
    return sparse.csr_matrix((weights.ravel(), (rows, idx.ravel())), shape=(n, n_cols))


def _warn_underflow(fraction: float) -> None:
    if fraction > 0.01:
        import warnings

        warnings.warn(
            f"{fraction:.0%} of the k-NN edge weights exp(-d²/σ²) underflowed to 0 and were "
            "dropped: the latents are too far apart for this bandwidth; use "
            "bandwidth='median'",
            stacklevel=4,
        )
