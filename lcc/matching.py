"""One-to-many matching of clusters to true labels (LCC paper, section III.C).

The paper solves a max-flow / max-weight problem: supersource → every label
(unbounded capacity), label t → cluster c (capacity 1, weight |{y = t} ∩ {c}|,
eq. 5), cluster → supersink (capacity 1). Because the supersource's edges are
unbounded, the only binding constraint is that each cluster receives one unit
of flow, from exactly one label (the paper's Proposition), and the weight of a
flow is the sum over clusters of the weight of that one edge. The clusters do
not compete, so the optimum gives every cluster the label it overlaps most:
an argmax over the rows of the cluster × label contingency table, O(N).
``tests/engine/test_matching.py`` checks this against networkx's ``max_flow_min_cost``.
"""

from __future__ import annotations

from typing import Any

from lcc import sharded
from lcc._dispatch import here, is_sharded
from lcc._validation import check_labels, check_same_kind
from lcc.kernels.matching import Matching, match

__all__ = ["Matching", "match_clusters"]


def match_clusters(y_true: Any, y_clst: Any) -> Matching:
    """Optimal one-to-many matching α: clusters → labels (eq. 3) and the MC mask.

    Parameters
    ----------
    y_true : (n_samples,) int array
        True labels, at least two distinct values.
    y_clst : (n_samples,) int array
        Cluster ids (e.g. from :func:`lcc.leiden`), same length and device.

    Returns
    -------
    Matching
        ``(cluster_to_label, misclustered)``. Ties between labels are broken
        towards the smallest label, so the result is deterministic. Dask labels
        are gathered here (``n`` integers each); ``misclustered`` is then a Dask
        array chunked like them.
    """
    if is_sharded(y_true, y_clst):
        matching = match_clusters(sharded.gather(y_true), sharded.gather(y_clst))
        return sharded.correction.rows_like(matching, y_true, y_clst)
    y_true = check_labels(y_true, "y_true")
    y_clst = check_labels(y_clst, "y_clst", y_true.shape[0])
    check_same_kind(y_true=y_true, y_clst=y_clst)
    return match(here(y_true), y_true, y_clst)
