"""Approximate k-NN on the GPU: a cuVS CAGRA graph (uint32 ids, widened to int64)."""

from __future__ import annotations

from typing import Any

from lcc.backends.knn.gpu_brute_force import search_in_chunks

CAGRA_ITOPK_MIN = 64  # search breadth relative to k (recall ≥ 0.95 on blob latents)


def search(z: Any, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """Approximate all-k-NN of ``z`` (self included): squared L2, int64 ids."""
    from cuvs.neighbors import cagra

    index = cagra.build(cagra.IndexParams(metric="sqeuclidean"), z)
    params = cagra.SearchParams(itopk_size=max(CAGRA_ITOPK_MIN, 2 * k))
    return search_in_chunks(lambda q: cagra.search(params, index, q, k), z, k, chunk_size, progress)
