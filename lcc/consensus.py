"""The Snapshot Spectral Clustering consensus (SSC paper, II.C–II.D, Algorithms 1 and 2).

**II.C, fusion**: ``Z̄ = (1/√m) [Ẑ_1 | … | Ẑ_m]`` of the members' landmark
affinities (:func:`lcc.landmarks.landmark_affinity`; ``n × pm``, ``r·m``
non-zeros per row), its ``k`` leading left singular vectors ``U`` and
k-Means on ``U`` (Algorithm 1, steps 3–5; :func:`ssc_consensus`). Each
``Ẑ_i`` first gets LSC's column scaling ``D_i^(−1/2)``, a step the paper
inherits from its sources [1], [5] without writing it out
(``normalize_columns``). **Algorithm 2, SSC-RM**: every member uses a
different distance metric, drawn at random (``metrics="random"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from lcc._dispatch import Placement, here, place
from lcc._validation import check_choice, check_latents, check_positive_int, check_same_kind
from lcc.kernels import landmarks as kernels
from lcc.kernels.graph import in_order_of_appearance
from lcc.kernels.spectral import flip_signs
from lcc.kmeans import kmeans
from lcc.landmarks import (
    DEFAULT_MINKOWSKI_P,
    METRICS,
    Metric,
    _check_bandwidth,
    _check_minkowski_p,
    _check_r,
    _landmarks,
)
from lcc.spectral import SVDResult, truncated_svd

__all__ = ["SSCResult", "consensus_labels", "draw_metrics", "ensemble_size_labels", "ssc_consensus"]

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


def _column_scaled(on: Placement, weights: Any, idx: Any, n_columns: int) -> Any:
    """``Ẑ D^(−1/2)``'s entries, ``D = diag(Ẑᵀ 1)`` the landmarks' total weights (LSC).

    Chen & Cai (2011, the paper's [5]) and SC-EDAE (its [1]) scale every
    landmark's column by ``D_jj^(−1/2)`` before the SVD, so that the implied
    sample affinity ``ẐD⁻¹Ẑᵀ`` has rows summing to 1 and its leading singular
    value is 1 (then ``Z̄Z̄ᵀ``, the mean of the members', has too: the reason for
    the ``1/√m`` of section II.C). Without it the leading singular vectors
    follow the most populated landmarks rather than the clusters. A landmark
    no sample uses (``D_jj = 0``) has an empty column and stays empty.
    """
    xp = on.xp
    totals = xp.bincount(idx.ravel(), weights=weights.ravel(), minlength=n_columns)
    scale = xp.where(totals > 0, 1.0 / xp.sqrt(xp.maximum(totals, 1e-300)), 0.0)
    return weights * scale[idx]


def _gram_svd(on: Placement, matrix: Any, k: int) -> SVDResult:
    """The ``k`` leading singular triplets of a tall sparse ``matrix`` from its Gram matrix.

    ``G = matrixᵀ·matrix`` is only ``(p·m) × (p·m)``; its dense symmetric
    eigendecomposition (LAPACK ``syevd`` through numpy, cuSOLVER through
    cupy) gives ``V`` and ``S²``, and ``U = matrix · V · S⁻¹``. This is how LSC
    (the paper's [5]) computes its SVD, since ``p ≪ n``. Unlike a Lanczos
    method it resolves repeated singular values exactly.
    """
    xp = on.xp
    gram = (matrix.T.tocsr() @ matrix).toarray()
    values, vectors = xp.linalg.eigh(gram)
    top = xp.arange(gram.shape[0] - 1, gram.shape[0] - 1 - k, -1)
    s = xp.sqrt(xp.maximum(values[top], 0))
    v = vectors[:, top]
    u = (matrix @ v) / xp.where(s > 0, s, 1)[None, :]
    u, vt = flip_signs(on, u, v.T)
    return SVDResult(u, s, vt)


def _svd(on: Placement, matrix: Any, k: int, solver: str, seed: int) -> SVDResult:
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
        return _gram_svd(on, matrix, k)
    wanted = min(2 * k + ARPACK_OVERSAMPLING, min(matrix.shape) - 1)
    u, s, vt = truncated_svd(matrix, wanted, seed=seed)
    return SVDResult(u[:, :k], s[:k], vt[:k])


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
    members, p, r, k = _check_members(embeddings, n_landmarks, r, n_clusters)
    m = len(members)
    seed = check_positive_int(seed, "seed", minimum=0)
    n_init = check_positive_int(n_init, "n_init")
    solver = check_choice(svd_solver, "svd_solver", ("auto", "gram", "arpack"))
    chosen = _check_metrics(metrics, m, seed)
    bandwidth = _check_bandwidth(bandwidth)
    minkowski_p = _check_minkowski_p(minkowski_p)
    on = place(members[0], backend=backend)
    members = [on.to(z) for z in members]
    stacked, sigmas, all_landmarks = _stacked_affinity(
        on, members, p, r, chosen, bandwidth, minkowski_p, normalize_columns, seed
    )
    svd = _svd(on, stacked, k, solver, seed)
    # the GPU's singular vectors of SSC's repeated singular values rotate from call to call
    # (an H200, one seed, two calls: the same partition, ARI 1.0, labels permuted), which
    # k-Means' seeding turns into another numbering of the same clusters
    labels = on.back(in_order_of_appearance(on, kmeans(svd.U, k, seed=seed, n_init=n_init).labels))
    if not return_details:
        return labels
    return SSCResult(
        labels=labels,
        svd=SVDResult(*on.back(*svd)),
        affinity=on.back(stacked),
        metrics=chosen,
        bandwidths=sigmas,
        landmarks=[on.back(lm) for lm in all_landmarks],
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
    on = here(affinity)
    svd = _svd(on, affinity, k, solver, seed)
    labels = kmeans(svd.U, k, seed=seed, n_init=check_positive_int(n_init, "n_init")).labels
    return in_order_of_appearance(on, labels)


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


def _check_members(embeddings: Any, n_landmarks: Any, r: Any, n_clusters: Any):
    """The members (same rows, same kind), ``p``, ``r`` and ``k``, checked."""
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
    return (members, *check_counts(n, n_landmarks, r, n_clusters, len(members)))


def check_counts(
    n_samples: int, n_landmarks: Any, r: Any, n_clusters: Any, n_members: int = 1
) -> tuple[int, int, int]:
    """``p``, ``r`` and ``k`` of a consensus of ``n_members`` embeddings of ``n_samples``,
    checked against the data and each other before anything is computed: ``p ≤ n``
    landmarks (k-Means centres of the samples), ``r ≤ p`` nearest landmarks, and
    ``k < min(n, p · members)`` singular vectors of the ``n × p·m`` matrix Z̄ (section II.C).
    :class:`lcc.deep.SnapshotSpectralClustering` and the ``ssc`` pipeline check them here first."""
    p = check_positive_int(n_landmarks, "n_landmarks")
    if p > n_samples:
        raise ValueError(
            f"n_landmarks={p} exceeds the number of samples ({n_samples}): landmarks are "
            "k-Means centres of the samples"
        )
    r = _check_r(r, p)
    k = check_positive_int(n_clusters, "n_clusters")
    if k >= min(n_samples, p * n_members):
        raise ValueError(
            f"n_clusters={k} must be smaller than min(n_samples, n_landmarks · members) = "
            f"{min(n_samples, p * n_members)}: k singular vectors of the n × p·m matrix Z̄ "
            "are clustered"
        )
    return p, r, k


def _stacked_affinity(on, members, p, r, metrics, bandwidth, minkowski_p, normalize_columns, seed):
    """Section II.C: ``Z̄ = (1/√m) [Ẑ_1 | … | Ẑ_m]`` as one CSR matrix, the σ and landmarks.

    Member ``i``'s landmarks are columns ``i·p … (i+1)·p − 1``; each member's
    landmark k-Means gets its own stream spawned from ``seed``.
    """
    import numpy as np

    xp = on.xp
    m = len(members)
    member_seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(m)]
    weights, indices, sigmas, all_landmarks = [], [], [], []
    for i, z in enumerate(members):
        landmarks = _landmarks(z, p, member_seeds[i])
        w, idx, sigma = kernels.member(on, z, landmarks, r, metrics[i], bandwidth, minkowski_p)
        weights.append(_column_scaled(on, w, idx, p) if normalize_columns else w)
        indices.append(idx + i * p)
        sigmas.append(sigma)
        all_landmarks.append(landmarks)
    stacked = kernels.csr(
        on, xp.concatenate(weights, axis=1) / math.sqrt(m), xp.concatenate(indices, axis=1), p * m
    )
    return stacked, tuple(sigmas), all_landmarks
