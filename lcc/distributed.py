"""Dask clusters for the engine's Dask backend (:mod:`lcc.sharded`).

:func:`cluster` starts or joins the cluster a latent set is sharded across:
``LocalCUDACluster`` (dask-cuda, one worker per GPU) when GPUs are present,
a CPU ``LocalCluster`` otherwise, or an existing scheduler by its address.
:func:`as_dask` shards an in-memory latent matrix by samples. Dask is
imported only when these are called.

    >>> with lcc.distributed.cluster("local", n_workers=2) as client:
    ...     z = lcc.distributed.as_dask(latents)          # sharded by samples
    ...     graph = lcc.knn_graph(z, 10)                  # a Dask array of CSR row blocks
    ...     labels = lcc.leiden(graph)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from lcc._backend import gpu_available, is_dask_array, is_gpu_array
from lcc._waiting import (
    DEFAULT_STEP_TIMEOUT_S,
    StepTimeout,
    WorkerLost,
    check_step_timeout,
    current_client,
    step_timeout,
    step_timeout_of,
)

__all__ = [
    "DEFAULT_STEP_TIMEOUT_S",
    "SCHEDULERS",
    "StepTimeout",
    "WorkerLost",
    "as_dask",
    "cluster",
    "is_dask_array",
    "resolve_scheduler",
    "step_timeout",
]

log = logging.getLogger(__name__)
SCHEDULERS = ("auto", "local", "local-cuda")
# each local-cuda worker's RMM pool, a fraction of its GPU: half, since the training process
# shares the first GPU with its worker (pass rmm_pool_size= to change it, None for no pool)
CUDA_WORKER_POOL = 0.5


def resolve_scheduler(scheduler: str) -> str:
    """``"auto"`` → ``"local-cuda"`` with a usable GPU, else ``"local"``; addresses pass."""
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise TypeError(
            f"scheduler must be 'auto', 'local', 'local-cuda' or a scheduler address, "
            f"got {scheduler!r}"
        )
    if scheduler == "auto":
        return "local-cuda" if gpu_available() else "local"
    if scheduler in SCHEDULERS or "://" in scheduler or ":" in scheduler:
        return scheduler
    raise ValueError(
        f"scheduler={scheduler!r} is neither 'auto', 'local', 'local-cuda' nor an address "
        "such as 'tcp://10.0.0.5:8786'"
    )


@contextlib.contextmanager
def cluster(
    scheduler: str = "auto",
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | float | None = "auto",
    dashboard: bool = False,
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    **cluster_kwargs: Any,
) -> Iterator[Any]:
    """Start (or join) a Dask cluster and yield a ``distributed.Client`` to it.

    Parameters
    ----------
    scheduler : str, default "auto"
        ``"local"``: a ``distributed.LocalCluster`` of worker *processes* on this
        machine; ``"local-cuda"``: a ``dask_cuda.LocalCUDACluster`` with one
        worker per visible GPU (needs the ``gpu`` extra and a CUDA device);
        ``"auto"``: ``"local-cuda"`` when a GPU is usable, else ``"local"``;
        anything else is the address of a running scheduler
        (``"tcp://host:8786"``), which is joined and left running.
    n_workers, threads_per_worker, memory_limit
        Passed to the local cluster (ignored when joining an address). For
        ``"local"`` the default is two processes of one thread each on a
        2-core machine, i.e. Dask's own defaults.
    dashboard : bool, default False
        Serve the Dask dashboard (port 8787) for a local cluster.
    step_timeout_s : float, default 3600
        The longest one sharded step waits on the cluster inside the block: past it, a
        worker that never answers (hung in a native library, stopped, swapping) raises
        ``lcc.distributed.StepTimeout`` naming the workers still busy, instead of a hang.
    **cluster_kwargs
        Further arguments of ``LocalCluster`` / ``LocalCUDACluster``.

    The client becomes the default client while the block runs, so the
    engine's functions called on Dask arrays inside it use the cluster. On
    exit the client, and a cluster started here, are closed.
    """
    from distributed import Client

    step_timeout_s = check_step_timeout(step_timeout_s)  # before anything starts
    scheduler = resolve_scheduler(scheduler)
    options: dict[str, Any] = {"memory_limit": memory_limit, **cluster_kwargs}
    if not dashboard:
        options["dashboard_address"] = None
    if n_workers is not None:
        options["n_workers"] = n_workers
    if threads_per_worker is not None:
        options["threads_per_worker"] = threads_per_worker
    started = None
    if scheduler == "local":
        from distributed import LocalCluster

        started = LocalCluster(processes=True, **options)
    elif scheduler == "local-cuda":
        if not gpu_available():
            raise RuntimeError(
                "scheduler='local-cuda' needs a usable CUDA device (cupy.is_available() is "
                "False); use scheduler='local' for CPU workers"
            )
        from dask_cuda import LocalCUDACluster

        options.pop("threads_per_worker", None)  # one thread per GPU worker
        # an RMM pool per worker (dask-cuda's rmm_pool_size: a fraction of each GPU's memory);
        # without one every cuML / cuGraph / cupy allocation is a cudaMalloc and a cudaFree
        options.setdefault("rmm_pool_size", CUDA_WORKER_POOL)
        started = LocalCUDACluster(**options)
    client = Client(started if started is not None else scheduler)
    workers = client.scheduler_info(n_workers=-1)["workers"]
    log.info("Dask cluster %s: %d worker(s)", client.dashboard_link or scheduler, len(workers))
    try:
        with step_timeout_of(step_timeout_s):
            yield client
    finally:
        _destroy_cugraph_comms()
        client.close()
        if started is not None:
            started.close()


def _destroy_cugraph_comms() -> None:
    """End cuGraph's process-wide comms session (opened by the first multi-GPU Leiden):
    it is bound to this cluster's workers, and a later cluster would reuse it stale."""
    import sys

    if "cugraph.dask.comms.comms" not in sys.modules:
        return  # never imported, so never initialised
    from cugraph.dask.comms import comms

    if comms.is_initialized():
        comms.destroy()


def as_dask(z: Any, chunk_rows: int | None = None, *, n_chunks: int | None = None) -> Any:
    """A numpy / cupy latent matrix as a Dask array sharded by samples (rows).

    ``chunk_rows`` rows per chunk, or ``n_chunks`` equal chunks (default: two
    per worker of the current client, else 8). Columns are never split. With a
    client, the chunks are scattered to the workers (persisted) before return.
    """
    import dask.array as da

    if is_dask_array(z):
        return z.rechunk({1: -1}) if z.ndim == 2 else z
    n = int(z.shape[0])
    client = current_client()
    if chunk_rows is None:
        if n_chunks is None:
            n_chunks = 2 * len(client.scheduler_info(n_workers=-1)["workers"]) if client else 8
        chunk_rows = max(1, -(-n // max(1, n_chunks)))
    chunks = (chunk_rows, *tuple(-1 for _ in range(z.ndim - 1)))
    meta = None
    if is_gpu_array(z):
        import cupy

        meta = cupy.empty((0,) * z.ndim, dtype=z.dtype)
    # name=False: a random key; the default hashes z, which for cupy pickles it via the host
    out = da.from_array(z, chunks=chunks, asarray=False, meta=meta, name=False)
    return client.persist(out) if client is not None else out


def to_gpu_chunks(z: Any) -> Any:
    """A Dask array's numpy chunks as cupy chunks (each copied by the worker that holds it).

    For latents read from the on-disk store when the engine runs on GPUs: the
    result's ``_meta`` is cupy, so the engine's Dask backend takes its RAPIDS path.
    """
    import cupy

    if is_gpu_array(z._meta):
        return z
    meta = cupy.empty((0,) * z.ndim, dtype=z.dtype)
    return z.map_blocks(cupy.asarray, dtype=z.dtype, meta=meta)
