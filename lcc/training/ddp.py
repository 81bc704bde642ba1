"""The LCC correction step under ``torch.distributed`` (DDP): capture shared by rank, one
clustering, the targets on every rank.

Each rank captures the latents of its share of the training set, the dataset
indices ``rank, rank + world, …`` (whatever the training sampler, shuffled
``DistributedSampler`` included: the capture pass is separate from training),
or with ``capture="online"`` sends those its training steps recorded; the
shares are gathered and put back in dataset-index order on rank 0, which
runs :func:`lcc.correct` on the whole set exactly as one process would; the
targets and correctible masks of every sample are broadcast to all ranks, so
each rank indexes them by the dataset indices of its own batches. Gathering
goes through ``all_gather_object`` / ``broadcast_object_list`` on host copies,
which works with the gloo and NCCL backends alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "MESSAGE_BYTES",
    "broadcast_module",
    "correct_across_ranks",
    "is_distributed",
    "share_dir",
]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Every parameter and buffer of ``module`` from rank ``src`` to all ranks, in place.

    For changes made outside the gradient step, which DDP does not synchronise
    (BRB's soft reset and reclustering): identical inputs would give identical
    results on every rank, but a nondeterministic kernel (GPU k-Means, atomics)
    or a rank-local random draw would silently split the replicas."""
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            dist.broadcast(tensor.data, src=src)


def correct_across_ranks(callback: Any) -> dict[str, Any]:
    """:meth:`lcc.training.LCCCallback._correct` for a process group; fills ``callback.targets``
    on every rank and returns the per-layer statistics (the same on every rank).

    Each rank sends the rows it holds: with ``capture="online"`` those its own
    training steps recorded, else those of a capture pass over its share
    ``rank, rank + world, …``. Rank 0 writes them into one record by dataset
    index, captures any sample no rank holds, and corrects the whole set. Past
    ``max_in_memory_bytes`` each rank's share is an on-disk store of its own
    (``store_dir/rank<r>``) and the whole one rank 0's (``store_dir``): the rows go
    to rank 0 in messages of at most :data:`MESSAGE_BYTES`, so no process ever holds
    more than its store's chunks and one message per rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    record = callback.record if callback.capture_mode == "online" else None
    if record is None:
        record = callback.new_record()
        callback.capture_rows(record, range(rank, len(callback.train_set), world))
    whole = callback.new_record(whole=True) if rank == 0 else None
    for parts in _gathered_rows(record, rank, world):
        for part in parts:
            whole.write(
                part["indices"], part["latents"], part["labels"], predictions=part["predictions"]
            )
    payload: list[Any] = [None]
    if rank == 0:
        stats = callback.correct_record(callback.latents(whole))
        targets = {name: (t.cpu(), c.cpu()) for name, (t, c) in callback.targets.items()}
        payload = [(targets, stats)]
    dist.broadcast_object_list(payload, src=0)
    targets, stats = payload[0]
    device = next(callback.model.parameters()).device
    callback.targets = {name: (t.to(device), c.to(device)) for name, (t, c) in targets.items()}
    return stats


MESSAGE_BYTES = 64 * 2**20
"""The most latent bytes one rank sends rank 0 at a time when the shares are gathered."""


def _gathered_rows(record: Any, rank: int, world: int) -> Iterator[list[dict[str, Any]]]:
    """The ranks' written rows, in rounds of at most :data:`MESSAGE_BYTES` per rank: on rank
    0 each round's list of parts (one per rank that still had rows), elsewhere nothing."""
    written = record.written()
    per_message = max(1, MESSAGE_BYTES // max(record.row_bytes(), 1))
    counts: list[Any] = [None] * world
    dist.all_gather_object(counts, -(-len(written) // per_message))
    for round_ in range(max(counts)):
        index = written[round_ * per_message : (round_ + 1) * per_message]
        part = record.rows(index) if len(index) else None
        parts: list[Any] | None = [None] * world if rank == 0 else None
        dist.gather_object(part, parts, dst=0)
        if parts is not None:
            yield [p for p in parts if p is not None]


def share_dir(store_dir: Any, whole: bool) -> Any:
    """Where a record's on-disk stores go: ``store_dir`` itself in one process and for rank
    0's gathered whole, ``store_dir/rank<r>`` for a rank's own share (the ranks' stores
    never meet; without ``store_dir`` each store has a temporary folder of its own)."""
    if store_dir is None or whole or not is_distributed():
        return store_dir
    return Path(store_dir) / f"rank{dist.get_rank()}"
