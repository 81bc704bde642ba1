"""The per-epoch record of the centroid methods' ``history_``."""

from __future__ import annotations

from typing import Any

import numpy as np


def epoch_record(
    epoch: int, loss: float, labels: np.ndarray, previous: np.ndarray, y: Any, codes: Any
) -> dict[str, Any]:
    """``epoch``, ``loss`` and ``cl_change`` (100 · (1 − NMI) between this epoch's labels
    and the previous ones); with labels ``y`` also ACC / NMI / ARI and the mean intra- and
    inter-class distances of the ``codes`` (a tensor of the whole set's codes)."""
    from lcc import metrics

    record: dict[str, Any] = {"epoch": epoch, "loss": loss}
    record["cl_change"] = 100 * (1 - metrics.nmi(previous, labels))
    if y is not None:
        record["acc"] = metrics.clustering_accuracy(y, labels)
        record["nmi"] = metrics.nmi(y, labels)
        record["ari"] = metrics.ari(y, labels)
        z = codes.cpu().numpy()
        classes = np.unique(y)
        means = np.stack([z[y == c].mean(0) for c in classes])
        record["intra_class_distance"] = float(
            np.mean(np.linalg.norm(z - means[np.searchsorted(classes, y)], axis=1))
        )
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)
        record["inter_class_distance"] = float(gaps[np.triu_indices(len(means), 1)].mean())
    return record
