"""Fakes of the cuVS searches ``lcc`` calls: brute force, IVF-Flat, CAGRA (tests only).

Read from the cuVS 26.10 wheel's own sources (``cuvs/neighbors/*/*.pyx``,
``cuvs/neighbors/common.py``) and, for the C / C++ layers, rapidsai/cuvs at
ff0c807 (``c/src/neighbors/*.cpp``, ``cpp/include/cuvs/neighbors/*.hpp``):

* **memory**: brute force keeps a *non-owning* view of its dataset
  (``brute_force.hpp``: "This index will store a non-owning reference to the
  dataset, but will move any norms supplied"; ``brute_force.pyx``'s ``Index``
  holds no reference to the array) and its squared norms, computed at build
  (``detail/knn_brute_force.cuh``). The fake holds a weak
  :class:`~.fake_cuda.DeviceView`: a search after the dataset was freed raises,
  and writes to the dataset after the build are read with the build's norms.
  CAGRA's C++ index is a view too when rows are 16-byte aligned
  (``cagra.hpp`` ``update_dataset`` / ``common.hpp`` ``make_aligned_dataset``),
  but 26.10's Python ``cagra.build`` keeps the array alive
  (``_keep_dataset_alive(idx, padded, dataset)``), so the fake keeps it, viewed
  when aligned, else a padded copy. IVF-Flat copies the data into its lists.
* **input checks** as ``_check_input_array``: a dtype outside the list is
  ``TypeError("dtype … not supported")`` (brute force float32 / float16; IVF-Flat
  and CAGRA also int8 / uint8), a layout pylibraft does not call row-major is
  ``ValueError("Row major input is expected")`` (not for brute force, which
  takes column-major too); the C API (:class:`CuvsException`) refuses strided
  data, host queries, and a query dtype kind unlike the index's.
* **parameter classes** are keyword-only with exactly the ``.pyx`` ``__init__``
  keywords (Cython's ``(*args, **kwargs)`` hides them from ``inspect``).
* **CAGRA is approximate**: a greedy search of a k-NN graph (out-degree
  ``graph_degree``, no reverse edges) from random seeds, ``itopk_size`` rounded
  up to 32, so a query's own point can be missed; with fewer reachable nodes
  than ``k`` the ids are uint32-max and the distances float-max. Besides, every
  ``SELF_MISS_PERIOD``-th dataset point (by a hash of its id) is never returned
  for a query at distance 0 from it: the miss is certain, not luck.
* IVF-Flat searches only the ``n_probes`` nearest lists; where they hold fewer
  than ``k`` points the ids are int64-max (``kOutOfBoundsRecord``) and the
  distances warpsort's dummy, +inf.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from . import fake_cupy as fc
from .fake_cuda import DeviceView

INT64_MAX = np.iinfo(np.int64).max
UINT32_MAX = np.iinfo(np.uint32).max
FLOAT_MAX = np.finfo(np.float32).max
SELF_MISS_PERIOD = 37
_FLOATS = (np.dtype("float32"), np.dtype("float16"))
_ANY = (*_FLOATS, np.dtype("int8"), np.dtype("uint8"))
# cuvs.distance.DISTANCE_TYPES: an unknown metric is its KeyError
_METRICS = tuple(
    "l2 sqeuclidean euclidean l1 cityblock inner_product chebyshev canberra cosine lp "
    "correlation jaccard hellinger braycurtis jensenshannon hamming kl_divergence minkowski "
    "russellrao dice bitwise_hamming".split()
)


class CuvsException(Exception):
    """``cuvs.common.exceptions.CuvsException``: what ``check_cuvs`` raises for a C API error."""

    __module__ = "cuvs.common.exceptions"


class DeviceNDArray:
    """pylibraft's ``device_ndarray``: cupy reads it through ``__cuda_array_interface__``."""

    __module__ = "pylibraft.common.device_ndarray"
    __qualname__ = "device_ndarray"

    def __init__(self, a: np.ndarray):
        self._a = a

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "version": 3}

    def copy_to_host(self) -> np.ndarray:
        return self._a.copy()


def _sq_dist(base: np.ndarray, q: np.ndarray) -> np.ndarray:
    b, q = base.astype(np.float64), q.astype(np.float64)
    return np.maximum((q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :], 0)


def _top_k(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k_eff = min(k, d2.shape[1])
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k_eff]
    return np.take_along_axis(d2, idx, axis=1).astype(np.float32), idx


# --------------------------------------------------------------- input checks
def _wrap_array(x: Any) -> tuple[np.ndarray, bool]:
    """pylibraft ``wrap_array``: (storage, on the device); a host array passes the wrap."""
    if isinstance(x, fc.ndarray | DeviceNDArray):
        return x._a, True
    if isinstance(x, np.ndarray):
        return x, False
    raise AttributeError(f"{type(x).__name__!r} object has no attribute '__array_interface__'")


def _check_input_array(a: np.ndarray, allowed: tuple, *, row_major: bool = True) -> None:
    """``cuvs.neighbors.common._check_input_array``; pylibraft's ``c_contiguous`` only
    looks at the last stride (``input_validation.is_c_contiguous``)."""
    if a.dtype not in allowed:
        raise TypeError(f"dtype {a.dtype} not supported")
    if row_major and a.ndim == 2 and a.strides[1] != a.itemsize:
        raise ValueError("Row major input is expected")


def _queries(x: Any, index: Any, allowed: tuple, *, row_major: bool) -> np.ndarray:
    """A search's queries through the Python checks, then the C API's (a dtype *code*,
    float / int / uint, unlike the index's is refused; float16 on float32 is not)."""
    q, device = _wrap_array(x)
    _check_input_array(q, allowed, row_major=row_major)
    if not device:
        raise CuvsException("queries should have device compatible memory")
    if q.dtype.kind != index.dtype.kind:
        raise CuvsException("type mismatch between index and queries")
    if row_major and not q.flags.c_contiguous:
        raise CuvsException("Expected a row-major matrix")  # from_dlpack<row_major>
    if not (q.flags.c_contiguous or q.flags.f_contiguous):
        raise CuvsException(
            "queries input to cuvsBruteForceSearch must be contiguous (non-strided)"
        )
    return q


# ----------------------------------------------------------------- brute force
class _BruteForceIndex:
    __module__ = "cuvs.neighbors.brute_force.brute_force"
    __qualname__ = "Index"

    def __init__(self, dataset: np.ndarray):
        self.view = DeviceView(dataset, "cuVS brute_force index")
        self.dtype = dataset.dtype
        self.norms = (dataset.astype(np.float64) ** 2).sum(1)  # owned: computed at build
        self.trained = True


def _bf_build(dataset, metric="sqeuclidean", metric_arg=2.0, resources=None):
    a, device = _wrap_array(dataset)
    _check_input_array(a, _FLOATS, row_major=False)
    if metric != "sqeuclidean":
        raise ValueError(f"emulated brute_force supports metric='sqeuclidean', got {metric!r}")
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        raise CuvsException("dataset input to cuvsBruteForceBuild must be contiguous (non-strided)")
    if not device:
        raise CuvsException("device_type mismatch between return mdspan and DLTensor")
    return _BruteForceIndex(a)


def _bf_search(index, queries, k, neighbors=None, distances=None, resources=None, prefilter=None):
    q = _queries(queries, index, _FLOATS, row_major=False)
    base = index.view.get().astype(np.float64)  # raises once the dataset is freed
    q64 = q.astype(np.float64)
    d2 = (q64 * q64).sum(1)[:, None] - 2 * q64 @ base.T + index.norms[None, :]
    d, i = _top_k(np.maximum(d2, 0), k)
    return DeviceNDArray(d), DeviceNDArray(i.astype(np.int64))


# -------------------------------------------------------------------- IVF-Flat
class _IvfIndexParams:
    __module__ = "cuvs.neighbors.ivf_flat.ivf_flat"
    __qualname__ = "IndexParams"

    def __init__(self, *, n_lists=1024, metric="sqeuclidean", metric_arg=2.0, kmeans_n_iters=20,
                 kmeans_trainset_fraction=0.5, adaptive_centers=False, add_data_on_build=True,
                 conservative_memory_allocation=False):  # fmt: skip
        _metric(metric)
        self.n_lists, self.metric = n_lists, metric


class _IvfSearchParams:
    __module__ = "cuvs.neighbors.ivf_flat.ivf_flat"
    __qualname__ = "SearchParams"

    def __init__(self, *, n_probes=20):
        self.n_probes = n_probes


def _metric(name: str) -> None:
    if name not in _METRICS:
        raise KeyError(name)  # DISTANCE_TYPES[metric]


class _IvfIndex:
    __module__ = "cuvs.neighbors.ivf_flat.ivf_flat"
    __qualname__ = "Index"

    def __init__(self, params: _IvfIndexParams, dataset: np.ndarray):
        rng = np.random.default_rng(0)
        self.centers = dataset[rng.choice(dataset.shape[0], params.n_lists, replace=False)]
        self.lists = np.argmin(_sq_dist(self.centers, dataset), axis=1)
        self.dataset, self.dtype = dataset, dataset.dtype


def _ivf_build(index_params, dataset, resources=None):
    a, device = _wrap_array(dataset)
    _check_input_array(a, _ANY)
    if not a.flags.c_contiguous:
        raise CuvsException("Expected a row-major matrix")
    if not device:
        raise CuvsException("device_type mismatch between return mdspan and DLTensor")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise CuvsException("empty dataset")
    if a.shape[0] < index_params.n_lists:
        raise CuvsException("number of rows can't be less than n_lists")
    return _IvfIndex(index_params, a.copy())  # owning: the data is copied into the lists


def _ivf_search(search_params, index, queries, k, neighbors=None, distances=None,
                resources=None, filter=None):  # fmt: skip
    q = _queries(queries, index, _ANY, row_major=True)
    probes = np.argsort(_sq_dist(index.centers, q), axis=1)[:, : search_params.n_probes]
    dist = np.full((q.shape[0], k), np.inf, dtype=np.float32)  # warpsort's dummy
    ids = np.full((q.shape[0], k), INT64_MAX, dtype=np.int64)  # kOutOfBoundsRecord
    d2 = _sq_dist(index.dataset, q)
    for row in range(q.shape[0]):
        members = np.flatnonzero(np.isin(index.lists, probes[row]))
        d, order = _top_k(d2[row : row + 1, members], k)
        dist[row, : d.shape[1]], ids[row, : d.shape[1]] = d[0], members[order[0]]
    return DeviceNDArray(dist), DeviceNDArray(ids)


# ----------------------------------------------------------------------- CAGRA
_BUILD_ALGOS = ("ivf_pq", "nn_descent", "iterative_cagra_search", "ace")


class _CagraIndexParams:
    __module__ = "cuvs.neighbors.cagra.cagra"
    __qualname__ = "IndexParams"

    def __init__(self, *, metric="sqeuclidean", intermediate_graph_degree=128, graph_degree=64,
                 build_algo="ivf_pq", nn_descent_niter=20, ivf_pq_build_params=None,
                 ivf_pq_search_params=None, ace_params=None, refinement_rate=1.0):  # fmt: skip
        _metric(metric)
        if build_algo not in _BUILD_ALGOS:
            raise ValueError(f"Unknown build_algo '{build_algo}'")
        self.metric, self.build_algo = metric, build_algo
        self.intermediate_graph_degree, self.graph_degree = intermediate_graph_degree, graph_degree


class _CagraSearchParams:
    __module__ = "cuvs.neighbors.cagra.cagra"
    __qualname__ = "SearchParams"

    def __init__(self, *, max_queries=0, itopk_size=64, max_iterations=0, algo="auto",
                 team_size=0, search_width=1, min_iterations=0, thread_block_size=0,
                 hashmap_mode="auto", hashmap_min_bitlen=0, hashmap_max_fill_rate=0.5,
                 num_random_samplings=1, rand_xor_mask=0x128394, persistent=False,
                 persistent_lifetime=None, persistent_device_usage=None):  # fmt: skip
        if algo not in ("auto", "single_cta", "multi_cta", "multi_kernel"):
            raise ValueError("`algo` value not supported.")
        if hashmap_mode not in ("auto", "small", "hash"):
            raise ValueError("`hashmap_mode` value not supported.")
        self.itopk_size, self.search_width = itopk_size, search_width
        self.max_iterations, self.min_iterations = max_iterations, min_iterations
        self.num_random_samplings, self.rand_xor_mask = num_random_samplings, rand_xor_mask


class _CagraIndex:
    __module__ = "cuvs.neighbors.cagra.cagra"
    __qualname__ = "Index"

    def __init__(self, source: Any, data: np.ndarray | None, graph: np.ndarray):
        self._source, self._copy = source, data  # the kept array, or the padded copy
        self.graph, self.trained = graph, True
        self.dtype = (data if data is not None else source._a).dtype

    def data(self) -> np.ndarray:
        return self._copy if self._copy is not None else self._source._a


def _cagra_build(index_params, dataset, resources=None):
    a, device = _wrap_array(dataset)
    _check_input_array(a, _ANY)
    if index_params.build_algo == "ace" and device:
        raise ValueError("ACE build requires dataset to be in host memory. Please use NumPy "
                         "arrays or transfer CuPy arrays to host with dataset.get() before "
                         "calling build().")  # fmt: skip
    row_bytes = a.shape[1] * a.itemsize
    aligned = device and a.strides[0] == -(-row_bytes // 16) * 16 and a.strides[1] == a.itemsize
    copy = None if aligned else np.array(a, order="C")  # make_aligned_dataset: padded copy
    x = (a if aligned else copy).astype(np.float64)
    n = x.shape[0]
    degree = max(0, min(index_params.graph_degree, index_params.intermediate_graph_degree, n - 1))
    return _CagraIndex(dataset if aligned else None, copy, _knn_graph(x, degree))


def _knn_graph(x: np.ndarray, degree: int) -> np.ndarray:
    """Each node's ``degree`` nearest other nodes (exact; CAGRA's optimize is not modelled)."""
    n = x.shape[0]
    graph = np.empty((n, degree), dtype=np.int64)
    if degree == 0:
        return graph
    step = max(1, (1 << 22) // max(n, 1))
    for s in range(0, n, step):
        d2 = _sq_dist(x, x[s : s + step])
        d2[np.arange(d2.shape[0]), np.arange(s, s + d2.shape[0])] = np.inf
        part = np.argpartition(d2, degree - 1, axis=1)[:, :degree]
        order = np.argsort(np.take_along_axis(d2, part, axis=1), axis=1, kind="stable")
        graph[s : s + step] = np.take_along_axis(part, order, axis=1)
    return graph


def _cagra_search(search_params, index, queries, k, neighbors=None, distances=None,
                  resources=None, filter=None):  # fmt: skip
    q = _queries(queries, index, _ANY, row_major=True)
    itopk = -(-max(search_params.itopk_size, 1) // 32) * 32  # search_plan: a multiple of 32
    if k > itopk:
        raise CuvsException(f"topk = {k} must be smaller than itopk_size = {itopk}")
    data = index.data().astype(np.float64)
    width = max(1, search_params.search_width)
    max_iter = search_params.max_iterations or itopk // width + 1
    ids, dist = [], []
    step = max(1, min(512, (1 << 24) // (data.shape[0] + 1)))  # visited: step × n booleans
    for s in range(0, q.shape[0], step):
        i, d = _greedy(data, index.graph, q[s : s + step].astype(np.float64), itopk, width,
                       max(max_iter, search_params.min_iterations), search_params)  # fmt: skip
        ids.append(i), dist.append(d)
    ids, dist = np.concatenate(ids), np.concatenate(dist)
    miss = (dist == 0) & ((ids * 0x9E3779B1 + search_params.rand_xor_mask) % SELF_MISS_PERIOD == 0)
    dist[miss], ids[miss] = np.inf, -1  # the certain self miss (see the module docstring)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    ids, dist = np.take_along_axis(ids, order, 1), np.take_along_axis(dist, order, 1)
    found = ids >= 0
    out_d = np.where(found, dist, FLOAT_MAX).astype(np.float32)
    out_i = np.where(found, ids, UINT32_MAX).astype(np.uint32)
    return DeviceNDArray(out_d), DeviceNDArray(out_i)


def _greedy(data, graph, q, itopk, width, max_iter, params):
    """Batched best-first search: (ids, squared distances) of each query's buffer, -1 / inf
    where it holds fewer than ``itopk`` nodes. A node enters a query's buffer once (the
    visited hash table), so an evicted node is not offered again."""
    n, nq = data.shape[0], q.shape[0]
    rng = np.random.default_rng(params.rand_xor_mask)
    n_seeds = min(n, max(1, params.num_random_samplings * width * max(graph.shape[1], 1)))
    ids = np.full((nq, itopk), -1, dtype=np.int64)
    dist = np.full((nq, itopk), np.inf)
    explored = np.zeros((nq, itopk), dtype=bool)
    visited = np.zeros((nq, n + 1), dtype=bool)  # column n: the "no node" id -1
    cand = rng.integers(0, n, size=(nq, n_seeds)) if n else np.empty((nq, 0), np.int64)
    for it in range(max_iter + 1):
        ids, dist, explored = _merge(data, q, ids, dist, explored, cand, visited)
        open_ = ~explored & (ids >= 0)
        pick = open_ & (np.cumsum(open_, axis=1) <= width)
        if it == max_iter or not pick.any() or graph.shape[1] == 0:
            break
        explored |= pick
        parents = np.where(pick, ids, -1)
        parents = np.take_along_axis(parents, np.argsort(~pick, axis=1, kind="stable"), 1)
        parents = parents[:, :width]
        cand = np.where(parents[:, :, None] >= 0, graph[np.maximum(parents, 0)], -1)
        cand = cand.reshape(nq, -1)
    return ids, dist


def _merge(data, q, ids, dist, explored, cand, visited):
    """Add the candidates not yet visited (once each) and keep the best ``itopk``."""
    cand = np.sort(cand, axis=1)
    rows = np.arange(cand.shape[0])[:, None]
    dup = visited[rows, cand] | (cand < 0)
    dup[:, 1:] |= cand[:, 1:] == cand[:, :-1]
    visited[rows, cand] = True
    diff = data[np.maximum(cand, 0)] - q[:, None, :]
    cd = np.where(dup, np.inf, np.einsum("qcd,qcd->qc", diff, diff))
    all_ids = np.concatenate([ids, np.where(dup, -1, cand)], axis=1)
    all_d = np.concatenate([dist, cd], axis=1)
    all_e = np.concatenate([explored, np.zeros(cand.shape, dtype=bool)], axis=1)
    order = np.argsort(all_d, axis=1, kind="stable")[:, : ids.shape[1]]
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    return take(all_ids), take(all_d), take(all_e)


def module_tree(module: Any) -> dict[str, types.ModuleType]:
    """The fake ``cuvs`` modules (``module(name, **attrs)`` makes one)."""
    brute_force = module("cuvs.neighbors.brute_force", build=_bf_build, search=_bf_search,
                         Index=_BruteForceIndex)  # fmt: skip
    ivf_flat = module("cuvs.neighbors.ivf_flat", build=_ivf_build, search=_ivf_search,
                      IndexParams=_IvfIndexParams, SearchParams=_IvfSearchParams)  # fmt: skip
    cagra = module("cuvs.neighbors.cagra", build=_cagra_build, search=_cagra_search,
                   IndexParams=_CagraIndexParams, SearchParams=_CagraSearchParams)  # fmt: skip
    neighbors = module("cuvs.neighbors", brute_force=brute_force, ivf_flat=ivf_flat, cagra=cagra)
    exceptions = module("cuvs.common.exceptions", CuvsException=CuvsException)
    common = module("cuvs.common", exceptions=exceptions)
    return {
        "cuvs": module("cuvs", neighbors=neighbors, common=common, __version__="26.10.00"),
        "cuvs.common": common,
        "cuvs.common.exceptions": exceptions,
        "cuvs.neighbors": neighbors,
        "cuvs.neighbors.brute_force": brute_force,
        "cuvs.neighbors.ivf_flat": ivf_flat,
        "cuvs.neighbors.cagra": cagra,
    }
