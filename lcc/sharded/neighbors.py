"""k-NN and the k-NN graph of latents sharded by samples (see :mod:`lcc.sharded`)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from lcc._dispatch import register_sharded
from lcc.sharded._plumbing import (
    _local,
    broadcast,
    by_rows,
    client_or_none,
    device_meta,
    lookup,
    map_rows,
    on_gpu,
    release,
    row_starts,
    settled,
    workers_of,
)


class DenseRows:
    """Selected rows of the latents (``rows`` sorted global ids, None = all) in one array."""

    def __init__(self, n: int, d: int, rows: np.ndarray | None = None):
        self.rows = rows
        self.data = np.empty((n if rows is None else len(rows), d), dtype=np.float32)

    def add(self, block: np.ndarray, start: int) -> None:
        stop = start + block.shape[0]
        if self.rows is None:
            self.data[start:stop] = block
            return
        lo, hi = np.searchsorted(self.rows, [start, stop])
        self.data[lo:hi] = block[self.rows[lo:hi] - start]

    def search(self, queries: np.ndarray, k: int, chunk_size: int) -> tuple[Any, Any]:
        from lcc.backends.cpu import knn_query

        return knn_query(self.data, queries, k, chunk_size=chunk_size)


class IVFIndex:
    """A trained, empty faiss IVF-Flat index, filled with global row ids."""

    def __init__(self, serialized: np.ndarray, nprobe: int):
        import faiss

        self.index = faiss.deserialize_index(serialized)
        self.index.nprobe = nprobe
        self.lock = threading.Lock()

    def add(self, block: np.ndarray, start: int) -> None:
        ids = np.arange(start, start + block.shape[0], dtype=np.int64)
        with self.lock:
            self.index.add_with_ids(np.ascontiguousarray(block, dtype=np.float32), ids)

    def search(self, queries: np.ndarray, k: int, chunk_size: int) -> tuple[Any, Any]:
        from lcc.backends.knn.cpu_ivf import search_in_chunks

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        return search_in_chunks(self.index, queries, k, chunk_size, False)


def _knn_block(block: np.ndarray, start: int, token: str, k: int, chunk_size: int, n: int):
    from lcc.neighbors import _drop_self

    queries = np.ascontiguousarray(block, dtype=np.float32)
    sq, idx = lookup(token).search(queries, k + 1, chunk_size)
    ids = np.arange(start, start + queries.shape[0], dtype=np.int64)
    return _drop_self(sq, idx, k, "cpu", query_ids=ids, n_base=n)


def _trained_ivf(z: Any, nprobe: int | None, seed: int = 1234) -> tuple[np.ndarray, int]:
    """An empty IVF-Flat index trained on a sample of ``z`` (serialized), and its nprobe.

    The same list and probe counts as the single-process approximate search
    (:mod:`lcc.backends.knn.cpu_ivf`): ``2√n`` lists, trained on ≤ 32 points per list.
    """
    import faiss

    from lcc.backends.knn.cpu_ivf import IVF_TRAIN_POINTS_PER_LIST, _n_lists, _n_probes

    n, d = z.shape
    nlist = _n_lists(n, 2.0)
    size = min(n, IVF_TRAIN_POINTS_PER_LIST * nlist)
    rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    sample = np.ascontiguousarray(z[rows].compute(), dtype=np.float32)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.train(sample)
    return faiss.serialize_index(index), _n_probes(nlist, nprobe)


@register_sharded("knn")
def knn(
    z: Any, k: int, *, exact: bool, method: str | None, nprobe: int | None, chunk_size: int
) -> tuple[Any, Any]:
    """``(distances, indices)`` Dask arrays, chunked like ``z``; see the module docstring."""
    client = client_or_none()
    z = by_rows(z).astype(np.float32)
    if client is None:
        return _local(z, lambda a: _single_knn(a, k, exact, method, nprobe, chunk_size))
    if on_gpu(z):
        return _knn_gpu(client, z, k)
    if not exact and method not in (None, "ivf"):
        raise ValueError(
            f"method={method!r} is not available for Dask input on CPU workers: every "
            "worker would rebuild the whole graph index; use method='ivf' or exact=True"
        )
    z = client.persist(z)
    n, d = z.shape
    if exact:
        token, workers = broadcast(client, z, DenseRows, n, d)
    else:
        token, workers = broadcast(client, z, IVFIndex, *_trained_ivf(z, nprobe))
    try:
        outputs = [((k,), np.float32), ((k,), np.int64)]
        dist, idx = map_rows(client, workers, _knn_block, [z], outputs, token, k, chunk_size, n)
    finally:
        release(client, token)
    return dist, idx


def _single_knn(z, k, exact, method, nprobe, chunk_size):
    from lcc.neighbors import knn as single

    return tuple(single(z, k, exact=exact, method=method, nprobe=nprobe, chunk_size=chunk_size))


def _knn_gpu(client: Any, z: Any, k: int) -> tuple[Any, Any]:
    """cuML's multi-GPU brute-force NearestNeighbors, then self removal per block."""
    import cupy as cp
    from cuml.dask.neighbors import NearestNeighbors

    z = client.persist(z)
    model = NearestNeighbors(client=client, n_neighbors=k + 1)
    model.fit(z)
    dist, idx = model.kneighbors(z, n_neighbors=k + 1)
    sq = device_meta(dist.astype(cp.float32) ** 2).rechunk({0: z.chunks[0]})
    idx = device_meta(idx.astype(cp.int64)).rechunk({0: z.chunks[0]})
    outputs = [((k,), cp.float32), ((k,), cp.int64)]
    n = z.shape[0]
    return tuple(map_rows(client, workers_of(client), _drop_self_block, [sq, idx], outputs, k, n))


def _drop_self_block(sq: Any, idx: Any, start: int, k: int, n: int):
    import cupy as cp

    from lcc.neighbors import _drop_self

    ids = cp.arange(start, start + sq.shape[0], dtype=cp.int64)
    return _drop_self(sq, idx, k, "gpu", query_ids=ids, n_base=n)


# --------------------------------------------------------------------- k-NN graph
def _transpose_block(w: Any) -> Any:
    return w.T.tocsr()


def _rows_of(m: Any, lo: int, hi: int) -> Any:
    return m[lo:hi]


def _symmetric_block(w: Any, *transposed_pieces: Any) -> Any:
    from lcc._backend import backend_of, sparse_module

    sparse = sparse_module(backend_of(w))
    out = w.maximum(sparse.hstack(transposed_pieces, format="csr")).tocsr()
    out.sort_indices()
    return out


@register_sharded("graph_from_neighbors")
def graph_from_neighbors(dist: Any, idx: Any, bandwidth: Any) -> Any:
    """The symmetric k-NN graph, as a Dask array of CSR row blocks (``n × n``), from the
    Dask ``(distances, indices)`` of :func:`knn`: :func:`lcc.knn_graph`'s second half."""
    import dask
    import dask.array as da

    from lcc._backend import backend_of, sparse_module
    from lcc.neighbors import _bandwidth, _directed_rows, _edge_weights, _warn_underflow

    client = client_or_none()
    n = dist.shape[0]
    kth = dist[:, -1].compute()  # n floats to the client, for σ
    sigma = _bandwidth(kth, dist, bandwidth)
    zero = dist.map_blocks(lambda d: _edge_weights(d, sigma) == 0, dtype=bool)
    _warn_underflow(float(zero.mean().compute()))
    starts = row_starts(dist.chunks[0])
    directed = [
        dask.delayed(_directed_rows, pure=True)(d, i, sigma, n)
        for d, i in zip(dist.to_delayed().ravel(), idx.to_delayed().ravel(), strict=True)
    ]
    transposed = [dask.delayed(_transpose_block, pure=True)(w) for w in directed]
    blocks = []
    for i, w in enumerate(directed):
        lo, hi = int(starts[i]), int(starts[i + 1])
        pieces = [dask.delayed(_rows_of, pure=True)(t, lo, hi) for t in transposed]
        blocks.append(dask.delayed(_symmetric_block, pure=True)(w, *pieces))
    meta = sparse_module(backend_of(dist._meta)).csr_matrix((0, 0), dtype=np.float32)
    graph = da.concatenate(
        [
            da.from_delayed(b, shape=(rows, n), dtype=np.float32, meta=meta)
            for b, rows in zip(blocks, dist.chunks[0], strict=True)
        ],
        axis=0,
    )
    if client is not None:  # computed here: a block lost meanwhile reruns the whole step
        graph = settled(client, client.persist(graph))
    return graph
