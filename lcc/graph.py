"""Communities of a k-NN graph and their quality (LCC paper, sections III.A and VI.A).

``leiden`` / ``louvain`` call igraph (CPU) or cuGraph (GPU). ``peer_pressure``,
``modularity`` and ``conductance`` are sparse linear algebra written once
against the numpy / scipy.sparse API that cupy / cupyx mirror, so the CPU
tests cover the GPU code.
"""

from __future__ import annotations

from typing import Any

from lcc import backends
from lcc._backend import (
    array_module,
    backend_of,
    move,
    resolve,
    sparse_module,
)
from lcc._dispatch import sharded
from lcc._validation import check_labels, check_positive_int

__all__ = ["conductance", "leiden", "louvain", "modularity", "peer_pressure"]


def check_adjacency(adjacency: Any, name: str = "adjacency") -> Any:
    """A square, symmetric, non-negative, finite sparse matrix, returned as CSR."""
    backend = backend_of(adjacency)
    sparse = sparse_module(backend)
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
    a = adjacency.tocsr().astype(array_module(backend).float64)
    a.sum_duplicates()
    xp = array_module(backend)
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


def _check_resolution(resolution: Any) -> float:
    if isinstance(resolution, bool) or not isinstance(resolution, int | float):
        raise TypeError(f"resolution must be a number, got {type(resolution).__name__}")
    if not resolution > 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    return float(resolution)


def _compact(labels: Any, backend: str) -> Any:
    """Relabel to consecutive ids ``0..C-1`` (the rank of each value among the unique ones)."""
    xp = array_module(backend)
    return xp.unique(labels, return_inverse=True)[1].astype(xp.int64).reshape(-1)


def _communities(
    algorithm: str, adjacency: Any, resolution: Any, seed: Any, n_runs: Any, backend: Any
) -> Any:
    """Run a backend's community detection ``n_runs`` times; keep the best modularity."""
    a = check_adjacency(adjacency)
    resolution = _check_resolution(resolution)
    seed = check_positive_int(seed, "seed", minimum=0)
    n_runs = check_positive_int(n_runs, "n_runs")
    given, target = resolve(a, backend)
    a = move(a, target)
    impl = backends.get(target)
    detect = getattr(impl, algorithm)
    seeded = getattr(impl, "seeded", None)
    if seeded is not None and not seeded(algorithm):
        n_runs = 1  # a seedless implementation would repeat one run n_runs times
    best, best_q = None, -float("inf")
    for run in range(n_runs):
        labels = _compact(detect(a, resolution=resolution, seed=seed + run), target)
        q = _modularity(a, labels, resolution, target) if n_runs > 1 else 0.0
        if q > best_q:
            best, best_q = labels, q
    return move(best, given)


def leiden(
    adjacency: Any,
    *,
    resolution: float = 1.0,
    seed: int = 0,
    n_runs: int = 1,
    backend: str | None = None,
) -> Any:
    """Leiden communities maximising modularity (eq. 2) of a weighted undirected graph.

    CPU: igraph ``community_leiden`` iterated until stable; GPU: ``cugraph.leiden``.

    Parameters
    ----------
    adjacency : (n, n) scipy / cupyx sparse matrix
        Symmetric non-negative weights, e.g. from :func:`lcc.knn_graph`.
    resolution : float, default 1.0
        Modularity resolution γ; larger gives more, smaller communities.
    seed : int, default 0
        Random seed (the result is reproducible for a given seed and backend).
    n_runs : int, default 1
        Independent runs (seeds ``seed … seed + n_runs − 1``); the partition
        with the highest modularity is returned.
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    labels : (n,) int64 array, values ``0..C-1``, of the input's kind.
        For a Dask graph (from :func:`lcc.knn_graph` on Dask latents), a Dask
        array chunked like its rows: on CPU workers the graph is gathered to
        this process for igraph, on GPU workers ``cugraph.dask.leiden`` runs
        on the cluster.
    """
    impl = sharded("leiden", adjacency)
    if impl is not None:
        _check_dask_adjacency(adjacency)
        resolution = _check_resolution(resolution)
        seed = check_positive_int(seed, "seed", minimum=0)
        n_runs = check_positive_int(n_runs, "n_runs")
        return impl(adjacency, resolution=resolution, seed=seed, n_runs=n_runs)
    return _communities("leiden", adjacency, resolution, seed, n_runs, backend)


def _check_dask_adjacency(adjacency: Any) -> None:
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {adjacency.shape}")
    if adjacency.shape[0] < 2:
        raise ValueError(f"adjacency has {adjacency.shape[0]} node(s); at least 2 are needed")


def louvain(
    adjacency: Any,
    *,
    resolution: float = 1.0,
    seed: int = 0,
    n_runs: int = 5,
    backend: str | None = None,
) -> Any:
    """Louvain (multilevel) communities maximising modularity; see :func:`leiden`.

    CPU: igraph ``community_multilevel``; GPU: ``cugraph.louvain``, which takes
    no seed, so on the GPU one run is made whatever ``n_runs`` says. Louvain's
    result depends on the order it visits nodes — on Zachary's karate club one
    order in five stops below Q = 0.40 — so by default the best of ``n_runs=5``
    orders is kept; one multilevel pass is cheap. Leiden is preferred: it is more stable and never
    returns badly connected communities.
    """
    return _communities("louvain", adjacency, resolution, seed, n_runs, backend)


def modularity(adjacency: Any, labels: Any, *, resolution: float = 1.0) -> float:
    """Newman modularity Q of a partition (eq. 2), with resolution γ.

    ``Q = Σ_c [ in_c / 2m − γ (vol_c / 2m)² ]`` where ``in_c`` sums ``A_ij``
    over ordered pairs inside community ``c``, ``vol_c`` its weighted degrees
    and ``2m`` the total weight ``Σ_ij A_ij``. Dask input is gathered here.
    """
    gather = sharded("gather", adjacency, labels)
    if gather is not None:
        adjacency, labels = gather(adjacency), gather(labels)
    a = check_adjacency(adjacency)
    resolution = _check_resolution(resolution)
    backend = backend_of(a)
    return _modularity(a, _labels_on(labels, a, backend), resolution, backend)


def _modularity(a: Any, labels: Any, resolution: float, backend: str) -> float:
    xp = array_module(backend)
    inside, volume = _inside_and_volume(a, labels, backend)
    two_m = float(xp.sum(volume))
    if two_m == 0:
        raise ValueError("adjacency has no edges; modularity is undefined")
    return float(xp.sum(inside) / two_m - resolution * xp.sum((volume / two_m) ** 2))


def conductance(adjacency: Any, labels: Any) -> float:
    """Conductance Φ of a partition (LCC paper eq. 10–11), 0 (best) to 1 (worst).

    ``φ(C) = cut(C, V∖C) / min(vol(C), vol(V∖C))``, with ``φ(C) = 1`` when the
    denominator is 0 (eq. 10's convention: a single all-covering community
    scores 1). ``Φ`` is the mean of ``φ(C)`` weighted by ``vol(C)`` and
    normalised by ``vol(V)``. The paper writes ``1/|V|`` in eq. (11), which would
    not stay within [0, 1] for weighted graphs; its own algorithm (section VI.A
    step d) takes "the mean of φ weighted by v", which is what is computed here.
    """
    a = check_adjacency(adjacency)
    backend = backend_of(a)
    return _conductance(a, _labels_on(labels, a, backend), backend)


def _labels_on(labels: Any, a: Any, backend: str) -> Any:
    labels = check_labels(labels, "labels", a.shape[0])
    if backend_of(labels) != backend:
        raise TypeError("labels and adjacency must both be on the CPU or both on the GPU")
    return _compact(labels, backend)


def csr_row_ids(m: Any) -> Any:
    """The row of every stored entry of a CSR matrix, in storage order (int64).

    ``searchsorted`` on ``indptr`` rather than ``repeat(arange(n), diff(indptr))``:
    cupy 14.0 refuses an array as ``repeats`` ("cupy.ndarray cannot be specified
    as `repeats` argument"), and the gpu extra admits cupy 14.0.
    """
    xp = array_module(backend_of(m))
    entries = xp.arange(m.indices.shape[0], dtype=xp.int64)
    return xp.searchsorted(m.indptr.astype(xp.int64), entries, side="right") - 1


def _inside_and_volume(a: Any, labels: Any, backend: str) -> tuple[Any, Any]:
    """Per community: weight of edges inside (ordered pairs) and volume."""
    xp = array_module(backend)
    n_comm = int(labels.max()) + 1
    rows = csr_row_ids(a)
    same = labels[rows] == labels[a.indices]
    if bool(xp.any(same)):
        inside = xp.bincount(labels[rows][same], weights=a.data[same], minlength=n_comm)
    else:  # cupy < 14.2 fails on an empty bincount (it takes the max of x first)
        inside = xp.zeros(n_comm, dtype=xp.float64)
    degree = xp.asarray(a.sum(axis=1)).ravel()
    volume = xp.bincount(labels, weights=degree, minlength=n_comm)
    return inside, volume


def _conductance(a: Any, labels: Any, backend: str) -> float:
    xp = array_module(backend)
    inside, volume = _inside_and_volume(a, labels, backend)
    total = float(xp.sum(volume))
    if total == 0:
        return 1.0
    cut = volume - inside
    denom = xp.minimum(volume, total - volume)
    phi = xp.where(denom > 0, cut / xp.where(denom > 0, denom, 1.0), 1.0)
    return float(xp.sum(volume * phi) / total)


def peer_pressure(
    adjacency: Any,
    *,
    max_iter: int = 100,
    patience: int = 3,
    update_fraction: float = 0.5,
    seed: int = 0,
    backend: str | None = None,
) -> Any:
    """k-NN pressure clustering (LCC paper, section VI.A), with sparse matrix products.

    Every node starts in its own community. At each round all nodes move at
    once to the community with the largest total edge weight among their
    neighbours (``b_i = argmax_c (A B)_ic``), ties broken at random; ``B`` is
    the one-hot membership matrix, so a round is one sparse product. The
    partition with the lowest conductance (eq. 10–11) is returned.

    Two departures from the paper's letter, both because fully synchronous
    moves oscillate: when a community splits into two halves that each see
    more of the other, every node swaps, the partition repeats with the same
    conductance, and "stop when conductance stops decreasing" freezes it
    over-segmented (50,000 blob latents at k = 5 end in ~11,800 communities).

    * ``update_fraction``: each round a random share of the nodes (default
      half) adopts its new community, which breaks such swaps (``1.0``: the
      paper's fully synchronous rule; ~2,600 communities on the same data).
    * ``patience`` rounds without a new lowest conductance are allowed before
      stopping (``patience=1``: the paper's rule).

    Parameters
    ----------
    adjacency : (n, n) scipy / cupyx sparse matrix
    max_iter : int, default 100
    patience : int, default 3
    update_fraction : float, default 0.5
    seed : int, default 0
        Seed of the random tie-breaking.
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    labels : (n,) int64 array, values ``0..C-1``, of the input's kind.
    """
    a = check_adjacency(adjacency)
    max_iter = check_positive_int(max_iter, "max_iter")
    patience = check_positive_int(patience, "patience")
    if not 0 < update_fraction <= 1:
        raise ValueError(f"update_fraction must be in (0, 1], got {update_fraction}")
    seed = check_positive_int(seed, "seed", minimum=0)
    given, target = resolve(a, backend)
    a = move(a, target)
    xp = array_module(target)
    sparse = sparse_module(target)
    n = a.shape[0]
    rng = xp.random.default_rng(seed)
    degree_count = xp.diff(a.indptr)

    labels = xp.arange(n, dtype=xp.int64)
    best, best_phi, stale = labels, _conductance(a, labels, target), 0
    for _ in range(max_iter):
        n_comm = int(labels.max()) + 1
        one_hot = sparse.csr_matrix(
            (xp.ones(n, dtype=xp.float64), (xp.arange(n), labels)), shape=(n, n_comm)
        )
        pressure = (a @ one_hot).tocsr()  # (n, C): weight from each node to each community
        moved = _row_argmax_random_ties(pressure, rng, target)
        update = (degree_count > 0) & (rng.random(n) < update_fraction)
        labels = _compact(xp.where(update, moved, labels), target)
        phi = _conductance(a, labels, target)
        if phi < best_phi:
            best, best_phi, stale = labels, phi, 0
        else:
            stale += 1
            if stale >= patience:
                break
    return move(best, given)


def _row_argmax_random_ties(m: Any, rng: Any, backend: str) -> Any:
    """Column of each row's largest entry of a CSR matrix, ties broken uniformly at random.

    O(nnz), no sort: every maximal entry draws a random key in [1, 2) and the
    entry holding its row's largest key wins. Rows without entries get -1.
    """
    xp = array_module(backend)
    n = m.shape[0]
    rows = csr_row_ids(m)
    row_max = _scatter_max(xp.full(n, -xp.inf), rows, m.data, backend)
    is_max = m.data >= row_max[rows] * (1 - 1e-12)
    key = xp.where(is_max, rng.random(m.data.shape[0]) + 1.0, 0.0)
    best_key = _scatter_max(xp.zeros(n), rows, key, backend)
    wins = key == best_key[rows]
    out = xp.full(n, -1, dtype=xp.int64)
    out[rows[wins]] = m.indices[wins]
    return out


def _scatter_max(out: Any, index: Any, values: Any, backend: str) -> Any:
    """``out[index[i]] = max(out[index[i]], values[i])`` for all ``i``, in place."""
    if backend == "gpu":
        import cupyx

        cupyx.scatter_max(out, index, values)
    else:
        import numpy as np

        np.maximum.at(out, index, values)
    return out
