"""The LCC step's partition checks: the resolution of a sweep whose cluster count is
closest to the class count, and a guard against cluster explosions.

Community detection on a k-NN graph can return far more communities than the data
has classes: cuGraph's Leiden after some upgrades (cugraph #3749, #4529: ~20 → up to
200,000 clusters on 6M nodes), "one cluster per cell" in rapids-singlecell (#44, #286,
#417). For LCC an explosion silently turns most samples into misclustered ones, whose
targets then pull the latents toward meaningless centres. :func:`explosion` measures a
partition against two stated limits, both unsupervised but for the class count: more
than ``max_cluster_ratio`` clusters per class, or more than ``max_singleton_share`` of
the samples alone in their cluster.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from lcc._dispatch import here

__all__ = ["ClusterExplosionWarning", "closest_to_classes", "explosion", "warn_once"]


class ClusterExplosionWarning(RuntimeWarning):
    """A partition with far more clusters, or singletons, than the stated limits."""


def closest_to_classes(cluster_counts: Sequence[int], n_classes: int) -> int:
    """The index of the count closest to ``n_classes`` (the first of equals: the lowest
    resolution of an ascending sweep). Only the class count is read from the labels."""
    return min(range(len(cluster_counts)), key=lambda i: abs(cluster_counts[i] - n_classes))


def explosion(
    clusters: Any,
    n_classes: int,
    *,
    max_cluster_ratio: float | None,
    max_singleton_share: float | None,
) -> dict[str, Any]:
    """The statistics of compact ``clusters`` (ids ``0 … C − 1``, numpy or cupy) against the
    limits (None: that limit is off): ``n_clusters``, ``singleton_fraction`` (the share
    of samples alone in their cluster), ``exploded``, and ``explosion``, a one-line
    description of what exceeded its limit (None when nothing did)."""
    xp = here(clusters).xp
    sizes = xp.bincount(clusters)
    n_clusters = int(sizes.shape[0])
    singletons = float(xp.count_nonzero(sizes == 1)) / clusters.shape[0]
    problems = []
    if max_cluster_ratio is not None and n_clusters > max_cluster_ratio * n_classes:
        limit = max_cluster_ratio * n_classes
        problems.append(
            f"{n_clusters} clusters for {n_classes} classes "
            f"(the limit, max_cluster_ratio={max_cluster_ratio:g}: {limit:g})"
        )
    if max_singleton_share is not None and singletons > max_singleton_share:
        problems.append(
            f"{singletons:.1%} of the samples alone in their cluster "
            f"(the limit, max_singleton_share={max_singleton_share:g})"
        )
    return {
        "n_clusters": n_clusters,
        "singleton_fraction": singletons,
        "exploded": bool(problems),
        "explosion": "; ".join(problems) or None,
    }


@contextlib.contextmanager
def warn_once(already_warned: bool) -> Iterator[None]:
    """A run's later explosions silenced (:class:`ClusterExplosionWarning` ignored inside)
    once it has warned; its statistics still record every one."""
    with warnings.catch_warnings():
        if already_warned:
            warnings.simplefilter("ignore", ClusterExplosionWarning)
        yield
