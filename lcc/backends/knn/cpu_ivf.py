"""Approximate k-NN on the CPU: faiss IVF-Flat, or an IVF self-join by BLAS for wide latents.

IVF: 2·√n lists (√n for the self-join) trained on ≤ 32 points each, 1/14 of
them (at least 16) probed: recall@k ≥ 0.97 at k = 5 … 50 on 50,000 blob
latents of dimension 64 and 512 (isotropic blobs are a hard case for IVF; see
benchmarks/bench_engine.py and bench_lcc.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lcc.backends.knn.cpu_exact import _augmented, _chunks, _select, exact_knn

IVF_PROBE_FRACTION = 1 / 14
IVF_TRAIN_POINTS_PER_LIST = 32
IVF_MIN_PROBES = 16
# From this latent dimension on, the IVF self-join (BLAS) beats per-query IVF search.
IVF_JOIN_MIN_DIM = 128


def search(z: np.ndarray, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """Approximate all-k-NN of ``z`` (self included): squared L2, int64 ids."""
    import faiss

    n, d = z.shape
    if d >= IVF_JOIN_MIN_DIM:
        return _ivf_join(z, k, progress=progress, nprobe=nprobe)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, _n_lists(n, 2.0))
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.train(z)
    index.nprobe = _n_probes(index.nlist, nprobe)
    index.add(z)
    return search_in_chunks(index, z, k, chunk_size, progress)


def trained_empty_index(sample: np.ndarray, n: int, nprobe: int | None) -> tuple[np.ndarray, int]:
    """An empty IVF-Flat index for ``n`` rows, trained on ``sample`` (serialized), and its
    nprobe: the list and probe counts of :func:`search`, for an index filled shard by shard."""
    import faiss

    d = sample.shape[1]
    nlist = _n_lists(n, 2.0)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return faiss.serialize_index(index), _n_probes(nlist, nprobe)


def training_sample_size(n: int) -> int:
    """Rows :func:`trained_empty_index` trains on for ``n`` rows (≤ 32 per list)."""
    return min(n, IVF_TRAIN_POINTS_PER_LIST * _n_lists(n, 2.0))


class ShardedIndex:
    """A trained IVF-Flat index (from :func:`trained_empty_index`) filled block by block
    with global row ids: one worker's copy of sharded latents."""

    def __init__(self, serialized: np.ndarray, nprobe: int):
        import threading

        import faiss

        self.index = faiss.deserialize_index(serialized)
        self.index.nprobe = nprobe
        self.lock = threading.Lock()

    def add(self, block: np.ndarray, start: int) -> None:
        ids = np.arange(start, start + block.shape[0], dtype=np.int64)
        with self.lock:
            self.index.add_with_ids(np.ascontiguousarray(block, dtype=np.float32), ids)

    def search(self, queries: np.ndarray, k: int, chunk_size: int) -> tuple[Any, Any]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        return search_in_chunks(self.index, queries, k, chunk_size, False)


def _n_lists(n: int, per_sqrt_n: float) -> int:
    return max(1, min(int(per_sqrt_n * np.sqrt(n)), n // 39))


def _n_probes(n_lists: int, nprobe: int | None = None) -> int:
    """Lists probed per query: ``nprobe`` if given, else a fixed fraction (≥ 16) of them."""
    if nprobe:
        return min(n_lists, nprobe)
    return min(n_lists, max(IVF_MIN_PROBES, int(np.ceil(n_lists * IVF_PROBE_FRACTION))))


def search_in_chunks(index: Any, z: np.ndarray, k: int, chunk_size: int, progress: bool):
    n = z.shape[0]
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start in _chunks(n, chunk_size, progress):
        stop = min(start + chunk_size, n)
        dist[start:stop], idx[start:stop] = index.search(z[start:stop], k)
    return dist, idx


def _ivf_join(
    z: np.ndarray, k: int, *, progress: bool, nprobe: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate all-k-NN of ``z`` by an inverted-file self-join.

    faiss k-Means splits the rows into ``√n`` lists; every list is joined,
    with one BLAS product, against the rows of the ``nprobe`` lists whose
    centroids are nearest to its own centroid, and faiss's heaps keep the
    ``k`` best. A query-by-query IVF search (``faiss.IndexIVFFlat``) scans
    candidates one query at a time without BLAS: at d = 512 the join is 5×
    faster (5.1 s instead of 26 s on 50,000 blob rows, 2 cores, recall@5 0.996);
    at d = 64 the per-query search is faster (2.6 s vs 3.1 s), hence
    ``IVF_JOIN_MIN_DIM``.
    """
    import faiss

    n, d = z.shape
    nlist = _n_lists(n, 1.0)
    nprobe = _n_probes(nlist, nprobe)
    kmeans = faiss.Kmeans(
        d, nlist, niter=10, seed=1234, max_points_per_centroid=IVF_TRAIN_POINTS_PER_LIST
    )
    kmeans.train(z)
    centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
    _, assign = exact_knn(centroids, z, 1, chunk_size=n, progress=False)
    _, probes = exact_knn(centroids, centroids, nprobe, chunk_size=nlist, progress=False)
    assign = assign[:, 0]
    order = np.argsort(assign, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=nlist))])
    queries, base, sq = _augmented(z, z)
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for lst in tqdm(range(nlist), desc="k-NN (IVF join)", disable=not progress, unit="list"):
        members = order[bounds[lst] : bounds[lst + 1]]
        if members.size == 0:
            continue
        candidates = np.concatenate([order[bounds[p] : bounds[p + 1]] for p in probes[lst]])
        tile = np.ascontiguousarray(queries[members] @ base[candidates].T)
        heap_dist = np.empty((members.size, k), dtype=np.float32)
        heap_idx = np.empty((members.size, k), dtype=np.int64)
        _select(tile, heap_dist, heap_idx, ids=candidates)
        dist[members] = heap_dist + sq[members, None]
        idx[members] = heap_idx
    return dist, idx
