"""DEC, IDEC and DCN as scikit-learn-style estimators, trained on the data's device.

* DEC (Xie et al. 2016): KL(P ‖ Q) between Student-t soft assignments Q and
  the sharpened target P, recomputed from the *whole* data set every
  ``update_interval`` iterations (BRB paper eq. 3–5); the decoder is dropped.
  ``target="batch"`` computes P from each mini-batch instead, as ClustPy (and
  so the BRB paper's experiments) do; not the default because it is not what
  the DEC paper specifies.
* IDEC (Guo et al. 2017): DEC's loss plus the reconstruction loss,
  ``L = L_rec + γ · KL(P ‖ Q)`` with ``γ = cluster_weight`` (0.1).
* DCN (Yang et al. 2017): ``L = L_rec + λ · ½‖z − μ_s‖²`` with hard
  assignments; after each step the centroids take the count-based update
  ``μ_k ← μ_k − (z − μ_k) / c_k`` (eq. 7), vectorised: for a batch with
  ``m_k`` samples of sum ``S_k`` in cluster ``k``, ``μ_k ← (c_k μ_k + S_k) /
  (c_k + m_k)``, which equals the sequential per-sample rule.

``labels_`` is the model's own assignment after training: the most probable
cluster under Q for DEC / IDEC, the nearest centroid for DCN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from lcc.deep._input import check_input, check_labels
from lcc.deep.autoencoder import ConvAutoencoder, FeedForwardAutoencoder
from lcc.losses.dec import dcn_loss, dec_loss, soft_assignment, target_distribution

__all__ = ["DCN", "DEC", "IDEC", "dcn_center_update"]


def dcn_center_update(
    centers: torch.Tensor, counts: torch.Tensor, z: torch.Tensor, assignments: torch.Tensor
) -> None:
    """DCN's count-based centroid update for a batch, in place, without a per-sample loop."""
    k = centers.shape[0]
    m = torch.bincount(assignments, minlength=k).to(centers.dtype)
    sums = torch.zeros_like(centers).index_add_(0, assignments, z.to(centers.dtype))
    new_counts = counts + m
    seen = m > 0
    centers[seen] = (counts[seen, None] * centers[seen] + sums[seen]) / new_counts[seen, None]
    counts.copy_(new_counts)


class _CentroidDeepClustering(ClusterMixin, TransformerMixin, BaseEstimator):
    _algorithm = ""
    _default_cluster_weight = 1.0

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        pretrain_epochs: int = 100,
        clustering_epochs: int = 150,
        batch_size: int = 256,
        lr: float = 1e-3,
        architecture: str = "mlp",
        hidden: Sequence[int] | None = None,
        embedding_dim: int | None = None,
        cluster_weight: float | None = None,
        update_interval: int | None = None,
        target: str = "dataset",
        tol: float = 0.0,
        augment: bool = False,
        image_shape: Sequence[int] | None = None,
        n_init: int = 10,
        callbacks: Sequence[Any] | None = None,
        random_state: int | None = None,
        device: str | None = None,
        verbose: bool = False,
    ):
        self.n_clusters = n_clusters
        self.pretrain_epochs = pretrain_epochs
        self.clustering_epochs = clustering_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.architecture = architecture
        self.hidden = hidden
        self.embedding_dim = embedding_dim
        self.cluster_weight = cluster_weight
        self.update_interval = update_interval
        self.target = target
        self.tol = tol
        self.augment = augment
        self.image_shape = image_shape
        self.n_init = n_init
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None) -> _CentroidDeepClustering:
        """Pretrain (optional), initialise centroids by k-Means, then cluster.

        ``y`` is only used to log ACC / NMI / ARI and class distances per epoch.
        """
        if self.target not in ("dataset", "batch"):
            raise ValueError(f"target must be 'dataset' or 'batch', got {self.target!r}")
        x = self._check_input(X, reset=True)
        if not isinstance(self.n_clusters, int | np.integer) or not 1 <= self.n_clusters <= len(x):
            raise ValueError(f"n_clusters must be an int in [1, n_samples], got {self.n_clusters}")
        if y is not None:
            y = check_labels(y, len(x))
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        self._rng = np.random.default_rng(seed)
        self.model_ = self._build_model(x.shape[1]).to(x.device)
        self._x = x
        self._fill = float(x.min())  # background of the augmented images (black, z-scored)
        self.history_: list[dict[str, Any]] = []
        self._pretrain(x)
        self._init_clustering(x, seed)
        self._cluster(x, y)
        self.labels_ = self._assign(self.transform_tensor(x)).cpu().numpy()
        self.cluster_centers_ = self._centers.detach().cpu().numpy()
        del self._x
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).labels_

    def _build_model(self, n_features: int) -> nn.Module:
        """``architecture="mlp"``: ``d-hidden…-c`` (default 500-500-2000, as DEC);
        ``"conv"``: :class:`ConvAutoencoder` on ``image_shape`` with ``hidden`` as
        its channel counts (default 32-64)."""
        latent = self.embedding_dim or self.n_clusters
        if self.architecture == "mlp":
            return FeedForwardAutoencoder(n_features, latent, self.hidden or (500, 500, 2000))
        if self.architecture == "conv":
            shape = tuple(self.image_shape or ())
            if not shape or math.prod(shape) != n_features:
                raise ValueError(
                    f"architecture='conv' needs image_shape=(C, H, W) with C·H·W = "
                    f"{n_features}, got {self.image_shape}"
                )
            return ConvAutoencoder(shape, latent, self.hidden or (32, 64))
        raise ValueError(f"architecture must be 'mlp' or 'conv', got {self.architecture!r}")

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "cluster_centers_")
        return self._assign(self.transform_tensor(self._check_input(X))).cpu().numpy()

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings of ``X`` (``(n, embedding_dim)`` numpy)."""
        check_is_fitted(self, "cluster_centers_")
        return self.transform_tensor(self._check_input(X)).cpu().numpy()

    @torch.no_grad()
    def transform_tensor(self, x: torch.Tensor) -> torch.Tensor:
        from lcc.deep._codes import encode_in_batches

        return encode_in_batches(self.model_.encode, self.model_, x)

    # ------------------------------------------------- the protocol BRB acts on
    @property
    def encoder(self) -> nn.Module:
        return self.model_.encoder

    @property
    def embedding_layer(self) -> nn.Module:
        return self.model_.embedding_layer

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.optimizer_

    @property
    def n_samples(self) -> int:
        return len(self._x)

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        return self.transform_tensor(self._x[indices.to(self._x.device)])

    def set_centers(self, centers: torch.Tensor) -> None:
        with torch.no_grad():
            self._centers.copy_(centers.to(self._centers))

    def center_parameters(self) -> list[torch.Tensor]:
        return [self._centers] if isinstance(self._centers, nn.Parameter) else []

    # ---------------------------------------------------------------- internals
    def _check_input(self, X: Any, reset: bool = False) -> torch.Tensor:
        return check_input(self, X, reset)

    def _batches(self, n: int):
        order = torch.as_tensor(self._rng.permutation(n))
        return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]

    def _pretrain(self, x: torch.Tensor) -> None:
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        for _ in range(self.pretrain_epochs):
            for idx in self._batches(len(x)):
                xb = x[idx.to(x.device)]
                loss = nn.functional.mse_loss(self.model_(xb)[1], xb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    def _init_clustering(self, x: torch.Tensor, seed: int) -> None:
        from lcc.deep._codes import kmeans_on_codes

        z = self.transform_tensor(x)
        centers = kmeans_on_codes(z, self.n_clusters, seed=seed, n_init=self.n_init).centers
        if self._algorithm == "dcn":
            self._centers = centers.clone()
            self._counts = torch.ones(self.n_clusters, device=x.device)
            params = list(self.model_.parameters())
        else:
            self._centers = nn.Parameter(centers.clone())
            modules = self.model_.encoder if self._algorithm == "dec" else self.model_
            params = [*modules.parameters(), self._centers]
        self.optimizer_ = torch.optim.Adam(params, lr=self.lr)

    def _assign(self, z: torch.Tensor) -> torch.Tensor:
        if self._algorithm == "dcn":
            return torch.cdist(z, self._centers.detach()).argmin(dim=1)
        return soft_assignment(z, self._centers.detach()).argmax(dim=1)

    def _cluster(self, x: torch.Tensor, y: np.ndarray | None) -> None:
        weight = self.cluster_weight
        weight = self._default_cluster_weight if weight is None else weight
        steps_per_epoch = math.ceil(len(x) / self.batch_size)
        update_interval = self.update_interval or steps_per_epoch
        callbacks = list(self.callbacks or [])
        previous = self._assign(self.transform_tensor(x)).cpu().numpy()
        targets = None
        step = 0
        for epoch in range(self.clustering_epochs):
            start = time.perf_counter()
            total = 0.0
            for idx in self._batches(len(x)):
                idx = idx.to(x.device)
                per_batch = self.target == "batch"
                if self._algorithm != "dcn" and not per_batch and step % update_interval == 0:
                    with torch.no_grad():  # P from the whole data set (eq. 4)
                        targets = target_distribution(
                            soft_assignment(self.transform_tensor(x), self._centers)
                        )
                loss = self._batch_loss(x[idx], idx, targets, weight)
                self.optimizer_.zero_grad()
                loss.backward()
                self.optimizer_.step()
                if self._algorithm == "dcn":
                    with torch.no_grad():
                        z = self.model_.encode(x[idx])
                        assign = torch.cdist(z, self._centers).argmin(dim=1)
                        dcn_center_update(self._centers, self._counts, z, assign)
                total += float(loss.detach()) * len(idx)
                step += 1
            z_all = self.transform_tensor(x)
            labels = self._assign(z_all).cpu().numpy()
            record = self._epoch_record(epoch, total / len(x), labels, previous, y, z_all)
            record["epoch_time_s"] = time.perf_counter() - start
            record["reset"] = any([cb.on_epoch_end(epoch, self) for cb in callbacks])  # call all
            self.history_.append(record)
            if self.verbose:
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()})
            changed = float(np.mean(labels != previous))
            previous = labels
            if self.tol > 0 and changed < self.tol and not callbacks:
                break

    def _batch_loss(self, xb, idx, targets, weight) -> torch.Tensor:
        """The algorithm's loss; with ``augment``, the mean over the batch and its augmented copy.

        Consistency rule (BRB paper, appendix E): an augmented sample keeps the
        assignment of its original — DCN's hard assignment and DEC/IDEC's target row.
        """
        z, recon = self.model_(xb)
        assign = torch.cdist(z.detach(), self._centers).argmin(dim=1)
        if targets is None and self._algorithm != "dcn":  # target="batch": P of this batch
            targets = target_distribution(soft_assignment(z.detach(), self._centers))
            idx = torch.arange(len(xb), device=xb.device)
        losses = [self._loss(xb, z, recon, assign, idx, targets, weight)]
        if self.augment:
            xa = self._augmented(xb)
            za, recon_a = self.model_(xa)
            losses.append(self._loss(xa, za, recon_a, assign, idx, targets, weight))
        return sum(losses) / len(losses)

    def _loss(self, x, z, recon, assign, idx, targets, weight) -> torch.Tensor:
        rec = nn.functional.mse_loss(recon, x)
        if self._algorithm == "dcn":
            return rec + weight * dcn_loss(z, self._centers, assign)
        cluster = dec_loss(soft_assignment(z, self._centers), targets[idx])
        return weight * cluster if self._algorithm == "dec" else rec + weight * cluster

    def _augmented(self, xb: torch.Tensor) -> torch.Tensor:
        from lcc.deep.augment import random_affine

        shape = tuple(self.image_shape or ())
        if not shape or math.prod(shape) != xb.shape[1]:
            raise ValueError(
                f"augment=True needs image_shape=(C, H, W) with C·H·W = {xb.shape[1]}, "
                f"got {self.image_shape}"
            )
        return random_affine(xb.view(-1, *shape), fill=self._fill).flatten(1)

    def _epoch_record(self, epoch, loss, labels, previous, y, z_all) -> dict[str, Any]:
        from lcc import metrics

        record: dict[str, Any] = {"epoch": epoch, "loss": loss}
        record["cl_change"] = 100 * (1 - metrics.nmi(previous, labels))
        if y is not None:
            record["acc"] = metrics.clustering_accuracy(y, labels)
            record["nmi"] = metrics.nmi(y, labels)
            record["ari"] = metrics.ari(y, labels)
            z = z_all.cpu().numpy()
            means = np.stack([z[y == c].mean(0) for c in np.unique(y)])
            record["intra_class_distance"] = float(
                np.mean(np.linalg.norm(z - means[np.searchsorted(np.unique(y), y)], axis=1))
            )
            gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)
            record["inter_class_distance"] = float(gaps[np.triu_indices(len(means), 1)].mean())
        return record


class DEC(_CentroidDeepClustering):
    """Deep Embedded Clustering; see the module docstring. ``cluster_weight`` scales KL (1)."""

    _algorithm = "dec"
    _default_cluster_weight = 1.0


class IDEC(_CentroidDeepClustering):
    """Improved DEC: reconstruction + ``cluster_weight`` (γ = 0.1) · KL(P ‖ Q)."""

    _algorithm = "idec"
    _default_cluster_weight = 0.1


class DCN(_CentroidDeepClustering):
    """Deep Clustering Network: reconstruction + ``cluster_weight`` (λ = 0.05) · k-Means term."""

    _algorithm = "dcn"
    _default_cluster_weight = 0.05
