"""lcc: the cluster structure of a network's latent space as a training signal.

One engine, two backends: numpy / scipy input runs on the CPU (faiss, igraph,
scikit-learn), cupy / cupyx input on the GPU (cuVS, cuGraph, cuML). Results
come back as the kind of array that went in. ``import lcc`` needs only the CPU
dependencies; RAPIDS is imported on first GPU use. Dask arrays sharded by
samples run on a Dask cluster (:mod:`lcc.distributed`, :mod:`lcc.sharded`).
"""

from lcc import metrics
from lcc._backend import gpu_available
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
    "evaluate": "lcc.pipelines.evaluate",
}


def __getattr__(name: str):
    if name in _LAZY:
        from lcc._registry import load

        value = load(f"lcc.{name}" if _LAZY[name] is None else f"{_LAZY[name]}:{name}")
        globals()[name] = value  # imported once (PEP 562)
        return value
    raise AttributeError(f"module 'lcc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})  # the lazy names too (PEP 562): tab completion, autodoc


__all__ = [  # noqa: RUF022  (grouped by what a user reaches for, not sorted)
    # the LCC step: one function, and the training-loop callback and loss around it
    "correct",
    "Correction",
    "LCCCallback",
    "LCCLoss",
    # the engine's primitives, on numpy, cupy or Dask arrays
    "knn",
    "knn_graph",
    "Neighbors",
    "leiden",
    "louvain",
    "peer_pressure",
    "modularity",
    "conductance",
    "match_clusters",
    "Matching",
    "correction_targets",
    "CorrectionTargets",
    "kmeans",
    "minibatch_kmeans",
    "KMeansResult",
    "truncated_svd",
    "SVDResult",
    "landmark_affinity",
    "ssc_consensus",
    "SSCResult",
    "metrics",
    # staging latents between torch and the engine
    "LatentBuffer",
    "LatentStore",
    "to_backend",
    "to_torch",
    "gpu_available",
    # data sets and Dask clusters
    "data",
    "distributed",
    # algorithms × data sets × seeds into one table (`lcc evaluate`)
    "evaluate",
]
