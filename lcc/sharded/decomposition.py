"""k-Means and truncated SVD of latents sharded by samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._backend import move
from lcc._dispatch import place
from lcc._waiting import bounded
from lcc.backends import dask_gpu
from lcc.sharded._plumbing import (
    by_rows,
    client_or_none,
    device_meta,
    fetch,
    like_rows,
    on_gpu,
)


def kmeans(z: Any, n_clusters: int, **options: Any) -> tuple[Any, Any]:
    """``(labels, centers)``: labels a Dask array chunked like ``z``, centers local."""
    client = client_or_none()
    z = by_rows(z)
    if client is not None and on_gpu(z):
        labels, centers = bounded("cuML's Dask KMeans", _kmeans_gpu, client, z, n_clusters, options)
        return client.persist(labels.rechunk({0: z.chunks[0]})), centers
    local = fetch(z)
    on = place(local)  # where this process computes (a backend= / $LCC_BACKEND choice holds)
    labels, centers = on.back(*on.impl.kmeans(on.to(local), n_clusters, **options))
    return like_rows(labels, z.chunks[0], client), centers


def _kmeans_gpu(client: Any, z: Any, n_clusters: int, options: dict[str, Any]):
    """cuML's multi-GPU k-Means; its predict's unknown chunk sizes computed, its float meta
    made int64's."""
    labels, centers = dask_gpu.kmeans(client, z, n_clusters, **options)
    return device_meta(labels.astype("int64")).compute_chunk_sizes(), centers


def truncated_svd(matrix: Any, k: int, *, seed: int) -> tuple[Any, Any, Any]:
    """Randomised SVD of a dense Dask array (``svd_compressed``, 4 power iterations)."""
    import dask.array as da

    client = client_or_none()
    state: Any = seed
    if on_gpu(matrix):  # an int seed draws numpy test-matrix chunks: cupy @ numpy fails
        import cupy as cp

        state = da.random.RandomState(seed, RandomState=cp.random.RandomState)
    u, s, vt = da.linalg.svd_compressed(
        by_rows(matrix), k, n_power_iter=4, seed=state, compute=False
    )
    if client is not None:
        u, s, vt = client.persist([u, s, vt])
    s, vt = fetch(s), fetch(vt)
    # the sign convention of lcc.kernels.spectral.flip_signs: largest-|·| entry of each U column > 0
    column = move(fetch(abs(u).argmax(axis=0)), "cpu")  # k ints: vindex wants numpy
    largest = move(fetch(u.vindex[column, np.arange(k)]), "cpu")
    signs = np.where(largest < 0, -1, 1).astype(largest.dtype)
    if on_gpu(matrix):  # the chunks' kind, whatever kind dask's vindex gathered into
        signs = move(signs, "gpu")
    return u * signs[None, :], s, vt * signs[:, None]
