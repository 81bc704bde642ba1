"""Epoch checkpoints of a deep estimator's ``fit``, and going on from one.

``fit(X, y, on_checkpoint=save)`` hands ``save`` a :class:`lcc.checkpoint.Checkpoint`
at the end of every epoch of every phase (e.g. ``"pretrain"``, ``"cluster"``);
``fit(X, y, resume=checkpoint)`` goes on from the epoch after it and ends as an
uninterrupted ``fit`` would (CPU, bit for bit). A checkpoint holds the phase
and epoch, the ``state_dict`` of every object the phase trains (network,
cluster head, optimizer), the loop's own variables, the estimator's batch-order
generator and the global RNGs, each callback's ``state_dict`` (BRB's resets)
and ``history_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lcc.checkpoint import Checkpoint, flatten, restore_rng, rng_state, unflatten

__all__ = ["Tensors", "as_tensor", "restore_point", "save_point"]


class Tensors:
    """Bare tensors (e.g. a centre matrix held as an ``nn.Parameter``) with the
    ``state_dict`` / ``load_state_dict`` pair a checkpoint needs; loaded in place."""

    def __init__(self, **tensors: torch.Tensor):
        self.tensors = tensors

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.tensors.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for key, value in self.tensors.items():
                value.copy_(state[key])


def save_point(est: Any, phase: str, epoch: int, objects: dict[str, Any], loop: dict) -> None:
    """Hand ``est``'s state after ``epoch`` of ``phase`` to its ``on_checkpoint`` (if any)."""
    save = getattr(est, "_on_checkpoint", None)
    if save is None:
        return
    ck = Checkpoint(meta={"phase": phase, "epoch": epoch, "history": est.history_})
    for name, obj in objects.items():
        ck.meta[f"state/{name}"] = flatten(obj.state_dict(), f"state/{name}", ck.tensors)
    ck.meta["loop"] = flatten(loop, "loop", ck.tensors)
    ck.meta["batch_rng"] = est._rng.bit_generator.state
    callbacks = getattr(est, "callbacks", None) or ()
    ck.meta["callbacks"] = [
        flatten(cb.state_dict(), f"callbacks/{i}", ck.tensors)
        if hasattr(cb, "state_dict")
        else None
        for i, cb in enumerate(callbacks)
    ]
    rng_state(ck)
    save(ck)


def restore_point(est: Any, phase: str, objects: dict[str, Any]) -> tuple[int, dict] | None:
    """If ``est`` resumes inside ``phase``: load ``objects`` and the RNGs; return the next
    epoch and the loop variables. None when the checkpoint is of another phase."""
    ck: Checkpoint | None = getattr(est, "_resume", None)
    if ck is None or ck.meta["phase"] != phase:
        return None
    for name, obj in objects.items():
        obj.load_state_dict(unflatten(ck.meta[f"state/{name}"], ck.tensors))
    loop = unflatten(ck.meta["loop"], ck.tensors)
    est._rng.bit_generator.state = ck.meta["batch_rng"]
    callbacks = getattr(est, "callbacks", None) or ()
    for cb, state in zip(callbacks, ck.meta["callbacks"], strict=True):
        if state is not None:
            cb.load_state_dict(unflatten(state, ck.tensors))
    est.history_ = [dict(r) for r in ck.meta["history"]]
    restore_rng(ck)
    est._resume = None  # used once
    return int(ck.meta["epoch"]) + 1, loop


def as_tensor(labels: np.ndarray) -> torch.Tensor:
    """A numpy label vector for a checkpoint's loop variables."""
    return torch.from_numpy(np.ascontiguousarray(labels))
