"""SHA-256 of every public engine function's output on fixed data: a refactoring check.

Run it before and after a change that must not alter behaviour; the two
outputs must be identical line by line (``diff``). Covers the CPU backend and
Dask input without a cluster (computed into this process) on seeded blobs.

    python benchmarks/engine_fingerprint.py > before.txt
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

import lcc


def digest(value: Any) -> str:
    """A short hash of arrays, sparse matrices, tuples and floats (bitwise)."""
    h = hashlib.sha256()

    def feed(v: Any) -> None:
        if hasattr(v, "compute"):
            v = v.compute()
        if sp.issparse(v):
            v = v.tocsr()
            for part in (v.indptr, v.indices, v.data):
                feed(part)
        elif isinstance(v, tuple | list):
            for part in v:
                feed(part)
        elif isinstance(v, dict):
            for key in sorted(v):
                h.update(key.encode())
                feed(v[key])
        elif isinstance(v, np.ndarray):
            h.update(str(v.dtype).encode())
            h.update(np.ascontiguousarray(v).tobytes())
        else:
            h.update(repr(v).encode())

    feed(value)
    return h.hexdigest()[:16]


def cases(z: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], Any]]:
    graph = lambda: lcc.knn_graph(z, 10)  # noqa: E731
    clusters = lcc.leiden(graph(), seed=1)
    members = [z, z[:, ::-1].copy(), z * 2.0]
    return {
        "knn exact": lambda: lcc.knn(z, 7),
        "knn ivf": lambda: lcc.knn(z, 7, exact=False),
        "knn_graph": graph,
        "knn_graph sigma=None": lambda: lcc.knn_graph(z, 5, bandwidth=None),
        "leiden": lambda: lcc.leiden(graph(), seed=3, n_runs=2),
        "louvain": lambda: lcc.louvain(graph(), seed=3),
        "peer_pressure": lambda: lcc.peer_pressure(graph(), seed=2),
        "modularity": lambda: lcc.modularity(graph(), clusters),
        "conductance": lambda: lcc.conductance(graph(), clusters),
        "match_clusters": lambda: lcc.match_clusters(y, clusters),
        **{
            f"correction_targets {mode}": (
                lambda mode=mode: lcc.correction_targets(z, y, clusters, mode=mode, seed=4)
            )
            for mode in ("exact", "approximate", "orthogonal")
        },
        **{
            f"correct {method}": (
                lambda method=method: lcc.correct(z, y, k=5, method=method, seed=5)
            )
            for method in ("leiden", "louvain", "peer_pressure")
        },
        "kmeans": lambda: lcc.kmeans(z, 8, seed=6, n_init=2),
        "minibatch_kmeans": lambda: lcc.minibatch_kmeans(z, 8, seed=6, batch_size=256),
        "truncated_svd dense": lambda: lcc.truncated_svd(z, 5, seed=7),
        "truncated_svd sparse": lambda: lcc.truncated_svd(graph(), 5, seed=7),
        "landmark_affinity": lambda: lcc.landmark_affinity(z, 40, r=4, seed=8),
        "ssc_consensus": lambda: lcc.ssc_consensus(members, 8, n_landmarks=40, r=4, seed=9),
        "metrics": lambda: lcc.metrics.clustering_report(z, clusters, y),
    }


def sharded_cases(z: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], Any]]:
    import dask.array as da

    zd = da.from_array(z, chunks=(500, -1))
    graph = lcc.knn_graph(zd, 10)
    clusters = lcc.leiden(graph, seed=1).compute()
    return {
        "dask knn": lambda: lcc.knn(zd, 7),
        "dask knn_graph": lambda: graph,
        "dask leiden": lambda: lcc.leiden(graph, seed=3),
        "dask kmeans": lambda: lcc.kmeans(zd, 8, seed=6),
        "dask correction_targets": lambda: lcc.correction_targets(zd, y, clusters, seed=4),
        "dask correct": lambda: lcc.correct(zd, y, k=5, seed=5),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=6.0, size=(8, 16))
    y = rng.integers(0, 8, size=2000)
    z = (centers[y] + rng.normal(size=(2000, 16))).astype(np.float32)
    y = np.where(rng.random(2000) < 0.05, rng.integers(0, 8, size=2000), y).astype(np.int64)
    for name, run in {**cases(z, y), **sharded_cases(z, y)}.items():
        print(f"{name:28s} {digest(run())}", flush=True)


if __name__ == "__main__":
    main()
