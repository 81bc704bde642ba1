"""The training loop's state at the end of an epoch, as a :class:`lcc.checkpoint.Checkpoint`.

Everything :func:`lcc.training.train` needs to go on as if never stopped:
model, optimizer, LR scheduler, AMP grad scaler, the loader's shuffling
generator, the global RNGs (Python, numpy, torch, CUDA), the LCC callback's
targets, the epoch and the history so far.
"""

from __future__ import annotations

from typing import Any

from lcc.checkpoint import Checkpoint, flatten, restore_rng, rng_state, unflatten

__all__ = ["TrainingState"]


class TrainingState:
    """The objects of one :func:`~lcc.training.train` call that a checkpoint covers."""

    def __init__(self, model, optimizer, scheduler, scaler, generator, callback=None) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.scaler, self.generator, self.callback = scaler, generator, callback

    def snapshot(self, epoch: int, history: list[dict[str, Any]]) -> Checkpoint:
        """The state after ``epoch`` (0-based) finished."""
        ck = Checkpoint(meta={"epoch": epoch, "history": history})
        ck.put("model", self.model.state_dict())
        for name in ("optimizer", "scheduler", "scaler"):
            ck.meta[name] = flatten(getattr(self, name).state_dict(), name, ck.tensors)
        ck.tensors["rng/loader"] = self.generator.get_state()
        if self.callback is not None:
            ck.meta["callback"] = flatten(self.callback.state_dict(), "callback", ck.tensors)
        rng_state(ck)
        return ck

    def restore(self, ck: Checkpoint) -> tuple[int, list[dict[str, Any]]]:
        """Load ``ck``; return the next epoch to run and the history so far."""
        self.model.load_state_dict(ck.with_prefix("model"))
        for name in ("optimizer", "scheduler", "scaler"):
            getattr(self, name).load_state_dict(unflatten(ck.meta[name], ck.tensors))
        self.generator.set_state(ck.tensors["rng/loader"])
        if self.callback is not None and "callback" in ck.meta:
            self.callback.load_state_dict(unflatten(ck.meta["callback"], ck.tensors))
        restore_rng(ck)
        return int(ck.meta["epoch"]) + 1, [dict(r) for r in ck.meta["history"]]
