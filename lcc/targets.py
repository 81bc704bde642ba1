"""Correction targets of latent cluster correction (LCC paper, sections III.D, V.C, VI.B).

After clustering the latents and matching clusters to labels
(:func:`lcc.match_clusters`), every misclustered (MC) sample gets a target in
latent space that the LCC loss (eq. 8) pulls it towards. Computed by the
engine on the latents' device (numpy → CPU, cupy → GPU); the glue
(:mod:`lcc.kernels.targets`) is written once on the numpy API that cupy mirrors.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np

from lcc import sharded
from lcc._dispatch import here, place
from lcc._validation import (
    check_choice,
    check_labels,
    check_latents,
    check_positive_int,
)
from lcc.kernels import targets as kernels
from lcc.matching import Matching, match_clusters
from lcc.neighbors import METRICS, Metric, unit_latents

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
    metric: Metric = "euclidean",
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
    metric : {"euclidean", "cosine", "inner_product"}, default "euclidean"
        The geometry of the targets (:data:`lcc.neighbors.METRICS`). ``"cosine"``
        runs every mode on the rows scaled to unit length (nearest CC samples by
        cosine, their mean direction) and gives each correctible sample its own
        length in that direction (:func:`lcc.kernels.targets.in_direction`).
        ``"inner_product"``: every "nearest" of the modes is "of largest inner
        product" (eq. 7's centroid of the ``k`` CC samples of largest ``⟨z_i, z_j⟩``,
        eq. 14's representative, the orthogonal mode's neighbourhood).

    Returns
    -------
    CorrectionTargets
        ``(targets, correctible)`` of the input's kind.
    """
    z = check_latents(z)
    on = place(z, backend=backend)
    if on.sharded:  # the labels of sharded latents are gathered here
        y_true, y_clst = sharded.gather(y_true), sharded.gather(y_clst)
    n = z.shape[0]
    y_true = check_labels(y_true, "y_true", n)
    y_clst = check_labels(y_clst, "y_clst", n)
    k = check_positive_int(k, "k")
    check_choice(mode, "mode", ("exact", "approximate", "orthogonal"))
    k_prime = check_positive_int(k_prime, "k_prime", minimum=2)
    if not 0 < tangent_variance < 1:
        raise ValueError(f"tangent_variance must be in (0, 1), got {tangent_variance}")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    check_choice(metric, "metric", METRICS)
    options = {"k": k, "k_prime": k_prime, "tangent_variance": tangent_variance}
    options |= {"seed": seed, "chunk_size": chunk_size, "inner_product": metric == "inner_product"}
    cosine = metric == "cosine"
    if on.sharded:
        space = unit_latents(on, z) if cosine else z
        found = sharded.correction.correction_targets(
            space, y_true, y_clst, matching, mode, **options
        )
        if cosine:
            found = (_sharded_in_direction(found[0], z, found[1]), found[1])
        return CorrectionTargets(*found)
    z, y_true, y_clst = on.to(z, y_true, y_clst)
    if matching is None:
        matching = match_clusters(y_true, y_clst)
    space = unit_latents(on, z) if cosine else z
    targets, ok = kernels.correction_targets(
        on, space, y_true, y_clst, matching, mode=mode, **options
    )
    if cosine:
        targets = kernels.in_direction(on.xp, targets, z, ok)
    return CorrectionTargets(*on.back(targets, ok))


def _sharded_in_direction(targets: Any, z: Any, correctible: Any) -> Any:
    """:func:`lcc.kernels.targets.in_direction` block by block, ``z`` and ``correctible``
    chunked like ``targets``."""
    return targets.map_blocks(
        lambda t, zb, ok: kernels.in_direction(here(zb).xp, t, zb, ok[:, 0]),
        z.astype(np.float32).rechunk(targets.chunks),
        correctible[:, None].rechunk((targets.chunks[0], 1)),
        dtype=np.float32,
    )
