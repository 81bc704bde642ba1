"""k-NN and the k-NN graph of latents sharded by samples (see :mod:`lcc.sharded`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._dispatch import here, place
from lcc._waiting import bounded
from lcc.backends import dask_gpu
from lcc.backends.knn import cpu_ivf
from lcc.kernels import neighbors as kernels
from lcc.sharded._plumbing import (
    broadcast,
    by_rows,
    client_or_none,
    device_meta,
    fetch,
    local,
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

    def search(
        self, queries: np.ndarray, k: int, chunk_size: int, inner_product: bool = False
    ) -> tuple[Any, Any]:
        """The exact ``k`` nearest of these rows for each query (:func:`kernels.nearest`)."""
        on = here(self.data)
        return kernels.nearest(
            on, self.data, queries, k, chunk_size=chunk_size, inner_product=inner_product
        )


def _knn_block(
    block: np.ndarray, start: int, token: str, k: int, chunk_size: int, n: int, ip: bool
):
    queries = np.ascontiguousarray(block, dtype=np.float32)
    rows = lookup(token)
    # the IVF shard index (approximate) is Euclidean only; the dense rows search either
    sq, idx = rows.search(queries, k + 1, chunk_size, **({"inner_product": True} if ip else {}))
    ids = np.arange(start, start + queries.shape[0], dtype=np.int64)
    on = here(idx)
    dist, idx = kernels.drop_self(on, sq, idx, k, query_ids=ids, n_base=n)
    return kernels.inner_product_distances(on, queries, rows.data, idx) if ip else (dist, idx)


def _trained_ivf(z: Any, nprobe: int | None, seed: int = 1234) -> tuple[np.ndarray, int]:
    """An empty IVF-Flat index trained on a sample of ``z`` (serialized), and its nprobe:
    the list and probe counts of the single-process approximate search."""
    n = z.shape[0]
    size = cpu_ivf.training_sample_size(n)
    rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    return cpu_ivf.trained_empty_index(fetch(z[rows]), n, nprobe)


def knn(
    z: Any, k: int, *, exact: bool, method: str | None, nprobe: int | None, chunk_size: int,
    inner_product: bool = False,
) -> tuple[Any, Any]:  # fmt: skip
    """``(distances, indices)`` Dask arrays, chunked like ``z``; see the module docstring.
    ``inner_product``: the rows of largest inner product (exact search only), through
    :func:`lcc.kernels.neighbors.nearest` on each worker."""
    client = client_or_none()
    z = by_rows(z).astype(np.float32)
    ip = inner_product
    if client is None:
        return local(z, lambda a: _search_here(a, k, exact, method, nprobe, chunk_size, ip))
    if on_gpu(z) and ip:
        raise ValueError(
            "metric='inner_product' is not available for Dask input on GPU workers (cuML's "
            "multi-GPU NearestNeighbors is Euclidean); compute() the latents for one GPU, "
            "or use metric='cosine' on normalised latents"
        )
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
        token, workers = broadcast(client, z, cpu_ivf.ShardedIndex, *_trained_ivf(z, nprobe))
    try:
        outputs = [((k,), np.float32), ((k,), np.int64)]
        args = (token, k, chunk_size, n, ip)
        dist, idx = map_rows(client, workers, _knn_block, [z], outputs, *args)
    finally:
        release(client, token)
    return dist, idx


def _search_here(
    a: Any, k: int, exact: bool, method: Any, nprobe: Any, chunk_size: int, ip: bool
) -> tuple[Any, Any]:
    """The single-process search of the computed latents ``a``, where they are."""
    on = place(a)  # where this process computes (a backend= / $LCC_BACKEND choice holds)
    method = None if exact else method or on.default_knn_method
    options = {"exact": exact, "method": method, "nprobe": nprobe, "chunk_size": chunk_size}
    found = kernels.search(on, on.to(a), k, **options, inner_product=ip, progress=False)
    return on.back(*found[:2])


def _knn_gpu(client: Any, z: Any, k: int) -> tuple[Any, Any]:
    """cuML's multi-GPU brute-force NearestNeighbors, then self removal per block."""
    import cupy as cp

    dist, idx = bounded(
        "cuML's Dask NearestNeighbors", dask_gpu.knn, client, client.persist(z), k + 1
    )
    sq = device_meta(dist.astype(cp.float32) ** 2).rechunk({0: z.chunks[0]})
    idx = device_meta(idx.astype(cp.int64)).rechunk({0: z.chunks[0]})
    outputs = [((k,), cp.float32), ((k,), cp.int64)]
    n = z.shape[0]
    return tuple(map_rows(client, workers_of(client), _drop_self_block, [sq, idx], outputs, k, n))


def _drop_self_block(sq: Any, idx: Any, start: int, k: int, n: int):
    on = here(idx)
    ids = on.xp.arange(start, start + sq.shape[0], dtype=on.xp.int64)
    return kernels.drop_self(on, sq, idx, k, query_ids=ids, n_base=n)


# --------------------------------------------------------------------- k-NN graph
def _transpose_block(w: Any) -> Any:
    return w.T.tocsr()


def _rows_of(m: Any, lo: int, hi: int) -> Any:
    return m[lo:hi]


def _symmetric_block(w: Any, *transposed_pieces: Any) -> Any:
    out = w.maximum(here(w).sparse.hstack(transposed_pieces, format="csr")).tocsr()
    out.sort_indices()
    return out


def _directed_block(dist: Any, idx: Any, sigma: float, n: int) -> Any:
    return kernels.directed_rows(here(dist), dist, idx, sigma, n)


def graph_from_neighbors(dist: Any, idx: Any, bandwidth: Any) -> Any:
    """The symmetric k-NN graph, as a Dask array of CSR row blocks (``n × n``), from the
    Dask ``(distances, indices)`` of :func:`knn`: :func:`lcc.knn_graph`'s second half."""
    import dask
    import dask.array as da

    client = client_or_none()
    n = dist.shape[0]
    kth = fetch(dist[:, -1])  # n floats to the client, for σ
    on = here(kth)
    sigma = kernels.bandwidth(on, kth, dist, bandwidth)
    zero = dist.map_blocks(lambda d: kernels.edge_weights(on, d, sigma) == 0, dtype=bool)
    kernels.warn_underflow(float(fetch(zero.mean())))
    starts = row_starts(dist.chunks[0])
    directed = [
        dask.delayed(_directed_block, pure=True)(d, i, sigma, n)
        for d, i in zip(dist.to_delayed().ravel(), idx.to_delayed().ravel(), strict=True)
    ]
    transposed = [dask.delayed(_transpose_block, pure=True)(w) for w in directed]
    blocks = []
    for i, w in enumerate(directed):
        lo, hi = int(starts[i]), int(starts[i + 1])
        pieces = [dask.delayed(_rows_of, pure=True)(t, lo, hi) for t in transposed]
        blocks.append(dask.delayed(_symmetric_block, pure=True)(w, *pieces))
    meta = on.sparse.csr_matrix((0, 0), dtype=np.float32)
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
