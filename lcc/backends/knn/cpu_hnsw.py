"""Approximate k-NN on the CPU: a faiss HNSW graph."""

from __future__ import annotations

import numpy as np

from lcc.backends.knn.cpu_ivf import search_in_chunks

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80


def search(z: np.ndarray, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """Approximate all-k-NN of ``z`` (self included): squared L2, int64 ids."""
    import faiss

    index = faiss.IndexHNSWFlat(z.shape[1], HNSW_M)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = max(2 * k, 64)
    index.add(z)
    return search_in_chunks(index, z, k, chunk_size, progress)
