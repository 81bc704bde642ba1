"""Exact k-NN on the GPU with cupy alone: the cupy tier's search where cuVS is absent.

Queries are taken in row blocks; for each block one cuBLAS product
``[−2q, 1] · [b, ‖b‖²]ᵀ = ‖b‖² − 2 q·b`` over the whole base (which ranks the
base rows as ``‖q − b‖²`` does), a top-k selection of each row on the device,
and ``‖q‖²`` added to the ``k`` kept entries only. The block is as tall as
``chunk_size`` and a quarter of the free device memory (at most 2 GiB of
distances) allow, so each selection runs over whole rows and no partial
results need merging.

The top-k selection is ``torch.topk`` on a DLPack view of the block (torch is
a dependency of lcc; its radix select reads the block a few times, where
``cupy.argpartition`` sorts each row fully). Where torch cannot see the device
(a CPU build of torch beside cupy) it falls back to cupy's partition.

The CPU engine's self-join (each pair computed once, :mod:`lcc.backends.knn.cpu_exact`)
does not pay here: on the GPU the product is cheap and the selection dominates,
and a self-join has to select over columns as well as rows.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

MAX_BLOCK_BYTES = 2 << 30  # distances of one query block


def search(z: Any, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """All-k-NN of ``z`` (self included): squared L2 (float32), int64 ids."""
    return query(z, z, k, chunk_size=chunk_size, progress=progress)


def query(
    base: Any, queries: Any, k: int, *, chunk_size: int, progress: bool = False
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries``: squared L2, ids."""
    import cupy as cp

    base = cp.ascontiguousarray(base, dtype=cp.float32)
    queries = cp.ascontiguousarray(queries, dtype=cp.float32)
    keys = cp.concatenate([base, (base * base).sum(axis=1, keepdims=True)], axis=1)
    ones = cp.ones((queries.shape[0], 1), dtype=cp.float32)
    q_sq = (queries * queries).sum(axis=1)

    def nearest(start: int, stop: int) -> tuple[Any, Any]:
        block = cp.concatenate([-2 * queries[start:stop], ones[start:stop]], axis=1) @ keys.T
        d, i = smallest(block, k)
        return cp.maximum(d + q_sq[start:stop, None], 0), i

    return _in_blocks(nearest, queries.shape[0], base.shape[0], k, chunk_size, progress)


def query_minkowski(
    base: Any, queries: Any, k: int, *, p: float, chunk_size: int
) -> tuple[Any, Any]:
    """Exact ``k`` nearest rows of ``base`` for every row of ``queries`` in the ``p``-norm:
    ``‖x − y‖_p`` (float32, ascending per row) and int64 ids. Each block holds
    ``rows × len(base) × d`` differences, so blocks are sized by that."""
    import cupy as cp

    base = cp.ascontiguousarray(base, dtype=cp.float32)
    queries = cp.ascontiguousarray(queries, dtype=cp.float32)

    def nearest(start: int, stop: int) -> tuple[Any, Any]:
        diff = cp.abs(queries[start:stop, None, :] - base[None, :, :])
        block = diff.sum(axis=2) if p == 1 else (diff**p).sum(axis=2)
        d, i = smallest(block, k)
        return (d if p == 1 else d ** (1 / p)), i

    width = base.shape[0] * max(1, base.shape[1])
    return _in_blocks(nearest, queries.shape[0], width, k, chunk_size, False)


def _in_blocks(nearest, n: int, width: int, k: int, chunk_size: int, progress: bool):
    """``nearest(start, stop)`` over query blocks sized to the free device memory."""
    import cupy as cp

    free = cp.cuda.Device().mem_info[0]
    rows = max(1, min(chunk_size, n, min(free // 4, MAX_BLOCK_BYTES) // (4 * max(width, 1))))
    dist = cp.empty((n, k), dtype=cp.float32)
    idx = cp.empty((n, k), dtype=cp.int64)
    starts = range(0, n, rows)
    for start in tqdm(starts, desc="k-NN", disable=not progress, unit="block"):
        stop = min(start + rows, n)
        dist[start:stop], idx[start:stop] = nearest(start, stop)
    return dist, idx


def smallest(block: Any, k: int) -> tuple[Any, Any]:
    """The ``k`` smallest entries of each row of a cupy ``block``, ascending, with their
    column ids (int64): ``torch.topk`` on a zero-copy view, else cupy's partition."""
    import cupy as cp

    view = _torch_view(block)
    if view is not None:
        import torch

        values, ids = torch.topk(view, k, dim=1, largest=False, sorted=True)
        return cp.from_dlpack(values), cp.from_dlpack(ids).astype(cp.int64)
    part = cp.argpartition(block, k - 1, axis=1)[:, :k]
    values = cp.take_along_axis(block, part, axis=1)
    order = cp.argsort(values, axis=1)
    ids = cp.take_along_axis(part, order, axis=1)
    return cp.take_along_axis(values, order, axis=1), ids.astype(cp.int64)


def _torch_view(block: Any) -> Any:
    """A torch tensor sharing ``block``'s memory, or None where torch cannot see it."""
    import torch

    try:
        return torch.from_dlpack(block)
    except (RuntimeError, BufferError, TypeError, ValueError):
        return None
