"""Snapshot Spectral Clustering (Piróg & Kwaśnicka 2023), a scikit-learn-style estimator.

One denoising autoencoder is trained with SGD under a cosine cyclic learning
rate (section II.A)::

    α(t) = α0 / 2 · (cos(π · mod(t − 1, ⌈T/M⌉) / ⌈T/M⌉) + 1)

for iterations ``t = 1 … T`` and ``M`` cycles; the encoder is saved at the
end of every cycle (a *snapshot*), so an ensemble of ``M`` encoders costs the
training budget of one. Each snapshot's embedding becomes a sparse landmark
affinity matrix and the ensemble is fused and clustered by
:func:`lcc.ssc_consensus` (sections II.B–C, Algorithm 1; ``metric="random"``
draws a different distance per member, SSC-RM, Algorithm 2).

Defaults are the paper's MNIST ones (Tables II and III): the convolutional
encoder 32-32-64 (strides 2-1-3, batch norm) → 256, cycles of 20 epochs,
α0 = 0.01, p = 350 landmarks, r = 3, ensemble of 6. The paper does not give
the input noise, batch size or SGD momentum; Gaussian noise of standard
deviation 0.2 (inputs in [0, 1]), batch 256 and momentum 0.9 are used.

``precision="bf16-mixed"`` runs the network's training forwards under bfloat16
autocast, the loss and the weights in float32 (:mod:`lcc.deep._precision`); the
snapshots' embeddings and the spectral consensus stay float32.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from torch import nn

from lcc._validation import Choice, Int, Ints, Real
from lcc.deep._base import DeepClusterer
from lcc.deep._checkpointing import restore_point, save_point
from lcc.deep._codes import encode_in_batches
from lcc.deep._optim import adam
from lcc.deep._precision import PRECISIONS, autocast, warn_if_slow
from lcc.deep.autoencoder import ConvAutoencoder, FeedForwardAutoencoder
from lcc.landmarks import METRICS

__all__ = ["SnapshotSpectralClustering", "cosine_cyclic_lr", "train_denoising_autoencoder"]


def cosine_cyclic_lr(t: int, lr_max: float, total_iterations: int, n_cycles: int) -> float:
    """The snapshot-ensemble learning rate at iteration ``t`` (1-based, section II.A).

    It restarts at ``lr_max`` on the first iteration of every cycle of
    ``⌈T / M⌉`` iterations and decays to almost 0 at the cycle's end.
    """
    if not 1 <= t <= total_iterations:
        raise ValueError(f"t must be in [1, {total_iterations}], got {t}")
    if n_cycles < 1:
        raise ValueError(f"n_cycles must be >= 1, got {n_cycles}")
    cycle = math.ceil(total_iterations / n_cycles)
    return lr_max / 2 * (math.cos(math.pi * ((t - 1) % cycle) / cycle) + 1)


def train_denoising_autoencoder(
    model: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    noise_std: float = 0.2,
    patience: int = 10,
    validation_fraction: float = 0.1,
    seed: int = 0,
    on_checkpoint: Any = None,
    resume: Any = None,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """The paper's DAE baselines: Adam with early stopping on a held-out reconstruction loss.

    Trains ``model`` (``forward(x) → (z, reconstruction)``) to reconstruct
    ``x`` from ``x + N(0, noise_std²)`` for at most ``epochs`` epochs and
    returns it with the weights of its best validation epoch, plus the
    per-epoch ``train_loss`` / ``val_loss`` history. ``x`` keeps its order.
    ``on_checkpoint`` receives a :class:`lcc.checkpoint.Checkpoint` after every
    epoch; ``resume`` goes on from one, ending as an uninterrupted run would.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(validation_fraction * len(x)))
    val, train = (torch.as_tensor(a, device=x.device) for a in (order[:n_val], order[n_val:]))
    optimizer = adam(model.parameters(), lr)
    state = _DAEState(model, optimizer, rng)
    first, (best, best_state, waited, history) = state.restore(resume)
    for epoch in range(first, epochs):
        model.train()
        total = 0.0
        for idx in torch.split(train[torch.as_tensor(rng.permutation(len(train)))], batch_size):
            xb = x[idx]
            loss = nn.functional.mse_loss(model(xb + noise_std * torch.randn_like(xb))[1], xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            val_loss = float(nn.functional.mse_loss(model(x[val])[1], x[val]))
        history.append({"epoch": epoch, "train_loss": total / len(train), "val_loss": val_loss})
        if val_loss < best:
            best, waited = val_loss, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        if on_checkpoint is not None:
            on_checkpoint(state.snapshot(epoch, (best, best_state, waited, history)))
        if waited and waited >= patience:  # early stopping
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


class _DAEState:
    """The DAE loop's state for a checkpoint: network, Adam, the batch-order generator,
    the global RNGs (the noise), and the early-stopping variables."""

    def __init__(self, model: nn.Module, optimizer: Any, rng: np.random.Generator) -> None:
        self.model, self.optimizer, self.rng = model, optimizer, rng

    def snapshot(self, epoch: int, loop: tuple) -> Any:
        from lcc.checkpoint import Checkpoint, flatten, rng_state

        best, best_state, waited, history = loop
        ck = Checkpoint(meta={"phase": "dae", "epoch": epoch, "history": history})
        ck.meta["best"] = [best, waited]
        for name, obj in (("model", self.model), ("optimizer", self.optimizer)):
            ck.meta[name] = flatten(obj.state_dict(), name, ck.tensors)
        ck.meta["best_state"] = flatten(best_state, "best_state", ck.tensors)
        ck.meta["batch_rng"] = self.rng.bit_generator.state
        rng_state(ck)
        return ck

    def restore(self, ck: Any) -> tuple[int, tuple]:
        """The next epoch and ``(best, best_state, waited, history)``: fresh, or from ``ck``."""
        from lcc.checkpoint import restore_rng, unflatten

        if ck is None:
            return 0, (math.inf, None, 0, [])
        for name, obj in (("model", self.model), ("optimizer", self.optimizer)):
            obj.load_state_dict(unflatten(ck.meta[name], ck.tensors))
        self.rng.bit_generator.state = ck.meta["batch_rng"]
        restore_rng(ck)
        best, waited = ck.meta["best"]
        best_state = unflatten(ck.meta["best_state"], ck.tensors)
        history = [dict(r) for r in ck.meta["history"]]
        return int(ck.meta["epoch"]) + 1, (best, best_state, waited, history)


class SnapshotSpectralClustering(DeepClusterer, ClusterMixin, BaseEstimator):
    """SSC / SSC-RM: snapshot ensemble of autoencoder encoders + landmark spectral consensus.

    Parameters
    ----------
    n_clusters, n_snapshots:
        ``k`` and the ensemble size ``M`` (one snapshot per cycle).
    cycle_epochs:
        Epochs per learning-rate cycle (``T/M`` in epochs).
    lr:
        ``α0``, the maximal learning rate.
    n_landmarks, r, metric:
        ``p``, the sparsity threshold and the distance of the landmark
        affinities; ``metric="random"`` is SSC-RM.
    image_shape:
        ``(C, H, W)`` for the convolutional encoder; ``None`` uses a fully
        connected ``d-500-500-2000-latent`` autoencoder instead.
    precision:
        ``"32-true"`` (float32 throughout, the default) or ``"bf16-mixed"`` (the
        training forwards under bfloat16 autocast; the loss, weights, optimizer
        state and embeddings float32).
    callbacks:
        Objects with ``on_epoch_end(epoch, estimator) -> bool``, called after every epoch.

    Attributes
    ----------
    labels_:
        The consensus clustering of all snapshots.
    snapshots_:
        The ``M`` encoders (``nn.Module`` copies in eval mode, on the training device).
    embeddings_:
        Their embeddings of ``X`` (numpy or cupy, as the training data's device).
    history_:
        One dict per epoch (``loss``, ``lr``); epochs that end a cycle also carry
        ``snapshot`` (its number) and, when ``y`` is given, ``acc`` / ``nmi`` /
        ``ari`` of the consensus of the snapshots so far — the ensemble-size
        curve of the paper's Fig. 3 (:func:`lcc.consensus.ensemble_size_labels`).
    consensus_:
        The :class:`lcc.consensus.SSCResult` of the final consensus (affinity,
        SVD, metrics drawn, bandwidths, landmarks).
    """

    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "n_snapshots": Int(),
        "cycle_epochs": Int(),
        "lr": Real(positive=True),
        "momentum": Real(0.0, 1.0),
        "noise_std": Real(),
        "latent_dim": Int(),
        "image_shape": Ints(optional=True),
        "channels": Ints(),
        "strides": Ints(),
        "n_landmarks": Int(),
        "r": Int(),
        "metric": Choice((*METRICS, "random")),
        "precision": Choice(PRECISIONS),
    }

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        n_snapshots: int = 6,
        cycle_epochs: int = 20,
        lr: float = 0.01,
        momentum: float = 0.9,
        batch_size: int = 256,
        noise_std: float = 0.2,
        latent_dim: int = 256,
        image_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (32, 32, 64),
        strides: Sequence[int] = (2, 1, 3),
        n_landmarks: int = 350,
        r: int = 3,
        metric: str = "euclidean",
        precision: str = "32-true",
        random_state: int | None = None,
        device: str | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: bool = False,
    ):
        self.n_clusters = n_clusters
        self.n_snapshots = n_snapshots
        self.cycle_epochs = cycle_epochs
        self.lr = lr
        self.momentum = momentum
        self.batch_size = batch_size
        self.noise_std = noise_std
        self.latent_dim = latent_dim
        self.image_shape = image_shape
        self.channels = channels
        self.strides = strides
        self.n_landmarks = n_landmarks
        self.r = r
        self.metric = metric
        self.precision = precision
        self.random_state = random_state
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose

    def fit(
        self, X: Any, y: Any = None, *, resume: Any = None, on_checkpoint: Any = None
    ) -> SnapshotSpectralClustering:
        """Snapshot-train the autoencoder on ``X`` and cluster by consensus.

        ``y`` only feeds the ensemble-size curve in ``history_``.
        ``on_checkpoint`` / ``resume``: a checkpoint after every epoch (network,
        optimizer, iteration, the snapshots so far), and going on from one
        (:mod:`lcc.deep._checkpointing`).
        """
        x, y = self._start_fit(X, y, resume=resume, on_checkpoint=on_checkpoint)
        warn_if_slow(x.device, self.precision)
        model = self.build_model(x.shape[1]).to(x.device)
        optimizer = torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum)
        epochs = self.n_snapshots * self.cycle_epochs
        self.snapshots_: list[nn.Module] = []
        self.embeddings_: list[Any] = []
        self.history_: list[dict[str, Any]] = []
        objects = {"model": model, "optimizer": optimizer}
        first, loop = restore_point(self, "train", objects) or (0, {"t": 0, "snapshots": []})
        for state in loop["snapshots"]:  # resumed: the snapshots taken before the kill
            with torch.random.fork_rng(devices=[]):  # building one draws from torch's RNG
                encoder = self.build_model(x.shape[1]).encoder
            encoder.to(x.device).load_state_dict(state)
            self._take_snapshot(encoder, x)
        t = loop["t"]
        for epoch in range(first, epochs):
            start = time.perf_counter()
            t, loss, lr = self._train_epoch(model, optimizer, x, t)
            record: dict[str, Any] = {"epoch": epoch, "loss": loss, "lr": lr}
            if (epoch + 1) % self.cycle_epochs == 0:
                self._take_snapshot(model.encoder, x)
                record["snapshot"] = len(self.snapshots_)
            record["epoch_time_s"] = time.perf_counter() - start
            self._end_epoch(record)
            snapshots = [m.state_dict() for m in self.snapshots_]
            save_point(self, "train", epoch, objects, {"t": t, "snapshots": snapshots})
        del self._resume, self._on_checkpoint
        self.consensus_ = self._consensus(self._seed)
        self.labels_ = _host_labels(self.consensus_.labels)
        if y is not None:
            self._ensemble_size_curve(y)
        return self

    def _train_epoch(self, model, optimizer, x: torch.Tensor, t: int) -> tuple[int, float, float]:
        """One pass with the cyclic cosine learning rate; the iteration, mean loss and last lr."""
        total = self.n_snapshots * self.cycle_epochs * math.ceil(len(x) / self.batch_size)
        model.train()
        loss_sum, lr = 0.0, self.lr
        for idx in self._batches(len(x), even=True):
            t += 1
            lr = cosine_cyclic_lr(t, self.lr, total, self.n_snapshots)
            for group in optimizer.param_groups:
                group["lr"] = lr
            xb = x[idx.to(x.device)]
            noisy = xb + self.noise_std * torch.randn_like(xb)
            with autocast(xb.device, self.precision):
                recon = model(noisy)[1]
            loss = nn.functional.mse_loss(recon.float(), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
        return t, loss_sum / len(x), lr

    def _ensemble_size_curve(self, y: np.ndarray) -> None:
        """ACC / NMI / ARI of the consensus of the first 1 … m snapshots, on their records."""
        from lcc.consensus import ensemble_size_labels
        from lcc.metrics import ari, clustering_accuracy, nmi

        records = [h for h in self.history_ if "snapshot" in h]
        prefixes = ensemble_size_labels(self.consensus_, self.n_clusters, seed=self._seed)
        for record, labels in zip(records, prefixes, strict=True):
            labels = _host_labels(labels)
            record |= {"acc": clustering_accuracy(y, labels), "nmi": nmi(y, labels)}
            record["ari"] = ari(y, labels)

    # ---------------------------------------------------------------- internals
    def _check_counts(self, n: int) -> None:
        """Landmarks, nearest landmarks and clusters against the ``n`` samples, now rather
        than at the consensus after the last epoch (each prefix of the ensemble-size curve
        is a consensus of one member up)."""
        from lcc.consensus import check_counts

        check_counts(n, self.n_landmarks, self.r, self.n_clusters)

    def build_model(self, n_features: int) -> nn.Module:
        """The (untrained) autoencoder this estimator trains, also for the DAE baselines."""
        if self.image_shape is None:
            return FeedForwardAutoencoder(n_features, self.latent_dim)
        shape = tuple(self.image_shape)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape {shape} does not match X's {n_features} features per sample"
            )
        return ConvAutoencoder(
            shape, self.latent_dim, self.channels, strides=self.strides, batch_norm=True
        )

    @torch.no_grad()
    def _take_snapshot(self, encoder: nn.Module, x: torch.Tensor) -> None:
        from lcc.staging import to_backend

        encoder = copy.deepcopy(encoder).eval()
        z = encode_in_batches(encoder, encoder, x)
        self.snapshots_.append(encoder)
        self.embeddings_.append(to_backend(z.contiguous()))

    def _consensus(self, seed: int):
        from lcc.consensus import ssc_consensus

        return ssc_consensus(
            self.embeddings_,
            self.n_clusters,
            self.n_landmarks,
            self.r,
            metrics=self.metric,
            seed=seed,
            return_details=True,
        )


def _host_labels(labels: Any) -> np.ndarray:
    """numpy or cupy labels as a host numpy array (through DLPack: no implicit copy)."""
    from lcc.staging import to_torch

    return np.asarray(to_torch(labels).cpu())
