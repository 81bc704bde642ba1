"""Which classes undergo LCC: the authors' class selection over the confusion graph.

The LCC authors' code (``altaris/lcc``, ``correction/choice.py``) can restrict the
correction to the classes the model confuses most. The confusion graph has the classes
as nodes, and an edge between ``a`` and ``b`` weighing the number of samples of ``a``
predicted as ``b`` plus those of ``b`` predicted as ``a`` (no loops). The policies:

* ``"top_pair_N"``: the classes of the ``N`` heaviest edges (at most ``2N`` classes,
  not necessarily connected);
* ``"top_connected_N"``: a heavy connected set of at most ``N`` classes, grown greedily
  from the heaviest edges (``"top_connected_2"`` is ``"top_pair_1"``);
* ``"max_connected"``: the connected component of the confusion graph with the largest
  total edge weight.

A policy asking for at least as many classes as there are, or a model that confuses no
two classes, selects every class (``None``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from lcc._validation import InvalidParameterError

__all__ = ["POLICY", "check_policy", "confusion_graph", "select_classes"]

POLICY = re.compile(r"top_pair_([1-9]\d*)|top_connected_([1-9]\d*)|max_connected")


class Policy:
    """The rule of ``class_selection``: None (every class) or one of the policies above."""

    def check(self, name: str, value: Any) -> None:
        if value is None or (isinstance(value, str) and POLICY.fullmatch(value)):
            return
        raise InvalidParameterError(
            name,
            f"={value!r} is not a class selection; use None (every class), "
            "'top_pair_N', 'top_connected_N' or 'max_connected'",
        )


def check_policy(policy: Any) -> None:
    Policy().check("class_selection", policy)


def confusion_graph(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` symmetric int64 weights of the confusion graph, zero
    diagonal: ``W[a, b]`` = samples of ``a`` predicted ``b`` + samples of ``b`` predicted ``a``."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    counts = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    counts = counts.reshape(n_classes, n_classes)
    weights = counts + counts.T
    np.fill_diagonal(weights, 0)
    return weights


def select_classes(y_true: Any, y_pred: Any, policy: str | None) -> np.ndarray | None:
    """The classes whose samples undergo LCC under ``policy``, sorted; None for all.

    ``y_true`` / ``y_pred``: true labels and the model's predicted classes, ``0 … C − 1``
    (numpy or cupy; the ``C × C`` graph is built on the host).
    """
    check_policy(policy)
    if policy is None:
        return None
    y_true, y_pred = _host(y_true), _host(y_pred)
    n_classes = int(max(y_true.max(), y_pred.max())) + 1
    weights = confusion_graph(y_true, y_pred, n_classes)
    top_pair, top_connected = POLICY.fullmatch(policy).groups()
    wanted = int(top_pair or top_connected or 0)
    if wanted >= n_classes or not weights.any():  # the authors': every class
        return None
    if top_pair:
        return _top_pairs(weights, wanted)
    groups = _grown_from_heaviest_edges(weights, wanted) if wanted else _components(weights)
    best = max(groups, key=lambda g: _weight(weights, g))
    return np.array(sorted(best), dtype=np.int64)


def _host(labels: Any) -> np.ndarray:
    return np.asarray(labels.get() if hasattr(labels, "get") else labels).ravel()


def _edges(weights: np.ndarray) -> list[tuple[int, int, int]]:
    """The graph's edges ``(a, b, w)`` with ``a < b``, heaviest first (ties: smallest pair)."""
    a, b = np.triu_indices_from(weights, k=1)
    w = weights[a, b]
    order = np.lexsort((b, a, -w))
    return [(int(a[i]), int(b[i]), int(w[i])) for i in order if w[i] > 0]


def _top_pairs(weights: np.ndarray, n_pairs: int) -> np.ndarray:
    pairs = _edges(weights)[:n_pairs]
    return np.unique(np.array([c for a, b, _ in pairs for c in (a, b)], dtype=np.int64))


def _components(weights: np.ndarray) -> list[set[int]]:
    """The connected components of the confusion graph (scipy's csgraph)."""
    from scipy.sparse.csgraph import connected_components

    n, label = connected_components(weights > 0, directed=False)
    return [set(np.flatnonzero(label == c).tolist()) for c in range(n)]


def _grown_from_heaviest_edges(weights: np.ndarray, max_size: int) -> list[set[int]]:
    """Connected sets of at most ``max_size`` classes grown from the heaviest edges: each
    edge joins every set holding one of its ends that has room, else starts a set."""
    groups: list[set[int]] = []
    for a, b, _ in _edges(weights):
        if any(a in g and b in g for g in groups):
            continue
        room = [g for g in groups if (a in g or b in g) and len(g) < max_size]
        for g in room:
            g.update((a, b))
        if not room:
            groups.append({a, b})
    return groups


def _weight(weights: np.ndarray, classes: set[int]) -> int:
    ids = np.array(sorted(classes))
    return int(weights[np.ix_(ids, ids)].sum() // 2)
