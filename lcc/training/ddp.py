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

from typing import Any

import torch
import torch.distributed as dist

__all__ = ["broadcast_module", "correct_across_ranks", "is_distributed"]


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
    index, captures any sample no rank holds, and corrects the whole set."""
    rank, world = dist.get_rank(), dist.get_world_size()
    record = callback.record if callback.capture_mode == "online" else None
    if record is None:
        record = callback.new_record()
        callback.capture_rows(record, range(rank, len(callback.train_set), world))
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, record.rows())
    payload: list[Any] = [None]
    if rank == 0:
        whole = callback.new_record()
        for part in parts:
            whole.write(
                part["indices"], part["latents"], part["labels"], predictions=part["predictions"]
            )
        stats = callback.correct_record(callback.latents(whole))
        targets = {name: (t.cpu(), c.cpu()) for name, (t, c) in callback.targets.items()}
        payload = [(targets, stats)]
    dist.broadcast_object_list(payload, src=0)
    targets, stats = payload[0]
    device = next(callback.model.parameters()).device
    callback.targets = {name: (t.to(device), c.to(device)) for name, (t, c) in targets.items()}
    return stats
