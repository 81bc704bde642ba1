"""Landmark affinities of Snapshot Spectral Clustering (SSC paper, II.B); the consensus
that fuses them (II.C–II.D) is :mod:`lcc.consensus`.

Snapshot Spectral Clustering (Piróg & Kwaśnicka, 2023) clusters ``m``
embeddings of the same ``n`` samples without an ``n × n`` affinity matrix:

* **II.B, landmark representation** (after LSC, Chen & Cai 2011): ``p``
  landmarks ``u_j`` are the centres of a mini-batch k-Means of the embedding;
  each sample keeps only its ``r`` nearest landmarks ``N(i)`` and

      ẑ_ij = K(x_i, u_j) / Σ_{j' ∈ N(i)} K(x_i, u_j'),   K(x, u) = exp(−dist(x, u)² / (2σ²)),

  zero elsewhere: a sparse ``n × p`` matrix with ``r`` non-zeros per row,
  rows summing to 1 (:func:`landmark_affinity`).
* **II.C, fusion**: ``Z̄ = (1/√m) [Ẑ_1 | … | Ẑ_m]`` (``n × pm``, still
  ``r·m`` non-zeros per row), its ``k`` leading left singular vectors
  ``U`` (``n × k``), and k-Means on ``U`` (Algorithm 1, steps 3–5;
  :func:`ssc_consensus`). Each ``Ẑ_i`` first gets LSC's column scaling
  ``D_i^(−1/2)``, a step the paper inherits from its sources [1], [5] without
  writing it out (``normalize_columns``).
* **Algorithm 2, SSC-RM**: every member uses a different distance metric,
  drawn at random among euclidean, cosine and minkowski (``metrics="random"``).

Nothing here is dense beyond ``n × r`` (neighbours), ``p × d`` (landmarks)
and ``n × k`` (``U``). Library calls go through :mod:`lcc.backends` (k-NN:
the engine's exact search, scikit-learn / cuML for Minkowski; landmarks:
:func:`lcc.minibatch_kmeans`; SVD: the eigendecomposition of the small Gram
matrix ``Z̄ᵀZ̄`` through numpy / cupy, or :func:`lcc.truncated_svd`; k-Means:
:func:`lcc.kmeans`); the glue between
them is written once against ``xp`` / ``sparse`` (numpy + scipy.sparse or
cupy + cupyx.scipy.sparse), so the CPU tests run the code the GPU runs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from lcc._dispatch import here, place
from lcc._validation import (
    check_choice,
    check_latents,
    check_positive_int,
    check_same_kind,
)
from lcc.kernels import landmarks as kernels
from lcc.kmeans import minibatch_kmeans

__all__ = ["METRICS", "landmark_affinity", "scott_bandwidth"]

Metric = Literal["euclidean", "cosine", "minkowski"]
METRICS: tuple[str, ...] = ("euclidean", "cosine", "minkowski")
DEFAULT_MINKOWSKI_P = 1.0


# ------------------------------------------------------------------ validation
def _check_bandwidth(bandwidth: Any) -> float | str:
    if bandwidth == "scott":
        return "scott"
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float):
        raise TypeError(f"bandwidth must be 'scott' or a positive float, got {bandwidth!r}")
    if not (math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive finite float, got {bandwidth}")
    return float(bandwidth)


def _check_minkowski_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float):
        raise TypeError(f"minkowski_p must be a number, got {type(p).__name__}")
    if not (math.isfinite(p) and p >= 1):
        raise ValueError(f"minkowski_p must be a finite number ≥ 1 (a metric), got {p}")
    return float(p)


def _check_landmarks(landmarks: Any, z: Any, n_landmarks: Any) -> tuple[Any, int]:
    check_same_kind(z=z, landmarks=landmarks)
    landmarks = check_latents(landmarks, "landmarks", min_samples=1)
    if landmarks.shape[1] != z.shape[1]:
        raise ValueError(
            f"landmarks have {landmarks.shape[1]} features but z has {z.shape[1]}; "
            "landmarks live in the embedding's space"
        )
    p = landmarks.shape[0]
    if n_landmarks is not None and check_positive_int(n_landmarks, "n_landmarks") != p:
        raise ValueError(f"n_landmarks={n_landmarks} but {p} landmarks were given")
    return landmarks.astype(z.dtype, copy=False), p


def _check_r(r: Any, p: int) -> int:
    r = check_positive_int(r, "r")
    if r > p:
        raise ValueError(
            f"r={r} nearest landmarks requested but there are only n_landmarks={p}; "
            "the paper uses r < p"
        )
    return r


def scott_bandwidth(dist: Any, n_features: int) -> float:
    """Scott's rule for the kernel width σ of section II.B; see
    :func:`lcc.kernels.landmarks.scott_bandwidth`."""
    return kernels.scott_bandwidth(here(dist), dist, n_features)


def _landmarks(z: Any, n_landmarks: int, seed: int) -> Any:
    """Landmarks as in section II.B: the centres of a mini-batch k-Means (Sculley 2010)."""
    return minibatch_kmeans(z, n_landmarks, seed=seed).centers


# ------------------------------------------------------------------ public API
def landmark_affinity(
    z: Any,
    n_landmarks: int | None,
    r: int,
    *,
    metric: Metric = "euclidean",
    bandwidth: float | Literal["scott"] = "scott",
    seed: int = 0,
    landmarks: Any = None,
    minkowski_p: float = DEFAULT_MINKOWSKI_P,
    backend: str | None = None,
) -> Any:
    """The sparse landmark representation ``Ẑ`` of one embedding (SSC paper, section II.B).

    ``ẑ_ij = K(x_i, u_j) / Σ_{j' ∈ N(i)} K(x_i, u_j')`` for the ``r`` nearest
    landmarks ``N(i)`` of sample ``i`` and zero elsewhere, with the Gaussian
    kernel ``K(x, u) = exp(−dist(x, u)² / (2σ²))``. It stands in for the
    ``n × n`` affinity of spectral clustering: ``ẐẐᵀ`` is a rank-``p``
    affinity between samples that share landmarks (LSC, Chen & Cai 2011).

    Parameters
    ----------
    z : (n_samples, n_features) numpy or cupy array
        One embedding.
    n_landmarks : int or None
        ``p``, the number of landmarks, ``r ≤ p ≤ n_samples``. May be None when
        ``landmarks`` are given.
    r : int
        Nearest landmarks kept per sample (the paper's sparsity threshold;
        3 in its MNIST experiments), ``1 ≤ r ≤ p``.
    metric : {"euclidean", "cosine", "minkowski"}, default "euclidean"
        ``dist``: ``‖x − u‖₂``, ``1 − cos(x, u)`` or ``‖x − u‖_p``
        (``p = minkowski_p``). The nearest landmarks are the nearest in this
        metric.
    bandwidth : "scott" or float, default "scott"
        The kernel width σ. ``"scott"`` is Scott's rule, the paper's footnote 2:
        ``σ = s · n^(−1/(d+4))`` with ``s`` the mean of the
        ``n · r`` point–landmark distances, ``n = n_samples`` and
        ``d = n_features`` (see :func:`scott_bandwidth`). A float fixes σ.
    seed : int, default 0
        Seed of the landmark k-Means.
    landmarks : (p, n_features) array, optional
        Landmarks to use instead of the mini-batch k-Means centres (same kind
        of array as ``z``).
    minkowski_p : float, default 1.0
        The ``p`` of the Minkowski metric, ``≥ 1``. The paper names the metric
        but not ``p``; its default in scikit-learn / scipy, 2, would repeat the
        Euclidean metric, so 1 (Manhattan), which also keeps more relative
        contrast between near and far points in high dimension (Aggarwal et al.
        2001) and is the cheapest to compute.
    backend : {"auto", "cpu", "gpu"}, optional
        See :mod:`lcc._backend`; default follows the input array type.

    Returns
    -------
    scipy.sparse.csr_matrix or cupyx.scipy.sparse.csr_matrix
        ``(n_samples, p)`` float64 with exactly ``r`` stored, positive entries
        per row (sorted column indices) and rows summing to 1. float64 because
        it holds only ``n · r`` values and feeds an ARPACK SVD.

    Raises
    ------
    ValueError
        Non-2-D or non-finite input, ``p > n_samples``, ``r > p``, an unknown
        metric, a non-positive bandwidth, landmarks of another dimension, or
        (cosine) all-zero rows.
    TypeError
        Non-array input, non-integer ``p`` / ``r``, a bandwidth that is neither
        "scott" nor a number.
    """
    z = check_latents(z, min_samples=1)
    metric = check_choice(metric, "metric", METRICS)
    bandwidth = _check_bandwidth(bandwidth)
    minkowski_p = _check_minkowski_p(minkowski_p)
    seed = check_positive_int(seed, "seed", minimum=0)
    on = place(z, backend=backend)
    z = on.to(z)
    if landmarks is not None:
        landmarks, p = _check_landmarks(on.to(landmarks), z, n_landmarks)
    else:
        if n_landmarks is None:
            raise ValueError("n_landmarks is required unless landmarks are given")
        p = check_positive_int(n_landmarks, "n_landmarks")
        if p > z.shape[0]:
            raise ValueError(
                f"n_landmarks={p} exceeds the number of samples ({z.shape[0]}): landmarks "
                "are k-Means centres of the samples"
            )
    r = _check_r(r, p)
    if landmarks is None:
        landmarks = _landmarks(z, p, seed)
    weights, idx, _ = kernels.member(on, z, landmarks, r, metric, bandwidth, minkowski_p)
    return on.back(kernels.csr(on, weights, idx, p))
