"""A toy backend, to show what adding one takes: this module and one registry line.

Pure numpy on numpy arrays (so it shares the CPU backend's array kind): brute-force
k-NN, Louvain from networkx as its community detection, plain Lloyd k-Means.
It implements the calls ``knn``, ``knn_graph``, ``leiden`` and ``kmeans`` need.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._backend import BackendSpec, register_backend

CALLS: list[str] = []


def knn_query(base, queries, k, *, chunk_size, progress=False):
    CALLS.append("knn_query")
    d2 = ((queries[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d2, idx, axis=1).astype(np.float32), idx.astype(np.int64)


def knn_search(z, k, *, exact, method, chunk_size, progress, nprobe=None):
    return knn_query(z, z, k, chunk_size=chunk_size)


def search(z, k, *, chunk_size, progress, nprobe=None):
    """The same search as a k-NN algorithm module (lcc.backends.knn's signature)."""
    return knn_query(z, z, k, chunk_size=chunk_size)


def leiden(adjacency, *, resolution, seed):
    import networkx as nx

    CALLS.append("leiden")
    graph = nx.from_scipy_sparse_array(adjacency)
    labels = np.empty(adjacency.shape[0], dtype=np.int64)
    for label, members in enumerate(nx.community.louvain_communities(graph, seed=seed)):
        labels[list(members)] = label
    return labels


louvain = leiden


def kmeans(z, n_clusters, *, seed, n_init, max_iter, tol):
    CALLS.append("kmeans")
    rng = np.random.default_rng(seed)
    centers = z[rng.choice(len(z), n_clusters, replace=False)].astype(np.float64)
    for _ in range(max_iter):
        labels = ((z[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        new = np.array([z[labels == c].mean(0) if (labels == c).any() else centers[c]
                        for c in range(n_clusters)])  # fmt: skip
        if ((new - centers) ** 2).sum() <= tol:
            break
        centers = new
    return labels.astype(np.int64), centers.astype(z.dtype)


def _not_in_the_toy(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("the toy backend implements k-NN, Leiden and k-Means only")


knn_query_minkowski = minibatch_kmeans = truncated_svd = _not_in_the_toy
nmi = ari = silhouette = calinski_harabasz = davies_bouldin = _not_in_the_toy

register_backend("toy", BackendSpec("toy_backend", "numpy", "scipy.sparse"))  # the one line
