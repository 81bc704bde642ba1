"""The SNNL autoencoder recipe (Agarap & Azcarraga 2020), a scikit-learn-style estimator.

An autoencoder ``d-500-500-2000-c`` (c = 70; ReLU hidden layers, sigmoid
code and output, He initialisation) is trained with binary cross-entropy
reconstruction (eq. 1) plus ``α ·`` the soft nearest neighbour loss of its
hidden representations (eq. 5; α = 100), Adam at 1e-3 for 50 epochs; then
k-Means (k-means++) clusters the latent codes. The eight configurations of
Table I are selected by name:

========  ============  =========  ===========
name      labels        layers     temperature
========  ============  =========  ===========
SNNL-1    supervised    sum        fixed
SNNL-2    unsupervised  sum        fixed
SNNL-3    supervised    argmin     fixed
SNNL-4    unsupervised  argmin     fixed
SNNL-5    supervised    sum        annealed
SNNL-6    unsupervised  sum        annealed
SNNL-7    supervised    argmin     annealed
SNNL-8    unsupervised  argmin     annealed
========  ============  =========  ===========

Annealed: ``T = 1 / (1 + epoch)^0.55`` (eq. 3). Fixed: ``temperature``
(100, the authors' code default; the paper gives no value). The paper does
not give the batch size either; 128 is used. The unsupervised loss is
identically 0 as the paper defines it (see :mod:`lcc.losses.snnl`), so
SNNL-2/4/6/8 train a plain autoencoder, as the paper's tables show.

``precision="bf16-mixed"`` runs the training forwards under bfloat16 autocast,
the BCE, the SNN loss and the weights in float32 (:mod:`lcc.deep._precision`);
the sigmoids of the code and the output run in float32 (bfloat16 resolves only
2⁻⁸ below 1), and the codes k-Means clusters stay float32.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from lcc._validation import Choice, Int, Ints, Real
from lcc.deep._base import EncoderClusterer
from lcc.deep._checkpointing import restore_point, save_point
from lcc.deep._codes import kmeans_on_codes
from lcc.deep._input import check_input, check_labels
from lcc.deep._optim import adam
from lcc.deep._precision import PRECISIONS, autocast, warn_if_slow
from lcc.deep.autoencoder import FeedForwardAutoencoder
from lcc.losses.snnl import SNNLoss, annealed_temperature

__all__ = ["CONFIGURATIONS", "SNNLAutoencoder", "SNNLConfiguration"]


class SNNLConfiguration(NamedTuple):
    supervised: bool
    combine: str  # "sum" (eq. 5) or "min" (eq. 4)
    annealed: bool


CONFIGURATIONS = {
    f"SNNL-{i + 1}": SNNLConfiguration(
        supervised=i % 2 == 0, combine="min" if i % 4 >= 2 else "sum", annealed=i >= 4
    )
    for i in range(8)
}


class SNNLAutoencoder(EncoderClusterer):
    """Autoencoder trained with reconstruction + α · SNNL, then k-Means on its codes.

    ``fit(X, y)`` trains on ``X`` (``y`` required by the supervised
    configurations, optional otherwise) and clusters the codes of ``X``;
    ``labels_`` is that k-Means clustering. ``transform`` gives codes,
    ``predict`` the nearest of ``cluster_centers_``. To cluster a held-out set
    as the paper does (train on a labelled subset, k-Means on the test codes),
    run :func:`lcc.kmeans` on ``transform(X_test)``, or pass it as
    ``eval_set=(X_test, y_test)`` to log its clustering every epoch.

    ``X`` must lie in [0, 1] for the BCE reconstruction (divide pixels by 255).
    ``layers="all"`` applies the loss to every hidden representation (encoder
    and decoder, code included; eq. 5), ``"code"`` to the code only.
    ``precision``: ``"32-true"`` (float32 throughout, the default) or
    ``"bf16-mixed"`` (the training forwards under bfloat16 autocast; losses,
    weights and codes float32). ``callbacks``: objects with
    ``on_epoch_end(epoch, estimator) -> bool``.
    """

    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "n_clusters": Int(2),
        "configuration": Choice(tuple(CONFIGURATIONS)),
        "latent_dim": Int(),
        "hidden": Ints(),
        "epochs": Int(0),
        "lr": Real(positive=True),
        "alpha": Real(),
        "temperature": Real(positive=True),
        "distance": Choice(("cosine", "euclidean")),
        "layers": Choice(("all", "code")),
        "n_init": Int(),
        "precision": Choice(PRECISIONS),
    }

    def __init__(
        self,
        n_clusters: int = 10,
        configuration: str = "SNNL-5",
        *,
        latent_dim: int = 70,
        hidden: tuple[int, ...] = (500, 500, 2000),
        epochs: int = 50,
        batch_size: int = 128,
        lr: float = 1e-3,
        alpha: float = 100.0,
        temperature: float = 100.0,
        distance: str = "cosine",
        layers: str = "all",
        n_init: int = 10,
        precision: str = "32-true",
        random_state: int | None = None,
        device: str | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: bool = False,
    ):
        self.n_clusters = n_clusters
        self.configuration = configuration
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.alpha = alpha
        self.temperature = temperature
        self.distance = distance
        self.layers = layers
        self.n_init = n_init
        self.precision = precision
        self.random_state = random_state
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose

    def fit(
        self,
        X: Any,
        y: Any = None,
        eval_set: tuple[Any, Any] | None = None,
        *,
        resume: Any = None,
        on_checkpoint: Any = None,
    ):
        """Train the autoencoder, then k-Means on the codes of ``X``.

        ``eval_set=(X_eval, y_eval)`` (``y_eval`` may be None): every epoch,
        k-Means on the codes of ``X_eval`` is scored into ``history_``;
        without it, the codes of ``X`` (against ``y`` when given) are.
        ``on_checkpoint`` / ``resume``: a checkpoint after every epoch, and going
        on from one (:mod:`lcc.deep._checkpointing`).
        """
        x, labels = self._start_fit(X, y, resume=resume, on_checkpoint=on_checkpoint)
        _check_unit_interval(x, "X")
        warn_if_slow(x.device, self.precision)
        config = CONFIGURATIONS[self.configuration]
        labels = None if labels is None else np.unique(labels, return_inverse=True)[1]
        if config.supervised and labels is None:
            raise ValueError(f"{self.configuration} is supervised: fit needs y")
        x_eval, y_eval = (x, labels) if eval_set is None else self._eval_set(eval_set)
        self.model_ = FeedForwardAutoencoder(
            x.shape[1],
            self.latent_dim,
            self.hidden,
            code_activation=_Sigmoid32(),
            output_activation=_Sigmoid32(),
            init="he",
        ).to(x.device)
        optimizer = adam(self.model_.parameters(), self.lr)
        y_train = None if labels is None or not config.supervised else torch.as_tensor(labels)
        self.history_: list[dict[str, Any]] = []
        objects = {"model": self.model_, "optimizer": optimizer}
        first, _ = restore_point(self, "train", objects) or (0, {})
        for epoch in range(first, self.epochs):
            start = time.perf_counter()
            t = annealed_temperature(epoch) if config.annealed else self.temperature
            record = self._train_epoch(
                x, y_train, SNNLoss(self.distance, config.combine, t), optimizer
            )
            record = {"epoch": epoch, **record, "temperature": t}
            record |= self._evaluate(x_eval, y_eval, n_init=1)
            record["epoch_time_s"] = time.perf_counter() - start
            self._end_epoch(record)
            save_point(self, "train", epoch, objects, {})
        del self._resume, self._on_checkpoint
        self.labels_, self.cluster_centers_ = self._kmeans(x, self.n_init)
        return self

    # ---------------------------------------------------------------- internals
    def _train_epoch(self, x, y_train, snnl: SNNLoss, optimizer) -> dict[str, float]:
        """One pass: BCE reconstruction (eq. 1) + α · SNNL of the chosen layers (eq. 5)."""
        sums = np.zeros(3)
        for idx in self._batches(len(x), even=True):
            xb = x[idx.to(x.device)]
            with autocast(xb.device, self.precision):  # the losses outside, on float32
                hidden, out = self.model_.forward_layers(xb)
                reps = hidden if self.layers == "all" else [self.model_.encode(xb)]
            yb = None if y_train is None else y_train[idx].to(x.device)
            rec = nn.functional.binary_cross_entropy(out.float(), xb)
            sn = snnl([r.float() for r in reps], yb)
            loss = rec + self.alpha * sn
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums += torch.stack([loss, rec, sn]).detach().cpu().numpy() * len(idx)
        return dict(zip(("loss", "reconstruction", "snnl"), sums / len(x), strict=True))

    def _eval_set(self, eval_set: tuple[Any, Any]) -> tuple[torch.Tensor, np.ndarray | None]:
        x_eval = _check_unit_interval(check_input(self, eval_set[0]), "eval_set[0]")
        y_eval = eval_set[1]
        if y_eval is not None:
            y_eval = check_labels(y_eval, len(x_eval), "eval_set[1]")
            y_eval = np.unique(y_eval, return_inverse=True)[1]
        return x_eval, y_eval

    def _kmeans(self, x: torch.Tensor, n_init: int) -> tuple[np.ndarray, np.ndarray]:
        codes = self.transform_tensor(x)
        labels, centers = kmeans_on_codes(codes, self.n_clusters, seed=self._seed, n_init=n_init)
        return labels, np.asarray(centers.cpu())

    def _evaluate(self, x: torch.Tensor, y: np.ndarray | None, n_init: int) -> dict:
        from lcc.metrics import clustering_report

        labels, _ = self._kmeans(x, n_init)
        return clustering_report(self.transform_tensor(x).cpu().numpy(), labels, y)


class _Sigmoid32(nn.Sigmoid):
    """``nn.Sigmoid`` computed in float32 whatever its input's dtype (on float32 input,
    exactly ``nn.Sigmoid``): under bfloat16 autocast the code and the output keep float32's
    resolution near 1 for the BCE and the SNN loss, where bfloat16 has only 2⁻⁸."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x.float())


def _check_unit_interval(x: torch.Tensor, name: str) -> torch.Tensor:
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(
            f"{name} must lie in [0, 1] for the BCE reconstruction (eq. 1); "
            f"got [{float(x.min()):.3g}, {float(x.max()):.3g}] — e.g. divide pixels by 255"
        )
    return x
