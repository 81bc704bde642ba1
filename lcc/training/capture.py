"""Collect latent representations of named submodules with forward hooks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

__all__ = ["IndexedDataset", "LatentCapture", "unpack_batch"]


class IndexedDataset(Dataset):
    """Wraps a data set yielding ``(x, y)`` so that it yields ``(x, y, index)``.

    A data set that already yields ``(x, y, index)`` passes through unchanged.
    The index is what keeps every per-sample array aligned with the samples,
    whatever order a loader visits them in.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if len(item) == 3:
            return item
        x, y = item
        return x, y, index


def unpack_batch(batch: Sequence[Any]) -> tuple[Any, Any, Any]:
    """``(x, y, index)`` from a batch of an :class:`IndexedDataset` loader."""
    if len(batch) != 3:
        raise ValueError(
            "batches must be (x, y, index): wrap the data set in lcc.training.IndexedDataset"
        )
    return batch[0], batch[1], batch[2]


class LatentCapture:
    """Forward hooks that keep the latest output of named submodules.

    ``capture.outputs[name]`` is the output tensor of submodule ``name`` from
    the most recent forward pass (with its autograd graph in training).

    Parameters
    ----------
    model : nn.Module
    layers : sequence of str
        Names from ``model.named_modules()``, e.g. ``"layer4"`` or ``"fc.0"``.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str]):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must name at least one submodule")
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            known = ", ".join(repr(n) for n in modules if n)
            raise ValueError(f"unknown layer(s) {missing}; the model has: {known}")
        self.layers = layers
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = [modules[name].register_forward_hook(self._hook(name)) for name in layers]

    def _hook(self, name: str):
        def store(_module, _inputs, output):
            if isinstance(output, tuple | list):
                output = output[0]
            self.outputs[name] = output

        return store

    def remove(self) -> None:
        """Detach the hooks from the model."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> LatentCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    @torch.no_grad()
    def collect(
        self,
        model: nn.Module,
        dataset: Dataset,
        *,
        batch_size: int = 256,
        device: torch.device | str | None = None,
        num_workers: int = 0,
        progress: bool = False,
        max_in_memory_bytes: int | None = None,
        store_dir: Any = None,
    ) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
        """One pass over ``dataset`` in eval mode: latents, labels and predictions.

        Returns ``(buffers, labels, predictions)``: a :class:`lcc.LatentBuffer`
        per layer on the model's device, and ``(n,)`` label / argmax-prediction
        tensors, all indexed by dataset index. The model's train/eval mode is
        restored afterwards. A layer whose latents exceed
        ``max_in_memory_bytes`` (default: half the device's free memory) is
        written chunk by chunk to an on-disk :class:`lcc.staging.LatentStore`
        in ``store_dir`` instead (see :func:`lcc.staging.latent_buffer`).
        """
        from tqdm.auto import tqdm

        from lcc.staging import LatentStore, latent_buffer

        device = torch.device(device) if device else next(model.parameters()).device
        n = len(dataset)  # type: ignore[arg-type]
        loader = DataLoader(
            IndexedDataset(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers
        )
        buffers: dict[str, Any] = {}
        finite = {name: torch.ones((), dtype=torch.bool, device=device) for name in self.layers}
        labels = torch.full((n,), -1, dtype=torch.long, device=device)
        predictions = torch.full((n,), -1, dtype=torch.long, device=device)
        was_training = model.training
        model.eval()
        try:
            for batch in tqdm(loader, desc="capturing latents", disable=not progress, leave=False):
                x, y, index = unpack_batch(batch)
                index = index.to(device)
                logits = model(x.to(device))
                for name in self.layers:
                    z = self.outputs[name].reshape(x.shape[0], -1)
                    if name not in buffers:
                        buffers[name] = latent_buffer(
                            n,
                            z.shape[1],
                            device=device,
                            max_in_memory_bytes=max_in_memory_bytes,
                            store_dir=store_dir,
                            name=name,
                        )
                    buffers[name].write(index, z.float())
                    finite[name] &= torch.isfinite(z).all()  # no sync: checked after the pass
                labels[index] = torch.as_tensor(y, device=device).long()
                predictions[index] = logits.argmax(dim=1)
        finally:
            model.train(was_training)
        for name, buffer in buffers.items():
            if not bool(finite[name]):
                raise FloatingPointError(f"the latents of layer {name!r} contain NaN or inf")
            if isinstance(buffer, LatentStore):  # on disk: mark it whole
                buffer.finish()
        return buffers, labels, predictions
