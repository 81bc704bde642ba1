"""Exact k-NN on the CPU: tiled BLAS products (numpy) and faiss's C++ top-k heaps,
each tile kept in one core's cache.

Two searches: :func:`self_knn`, every row of ``z`` against every row, which uses
the symmetry of the distance to compute each pair's distance once (half the
product), and :func:`exact_knn`, queries against another base."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

# Exact search tiles: queries × base rows per BLAS product. 2048 × 512 float32 is
# 4 MiB: the product writes it and the heaps read it back while it is still in the
# core's cache (a 2048 × 8192 tile, 64 MiB, went to memory and back: selection then
# cost more than the product). Each thread owns one tile. Of the 4 MiB shapes, tall
# ones ran OpenBLAS's single-threaded GEMM at K = 65 fastest here (2048 × 512:
# 85 GFLOPS, 1024 × 1024: 74, 512 × 2048: 64; AMD EPYC, 1 core).
QUERY_TILE = 2048
BASE_TILE = 512
# Self-join blocks: square, so that block pairs (I, J) and (J, I) are one tile; 1024 × 1024
# float32 is the same 4 MiB (its GEMM ran 2 % slower than 2048 × 512 here).
SELF_TILE = 1024


def search(z: np.ndarray, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """All-k-NN of ``z`` (self included): squared L2, int64 ids (``chunk_size`` unused)."""
    return self_knn(z, k, progress=progress)


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


def self_knn(z: np.ndarray, k: int, *, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact all-k-NN of ``z`` (self included): squared L2, int64 ids, ascending.

    The distance is symmetric, so ``z`` is cut into ``SELF_TILE`` blocks and
    only the block pairs ``I <= J`` are computed: one GEMM of augmented rows
    ``[x, ‖x‖², 1] · [−2y, 1, ‖y‖²]ᵀ`` gives the whole squared distance of
    every pair in the tile, half the product :func:`exact_knn` would run.
    Each tile feeds two sets of heaps: its rows go to block ``I``'s
    (``addn``: one compare per entry against the row's current k-th
    distance), its columns to block ``J``'s. For the columns one vectorised
    compare against block ``J``'s current k-th distances keeps the few
    entries that can still enter a top k, and only those go to the heaps
    (``addn_query_subset_with_ids``), so the tile is never transposed (a
    transposed copy cost more than its GEMM). The diagonal tiles go first and
    fill every heap, which makes later column hits rare. Tiles run on one
    thread per core (numpy and faiss release the GIL); a lock per block
    serialises the updates of its heaps.
    """
    n, d = z.shape
    sq = np.einsum("ij,ij->i", z, z)
    left = np.empty((n, d + 2), dtype=np.float32)
    left[:, :d], left[:, d], left[:, d + 1] = z, sq, 1.0
    right = np.empty((n, d + 2), dtype=np.float32)
    right[:, :d], right[:, d], right[:, d + 1] = -2.0 * z, 1.0, sq
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    blocks = [slice(s, min(s + SELF_TILE, n)) for s in range(0, n, SELF_TILE)]
    heaps = [_heap(dist[b], idx[b]) for b in blocks]
    locks = [threading.Lock() for _ in blocks]
    tiles = threading.local()

    def run(pair: tuple[int, int]) -> None:
        i, j = pair
        rows, cols = blocks[i], blocks[j]
        if not hasattr(tiles, "buffer"):
            tiles.buffer = np.empty(SELF_TILE * SELF_TILE, dtype=np.float32)
        m, w = rows.stop - rows.start, cols.stop - cols.start
        tile = tiles.buffer[: m * w].reshape(m, w)  # contiguous, whatever the block sizes
        np.matmul(left[rows], right[cols].T, out=tile)
        with locks[i]:
            heaps[i].addn(w, _ptr(tile), cols.start, 0, m)
        if i != j:
            _add_columns(tile, rows.start, heaps[j], dist[cols], locks[j])

    n_blocks = len(blocks)
    diagonal = ((i, i) for i in range(n_blocks))
    # off-diagonal tiles band by band: neighbouring tasks rarely share a block's lock
    band = ((i, i + s) for s in range(1, n_blocks) for i in range(n_blocks - s))
    n_tiles = n_blocks * (n_blocks + 1) // 2
    with (
        threadpool_limits(1, user_api="blas"),
        tqdm(total=n_tiles, desc="k-NN", disable=not progress, unit="tile") as bar,
    ):
        for tasks in (diagonal, band):  # every heap is full before any column is added
            _drain(tasks, run, min(_n_cores(), n_blocks), bar)
    for heap in heaps:
        heap.reorder()
    return dist, idx


def _drain(tasks: Iterator[Any], fn: Callable[[Any], None], workers: int, bar: Any) -> None:
    """``fn(task)`` for every task, on ``workers`` threads that pull from the one iterator
    (no future per task: a million tiles at 1M rows); a worker's error is raised here."""
    lock, failed = threading.Lock(), threading.Event()

    def work() -> None:
        _one_openmp_thread()
        while not failed.is_set():
            with lock:
                task = next(tasks, None)
            if task is None:
                return
            try:
                fn(task)
            except BaseException:
                failed.set()  # the other workers stop too
                raise
            with lock:
                bar.update()

    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(work) for _ in range(workers)]:
            done.result()


def _add_columns(tile: np.ndarray, row0: int, heap: Any, dist: np.ndarray, lock: Any) -> None:
    """Offer ``tile``'s columns (ids ``row0 + row``) to the heaps of its column block,
    only the entries below a column's current k-th distance ``dist[:, 0]``.

    Each hit is its own one-entry update of its column's heap, in the tile's row
    order: faiss applies a subset's entries in order on one thread, so a column
    hit several times is updated several times, no grouping needed. (faiss keeps
    the subset's row numbers as ``float`` there: exact for blocks of < 2²⁴ rows.)
    """
    with lock:
        kth = dist[:, 0].copy()  # a consistent snapshot; thresholds only fall later
    hits = np.flatnonzero(tile < kth)  # 2-D np.nonzero is 10x slower
    if hits.size == 0:
        return
    rows, cols = np.divmod(hits, tile.shape[1])
    values = tile.ravel()[hits]
    rows += row0
    with lock:
        heap.addn_query_subset_with_ids(cols.size, _ptr(cols), 1, _ptr(values), _ptr(rows), 1)


def _ptr(array: np.ndarray) -> Any:
    import faiss

    return faiss.swig_ptr(array)


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
