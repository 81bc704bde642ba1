"""Graph kernels: community detection runs, modularity (eq. 2), conductance (eq. 10–11)
and k-NN pressure clustering (LCC paper, section VI.A), as sparse linear algebra on ``xp``."""

from __future__ import annotations

from typing import Any

from lcc._dispatch import Placement

__all__ = [
    "checked_adjacency",
    "communities",
    "compact",
    "conductance",
    "csr_row_ids",
    "in_order_of_appearance",
    "modularity",
    "peer_pressure",
]


def checked_adjacency(on: Placement, adjacency: Any, name: str = "adjacency") -> Any:
    """A square, symmetric, non-negative, finite sparse matrix, returned as float64 CSR
    with duplicates summed; anything else is a ValueError / TypeError naming ``name``."""
    sparse, xp = on.sparse, on.xp
    if not sparse.issparse(adjacency):
        if hasattr(adjacency, "ndim") and adjacency.ndim == 2:
            adjacency = sparse.csr_matrix(adjacency)
        else:
            raise TypeError(
                f"{name} must be a scipy / cupyx sparse matrix or a 2-D array, got "
                f"{type(adjacency).__name__}"
            )
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"{name} must be square, got shape {adjacency.shape}")
    if adjacency.shape[0] < 2:
        raise ValueError(f"{name} has {adjacency.shape[0]} node(s); at least 2 are needed")
    a = adjacency.tocsr().astype(xp.float64)
    a.sum_duplicates()
    if a.nnz:
        if not bool(xp.all(xp.isfinite(a.data))):
            raise ValueError(f"{name} has NaN or infinite weights")
        if float(a.data.min()) < 0:
            raise ValueError(f"{name} has negative weights; edge weights must be >= 0")
        asym = abs(a - a.T.tocsr()).max()
        if float(asym) > 1e-6 * float(a.data.max()):
            raise ValueError(
                f"{name} is not symmetric (max |A - Aᵀ| = {float(asym):.3g}); "
                "build it with lcc.knn_graph or symmetrise it with A.maximum(A.T)"
            )
    return a


def compact(on: Placement, labels: Any) -> Any:
    """Relabel to consecutive ids ``0..C-1`` (the rank of each value among the unique ones)."""
    xp = on.xp
    return xp.unique(labels, return_inverse=True)[1].astype(xp.int64).reshape(-1)


def in_order_of_appearance(on: Placement, labels: Any) -> Any:
    """Relabel to consecutive ids ``0..C-1`` counted up in order of each cluster's first
    sample: one partition, one labelling, whatever numbering produced it."""
    xp = on.xp
    _, first, inverse = xp.unique(labels, return_index=True, return_inverse=True)
    return xp.argsort(xp.argsort(first))[inverse.reshape(-1)].astype(xp.int64)


def communities(
    on: Placement,
    algorithm: str,
    a: Any,
    *,
    resolutions: tuple[float, ...],
    seed: int,
    n_runs: int,
) -> list[Any]:
    """Per resolution, the backend's ``algorithm`` (``"leiden"`` / ``"louvain"``) run
    ``n_runs`` times with seeds ``seed, seed + 1, …``: the partition of the highest
    modularity (compacted). The backend's graph of ``a`` is built once for them all."""
    detect = getattr(on.impl, algorithm)
    seeded = getattr(on.impl, "seeded", None)
    if seeded is not None and not seeded(algorithm):
        n_runs = 1  # a seedless implementation would repeat one run n_runs times
    graph = on.impl.community_graph(a)
    partitions = []
    for resolution in resolutions:
        best, best_q = None, -float("inf")
        for run in range(n_runs):
            labels = compact(on, detect(graph, resolution=resolution, seed=seed + run))
            q = modularity(on, a, labels, resolution) if n_runs > 1 else 0.0
            if q > best_q:
                best, best_q = labels, q
        partitions.append(best)
    return partitions


def modularity(on: Placement, a: Any, labels: Any, resolution: float) -> float:
    """Newman modularity Q (eq. 2) of compact ``labels`` on the CSR adjacency ``a``."""
    xp = on.xp
    inside, volume = _inside_and_volume(on, a, labels)
    two_m = float(xp.sum(volume))
    if two_m == 0:
        raise ValueError("adjacency has no edges; modularity is undefined")
    return float(xp.sum(inside) / two_m - resolution * xp.sum((volume / two_m) ** 2))


def csr_row_ids(on: Placement, m: Any) -> Any:
    """The row of every stored entry of a CSR matrix, in storage order (int64).

    ``searchsorted`` on ``indptr`` rather than ``repeat(arange(n), diff(indptr))``:
    cupy 14.0 refuses an array as ``repeats`` ("cupy.ndarray cannot be specified
    as `repeats` argument"), and the gpu extra admits cupy 14.0.
    """
    xp = on.xp
    entries = xp.arange(m.indices.shape[0], dtype=xp.int64)
    return xp.searchsorted(m.indptr.astype(xp.int64), entries, side="right") - 1


def _inside_and_volume(on: Placement, a: Any, labels: Any) -> tuple[Any, Any]:
    """Per community: weight of edges inside (ordered pairs) and volume."""
    xp = on.xp
    n_comm = int(labels.max()) + 1
    rows = csr_row_ids(on, a)
    same = labels[rows] == labels[a.indices]
    if bool(xp.any(same)):
        inside = xp.bincount(labels[rows][same], weights=a.data[same], minlength=n_comm)
    else:  # cupy < 14.2 fails on an empty bincount (it takes the max of x first)
        inside = xp.zeros(n_comm, dtype=xp.float64)
    degree = xp.asarray(a.sum(axis=1)).ravel()
    volume = xp.bincount(labels, weights=degree, minlength=n_comm)
    return inside, volume


def conductance(on: Placement, a: Any, labels: Any) -> float:
    """Conductance Φ (eq. 10–11, volume-weighted mean of φ) of compact ``labels``."""
    xp = on.xp
    inside, volume = _inside_and_volume(on, a, labels)
    total = float(xp.sum(volume))
    if total == 0:
        return 1.0
    cut = volume - inside
    denom = xp.minimum(volume, total - volume)
    phi = xp.where(denom > 0, cut / xp.where(denom > 0, denom, 1.0), 1.0)
    return float(xp.sum(volume * phi) / total)


def peer_pressure(
    on: Placement, a: Any, *, max_iter: int, patience: int, update_fraction: float, seed: int
) -> Any:
    """k-NN pressure rounds (section VI.A) on the CSR ``a``; see :func:`lcc.peer_pressure`."""
    xp, sparse = on.xp, on.sparse
    n = a.shape[0]
    rng = xp.random.default_rng(seed)
    degree_count = xp.diff(a.indptr)

    labels = xp.arange(n, dtype=xp.int64)
    best, best_phi, stale = labels, conductance(on, a, labels), 0
    for _ in range(max_iter):
        n_comm = int(labels.max()) + 1
        one_hot = sparse.csr_matrix(
            (xp.ones(n, dtype=xp.float64), (xp.arange(n), labels)), shape=(n, n_comm)
        )
        pressure = (a @ one_hot).tocsr()  # (n, C): weight from each node to each community
        moved = _row_argmax_random_ties(on, pressure, rng)
        update = (degree_count > 0) & (rng.random(n) < update_fraction)
        labels = compact(on, xp.where(update, moved, labels))
        phi = conductance(on, a, labels)
        if phi < best_phi:
            best, best_phi, stale = labels, phi, 0
        else:
            stale += 1
            if stale >= patience:
                break
    return best


def _row_argmax_random_ties(on: Placement, m: Any, rng: Any) -> Any:
    """Column of each row's largest entry of a CSR matrix, ties broken uniformly at random.

    Every maximal entry draws a distinct random integer key (a rank of a random
    permutation) and the entry holding its row's largest key wins. Rows without
    entries get -1. The row maxima are the sparse matrix's own exact row reduction
    and the keys are int64: on an H200 with cupy 14.2, ``cupy.maximum.at`` and
    ``cupyx.scatter_max`` returned float64 maxima rounded to float32 (1.99909074128969
    came back as 1.9990907907485962), so no float key ever equalled its row's maximum.
    """
    xp = on.xp
    n = m.shape[0]
    rows = csr_row_ids(on, m)
    row_max = xp.asarray(m.max(axis=1).toarray()).ravel()
    is_max = m.data >= row_max[rows] * (1 - 1e-12)
    key = xp.where(is_max, xp.argsort(rng.random(m.data.shape[0])) + 1, 0)
    best_key = _scatter_max(on, xp.zeros(n, dtype=key.dtype), rows, key)
    wins = is_max & (key == best_key[rows])
    out = xp.full(n, -1, dtype=xp.int64)
    out[rows[wins]] = m.indices[wins]
    return out


def _scatter_max(on: Placement, out: Any, index: Any, values: Any) -> Any:
    """``out[index[i]] = max(out[index[i]], values[i])`` for all ``i``, in place."""
    if on.xp.__name__ == "numpy":
        on.xp.maximum.at(out, index, values)
    else:  # cupy's ufuncs have no .at
        import cupyx

        cupyx.scatter_max(out, index, values)
    return out
