"""k-Means and truncated SVD of latents sharded by samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._backend import move
from lcc._dispatch import register_sharded
from lcc.sharded._plumbing import by_rows, client_or_none, device_meta, like_rows, on_gpu


@register_sharded("kmeans")
def kmeans(z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float):
    """``(labels, centers)``: labels a Dask array chunked like ``z``, centers local."""
    from lcc.kmeans import kmeans as single

    client = client_or_none()
    z = by_rows(z)
    if client is not None and on_gpu(z):
        from cuml.dask.cluster import KMeans

        from lcc.backends.gpu import kmeans_scale

        scale = kmeans_scale(z)  # cuVS's tol is absolute: fit z / scale (same partition)
        z_scaled = client.persist(z / scale)
        model = KMeans(
            client=client,
            n_clusters=n_clusters,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            random_state=seed,
            init="scalable-k-means++",
        )
        model.fit(z_scaled)
        # cuML's predict has unknown chunk sizes and a float meta
        labels = device_meta(model.predict(z_scaled).astype("int64"))
        labels = labels.compute_chunk_sizes().rechunk({0: z.chunks[0]})
        return client.persist(labels), model.cluster_centers_ * scale
    result = single(z.compute(), n_clusters, seed=seed, n_init=n_init, max_iter=max_iter, tol=tol)
    return like_rows(result.labels, z.chunks[0], client), result.centers


@register_sharded("truncated_svd")
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
    s, vt = s.compute(), vt.compute()
    # the sign convention of lcc.spectral._flip_signs: largest-|·| entry of each U column > 0
    column = move(abs(u).argmax(axis=0).compute(), "cpu")  # k ints: vindex wants numpy
    largest = move(u.vindex[column, np.arange(k)].compute(), "cpu")
    signs = np.where(largest < 0, -1, 1).astype(largest.dtype)
    if on_gpu(matrix):  # the chunks' kind, whatever kind dask's vindex gathered into
        signs = move(signs, "gpu")
    return u * signs[None, :], s, vt * signs[:, None]
