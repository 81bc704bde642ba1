"""Latent cluster correction as a callback for any PyTorch training loop.

Three calls put LCC into a loop you already have::

    lcc_cb = LCCCallback(model, layers=["fc1"], train_set=train_set, weight=1e-2)
    for epoch in range(epochs):
        stats = lcc_cb.on_epoch_start(epoch)           # 1. clusters + targets when due
        for x, y, index in loader:                      #    a loader over IndexedDataset
            logits = model(x)                           #    hooks capture the latents
            loss = criterion(logits, y) + lcc_cb.loss(index, y)  # 2. the LCC term
            ...
    lcc_cb.close()                                      # 3. remove the hooks

At the start of every correction epoch (after ``warmup`` epochs, then every
``interval`` epochs) the callback gets every training sample's latents —
``capture="pass"``: one pass over the training set in eval mode;
``capture="online"``: those the hooks saw during the previous epoch's training
steps, at no extra cost — clusters each layer's latents with the engine (k-NN graph → Leiden
/ Louvain / k-NN pressure → matching, paper section III), and computes the
correction targets (:func:`lcc.correction_targets`). Between correction
epochs the last targets are reused, as in the paper.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.utils.data import Dataset

from lcc._validation import Bool, Choice, Int, Parameter, Real, check_k, check_values
from lcc.correction import STEP_PARAMETERS, Explosion, Method, Metric, correct, step_parameters
from lcc.losses import LCCLoss
from lcc.partition_guard import warn_once
from lcc.targets import Mode
from lcc.training.capture import LatentCapture, LatentRecord

__all__ = ["OPTIONS", "LCCCallback", "check_options"]

Capture = Literal["pass", "online"]

OPTIONS: Mapping[str, Parameter] = MappingProxyType(
    {
        "weight": Parameter(float, 1e-2, Real()),
        "warmup": Parameter(int, 1, Int(0)),
        "interval": Parameter(int, 1, Int(1)),
        "capture": Parameter(Capture, "pass", Choice(get_args(Capture))),
        "batch_size": Parameter(int | None, None, Int(1, optional=True)),
        "progress": Parameter(bool, False, Bool()),
        "max_in_memory_bytes": Parameter(int | None, None, Int(1, optional=True)),
    }
)
""":class:`LCCCallback`'s own options, declared once (type, default, rule): the callbacks
check them at construction and the ``lcc_finetune`` pipeline's ``lcc`` section is built from
them; the LCC step's (``k``, ``method``, …) are :data:`lcc.correction.STEP_PARAMETERS`."""


class LCCCallback:
    """Latent cluster correction for one or several layers of a model.

    Parameters
    ----------
    model : nn.Module
    layers : sequence of str
        Submodules whose (flattened) outputs are corrected.
    train_set : Dataset
        Yields ``(x, y)`` or ``(x, y, index)``; the capture pass runs over it.
    weight : float, default 1e-2
        ``w``: the LCC term added to the task loss is ``w · Σ_layers L_clst``.
    k : int, default 5
        Neighbours of the k-NN graph and of the exact targets.
    method : {"leiden", "louvain", "peer_pressure"}, default "leiden"
    mode : {"exact", "approximate", "orthogonal"}, default "exact"
    warmup : int, default 1
        Epochs without correction at the start.
    interval : int, default 1
        Epochs between re-clusterings.
    resolution : float or sequence of floats, default 1.0
        Modularity resolution of Leiden / Louvain; a sequence sweeps it (:func:`lcc.correct`).
    metric, max_cluster_ratio, max_singleton_share, on_explosion
        The latents' geometry and the explosion guard (:func:`lcc.correct`); a run warns
        at its first explosion.
    exact_knn : bool, default True
        Exact k-NN graph; ``False`` uses the approximate index (faiss IVF / cuVS
        CAGRA), the right choice from ~100,000 latents or d ≥ 256 on a CPU.
    capture : {"pass", "online"}, default "pass"
        Where the latents come from. ``"pass"``: a capture pass over the whole
        training set at the start of each correction epoch, in eval mode under
        ``torch.inference_mode`` (on CUDA with autocast and channels-last
        images). ``"online"``: the latents of the previous epoch's training
        forward passes, recorded by :meth:`loss` (which then needs the batch's
        ``labels``), so no extra pass. They are stale by up to one epoch (a
        sample's row was taken when its batch came, with the weights of that
        moment) and taken in train mode: dropout is active in them and BatchNorm
        normalised them with batch statistics, so with dropout they are noisier
        than an eval pass's. Samples the previous epoch did not see (the first
        correction epoch after ``warmup=0`` or a resume, ``drop_last``) are
        captured by a pass over those samples only.
    batch_size : int, optional
        Batch size of the capture pass; default 512 on a GPU, 64 on the CPU
        (:func:`lcc.training.capture.capture_batch_size`).
    seed : int, default 0
    class_selection : str, optional
        Correct only the classes the model confuses most (the LCC authors' policies
        ``"top_pair_N"``, ``"top_connected_N"``, ``"max_connected"``; see
        :func:`lcc.correct`), chosen each correction epoch from its predictions.
    backend : {"auto", "cpu", "gpu"}, optional
        Engine backend; default follows the model's device.
    progress : bool, default False
    scheduler : str, optional
        Run the correction step on a Dask cluster (:func:`lcc.distributed.cluster`:
        ``"local"``, ``"local-cuda"`` — one worker per GPU —, ``"auto"`` or a
        scheduler address), started on the first correction epoch and closed
        by :meth:`close`. The latents are sharded by samples across it.
    max_in_memory_bytes : int, optional
        Latents of a layer larger than this are captured to an on-disk zarr
        store and clustered from there as a Dask array (on the cluster if
        ``scheduler`` is set, else in this process); default: half the free
        memory of the model's device. The targets then stay in host memory.
    store_dir : str or Path, optional
        Where the on-disk stores go (default: a temporary directory).

    Notes
    -----
    The LCC step's parameters (:data:`lcc.correction.STEP_PARAMETERS`, ``k`` … ``on_explosion``)
    are kept in ``step`` and passed to :func:`lcc.correct`; every option is checked here
    (:func:`check_options`), before anything is built.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        train_set: Dataset,
        *,
        weight: float = 1e-2,
        k: int = 5,
        method: Method = "leiden",
        mode: Mode = "exact",
        warmup: int = 1,
        interval: int = 1,
        resolution: float | Sequence[float] = 1.0,
        exact_knn: bool = True,
        metric: Metric = "euclidean",
        max_cluster_ratio: float | None = 10.0,
        max_singleton_share: float | None = 0.5,
        on_explosion: Explosion = "warn",
        capture: Capture = "pass",
        batch_size: int | None = None,
        seed: int = 0,
        class_selection: str | None = None,
        backend: str | None = None,
        progress: bool = False,
        scheduler: str | None = None,
        max_in_memory_bytes: int | None = None,
        store_dir: Any = None,
    ):
        arguments = locals()  # the parameters: nothing else is bound yet
        self.step = check_options({name: arguments[name] for name in _KEYWORDS})
        check_k(self.step["k"], len(train_set), "k")  # now, not at the first correction
        self.model, self.train_set, self.weight = model, train_set, weight
        self.warmup, self.interval, self.capture_mode = warmup, interval, capture
        self.batch_size, self.backend, self.progress = batch_size, backend, progress
        if scheduler is not None:
            from lcc.distributed import resolve_scheduler

            resolve_scheduler(scheduler)  # a bad name fails here, not epochs later
        self.scheduler, self.store_dir = scheduler, store_dir
        self.max_in_memory_bytes = max_in_memory_bytes
        self._cluster = contextlib.ExitStack()
        self._client: Any = None
        self.capture = LatentCapture(model, layers)
        self.criterion = LCCLoss()
        self.targets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.active = False
        self._explosion_warned = False
        self.epoch = -1
        self.record: LatentRecord | None = None  # online: this epoch's training latents
        self._logits: Any = None
        self._output_hook = (
            model.register_forward_hook(self._keep_output) if capture == "online" else None
        )

    def _keep_output(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        self._logits = output

    def is_correction_epoch(self, epoch: int) -> bool:
        return epoch >= self.warmup and (epoch - self.warmup) % self.interval == 0

    def on_epoch_start(self, epoch: int) -> dict[str, Any]:
        """Recompute clusters and targets when ``epoch`` is a correction epoch.

        Returns per-layer statistics (empty outside correction epochs): number
        of clusters, modularity, MC fraction, correctible fraction, and the
        model's accuracy on all / CC / MC samples (eq. 9).
        """
        self.epoch = epoch
        if not self.is_correction_epoch(epoch):
            return {}
        from lcc.distributed import cluster
        from lcc.gpu_memory import release_cached

        start = time.perf_counter()
        if self.scheduler is not None and self._client is None:
            self._client = self._cluster.enter_context(cluster(self.scheduler))
        with _engine_device(self.model, self.backend):
            try:
                stats = self._correct()
            except FloatingPointError as err:
                raise FloatingPointError(
                    f"epoch {epoch}: {err}; the run diverged (the last checkpoint is kept)"
                ) from None
        self.record = None  # used; the next one starts with this epoch's steps
        release_cached()
        self.active = True
        stats["correction_time_s"] = time.perf_counter() - start
        return stats

    def _correct(self) -> dict[str, Any]:
        """Capture the latents, then :func:`lcc.correct` on every layer; targets back to torch.

        Under ``torch.distributed`` the ranks share the capture and rank 0 clusters
        (:mod:`lcc.training.ddp`)."""
        from lcc.training.ddp import correct_across_ranks, is_distributed

        if is_distributed():
            return correct_across_ranks(self)
        return self.correct_record(self.latents())

    def correct_record(self, record: LatentRecord) -> dict[str, Any]:
        """:func:`lcc.correct` on every layer of a whole ``record``; fills ``self.targets``
        (torch, on the latents' device) and returns the per-layer statistics."""
        from lcc._backend import backend_of, move
        from lcc.distributed import as_dask, resolve_scheduler, to_gpu_chunks
        from lcc.staging import LatentStore, to_backend, to_torch

        buffers, labels, predictions = record.finish()
        y = to_backend(labels, self.backend)
        y_model = None if predictions is None else to_backend(predictions, self.backend)
        cpu_workers = self._client is not None and resolve_scheduler(self.scheduler) == "local"
        if cpu_workers:  # a CPU cluster computes on the host, whatever the model's device
            y = move(y, "cpu")
            y_model = None if y_model is None else move(y_model, "cpu")
        stats: dict[str, Any] = {}
        for name, buffer in buffers.items():
            on_disk = isinstance(buffer, LatentStore)
            if on_disk:
                z = buffer.to_dask()  # numpy chunks read from zarr
                if backend_of(y) == "gpu":  # the engine runs where the labels are
                    z = to_gpu_chunks(z)
            else:
                z = buffer.to_backend(self.backend)
                if self._client is not None:
                    z = as_dask(move(z, "cpu") if cpu_workers else z)
            with warn_once(self._explosion_warned):  # the run's first explosion warns
                step = correct(z, y, **self.step, predictions=y_model)
            self._explosion_warned |= step.stats["exploded"]
            device = torch.device("cpu") if on_disk else buffer.data.device
            self.targets[name] = (
                to_torch(step.targets).to(device),
                to_torch(step.correctible).to(device),
            )
            stats[name] = step.stats
        return stats

    def latents(self, record: LatentRecord | None = None) -> LatentRecord:
        """Every sample's latents for a correction step: ``record`` or the online one with the
        samples it lacks captured by a pass, or (``capture="pass"``) one whole capture pass."""
        if record is None and self.capture_mode == "online":
            record = self.record
        if record is None:
            record = self.new_record()
        missing = record.missing()
        if missing:
            self.capture_rows(record, None if len(missing) == record.n else missing)
        return record

    def capture_rows(self, record: LatentRecord, indices: Sequence[int] | None = None) -> None:
        """A capture pass over the training samples ``indices`` (default: all) into ``record``."""
        options = {"indices": indices, "batch_size": self.batch_size, "progress": self.progress}
        self.capture.fill(record, self.model, self.train_set, **options)

    def new_record(self, *, whole: bool = False) -> LatentRecord:
        """An empty :class:`LatentRecord` of the training set on the model's device (its
        stores under DDP: :func:`lcc.training.ddp.share_dir`)."""
        from lcc.training.ddp import share_dir

        store_dir = share_dir(self.store_dir, whole)
        n, device, limit = len(self.train_set), _device_of(self.model), self.max_in_memory_bytes
        return LatentRecord(n, device, max_in_memory_bytes=limit, store_dir=store_dir)

    def loss(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``w · Σ_layers L_clst`` for the batch with dataset ``indices``; call after forward.

        Zero (and no graph) before the first correction epoch. With
        ``capture="online"`` it also records the batch's latents, ``labels`` and
        predictions for the next correction epoch, so ``labels`` is required then.
        """
        if self.capture_mode == "online" and self.model.training:
            self._record_batch(indices, labels)
        if not self.active or self.weight == 0:
            return torch.zeros((), device=_device_of(self.model))
        total = torch.zeros((), device=_device_of(self.model))
        for name, (targets, correctible) in self.targets.items():
            z = self.capture.outputs[name]
            index = indices.to(targets.device)
            target, mask = targets[index].to(z.device), correctible[index].to(z.device)
            total = total + self.criterion(z, target, mask)
        return self.weight * total

    def _record_batch(self, indices: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Online capture: keep this training step's latents when the next epoch corrects."""
        if not self.is_correction_epoch(self.epoch + 1):
            return
        if labels is None:
            raise ValueError(
                "capture='online' records the training latents with their labels: call "
                "loss(index, labels) with the batch's labels"
            )
        if self.record is None:
            self.record = self.new_record()
        outputs = {name: self.capture.outputs[name] for name in self.capture.layers}
        self.record.write(indices, outputs, labels, self._logits)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs: each layer's last targets and correctible mask."""
        tensors: dict[str, torch.Tensor] = {}
        on_host = {}
        for name, (targets, correctible) in self.targets.items():
            tensors[f"{name}/targets"], tensors[f"{name}/correctible"] = targets, correctible
            on_host[name] = targets.device.type == "cpu"
        return {"active": self.active, "on_host": on_host, "tensors": tensors}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (targets go back to the model's device, or the host)."""
        device = _device_of(self.model)
        self.targets = {}
        for name, on_host in state["on_host"].items():
            where = torch.device("cpu") if on_host else device
            self.targets[name] = (
                state["tensors"][f"{name}/targets"].to(where),
                state["tensors"][f"{name}/correctible"].to(where),
            )
        self.active = bool(state["active"])

    def close(self) -> None:
        """Remove the forward hooks from the model and close a cluster this callback started."""
        self.capture.remove()
        if self._output_hook is not None:
            self._output_hook.remove()
            self._output_hook = None
        self._cluster.close()
        self._client = None


_KEYWORDS = tuple(
    name
    for name, parameter in inspect.signature(LCCCallback).parameters.items()
    if parameter.kind is parameter.KEYWORD_ONLY
)


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check keyword options of :class:`LCCCallback` (all or some), as its constructor does:
    the step's by :data:`lcc.correction.STEP_PARAMETERS`, the callback's by :data:`OPTIONS`
    (an InvalidParameterError names the first bad one; an unknown name is a TypeError).
    Returns the step's parameters, defaults filled in: ``correct(z, y, **step)``."""
    unknown = sorted(set(options) - set(_KEYWORDS))
    if unknown:
        raise TypeError(f"LCCCallback takes no keyword arguments {unknown}; it takes {_KEYWORDS}")
    check_values(options, {name: option.rule for name, option in OPTIONS.items()})
    return step_parameters(**{n: v for n, v in options.items() if n in STEP_PARAMETERS})


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _engine_device(model: nn.Module, backend: str | None) -> Any:
    """cupy's current device = the model's (``cuda:1`` without ``torch.cuda.set_device``
    would otherwise run the engine on device 0 against arrays on device 1); nothing
    where the engine runs on the CPU (``backend="cpu"``: cupy need not be installed)."""
    from lcc._backend import requested_backend

    device = _device_of(model)
    if device.type != "cuda" or requested_backend(backend) not in ("auto", "gpu"):
        return contextlib.nullcontext()
    import cupy

    return cupy.cuda.Device(device.index or 0)
