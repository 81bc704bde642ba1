"""k-Means on a network's codes, the initialisation every deep estimator shares."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from lcc.kmeans import kmeans
from lcc.staging import to_backend, to_torch


class CodeClusters(NamedTuple):
    """``labels`` (n,) int64 on the host; ``centers`` (k, d) float32 on the codes' device."""

    labels: np.ndarray
    centers: torch.Tensor


def kmeans_on_codes(z: torch.Tensor, n_clusters: int, *, seed: int, n_init: int) -> CodeClusters:
    """:func:`lcc.kmeans` on ``z`` through DLPack: cuML for CUDA codes, scikit-learn on CPU."""
    result = kmeans(
        to_backend(z.detach().float().contiguous()), n_clusters, seed=seed, n_init=n_init
    )
    labels = np.asarray(to_torch(result.labels).cpu()).astype(np.int64)
    return CodeClusters(labels, to_torch(result.centers).to(z.device).float())
