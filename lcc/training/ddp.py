"""The LCC correction step under ``torch.distributed`` (DDP): capture shared by rank, one
clustering, the targets on every rank.

Each rank captures the latents of its share of the training set, the dataset
indices ``rank, rank + world, …`` (whatever the training sampler, shuffled
``DistributedSampler`` included: the capture pass is separate from training);
the shares are gathered and put back in dataset-index order on rank 0, which
runs :func:`lcc.correct` on the whole set exactly as one process would; the
targets and correctible masks of every sample are broadcast to all ranks, so
each rank indexes them by the dataset indices of its own batches. Gathering
goes through ``all_gather_object`` / ``broadcast_object_list`` on host copies,
which works with the gloo and NCCL backends alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Subset

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
    on every rank and returns the per-layer statistics (the same on every rank)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    n = len(callback.train_set)
    share = Subset(callback.train_set, range(rank, n, world))
    buffers, labels, predictions = callback.capture.collect(
        callback.model, share, batch_size=callback.batch_size, progress=callback.progress
    )
    mine = {
        "latents": {name: b.data.cpu().numpy() for name, b in buffers.items()},
        "labels": labels.cpu().numpy(),
        "predictions": predictions.cpu().numpy(),
    }
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, mine)
    payload: list[Any] = [None]
    if rank == 0:
        payload = [_correct_whole_set(callback, parts, n)]
    dist.broadcast_object_list(payload, src=0)
    targets, stats = payload[0]
    device = next(callback.model.parameters()).device
    callback.targets = {
        name: (torch.from_numpy(t).to(device), torch.from_numpy(c).to(device))
        for name, (t, c) in targets.items()
    }
    return stats


def _in_index_order(parts: list[np.ndarray], n: int) -> np.ndarray:
    """Rank ``r`` holds dataset indices ``r, r + world, …``: interleave them back."""
    whole = np.empty((n, *parts[0].shape[1:]), dtype=parts[0].dtype)
    for rank, part in enumerate(parts):
        whole[rank :: len(parts)] = part
    return whole


def _correct_whole_set(callback: Any, parts: list[dict[str, Any]], n: int) -> tuple[Any, Any]:
    from lcc.correction import correct
    from lcc.staging import to_backend, to_torch

    def staged(arrays: list[np.ndarray]) -> Any:
        return to_backend(torch.from_numpy(_in_index_order(arrays, n)), callback.backend)

    y = staged([p["labels"] for p in parts])
    y_model = staged([p["predictions"] for p in parts])
    targets, stats = {}, {}
    for name in parts[0]["latents"]:
        step = correct(
            staged([p["latents"][name] for p in parts]),
            y,
            k=callback.k,
            method=callback.method,
            mode=callback.mode,
            resolution=callback.resolution,
            exact_knn=callback.exact_knn,
            seed=callback.seed,
            predictions=y_model,
        )
        targets[name] = tuple(to_torch(a).cpu().numpy() for a in (step.targets, step.correctible))
        stats[name] = step.stats
    return targets, stats
