"""GPU backend: cuVS (k-NN), cuGraph (Leiden, Louvain), cuML (k-Means, metrics), cupyx.

Same names and signatures as :mod:`lcc.backends.cpu`. Inputs are validated
cupy arrays / cupyx CSR matrices on the current device and every result stays
there: no host round trip. RAPIDS is imported inside each function so that
importing this module needs no GPU; ``tests/backends/test_gpu_contract.py`` checks
every RAPIDS call made here against the installed RAPIDS API.

Where a RAPIDS library is absent, each primitive that needs it runs its cupy
tier instead (:mod:`lcc.backends.cupy_tier`: cupy tiles for k-NN, cupy k-Means
and metrics, igraph on the host for graph clustering), not the CPU backend.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

from lcc.backends.cupy_tier import HostGraph, has, host_graph, on_host
from lcc.backends.rapids_glue import kmeans_scale, labels_from_frame


# --------------------------------------------------------------------------- k-NN
def knn_search(
    z: Any,
    k: int,
    *,
    exact: bool,
    method: str | None,
    chunk_size: int,
    progress: bool,
    nprobe: int | None = None,
) -> tuple[Any, Any]:
    """``k`` nearest rows of ``z`` for every row (self included): squared L2, int64 ids.

    The algorithm (``"exact"``: cuVS brute force, ``"ivf"``, ``"cagra"``) comes
    from :mod:`lcc.backends.knn`; without cuVS every one runs as ``"tiles"``, the
    cupy tier's exact search (:mod:`lcc.backends.knn.gpu_tiles`).
    """
    import cupy as cp

    from lcc.backends.knn import algorithm

    z = cp.ascontiguousarray(z, dtype=cp.float32)
    name = "exact" if exact else method or "cagra"
    if not has("cuvs"):
        if name != "exact":
            warnings.warn(
                f"cuVS is not installed: method={name!r} runs as the exact cupy search "
                "(pip install cuvs-cu13 for the approximate index)",
                RuntimeWarning,
                stacklevel=4,
            )
        name = "tiles"
    search = algorithm("gpu", name)
    return search(z, k, chunk_size=chunk_size, progress=progress, nprobe=nprobe)


def knn_query(
    base: Any, queries: Any, k: int, *, chunk_size: int, progress: bool = False
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries``: squared L2, ids."""
    if has("cuvs"):
        from lcc.backends.knn.gpu_brute_force import query
    else:
        from lcc.backends.knn.gpu_tiles import query
    return query(base, queries, k, chunk_size=chunk_size, progress=progress)


def knn_query_minkowski(
    base: Any, queries: Any, k: int, *, p: float, chunk_size: int
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries`` in the ``p``-norm.

    cuML's brute-force ``NearestNeighbors`` (cuVS ``LpUnexpanded``; ``p = 1``
    runs as the Manhattan distance), the GPU twin of scikit-learn's estimator
    the CPU backend uses. Returns the distances ``‖x − y‖_p`` and int64 ids.
    """
    if not has("cuml"):
        from lcc.backends.knn.gpu_tiles import query_minkowski

        return query_minkowski(base, queries, k, p=p, chunk_size=chunk_size)
    import cupy as cp
    from cuml.neighbors import NearestNeighbors

    model = NearestNeighbors(
        n_neighbors=k, algorithm="brute", metric="minkowski", p=p, output_type="cupy"
    )
    model.fit(cp.ascontiguousarray(base, dtype=cp.float32))

    def search(q):
        return model.kneighbors(q, n_neighbors=k)

    queries = cp.ascontiguousarray(queries, dtype=cp.float32)
    from lcc.backends.knn.gpu_brute_force import search_in_chunks

    return search_in_chunks(search, queries, k, chunk_size, False)


# --------------------------------------------------------------------- communities
def community_graph(adjacency: Any) -> Any:
    """The graph every Leiden / Louvain run on ``adjacency`` reuses (several seeds, a
    resolution sweep): an undirected weighted cuGraph Graph sharing the CSR arrays
    (already symmetric), or, in the cupy tier, igraph's graph of the edges copied to
    the host once (:func:`lcc.backends.cupy_tier.host_graph`). Ids are 32-bit where they
    fit, 64-bit past 2³¹ − 1 (:func:`fits_int32`)."""
    if not has("cugraph", "cudf"):
        return host_graph(adjacency)
    import cudf
    import cugraph
    import cupy as cp

    ids = cp.int32 if fits_int32(adjacency.nnz, adjacency.shape[0]) else cp.int64
    graph = cugraph.Graph(directed=False)
    graph.from_cudf_adjlist(  # offsets and indices of one width (pylibcugraph's SGGraph)
        cudf.Series(adjacency.indptr.astype(ids, copy=False)),
        cudf.Series(adjacency.indices.astype(ids, copy=False)),
        cudf.Series(adjacency.data.astype(cp.float32, copy=False)),
        renumber=False,
        symmetrize=False,
    )
    return DeviceGraph(graph, adjacency.shape[0])


def fits_int32(*counts: int) -> bool:
    """Whether every count (stored entries, vertices) fits cuGraph's 32-bit ids; else the
    graph is built with 64-bit offsets and ids (a graph past 2³¹ − 1 stored entries, e.g.
    100M latents at k = 30, cugraph #484), which cuGraph's Leiden and Louvain accept."""
    return max(counts) <= 2**31 - 1


class DeviceGraph(NamedTuple):
    """A cuGraph Graph and its vertex count (vertices without edges get labels too)."""

    graph: Any
    n: int


def _labels_from_parts(parts: Any, n: int) -> Any:
    return labels_from_frame(parts["vertex"].to_cupy(), parts["partition"].to_cupy(), n)


def leiden(graph: Any, *, resolution: float, seed: int) -> Any:
    if isinstance(graph, HostGraph):
        return on_host("leiden", graph, resolution=resolution, seed=seed)
    import cugraph

    options = {"max_iter": 100, "resolution": resolution, "random_state": seed}
    parts, _ = cugraph.leiden(graph.graph, **options)
    return _labels_from_parts(parts, graph.n)


def seeded(algorithm: str) -> bool:
    """Whether ``algorithm`` takes a seed here: cuGraph's Louvain does not (repeated runs
    are identical); the cupy tier's igraph Louvain does."""
    return algorithm != "louvain" or not has("cugraph", "cudf")


def louvain(graph: Any, *, resolution: float, seed: int) -> Any:
    """cuGraph's Louvain takes no seed; ``seed`` is accepted for a common signature
    (the cupy tier's igraph Louvain uses it)."""
    if isinstance(graph, HostGraph):
        return on_host("louvain", graph, resolution=resolution, seed=seed)
    import cugraph

    parts, _ = cugraph.louvain(graph.graph, resolution=resolution)
    return _labels_from_parts(parts, graph.n)


# ------------------------------------------------------------------------ k-Means
def kmeans(
    z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float
) -> tuple[Any, Any]:
    import cupy as cp

    if not has("cuml"):
        from lcc.backends.xp_kmeans import kmeans_xp

        return kmeans_xp(z, n_clusters, seed=seed, n_init=n_init, max_iter=max_iter, tol=tol,
                         xp=cp)  # fmt: skip
    from cuml.cluster import KMeans

    scale = kmeans_scale(z)
    model = KMeans(
        n_clusters=n_clusters,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        random_state=seed,
        init="scalable-k-means++",
        output_type="cupy",
    ).fit(z / scale)
    centers = cp.asarray(model.cluster_centers_) * scale
    return cp.asarray(model.labels_).astype(cp.int64), centers.astype(z.dtype)


def minibatch_kmeans(
    z: Any, n_clusters: int, *, seed: int, batch_size: int, max_iter: int, n_init: int
) -> tuple[Any, Any]:
    """cuML has no mini-batch k-Means: the shared cupy implementation."""
    import cupy as cp

    from lcc.backends.xp_kmeans import minibatch_kmeans_xp

    return minibatch_kmeans_xp(
        z, n_clusters, seed=seed, batch_size=batch_size, max_iter=max_iter, n_init=n_init, xp=cp
    )


# ---------------------------------------------------------------------------- SVD
GRAM_DENSE_MAX = 4096  # side of the Gram matrix decomposed densely (4096² float64 = 128 MiB)


def truncated_svd(matrix: Any, k: int, *, seed: int) -> tuple[Any, Any, Any]:
    """Leading ``k`` singular triplets from the float64 Gram matrix of the smaller side.

    Not cupyx ``svds``: it takes no seed (its Lanczos start comes from the
    global ``cupy.random`` state) and in float32 returns σ = 0 with arbitrary
    vectors below ~1 % of σ₁; not cuML ``TruncatedSVD``: its "full" algorithm
    eigendecomposes the covariance in the input's precision. Here ``G = AᵀA``
    (or ``AAᵀ``) is formed in float64 and decomposed by ``cupy.linalg.eigh``
    (side ≤ ``GRAM_DENSE_MAX``, deterministic) or by ``eigsh`` with a start
    vector drawn from ``seed``; σ = √λ and the other side's vectors are
    ``A·V / σ``. The leading singular values keep ~12 digits whenever
    σ_k / σ₁ > 1e-4 — the CPU backend's ARPACK accuracy for what the engine
    asks of it (spectral embeddings, LSC).
    """
    import cupy as cp
    import cupyx.scipy.sparse as csp

    a = matrix.astype(cp.float64)
    transpose = a.shape[1] > a.shape[0]  # decompose the smaller side's Gram matrix
    if transpose:
        a = a.T.tocsr() if csp.issparse(a) else a.T
    gram = a.T @ a
    if gram.shape[0] <= GRAM_DENSE_MAX:
        gram = gram.toarray() if csp.issparse(gram) else gram
        values, vectors = cp.linalg.eigh(gram)
        values, vectors = values[-k:], vectors[:, -k:]
    else:
        from cupyx.scipy.sparse.linalg import eigsh

        start = cp.random.default_rng(seed).uniform(-1, 1, size=gram.shape[0])
        values, vectors = eigsh(gram, k=k, v0=start)
    order = cp.argsort(values)[::-1]
    s = cp.sqrt(cp.maximum(values[order], 0))
    v = vectors[:, order]
    u = (a @ v) / cp.where(s > 0, s, 1)[None, :]
    dtype = matrix.dtype
    if transpose:
        u, v = v, u
    return u.astype(dtype), s.astype(dtype), v.T.astype(dtype)


# ------------------------------------------------------------------------ metrics
def _int32(labels: Any) -> Any:
    """cuML's label metrics take int32 labels."""
    import cupy as cp

    return labels.astype(cp.int32)


def nmi(y_true: Any, y_pred: Any) -> float:
    """Arithmetic-mean NMI, which is the V-measure with β = 1."""
    if not has("cuml"):
        from lcc.backends.xp_metrics import nmi_xp

        return nmi_xp(y_true, y_pred)
    from cuml.metrics.cluster import v_measure_score

    return float(v_measure_score(_int32(y_true), _int32(y_pred)))


def ari(y_true: Any, y_pred: Any) -> float:
    if not has("cuml"):
        from lcc.backends.xp_metrics import ari_xp

        return ari_xp(y_true, y_pred)
    from cuml.metrics.cluster import adjusted_rand_score

    return float(adjusted_rand_score(_int32(y_true), _int32(y_pred)))


def silhouette(z: Any, labels: Any) -> float:
    if not has("cuml"):
        from lcc.backends.xp_metrics import silhouette_xp

        return silhouette_xp(z, labels)
    from cuml.metrics.cluster import silhouette_score

    return float(silhouette_score(z, labels, metric="euclidean"))


def calinski_harabasz(z: Any, labels: Any) -> float:
    """cuML has none: the shared cupy implementation."""
    from lcc.backends.xp_metrics import calinski_harabasz_xp

    return calinski_harabasz_xp(z, labels)


def davies_bouldin(z: Any, labels: Any) -> float:
    """cuML has none: the shared cupy implementation."""
    from lcc.backends.xp_metrics import davies_bouldin_xp

    return davies_bouldin_xp(z, labels)
