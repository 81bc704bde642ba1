"""Breaking the Reclustering Barrier (BRB): soft resets, reclustering, momentum resets.

BRB paper (seed 002), section 5: every ``interval`` epochs

1. soft-reset the encoder, layer by layer, ``θ ← α θ + (1 − α) φ`` with ``φ`` a
   fresh draw from each layer's own initialiser (eq. 1) — never the embedding
   layer unless ``reset_embedding=True``;
2. recluster: k-Means on the re-embedded data, on a random subsample
   (10,000 by default), replaces the centroids (eq. 2);
3. zero the optimizer's moments (Adam's ``exp_avg`` / ``exp_avg_sq``) of the centroid
   parameters, keeping Adam's step count as the authors' code does.

:class:`BRBCallback` is the plain-PyTorch callback (``on_epoch_end(epoch, clusterer)``,
as the deep estimators call their ``callbacks``); :class:`lcc.lightning.BRBLightningCallback`
is its Lightning face. It acts on any :class:`ResettableClusterer`: the DEC / IDEC / DCN
estimators of :mod:`lcc.deep` are one, and so can a user's own model be.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from lcc._validation import Bool, Choice, Int, InvalidParameterError, Real, check_values

__all__ = ["BRBCallback", "ResettableClusterer", "soft_reset"]


class ResettableClusterer(Protocol):
    """What BRB acts on: a centroid model's encoder, embedding layer, centres and optimizer.

    An optional ``n_epochs`` (the number of epochs) stops a reset after the last one.
    """

    encoder: nn.Module  # soft-reset
    embedding_layer: nn.Module  # inside the encoder; left alone
    n_samples: int
    n_clusters: int
    optimizer: torch.optim.Optimizer | None

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """``(len(indices), d)`` codes of the training samples ``indices``, without gradients."""

    def set_centers(self, centers: torch.Tensor) -> None:
        """Replace the centroids with ``centers`` ``(n_clusters, d)``."""

    def center_parameters(self) -> Iterable[torch.Tensor]:
        """The centroid parameters, whose optimizer state a reset zeroes."""


def soft_reset(
    module: nn.Module,
    alpha: float,
    *,
    skip: tuple[nn.Module, ...] = (),
    seed: int | None = None,
    init: str = "kaiming",
) -> list[str]:
    """Mix the resettable layers of ``module`` with a fresh initialisation φ, in place.

    ``θ ← α θ + (1 − α) φ`` (BRB paper, eq. 1). ``init="kaiming"`` (the
    authors' ``soft_reset.py``): only ``nn.Linear`` / ``nn.Conv*`` layers,
    φ's weights from ``kaiming_uniform_`` with ``a = 0`` (``U(±√(6 / fan_in))``,
    √6 ≈ 2.45× PyTorch's default bound) and its biases from ``U(±1 / √fan_in)``;
    normalisation layers are left alone. ``init="default"``: every layer with
    ``reset_parameters()``, φ from that method (BatchNorm included). Layers in
    ``skip`` (and their children) are left untouched. Returns the names of the
    layers that were mixed.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if init not in ("kaiming", "default"):
        raise ValueError(f"init must be 'kaiming' or 'default', got {init!r}")
    skipped = {id(m) for s in skip for m in s.modules()}
    mixed = []
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for name, layer in module.named_modules():
            if id(layer) in skipped or not _resettable(layer, init):
                continue
            own = dict(layer.named_parameters(recurse=False))
            if not own:
                continue
            fresh = _fresh_parameters(layer, init)
            with torch.no_grad():
                for key, param in own.items():
                    param.mul_(alpha).add_(fresh[key].to(param.device), alpha=1 - alpha)
            mixed.append(name)
    return mixed


def _resettable(layer: nn.Module, init: str) -> bool:
    if init == "kaiming":
        return isinstance(layer, nn.Linear | nn.modules.conv._ConvNd)
    return hasattr(layer, "reset_parameters")


def _fresh_parameters(layer: nn.Module, init: str) -> dict[str, torch.Tensor]:
    """φ for ``layer``'s own parameters, drawn on the CPU from torch's global generator."""
    fresh = copy.deepcopy(layer).cpu()
    if init == "default":
        fresh.reset_parameters()
        return dict(fresh.named_parameters(recurse=False))
    with torch.no_grad():
        nn.init.kaiming_uniform_(fresh.weight, a=0)
        if fresh.bias is not None:
            fan_in = fresh.weight[0].numel()
            bound = 1 / fan_in**0.5
            fresh.bias.uniform_(-bound, bound)
    return dict(fresh.named_parameters(recurse=False))


class BRBCallback:
    """BRB as a plain-PyTorch callback: the paper's defaults (α = 0.8, T = 20, 10,000 samples)
    and the authors' reclustering (k-Means with 10 restarts, Adam's step count kept).

    Pass it to an estimator (``IDEC(10, callbacks=[BRBCallback()])``) or call it at the end
    of each epoch of your own loop: ``brb.on_epoch_end(epoch, clusterer)``.

    Parameters
    ----------
    alpha : float, default 0.8
        Share of the old weights kept by the soft reset.
    interval : int, default 20
        Reset every ``interval`` epochs (after epochs ``interval``, ``2·interval``, …).
    subsample : int, default 10_000
        Samples re-embedded and clustered by k-Means at each reset.
    subsample_from : {"random", "first"}, default "random"
        A fresh random draw at each reset, or the first ``subsample`` samples in data-set
        order every time (the authors' ``encode_batchwise``); the same below 10,000 samples.
    reset_embedding : bool, default False
        Also reset the embedding layer (the paper finds this harmful).
    reset_momentum : bool, default True
        Zero the optimizer's moments of the centroid parameters after reclustering
        (Adam's ``exp_avg`` / ``exp_avg_sq``, SGD's momentum buffer).
    reset_step : bool, default False
        Also zero Adam's step count. The authors keep it (``reset_momentum_counts=False``
        in their ``config/brb_config.py``), and so Adam's bias correction is off after a
        reset: the update ``m / √v`` of the rebuilding moments is
        ``(1 − β₁ᵏ) / √(1 − β₂ᵏ)`` times the gradient's sign, 3.2× the learning rate at
        the first step and more over the next tens (β = 0.9, 0.999), where a zeroed count
        takes steps of the learning rate. The reclustered centres move that much faster.
    n_init : int, default 10
        k-Means restarts of the reclustering (the authors' 10).
    init : {"kaiming", "default"}, default "kaiming"
        Where the reset's φ comes from (:func:`soft_reset`); "kaiming" is the
        authors' code.
    seed : int, default 0

    Notes
    -----
    A reset is due after epochs ``interval − 1``, ``2·interval − 1``, … (0-based),
    i.e. at the start of epochs ``interval``, ``2·interval``, …, as the authors'
    code; never after the last epoch when the clusterer says how many there are
    (``clusterer.n_epochs``), so the final labels do not come from a just-reset network.
    """

    def __init__(
        self,
        alpha: float = 0.8,
        interval: int = 20,
        subsample: int = 10_000,
        *,
        subsample_from: str = "random",
        reset_embedding: bool = False,
        reset_momentum: bool = True,
        reset_step: bool = False,
        n_init: int = 10,
        init: str = "kaiming",
        seed: int = 0,
    ):
        check_values(locals(), _OPTIONS)
        if not 0.0 <= alpha <= 1.0:  # Real's interval is half-open; α = 1 (no reset) is allowed
            raise InvalidParameterError("alpha", f" must be in [0, 1], got {alpha!r}")
        self.alpha, self.interval, self.subsample = alpha, interval, subsample
        self.subsample_from = subsample_from
        self.reset_embedding, self.reset_momentum = reset_embedding, reset_momentum
        self.reset_step = reset_step
        self.n_init, self.init, self.seed = n_init, init, seed
        self.reset_epochs: list[int] = []
        self.last_subsample: np.ndarray | None = None

    def __repr__(self) -> str:
        options = f"alpha={self.alpha}, interval={self.interval}, subsample={self.subsample}"
        return f"BRBCallback({options})"

    def state_dict(self) -> dict[str, Any]:
        """The resets so far (for a checkpoint of the estimator it acts on)."""
        return {"reset_epochs": list(self.reset_epochs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reset_epochs = [int(e) for e in state["reset_epochs"]]

    def on_fit_start(self, clusterer: ResettableClusterer, n_samples: int) -> None:
        """Check the options against ``clusterer`` and its ``n_samples`` before the first
        epoch, not at the first reset ``interval`` epochs in: it must be a
        :class:`ResettableClusterer`, and the reclustering's subsample must hold at least
        ``n_clusters`` samples. A run too short for any reset gets a warning (its BRB arm
        would be the plain method)."""
        missing = [m for m in _MEMBERS if not _has(clusterer, m)]
        if missing:
            raise TypeError(
                f"BRBCallback acts on a centroid model (lcc.deep.brb.ResettableClusterer: DEC, "
                f"IDEC, DCN or a model of your own); {type(clusterer).__name__} lacks {missing}"
            )
        drawn = min(self.subsample, n_samples)
        if drawn < clusterer.n_clusters:
            raise ValueError(
                f"subsample={self.subsample}: the reclustering's k-Means would see {drawn} "
                f"samples for n_clusters={clusterer.n_clusters}; give at least n_clusters"
            )
        last = getattr(clusterer, "n_epochs", None)
        if last is not None and self.interval >= last:
            warnings.warn(
                f"BRBCallback(interval={self.interval}) never resets in {last} epochs "
                "(resets come after every interval-th epoch, never after the last)",
                UserWarning,
                stacklevel=2,
            )

    def on_epoch_end(self, epoch: int, clusterer: ResettableClusterer) -> bool:
        """Apply BRB after ``epoch`` (0-based) when it is due; True when it was applied."""
        if (epoch + 1) % self.interval != 0:
            return False
        last = getattr(clusterer, "n_epochs", None)
        if last is not None and epoch + 1 >= last:
            return False
        skip = () if self.reset_embedding else (clusterer.embedding_layer,)
        seed = self.seed + epoch
        soft_reset(clusterer.encoder, self.alpha, skip=skip, seed=seed, init=self.init)
        clusterer.set_centers(self.recluster(clusterer, epoch))
        if self.reset_momentum and clusterer.optimizer is not None:
            keep = () if self.reset_step else ("step",)
            reset_optimizer_state(clusterer.optimizer, clusterer.center_parameters(), keep=keep)
        self.reset_epochs.append(epoch)
        return True

    def recluster(self, clusterer: ResettableClusterer, epoch: int) -> torch.Tensor:
        """k-Means centroids of a subsample of the re-embedded data (eq. 2)."""
        from lcc.deep._codes import kmeans_on_codes

        n = clusterer.n_samples
        rng = np.random.default_rng(self.seed + epoch)
        size = min(self.subsample, n)
        if self.subsample_from == "first":
            self.last_subsample = np.arange(size)
        else:
            self.last_subsample = np.sort(rng.choice(n, size=size, replace=False))
        z = clusterer.embed(torch.as_tensor(self.last_subsample))
        seed = self.seed + epoch
        return kmeans_on_codes(z, clusterer.n_clusters, seed=seed, n_init=self.n_init).centers


_OPTIONS = {
    "alpha": Real(),
    "interval": Int(),
    "subsample": Int(),
    "subsample_from": Choice(("random", "first")),
    "reset_embedding": Bool(),
    "reset_momentum": Bool(),
    "reset_step": Bool(),
    "n_init": Int(),
    "init": Choice(("kaiming", "default")),
    "seed": Int(0),
}
_MEMBERS = (
    "encoder",
    "embedding_layer",
    "n_clusters",
    "n_samples",
    "optimizer",
    "embed",
    "set_centers",
    "center_parameters",
)


def _has(clusterer: Any, member: str) -> bool:
    """``member`` on ``clusterer`` or its class (a property may need what ``fit`` builds)."""
    return hasattr(type(clusterer), member) or hasattr(clusterer, member)


def reset_optimizer_state(
    optimizer: torch.optim.Optimizer,
    params: Iterable[torch.Tensor],
    *,
    keep: Iterable[str] = ("step",),
) -> None:
    """Zero the state tensors of ``params``, and only theirs, but those named in ``keep``:
    by default the moments (Adam's ``exp_avg`` / ``exp_avg_sq``, SGD's ``momentum_buffer``)
    and not Adam's ``step`` count, as the BRB authors' reset."""
    kept = set(keep)
    for param in params:
        for key, value in optimizer.state.get(param, {}).items():
            if torch.is_tensor(value) and key not in kept:
                value.zero_()
