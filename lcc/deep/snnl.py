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
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from lcc.deep._input import check_input, check_labels
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


class SNNLAutoencoder(ClusterMixin, TransformerMixin, BaseEstimator):
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
    """

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
        random_state: int | None = None,
        device: str | None = None,
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
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None, eval_set: tuple[Any, Any] | None = None):
        """Train the autoencoder, then k-Means on the codes of ``X``.

        ``eval_set=(X_eval, y_eval)`` (``y_eval`` may be None): every epoch,
        k-Means on the codes of ``X_eval`` is scored into ``history_``;
        without it, the codes of ``X`` (against ``y`` when given) are.
        """
        config = self._configuration()
        if self.layers not in ("all", "code"):
            raise ValueError(f"layers must be 'all' or 'code', got {self.layers!r}")
        x = self._check_unit_interval(check_input(self, X, reset=True), "X")
        if not isinstance(self.n_clusters, int | np.integer) or not 2 <= self.n_clusters <= len(x):
            raise ValueError(f"n_clusters must be an int in [2, n_samples], got {self.n_clusters}")
        labels = None if y is None else self._check_labels(y, len(x), "y")
        if config.supervised and labels is None:
            raise ValueError(f"{self.configuration} is supervised: fit needs y")
        x_eval, y_eval = x, labels
        if eval_set is not None:
            x_eval = self._check_unit_interval(check_input(self, eval_set[0]), "eval_set[0]")
            y_eval = eval_set[1]
            if y_eval is not None:
                y_eval = self._check_labels(y_eval, len(x_eval), "eval_set[1]")
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.model_ = FeedForwardAutoencoder(
            x.shape[1],
            self.latent_dim,
            self.hidden,
            code_activation=nn.Sigmoid(),
            output_activation=nn.Sigmoid(),
            init="he",
        ).to(x.device)
        snnl = SNNLoss(self.distance, config.combine, self.temperature)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        y_train = None if labels is None or not config.supervised else torch.as_tensor(labels)
        self.history_: list[dict[str, Any]] = []
        for epoch in range(self.epochs):
            start = time.perf_counter()
            t = annealed_temperature(epoch) if config.annealed else self.temperature
            sums = np.zeros(3)
            for idx in np.array_split(
                rng.permutation(len(x)), max(1, -(-len(x) // self.batch_size))
            ):
                xb = x[torch.as_tensor(idx, device=x.device)]
                hidden, out = self.model_.forward_layers(xb)
                reps = hidden if self.layers == "all" else [self.model_.encode(xb)]
                yb = None if y_train is None else y_train[idx].to(x.device)
                rec = nn.functional.binary_cross_entropy(out, xb)
                sn = snnl(reps, yb, t)
                loss = rec + self.alpha * sn
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                sums += torch.stack([loss, rec, sn]).detach().cpu().numpy() * len(idx)
            record = dict(zip(("loss", "reconstruction", "snnl"), sums / len(x), strict=True))
            record = {"epoch": epoch, **record, "temperature": t}
            record |= self._evaluate(x_eval, y_eval, seed, n_init=1)
            record["epoch_time_s"] = time.perf_counter() - start
            self.history_.append(record)
            if self.verbose:
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()})
        result = self._kmeans(x, seed, self.n_init)
        self.labels_ = result[0]
        self.cluster_centers_ = result[1]
        return self

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        return self.fit(X, y, **kwargs).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Latent codes ``(n, latent_dim)``."""
        check_is_fitted(self, "cluster_centers_")
        return self._codes(check_input(self, X)).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Nearest of ``cluster_centers_`` for each code."""
        z = self.transform(X)
        d = ((z[:, None, :] - self.cluster_centers_[None]) ** 2).sum(-1)
        return d.argmin(1)

    # ---------------------------------------------------------------- internals
    def _configuration(self) -> SNNLConfiguration:
        if self.configuration not in CONFIGURATIONS:
            raise ValueError(
                f"configuration must be one of {sorted(CONFIGURATIONS)}, got {self.configuration!r}"
            )
        return CONFIGURATIONS[self.configuration]

    @staticmethod
    def _check_unit_interval(x: torch.Tensor, name: str) -> torch.Tensor:
        if float(x.min()) < 0 or float(x.max()) > 1:
            raise ValueError(
                f"{name} must lie in [0, 1] for the BCE reconstruction (eq. 1); "
                f"got [{float(x.min()):.3g}, {float(x.max()):.3g}] — e.g. divide pixels by 255"
            )
        return x

    @staticmethod
    def _check_labels(y: Any, n: int, name: str) -> np.ndarray:
        return np.unique(check_labels(y, n, name), return_inverse=True)[1]

    @torch.no_grad()
    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        from lcc.deep._codes import encode_in_batches

        return encode_in_batches(self.model_.encode, self.model_, x)

    def _kmeans(self, x: torch.Tensor, seed: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
        from lcc.deep._codes import kmeans_on_codes

        labels, centers = kmeans_on_codes(self._codes(x), self.n_clusters, seed=seed, n_init=n_init)
        return labels, np.asarray(centers.cpu())

    def _evaluate(self, x: torch.Tensor, y: np.ndarray | None, seed: int, n_init: int) -> dict:
        from lcc.metrics import clustering_report

        labels, _ = self._kmeans(x, seed, n_init)
        return clustering_report(self._codes(x).cpu().numpy(), labels, y)
