"""Approximate k-NN on the GPU: cuVS IVF-Flat, as many lists and probes as the CPU's."""

from __future__ import annotations

from typing import Any

from lcc.backends.knn.gpu_brute_force import search_in_chunks

IVF_PROBE_FRACTION = 1 / 14
IVF_MIN_PROBES = 16


def search(z: Any, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """Approximate all-k-NN of ``z`` (self included): squared L2, int64 ids (int64-max when
    the probed lists hold fewer than ``k`` points: the engine reports it)."""
    from cuvs.neighbors import ivf_flat

    n = z.shape[0]
    n_lists = max(1, min(int(2 * n**0.5), n // 39))
    index = ivf_flat.build(ivf_flat.IndexParams(n_lists=n_lists, metric="sqeuclidean"), z)
    n_probes = min(n_lists, max(IVF_MIN_PROBES, int(n_lists * IVF_PROBE_FRACTION + 0.999)))
    n_probes = min(n_lists, nprobe) if nprobe else n_probes
    params = ivf_flat.SearchParams(n_probes=n_probes)
    return search_in_chunks(
        lambda q: ivf_flat.search(params, index, q, k), z, k, chunk_size, progress
    )
