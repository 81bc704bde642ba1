"""CPU backend: faiss (k-NN), igraph (Leiden, Louvain), scikit-learn and scipy.

Inputs are already validated numpy arrays / scipy CSR matrices; outputs are
numpy. Same names and signatures as :mod:`lcc.backends.gpu`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

# Approximate-search parameters, tuned for recall@k ≥ 0.95 on 50,000 × 64
# latents at k = 5 … 50 (see benchmarks/bench_engine.py).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
IVF_PROBE_FRACTION = 1 / 16


# --------------------------------------------------------------------------- k-NN
def knn_search(
    z: np.ndarray, k: int, *, exact: bool, method: str | None, chunk_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest rows of ``z`` for every row (self included): squared L2, int64 ids."""
    import faiss

    z = np.ascontiguousarray(z, dtype=np.float32)
    n, d = z.shape
    if exact:
        index = faiss.IndexFlatL2(d)
    elif method == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = max(2 * k, 64)
    else:  # ivf
        nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        index.train(z)
        index.nprobe = max(1, int(np.ceil(nlist * IVF_PROBE_FRACTION)))
    index.add(z)
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start in tqdm(range(0, n, chunk_size), desc="k-NN", disable=not progress, unit="chunk"):
        stop = min(start + chunk_size, n)
        dist[start:stop], idx[start:stop] = index.search(z[start:stop], k)
    return dist, idx


# --------------------------------------------------------------------- communities
def _igraph(adjacency: sp.csr_matrix):
    """Undirected weighted igraph Graph from a symmetric CSR matrix (upper triangle)."""
    import igraph as ig

    upper = sp.triu(adjacency, k=1, format="coo")
    edges = np.column_stack([upper.row, upper.col])
    return ig.Graph(
        n=adjacency.shape[0],
        edges=edges,
        directed=False,
        edge_attrs={"weight": upper.data.astype(np.float64)},
    )


@contextlib.contextmanager
def _igraph_seed(seed: int) -> Iterator[None]:
    """igraph draws from a process-wide generator: seed it, then restore the default."""
    import igraph as ig

    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)


def leiden(adjacency: sp.csr_matrix, *, resolution: float, seed: int) -> np.ndarray:
    """Modularity Leiden (igraph), iterated until the partition is stable."""
    graph = _igraph(adjacency)
    with _igraph_seed(seed):
        part = graph.community_leiden(
            objective_function="modularity",
            weights="weight",
            resolution=resolution,
            n_iterations=-1,
        )
    return np.asarray(part.membership, dtype=np.int64)


def louvain(adjacency: sp.csr_matrix, *, resolution: float, seed: int) -> np.ndarray:
    """Multilevel Louvain (igraph), the finest-to-coarsest final level."""
    graph = _igraph(adjacency)
    with _igraph_seed(seed):
        part = graph.community_multilevel(weights="weight", resolution=resolution)
    return np.asarray(part.membership, dtype=np.int64)


# ------------------------------------------------------------------------ k-Means
def kmeans(
    z: np.ndarray, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, tol=tol, random_state=seed
    ).fit(z)
    return model.labels_.astype(np.int64), model.cluster_centers_.astype(z.dtype)


def minibatch_kmeans(
    z: np.ndarray, n_clusters: int, *, seed: int, batch_size: int, max_iter: int, n_init: int
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import MiniBatchKMeans

    model = MiniBatchKMeans(
        n_clusters=n_clusters,
        batch_size=batch_size,
        max_iter=max_iter,
        n_init=n_init,
        random_state=seed,
    ).fit(z)
    return model.labels_.astype(np.int64), model.cluster_centers_.astype(z.dtype)


# ---------------------------------------------------------------------------- SVD
def truncated_svd(matrix: Any, k: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading ``k`` singular triplets by randomized SVD (dense or sparse input)."""
    from sklearn.utils.extmath import randomized_svd

    u, s, vt = randomized_svd(matrix, k, n_oversamples=max(10, k), n_iter=7, random_state=seed)
    return u, s, vt


# ------------------------------------------------------------------------ metrics
def nmi(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(y_true, y_pred))


def ari(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(y_true, y_pred))


def silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(z, labels))


def calinski_harabasz(z: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import calinski_harabasz_score

    return float(calinski_harabasz_score(z, labels))


def davies_bouldin(z: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import davies_bouldin_score

    return float(davies_bouldin_score(z, labels))
