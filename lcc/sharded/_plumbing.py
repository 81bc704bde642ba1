"""Dask plumbing shared by the sharded engine: the client, row blocks, per-worker stores.

The per-worker copies (a search structure, the correctly clustered samples)
live in a module-level store keyed by a random token and are dropped as soon
as the results are persisted.

Worker loss: Dask recomputes lost blocks of ordinary results itself, but a
per-worker store dies with its worker. Tasks that fill a store are pinned to
it, so :func:`wait_for` stops with :class:`WorkerLost` when a pinned worker
leaves (instead of waiting forever); a block task can run on any worker that
holds the whole store and fails with :class:`WorkerLost` on one that does not.
:func:`survive_worker_loss` reruns a whole step from its (recomputable) input
then, up to ``RETRIES`` times.

A worker that stays in the cluster but never answers is bounded too: every wait goes
through :mod:`lcc._waiting` (:func:`wait_for`, :func:`settled`, :func:`fetch`), which
gives up after the step's timeout with ``StepTimeout``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from lcc._backend import is_dask_array, is_gpu_array
from lcc._dispatch import here
from lcc._waiting import (
    WorkerLost,
    current_client,
    fetch,
    raise_failed,
    raise_if_gone,
    settled,
    wait_for,
    workers_of,
)

_STORE: dict[str, Any] = {}
_STORE_LOCK = threading.Lock()
RETRIES = 3
log = logging.getLogger(__name__)
T = TypeVar("T")


def survive_worker_loss(step: Callable[[], T]) -> T:
    """``step()``, rerun from its input when a Dask worker dies during it (at most
    ``RETRIES`` times); Dask recomputes the input's lost blocks from their graph."""
    from distributed import KilledWorker

    for attempt in range(1, RETRIES + 1):
        client = client_or_none()
        before = set(workers_of(client)) if client is not None else set()
        try:
            return step()
        except Exception as err:
            # a worker that died after its results were persisted leaves blocks that
            # Dask can no longer recompute (their store is gone): those surface as
            # cancelled futures, or as errors from inside distributed, not WorkerLost
            gone = client is not None and not before <= set(workers_of(client))
            if not (gone or isinstance(err, WorkerLost | KilledWorker)):
                raise
            log.warning("%s during a sharded step; rerunning it (%d/%d)", err, attempt, RETRIES)
            if client is not None:
                client.wait_for_workers(1)
    return step()


client_or_none = current_client


def on_gpu(z: Any) -> bool:
    """Whether a Dask array's chunks are cupy arrays."""
    return is_gpu_array(z._meta)


def device_meta(x: Any) -> Any:
    """``x`` with a cupy ``_meta``: cuML's Dask outputs are built with ``from_delayed``
    and no meta (cuML ``dask/common/input_utils.py``), so they claim numpy chunks
    while holding cupy ones, and everything downstream would take the CPU path."""
    import cupy as cp

    meta = cp.empty((0,) * x.ndim, dtype=x.dtype)
    return x.map_blocks(cp.asarray, dtype=x.dtype, meta=meta)


def row_starts(chunks: tuple[int, ...]) -> np.ndarray:
    """First row of every chunk, plus the total: ``[0, c0, c0 + c1, …, n]``."""
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def by_rows(z: Any) -> Any:
    """``z`` with its columns in one chunk (the engine shards samples only)."""
    return z.rechunk({1: -1}) if z.ndim == 2 and len(z.chunks[1]) > 1 else z


def like_rows(values: Any, row_chunks: tuple[int, ...], client: Any) -> Any:
    """A local numpy / cupy array as a Dask array with the given row chunks."""
    import dask.array as da

    chunks = (row_chunks, *tuple((s,) for s in values.shape[1:]))
    meta = values[:0] if is_gpu_array(values) else None
    out = da.from_array(values, chunks=chunks, asarray=False, meta=meta, name=False)  # no hashing
    return client.persist(out) if client is not None else out


def _block_keys(z: Any) -> list[Any]:
    from dask.core import flatten

    return list(flatten(z.__dask_keys__()))


def broadcast(client: Any, z: Any, factory: Any, *args: Any) -> tuple[str, list[str]]:
    """Build ``factory(*args)`` on every worker and feed it ``z``'s blocks, one at a time.

    Per worker a chain of tasks: create the structure, then add block 0, 1, …
    each after the previous. A block owned by another worker travels as a
    throw-away copy made on its owner just in time (after the previous add),
    so Dask releases it once added instead of keeping a replica: a worker
    holds the latents once — in the structure — plus about one block in
    flight. Returns the store token and the workers.
    """
    from distributed import futures_of

    token = uuid.uuid4().hex
    wait_for(client, futures_of(z), [])
    by_key = {f.key: f for f in futures_of(z)}
    owners = client.who_has(z)
    keys, starts = _block_keys(z), row_starts(z.chunks[0])[:-1].tolist()
    workers = workers_of(client)
    pinned = {"allow_other_workers": False, "pure": False}
    ends = []
    for w in workers:
        step = client.submit(_create, token, factory, args, workers=[w], **pinned)
        for key, start in zip(keys, starts, strict=True):
            block = by_key[key]
            if w not in owners[key]:
                block = client.submit(_copy, block, step, workers=list(owners[key]), **pinned)
            step = client.submit(_add, token, block, start, step, workers=[w], **pinned)
        ends.append(step)
    try:
        wait_for(client, ends, workers)
        raise_failed(ends)
        raise_if_gone(client, workers)  # died after its share was built: the store went too
    except BaseException:
        release(client, token)
        raise
    return token, workers


def _create(token: str, factory: Any, args: tuple) -> None:
    with _STORE_LOCK:
        _STORE[token] = factory(*args)


def _copy(block: Any, _after: None) -> Any:
    return block.copy()


def _add(token: str, block: Any, start: int, _after: None) -> None:
    lookup(token).add(np.asarray(block), int(start))


def lookup(token: str) -> Any:
    try:
        return _STORE[token]
    except KeyError:
        raise WorkerLost(
            "this Dask worker holds no copy of the search structure (it joined the "
            "cluster after the broadcast, or the step is over); rerun the call"
        ) from None


def release(client: Any, token: str) -> None:
    client.run(_drop, token)


def _drop(token: str) -> None:
    with _STORE_LOCK:
        _STORE.pop(token, None)


def map_rows(client: Any, workers: list[str], fn: Any, arrays: list, outputs: list, *args):
    """``fn(*blocks, start, *args)`` on every row block of ``arrays`` (same row chunks),
    one Dask array per ``(trailing_shape, dtype)`` of ``outputs``, persisted on ``workers``."""
    import dask
    import dask.array as da

    rows = arrays[0].chunks[0]
    starts = row_starts(rows)
    blocks = zip(*(a.to_delayed().ravel() for a in arrays), strict=True)
    meta = arrays[0]._meta
    # each block's task runs where its latents already are (a persisted array), so no
    # worker receives, and keeps, a replica of another worker's block; if that worker
    # dies, any other of ``workers`` (each holds the whole store) takes the task
    owners = client.who_has(arrays[0])
    parts = []
    for key, bs, start in zip(_block_keys(arrays[0]), blocks, starts[:-1], strict=True):
        near = [w for w in owners.get(key, ()) if w in workers] or workers
        with dask.annotate(workers=near, allow_other_workers=True):
            parts.append(dask.delayed(fn, nout=len(outputs), pure=False)(*bs, int(start), *args))
    results = []
    for j, (trailing, dtype) in enumerate(outputs):
        pieces = [
            da.from_delayed(part[j], shape=(r, *trailing), dtype=dtype, meta=meta[:0].astype(dtype))
            for part, r in zip(parts, rows, strict=True)
        ]
        results.append(da.concatenate(pieces, axis=0))
    return settled(client, client.persist(results))


def local(z: Any, fn: Any) -> Any:
    """No cluster: compute ``z`` here, run ``fn`` on it, return Dask arrays chunked alike."""
    out = fn(z.compute())
    if isinstance(out, tuple):
        return tuple(like_rows(o, z.chunks[0], None) for o in out)
    return like_rows(out, z.chunks[0], None)


def gather(x: Any) -> Any:
    """A Dask array as one local array in this process (CSR row blocks as one CSR matrix);
    local arrays pass through."""
    if not is_dask_array(x):
        return x
    out = fetch(x)
    sparse = here(out).sparse
    return sparse.csr_matrix(out) if sparse.issparse(out) else out
