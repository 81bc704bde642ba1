"""Correction-target kernels of latent cluster correction (LCC paper, sections III.D, V.C,
VI.B): eq. (7) centroids, eq. (13)–(14) representatives and the orthogonal correction."""

from __future__ import annotations

from typing import Any

from lcc._dispatch import Placement
from lcc.kernels.neighbors import drop_self, nearest

__all__ = [
    "approximate",
    "correction_targets",
    "exact",
    "in_direction",
    "label_bases",
    "orthogonal",
    "representatives",
    "targets_from_representatives",
]


def correction_targets(
    on: Placement, z, y_true, y_clst, matching, *, mode, k, k_prime, tangent_variance, seed,
    chunk_size, inner_product=False,
) -> tuple[Any, Any]:  # fmt: skip
    """``(targets, correctible)`` of every sample (see :func:`lcc.correction_targets`);
    ``inner_product``: every "nearest" is "of largest inner product"."""
    cluster_to_label, misclustered = on.to(*matching)
    ip = inner_product
    if mode == "approximate":
        return approximate(on, z, y_true, y_clst, cluster_to_label, misclustered, seed, ip)
    targets, ok = exact(on, z, y_true, misclustered, k, chunk_size, ip)
    if mode == "orthogonal":
        targets = orthogonal(on, z, targets, ok, k_prime, tangent_variance, chunk_size, ip)
    return targets, ok


def in_direction(xp: Any, unit_targets: Any, z: Any, correctible: Any) -> Any:
    """Cosine targets back in latent space: each correctible sample keeps its length
    ``‖z_i‖`` and takes the direction of its target found among the unit rows (for the
    exact mode, the normalised mean direction of its ``k`` nearest CC samples); every
    other row is ``z_i`` itself (a zero correction)."""
    z64 = z.astype(xp.float64)
    t64 = unit_targets.astype(xp.float64)
    length = xp.sqrt(xp.sum(t64 * t64, axis=1, keepdims=True))
    moved = correctible[:, None] & (length > 0)
    scaled = t64 / xp.where(length > 0, length, 1.0) * xp.sqrt(xp.sum(z64 * z64, axis=1))[:, None]
    return xp.where(moved, scaled, z64).astype(z.dtype)


def exact(on: Placement, z, y_true, misclustered, k, chunk_size, inner_product=False):
    """Eq. (7): centroid of the k nearest CC samples of the sample's own label."""
    xp = on.xp
    targets = z.copy()
    correctible = xp.zeros(z.shape[0], dtype=bool)
    for label, base in label_bases(on, y_true, misclustered, k).items():
        queries = xp.flatnonzero((y_true == label) & misclustered)
        _, ids = nearest(
            on, z[base], z[queries], k, chunk_size=chunk_size, inner_product=inner_product
        )
        targets[queries] = z[base[ids]].mean(axis=1)
        correctible[queries] = True
    return targets, correctible


def label_bases(on: Placement, y_true, misclustered, k) -> dict[int, Any]:
    """Eq. (7)'s bases: for every label with MC samples and at least ``k`` CC samples,
    the ids of its CC samples (fewer than ``k``: its MC samples are not correctible)."""
    xp = on.xp
    bases = {}
    for label in xp.unique(y_true[misclustered]).tolist():
        base = xp.flatnonzero((y_true == label) & ~misclustered)
        if base.shape[0] >= k:
            bases[label] = base
    return bases


def approximate(
    on: Placement, z, y_true, y_clst, cluster_to_label, misclustered, seed, inner_product=False
):
    """Eq. (13)–(14): nearest random CC representative among clusters matched to y."""
    reps = representatives(on, y_true, y_clst, cluster_to_label, misclustered, seed)
    zr, rep_labels = z[reps], y_true[reps]
    return targets_from_representatives(on, z, y_true, misclustered, zr, rep_labels, inner_product)


def targets_from_representatives(
    on: Placement, z, y_true, misclustered, zr, rep_labels, inner_product=False
):
    """Eq. (14) for the MC rows of ``z``: the nearest representative ``zr`` of its label
    (``inner_product``: the one of largest inner product)."""
    xp = on.xp
    targets = z.copy()
    correctible = xp.zeros(z.shape[0], dtype=bool)
    queries = xp.flatnonzero(misclustered)
    if queries.shape[0] == 0 or zr.shape[0] == 0:
        return targets, correctible
    zq, yq = z[queries], y_true[queries]
    best, has = _nearest_representative(zq, yq, zr, rep_labels, xp, inner_product)
    targets[queries[has]] = zr[best[has]]
    correctible[queries[has]] = True
    return targets, correctible


def representatives(on: Placement, y_true, y_clst, cluster_to_label, misclustered, seed):
    """Eq. (13): one random CC member per cluster (the CC sample with the largest key)."""
    xp = on.xp
    rng = xp.random.default_rng(seed)
    n_clusters = cluster_to_label.shape[0]
    cc = xp.flatnonzero(~misclustered)
    key = rng.random(cc.shape[0])
    order = xp.lexsort(xp.stack([key, y_clst[cc].astype(xp.float64)]))
    last_of_cluster = xp.flatnonzero(xp.diff(y_clst[cc][order], append=n_clusters) != 0)
    return cc[order[last_of_cluster]]


def _nearest_representative(zq, yq, zr, rep_labels, xp, inner_product=False):
    """Eq. (14): per query, the nearest representative of its own label (``has``: one exists).

    ``rep_labels`` = ``cluster_to_label`` of each representative's cluster,
    which is its true label since representatives are CC.
    """
    d2 = -2 * zq @ zr.T  # − ⟨q, r⟩ orders by inner product
    if not inner_product:
        d2 = d2 + (zr * zr).sum(axis=1)[None, :]  # + ‖zq‖², constant per row
    d2 = xp.where(rep_labels[None, :] == yq[:, None], d2, xp.inf)
    best = xp.argmin(d2, axis=1)
    has = xp.isfinite(d2[xp.arange(zq.shape[0]), best])
    return best, has


def orthogonal(
    on: Placement, z, targets, correctible, k_prime, tangent_variance, chunk_size,
    inner_product=False,
):  # fmt: skip
    """Section V.C: drop the part of v = z − z̄ that lies in the local tangent space
    (the neighbourhood of the local PCA in the metric: ``inner_product`` or Euclidean)."""
    xp = on.xp
    rows = xp.flatnonzero(correctible)
    k_prime = min(k_prime, z.shape[0] - 1)
    out = targets.copy()
    for start in range(0, rows.shape[0], chunk_size):
        ids = rows[start : start + chunk_size]
        sq, nb = nearest(
            on, z, z[ids], k_prime + 1, chunk_size=chunk_size, inner_product=inner_product
        )
        _, nb = drop_self(on, sq, nb, k_prime, query_ids=ids, n_base=z.shape[0])
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
