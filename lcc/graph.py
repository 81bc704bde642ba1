"""Communities of a k-NN graph and their quality (LCC paper, sections III.A and VI.A).

``leiden`` / ``louvain`` call igraph (CPU) or cuGraph (GPU). ``peer_pressure``,
``modularity`` and ``conductance`` are sparse linear algebra (:mod:`lcc.kernels.graph`)
written once against the numpy / scipy.sparse API that cupy / cupyx mirror, so the CPU
tests cover the GPU code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lcc import sharded
from lcc._dispatch import Placement, here, is_sharded, place
from lcc._validation import check_labels, check_positive_int, check_same_kind
from lcc.kernels import graph as kernels

__all__ = ["conductance", "leiden", "louvain", "modularity", "peer_pressure"]


def _check_resolutions(resolution: Any) -> tuple[tuple[float, ...], bool]:
    """The resolutions asked for, and whether a sequence was given (a sweep)."""
    sweep = isinstance(resolution, Sequence | np.ndarray) and not isinstance(resolution, str)
    values = tuple(resolution) if sweep else (resolution,)
    if sweep and not values:
        raise ValueError("resolution is an empty sequence; give one or more positive numbers")
    allowed = "numbers" if sweep else "a number or a sequence of numbers"
    for value in values:
        _check_resolution(value, "resolution values" if sweep else "resolution", allowed)
    return tuple(float(v) for v in values), sweep


def _check_resolution(
    resolution: Any, name: str = "resolution", allowed: str = "a number"
) -> float:
    if isinstance(resolution, bool) or not isinstance(resolution, int | float | np.number):
        raise TypeError(f"{name} must be {allowed}, got {type(resolution).__name__}")
    if not resolution > 0:
        raise ValueError(f"{name} must be positive, got {resolution}")
    return float(resolution)


def _communities(
    algorithm: str, adjacency: Any, resolution: Any, seed: Any, n_runs: Any, backend: Any
) -> Any:
    """Check, place, and run a backend's community detection ``n_runs`` times per
    resolution: one labelling, or a list of them for a sequence of resolutions."""
    resolutions, sweep = _check_resolutions(resolution)
    seed = check_positive_int(seed, "seed", minimum=0)
    n_runs = check_positive_int(n_runs, "n_runs")
    options = {"resolutions": resolutions, "seed": seed, "n_runs": n_runs}
    on = place(adjacency, backend=backend)
    if on.sharded:
        _check_dask_adjacency(adjacency)
        partitions = sharded.communities.communities(algorithm, adjacency, **options)
    else:
        a = kernels.checked_adjacency(on, on.to(adjacency))
        partitions = [on.back(p) for p in kernels.communities(on, algorithm, a, **options)]
    return partitions if sweep else partitions[0]


def leiden(
    adjacency: Any,
    *,
    resolution: float | Sequence[float] = 1.0,
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
    resolution : float or sequence of floats, default 1.0
        Modularity resolution γ; larger gives more, smaller communities. A sequence
        sweeps it: one labelling per value, in order, from one graph (built once,
        on the device where it lives), each equal to a separate call's.
    seed : int, default 0
        Random seed (the result is reproducible for a given seed and backend).
    n_runs : int, default 1
        Independent runs (seeds ``seed … seed + n_runs − 1``); the partition
        with the highest modularity is returned.
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    labels : (n,) int64 array, values ``0..C-1``, of the input's kind; a list of
        them for a sequence of resolutions.
        For a Dask graph (from :func:`lcc.knn_graph` on Dask latents), a Dask
        array chunked like its rows: on CPU workers the graph is gathered to
        this process for igraph, on GPU workers ``cugraph.dask.leiden`` runs
        on the cluster.
    """
    return _communities("leiden", adjacency, resolution, seed, n_runs, backend)


def _check_dask_adjacency(adjacency: Any) -> None:
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {adjacency.shape}")
    if adjacency.shape[0] < 2:
        raise ValueError(f"adjacency has {adjacency.shape[0]} node(s); at least 2 are needed")


def louvain(
    adjacency: Any,
    *,
    resolution: float | Sequence[float] = 1.0,
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
    resolution = _check_resolution(resolution)
    on, a, labels = _partition(adjacency, labels)
    return kernels.modularity(on, a, labels, resolution)


def conductance(adjacency: Any, labels: Any) -> float:
    """Conductance Φ of a partition (LCC paper eq. 10–11), 0 (best) to 1 (worst).

    ``φ(C) = cut(C, V∖C) / min(vol(C), vol(V∖C))``, with ``φ(C) = 1`` when the
    denominator is 0 (eq. 10's convention: a single all-covering community
    scores 1). ``Φ`` is the mean of ``φ(C)`` weighted by ``vol(C)`` and
    normalised by ``vol(V)``. The paper writes ``1/|V|`` in eq. (11), which would
    not stay within [0, 1] for weighted graphs; its own algorithm (section VI.A
    step d) takes "the mean of φ weighted by v", which is what is computed here.
    """
    return kernels.conductance(*_partition(adjacency, labels))


def _partition(adjacency: Any, labels: Any) -> tuple[Placement, Any, Any]:
    """Where a partition is (a Dask one gathered here), its checked CSR adjacency and its
    labels made consecutive."""
    if is_sharded(adjacency, labels):
        adjacency, labels = sharded.gather(adjacency), sharded.gather(labels)
    on = here(adjacency)
    a = kernels.checked_adjacency(on, adjacency)
    labels = check_labels(labels, "labels", a.shape[0])
    check_same_kind(adjacency=a, labels=labels)
    return on, a, kernels.compact(on, labels)


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
    labels : (n,) int64 array, values ``0..C-1``, of the input's kind; a list of
        them for a sequence of resolutions.
    """
    max_iter = check_positive_int(max_iter, "max_iter")
    patience = check_positive_int(patience, "patience")
    if not 0 < update_fraction <= 1:
        raise ValueError(f"update_fraction must be in (0, 1], got {update_fraction}")
    seed = check_positive_int(seed, "seed", minimum=0)
    on = place(adjacency, backend=backend)
    a = kernels.checked_adjacency(on, on.to(adjacency))
    options = {"max_iter": max_iter, "patience": patience, "update_fraction": update_fraction}
    return on.back(kernels.peer_pressure(on, a, **options, seed=seed))
