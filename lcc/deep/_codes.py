"""A network's codes, in batches, and k-Means on them: what every deep estimator shares."""

from __future__ import annotations

from typing import Any, NamedTuple

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


def encode_in_batches(
    encode: Any, model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096
) -> torch.Tensor:
    """``encode`` (e.g. ``model.encode``) on ``x`` in batches, ``model`` in eval mode meanwhile."""
    training = model.training
    model.eval()
    try:
        return torch.cat([encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        model.train(training)
