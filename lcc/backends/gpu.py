"""GPU backend: cuVS (k-NN), cuGraph (Leiden, Louvain), cuML (k-Means, SVD, metrics), cupyx.

Same names and signatures as :mod:`lcc.backends.cpu`. Inputs are validated
cupy arrays / cupyx CSR matrices on the current device and every result stays
there: no host round trip. RAPIDS is imported inside each function so that
importing this module needs no GPU; ``tests/test_gpu_contract.py`` checks
every RAPIDS call made here against the installed RAPIDS API.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

# CAGRA / IVF search breadth relative to k (recall ≥ 0.95 on blob latents).
CAGRA_ITOPK_MIN = 64
IVF_PROBE_FRACTION = 1 / 14
IVF_MIN_PROBES = 16


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
    """``k`` nearest rows of ``z`` for every row (self included): squared L2, int64 ids."""
    import cupy as cp
    from cuvs.neighbors import cagra, ivf_flat

    z = cp.ascontiguousarray(z, dtype=cp.float32)
    n = z.shape[0]
    if exact:
        return knn_query(z, z, k, chunk_size=chunk_size, progress=progress)
    if method == "cagra":
        index = cagra.build(cagra.IndexParams(metric="sqeuclidean"), z)
        params = cagra.SearchParams(itopk_size=max(CAGRA_ITOPK_MIN, 2 * k))

        def search(q):
            return cagra.search(params, index, q, k)

    else:  # ivf
        n_lists = max(1, min(int(2 * n**0.5), n // 39))
        index = ivf_flat.build(ivf_flat.IndexParams(n_lists=n_lists, metric="sqeuclidean"), z)
        n_probes = min(n_lists, max(IVF_MIN_PROBES, int(n_lists * IVF_PROBE_FRACTION + 0.999)))
        n_probes = min(n_lists, nprobe) if nprobe else n_probes
        params = ivf_flat.SearchParams(n_probes=n_probes)

        def search(q):
            return ivf_flat.search(params, index, q, k)

    return _search_in_chunks(search, z, k, chunk_size, progress)


def _search_in_chunks(search, queries: Any, k: int, chunk_size: int, progress: bool):
    """Run ``search(query_chunk) -> (distances, ids)`` over ``queries`` in chunks."""
    import cupy as cp

    n = queries.shape[0]
    dist = cp.empty((n, k), dtype=cp.float32)
    idx = cp.empty((n, k), dtype=cp.int64)
    for start in tqdm(range(0, n, chunk_size), desc="k-NN", disable=not progress, unit="chunk"):
        stop = min(start + chunk_size, n)
        d, i = search(queries[start:stop])
        dist[start:stop] = cp.asarray(d)
        idx[start:stop] = cp.asarray(i).astype(cp.int64)
    return dist, idx


def knn_query(
    base: Any, queries: Any, k: int, *, chunk_size: int, progress: bool = False
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries``: squared L2, ids."""
    import cupy as cp
    from cuvs.neighbors import brute_force

    index = brute_force.build(cp.ascontiguousarray(base, dtype=cp.float32), metric="sqeuclidean")

    def search(q):
        return brute_force.search(index, q, k)

    queries = cp.ascontiguousarray(queries, dtype=cp.float32)
    return _search_in_chunks(search, queries, k, chunk_size, progress)


def knn_query_minkowski(
    base: Any, queries: Any, k: int, *, p: float, chunk_size: int
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries`` in the ``p``-norm.

    cuML's brute-force ``NearestNeighbors`` (cuVS ``LpUnexpanded``; ``p = 1``
    runs as the Manhattan distance), the GPU twin of scikit-learn's estimator
    the CPU backend uses. Returns the distances ``‖x − y‖_p`` and int64 ids.
    """
    import cupy as cp
    from cuml.neighbors import NearestNeighbors

    model = NearestNeighbors(
        n_neighbors=k, algorithm="brute", metric="minkowski", p=p, output_type="cupy"
    )
    model.fit(cp.ascontiguousarray(base, dtype=cp.float32))

    def search(q):
        return model.kneighbors(q, n_neighbors=k)

    queries = cp.ascontiguousarray(queries, dtype=cp.float32)
    return _search_in_chunks(search, queries, k, chunk_size, False)


# --------------------------------------------------------------------- communities
def _cugraph(adjacency: Any):
    """Undirected weighted cuGraph Graph sharing the CSR arrays (already symmetric)."""
    import cudf
    import cugraph
    import cupy as cp

    graph = cugraph.Graph(directed=False)
    graph.from_cudf_adjlist(
        cudf.Series(adjacency.indptr.astype(cp.int32)),
        cudf.Series(adjacency.indices.astype(cp.int32)),
        cudf.Series(adjacency.data.astype(cp.float32)),
        renumber=False,
        symmetrize=False,
    )
    return graph


def _labels_from_parts(parts: Any, n: int) -> Any:
    import cupy as cp

    labels = cp.empty(n, dtype=cp.int64)
    labels[parts["vertex"].to_cupy()] = parts["partition"].to_cupy()
    return labels


def leiden(adjacency: Any, *, resolution: float, seed: int) -> Any:
    import cugraph

    parts, _ = cugraph.leiden(
        _cugraph(adjacency), max_iter=100, resolution=resolution, random_state=seed
    )
    return _labels_from_parts(parts, adjacency.shape[0])


def louvain(adjacency: Any, *, resolution: float, seed: int) -> Any:
    """cuGraph's Louvain takes no seed; ``seed`` is accepted for a common signature."""
    import cugraph

    parts, _ = cugraph.louvain(_cugraph(adjacency), resolution=resolution)
    return _labels_from_parts(parts, adjacency.shape[0])


# ------------------------------------------------------------------------ k-Means
def kmeans(
    z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float
) -> tuple[Any, Any]:
    import cupy as cp
    from cuml.cluster import KMeans

    model = KMeans(
        n_clusters=n_clusters,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        random_state=seed,
        init="scalable-k-means++",
        output_type="cupy",
    ).fit(z)
    return cp.asarray(model.labels_).astype(cp.int64), cp.asarray(model.cluster_centers_)


def minibatch_kmeans(
    z: Any, n_clusters: int, *, seed: int, batch_size: int, max_iter: int, n_init: int
) -> tuple[Any, Any]:
    """cuML has no mini-batch k-Means: the shared cupy implementation."""
    import cupy as cp

    from lcc.kmeans import minibatch_kmeans_xp

    return minibatch_kmeans_xp(
        z, n_clusters, seed=seed, batch_size=batch_size, max_iter=max_iter, n_init=n_init, xp=cp
    )


# ---------------------------------------------------------------------------- SVD
def truncated_svd(matrix: Any, k: int, *, seed: int) -> tuple[Any, Any, Any]:
    """Leading ``k`` singular triplets: cupyx ``svds`` (sparse) or cuML ``TruncatedSVD`` (dense)."""
    import cupy as cp
    import cupyx.scipy.sparse as csp
    from cupyx.scipy.sparse.linalg import svds

    if csp.issparse(matrix):
        u, s, vt = svds(matrix, k=k)
        order = cp.argsort(s)[::-1]
        return u[:, order], s[order], vt[order]
    from cuml.decomposition import TruncatedSVD

    model = TruncatedSVD(n_components=k, algorithm="full", random_state=seed, output_type="cupy")
    us = cp.asarray(model.fit_transform(matrix))
    s = cp.asarray(model.singular_values_)
    return us / cp.where(s > 0, s, 1)[None, :], s, cp.asarray(model.components_)


# ------------------------------------------------------------------------ metrics
def _int32(labels: Any) -> Any:
    """cuML's label metrics take int32 labels."""
    import cupy as cp

    return labels.astype(cp.int32)


def nmi(y_true: Any, y_pred: Any) -> float:
    """Arithmetic-mean NMI, which is the V-measure with β = 1."""
    from cuml.metrics.cluster import v_measure_score

    return float(v_measure_score(_int32(y_true), _int32(y_pred)))


def ari(y_true: Any, y_pred: Any) -> float:
    from cuml.metrics.cluster import adjusted_rand_score

    return float(adjusted_rand_score(_int32(y_true), _int32(y_pred)))


def silhouette(z: Any, labels: Any) -> float:
    from cuml.metrics.cluster import silhouette_score

    return float(silhouette_score(z, labels, metric="euclidean"))


def calinski_harabasz(z: Any, labels: Any) -> float:
    """cuML has none: the shared cupy implementation."""
    from lcc.metrics import calinski_harabasz_xp

    return calinski_harabasz_xp(z, labels)


def davies_bouldin(z: Any, labels: Any) -> float:
    """cuML has none: the shared cupy implementation."""
    from lcc.metrics import davies_bouldin_xp

    return davies_bouldin_xp(z, labels)
