"""k-NN kernels: the search without the query itself, and the Gaussian k-NN graph
(LCC paper, section III.B)."""

from __future__ import annotations

import warnings
from typing import Any

from lcc._dispatch import Placement

__all__ = [
    "bandwidth",
    "directed_rows",
    "drop_self",
    "edge_weights",
    "graph_from_neighbors",
    "inner_product_distances",
    "nearest",
    "search",
    "warn_underflow",
]


def search(
    on: Placement, z: Any, k: int, *, inner_product: bool = False, **options: Any
) -> tuple[Any, Any, str]:
    """``(distances, indices, how)``: the ``k`` nearest rows of every row of ``z`` but
    itself, Euclidean float32 and int64, and how the search ran (``options``: the
    backend's ``knn_search`` options). ``inner_product``: the ``k`` rows of largest
    ``⟨z_i, z_j⟩`` instead (exact search only), at the distance ``1 − ⟨z_i, z_j⟩``
    (:func:`nearest`, :func:`inner_product_distances`)."""
    if inner_product:
        sq, idx = nearest(on, z, z, k + 1, chunk_size=options["chunk_size"], inner_product=True)
        _, idx = drop_self(on, sq, idx, k, n_base=z.shape[0])
        return (*inner_product_distances(on, z, z, idx), "exact (inner product)")
    d2, idx, *how = on.impl.knn_search(z, k + 1, **options)
    default = "exact" if options.get("exact", True) else f"approximate ({options.get('method')})"
    return (*drop_self(on, d2, idx, k, n_base=z.shape[0]), how[0] if how else default)


def nearest(
    on: Placement, base: Any, queries: Any, k: int, *, chunk_size: int, inner_product: bool = False
) -> tuple[Any, Any]:
    """The exact ``k`` nearest rows of ``base`` for every row of ``queries``: ``(sq, ids)``,
    the backend's ``knn_query``.

    ``inner_product``: the ``k`` rows of largest ``⟨q, x⟩``, through the exact reduction
    of maximum inner-product search to Euclidean search (Bachrach et al., 2014): with
    ``M = max ‖x‖``, the base rows gain the coordinate ``√(M² − ‖x‖²)`` and the queries
    ``0``, so that ``‖q' − x'‖² = ‖q‖² + M² − 2⟨q, x⟩`` orders each query's base rows by
    decreasing inner product. Every exact engine (the CPU tiles, cuVS brute force, the
    cupy tiles, each Dask worker's) then serves it unchanged. ``sq`` is then that
    augmented distance; :func:`inner_product_distances` gives the metric's own.
    """
    if inner_product:
        xp = on.xp
        b64 = base.astype(xp.float64)
        norms2 = xp.sum(b64 * b64, axis=1)
        extra = xp.sqrt(xp.maximum(xp.max(norms2) - norms2, 0))[:, None]
        base = xp.concatenate([b64, extra], axis=1).astype(xp.float32)
        zeros = xp.zeros((queries.shape[0], 1), dtype=xp.float32)
        queries = xp.concatenate([queries.astype(xp.float32), zeros], axis=1)
    return on.impl.knn_query(base, queries, k, chunk_size=chunk_size)


def inner_product_distances(on: Placement, queries: Any, base: Any, idx: Any) -> tuple[Any, Any]:
    """``1 − ⟨q, x⟩`` of each query and its neighbours ``base[idx]``, computed in float64
    (not recovered from the reduction's rounded distances) and each row sorted by it,
    ties to the smaller index: ``(distances float32, ids int64)``."""
    xp = on.xp
    ip = xp.empty(idx.shape, dtype=xp.float64)
    for start in range(0, idx.shape[0], 8192):  # a float64 (rows, k, d) gather at a time
        rows = slice(start, start + 8192)
        q, x = queries[rows].astype(xp.float64), base[idx[rows]].astype(xp.float64)
        ip[rows] = xp.einsum("nd,nkd->nk", q, x)
    by_id = xp.argsort(idx, axis=1, kind="stable")
    idx, dist = xp.take_along_axis(idx, by_id, axis=1), xp.take_along_axis(1.0 - ip, by_id, axis=1)
    order = xp.argsort(dist, axis=1, kind="stable")
    idx = xp.take_along_axis(idx, order, axis=1)
    return xp.take_along_axis(dist, order, axis=1).astype(xp.float32), idx.astype(xp.int64)


def drop_self(
    on: Placement, sq_dist: Any, idx: Any, k: int, query_ids: Any = None, *, n_base: int
) -> tuple[Any, Any]:
    """Remove each query from its own ``k + 1`` neighbours (or the farthest if absent).

    Self is not always in column 0: duplicates tie with it at distance 0, and an
    approximate index may miss it. Every row loses exactly one column. Query
    ``i`` is base row ``query_ids[i]`` (default: ``i``); the base has ``n_base``
    rows, so an id outside ``0 … n_base − 1`` is an index's "not found" sentinel:
    faiss pads with −1, cuVS IVF with int64-max, CAGRA with uint32-max.
    """
    xp = on.xp
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


def graph_from_neighbors(on: Placement, dist: Any, idx: Any, sigma_choice: Any) -> Any:
    """The symmetric k-NN graph (CSR, sorted indices) from the neighbours of every row."""
    sigma = bandwidth(on, dist[:, -1], dist, sigma_choice)
    weights = edge_weights(on, dist, sigma)
    directed = directed_rows(on, dist, idx, sigma, idx.shape[0], weights)
    # either direction links: the max of the two (equal) weights, present in either
    adjacency = directed.maximum(directed.T.tocsr()).tocsr()
    adjacency.sort_indices()
    warn_underflow(float(on.xp.mean(weights == 0)))
    return adjacency


def bandwidth(on: Placement, kth: Any, dist: Any, choice: Any) -> float:
    """σ: the median distance to the k-th neighbour (``kth``), a given float, or 1 (None).

    If more than half the points have k exact duplicates the median is 0; then
    the median positive distance of ``dist`` (a local or Dask array) is used.
    """
    if choice is None:
        return 1.0
    if choice != "median":
        return float(choice)
    sigma = float(on.xp.median(kth))
    if sigma == 0.0:
        positive = dist[dist > 0]
        if hasattr(positive, "compute"):  # a Dask array
            positive = positive.compute()
        sigma = float(on.xp.median(positive)) if positive.size else 1.0
    return sigma


def edge_weights(on: Placement, dist: Any, sigma: float) -> Any:
    """The Gaussian weights ``exp(−d² / σ²)`` (eq. 1) as float32 (computed in float64)."""
    xp = on.xp
    return xp.exp(-((dist.astype(xp.float64) / sigma) ** 2)).astype(xp.float32)


def directed_rows(
    on: Placement, dist: Any, idx: Any, sigma: float, n_cols: int, weights: Any = None
) -> Any:
    """CSR ``(rows, n_cols)``: row ``i`` links to its ``k`` neighbours ``idx[i]``."""
    xp = on.xp
    n, k = idx.shape
    if weights is None:
        weights = edge_weights(on, dist, sigma)
    rows = xp.repeat(xp.arange(n, dtype=xp.int64), k)
    return on.sparse.csr_matrix((weights.ravel(), (rows, idx.ravel())), shape=(n, n_cols))


def warn_underflow(fraction: float) -> None:
    if fraction > 0.01:
        warnings.warn(
            f"{fraction:.0%} of the k-NN edge weights exp(-d²/σ²) underflowed to 0 and were "
            "dropped: the latents are too far apart for this bandwidth; use "
            "bandwidth='median'",
            stacklevel=4,
        )
