"""lcc: the cluster structure of a network's latent space as a training signal.

One engine, two backends: numpy / scipy input runs on the CPU (faiss, igraph,
scikit-learn), cupy / cupyx input on the GPU (cuVS, cuGraph, cuML). Results
come back as the kind of array that went in. ``import lcc`` needs only the CPU
dependencies; RAPIDS is imported on first GPU use. Dask arrays sharded by
samples run on a Dask cluster (:mod:`lcc.distributed`, :mod:`lcc.sharded`).
"""

from lcc import (
    metrics,
    sharded,
)
from lcc._backend import BACKEND_ENV_VAR, gpu_available
from lcc.consensus import SSCResult, ssc_consensus
from lcc.correction import Correction, CorrectionTargets, correct, correction_targets
from lcc.graph import conductance, leiden, louvain, modularity, peer_pressure
from lcc.kmeans import KMeansResult, kmeans, minibatch_kmeans
from lcc.landmarks import landmark_affinity
from lcc.matching import Matching, match_clusters
from lcc.neighbors import Neighbors, knn, knn_graph
from lcc.spectral import SVDResult, truncated_svd
from lcc.staging import LatentBuffer, LatentStore, to_backend, to_torch

__version__ = "0.1.0"

# torch-based names, imported on first use so that `import lcc` stays light
_LAZY = {
    "LCCLoss": "lcc.losses",
    "LCCCallback": "lcc.training",
    "data": None,
    "distributed": None,
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        if _LAZY[name] is None:  # a submodule
            return importlib.import_module(f"lcc.{name}")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lcc' has no attribute {name!r}")


__all__ = [
    "BACKEND_ENV_VAR",
    "Correction",
    "CorrectionTargets",
    "KMeansResult",
    "LCCCallback",
    "LCCLoss",
    "LatentBuffer",
    "LatentStore",
    "Matching",
    "Neighbors",
    "SSCResult",
    "SVDResult",
    "conductance",
    "correct",
    "correction_targets",
    "data",
    "distributed",
    "gpu_available",
    "kmeans",
    "knn",
    "knn_graph",
    "landmark_affinity",
    "leiden",
    "louvain",
    "match_clusters",
    "metrics",
    "minibatch_kmeans",
    "modularity",
    "peer_pressure",
    "sharded",
    "ssc_consensus",
    "to_backend",
    "to_torch",
    "truncated_svd",
]
