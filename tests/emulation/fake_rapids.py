"""Thin fakes of the cuVS / cuML / cuGraph / cuDF calls ``lcc`` makes (tests only).

Each returns the documented RAPIDS 26.10 type and keeps the quirks the GPU
code has to survive; ``tests/backends/test_emulation.py`` checks every fake's signature
against the installed RAPIDS callable so that a fake cannot drift.

* cuVS (brute force, IVF-Flat, CAGRA) lives in :mod:`.fake_cuvs` and RMM in
  :mod:`.fake_rmm`; both are re-exported through :func:`module_tree`.
* cuGraph's Leiden / Louvain return an *unordered* ``DataFrame(vertex,
  partition)`` and the modularity; a vertex with no edge is not in the graph
  and not in the result. ``cugraph.louvain`` takes no seed.
* cuML's ``KMeans`` stops on the *absolute* squared centre shift ``tol``
  (cuVS ``kmeans_fit``: ``sqrdNormError < tol``), not scikit-learn's
  variance-scaled one. ``TruncatedSVD(algorithm="full")`` eigendecomposes
  ``XᵀX`` in the input's precision.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from . import fake_cupy as fc
from . import fake_cuvs, fake_rmm
from . import fake_sparse as fs
from .fake_cuvs import (  # noqa: F401  (re-exported: the cuVS fakes live in fake_cuvs)
    FLOAT_MAX,
    INT64_MAX,
    UINT32_MAX,
    DeviceNDArray,
    _bf_build,
    _bf_search,
    _cagra_build,
    _cagra_search,
    _CagraIndexParams,
    _CagraSearchParams,
    _ivf_build,
    _ivf_search,
    _IvfIndexParams,
    _IvfSearchParams,
    _sq_dist,
    _top_k,
)


def _host(x: Any) -> np.ndarray:
    if isinstance(x, fc.ndarray):
        return x._a
    if isinstance(x, DeviceNDArray):
        return x._a
    if isinstance(x, Series):
        return x._a
    return np.asarray(x)


# ------------------------------------------------------------------------ cuML
def _out_device(x: np.ndarray) -> fc.ndarray:
    return fc.ndarray._of(np.ascontiguousarray(x))


class KMeans:
    """cuML KMeans: Lloyd stopping on the absolute squared centre shift."""

    __module__ = "cuml.cluster.kmeans"

    def __init__(self, *, n_clusters=8, max_iter=300, tol=1e-4, verbose=False, random_state=None,
                 init="scalable-k-means++", n_init="auto", oversampling_factor=2.0,
                 max_samples_per_batch=32768, device_buffer_samples=0, init_size=0,
                 output_type=None):  # fmt: skip
        self.n_clusters, self.max_iter, self.tol = n_clusters, max_iter, tol
        self.random_state, self.n_init = random_state, 1 if n_init == "auto" else n_init
        self.n_iter_ = 0

    def fit(self, X, y=None, sample_weight=None):
        from sklearn.cluster import kmeans_plusplus

        x = _host(X).astype(np.float64)
        best = None
        for run in range(self.n_init):
            seed = None if self.random_state is None else self.random_state + run
            centers, _ = kmeans_plusplus(x, self.n_clusters, random_state=seed)
            prior = None
            for it in range(1, self.max_iter + 1):
                d2 = _sq_dist(centers, x)
                labels = np.argmin(d2, axis=1)
                cost = float(d2[np.arange(len(x)), labels].sum())
                new = np.array([x[labels == c].mean(0) if np.any(labels == c) else centers[c]
                                for c in range(self.n_clusters)])  # fmt: skip
                shift = float(((new - centers) ** 2).sum())
                centers = new
                # cuVS check_convergence: inertia ratio, or the *absolute* squared shift
                if it > 1 and cost and prior and cost / prior > 1 - self.tol:
                    break
                if shift < self.tol:
                    break
                prior = cost
            labels = np.argmin(_sq_dist(centers, x), axis=1)
            inertia = float(_sq_dist(centers, x)[np.arange(len(x)), labels].sum())
            if best is None or inertia < best[0]:
                best = (inertia, labels, centers, it)
        _, labels, centers, self.n_iter_ = best
        self.labels_ = _out_device(labels.astype(np.int32))
        self.cluster_centers_ = _out_device(centers.astype(_host(X).dtype))
        return self

    def predict(self, X):
        centers = self.cluster_centers_._a
        return _out_device(np.argmin(_sq_dist(centers, _host(X)), axis=1).astype(np.int32))

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X).labels_


class NearestNeighbors:
    __module__ = "cuml.neighbors.nearest_neighbors"

    def __init__(self, *, n_neighbors=5, radius=1.0, algorithm="auto", metric="euclidean", p=2,
                 algo_params=None, metric_params=None, n_jobs=None, verbose=False,
                 output_type=None):  # fmt: skip
        self.n_neighbors, self.metric, self.p = n_neighbors, metric, p

    def fit(self, X, y=None):
        from sklearn.neighbors import NearestNeighbors as Host

        self._host = Host(metric=self.metric, p=self.p, algorithm="brute").fit(_host(X))
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True, *,
                   two_pass_precision=False):  # fmt: skip
        d, i = self._host.kneighbors(_host(X), n_neighbors or self.n_neighbors)
        return _out_device(d.astype(np.float32)), _out_device(i.astype(np.int64))


class TruncatedSVD:
    """cuML TruncatedSVD "full": eigendecomposition of XᵀX in the input's precision."""

    __module__ = "cuml.decomposition.tsvd"

    def __init__(self, *, algorithm="full", n_components=1, n_iter=15, random_state=None,
                 tol=1e-7, verbose=False, output_type=None):  # fmt: skip
        self.n_components = n_components

    def fit_transform(self, X, y=None):
        x = _host(X)
        w, v = np.linalg.eigh((x.T @ x).astype(x.dtype))
        order = np.argsort(w)[::-1][: self.n_components]
        vt = v[:, order].T
        self.singular_values_ = _out_device(np.sqrt(np.maximum(w[order], 0)).astype(x.dtype))
        self.components_ = _out_device(vt.astype(x.dtype))
        return _out_device((x @ vt.T).astype(x.dtype))


def v_measure_score(labels_true, labels_pred, beta=1.0):
    from sklearn.metrics import v_measure_score as host

    return float(host(_host(labels_true), _host(labels_pred), beta=beta))


def adjusted_rand_score(labels_true, labels_pred):
    from sklearn.metrics import adjusted_rand_score as host

    return float(host(_host(labels_true), _host(labels_pred)))


def silhouette_score(X, labels, metric="euclidean", chunksize=None):
    from sklearn.metrics import silhouette_score as host

    return float(host(_host(X), _host(labels), metric=metric))


# ------------------------------------------------------------------------ cuDF
class Series:
    __module__ = "cudf.core.series"

    def __init__(self, data=None, index=None, dtype=None, name=None, copy=False, nan_as_null=True):
        a = _host(data) if data is not None else np.empty(0, dtype=dtype or np.float64)
        self._a = a.astype(dtype) if dtype is not None else a

    def to_cupy(self, dtype=None, copy=True, na_value=None):
        return fc.ndarray._of(self._a.astype(dtype) if dtype else self._a.copy())

    def to_numpy(self, dtype=None, copy=True, na_value=None):
        return self._a.copy()

    @property
    def values(self) -> fc.ndarray:
        return fc.ndarray._of(self._a)

    def __len__(self) -> int:
        return len(self._a)


class DataFrame:
    __module__ = "cudf.core.dataframe"

    def __init__(self, data=None, index=None, columns=None, dtype=None, nan_as_null=True):
        self._cols = {name: Series(v) for name, v in (data or {}).items()}

    def __getitem__(self, name: str) -> Series:
        return self._cols[name]

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()))) if self._cols else 0

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    @staticmethod
    def _concat(frames: list[DataFrame]) -> DataFrame:
        names = frames[0].columns
        return DataFrame({n: np.concatenate([f[n]._a for f in frames]) for n in names})


# --------------------------------------------------------------------- cuGraph
class Graph:
    __module__ = "cugraph.structure.graph_classes"

    def __init__(self, m_graph=None, directed=False):
        if directed:
            raise ValueError("the emulated cuGraph Graph is undirected only")
        self.edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.n_vertices: int | None = None  # CSR graphs keep every vertex, edge lists do not

    def from_cudf_adjlist(self, offset_col, index_col, value_col=None, renumber=True,
                          store_transposed=False, symmetrize=None):  # fmt: skip
        offsets, indices = _host(offset_col), _host(index_col)
        src = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        weights = _host(value_col) if value_col is not None else np.ones(len(indices), np.float32)
        self._set(src, indices, weights, False)
        self.n_vertices = len(offsets) - 1

    def from_cudf_edgelist(self, input_df, source="source", destination="destination",
                           edge_attr=None, weight=None, edge_id=None, edge_type=None,
                           renumber=True, store_transposed=False, symmetrize=None,
                           vertices=None):  # fmt: skip
        symmetrize = True if symmetrize is None else symmetrize  # undirected: symmetrised
        w = input_df[edge_attr or weight]._a if (edge_attr or weight) else None
        self._set(input_df[source]._a, input_df[destination]._a, w, symmetrize)

    def from_dask_cudf_edgelist(self, input_ddf, source="source", destination="destination",
                                edge_attr=None, weight=None, edge_id=None, edge_type=None,
                                renumber=True, store_transposed=False):  # fmt: skip
        self.from_cudf_edgelist(input_ddf.compute(), source, destination, edge_attr)

    def _set(self, src, dst, weights, symmetrize):
        weights = np.ones(len(src), np.float32) if weights is None else weights
        if symmetrize:
            src, dst, weights = (np.concatenate([a, b]) for a, b in
                                 ((src, dst), (dst, src), (weights, weights)))  # fmt: skip
        self.edges = (np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(weights))


def _communities(graph: Graph, algorithm: str, resolution: float, seed: int | None):
    """igraph on the emulated graph; a random, unordered frame over the vertices with edges."""
    import igraph as ig
    import scipy.sparse as sp

    src, dst, w = graph.edges
    n = int(max(src.max(), dst.max())) + 1 if len(src) else 0
    if graph.n_vertices is None:  # an edge list is renumbered: only its vertices exist
        present, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
        src, dst, n = inverse[: len(src)], inverse[len(src) :], len(present)
    a = sp.csr_matrix((w.astype(np.float64), (src, dst)), shape=(n, n))
    a = sp.triu(a.maximum(a.T), k=1).tocoo()
    g = ig.Graph(n=n, edges=np.column_stack([a.row, a.col]).tolist(), directed=False)
    import random

    rng_state = np.random.default_rng(seed)
    ig.set_random_number_generator(random.Random(int(rng_state.integers(2**31))))
    try:
        if algorithm == "leiden":
            part = g.community_leiden("modularity", weights=a.data, resolution=resolution,
                                      n_iterations=-1)  # fmt: skip
        else:
            part = g.community_multilevel(weights=a.data, resolution=resolution)
    finally:
        ig.set_random_number_generator(random)
    labels = np.asarray(part.membership, dtype=np.int32)
    if graph.n_vertices is not None:  # a CSR graph has all its vertices
        present = np.arange(graph.n_vertices)
        labels = np.concatenate([labels, np.arange(n, graph.n_vertices, dtype=np.int32)])
    order = rng_state.permutation(len(present))  # cuGraph's frames are not sorted by vertex
    frame = DataFrame({"vertex": present[order].astype(np.int32), "partition": labels[order]})
    return frame, float(part.modularity)


def leiden(G, max_iter=100, resolution=1.0, random_state=None, theta=1.0):
    CALLS["leiden"] += 1
    return _communities(G, "leiden", resolution, random_state)


CALLS = {"louvain": 0, "leiden": 0}


def louvain(G, max_level=None, max_iter=None, resolution=1.0, threshold=1e-7):
    """No seed: every call runs the same (deterministic) Louvain."""
    CALLS["louvain"] += 1
    return _communities(G, "louvain", resolution, 0)


def module_tree() -> dict[str, types.ModuleType]:
    """The fake RAPIDS modules, keyed by their import names."""

    def module(name: str, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        m.__emulated__ = True
        return m

    metrics_cluster = module("cuml.metrics.cluster", v_measure_score=v_measure_score,
                             adjusted_rand_score=adjusted_rand_score,
                             silhouette_score=silhouette_score)  # fmt: skip
    fc.cuda._emulated_reset()  # a fresh process: cupy allocates from its own pool again
    tree = fake_rmm.module_tree(module) | fake_cuvs.module_tree(module)
    tree |= {
        "cuml": module("cuml", __version__="26.10.00"),
        "cuml.cluster": module("cuml.cluster", KMeans=KMeans),
        "cuml.neighbors": module("cuml.neighbors", NearestNeighbors=NearestNeighbors),
        "cuml.decomposition": module("cuml.decomposition", TruncatedSVD=TruncatedSVD),
        "cuml.metrics": module("cuml.metrics", cluster=metrics_cluster),
        "cuml.metrics.cluster": metrics_cluster,
        "cudf": module("cudf", Series=Series, DataFrame=DataFrame, __version__="26.10.00"),
        "cugraph": module(
            "cugraph", Graph=Graph, leiden=leiden, louvain=louvain, __version__="26.10.00"
        ),
    }
    return tree


def sparse_tree() -> dict[str, types.ModuleType]:
    """``cupyx`` and its sparse modules."""
    scipy_mod = types.ModuleType("cupyx.scipy")
    scipy_mod.sparse = fs._this
    fs._this.linalg = fs.linalg
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = scipy_mod

    def scatter_max(a, slices, value):
        # float64 maxima come back rounded to float32, as measured with cupy 14.2 on an H200
        value = fc.unwrap(value)
        if a._a.dtype == np.float64:
            value = np.asarray(value, dtype=np.float64).astype(np.float32).astype(np.float64)
        np.maximum.at(a._a, fc.unwrap(slices), value)

    def scatter_add(a, slices, value):
        np.add.at(a._a, fc.unwrap(slices), fc.unwrap(value))

    cupyx.scatter_max, cupyx.scatter_add = scatter_max, scatter_add
    return {
        "cupyx": cupyx,
        "cupyx.scipy": scipy_mod,
        "cupyx.scipy.sparse": fs._this,
        "cupyx.scipy.sparse.linalg": fs.linalg,
    }
