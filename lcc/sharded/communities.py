"""Communities of a sharded k-NN graph: ``cugraph.dask.leiden`` on GPU workers, else the
single-process detection on the graph gathered to this process."""

from __future__ import annotations

from typing import Any

from lcc._dispatch import place
from lcc._waiting import bounded
from lcc.backends import dask_gpu
from lcc.kernels import graph as kernels
from lcc.sharded._plumbing import client_or_none, gather, like_rows, on_gpu


def communities(
    algorithm: str, adjacency: Any, *, resolutions: tuple[float, ...], seed: int, n_runs: int
) -> list[Any]:
    """Leiden / Louvain labels per resolution, Dask arrays chunked like the graph's rows."""
    client = client_or_none()
    if client is not None and on_gpu(adjacency) and algorithm == "leiden":
        options = {"resolutions": resolutions, "seed": seed}
        partitions = bounded("cuGraph's Dask Leiden", dask_gpu.leiden, adjacency, **options)
    else:  # igraph is single-process: the graph is gathered here
        a = gather(adjacency)
        on = place(a)  # where this process computes (a backend= / $LCC_BACKEND choice holds)
        a = kernels.checked_adjacency(on, on.to(a))
        options = {"resolutions": resolutions, "seed": seed, "n_runs": n_runs}
        partitions = [on.back(p) for p in kernels.communities(on, algorithm, a, **options)]
    return [like_rows(labels, adjacency.chunks[0], client) for labels in partitions]
