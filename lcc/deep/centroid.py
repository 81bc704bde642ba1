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
  assignments ``s`` kept per sample from its previous step (Algorithm 1; from
  scratch, the current nearest centres as the BRB authors' code); after each
  step the batch is reassigned and the centroids take the count-based update
  ``μ_k ← μ_k − (z − μ_k) / c_k`` (eq. 7), vectorised: for a batch with
  ``m_k`` samples of sum ``S_k`` in cluster ``k``, ``μ_k ← (c_k μ_k + S_k) /
  (c_k + m_k)``, which equals the sequential per-sample rule.

``labels_`` is the model's own assignment after training: the most probable
cluster under Q for DEC / IDEC, the nearest centroid for DCN (with
``final_kmeans``, DCN's default after pretraining, of centres a k-Means on the
final codes gave); ``init_labels_`` those of the initial k-Means. An epoch's
labels in ``history_`` come from a pass after it when ``y`` is given or P is of
the whole set (that pass serves the next P); otherwise from the assignments the
epoch's steps gave (no extra pass).

The options left at ``"auto"`` follow the BRB authors' released recipe from
scratch (``pretrain_epochs=0``), where the papers' defaults collapse, and with
pretraining the papers' choices, four of them replaced by ClustPy's or the
authors' code's; :mod:`lcc.deep._recipe` lists each with its source.

``precision="bf16-mixed"`` runs the training forwards (pretraining and
clustering) under bfloat16 autocast, losses and weights in float32
(:mod:`lcc.deep._precision`); codes for k-Means, P and ``labels_`` stay float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from lcc._validation import Choice, Int, Ints, Real
from lcc.deep._base import EncoderClusterer
from lcc.deep._centroid_loop import cluster
from lcc.deep._checkpointing import restore_point, save_point
from lcc.deep._codes import kmeans_on_codes
from lcc.deep._heads import KMeansHead, StudentTHead, dcn_center_update
from lcc.deep._optim import adam
from lcc.deep._precision import PRECISIONS, autocast, warn_if_slow
from lcc.deep._recipe import ACTIVATIONS, AUTO_OPTIONS, resolve
from lcc.deep._resettable import ResettableClustererMixin
from lcc.deep.autoencoder import ConvAutoencoder, FeedForwardAutoencoder
from lcc.losses.dec import reconstruction_loss

__all__ = ["DCN", "DEC", "IDEC", "dcn_center_update"]


class _CentroidDeepClustering(ResettableClustererMixin, EncoderClusterer):
    """The training shared by DEC, IDEC and DCN; a subclass names its head and loss weights.

    ``_head``: the cluster layer (:mod:`lcc.deep._heads`); ``_reconstruction``:
    whether the decoder keeps training on ``L_rec`` (IDEC, DCN) or is dropped
    (DEC); ``_default_cluster_weight``: the clustering term's weight; the
    ``_pretrained_*`` three: what ``clustering_lr`` (as a factor of ``lr``),
    ``reconstruction`` and ``final_kmeans`` resolve to after pretraining
    (:mod:`lcc.deep._recipe`).
    """

    _head: ClassVar[type[nn.Module]]
    _reconstruction: ClassVar[bool]
    _default_cluster_weight: ClassVar[float]
    _pretrained_lr_factor: ClassVar[float] = 1.0
    _pretrained_reconstruction: ClassVar[str] = "mean"
    _pretrained_final_kmeans: ClassVar[bool] = False

    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "pretrain_epochs": Int(0),
        "clustering_epochs": Int(0),
        "lr": Real(positive=True),
        "architecture": Choice(("mlp", "conv")),
        "hidden": Ints(optional=True),
        "embedding_dim": Int(optional=True),
        "cluster_weight": Real(optional=True),
        "update_interval": Int(optional=True),
        "tol": Real(),
        "augment": Choice((False, True, "brb_authors")),
        "image_shape": Ints(optional=True),
        "n_init": Int(),
        **AUTO_OPTIONS,
        "precision": Choice(PRECISIONS),
    }

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
        target: str = "auto",
        tol: float = 0.0,
        augment: bool | str = False,
        image_shape: Sequence[int] | None = None,
        n_init: int = 10,
        batch_norm: bool | str = "auto",
        init_embedding: str = "auto",
        clip_grad_norm: float | str | None = "auto",
        drop_last: bool | str = "auto",
        center_update: str = "auto",
        activation: str = "auto",
        clustering_lr: float | str = "auto",
        reconstruction: str = "auto",
        final_kmeans: bool | str = "auto",
        precision: str = "32-true",
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
        self.batch_norm = batch_norm
        self.init_embedding = init_embedding
        self.clip_grad_norm = clip_grad_norm
        self.drop_last = drop_last
        self.center_update = center_update
        self.activation, self.clustering_lr = activation, clustering_lr
        self.reconstruction, self.final_kmeans = reconstruction, final_kmeans
        self.precision = precision
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn API
    def fit(
        self, X: Any, y: Any = None, *, resume: Any = None, on_checkpoint: Any = None
    ) -> _CentroidDeepClustering:
        """Pretrain (optional), initialise centroids by k-Means, then cluster.

        ``y`` is only used to log ACC / NMI / ARI and class distances per epoch.
        ``on_checkpoint`` / ``resume``: a checkpoint after every pretraining and
        clustering epoch, and going on from one (:mod:`lcc.deep._checkpointing`).
        """
        x, y = self._start_fit(X, y, resume=resume, on_checkpoint=on_checkpoint)
        warn_if_slow(x.device, self.precision)
        self.recipe_ = self._recipe()
        self.model_ = self._build_model(x.shape[1]).to(x.device)
        self._x = x
        self._fill = float(x.min())  # background of the augmented images (black, z-scored)
        self.history_: list[dict[str, Any]] = []
        if resume is None or resume.meta["phase"] == "pretrain":
            self._pretrain(x)
        self._init_clustering(x)
        self._cluster(x, y)
        self._final_assignment(x)
        del self._x, self._resume, self._on_checkpoint
        return self

    def _recipe(self) -> dict[str, Any]:
        """Every ``"auto"`` option resolved (:func:`lcc.deep._recipe.resolve`)."""
        return resolve(self)

    def _default_weight(self, scratch: bool) -> float:
        return self._default_cluster_weight

    def _build_model(self, n_features: int) -> nn.Module:
        """``architecture="mlp"``: ``d-hidden…-c`` (default 500-500-2000 as DEC, from
        scratch 1024-512-256 as the BRB authors); ``"conv"``: :class:`ConvAutoencoder` on
        ``image_shape`` with ``hidden`` as its channel counts (default 32-64)."""
        latent = self.embedding_dim or self.n_clusters
        if self.architecture == "mlp":
            hidden, batch_norm = self.recipe_["hidden"], self.recipe_["batch_norm"]
            activation = ACTIVATIONS[self.recipe_["activation"]]
            return FeedForwardAutoencoder(
                n_features, latent, hidden, batch_norm=batch_norm, activation=activation
            )
        shape = tuple(self.image_shape or ())
        if not shape or math.prod(shape) != n_features:
            raise ValueError(
                f"architecture='conv' needs image_shape=(C, H, W) with C·H·W = "
                f"{n_features}, got {self.image_shape}"
            )
        return ConvAutoencoder(shape, latent, self.hidden or (32, 64))

    def _assign(self, z: torch.Tensor) -> torch.Tensor:
        return self.head_.assign(z)

    def _make_head(self, centers: torch.Tensor, labels: torch.Tensor) -> nn.Module:
        """The cluster layer from the initial centres and labels (k-Means')."""
        return self._head(centers)

    # ---------------------------------------------------------------- internals
    def _pretrain(self, x: torch.Tensor) -> None:
        optimizer = adam(self.model_.parameters(), self.lr)
        objects = {"model": self.model_, "optimizer": optimizer}
        first, _ = restore_point(self, "pretrain", objects) or (0, {})
        for epoch in range(first, self.pretrain_epochs):
            for idx in self._batches(len(x)):
                xb = x[idx.to(x.device)]
                self._step(optimizer, nn.functional.mse_loss(self._forward(xb, decode=True)[1], xb))
            save_point(self, "pretrain", epoch, objects, {})

    def _init_clustering(self, x: torch.Tensor) -> None:
        """k-Means on the codes gives the head's centres; the optimizer (at
        ``clustering_lr``) takes the network (only its encoder when the decoder is dropped)
        and the head's parameters. (Resuming inside the clustering phase, the centres come
        from the checkpoint.)"""
        codes = self._initial_codes(x)
        if getattr(self, "_resume", None) is not None:  # overwritten by the checkpoint
            centers = codes.new_zeros((self.n_clusters, codes.shape[1]))
            labels = np.zeros(len(x), dtype=np.int64)
        else:
            kmeans = kmeans_on_codes(codes, self.n_clusters, seed=self._seed, n_init=self.n_init)
            centers, labels = kmeans.centers, kmeans.labels
            self.init_labels_ = labels
        self.head_ = self._make_head(centers, torch.as_tensor(labels, device=x.device))
        network = self.model_ if self._reconstruction else self.model_.encoder
        params = [*network.parameters(), *self.head_.parameters()]
        self.optimizer_ = adam(params, self.recipe_["clustering_lr"])

    @torch.no_grad()
    def _final_assignment(self, x: torch.Tensor) -> None:
        """``labels_`` and ``cluster_centers_``: the head's assignment of the final codes and
        its centres; with ``final_kmeans`` a k-Means (``n_init`` restarts) on those codes
        first replaces the head's centres, so ``predict`` agrees with ``labels_``."""
        codes = self.transform_tensor(x)
        if self.recipe_["final_kmeans"]:
            kmeans = kmeans_on_codes(codes, self.n_clusters, seed=self._seed, n_init=self.n_init)
            self.head_.replace_centers(kmeans.centers, lambda: codes)
        self.labels_ = self._assign(codes).cpu().numpy()
        self.cluster_centers_ = self.head_.centers.detach().cpu().numpy()

    @torch.no_grad()
    def _initial_codes(self, x: torch.Tensor) -> torch.Tensor:
        """The codes the initial k-Means clusters: of the network in eval mode, or with
        ``init_embedding="train"`` in train mode over the unshuffled batches (BatchNorm on
        batch statistics), as the BRB authors' runner does without pretraining."""
        if self.recipe_["init_embedding"] == "eval":
            return self.transform_tensor(x)
        self.model_.train()
        return torch.cat([self.model_.encode(xb) for xb in x.split(self.batch_size)])

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """Backward, optional gradient clipping of the network (``clip_grad_norm``), step."""
        optimizer.zero_grad()
        loss.backward()
        if self.recipe_["clip_grad_norm"] is not None:
            nn.utils.clip_grad_norm_(self.model_.parameters(), self.recipe_["clip_grad_norm"])
        optimizer.step()

    def _cluster(self, x: torch.Tensor, y: np.ndarray | None) -> None:
        cluster(self, x, y)

    def _batches(self, n: int) -> list[torch.Tensor]:
        """Shuffled batches; with ``drop_last`` (from scratch, the authors' loaders) without
        a last batch shorter than ``batch_size``, whose per-batch P and BatchNorm
        statistics would come from a handful of samples (5 of 1,797 digits at 256)."""
        batches = super()._batches(n)
        if self.recipe_["drop_last"] and len(batches) > 1 and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _batch_loss(self, xb, idx, targets, weight) -> torch.Tensor:
        """The algorithm's loss; with ``augment``, the mean over the batch and its augmented copy.

        Consistency rule (BRB paper, appendix E): an augmented sample keeps the
        assignment of its original — DCN's hard assignment and DEC/IDEC's target row.
        """
        xa = self._augmented(xb) if self.augment else None
        if self.augment == "brb_authors" and self._reconstruction:
            # one forward of [augmented; clean], BatchNorm over both (the authors' IDEC / DCN)
            z2, recon2 = self._forward(torch.cat([xa, xb]))
            (za, z), (recon_a, recon) = z2.split(len(xb)), recon2.split(len(xb))
        else:
            z, recon = self._forward(xb)
            za, recon_a = self._forward(xa) if xa is not None else (None, None)
            if self.augment == "brb_authors":  # their DEC's logging forward of both views,
                with torch.no_grad():  # which moves BatchNorm's running statistics
                    self._encode(torch.cat([xa, xb]))
        assign = self._batch_assignments = self.head_.step_assignments(z.detach(), idx)
        if targets is None and self.head_.uses_targets:  # target="batch": P of this batch
            targets = self.head_.targets(z.detach())
            idx = torch.arange(len(xb), device=xb.device)
        rows = None if targets is None else targets[idx]
        losses = [self._loss(xb, z, recon, assign, rows, weight)]
        if xa is not None:
            losses.append(self._loss(xa, za, recon_a, assign, rows, weight))
        return sum(losses) / len(losses)

    def _forward(
        self, xb: torch.Tensor, decode: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Codes and reconstruction, float32 in either ``precision``; DEC, which dropped its
        decoder, only encodes (but decodes when pretraining: ``decode``)."""
        if not (decode or self._reconstruction):
            return self._encode(xb), None
        with autocast(xb.device, self.precision):
            z, recon = self.model_(xb)
        return z.float(), recon.float()

    def _encode(self, xb: torch.Tensor) -> torch.Tensor:
        """The training forward's codes (in ``precision``), as float32."""
        with autocast(xb.device, self.precision):
            return self.model_.encode(xb).float()

    def _loss(self, x, z, recon, assign, target_rows, weight) -> torch.Tensor:
        cluster = weight * self.head_.loss(z, assign, target_rows)
        if not self._reconstruction:
            return cluster
        return reconstruction_loss(recon, x, self.recipe_["reconstruction"]) + cluster

    def _augmented(self, xb: torch.Tensor) -> torch.Tensor:
        from lcc.deep.augment import BRB_AUTHORS, random_affine_rows

        options = BRB_AUTHORS if self.augment == "brb_authors" else {}
        return random_affine_rows(xb, self.image_shape, fill=self._fill, **options)


class DEC(_CentroidDeepClustering):
    """Deep Embedded Clustering; see the module docstring. ``cluster_weight`` scales KL (1).

    After pretraining ``clustering_lr`` is ``lr / 10``, ClustPy's (1e-4 after 1e-3).
    """

    _head = StudentTHead
    _reconstruction = False
    _default_cluster_weight = 1.0
    _pretrained_lr_factor = 0.1


class IDEC(_CentroidDeepClustering):
    """Improved DEC: reconstruction + ``cluster_weight`` (γ = 0.1) · KL(P ‖ Q)."""

    _head = StudentTHead
    _reconstruction = True
    _default_cluster_weight = 0.1


class DCN(_CentroidDeepClustering):
    """Deep Clustering Network: reconstruction + ``cluster_weight`` · ``½‖z − μ_s‖²``.

    Default λ = 0.05; from scratch the BRB authors' λ = 0.025 on their
    ``Σ_i ‖z_i − μ_{s_i}‖² / (N·K)`` (``dcn_module.py``), which is
    ``cluster_weight = 2 · 0.025 / K`` on this ``½ mean`` form. ``center_update``:
    ``"step"`` (``"auto"``) moves the centroids by the paper's eq. 7 after every step;
    ``"epoch"`` as the BRB authors' code, once per epoch at a constant rate
    (:class:`lcc.deep._heads.KMeansHead`). After pretraining ``L_rec`` sums the squared
    error over the features (the paper's ``‖x − x̂‖²``, as its authors' code and ClustPy)
    and ``labels_`` come from a k-Means on the final codes (the authors' code, ClustPy).
    """

    _head = KMeansHead
    _reconstruction = True
    _default_cluster_weight = 0.05
    _pretrained_reconstruction = "sum"
    _pretrained_final_kmeans = True

    def _default_weight(self, scratch: bool) -> float:
        return 2 * 0.025 / self.n_clusters if scratch else self._default_cluster_weight

    def _recipe(self) -> dict[str, Any]:
        """Also ``"assignments"``: ``"kept"`` (the DCN paper's Algorithm 1) with
        pretraining, ``"nearest"`` (the BRB authors' code) from scratch (:class:`KMeansHead`)."""
        kept = "nearest" if self.pretrain_epochs == 0 else "kept"
        return super()._recipe() | {"assignments": kept}

    def _make_head(self, centers: torch.Tensor, labels: torch.Tensor) -> nn.Module:
        kept = labels if self.recipe_["assignments"] == "kept" else None
        update = "step" if self.center_update == "auto" else self.center_update
        return KMeansHead(centers, kept, update=update)
