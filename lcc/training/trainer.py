"""A plain PyTorch classification training loop, with an optional LCC callback.

SGD with momentum 0.9 and a cosine learning-rate schedule, as in the LCC
paper's fine-tuning; automatic mixed precision on CUDA. Every epoch appends
one flat record to the history: task loss, LCC loss, train / validation
accuracy, time, and the callback's per-layer clustering statistics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lcc.checkpoint import Checkpoint
from lcc.training.callback import LCCCallback
from lcc.training.capture import IndexedDataset, unpack_batch
from lcc.training.state import TrainingState

__all__ = ["evaluate", "train"]


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 512) -> float:
    """Classification accuracy of ``model`` on ``dataset`` (eval mode, restored after)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y, _ in DataLoader(IndexedDataset(dataset), batch_size=batch_size):
        pred = model(x.to(device)).argmax(dim=1).cpu()
        correct += int((pred == torch.as_tensor(y)).sum())
        total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def train(
    model: nn.Module,
    train_set: Dataset,
    *,
    epochs: int,
    lr: float = 0.01,
    batch_size: int = 64,
    weight_decay: float = 5e-4,
    val_set: Dataset | None = None,
    callback: LCCCallback | None = None,
    seed: int = 0,
    drop_last: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    resume: Checkpoint | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` in place for ``epochs`` epochs; return the per-epoch history.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits; trained on the device its parameters are on.
    train_set, val_set : Dataset
        Yield ``(x, y)`` or ``(x, y, index)``.
    epochs, lr, batch_size, weight_decay
        SGD (momentum 0.9, cosine annealing to 0 over all steps).
    callback : LCCCallback, optional
        Adds the LCC term; its statistics are logged with a ``<layer>/`` prefix.
    seed : int
        Seeds the shuffling of the training loader.
    drop_last : bool
        Drop the last incomplete batch (sample order stays aligned either way).
    on_epoch_end : callable, optional
        Called with each epoch's record (e.g. to write it to disk at once).
    on_checkpoint : callable, optional
        Called after every epoch with the loop's whole state
        (:class:`lcc.training.state.TrainingState`) to save.
    resume : Checkpoint, optional
        One such state: training goes on from the epoch after it, and ends as
        an uninterrupted run would (on CPU, bit for bit).
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        IndexedDataset(train_set),
        batch_size=batch_size,
        shuffle=True,
        drop_last=drop_last,
        generator=generator,
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, epochs * len(loader))
    )
    step = _Step(model, optimizer, scheduler, callback, device)
    state = TrainingState(model, optimizer, scheduler, step.scaler, generator, callback)
    first, history = state.restore(resume) if resume is not None else (0, [])
    for epoch in range(first, epochs):
        start = time.perf_counter()
        record: dict[str, Any] = {"epoch": epoch, "lr": scheduler.get_last_lr()[0]}
        if callback is not None:
            stats = callback.on_epoch_start(epoch)
            record["correction_time_s"] = stats.pop("correction_time_s", 0.0)
            for layer, values in stats.items():
                record |= {f"{layer}/{key}": value for key, value in values.items()}
        model.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        record |= step.epoch(bar, epoch)
        if val_set is not None:
            record["val_acc"] = evaluate(model, val_set)
        record["epoch_time_s"] = time.perf_counter() - start
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
        if on_checkpoint is not None:
            on_checkpoint(state.snapshot(epoch, history))
    return history


class _Step:
    """One optimisation step of the task loss (+ the LCC term), mixed precision on CUDA."""

    def __init__(self, model, optimizer, scheduler, callback, device) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.callback, self.device = callback, device
        self.use_amp = device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.criterion = nn.CrossEntropyLoss()

    def epoch(self, batches: Any, epoch: int) -> dict[str, float]:
        """Train on every batch; the epoch's mean task / LCC loss and training accuracy."""
        task_sum = lcc_sum = 0.0
        correct = seen = 0
        for batch in batches:
            x, y, index = unpack_batch(batch)
            x, y = x.to(self.device, non_blocking=True), torch.as_tensor(y).to(self.device)
            logits, task, lcc_term = self.step(x, y, index, epoch)
            task_sum += float(task.detach()) * len(y)
            lcc_sum += float(lcc_term.detach()) * len(y)
            correct += int((logits.argmax(dim=1) == y).sum())
            seen += len(y)
            if hasattr(batches, "set_postfix"):
                batches.set_postfix(loss=f"{task_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        seen = max(seen, 1)
        return {
            "task_loss": task_sum / seen,
            "lcc_loss": lcc_sum / seen,
            "train_acc": correct / seen,
        }

    def step(self, x, y, index, epoch: int):
        with torch.autocast(self.device.type, enabled=self.use_amp):
            logits = self.model(x)
            task = self.criterion(logits, y)
        callback = self.callback
        lcc_term = callback.loss(index, y) if callback is not None else task.new_zeros(())
        loss = task + lcc_term
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(
                f"epoch {epoch}: the loss became {float(loss.detach())} (task loss "
                f"{float(task.detach())}, LCC term {float(lcc_term.detach())}); the run "
                "diverged (the last checkpoint is kept): lower the learning rate"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return logits, task, lcc_term
