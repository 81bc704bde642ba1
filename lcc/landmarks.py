"""Landmark affinities and the Snapshot Spectral Clustering consensus (SSC paper, II.B–II.D).

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
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from lcc import backends
from lcc._backend import array_module, backend_of, move, resolve, sparse_module
from lcc._validation import (
    check_choice,
    check_latents,
    check_positive_int,
    check_same_kind,
)
from lcc.kmeans import kmeans, minibatch_kmeans
from lcc.spectral import SVDResult, _flip_signs, truncated_svd

__all__ = [
    "METRICS",
    "SSCResult",
    "consensus_labels",
    "draw_metrics",
    "ensemble_size_labels",
    "landmark_affinity",
    "scott_bandwidth",
    "ssc_consensus",
]

Metric = Literal["euclidean", "cosine", "minkowski"]
METRICS: tuple[str, ...] = ("euclidean", "cosine", "minkowski")
DEFAULT_MINKOWSKI_P = 1.0
# Queries per k-NN call against the landmarks: bounds the n × p distance tiles.
CHUNK_SIZE = 8192
# svd_solver="auto" eigendecomposes the dense (p·m)² Gram matrix up to this p·m
# (128 MiB of float64, seconds of LAPACK / cuSOLVER), ARPACK beyond.
GRAM_MAX_COLUMNS = 4096
# Extra singular triplets ARPACK is asked for (then dropped): Lanczos finds
# repeated singular values unreliably, and SSC's top ones repeat (see _svd).
ARPACK_OVERSAMPLING = 10


class SSCResult(NamedTuple):
    """What :func:`ssc_consensus` computed, with ``return_details=True``.

    Attributes
    ----------
    labels : (n_samples,) int64 array
        The consensus partition (Algorithm 1, step 5).
    svd : SVDResult
        ``U`` ``(n, k)``, ``S`` ``(k,)``, ``Vt`` ``(k, p·m)`` of ``affinity``.
    affinity : (n_samples, p·m) sparse CSR matrix
        ``Z̄ = (1/√m) [Ẑ_1 | … | Ẑ_m]`` (section II.C), each ``Ẑ_i`` with its
        columns scaled by ``D_i^(−1/2)`` unless ``normalize_columns=False``.
    metrics : tuple of str
        The distance metric of each member (drawn ones for SSC-RM).
    bandwidths : tuple of float
        The kernel width σ used for each member.
    landmarks : list of (p, d_i) arrays
        Each member's landmarks.
    """

    labels: Any
    svd: SVDResult
    affinity: Any
    metrics: tuple[str, ...]
    bandwidths: tuple[float, ...]
    landmarks: list[Any]


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


# ------------------------------------------------------------------ computation
def _nearest_landmarks(
    z: Any, landmarks: Any, r: int, metric: str, minkowski_p: float, backend: str
) -> tuple[Any, Any]:
    """``(dist, idx)``, ``(n, r)`` each: the ``r`` nearest landmarks of every row of ``z``.

    ``dist`` is float64 in the metric's own units: ``‖x − u‖₂`` (euclidean),
    ``1 − cos(x, u)`` (cosine) or ``‖x − u‖_p`` (minkowski). Euclidean and
    cosine run the engine's exact k-NN (faiss-style BLAS tiles on CPU, cuVS
    brute force on GPU); cosine as Euclidean search between unit rows, since
    ``‖x̂ − û‖² = 2 (1 − cos(x, u))`` ranks landmarks identically.
    """
    xp = array_module(backend)
    impl = backends.get(backend)
    if metric == "minkowski" and minkowski_p != 2.0:
        dist, idx = impl.knn_query_minkowski(landmarks, z, r, p=minkowski_p, chunk_size=CHUNK_SIZE)
        return dist.astype(xp.float64), idx
    if metric == "cosine":
        z, landmarks = _unit_rows(z, "z", xp), _unit_rows(landmarks, "landmarks", xp)
    sq, idx = impl.knn_query(landmarks, z, r, chunk_size=CHUNK_SIZE)
    sq = xp.maximum(sq.astype(xp.float64), 0)
    return (sq / 2 if metric == "cosine" else xp.sqrt(sq)), idx


def _unit_rows(x: Any, name: str, xp: Any) -> Any:
    norms = xp.sqrt(xp.sum(x.astype(xp.float64) ** 2, axis=1))
    if bool(xp.any(norms == 0)):
        raise ValueError(
            f"{name} has {int(xp.sum(norms == 0))} all-zero row(s): the cosine distance is "
            "undefined for them; use metric='euclidean' or drop those rows"
        )
    return (x / norms[:, None]).astype(x.dtype)


def scott_bandwidth(dist: Any, n_features: int) -> float:
    """Scott's rule (the paper's reference [18]) for the kernel width σ of section II.B.

    ``σ = s · n^(−1/(d+4))``: Scott's factor ``n^(−1/(d+4))`` for a Gaussian
    kernel density estimate from ``n`` samples in ``d`` dimensions (Scott 2015;
    scipy's ``gaussian_kde`` uses the same factor), times a scale ``s``. The
    paper names the rule but not the scale; here ``s`` is the *mean* of the
    ``n · r`` point–landmark distances in the metric's own units (LSC's own
    bandwidth), so that one rule serves euclidean, cosine and minkowski
    distances alike. A spread-based scale (their standard deviation, which is
    small against their size in high dimension) makes each row's weights so
    peaked that the landmark graph falls apart into near-disconnected pieces:
    on the MNIST subset's raw pixels (p = 350, r = 3) every top singular value
    was 1 and the consensus NMI 0.004; with the mean it is a working affinity.
    When all distances are 0, 1 is returned (the weights are uniform anyway).
    """
    xp = array_module(backend_of(dist))
    n = dist.shape[0]
    scale = float(xp.mean(dist))
    if not (math.isfinite(scale) and scale > 0):
        return 1.0
    return scale * n ** (-1.0 / (n_features + 4))


def _kernel_weights(dist: Any, sigma: float) -> Any:
    """Row-normalised ``exp(−dist² / (2σ²))`` (section II.B), float64.

    The row minimum of ``dist²`` is subtracted inside the exponent before
    normalising, which cancels in the ratio: the nearest landmark weighs
    ``exp(0) = 1`` before normalisation, so no row underflows to ``0 / 0``
    however far the sample lies from all its landmarks. Weights that still
    underflow are raised to float32's smallest normal number (≈1.2e−38) so
    that every row keeps exactly ``r`` non-zeros.
    """
    xp = array_module(backend_of(dist))
    sq = dist * dist
    logits = -(sq - xp.min(sq, axis=1, keepdims=True)) / (2.0 * sigma * sigma)
    weights = xp.exp(logits)
    weights = weights / xp.sum(weights, axis=1, keepdims=True)
    return xp.maximum(weights, float(xp.finfo(xp.float32).tiny))


def _member(
    z: Any,
    landmarks: Any,
    r: int,
    metric: str,
    bandwidth: float | str,
    minkowski_p: float,
    backend: str,
) -> tuple[Any, Any, float]:
    """``(weights, idx, σ)`` of one member: ``(n, r)`` float64 and int64, idx sorted per row."""
    xp = array_module(backend)
    dist, idx = _nearest_landmarks(z, landmarks, r, metric, minkowski_p, backend)
    sigma = scott_bandwidth(dist, z.shape[1]) if bandwidth == "scott" else float(bandwidth)
    weights = _kernel_weights(dist, sigma)
    order = xp.argsort(idx, axis=1)  # canonical CSR: column indices ascending per row
    return (
        xp.take_along_axis(weights, order, axis=1),
        xp.take_along_axis(idx, order, axis=1),
        sigma,
    )


def _csr(weights: Any, idx: Any, n_columns: int, backend: str) -> Any:
    """CSR matrix with the ``(n, c)`` entries ``weights`` at columns ``idx`` (c per row)."""
    xp = array_module(backend)
    sparse = sparse_module(backend)
    n, per_row = idx.shape
    indptr = xp.arange(0, n * per_row + 1, per_row, dtype=xp.int32)
    return sparse.csr_matrix(
        (weights.ravel(), idx.ravel().astype(xp.int32), indptr), shape=(n, n_columns)
    )


def _column_scaled(weights: Any, idx: Any, n_columns: int) -> Any:
    """``Ẑ D^(−1/2)``'s entries, ``D = diag(Ẑᵀ 1)`` the landmarks' total weights (LSC).

    Chen & Cai (2011, the paper's [5]) and SC-EDAE (its [1]) scale every
    landmark's column by ``D_jj^(−1/2)`` before the SVD, so that the implied
    sample affinity ``ẐD⁻¹Ẑᵀ`` has rows summing to 1 and its leading singular
    value is 1 (then ``Z̄Z̄ᵀ``, the mean of the members', has too: the reason for
    the ``1/√m`` of section II.C). Without it the leading singular vectors
    follow the most populated landmarks rather than the clusters. A landmark
    no sample uses (``D_jj = 0``) has an empty column and stays empty.
    """
    xp = array_module(backend_of(weights))
    totals = xp.bincount(idx.ravel(), weights=weights.ravel(), minlength=n_columns)
    scale = xp.where(totals > 0, 1.0 / xp.sqrt(xp.maximum(totals, 1e-300)), 0.0)
    return weights * scale[idx]


def _gram_svd(matrix: Any, k: int) -> SVDResult:
    """The ``k`` leading singular triplets of a tall sparse ``matrix`` from its Gram matrix.

    ``G = matrixᵀ·matrix`` is only ``(p·m) × (p·m)``; its dense symmetric
    eigendecomposition (LAPACK ``syevd`` through numpy, cuSOLVER through
    cupy) gives ``V`` and ``S²``, and ``U = matrix · V · S⁻¹``. This is how LSC
    (the paper's [5]) computes its SVD, since ``p ≪ n``. Unlike a Lanczos
    method it resolves repeated singular values exactly.
    """
    xp = array_module(backend_of(matrix))
    gram = (matrix.T.tocsr() @ matrix).toarray()
    values, vectors = xp.linalg.eigh(gram)
    top = xp.arange(gram.shape[0] - 1, gram.shape[0] - 1 - k, -1)
    s = xp.sqrt(xp.maximum(values[top], 0))
    v = vectors[:, top]
    u = (matrix @ v) / xp.where(s > 0, s, 1)[None, :]
    u, vt = _flip_signs(u, v.T, backend_of(matrix))
    return SVDResult(u, s, vt)


def _svd(matrix: Any, k: int, solver: str, seed: int) -> SVDResult:
    """Algorithm 1, step 4: the ``k`` leading singular triplets of ``Z̄``.

    Why not plain ARPACK with ``k`` triplets: with column scaling the leading
    singular value of ``Z̄`` is exactly 1, repeated once per connected group
    of landmarks, so it repeats ``k`` times when the clusters are well
    separated; a Krylov method started from one vector finds only some of the
    copies (4 of 5 and 3 of 5 in tests), and k-Means then merges clusters.
    ``"gram"`` (:func:`_gram_svd`) is exact; ``"arpack"``
    (:func:`lcc.truncated_svd`) asks for ``2k + 10`` triplets and keeps ``k``,
    which usually, not provably, finds every copy.
    """
    if solver == "auto":
        solver = "gram" if matrix.shape[1] <= GRAM_MAX_COLUMNS else "arpack"
    if solver == "gram":
        return _gram_svd(matrix, k)
    wanted = min(2 * k + ARPACK_OVERSAMPLING, min(matrix.shape) - 1)
    u, s, vt = truncated_svd(matrix, wanted, seed=seed)
    return SVDResult(u[:, :k], s[:k], vt[:k])


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
    given, target = resolve(z, backend)
    z = move(z, target)
    if landmarks is not None:
        landmarks, p = _check_landmarks(move(landmarks, target), z, n_landmarks)
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
    weights, idx, _ = _member(z, landmarks, r, metric, bandwidth, minkowski_p, target)
    return move(_csr(weights, idx, p, target), given)


def draw_metrics(n_members: int, seed: int) -> tuple[str, ...]:
    """SSC-RM's metrics (Algorithm 2, step 2): a random metric per member, all different.

    Algorithm 2 asks for a different distance metric in every member; with
    three metrics that is possible for three members at a time. So the
    members are taken in blocks of three, each block a uniformly random
    permutation of (euclidean, cosine, minkowski): consecutive members never
    repeat a metric within a block and all metrics are used equally often
    (± 1). Drawn from ``numpy.random.default_rng(seed)``: reproducible.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    drawn: list[str] = []
    while len(drawn) < n_members:
        drawn.extend(METRICS[i] for i in rng.permutation(len(METRICS)))
    return tuple(drawn[:n_members])


def _check_metrics(metrics: Any, m: int, seed: int) -> tuple[str, ...]:
    if metrics is None:
        return ("euclidean",) * m
    if metrics == "random":
        return draw_metrics(m, seed)
    if isinstance(metrics, str):
        return (check_choice(metrics, "metrics", METRICS),) * m
    if not isinstance(metrics, Sequence):
        raise TypeError(
            f"metrics must be None, 'random', a metric name or a list of them, got {metrics!r}"
        )
    if len(metrics) != m:
        raise ValueError(f"{len(metrics)} metrics given for {m} embeddings; give one per member")
    return tuple(check_choice(name, f"metrics[{i}]", METRICS) for i, name in enumerate(metrics))


def ssc_consensus(
    embeddings: Sequence[Any],
    n_clusters: int,
    n_landmarks: int,
    r: int,
    *,
    metrics: Sequence[Metric] | Literal["random"] | Metric | None = None,
    bandwidth: float | Literal["scott"] = "scott",
    minkowski_p: float = DEFAULT_MINKOWSKI_P,
    seed: int = 0,
    n_init: int = 10,
    normalize_columns: bool = True,
    svd_solver: Literal["auto", "gram", "arpack"] = "auto",
    return_details: bool = False,
    backend: str | None = None,
) -> Any:
    """The SSC consensus partition of ``m`` embeddings (Algorithm 1 steps 2–5; Algorithm 2).

    For each member ``i``: ``p`` landmarks by mini-batch k-Means and the
    sparse ``Ẑ_i`` (:func:`landmark_affinity`, section II.B), its columns
    scaled by ``D_i^(−1/2)`` as in LSC (see ``normalize_columns``). Then
    ``Z̄ = (1/√m) [Ẑ_1 | … | Ẑ_m]`` (section II.C, built directly as one CSR
    matrix with ``r·m`` entries per row), its ``k = n_clusters`` leading left
    singular vectors ``U`` (see ``svd_solver``), and k-Means on the rows of ``U``. As in the paper
    (and LSC), the rows of ``U`` are not normalised before k-Means.

    Parameters
    ----------
    embeddings : sequence of (n_samples, d_i) numpy or cupy arrays
        The ``m`` members (e.g. snapshot encoders' embeddings), all with the
        same rows in the same sample order; dimensions may differ.
    n_clusters : int
        ``k``, ``1 ≤ k < min(n_samples, p·m)``.
    n_landmarks : int
        ``p`` per member (350 / 600 in the paper).
    r : int
        Nearest landmarks per sample (3 in the paper's MNIST runs), ``r ≤ p``.
    metrics : None, "random", a metric name, or a sequence of them, default None
        None: all euclidean (SSC). ``"random"``: SSC-RM, metrics drawn by
        :func:`draw_metrics` from ``seed``. A name: that metric for every
        member. A sequence: one metric per member.
    bandwidth : "scott" or float, default "scott"
        Kernel width σ for every member (Scott's rule is computed per member).
    minkowski_p : float, default 1.0
        ``p`` of the Minkowski metric (see :func:`landmark_affinity`).
    seed : int, default 0
        Seeds the metric draw, each member's landmark k-Means (independent
        streams spawned from it), the SVD start vector and the final k-Means.
    n_init : int, default 10
        Restarts of the final k-Means on ``U`` (cheap: ``U`` is ``n × k``).
    normalize_columns : bool, default True
        Scale each member's landmark columns by ``D^(−1/2)``,
        ``D = diag(Ẑ_iᵀ 1)``, before stacking. Section II.C does not write this
        step, but it builds on LSC [5] and SC-EDAE [1], which both take it: it
        makes ``Z̄Z̄ᵀ`` a row-stochastic affinity (top singular value 1).
        Without it the SVD favours crowded landmarks: on the 5,000-image MNIST
        subset (three random 64-D projections, p = 350, r = 3) NMI falls from
        0.63 to 0.29. ``False`` follows the paper's text literally.
    svd_solver : {"auto", "gram", "arpack"}, default "auto"
        How ``U`` is computed: ``"gram"``, the dense eigendecomposition of the
        ``(p·m)²`` matrix ``Z̄ᵀZ̄`` (as LSC does; exact even for repeated
        singular values, which well-separated clusters produce); ``"arpack"``,
        :func:`lcc.truncated_svd` (ARPACK / float64 Gram eigensolver) with ``2k + 10``
        triplets of which ``k`` are kept. ``"auto"``: ``"gram"`` while
        ``p·m ≤ 4096``, else ``"arpack"``.
    return_details : bool, default False
        Return an :class:`SSCResult` (labels, SVD, ``Z̄``, metrics, bandwidths,
        landmarks) instead of the labels alone.
    backend : {"auto", "cpu", "gpu"}, optional
        See :mod:`lcc._backend`; default follows the input array type.

    Returns
    -------
    (n_samples,) int64 array, or SSCResult
        Of the input's kind (numpy or cupy).
    """
    if isinstance(embeddings, str) or not isinstance(embeddings, Sequence):
        raise TypeError(
            "embeddings must be a list of (n_samples, d) arrays, one per member, got "
            f"{type(embeddings).__name__}"
        )
    if len(embeddings) == 0:
        raise ValueError("embeddings is empty; give at least one member")
    members = [check_latents(z, f"embeddings[{i}]") for i, z in enumerate(embeddings)]
    check_same_kind(**{f"embeddings[{i}]": z for i, z in enumerate(members)})
    n = members[0].shape[0]
    for i, z in enumerate(members):
        if z.shape[0] != n:
            raise ValueError(
                f"embeddings[{i}] has {z.shape[0]} rows but embeddings[0] has {n}: every "
                "member must embed the same samples in the same order"
            )
    m = len(members)
    seed = check_positive_int(seed, "seed", minimum=0)
    p = check_positive_int(n_landmarks, "n_landmarks")
    if p > n:
        raise ValueError(f"n_landmarks={p} exceeds the number of samples ({n})")
    r = _check_r(r, p)
    k = check_positive_int(n_clusters, "n_clusters")
    if k >= min(n, p * m):
        raise ValueError(
            f"n_clusters={k} must be smaller than min(n_samples, n_landmarks · members) = "
            f"{min(n, p * m)}: k singular vectors of the n × p·m matrix Z̄ are clustered"
        )
    n_init = check_positive_int(n_init, "n_init")
    solver = check_choice(svd_solver, "svd_solver", ("auto", "gram", "arpack"))
    chosen = _check_metrics(metrics, m, seed)
    bandwidth = _check_bandwidth(bandwidth)
    minkowski_p = _check_minkowski_p(minkowski_p)

    import numpy as np

    given, target = resolve(members[0], backend)
    xp = array_module(target)
    member_seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(m)]
    weights, indices, sigmas, all_landmarks = [], [], [], []
    for i, z in enumerate(members):
        z = move(z, target)
        landmarks = _landmarks(z, p, member_seeds[i])
        w, idx, sigma = _member(z, landmarks, r, chosen[i], bandwidth, minkowski_p, target)
        weights.append(_column_scaled(w, idx, p) if normalize_columns else w)
        indices.append(idx + i * p)  # member i's landmarks are columns i·p … (i+1)·p − 1
        sigmas.append(sigma)
        all_landmarks.append(landmarks)
    stacked = _csr(
        xp.concatenate(weights, axis=1) / math.sqrt(m),
        xp.concatenate(indices, axis=1),
        p * m,
        target,
    )
    del weights, indices
    svd = _svd(stacked, k, solver, seed)
    labels = move(kmeans(svd.U, k, seed=seed, n_init=n_init).labels, given)
    if not return_details:
        return labels
    return SSCResult(
        labels=labels,
        svd=SVDResult(*(move(a, given) for a in svd)),
        affinity=move(stacked, given),
        metrics=chosen,
        bandwidths=tuple(sigmas),
        landmarks=[move(lm, given) for lm in all_landmarks],
    )


def consensus_labels(
    affinity: Any,
    n_clusters: int,
    *,
    seed: int = 0,
    n_init: int = 10,
    svd_solver: Literal["auto", "gram", "arpack"] = "auto",
) -> Any:
    """k-Means on the ``k`` leading left singular vectors of a landmark affinity (Alg. 1, 4–5).

    The last two steps of :func:`ssc_consensus`, for an affinity it returned
    (``return_details=True``) or a slice of one.
    """
    k = check_positive_int(n_clusters, "n_clusters")
    solver = check_choice(svd_solver, "svd_solver", ("auto", "gram", "arpack"))
    svd = _svd(affinity, k, solver, seed)
    return kmeans(svd.U, k, seed=seed, n_init=check_positive_int(n_init, "n_init")).labels


def ensemble_size_labels(
    result: SSCResult, n_clusters: int, *, seed: int = 0, n_init: int = 10
) -> list[Any]:
    """The consensus of the first ``1, 2, …, m`` members of an ensemble (the SSC paper's Fig. 3).

    Cheap: no landmark or affinity is recomputed. The first ``i`` members'
    blocks of ``result.affinity`` are ``√(i/m) ·`` what :func:`ssc_consensus`
    builds for them alone (each member's columns are scaled by its own
    ``D^(−1/2)``), so each prefix is rescaled to ``1/√i`` and only its SVD and
    k-Means are run. The last entry reproduces ``result.labels``.
    """
    m = len(result.metrics)
    p = result.affinity.shape[1] // m
    labels = []
    for i in range(1, m + 1):
        prefix = result.affinity[:, : i * p] * math.sqrt(m / i)
        labels.append(consensus_labels(prefix, n_clusters, seed=seed, n_init=n_init))
    return labels
