"""Leiden on a sharded k-NN graph: igraph on the gathered graph, or ``cugraph.dask.leiden``."""

from __future__ import annotations

from typing import Any

from lcc._dispatch import register_sharded
from lcc.sharded._plumbing import client_or_none, gather, like_rows, on_gpu, row_starts


@register_sharded("leiden")
def leiden(adjacency: Any, *, resolution: float, seed: int, n_runs: int) -> Any:
    """Leiden labels as a Dask array chunked like the graph's rows."""
    from lcc.graph import leiden as single

    client = client_or_none()
    if client is not None and on_gpu(adjacency):
        labels = _leiden_gpu(client, adjacency, resolution, seed)
    else:  # igraph is single-process: the graph is gathered here
        labels = single(gather(adjacency), resolution=resolution, seed=seed, n_runs=n_runs)
    return like_rows(labels, adjacency.chunks[0], client)


def _edges_block(block: Any, start: int) -> Any:
    """One CSR row block as a cuDF edge list (src < dst; cuGraph symmetrises)."""
    import cudf

    coo = block.tocoo()
    src = coo.row.astype("int64") + start
    dst = coo.col.astype("int64")
    keep = src < dst
    return cudf.DataFrame({"src": src[keep], "dst": dst[keep], "wgt": coo.data[keep]})


def _leiden_gpu(client: Any, adjacency: Any, resolution: float, seed: int) -> Any:
    """``cugraph.dask.leiden`` on a dask-cuDF edge list built from the row blocks."""
    import cudf
    import cugraph
    import dask
    import dask_cudf
    from cugraph.dask import leiden as dask_leiden
    from cugraph.dask.comms import comms

    from lcc.backends.gpu import labels_from_frame

    n = adjacency.shape[0]
    starts = row_starts(adjacency.chunks[0])
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
    result, _ = dask_leiden(graph, max_iter=100, resolution=resolution, random_state=seed)
    result = result.compute()
    return labels_from_frame(result["vertex"].to_cupy(), result["partition"].to_cupy(), n)
