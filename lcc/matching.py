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

from typing import Any, NamedTuple

from lcc._backend import array_module, backend_of
from lcc._dispatch import sharded
from lcc._validation import check_labels, check_same_kind

__all__ = ["Matching", "match_clusters"]


class Matching(NamedTuple):
    """Result of :func:`match_clusters`.

    cluster_to_label : (n_clusters,) int64
        ``cluster_to_label[c]`` is the true label matched to cluster ``c``
        (α in the paper), for ``c`` in ``0..max(y_clst)``; ``-1`` for a cluster
        id that no sample carries.
    misclustered : (n_samples,) bool
        The misclustered (MC) mask, ``α(y_clst_i) ≠ y_i``; ``~misclustered`` is CC.
    """

    cluster_to_label: Any
    misclustered: Any


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
        towards the smallest label, so the result is deterministic.
    """
    impl = sharded("match_clusters", y_true, y_clst)
    if impl is not None:  # gathers the labels (n ints each)
        return impl(y_true, y_clst)
    y_true = check_labels(y_true, "y_true")
    y_clst = check_labels(y_clst, "y_clst", y_true.shape[0])
    check_same_kind(y_true=y_true, y_clst=y_clst)
    xp = array_module(backend_of(y_true))
    label_values, label_idx = xp.unique(y_true, return_inverse=True)
    label_idx = label_idx.reshape(-1)
    if label_values.shape[0] < 2:
        raise ValueError(
            f"y_true has a single class ({int(label_values[0])}); matching clusters to "
            "labels needs at least two"
        )
    n_labels = label_values.shape[0]
    n_clusters = int(y_clst.max()) + 1
    table = contingency(y_clst, label_idx, n_clusters, n_labels)
    best = xp.argmax(table, axis=1)  # first maximum: the smallest label wins ties
    cluster_to_label = xp.where(table.sum(axis=1) > 0, label_values[best], -1).astype(xp.int64)
    misclustered = cluster_to_label[y_clst] != y_true
    return Matching(cluster_to_label, misclustered)


def contingency(rows: Any, cols: Any, n_rows: int, n_cols: int) -> Any:
    """Dense ``(n_rows, n_cols)`` table of counts of the pairs ``(rows[i], cols[i])``."""
    xp = array_module(backend_of(rows))
    flat = rows.astype(xp.int64) * n_cols + cols.astype(xp.int64)
    return xp.bincount(flat, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
