"""Correction targets of latent cluster correction (LCC paper, sections III.D, V.C, VI.B).

After clustering the latents and matching clusters to labels
(:func:`lcc.match_clusters`), every misclustered (MC) sample gets a target in
latent space that the LCC loss (eq. 8) pulls it towards. Computed by the
engine on the latents' device (numpy → CPU, cupy → GPU); the glue is written
once on the numpy API that cupy mirrors.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from lcc import backends
from lcc._backend import array_module, move, resolve
from lcc._dispatch import sharded
from lcc._validation import (
    check_choice,
    check_labels,
    check_latents,
    check_positive_int,
)
from lcc.matching import Matching, match_clusters
from lcc.neighbors import _drop_self

__all__ = ["CorrectionTargets", "correction_targets"]

Mode = Literal["exact", "approximate", "orthogonal"]


class CorrectionTargets(NamedTuple):
    """Result of :func:`correction_targets`.

    targets : (n_samples, n_features) float32
        The target of every correctible sample; other rows hold the sample's
        own latent vector (a zero correction).
    correctible : (n_samples,) bool
        MC samples for which a target exists.
    """

    targets: Any
    correctible: Any


def correction_targets(
    z: Any,
    y_true: Any,
    y_clst: Any,
    *,
    k: int = 5,
    mode: Mode = "exact",
    k_prime: int = 32,
    tangent_variance: float = 0.9,
    seed: int = 0,
    chunk_size: int = 4096,
    matching: Matching | None = None,
    backend: str | None = None,
) -> CorrectionTargets:
    """Targets of the misclustered samples for the LCC loss.

    Parameters
    ----------
    z : (n_samples, n_features) numpy, cupy or Dask array
        Latents, indexed by dataset index. A Dask array (e.g. read from the
        on-disk latent store) runs on the cluster and gives Dask results
        chunked like ``z``: the matching gathers the labels, the exact mode
        gives every worker the correctly clustered samples once and shards the
        misclustered ones, the orthogonal mode gathers ``z`` to this process.
        The labels may be Dask or local arrays.
    y_true, y_clst : (n_samples,) int arrays
        True labels and cluster ids (e.g. from :func:`lcc.leiden`).
    k : int, default 5
        Correctly clustered (CC) neighbours averaged into a target.
    mode : {"exact", "approximate", "orthogonal"}, default "exact"
        * ``"exact"`` (section III.D, eq. 7): an MC sample with true label ``t``
          is correctible when label ``t`` has at least ``k`` CC samples; its
          target is the centroid of its ``k`` nearest CC samples of label ``t``
          (one exact k-NN index per label, queried in chunks).
        * ``"approximate"`` (section VI.B, eq. 14): one random CC representative
          per cluster; an MC sample is correctible when some cluster with a
          representative is matched to its label, and its target is the
          nearest such representative.
        * ``"orthogonal"`` (section V.C): the exact correction ``v = z − z̄``
          projected onto the orthogonal complement of the tangent space of the
          sample's current manifold, estimated by PCA of its ``k_prime``
          nearest latents; the components that explain ``tangent_variance`` of
          the local variance span the tangent space. Target ``z − v⊥``.
    k_prime : int, default 32
        Neighbourhood size of the local PCA (orthogonal mode).
    tangent_variance : float, default 0.9
        Share of local variance the tangent space keeps (orthogonal mode).
    seed : int, default 0
        Choice of representatives (approximate mode).
    chunk_size : int, default 4096
        MC samples processed at once (bounds memory).
    matching : Matching, optional
        ``match_clusters(y_true, y_clst)`` when the caller has it already
        (:func:`lcc.correct` does), so that it is not computed twice.
    backend : {"auto", "cpu", "gpu"}, optional

    Returns
    -------
    CorrectionTargets
        ``(targets, correctible)`` of the input's kind.
    """
    z = check_latents(z)
    impl = sharded("correction_targets", z)
    if impl is not None:  # the labels of sharded latents are gathered here
        gather = sharded("gather", z)
        y_true, y_clst = gather(y_true), gather(y_clst)
    n = z.shape[0]
    y_true = check_labels(y_true, "y_true", n)
    y_clst = check_labels(y_clst, "y_clst", n)
    k = check_positive_int(k, "k")
    check_choice(mode, "mode", ("exact", "approximate", "orthogonal"))
    k_prime = check_positive_int(k_prime, "k_prime", minimum=2)
    if not 0 < tangent_variance < 1:
        raise ValueError(f"tangent_variance must be in (0, 1), got {tangent_variance}")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if impl is not None:
        options = {"k": k, "k_prime": k_prime, "tangent_variance": tangent_variance}
        options |= {"seed": seed, "chunk_size": chunk_size, "matching": matching}
        return CorrectionTargets(*impl(z, y_true, y_clst, mode=mode, **options))
    given, target = resolve(z, backend)
    z, y_true, y_clst = (move(a, target) for a in (z, y_true, y_clst))
    if matching is None:
        matching = match_clusters(y_true, y_clst)
    cluster_to_label, misclustered = (move(a, target) for a in matching)
    if mode == "approximate":
        targets, ok = _approximate(z, y_true, y_clst, cluster_to_label, misclustered, seed, target)
    else:
        targets, ok = _exact(z, y_true, misclustered, k, chunk_size, target)
        if mode == "orthogonal":
            targets = _orthogonal(z, targets, ok, k_prime, tangent_variance, chunk_size, target)
    return CorrectionTargets(move(targets, given), move(ok, given))


def _exact(z, y_true, misclustered, k, chunk_size, backend):
    """Eq. (7): centroid of the k nearest CC samples of the sample's own label."""
    xp = array_module(backend)
    impl = backends.get(backend)
    targets = z.copy()
    correctible = xp.zeros(z.shape[0], dtype=bool)
    for label, base in _label_bases(y_true, misclustered, k, xp).items():
        queries = xp.flatnonzero((y_true == label) & misclustered)
        _, nearest = impl.knn_query(z[base], z[queries], k, chunk_size=chunk_size)
        targets[queries] = z[base[nearest]].mean(axis=1)
        correctible[queries] = True
    return targets, correctible


def _label_bases(y_true, misclustered, k, xp) -> dict[int, Any]:
    """Eq. (7)'s bases: for every label with MC samples and at least ``k`` CC samples,
    the ids of its CC samples (fewer than ``k``: its MC samples are not correctible)."""
    bases = {}
    for label in xp.unique(y_true[misclustered]).tolist():
        base = xp.flatnonzero((y_true == label) & ~misclustered)
        if base.shape[0] >= k:
            bases[label] = base
    return bases


def _approximate(z, y_true, y_clst, cluster_to_label, misclustered, seed, backend):
    """Eq. (13)–(14): nearest random CC representative among clusters matched to y."""
    xp = array_module(backend)
    reps = _representatives(y_true, y_clst, cluster_to_label, misclustered, seed, backend)
    return _targets_from_representatives(z, y_true, misclustered, z[reps], y_true[reps], xp)


def _targets_from_representatives(z, y_true, misclustered, zr, rep_labels, xp):
    """Eq. (14) for the MC rows of ``z``: the nearest representative ``zr`` of its label."""
    targets = z.copy()
    correctible = xp.zeros(z.shape[0], dtype=bool)
    queries = xp.flatnonzero(misclustered)
    if queries.shape[0] == 0 or zr.shape[0] == 0:
        return targets, correctible
    best, has = _nearest_representative(z[queries], y_true[queries], zr, rep_labels, xp)
    targets[queries[has]] = zr[best[has]]
    correctible[queries[has]] = True
    return targets, correctible


def _representatives(y_true, y_clst, cluster_to_label, misclustered, seed, backend):
    """Eq. (13): one random CC member per cluster (the CC sample with the largest key)."""
    xp = array_module(backend)
    rng = xp.random.default_rng(seed)
    n_clusters = cluster_to_label.shape[0]
    cc = xp.flatnonzero(~misclustered)
    key = rng.random(cc.shape[0])
    order = xp.lexsort(xp.stack([key, y_clst[cc].astype(xp.float64)]))
    last_of_cluster = xp.flatnonzero(xp.diff(y_clst[cc][order], append=n_clusters) != 0)
    return cc[order[last_of_cluster]]


def _nearest_representative(zq, yq, zr, rep_labels, xp):
    """Eq. (14): per query, the nearest representative of its own label (``has``: one exists).

    ``rep_labels`` = ``cluster_to_label`` of each representative's cluster,
    which is its true label since representatives are CC.
    """
    d2 = (zr * zr).sum(axis=1)[None, :] - 2 * zq @ zr.T  # + ‖zq‖², constant per row
    d2 = xp.where(rep_labels[None, :] == yq[:, None], d2, xp.inf)
    best = xp.argmin(d2, axis=1)
    has = xp.isfinite(d2[xp.arange(zq.shape[0]), best])
    return best, has


def _orthogonal(z, targets, correctible, k_prime, tangent_variance, chunk_size, backend):
    """Section V.C: drop the part of v = z − z̄ that lies in the local tangent space."""
    xp = array_module(backend)
    impl = backends.get(backend)
    rows = xp.flatnonzero(correctible)
    k_prime = min(k_prime, z.shape[0] - 1)
    out = targets.copy()
    for start in range(0, rows.shape[0], chunk_size):
        ids = rows[start : start + chunk_size]
        sq, nb = impl.knn_query(z, z[ids], k_prime + 1, chunk_size=chunk_size)
        _, nb = _drop_self(sq, nb, k_prime, backend, query_ids=ids, n_base=z.shape[0])
        local = z[nb] - z[nb].mean(axis=1, keepdims=True)  # (m, k', d)
        s2, vt = _local_pca(local, xp)  # rows of vt: directions
        share = s2 / xp.maximum(s2.sum(axis=1, keepdims=True), 1e-30)
        keep = xp.cumsum(share, axis=1) - share < tangent_variance  # until the share is reached
        basis = vt * keep[:, :, None]
        v = z[ids] - targets[ids]
        along = xp.einsum("mjd,md->mj", basis, v)
        v_perp = v - xp.einsum("mj,mjd->md", along, basis)
        out[ids] = z[ids] - v_perp
    return out


def _local_pca(local: Any, xp: Any) -> tuple[Any, Any]:
    """Squared singular values (descending) and right singular vectors of each ``(k', d)``
    matrix of ``local`` ``(m, k', d)``, from the ``k' × k'`` Gram matrices.

    ``eigh`` of ``L Lᵀ = W Λ Wᵀ`` gives ``σ² = λ`` and the directions ``Wᵀ L / σ``.
    A batched SVD of ``L`` would do the same, but cupy's batched ``svd`` falls
    back to one cuSOLVER call per matrix once a side exceeds 32 (every latent
    width above 32), while the ``k' × k'`` eigenproblems batch. Computed in
    float64; directions of a zero singular value are zero (they carry no variance).
    """
    local = local.astype(xp.float64)
    gram = local @ local.transpose(0, 2, 1)  # (m, k', k')
    values, vectors = xp.linalg.eigh(gram)  # ascending
    values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    s2 = xp.maximum(values, 0)
    sigma = xp.sqrt(s2)
    directions = vectors.transpose(0, 2, 1) @ local  # (m, k', d), row j scaled by σ_j
    directions = directions / xp.where(sigma > 0, sigma, 1)[:, :, None]
    directions = xp.where((sigma > 1e-12 * sigma[:, :1])[:, :, None], directions, 0)
    return s2, directions.astype(xp.float32)
