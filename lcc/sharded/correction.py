"""Matching and LCC targets for latents sharded by samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from lcc._backend import is_dask_array, is_gpu_array
from lcc._dispatch import here, place
from lcc.kernels import targets as kernels
from lcc.kernels.matching import Matching, match
from lcc.sharded._plumbing import (
    broadcast,
    by_rows,
    client_or_none,
    fetch,
    like_rows,
    local,
    lookup,
    map_rows,
    on_gpu,
    release,
    workers_of,
)
from lcc.sharded.neighbors import DenseRows


def rows_like(matching: Matching, *labels: Any) -> Matching:
    """A matching of gathered labels with ``misclustered`` as a Dask array chunked like
    the Dask one of ``labels``."""
    rows = next(a.chunks[0] for a in labels if is_dask_array(a))
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


def _exact_block(zb, yb, mb, start: int, token: str, k: int, chunk_size: int, ip: bool):
    """Eq. (7) for the MC rows of one block: centroid of the k nearest CC rows of the label."""
    groups = lookup(token).groups
    targets = np.array(zb, dtype=np.float32, copy=True)
    correctible = np.zeros(zb.shape[0], dtype=bool)
    for label in np.unique(yb[mb]).tolist():
        if label not in groups:
            continue
        queries = np.flatnonzero((yb == label) & mb)
        base = groups[label]
        _, nearest = base.search(zb[queries], k, chunk_size, inner_product=ip)
        targets[queries] = base.data[nearest].mean(axis=1)
        correctible[queries] = True
    return targets, correctible


def _approximate_block(zb, yb, mb, start: int, zr, rep_labels, ip: bool):
    """Eq. (14) for the MC rows of one block."""
    return kernels.targets_from_representatives(here(zb), zb, yb, mb, zr, rep_labels, ip)


def _targets_here(z: Any, y_true: Any, y_clst: Any, matching: Any, mode: str, options: dict):
    """The single-process targets of the computed latents ``z``."""
    on = place(z)  # where this process computes (a backend= / $LCC_BACKEND choice holds)
    z, y_true, y_clst = on.to(z, y_true, y_clst)
    if matching is None:
        matching = match(on, y_true, y_clst)
    out = kernels.correction_targets(on, z, y_true, y_clst, matching, mode=mode, **options)
    return on.back(*out)


def correction_targets(
    z: Any, y_true: Any, y_clst: Any, matching: Matching | None, mode: str, **options: Any
) -> tuple[Any, Any]:
    """``(targets, correctible)`` Dask arrays chunked like ``z``, for local labels; see the
    module docstring."""
    client = client_or_none()
    z = by_rows(z).astype(np.float32)
    if client is None or mode == "orthogonal" or (mode == "exact" and on_gpu(z)):
        return local(z, lambda a: _targets_here(a, y_true, y_clst, matching, mode, options))
    on = here(y_true)
    if matching is None:
        matching = match(on, y_true, y_clst)
    cluster_to_label, misclustered = matching
    z = client.persist(z)
    labels_d = like_rows(y_true, z.chunks[0], client)
    mis_d = like_rows(misclustered, z.chunks[0], client)
    d = z.shape[1]
    outputs = [((d,), np.float32), ((), bool)]
    if mode == "approximate":
        seed = options["seed"]
        reps = kernels.representatives(on, y_true, y_clst, cluster_to_label, misclustered, seed)
        ids = reps.get() if is_gpu_array(reps) else reps
        zr = fetch(z[ids]) if ids.shape[0] else on.xp.empty((0, d), dtype=np.float32)
        args = (zr, y_true[reps], options["inner_product"])
        fn, workers = _approximate_block, workers_of(client)
        return tuple(map_rows(client, workers, fn, [z, labels_d, mis_d], outputs, *args))
    groups = kernels.label_bases(on, y_true, misclustered, options["k"])
    token, workers = broadcast(client, z, LabelRows, groups, d)
    try:
        arrays = [z, labels_d, mis_d]
        args = (token, options["k"], options["chunk_size"], options["inner_product"])
        return tuple(map_rows(client, workers, _exact_block, arrays, outputs, *args))
    finally:
        release(client, token)
