"""Exact k-NN on the CPU: tiled BLAS products (numpy) and faiss's C++ top-k heaps."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

# Exact search tiles: queries × base rows per BLAS product (16 MiB of float32).
QUERY_TILE = 2048
BASE_TILE = 2048 * 4


def search(z: np.ndarray, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """All-k-NN of ``z`` (self included): squared L2, int64 ids."""
    return exact_knn(z, z, k, chunk_size=chunk_size, progress=progress)


def _augmented(base: np.ndarray, queries: np.ndarray):
    """``[x, 1]`` queries and ``[−2y, ‖y‖²]`` base rows: one GEMM gives ``‖y‖² − 2x·y``."""
    (n_base, d), n = base.shape, queries.shape[0]
    base_sq = np.einsum("ij,ij->i", base, base)
    augmented_base = np.empty((n_base, d + 1), dtype=np.float32)
    augmented_base[:, :d], augmented_base[:, d] = -2.0 * base, base_sq
    augmented_queries = np.empty((n, d + 1), dtype=np.float32)
    augmented_queries[:, :d], augmented_queries[:, d] = queries, 1.0
    return augmented_queries, augmented_base, np.einsum("ij,ij->i", queries, queries)


def _select(tile: np.ndarray, dist: np.ndarray, idx: np.ndarray, *, ids: np.ndarray) -> None:
    """The ``k = dist.shape[1]`` smallest entries of each row of ``tile`` (faiss max-heaps)."""
    import faiss

    heap = faiss.float_maxheap_array_t()
    heap.k, heap.nh = dist.shape[1], tile.shape[0]
    heap.val, heap.ids = faiss.swig_ptr(dist), faiss.swig_ptr(idx)
    heap.heapify()
    heap.addn_with_ids(
        tile.shape[1], faiss.swig_ptr(tile), faiss.swig_ptr(ids), 0, 0, tile.shape[0]
    )
    heap.reorder()


def _chunks(n: int, chunk_size: int, progress: bool) -> Any:
    return tqdm(range(0, n, chunk_size), desc="k-NN", disable=not progress, unit="chunk")


def exact_knn(
    base: np.ndarray, queries: np.ndarray, k: int, *, chunk_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN: tiled BLAS products with numpy, top-k selection with faiss's heaps.

    ``faiss.IndexFlatL2`` does the same two steps but with the OpenBLAS that
    the faiss-cpu wheel bundles (0.3.15), which does not recognise many current
    (virtualised) x86 CPUs and falls back to its generic SSE3 "Prescott"
    kernels: its product runs several times slower than numpy's OpenBLAS.
    Here each tile of ``‖y‖² − 2 x·y`` is a single GEMM of augmented rows
    ``[x, 1] · [−2y, ‖y‖²]ᵀ`` into a reused buffer (no extra passes over the
    tile), and faiss's C++ max-heaps (``float_maxheap_array_t.addn``) keep the
    ``k`` smallest per query. Memory: ``n × (d + 1)`` float32 copies of base
    and queries plus one ``QUERY_TILE × BASE_TILE`` tile.
    """
    import faiss

    n_base, n = base.shape[0], queries.shape[0]
    augmented_queries, augmented_base, query_sq = _augmented(base, queries)
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    tile = np.empty((QUERY_TILE, BASE_TILE), dtype=np.float32)
    for start in _chunks(n, chunk_size, progress):
        for q0 in range(start, min(start + chunk_size, n), QUERY_TILE):
            q1 = min(q0 + QUERY_TILE, start + chunk_size, n)
            heap = faiss.float_maxheap_array_t()
            heap.k, heap.nh = k, q1 - q0
            heap.val = faiss.swig_ptr(dist[q0:q1])
            heap.ids = faiss.swig_ptr(idx[q0:q1])
            heap.heapify()
            for b0 in range(0, n_base, BASE_TILE):
                b1 = min(b0 + BASE_TILE, n_base)
                out = tile[: q1 - q0, : b1 - b0]
                if b1 - b0 < BASE_TILE:  # the last, narrower tile must be contiguous
                    out = np.empty((q1 - q0, b1 - b0), dtype=np.float32)
                np.matmul(augmented_queries[q0:q1], augmented_base[b0:b1].T, out=out)
                heap.addn(b1 - b0, faiss.swig_ptr(out), b0, 0, q1 - q0)
            heap.reorder()
            dist[q0:q1] += query_sq[q0:q1, None]
    return dist, idx
