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


# --------------------------------------------------------------------------- k-NN
def knn_search(
    z: np.ndarray,
    k: int,
    *,
    exact: bool,
    method: str | None,
    chunk_size: int,
    progress: bool,
    nprobe: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest rows of ``z`` for every row (self included): squared L2, int64 ids.

    The algorithm (``"exact"``, ``"ivf"``, ``"hnsw"``) comes from :mod:`lcc.backends.knn`.
    ``exact=True`` runs the certified search (:mod:`lcc.backends.knn.cpu_certified`:
    the float64 brute-force answer at int8 speed) where it pays, on ``z`` as given
    (float32 or float64), and the float32 engine elsewhere.
    """
    from lcc.backends.knn import algorithm, cpu_certified

    if exact and cpu_certified.worthwhile(*z.shape, k):
        return algorithm("cpu", "certified")(
            np.ascontiguousarray(z), k, chunk_size=chunk_size, progress=progress
        )
    z = np.ascontiguousarray(z, dtype=np.float32)
    search = algorithm("cpu", "exact" if exact else method or "ivf")
    return search(z, k, chunk_size=chunk_size, progress=progress, nprobe=nprobe)


def knn_query(
    base: np.ndarray, queries: np.ndarray, k: int, *, chunk_size: int, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries``: squared L2, ids."""
    from lcc.backends.knn.cpu_exact import exact_knn

    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return exact_knn(base, queries, k, chunk_size=chunk_size, progress=progress)


def knn_query_minkowski(
    base: np.ndarray, queries: np.ndarray, k: int, *, p: float, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries`` in the ``p``-norm.

    scikit-learn's brute-force ``NearestNeighbors`` (``p = 1`` runs as its
    Manhattan distance). For ``p = 1``, SSC's default, it beat faiss's
    ``METRIC_Lp`` 10× (2.1 s against 22 s for 20,000 × 256 queries and 350
    landmarks, 2 shared cores); for ``p = 3`` faiss was faster (20 s against
    48 s) but returns ``Σ|x − y|^p`` without the root. Returns the distances
    ``‖x − y‖_p`` (float32, ascending per row) and int64 ids.
    """
    from sklearn.neighbors import NearestNeighbors

    model = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="minkowski", p=p)
    model.fit(np.ascontiguousarray(base, dtype=np.float32))
    n = queries.shape[0]
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        chunk = np.ascontiguousarray(queries[start:stop], dtype=np.float32)
        dist[start:stop], idx[start:stop] = model.kneighbors(chunk, n_neighbors=k)
    return dist, idx


# --------------------------------------------------------------------- communities
def community_graph(adjacency: sp.csr_matrix):
    """Undirected weighted igraph Graph from a symmetric CSR matrix (upper triangle), built
    once for every Leiden / Louvain run on it (several seeds, a resolution sweep)."""
    import igraph as ig

    upper = sp.triu(adjacency, k=1, format="coo")
    # igraph reads the edge list pair by pair: tuples of Python ints are read
    # ~2x faster than rows of a numpy array (1 s instead of 2.8 s for 2M edges)
    edges = list(zip(upper.row.tolist(), upper.col.tolist(), strict=True))
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


def leiden(graph: Any, *, resolution: float, seed: int) -> np.ndarray:
    """Modularity Leiden (igraph) on a :func:`community_graph`, iterated until the partition
    is stable."""
    with _igraph_seed(seed):
        part = graph.community_leiden(
            objective_function="modularity",
            weights="weight",
            resolution=resolution,
            n_iterations=-1,
        )
    return np.asarray(part.membership, dtype=np.int64)


def louvain(graph: Any, *, resolution: float, seed: int) -> np.ndarray:
    """Multilevel Louvain (igraph) on a :func:`community_graph`, the final level."""
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
    """Leading ``k`` singular triplets by ARPACK (scipy ``svds``), dense or sparse input.

    ARPACK converges to working precision whatever the spectrum; randomized SVD
    is faster but loses accuracy on flat spectra (sparse affinity matrices).
    """
    from scipy.sparse.linalg import svds

    v0 = np.random.default_rng(seed).uniform(-1, 1, size=min(matrix.shape))
    u, s, vt = svds(matrix, k=k, v0=v0, solver="arpack")
    order = np.argsort(s)[::-1]
    return u[:, order], s[order], vt[order]


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
