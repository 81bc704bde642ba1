"""A toy backend, to show what adding one takes: this one module (its last lines register it).

numpy under another name: the engine runs on it when it is asked for by name
(``backend="toy"`` or ``LCC_BACKEND=toy``). Its k-NN is its own brute force in numpy
(registered as its exact search and as its only "approximate" index) and so is its
k-Means (Lloyd, k-means++ seeding); every other primitive is the CPU backend's, looked up
by name through the registry. The conftest's ``backend`` fixture runs the engine's
backend-parametrised tests on it (id ``toy_backend``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._backend import BackendSpec, register_backend
from lcc.backends import get
from lcc.backends.knn import register_algorithm

CALLS: list[str] = []


def knn_query(base, queries, k, *, chunk_size, progress=False):
    """The ``k`` nearest rows of ``base`` for every query: squared L2, int64 ids."""
    CALLS.append("knn_query")
    base64 = base.astype(np.float64)
    sq, ids = [], []
    for start in range(0, queries.shape[0], chunk_size):
        q = queries[start : start + chunk_size].astype(np.float64)
        d2 = (q * q).sum(1)[:, None] - 2 * q @ base64.T + (base64 * base64).sum(1)[None, :]
        idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
        sq.append(np.maximum(np.take_along_axis(d2, idx, axis=1), 0))
        ids.append(idx)
    return np.concatenate(sq).astype(np.float32), np.concatenate(ids).astype(np.int64)


def search(z, k, *, chunk_size, progress, nprobe=None):
    """The same search as a k-NN algorithm module (lcc.backends.knn's signature)."""
    return knn_query(z, z, k, chunk_size=chunk_size)


def knn_search(z, k, *, exact, method, chunk_size, progress, nprobe=None):
    return search(z, k, chunk_size=chunk_size, progress=progress)


def kmeans(z, n_clusters, *, seed, n_init, max_iter, tol):
    """Lloyd from k-means++ seeds, best of ``n_init`` by inertia."""
    CALLS.append("kmeans")
    rng = np.random.default_rng(seed)
    z64 = z.astype(np.float64)
    best = None
    for _ in range(n_init):
        centers = _plus_plus(z64, n_clusters, rng)
        for _ in range(max_iter):
            _, labels = knn_query(centers, z64, 1, chunk_size=4096)
            labels = labels[:, 0]
            new = np.array([z64[labels == c].mean(0) if (labels == c).any() else centers[c]
                            for c in range(n_clusters)])  # fmt: skip
            shift = ((new - centers) ** 2).sum()
            centers = new
            if shift <= tol * z64.var(0).mean():
                break
        inertia = ((z64 - centers[labels]) ** 2).sum()
        if best is None or inertia < best[0]:
            best = (inertia, labels, centers)
    return best[1].astype(np.int64), best[2].astype(z.dtype)


def _plus_plus(z, n_clusters, rng):
    centers = [z[rng.integers(len(z))]]
    for _ in range(1, n_clusters):
        d2 = ((z[:, None, :] - np.array(centers)[None]) ** 2).sum(-1).min(1)
        centers.append(z[rng.choice(len(z), p=d2 / d2.sum())] if d2.sum() else z[0])
    return np.array(centers)


def __getattr__(name: str) -> Any:
    """Every other primitive of :class:`lcc.backends.EngineBackend`: the CPU backend's."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(get("cpu"), name)


# the registry lines: the backend, and its k-NN search as exact and as an index
register_backend("toy", BackendSpec("toy_backend", "numpy", "scipy.sparse"))
register_algorithm("toy", "exact", "toy_backend")
register_algorithm("toy", "brute", "toy_backend")
