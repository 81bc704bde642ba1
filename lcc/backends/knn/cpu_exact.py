"""Exact k-NN on the CPU: tiled BLAS products (numpy) and faiss's C++ top-k heaps,
one query block per core, each tile kept in that core's cache."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from tqdm.auto import tqdm

# Exact search tiles: queries × base rows per BLAS product. 2048 × 512 float32 is
# 4 MiB: the product writes it and the heaps read it back while it is still in the
# core's cache (a 2048 × 8192 tile, 64 MiB, went to memory and back: selection then
# cost more than the product). Each thread owns one tile. Of the 4 MiB shapes, tall
# ones ran OpenBLAS's single-threaded GEMM at K = 65 fastest here (2048 × 512:
# 85 GFLOPS, 1024 × 1024: 74, 512 × 2048: 64; AMD EPYC, 1 core).
QUERY_TILE = 2048
BASE_TILE = 512


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


def _heap(dist: np.ndarray, idx: np.ndarray) -> Any:
    """faiss max-heaps over the rows of ``dist`` / ``idx`` (k = their width), emptied."""
    import faiss

    heap = faiss.float_maxheap_array_t()
    heap.k, heap.nh = dist.shape[1], dist.shape[0]
    heap.val, heap.ids = faiss.swig_ptr(dist), faiss.swig_ptr(idx)
    heap.heapify()
    return heap


def _select(tile: np.ndarray, dist: np.ndarray, idx: np.ndarray, *, ids: np.ndarray) -> None:
    """The ``k = dist.shape[1]`` smallest entries of each row of ``tile`` (faiss max-heaps)."""
    import faiss

    heap = _heap(dist, idx)
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
    ``[x, 1] · [−2y, ‖y‖²]ᵀ`` into a reused, cache-sized buffer, and faiss's C++
    max-heaps (``float_maxheap_array_t.addn``) keep the ``k`` smallest per query:
    one compare per entry against the row's current k-th distance, a heap update
    only for the rare entry below it. The query blocks are spread over one
    thread per core, each running single-threaded BLAS and heaps on its own
    tile (numpy and faiss release the GIL), so a tile goes from the product to
    the selection without leaving the core's cache and the two thread pools
    (OpenBLAS's and faiss's OpenMP) never compete for the cores.
    The temporary memory is one ``QUERY_TILE × BASE_TILE`` tile per thread plus
    ``n × (d + 1)`` float32 copies of base and queries, whatever ``chunk_size``
    (kept for the signature shared with the other searches).
    """
    from threadpoolctl import threadpool_limits

    n = queries.shape[0]
    augmented_queries, augmented_base, query_sq = _augmented(base, queries)
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    starts = range(0, n, QUERY_TILE)
    tiles = threading.local()

    def search_block(q0: int) -> None:
        q1 = min(q0 + QUERY_TILE, n)
        if not hasattr(tiles, "tile"):
            tiles.tile = np.empty((QUERY_TILE, BASE_TILE), dtype=np.float32)
        _search_tile(augmented_queries[q0:q1], augmented_base, dist[q0:q1], idx[q0:q1], tiles.tile)
        dist[q0:q1] += query_sq[q0:q1, None]

    workers = min(_n_cores(), len(starts))
    with (
        threadpool_limits(1, user_api="blas"),
        ThreadPoolExecutor(workers, initializer=_one_openmp_thread) as pool,
    ):
        done = pool.map(search_block, starts)
        for _ in tqdm(done, total=len(starts), desc="k-NN", disable=not progress, unit="chunk"):
            pass
    return dist, idx


def _search_tile(
    queries: np.ndarray, base: np.ndarray, dist: np.ndarray, idx: np.ndarray, tile: np.ndarray
) -> None:
    """The ``k`` nearest base rows of ``queries`` (augmented), into ``dist`` / ``idx`` views."""
    import faiss

    m, n_base = queries.shape[0], base.shape[0]
    heap = _heap(dist, idx)
    for b0 in range(0, n_base, BASE_TILE):
        b1 = min(b0 + BASE_TILE, n_base)
        out = tile[:m, : b1 - b0]
        if b1 - b0 < BASE_TILE:  # the last, narrower tile must be contiguous
            out = np.empty((m, b1 - b0), dtype=np.float32)
        np.matmul(queries, base[b0:b1].T, out=out)
        heap.addn(b1 - b0, faiss.swig_ptr(out), b0, 0, m)
    heap.reorder()


def _n_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _one_openmp_thread() -> None:
    """Per worker thread: faiss's OpenMP loops single-threaded (libgomp's thread count is
    a per-thread setting, so this leaves the caller's threads as they were)."""
    import faiss

    faiss.omp_set_num_threads(1)
