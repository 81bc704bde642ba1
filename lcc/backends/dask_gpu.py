"""Multi-GPU: RAPIDS' Dask estimators on latents sharded across GPU workers.

The library calls of :mod:`lcc.sharded` on cupy chunks: ``cuml.dask``'s
brute-force ``NearestNeighbors`` and ``KMeans`` and ``cugraph.dask.leiden`` on a
dask-cuDF edge list. Inputs and outputs are Dask arrays; the Dask glue around
them (self removal per block, row chunks, persisting) stays in :mod:`lcc.sharded`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["kmeans", "knn", "leiden"]


def knn(client: Any, z: Any, k: int) -> tuple[Any, Any]:
    """``(distances, indices)`` of the ``k`` nearest rows of every row of ``z`` (itself
    included; Euclidean, not squared), Dask arrays with cuML's own chunks."""
    from cuml.dask.neighbors import NearestNeighbors

    model = NearestNeighbors(client=client, n_neighbors=k)
    model.fit(z)
    return model.kneighbors(z, n_neighbors=k)


def kmeans(
    client: Any, z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float
) -> tuple[Any, Any]:
    """``(labels, centers)``: cuML's multi-GPU k-Means (scalable k-means++) of the Dask ``z``;
    labels a persisted Dask array with cuML's chunks and a float meta, centers a cupy array."""
    from cuml.dask.cluster import KMeans

    from lcc.backends.rapids_glue import kmeans_scale

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
    labels = client.persist(model.predict(z_scaled))  # computed while z_scaled is held
    return labels, model.cluster_centers_ * scale


def _edges_block(block: Any, start: int) -> Any:
    """One CSR row block as a cuDF edge list (src < dst; cuGraph symmetrises)."""
    import cudf

    coo = block.tocoo()
    src = coo.row.astype("int64") + start
    dst = coo.col.astype("int64")
    keep = src < dst
    return cudf.DataFrame({"src": src[keep], "dst": dst[keep], "wgt": coo.data[keep]})


def leiden(adjacency: Any, *, resolutions: tuple[float, ...], seed: int) -> list[Any]:
    """``cugraph.dask.leiden`` of a Dask array of CSR row blocks, per resolution: ``(n,)``
    cupy labels each, from one distributed graph."""
    import cudf
    import cugraph
    import dask
    import dask_cudf
    from cugraph.dask import leiden as dask_leiden
    from cugraph.dask.comms import comms

    from lcc.backends.rapids_glue import labels_from_frame

    n = adjacency.shape[0]
    starts = np.concatenate([[0], np.cumsum(adjacency.chunks[0])]).astype(np.int64)
    parts = [
        dask.delayed(_edges_block)(block, int(start))
        for block, start in zip(adjacency.to_delayed().ravel(), starts[:-1], strict=True)
    ]
    meta = cudf.DataFrame(
        {
            "src": cudf.Series([], dtype="int64"),
            "dst": cudf.Series([], dtype="int64"),
            "wgt": cudf.Series([], dtype="float32"),
        }
    )
    edges = dask_cudf.from_delayed(parts, meta=meta)
    if not comms.is_initialized():  # destroyed when lcc.distributed.cluster() closes
        comms.initialize(p2p=True)
    graph = cugraph.Graph(directed=False)
    graph.from_dask_cudf_edgelist(edges, source="src", destination="dst", edge_attr="wgt")
    partitions = []
    for resolution in resolutions:
        result, _ = dask_leiden(graph, max_iter=100, resolution=resolution, random_state=seed)
        result = result.compute()
        vertex, partition = result["vertex"].to_cupy(), result["partition"].to_cupy()
        partitions.append(labels_from_frame(vertex, partition, n))
    return partitions
