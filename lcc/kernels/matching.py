"""The one-to-many matching of clusters to labels (LCC paper, section III.C, eq. 3–5):
an argmax over the rows of the cluster × label contingency table."""

from __future__ import annotations

from typing import Any, NamedTuple

from lcc._dispatch import Placement

__all__ = ["Matching", "contingency", "match"]


class Matching(NamedTuple):
    """Result of :func:`lcc.match_clusters`.

    cluster_to_label : (n_clusters,) int64
        ``cluster_to_label[c]`` is the true label matched to cluster ``c``
        (α in the paper), for ``c`` in ``0..max(y_clst)``; ``-1`` for a cluster
        id that no sample carries.
    misclustered : (n_samples,) bool
        The misclustered (MC) mask, ``α(y_clst_i) ≠ y_i``; ``~misclustered`` is CC.
    """

    cluster_to_label: Any
    misclustered: Any


def match(on: Placement, y_true: Any, y_clst: Any) -> Matching:
    """α (eq. 3): every cluster gets the label it overlaps most (ties: the smallest label)."""
    xp = on.xp
    label_values, label_idx = xp.unique(y_true, return_inverse=True)
    label_idx = label_idx.reshape(-1)
    if label_values.shape[0] < 2:
        raise ValueError(
            f"y_true has a single class ({int(label_values[0])}); matching clusters to "
            "labels needs at least two"
        )
    n_labels = label_values.shape[0]
    n_clusters = int(y_clst.max()) + 1
    table = contingency(on, y_clst, label_idx, n_clusters, n_labels)
    best = xp.argmax(table, axis=1)  # first maximum: the smallest label wins ties
    cluster_to_label = xp.where(table.sum(axis=1) > 0, label_values[best], -1).astype(xp.int64)
    misclustered = cluster_to_label[y_clst] != y_true
    return Matching(cluster_to_label, misclustered)


def contingency(on: Placement, rows: Any, cols: Any, n_rows: int, n_cols: int) -> Any:
    """Dense ``(n_rows, n_cols)`` table of counts of the pairs ``(rows[i], cols[i])``."""
    xp = on.xp
    flat = rows.astype(xp.int64) * n_cols + cols.astype(xp.int64)
    return xp.bincount(flat, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
