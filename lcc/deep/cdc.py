"""CDC, "Correlation losses for Deep Clustering" (Trinh & Pham), as a scikit-learn estimator.

Algorithm 1 of the paper:

1. **Pre-training** (eq. 7): the autoencoder ``x → z = f_W(x) → x' = g_W'(z)``
   minimises ``L_AE = λ [L_cr(Z, X) + L_cr(Z, X')] + L_r(X, X')``, where
   ``L_cr(Z, X) = KL(C_Z ‖ C_X)`` compares the Student-t pairwise similarity
   distributions of a mini-batch (eq. 5–6, :mod:`lcc.losses.cdc`).
2. **Initialisation**: k-Means on the codes ``Z = f_W(X)``; its centres become
   the cluster layer's weights μ.
3. **Fine-tuning**, ``T`` iterations on random mini-batches of ``m`` samples;
   every ``h`` iterations the DEC target ``P`` (eq. 10) is recomputed from the
   soft assignments ``Q`` (eq. 8) of the *whole* data set. On each batch
   (lines 12–14):

   * the centres μ and the encoder W follow
     ``L_DC = L_c + η L_a + β L_re`` (eq. 13) — for μ this is ``L_c + η L_a``,
     since ``L_re`` does not involve μ — with ``L_c = KL(P ‖ Q)`` (eq. 9),
     ``L_a = KL(C_Q ‖ C_Z)`` (eq. 11) and ``L_re = L_cr(Z, X) + L_cr(Z, X')``
     (eq. 12);
   * the decoder W' follows ``L_AE`` (eq. 7), i.e. it keeps reconstructing.

   Both gradients come from one forward pass; one SGD step (momentum 0.9,
   learning rate 0.01, as the paper) applies them.

``labels_`` is the model's own assignment after fine-tuning: ``argmax_j q_ij``
(eq. 8), which is also the nearest centre, since the Student-t kernel
decreases with distance. ``init_labels_`` keeps the k-Means assignment of the
pre-trained codes (the "AE + k-Means" rows of the paper's Table 3).

Table 3's ablation is a matter of weights (0 switches a term off):
``correlation_weight=0, clustering_iterations=0`` is AE + L_r then k-Means;
``clustering_iterations=0`` alone is AE* (AE + L_AE) then k-Means;
``affinity_weight=0, regularization_weight=0`` is AE* + L_c;
``regularization_weight=0`` is AE* + L_c + L_a; the defaults are AE* + L_DC.

``precision="bf16-mixed"`` runs the training forwards (pre-training and
fine-tuning) under bfloat16 autocast, every loss and the weights in float32
(:mod:`lcc.deep._precision`); the codes for k-Means, P and ``labels_`` stay float32.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from lcc._validation import Bool, Choice, Int, Ints, Real
from lcc.deep._base import EncoderClusterer
from lcc.deep._checkpointing import restore_point, save_point
from lcc.deep._codes import kmeans_on_codes
from lcc.deep._optim import adam
from lcc.deep._precision import PRECISIONS, autocast, warn_if_slow
from lcc.deep.autoencoder import FeedForwardAutoencoder
from lcc.losses.cdc import FORMULATIONS, correlation_loss
from lcc.losses.dec import soft_assignment

__all__ = ["CDC"]


class CDC(EncoderClusterer):
    """Correlation losses for Deep Clustering (Trinh & Pham); see the module docstring.

    Defaults are the paper's settings where it gives them; where it is silent
    the choice is marked *(paper silent)*.

    Parameters
    ----------
    n_clusters : int, default 10
        K.
    hidden : sequence of int, default (500, 500, 2000)
        Encoder widths (the decoder mirrors them): ``D-500-500-2000-d`` as DEC
        (section 3.1). ReLU between layers, linear code and output layers,
        PyTorch's default initialisation, which is DEC's
        ``VarianceScaling(1/3, fan_in, uniform)``.
    latent_dim : int, default 10
        ``d`` (section 3.1).
    pretrain_epochs : int, default 200
        *(paper silent; the paper says its settings follow IDEC [10], which
        pre-trains for 200 epochs.)* 0 skips pre-training.
    pretrain_lr : float, default 1e-3
        Adam's learning rate for pre-training *(paper silent; IDEC / DEC-keras
        pre-train with Adam at its default 1e-3).*
    clustering_iterations : int, default 5000
        ``T`` of Algorithm 1 (section 3.4). 0 stops after the k-Means
        initialisation.
    clustering_epochs : int or None, default None
        If given, overrides ``clustering_iterations`` with this many passes
        over the data (``clustering_epochs × ⌈n / batch_size⌉`` iterations).
    batch_size : int, default 64
        ``m`` (section 3.4), used in both phases. A trailing batch of one
        sample is merged into the previous one (a pairwise distribution needs
        two points).
    lr : float, default 0.01
        Fine-tuning SGD learning rate (section 3.4).
    momentum : float, default 0.9
        Fine-tuning SGD momentum (section 3.4).
    update_interval : int, default 50
        ``h``: iterations between refreshes of the target P; the paper uses
        ``h ∈ {50, 80}``.
    correlation_weight : float, default 1e-3
        λ of eq. 7 (0.001 for all data sets but CIFAR-10, section 4.4). 0 gives
        plain reconstruction pre-training ("AE + L_r").
    clustering_weight : float, default 1.0
        Weight of ``L_c`` in eq. 13 (1 in the paper; 0 for ablations only).
    affinity_weight : float, default 0.75
        η of eq. 13 (section 4.4).
    regularization_weight : float, default 1e-3
        β of eq. 13 (section 4.4).
    dof : float, default 1.0
        Student-t degrees of freedom α for eq. 5 and eq. 8 (1 in the paper).
    correlation : {"authors", "paper"}, default "authors"
        The form of the pairwise distributions of ``L_cr`` and ``L_a``
        (:data:`lcc.losses.cdc.FORMULATIONS`). ``"paper"``: eq. 5–6 as printed,
        one distribution over the pairs ``k ≠ l`` of the batch (joint, diagonal
        excluded), ``KL(C_Z ‖ C_X)``. ``"authors"``: the authors' released code
        — each row normalised on its own with ``i = i`` kept, ``C_Z`` sharpened
        with eq. 10 inside ``L_cr``, the row KLs averaged.
        The default is ``"authors"`` because the paper contradicts its code
        here and the code is what produced the paper's figures (its
        ``results_report_final.txt`` is Table 3's AE* and L_DC columns), with
        λ, β and η tuned on it: under ``"paper"`` the same λ = β = 1e-3 weigh a
        loss about 3× smaller (3.1× at AE* on load_digits and on the MNIST
        subset, ``benchmarks/results/cdc.txt``).
    stop_gradient_target : bool, default False
        Detach the target side of both KLs (``C_X'`` in ``L_cr(Z, X')``,
        ``C_Q`` in ``L_a``). The paper detaches neither.
    sharpen_affinity_target : bool, default True
        Sharpen ``C_Q`` with eq. 10 ("computed in a similar manner to P"; the
        authors' code does it too).
    decoder_loss : {"ae", "dc"}, default "ae"
        What the decoder follows during fine-tuning: ``L_AE`` (Algorithm 1,
        line 13) or the single objective ``L_DC`` for all weights.
    n_init : int, default 20
        k-Means restarts for the centre initialisation *(paper silent; DEC uses 20).*
    precision : {"32-true", "bf16-mixed"}, default "32-true"
        ``"bf16-mixed"`` runs the training forwards under bfloat16 autocast
        (faster where bfloat16 products are native: GPUs from Ampere on, CPUs
        with AMX; a warning elsewhere), losses, weights and optimizer state in
        float32; ``"32-true"`` is float32 throughout, as the paper.
    random_state : int or None, default None
        Seeds torch (weights), the batch order and k-Means (``None`` → 0).
    warm_start : bool, default False
        Reuse the autoencoder of the previous ``fit`` and skip pre-training:
        the k-Means initialisation and the fine-tuning run again on it. With a
        ``clustering_iterations=0`` fit first, this runs several fine-tuning
        variants (Table 3's columns) from one pre-trained AE*.
    device : str or None, default None
        Torch device; by default the input's (a CUDA tensor) or CUDA if
        available, else CPU.
    callbacks : sequence or None, default None
        Objects with ``on_epoch_end(epoch, estimator) -> bool``, called after
        every fine-tuning epoch.
    verbose : bool, default False
        Print each epoch's record.

    Attributes
    ----------
    labels_ : (n,) ndarray
        ``argmax_j q_ij`` of the fitted model on the training data.
    init_labels_ : (n,) ndarray
        k-Means labels of the pre-trained codes (before fine-tuning).
    cluster_centers_ : (K, latent_dim) ndarray
        μ.
    history_ : list of dict
        One record per epoch, ``phase`` "pretrain" or "cluster", with the
        unweighted terms (``reconstruction``, ``correlation_x`` = L_cr(Z, X),
        ``correlation_xr`` = L_cr(Z, X'), and while clustering ``clustering``,
        ``affinity``, ``regularization``), ``loss`` (L_AE while pre-training,
        L_DC while clustering), ``loss_ae`` while clustering, and, when ``y`` is
        passed to ``fit``, :func:`lcc.metrics.clustering_report` of the current
        assignment (every clustering epoch, and the k-Means initialisation in
        the last pre-training record — before k-Means there is no assignment).
    n_iter_ : int
        Fine-tuning iterations run.
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden: Sequence[int] = (500, 500, 2000),
        latent_dim: int = 10,
        pretrain_epochs: int = 200,
        pretrain_lr: float = 1e-3,
        clustering_iterations: int = 5000,
        clustering_epochs: int | None = None,
        batch_size: int = 64,
        lr: float = 0.01,
        momentum: float = 0.9,
        update_interval: int = 50,
        correlation_weight: float = 1e-3,
        clustering_weight: float = 1.0,
        affinity_weight: float = 0.75,
        regularization_weight: float = 1e-3,
        dof: float = 1.0,
        correlation: str = "authors",
        stop_gradient_target: bool = False,
        sharpen_affinity_target: bool = True,
        decoder_loss: str = "ae",
        n_init: int = 20,
        precision: str = "32-true",
        random_state: int | None = None,
        warm_start: bool = False,
        device: str | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: bool = False,
    ):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.clustering_iterations = clustering_iterations
        self.clustering_epochs = clustering_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.update_interval = update_interval
        self.correlation_weight = correlation_weight
        self.clustering_weight = clustering_weight
        self.affinity_weight = affinity_weight
        self.regularization_weight = regularization_weight
        self.dof = dof
        self.correlation = correlation
        self.stop_gradient_target = stop_gradient_target
        self.sharpen_affinity_target = sharpen_affinity_target
        self.decoder_loss = decoder_loss
        self.n_init = n_init
        self.precision = precision
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None, *, resume: Any = None, on_checkpoint: Any = None) -> CDC:
        """Pre-train with ``L_AE``, initialise μ by k-Means, fine-tune with ``L_DC``.

        ``y`` is only used to log :func:`lcc.metrics.clustering_report` per epoch.
        ``on_checkpoint`` / ``resume``: a checkpoint after every pre-training and
        fine-tuning epoch, and going on from one (:mod:`lcc.deep._checkpointing`).
        """
        warm = bool(self.warm_start) and hasattr(self, "model_")
        x, y = self._start_fit(X, y, reset=not warm, resume=resume, on_checkpoint=on_checkpoint)
        warn_if_slow(x.device, self.precision)
        in_cluster = resume is not None and resume.meta["phase"] == "cluster"
        if not warm:
            model = FeedForwardAutoencoder(x.shape[1], self.latent_dim, tuple(self.hidden))
            self.model_ = model.to(x.device)
            self.history_: list[dict[str, Any]] = []
            if not in_cluster:
                self._pretrain(x)
        if in_cluster:  # μ and the k-Means labels come from the checkpoint
            self._centers = nn.Parameter(x.new_zeros((self.n_clusters, self.latent_dim)))
        else:
            self._init_clustering(x, y)
        self._cluster(x, y)
        del self._resume, self._on_checkpoint
        self.labels_ = self._assign(self.transform_tensor(x)).cpu().numpy()
        self.cluster_centers_ = self._centers.detach().cpu().numpy()
        return self

    # ---------------------------------------------------------------- validation
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "latent_dim": Int(),
        "hidden": Ints(),
        "pretrain_epochs": Int(0),
        "clustering_iterations": Int(0),
        "clustering_epochs": Int(0, optional=True),
        "batch_size": Int(2),
        "update_interval": Int(),
        "n_init": Int(),
        "pretrain_lr": Real(positive=True),
        "lr": Real(positive=True),
        "dof": Real(positive=True),
        "momentum": Real(0.0, 1.0),
        "correlation_weight": Real(),
        "clustering_weight": Real(),
        "affinity_weight": Real(),
        "regularization_weight": Real(),
        "correlation": Choice(("authors", "paper")),
        "decoder_loss": Choice(("ae", "dc")),
        "stop_gradient_target": Bool(),
        "sharpen_affinity_target": Bool(),
        "warm_start": Bool(),
        "precision": Choice(PRECISIONS),
    }

    # ---------------------------------------------------------------- internals
    def _batches(self, n: int) -> list[torch.Tensor]:
        """A random permutation in batches of ``batch_size``; a trailing singleton joins the
        previous batch (the pairwise distributions need two points)."""
        batches = super()._batches(n)
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    def _pair_options(self) -> dict[str, Any]:
        """``L_a``'s pairwise options; ``L_cr`` adds ``sharpen`` (:data:`FORMULATIONS`)."""
        form = FORMULATIONS[self.correlation]
        return {
            "dof": float(self.dof),
            "diagonal": form["diagonal"],
            "normalization": form["normalization"],
            "stop_gradient_target": bool(self.stop_gradient_target),
        }

    def _forward(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training forward (in ``precision``): codes and reconstruction, as float32."""
        with autocast(xb.device, self.precision):
            z, xr = self.model_(xb)
        return z.float(), xr.float()

    def _ae_terms(self, xb: torch.Tensor, z: torch.Tensor, xr: torch.Tensor):
        """``L_r`` (eq. 1), ``L_cr(Z, X)`` and ``L_cr(Z, X')`` (eq. 6) of one batch.

        ``L_r`` is the mean squared error over features and samples (Keras'
        ``mse``, what DEC / IDEC and the paper's DEC-keras base use) rather
        than eq. 1's per-sample squared norm; λ and β were tuned against it.
        """
        opts = self._pair_options() | {"sharpen": FORMULATIONS[self.correlation]["sharpen"]}
        rec = nn.functional.mse_loss(xr, xb)
        cr_x = correlation_loss(z, xb, **opts)
        cr_xr = correlation_loss(z, xr, **opts)
        return rec, cr_x, cr_xr

    def _pretrain(self, x: torch.Tensor) -> None:
        """Eq. 7 with Adam, ``pretrain_epochs`` passes over the data."""
        lam = float(self.correlation_weight)
        optimizer = adam(self.model_.parameters(), self.pretrain_lr)
        objects = {"model": self.model_, "optimizer": optimizer}
        first, _ = restore_point(self, "pretrain", objects) or (0, {})
        for epoch in range(first, self.pretrain_epochs):
            start = time.perf_counter()
            sums = dict.fromkeys(("loss", "reconstruction", "correlation_x", "correlation_xr"), 0.0)
            for idx in self._batches(len(x)):
                xb = x[idx.to(x.device)]
                z, xr = self._forward(xb)
                rec, cr_x, cr_xr = self._ae_terms(xb, z, xr)
                loss = rec + lam * (cr_x + cr_xr) if lam > 0 else rec
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                for key, value in zip(sums, (loss, rec, cr_x, cr_xr), strict=True):
                    sums[key] += float(value.detach()) * len(idx)
            record: dict[str, Any] = {"phase": "pretrain", "epoch": epoch}
            record |= {key: value / len(x) for key, value in sums.items()}
            record["epoch_time_s"] = time.perf_counter() - start
            self._log(record)
            save_point(self, "pretrain", epoch, objects, {})

    def _init_clustering(self, x: torch.Tensor, y: np.ndarray | None) -> None:
        """Algorithm 1, lines 2–4: k-Means on the codes gives the initial centres."""
        z = self.transform_tensor(x)
        labels, centers = kmeans_on_codes(z, self.n_clusters, seed=self._seed, n_init=self.n_init)
        self._centers = nn.Parameter(centers.clone())
        self.init_labels_ = labels
        if y is not None and self.history_:
            self.history_[-1] |= self._report(z, self.init_labels_, y)

    def _assign(self, z: torch.Tensor) -> torch.Tensor:
        return soft_assignment(z, self._centers.detach(), float(self.dof)).argmax(dim=1)

    def _report(self, z: torch.Tensor, labels: np.ndarray, y: np.ndarray) -> dict[str, float]:
        from lcc.metrics import clustering_report

        return clustering_report(z.cpu().numpy(), labels, y)

    def _cluster(self, x: torch.Tensor, y: np.ndarray | None) -> None:
        """Algorithm 1, lines 5–15 (:func:`lcc.deep._cdc_finetune.fine_tune`)."""
        from lcc.deep._cdc_finetune import fine_tune

        fine_tune(self, x, y)
