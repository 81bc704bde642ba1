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

    # cuVS's brute-force index is a non-owning view of its dataset
    # (cuvs/neighbors/brute_force.hpp: "This index will store a non-owning reference to the
    # dataset"; the Python Index keeps no reference either): ``dataset`` must outlive every
    # search (it does: this frame holds it until the searches return), else a float64 /
    # strided ``base``'s float32 copy is freed when build returns and the pool hands its
    # memory to the next allocation while the index still reads it.
    dataset = cp.ascontiguousarray(base, dtype=cp.float32)
    index = brute_force.build(dataset, metric="sqeuclidean")

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
