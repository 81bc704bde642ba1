"""What every ``"auto"`` option of DEC / IDEC / DCN resolves to, and where each choice comes from.

From scratch (``pretrain_epochs=0``) the BRB authors' released recipe (their Table 13
runs; read from their code, see ``benchmarks/notes/brb_authors_recipe.md``), because
the papers' own defaults presuppose a pretrained autoencoder and collapse without one:
the ``feedforward_large`` ReLU MLP ``d-1024-512-256-K`` with BatchNorm, the initial
k-Means on the *train-mode* embedding, per-batch P, no last batch shorter than
``batch_size`` (their loaders' ``drop_last``), gradient clipping at 500, one learning
rate, the MSE averaged over the features, ``labels_`` from the trained head and, for
DCN, λ = 0.025 on the authors' ``Σ‖z − μ‖² / (N·K)``.

With pretraining, the papers' choices (no BatchNorm, eval-mode embedding, P of the
whole data set, every sample every epoch, no clipping, ``d-500-500-2000-K``, DCN
λ = 0.05 on ``½‖z − μ‖²``) except four, each the choice of ClustPy 0.0.3 or of the
algorithm's authors' code, and each visible without labels (issue 30, item 3: at
10 + 10 epochs, batch 256, lcc's defaults clustered the digits 10–21 ACC points below
ClustPy's defaults):

* ``activation="leaky_relu"`` for the MLP: ClustPy's ``FeedforwardAutoencoder``
  default (``activation_fn=torch.nn.LeakyReLU``,
  ``clustpy/deep/neural_networks/feedforward_autoencoder.py:63``); the papers use
  ReLU. With ReLU, a short pretraining kills units (digits, 10 epochs: 53 % of the
  second encoder layer's and 44 % of the 2000-wide layer's units output 0 for every
  sample) and the reconstruction stays worse: MSE 0.051 against 0.034 on the digits
  (0.040 against 0.032 on the MNIST subset), 5 seeds; ClustPy with ReLU reproduces
  lcc's 0.050. A ``"conv"`` network keeps ReLU.
* ``clustering_lr``: DEC ``lr / 10`` — ClustPy's clustering learning rate, 1e-4
  against its pretraining 1e-3 (``clustpy/deep/_abstract_deep_clustering_algo.py:80-84``;
  ``dec.py:100``: "usually learning rate is reduced by a magnitude of 10"); the DEC
  paper's SGD rates do not carry over to Adam. IDEC and DCN keep ``lr``: the IDEC
  authors' code clusters MNIST with Keras' Adam at its default 0.001
  (``XifengGuo/IDEC`` ``IDEC.py``, ``optimizer = 'adam'``).
* ``reconstruction``: DCN ``"sum"``, the squared error summed over the features and
  averaged over the batch: the DCN paper's ``ℓ(x, y) = ‖x − y‖²`` in
  ``Σ ℓ(g(f(x_i)), x_i) + λ/2 ‖f(x_i) − M s_i‖²``, its authors' code
  (``boyangumn/DCN-New`` ``multi_layer_km.py``:
  ``reconst_err = T.sum(T.pow(self.x - z, 2), axis=1)``, then ``T.mean``) and ClustPy's
  ``mean_squared_error`` (``clustpy/deep/_utils.py:58``). Averaged over the features
  instead, λ = 0.05 weighs d times more against ``L_rec`` than the paper's (64× on the
  digits, 784× on MNIST). IDEC keeps ``"mean"``: its authors' Keras loss is ``'mse'``
  (``IDEC.py``, ``loss={'clustering': 'kld', 'decoder_0': 'mse'}``). Pretraining
  averages over the features for all three: Adam's step does not depend on the
  loss's scale (measured: summing moves the pretrained reconstruction MSE by ≤ 0.001).
* ``final_kmeans``: DCN ``True``: ``labels_`` and ``cluster_centers_`` from a k-Means
  (``n_init`` restarts) on the final codes, as the DCN authors' code (after the last
  epoch ``idx, centers = init_cluster(hidden_array)``, ``KMeans(n_init=10)``, is its
  prediction) and ClustPy (``dcn.py:107``, ``labels_`` at ``:518``) do. It is DCN's
  own objective: the k-Means on the final codes reaches a lower ``Σ ‖z − μ_s‖²``
  than the centroids eq. 7 carried along (within-cluster / total sum of squares 0.426
  against 0.437 on the MNIST subset, 5 seeds).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lcc._validation import Auto, Bool, Choice, Real
from lcc.deep._heads import KMeansHead

__all__ = ["ACTIVATIONS", "AUTO_OPTIONS", "resolve"]

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}

# the estimators' parameter rules for the options "auto" resolves (lcc._validation)
AUTO_OPTIONS: dict[str, Auto] = {
    "target": Auto(Choice(("dataset", "batch"))),
    "batch_norm": Auto(Bool()),
    "init_embedding": Auto(Choice(("eval", "train"))),
    "clip_grad_norm": Auto(Real(positive=True, optional=True)),
    "drop_last": Auto(Bool()),
    "center_update": Auto(Choice(("step", "epoch"))),
    "activation": Auto(Choice(tuple(ACTIVATIONS))),
    "clustering_lr": Auto(Real(positive=True)),
    "reconstruction": Auto(Choice(("mean", "sum"))),
    "final_kmeans": Auto(Bool()),
}


def resolve(est: Any) -> dict[str, Any]:
    """Every ``"auto"`` option of the centroid estimator ``est`` resolved (module docstring);
    an option set explicitly is kept."""
    _check_applicable(est)
    scratch = est.pretrain_epochs == 0
    pretrained = not scratch
    auto = {
        "batch_norm": scratch,
        "init_embedding": "train" if scratch else "eval",
        "target": "batch" if scratch else "dataset",
        "clip_grad_norm": 500.0 if scratch else None,
        "drop_last": scratch,
        "activation": "leaky_relu" if pretrained and est.architecture == "mlp" else "relu",
        "clustering_lr": est.lr * (est._pretrained_lr_factor if pretrained else 1.0),
        "reconstruction": est._pretrained_reconstruction if pretrained else "mean",
        "final_kmeans": pretrained and est._pretrained_final_kmeans,
    }
    recipe = {k: auto[k] if _is_auto(getattr(est, k)) else getattr(est, k) for k in auto}
    recipe["hidden"] = tuple(est.hidden or ((1024, 512, 256) if scratch else (500, 500, 2000)))
    weight = est.cluster_weight
    recipe["cluster_weight"] = est._default_weight(scratch) if weight is None else weight
    return recipe


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _check_applicable(est: Any) -> None:
    """Options that cannot act on ``est``'s algorithm or network refuse an explicit value."""
    name = type(est).__name__
    if not _is_auto(est.center_update) and est._head is not KMeansHead:
        raise ValueError(
            f"center_update={est.center_update!r} applies to DCN's centroids; "
            f"{name} learns its centres by gradient descent"
        )
    if not _is_auto(est.reconstruction) and not est._reconstruction:
        raise ValueError(
            f"reconstruction={est.reconstruction!r} weighs a reconstruction loss while "
            f"clustering; {name} drops its decoder (pretraining averages over the features)"
        )
    if not _is_auto(est.activation) and est.architecture != "mlp":
        raise ValueError(
            f"activation={est.activation!r} applies to architecture='mlp'; the "
            f"{est.architecture!r} network uses ReLU"
        )
