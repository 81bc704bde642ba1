"""Matching and LCC targets for latents sharded by samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._backend import is_gpu_array
from lcc._dispatch import register_sharded
from lcc.sharded._plumbing import (
    _local,
    broadcast,
    by_rows,
    client_or_none,
    gather,
    like_rows,
    lookup,
    map_rows,
    on_gpu,
    release,
    workers_of,
)
from lcc.sharded.neighbors import DenseRows


@register_sharded("match_clusters")
def match_clusters(y_true: Any, y_clst: Any) -> Any:
    """Matching on the gathered labels; ``misclustered`` a Dask array chunked like ``y_true``."""
    from lcc._backend import is_dask_array
    from lcc.matching import Matching
    from lcc.matching import match_clusters as single

    rows = next(a.chunks[0] for a in (y_true, y_clst) if is_dask_array(a))
    matching = single(gather(y_true), gather(y_clst))
    return Matching(
        matching.cluster_to_label, like_rows(matching.misclustered, rows, client_or_none())
    )


class LabelRows:
    """For each label of ``groups``, its correctly clustered rows in one array."""

    def __init__(self, groups: dict[int, np.ndarray], d: int):
        self.groups = {label: DenseRows(0, d, rows) for label, rows in groups.items()}

    def add(self, block: np.ndarray, start: int) -> None:
        for rows in self.groups.values():
            rows.add(block, start)


def _exact_block(zb, yb, mb, start: int, token: str, k: int, chunk_size: int):
    """Eq. (7) for the MC rows of one block: centroid of the k nearest CC rows of the label."""
    groups = lookup(token).groups
    targets = np.array(zb, dtype=np.float32, copy=True)
    correctible = np.zeros(zb.shape[0], dtype=bool)
    for label in np.unique(yb[mb]).tolist():
        if label not in groups:
            continue
        queries = np.flatnonzero((yb == label) & mb)
        base = groups[label]
        _, nearest = base.search(zb[queries], k, chunk_size)
        targets[queries] = base.data[nearest].mean(axis=1)
        correctible[queries] = True
    return targets, correctible


def _approximate_block(zb, yb, mb, start: int, zr, rep_labels):
    """Eq. (14) for the MC rows of one block."""
    from lcc._backend import array_module, backend_of
    from lcc.targets import _targets_from_representatives

    return _targets_from_representatives(zb, yb, mb, zr, rep_labels, array_module(backend_of(zb)))


@register_sharded("correction_targets")
def correction_targets(z: Any, y_true: Any, y_clst: Any, *, mode: str, **options: Any):
    """``(targets, correctible)`` Dask arrays chunked like ``z``; see the module docstring."""
    from lcc._backend import array_module, backend_of
    from lcc.matching import match_clusters as match
    from lcc.targets import _label_bases, _representatives
    from lcc.targets import correction_targets as single

    client = client_or_none()
    z = by_rows(z).astype(np.float32)
    y_true, y_clst = gather(y_true), gather(y_clst)
    k, seed, chunk_size = options["k"], options["seed"], options["chunk_size"]
    if client is None or mode == "orthogonal" or (mode == "exact" and on_gpu(z)):
        return _local(z, lambda a: tuple(single(a, y_true, y_clst, mode=mode, **options)))
    xp = array_module(backend_of(y_true))
    matching = options.get("matching")
    cluster_to_label, misclustered = matching if matching is not None else match(y_true, y_clst)
    z = client.persist(z)
    labels_d = like_rows(y_true, z.chunks[0], client)
    mis_d = like_rows(misclustered, z.chunks[0], client)
    d = z.shape[1]
    outputs = [((d,), np.float32), ((), bool)]
    if mode == "approximate":
        backend = backend_of(y_true)
        reps = _representatives(y_true, y_clst, cluster_to_label, misclustered, seed, backend)
        ids = reps.get() if is_gpu_array(reps) else reps
        zr = z[ids].compute() if ids.shape[0] else xp.empty((0, d), dtype=np.float32)
        args = (zr, y_true[reps])
        fn, workers = _approximate_block, workers_of(client)
        return tuple(map_rows(client, workers, fn, [z, labels_d, mis_d], outputs, *args))
    groups = _label_bases(y_true, misclustered, k, np)
    token, workers = broadcast(client, z, LabelRows, groups, d)
    try:
        arrays = [z, labels_d, mis_d]
        args = (token, k, chunk_size)
        return tuple(map_rows(client, workers, _exact_block, arrays, outputs, *args))
    finally:
        release(client, token)
