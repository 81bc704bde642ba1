"""Fakes of the multi-GPU RAPIDS calls: ``cuml.dask``, ``cugraph.dask``, ``dask_cudf``,
``dask_cuda`` (tests only).

* ``cuml.dask.neighbors.NearestNeighbors.kneighbors`` builds its outputs with
  ``dask.array.from_delayed`` and no ``meta`` (cuML ``dask/common/input_utils``
  / ``neighbors/nearest_neighbors.py``), so ``_meta`` is numpy while every
  chunk is a cupy array;
* ``cugraph.dask.leiden`` returns a dask-cuDF frame over the vertices that
  appear in the edge list only, in no particular order, and the modularity as
  a Python ``float``: cuGraph 26.10 (``cugraph/dask/community/leiden.py``)
  declares it ``dask.array.from_delayed(part_mod_score[0][1], shape=(1,),
  dtype=float).compute()``, but the one chunk is pylibcugraph's ``cdef double``
  (``pylibcugraph/leiden.pyx``) and a one-chunk array computes to its chunk
  (dask 2026.7), so no array comes back; ``test_emulation_strict`` runs that
  expression to keep the fake's type the real one;
* ``cugraph.dask.comms`` is one process-wide session bound to the client it
  was initialised with; using it from another client (a second
  ``lcc.distributed.cluster``) without ``destroy()`` fails, as a stale NCCL /
  UCX session does;
* ``dask_cuda.LocalCUDACluster`` is a ``LocalCluster`` of *threads*, so that
  its workers see this process's emulated cupy.

What stays unmodelled, because the workers are threads of one process:

* pickling between workers: a device array moved from one worker to another is
  passed by reference here, never serialised (cupy pickles through the host,
  ``ndarray.__reduce__``; dask-cuda would send it over UCX / NCCL), so a result
  that cannot be serialised, or a transfer's cost, is invisible;
* one allocator per worker: every worker shares this process's emulated cupy
  allocator and RMM resource (``fake_rmm``), where dask-cuda gives each worker
  process its own ``rmm_pool_size`` pool and device;
* worker death takes no memory with it, and ``CUDA_VISIBLE_DEVICES`` is ignored.
Worker processes would need the emulation installed in each (a
``WorkerPlugin`` that imports it), which the thread cluster avoids.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from . import fake_cupy as fc
from . import fake_rapids as fr


def _chunks_of(x: Any) -> list[Any]:
    return list(x.to_delayed().ravel())


def _numpy_meta_concat(parts: list[Any], rows: tuple[int, ...], trailing: tuple, dtype: Any):
    import dask.array as da

    shapes = [(r, *trailing) for r in rows]
    pieces = [da.from_delayed(p, shape=s, dtype=dtype) for p, s in zip(parts, shapes, strict=True)]
    return da.concatenate(pieces, axis=0)  # _meta: numpy; chunks: cupy


class DaskNearestNeighbors:
    __module__ = "cuml.dask.neighbors.nearest_neighbors"

    def __init__(self, *, client=None, streams_per_handle=0, verbose=False, **kwargs):
        self.n_neighbors = kwargs.get("n_neighbors", 5)

    def fit(self, X):
        self._base = X
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True, _return_futures=False):
        import dask

        k = n_neighbors or self.n_neighbors
        base = self._base.map_blocks(_to_host, dtype=self._base.dtype, meta=np.empty((0, 0)))
        parts = [dask.delayed(_search, nout=2)(base, q, k) for q in _chunks_of(X)]
        rows = X.chunks[0]
        dist = _numpy_meta_concat([p[0] for p in parts], rows, (k,), np.float32)
        idx = _numpy_meta_concat([p[1] for p in parts], rows, (k,), np.int64)
        return dist, idx


def _to_host(block: Any) -> np.ndarray:
    return block.get() if isinstance(block, fc.ndarray) else block


def _search(base: np.ndarray, queries: Any, k: int):
    d2 = fr._sq_dist(base, fr._host(queries))
    d, i = fr._top_k(d2, k)
    return fc.ndarray._of(np.sqrt(d)), fc.ndarray._of(i.astype(np.int64))


class DaskKMeans:
    __module__ = "cuml.dask.cluster.kmeans"

    def __init__(self, *, client=None, verbose=False, **kwargs):
        self.kwargs = kwargs

    def fit(self, X, sample_weight=None):
        z = fc.ndarray._of(np.concatenate([_to_host(b) for b in _computed_blocks(X)]))
        self._model = fr.KMeans(**self.kwargs).fit(z)
        self.cluster_centers_ = self._model.cluster_centers_
        return self

    def predict(self, X, delayed=True):
        """Lazy, of *unknown* chunk sizes, meta ``cupy.zeros(1, X.dtype)`` (cuML base.py)."""
        import dask
        import dask.array as da

        parts = [dask.delayed(self._model.predict)(b) for b in _chunks_of(X)]
        meta = fc.zeros(1, dtype=X.dtype)
        pieces = [da.from_delayed(p, shape=(np.nan,), dtype=np.int32, meta=meta) for p in parts]
        return da.concatenate(pieces, allow_unknown_chunksizes=True)


def _computed_blocks(x: Any) -> list[Any]:
    import dask

    return list(dask.compute(*_chunks_of(x)))


# ----------------------------------------------------------------- cuGraph / comms
class _Comms:
    """cuGraph's process-wide comms session, bound to the client that opened it."""

    def __init__(self):
        self.client_id: str | None = None

    def initialize(self, comms=None, p2p=False, prows=None, pcols=None, partition_type=1):
        from distributed import default_client

        if self.client_id is not None:
            raise Exception("Communicator is already initialized")
        self.client_id = default_client().id

    def is_initialized(self) -> bool:
        return self.client_id is not None

    def destroy(self) -> None:
        self.client_id = None

    def check(self) -> None:
        from distributed import default_client

        if self.client_id is None:
            raise RuntimeError("cuGraph comms are not initialized: call comms.initialize()")
        if default_client().id != self.client_id:
            raise RuntimeError(
                "cuGraph comms belong to a Dask client that is gone (stale session): "
                "comms.destroy() was not called when that cluster closed"
            )


COMMS = _Comms()


def dask_leiden(input_graph, max_iter=100, resolution=1.0, random_state=None, theta=1.0):
    COMMS.check()
    frame, modularity = fr.leiden(input_graph, max_iter, resolution, random_state, theta)
    return DaskFrame([frame]), float(modularity)  # what cuGraph's one-chunk compute gives


class DaskFrame:
    """dask-cuDF DataFrame: partitions of cuDF frames, computed on demand."""

    __module__ = "dask_cudf._expr.collection"
    __qualname__ = "DataFrame"

    def __init__(self, parts: list[Any]):
        self.parts = parts

    def compute(self) -> fr.DataFrame:
        import dask

        frames = dask.compute(*self.parts)
        return fr.DataFrame._concat(list(frames))

    def persist(self) -> DaskFrame:
        return self


def from_delayed(dfs, meta=None, divisions=None, prefix=None, verify_meta=True):
    return DaskFrame(list(dfs))


def _local_cuda_cluster():
    from distributed import LocalCluster

    class LocalCUDACluster(LocalCluster):
        """One thread-worker per emulated GPU (threads see the emulated cupy)."""

        __module__ = "dask_cuda.local_cuda_cluster"

        def __init__(self, CUDA_VISIBLE_DEVICES=None, n_workers=None, threads_per_worker=1,
                     memory_limit="auto", device_memory_limit=0.8, rmm_pool_size=None,
                     rmm_allocator_external_lib_list=None, protocol=None, **kwargs):  # fmt: skip
            kwargs.pop("processes", None)
            super().__init__(n_workers=n_workers or 2, threads_per_worker=1, processes=False,
                             memory_limit=memory_limit, **kwargs)  # fmt: skip

    return LocalCUDACluster


def module_tree() -> dict[str, types.ModuleType]:
    def module(name: str, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        return m

    comms_mod = module("cugraph.dask.comms.comms", initialize=COMMS.initialize,
                       is_initialized=COMMS.is_initialized, destroy=COMMS.destroy)  # fmt: skip
    comms_pkg = module("cugraph.dask.comms", comms=comms_mod)
    cugraph_dask = module("cugraph.dask", leiden=dask_leiden, comms=comms_pkg)
    cuml_dask_nn = module("cuml.dask.neighbors", NearestNeighbors=DaskNearestNeighbors)
    cuml_dask_km = module("cuml.dask.cluster", KMeans=DaskKMeans)
    return {
        "cugraph.dask": cugraph_dask,
        "cugraph.dask.comms": comms_pkg,
        "cugraph.dask.comms.comms": comms_mod,
        "cuml.dask": module("cuml.dask", neighbors=cuml_dask_nn, cluster=cuml_dask_km),
        "cuml.dask.neighbors": cuml_dask_nn,
        "cuml.dask.cluster": cuml_dask_km,
        "dask_cudf": module("dask_cudf", from_delayed=from_delayed, __version__="26.10.00"),
        "dask_cuda": module(
            "dask_cuda", LocalCUDACluster=_local_cuda_cluster(), __version__="26.10.00"
        ),
    }
