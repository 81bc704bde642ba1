"""Collect latent representations of named submodules with forward hooks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from lcc.models import check_layers

__all__ = ["IndexedDataset", "LatentCapture", "LatentRecord", "unpack_batch"]


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
        layers = check_layers(model, layers)
        modules = dict(model.named_modules())
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

    def collect(
        self,
        model: nn.Module,
        dataset: Dataset,
        *,
        batch_size: int | None = None,
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
        device = torch.device(device) if device else next(model.parameters()).device
        record = LatentRecord(
            len(dataset),  # type: ignore[arg-type]
            device,
            max_in_memory_bytes=max_in_memory_bytes,
            store_dir=store_dir,
        )
        self.fill(
            record,
            model,
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            progress=progress,
        )
        return record.finish()

    @torch.inference_mode()
    def fill(
        self,
        record: LatentRecord,
        model: nn.Module,
        dataset: Dataset,
        *,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
        num_workers: int = 0,
        progress: bool = False,
    ) -> None:
        """Write the latents of ``dataset`` (or of its rows ``indices``) into ``record``,
        in eval mode under ``torch.inference_mode``; on CUDA with autocast (bfloat16
        where supported) and channels-last images, the fast inference settings.
        ``batch_size`` defaults to :func:`capture_batch_size` of the record's device."""
        from tqdm.auto import tqdm

        device = record.device
        rows: Dataset = IndexedDataset(dataset)  # yields the index in the whole data set
        if indices is not None:
            rows = Subset(rows, list(indices))
        loader = DataLoader(
            rows,
            batch_size=capture_batch_size(device) if batch_size is None else batch_size,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
        )
        was_training = model.training
        model.eval()
        try:
            for batch in tqdm(loader, desc="capturing latents", disable=not progress, leave=False):
                x, y, index = unpack_batch(batch)
                x = x.to(device, non_blocking=True)
                with _fast_inference(device):
                    if x.dim() == 4 and device.type == "cuda":
                        x = x.contiguous(memory_format=torch.channels_last)
                    logits = model(x)
                record.write(index, {name: self.outputs[name] for name in self.layers}, y, logits)
        finally:
            model.train(was_training)


class LatentRecord:
    """What a capture gathers over a data set of ``n`` samples, by dataset index.

    Each layer's flattened latents go to an in-memory :class:`lcc.LatentBuffer`
    (or, past ``max_in_memory_bytes``, an on-disk :class:`lcc.staging.LatentStore`),
    created on the first write; ``labels`` and the argmax ``predictions`` of the
    model's output are ``(n,)`` tensors (−1 where unknown); ``seen`` marks the
    rows written so far. Filled by a capture pass (:meth:`LatentCapture.fill`) or,
    with ``capture="online"``, by the training steps themselves.
    """

    def __init__(
        self,
        n: int,
        device: torch.device,
        *,
        max_in_memory_bytes: int | None = None,
        store_dir: Any = None,
    ):
        self.n, self.device = n, torch.device(device)
        self.max_in_memory_bytes, self.store_dir = max_in_memory_bytes, store_dir
        self.buffers: dict[str, Any] = {}
        self.labels = torch.full((n,), -1, dtype=torch.long, device=self.device)
        self.predictions = torch.full((n,), -1, dtype=torch.long, device=self.device)
        self.seen = torch.zeros(n, dtype=torch.bool, device=self.device)
        self._finite: dict[str, torch.Tensor] = {}
        self._out_of_range = torch.zeros((), dtype=torch.bool, device=self.device)

    def write(
        self,
        index: Any,
        latents: dict[str, torch.Tensor],
        labels: Any,
        logits: Any = None,
        *,
        predictions: Any = None,
    ) -> None:
        """Rows ``index`` (dataset indices) of every layer, their labels and their
        ``predictions``, or those of ``logits`` when it is the ``(batch, classes)``
        model output."""
        from lcc.staging import latent_buffer, rows_on

        index = rows_on(index, self.n, self.device, self._out_of_range)  # no device sync
        for name, output in latents.items():
            z = output.detach().reshape(len(index), -1)
            if name not in self.buffers:
                self.buffers[name] = latent_buffer(
                    self.n,
                    z.shape[1],
                    device=self.device,
                    max_in_memory_bytes=self.max_in_memory_bytes,
                    store_dir=self.store_dir,
                    name=name,
                )
                self._finite[name] = torch.ones((), dtype=torch.bool, device=self.device)
            self.buffers[name].write(index, z.float())
            self._finite[name] &= torch.isfinite(z).all()  # no sync: checked in finish()
        self.labels[index] = torch.as_tensor(labels).to(self.device, non_blocking=True).long()
        if torch.is_tensor(logits) and logits.dim() == 2 and len(logits) == len(index):
            predictions = logits.detach().argmax(dim=1)
        if predictions is not None:
            self.predictions[index] = torch.as_tensor(predictions).to(
                self.device, non_blocking=True
            )
        self.seen.index_fill_(0, index, True)  # no device sync (index_put_ of a scalar waits)

    def written(self) -> torch.Tensor:
        """The dataset indices written so far, ascending (on the host)."""
        return torch.nonzero(self.seen).flatten().cpu()

    def rows(self, index: torch.Tensor | None = None) -> dict[str, Any]:
        """Rows ``index`` (default: every written one) on the host, for sending to another
        process: ``indices``, their ``latents`` (per layer, read from memory or from the
        on-disk store), ``labels`` and ``predictions``."""
        from lcc.staging import LatentStore

        index = self.written() if index is None else index.cpu()

        def read(buffer: Any) -> torch.Tensor:
            if isinstance(buffer, LatentStore):
                return torch.from_numpy(buffer.array.oindex[index.numpy()])
            return buffer.data[index.to(buffer.data.device)].cpu()

        on = index.to(self.device)
        return {
            "indices": index,
            "latents": {name: read(buffer) for name, buffer in self.buffers.items()},
            "labels": self.labels[on].cpu(),
            "predictions": self.predictions[on].cpu(),
        }

    def row_bytes(self) -> int:
        """Bytes of one row's latents over every layer (0 before the first write)."""
        return 4 * sum(buffer.shape[1] for buffer in self.buffers.values())

    def missing(self) -> list[int]:
        """Dataset indices not written yet."""
        return torch.nonzero(~self.seen).flatten().tolist()

    def finish(self) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
        """``(buffers, labels, predictions)`` once every row is written (``predictions`` None
        when the model's output was not ``(batch, classes)`` logits for every row);
        non-finite latents are an error naming the layer, an on-disk store is marked whole."""
        from lcc.staging import LatentStore, raise_out_of_range

        raise_out_of_range(self._out_of_range, self.n)
        for name, buffer in self.buffers.items():
            if not bool(self._finite[name]):
                raise FloatingPointError(f"the latents of layer {name!r} contain NaN or inf")
            if isinstance(buffer, LatentStore):
                buffer.finish()
        known = bool((self.predictions >= 0).all())
        return self.buffers, self.labels, self.predictions if known else None


def capture_batch_size(device: torch.device) -> int:
    """The capture pass's default batch: 512 on a GPU, which wants large batches; 64 on
    the CPU, where a batch's activations must stay in the cache (the benchmark's
    SmallCNN on 1,437 digits at 28 × 28, one thread: 0.14 s at 64, 0.47 s at 512)."""
    return 512 if device.type == "cuda" else 64


def _fast_inference(device: torch.device) -> Any:
    """Autocast for the capture pass on CUDA (bfloat16 where supported: float16's range
    can overflow large activations); nothing elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
