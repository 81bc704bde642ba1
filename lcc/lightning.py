"""Latent cluster correction for PyTorch Lightning (optional extra ``lightning``).

A thin client of :class:`lcc.training.LCCCallback`: the callback runs the
capture pass and the correction step at ``on_train_epoch_start``, logs each
layer's statistics through the module's logger, and keeps its targets in
Lightning checkpoints. The module adds the LCC term itself, in
``training_step``, the one place Lightning users write their loss; the
:class:`LCCMixin` gives it ``self.lcc_loss(index, y)``::

    class Classifier(LCCMixin, lightning.LightningModule):
        def training_step(self, batch, batch_idx):
            x, y, index = batch                     # a loader over lcc.training.IndexedDataset
            logits = self(x)                        # forward first: the hooks see the latents
            loss = cross_entropy(logits, y) + self.lcc_loss(index, y)
            ...

    trainer = lightning.Trainer(callbacks=[LCCLightningCallback(["fc1"], train_set, weight=1e-2)])

An explicit term keeps the loss visible where it is computed (nothing is added
behind the user's back), and before the first correction epoch it is 0.
Under Lightning's DDP strategies the ranks share the capture pass and receive
the targets of rank 0's clustering (:mod:`lcc.training.ddp`).

:class:`BRBLightningCallback`, the Lightning face of :class:`lcc.deep.BRBCallback`,
applies BRB (soft reset, reclustering, centroid optimizer-state reset) at epoch
ends to a user's centroid model: the LightningModule is a
:class:`lcc.deep.brb.ResettableClusterer` (``encoder``, ``embedding_layer``,
``n_clusters``, ``n_samples``, ``embed(indices)``, ``set_centers(c)``,
``center_parameters()``); the optimizer and the number of epochs come from the
trainer. Under DDP every rank applies BRB (``embed`` should embed the whole
training set, not the rank's shard) and then takes rank 0's parameters, so the
replicas stay identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import Dataset

from lcc.deep import BRBCallback as _BRB
from lcc.training import LCCCallback as _LCC
from lcc.training.callback import check_options
from lcc.training.ddp import broadcast_module, is_distributed

__all__ = ["BRBLightningCallback", "LCCLightningCallback", "LCCMixin"]


class LCCLightningCallback(pl.Callback):
    """Lightning callback for LCC on ``layers`` of the module: the Lightning face of
    :class:`lcc.training.LCCCallback` (the plain-PyTorch callback), which it wraps as ``core``;
    ``**options`` as there (``weight``, ``k``, ``warmup``, ``method``, …), checked here, at
    construction, by the same rules (:func:`lcc.training.callback.check_options`)."""

    def __init__(self, layers: Sequence[str], train_set: Dataset, **options: Any):
        check_options(options)
        self.layers, self.train_set, self.options = list(layers), train_set, options
        self.core: _LCC | None = None
        self._pending: dict[str, Any] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.core is not None:
            return
        self.core = _LCC(pl_module, self.layers, self.train_set, **self.options)
        if self._pending is not None:
            self.core.load_state_dict(self._pending)
            self._pending = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Clusters and targets when the epoch is a correction epoch; statistics logged."""
        training = pl_module.training
        stats = self.core.on_epoch_start(trainer.current_epoch)
        pl_module.train(training)
        flat = {"lcc/correction_time_s": float(stats.pop("correction_time_s", 0.0))}
        for layer, values in stats.items():
            flat |= {f"lcc/{layer}/{k}": float(v) for k, v in values.items()}
        if len(flat) > 1:
            pl_module.log_dict(flat, on_step=False, on_epoch=True)

    def loss(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``w · Σ_layers L_clst`` for the batch with dataset ``indices`` (after forward);
        ``labels`` as :meth:`lcc.training.LCCCallback.loss` (needed by ``capture="online"``)."""
        return self.core.loss(indices, labels)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.core is not None:
            self.core.close()
            self.core = None

    def state_dict(self) -> dict[str, Any]:
        return {} if self.core is None else self.core.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return
        if self.core is None:
            self._pending = state_dict
        else:
            self.core.load_state_dict(state_dict)


class LCCMixin:
    """``self.lcc_loss(index, labels)``: the LCC term of the trainer's :class:`LCCLightningCallback`
    (0 when there is none); ``labels`` only matter with ``capture="online"``."""

    def lcc_loss(self, index: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        for callback in self.trainer.callbacks:
            if isinstance(callback, LCCLightningCallback) and callback.core is not None:
                return callback.loss(index, labels)
        return torch.zeros((), device=self.device)


class BRBLightningCallback(pl.Callback):
    """Lightning callback for BRB at the end of every ``interval``-th epoch (never after the
    last): the Lightning face of :class:`lcc.deep.BRBCallback` (the plain-PyTorch callback),
    which it wraps as ``core``; ``**options`` as there (``alpha``, ``interval``, ``subsample``,
    ``seed``, …)."""

    def __init__(self, **options: Any):
        self.core = _BRB(**options)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The module and the options checked against each other before the first epoch
        (:meth:`lcc.deep.BRBCallback.on_fit_start`)."""
        clusterer = self._clusterer(trainer, pl_module)
        self.core.on_fit_start(clusterer, clusterer.n_samples)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        clusterer = self._clusterer(trainer, pl_module)
        training = pl_module.training
        if self.core.on_epoch_end(trainer.current_epoch, clusterer):
            if is_distributed():  # every rank reset alike; rank 0's result is the one kept
                broadcast_module(pl_module)
            pl_module.log("brb/reset", 1.0, on_step=False, on_epoch=True)
        pl_module.train(training)

    @staticmethod
    def _clusterer(trainer: pl.Trainer, pl_module: pl.LightningModule) -> Any:
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        return _ResettableLightningModule(pl_module, optimizer, trainer.max_epochs)

    def state_dict(self) -> dict[str, Any]:
        return self.core.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.core.load_state_dict(state_dict)


class _ResettableLightningModule:
    """The LightningModule as a :class:`lcc.deep.brb.ResettableClusterer`: its own members,
    with the trainer's optimizer and number of epochs."""

    def __init__(self, module: Any, optimizer: Any, n_epochs: int | None):
        self.module, self.optimizer = module, optimizer
        self.n_epochs = n_epochs if n_epochs is not None and n_epochs > 0 else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)
