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

# Approximate-search parameters. IVF: 2·√n lists (√n for the self-join) trained on
# ≤ 32 points each, 1/14 of them (at least 16) probed: recall@k ≥ 0.97 at k = 5 … 50
# on 50,000 blob latents of dimension 64 and 512 (isotropic blobs are a hard case
# for IVF; see benchmarks/bench_engine.py and bench_lcc.py).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
IVF_PROBE_FRACTION = 1 / 14
IVF_TRAIN_POINTS_PER_LIST = 32
IVF_MIN_PROBES = 16
# From this latent dimension on, the IVF self-join (BLAS) beats per-query IVF search.
IVF_JOIN_MIN_DIM = 128
# Exact search tiles: queries × base rows per BLAS product (16 MiB of float32).
QUERY_TILE = 2048
BASE_TILE = 2048 * 4


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
    """``k`` nearest rows of ``z`` for every row (self included): squared L2, int64 ids."""
    import faiss

    z = np.ascontiguousarray(z, dtype=np.float32)
    n, d = z.shape
    if exact:
        return _exact_knn(z, z, k, chunk_size=chunk_size, progress=progress)
    if method == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = max(2 * k, 64)
        index.add(z)
        return _search_in_chunks(index, z, k, chunk_size, progress)
    if d >= IVF_JOIN_MIN_DIM:
        return _ivf_join(z, k, progress=progress, nprobe=nprobe)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, _n_lists(n, 2.0))
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.train(z)
    index.nprobe = _n_probes(index.nlist, nprobe)
    index.add(z)
    return _search_in_chunks(index, z, k, chunk_size, progress)


def _n_lists(n: int, per_sqrt_n: float) -> int:
    return max(1, min(int(per_sqrt_n * np.sqrt(n)), n // 39))


def _n_probes(n_lists: int, nprobe: int | None = None) -> int:
    """Lists probed per query: ``nprobe`` if given, else a fixed fraction (≥ 16) of them."""
    if nprobe:
        return min(n_lists, nprobe)
    return min(n_lists, max(IVF_MIN_PROBES, int(np.ceil(n_lists * IVF_PROBE_FRACTION))))


def _search_in_chunks(index: Any, z: np.ndarray, k: int, chunk_size: int, progress: bool):
    n = z.shape[0]
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start in _chunks(n, chunk_size, progress):
        stop = min(start + chunk_size, n)
        dist[start:stop], idx[start:stop] = index.search(z[start:stop], k)
    return dist, idx


def _ivf_join(
    z: np.ndarray, k: int, *, progress: bool, nprobe: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate all-k-NN of ``z`` by an inverted-file self-join.

    faiss k-Means splits the rows into ``√n`` lists; every list is joined,
    with one BLAS product, against the rows of the ``nprobe`` lists whose
    centroids are nearest to its own centroid, and faiss's heaps keep the
    ``k`` best. A query-by-query IVF search (``faiss.IndexIVFFlat``) scans
    candidates one query at a time without BLAS: at d = 512 the join is 5×
    faster (5.1 s instead of 26 s on 50,000 blob rows, 2 cores, recall@5 0.996);
    at d = 64 the per-query search is faster (2.6 s vs 3.1 s), hence
    ``IVF_JOIN_MIN_DIM``.
    """
    import faiss

    n, d = z.shape
    nlist = _n_lists(n, 1.0)
    nprobe = _n_probes(nlist, nprobe)
    kmeans = faiss.Kmeans(
        d, nlist, niter=10, seed=1234, max_points_per_centroid=IVF_TRAIN_POINTS_PER_LIST
    )
    kmeans.train(z)
    centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
    _, assign = _exact_knn(centroids, z, 1, chunk_size=n, progress=False)
    _, probes = _exact_knn(centroids, centroids, nprobe, chunk_size=nlist, progress=False)
    assign = assign[:, 0]
    order = np.argsort(assign, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=nlist))])
    queries, base, sq = _augmented(z, z)
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for lst in tqdm(range(nlist), desc="k-NN (IVF join)", disable=not progress, unit="list"):
        members = order[bounds[lst] : bounds[lst + 1]]
        if members.size == 0:
            continue
        candidates = np.concatenate([order[bounds[p] : bounds[p + 1]] for p in probes[lst]])
        tile = np.ascontiguousarray(queries[members] @ base[candidates].T)
        heap_dist = np.empty((members.size, k), dtype=np.float32)
        heap_idx = np.empty((members.size, k), dtype=np.int64)
        _select(tile, heap_dist, heap_idx, ids=candidates)
        dist[members] = heap_dist + sq[members, None]
        idx[members] = heap_idx
    return dist, idx


def _augmented(base: np.ndarray, queries: np.ndarray):
    """``[x, 1]`` queries and ``[−2y, ‖y‖²]`` base rows: one GEMM gives ``‖y‖² − 2x·y``."""
    (n_base, d), n = base.shape, queries.shape[0]
    base_sq = np.einsum("ij,ij->i", base, base)
    augmented_base = np.empty((n_base, d + 1), dtype=np.float32)
    augmented_base[:, :d], augmented_base[:, d] = -2.0 * base, base_sq
    augmented_queries = np.empty((n, d + 1), dtype=np.float32)
    augmented_queries[:, :d], augmented_queries[:, d] = queries, 1.0
    return augmented_queries, augmented_base, np.einsum("ij,ij->i", queries, queries)


def _select(tile: np.ndarray, dist: np.ndarray, idx: np.ndarray, *, ids: np.ndarray) -> None:
    """The ``k = dist.shape[1]`` smallest entries of each row of ``tile`` (faiss max-heaps)."""
    import faiss

    heap = faiss.float_maxheap_array_t()
    heap.k, heap.nh = dist.shape[1], tile.shape[0]
    heap.val, heap.ids = faiss.swig_ptr(dist), faiss.swig_ptr(idx)
    heap.heapify()
    heap.addn_with_ids(
        tile.shape[1], faiss.swig_ptr(tile), faiss.swig_ptr(ids), 0, 0, tile.shape[0]
    )
    heap.reorder()


def _chunks(n: int, chunk_size: int, progress: bool) -> Any:
    return tqdm(range(0, n, chunk_size), desc="k-NN", disable=not progress, unit="chunk")


def knn_query(
    base: np.ndarray, queries: np.ndarray, k: int, *, chunk_size: int, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries``: squared L2, ids."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return _exact_knn(base, queries, k, chunk_size=chunk_size, progress=progress)


def _exact_knn(
    base: np.ndarray, queries: np.ndarray, k: int, *, chunk_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN: tiled BLAS products with numpy, top-k selection with faiss's heaps.

    ``faiss.IndexFlatL2`` does the same two steps but with the OpenBLAS that
    the faiss-cpu wheel bundles (0.3.15), which does not recognise many current
    (virtualised) x86 CPUs and falls back to its generic SSE3 "Prescott"
    kernels: its product runs several times slower than numpy's OpenBLAS.
    Here each tile of ``‖y‖² − 2 x·y`` is a single GEMM of augmented rows
    ``[x, 1] · [−2y, ‖y‖²]ᵀ`` into a reused buffer (no extra passes over the
    tile), and faiss's C++ max-heaps (``float_maxheap_array_t.addn``) keep the
    ``k`` smallest per query. Memory: ``n × (d + 1)`` float32 copies of base
    and queries plus one ``QUERY_TILE × BASE_TILE`` tile.
    """
    import faiss

    n_base, n = base.shape[0], queries.shape[0]
    augmented_queries, augmented_base, query_sq = _augmented(base, queries)
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    tile = np.empty((QUERY_TILE, BASE_TILE), dtype=np.float32)
    for start in _chunks(n, chunk_size, progress):
        for q0 in range(start, min(start + chunk_size, n), QUERY_TILE):
            q1 = min(q0 + QUERY_TILE, start + chunk_size, n)
            heap = faiss.float_maxheap_array_t()
            heap.k, heap.nh = k, q1 - q0
            heap.val = faiss.swig_ptr(dist[q0:q1])
            heap.ids = faiss.swig_ptr(idx[q0:q1])
            heap.heapify()
            for b0 in range(0, n_base, BASE_TILE):
                b1 = min(b0 + BASE_TILE, n_base)
                out = tile[: q1 - q0, : b1 - b0]
                if b1 - b0 < BASE_TILE:  # the last, narrower tile must be contiguous
                    out = np.empty((q1 - q0, b1 - b0), dtype=np.float32)
                np.matmul(augmented_queries[q0:q1], augmented_base[b0:b1].T, out=out)
                heap.addn(b1 - b0, faiss.swig_ptr(out), b0, 0, q1 - q0)
            heap.reorder()
            dist[q0:q1] += query_sq[q0:q1, None]
    return dist, idx


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
def _igraph(adjacency: sp.csr_matrix):
    """Undirected weighted igraph Graph from a symmetric CSR matrix (upper triangle)."""
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
