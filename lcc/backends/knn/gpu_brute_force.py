"""Exact k-NN on the GPU: cuVS brute force, queried in chunks."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def search(z: Any, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """All-k-NN of ``z`` (self included): squared L2, int64 ids."""
    return query(z, z, k, chunk_size=chunk_size, progress=progress)


def query(
    base: Any, queries: Any, k: int, *, chunk_size: int, progress: bool = False
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries``: squared L2, ids."""
    import cupy as cp
    from cuvs.neighbors import brute_force

    index = brute_force.build(cp.ascontiguousarray(base, dtype=cp.float32), metric="sqeuclidean")

    def search(q):
        return brute_force.search(index, q, k)

    queries = cp.ascontiguousarray(queries, dtype=cp.float32)
    return search_in_chunks(search, queries, k, chunk_size, progress)


def search_in_chunks(search, queries: Any, k: int, chunk_size: int, progress: bool):
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
