"""The GPU backend's cupy tier: what runs where a RAPIDS library is absent.

A machine with torch and ``cupy-cuda13x`` but no RAPIDS (a common PyTorch
setup) still runs the whole correction step on the GPU: exact k-NN by cupy
tiles (:mod:`lcc.backends.knn.gpu_tiles`), k-Means and the metrics written on
``xp`` (:mod:`lcc.backends.xp_kmeans`, :mod:`lcc.backends.xp_metrics`). Graph
clustering alone leaves the device: the k-NN graph's edges are copied to the
host once, clustered by igraph (the CPU backend's Leiden / Louvain) and the
labels copied back. :mod:`lcc.backends.gpu` picks per primitive, through
:func:`has`; :func:`implementations` says which runs (``lcc doctor`` prints it).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

__all__ = ["PRIMITIVES", "HostGraph", "has", "host_graph", "implementations", "on_host"]

# primitive: (RAPIDS libraries it needs, what runs with them, what runs without them)
PRIMITIVES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "knn (exact)": (("cuvs",), "cuVS brute force", "cupy GEMM tiles + device top-k"),
    "knn (ivf, cagra)": (("cuvs",), "cuVS IVF-Flat / CAGRA", "exact cupy tiles (no cuVS)"),
    "knn (minkowski)": (("cuml",), "cuML NearestNeighbors", "cupy tiles + device top-k"),
    "leiden, louvain": (("cugraph", "cudf"), "cuGraph", "igraph on the host, labels back"),
    "kmeans": (("cuml",), "cuML KMeans", "cupy Lloyd + k-means++"),
    "minibatch_kmeans": ((), "cupy mini-batch k-Means", ""),
    "truncated_svd": ((), "cupy Gram eigh / eigsh", ""),
    "nmi, ari, silhouette": (("cuml",), "cuML metrics", "cupy contingency / distance tiles"),
    "calinski_harabasz, davies_bouldin": ((), "cupy", ""),
    "glue": ((), "cupy: matching, targets, landmarks, SSC consensus, staging", ""),
}


def has(*libraries: str) -> bool:
    """Whether every RAPIDS library named imports here (else the cupy tier runs).

    A library that is installed but fails to import (a missing CUDA runtime library, a
    version clash) counts as absent, with a warning: ``lcc doctor`` shows the error.
    """
    from lcc._registry import load

    for library in libraries:
        try:
            load(library)
        except ImportError:
            return False
        except Exception as err:  # OSError from a shared library, CUDA errors, ...
            warnings.warn(
                f"{library} is installed but fails to import ({type(err).__name__}: {err}); "
                "lcc's GPU backend runs its cupy tier instead (see `lcc doctor`)",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
    return True


def implementations() -> dict[str, str]:
    """Per primitive of the GPU backend, the implementation that runs in this process."""
    table = {}
    for name, (libraries, rapids, fallback) in PRIMITIVES.items():
        table[name] = rapids if not libraries or has(*libraries) else fallback
    if not has("cugraph", "cudf") and not has("igraph"):
        table["leiden, louvain"] = "unavailable: needs cuGraph or igraph (pip install igraph)"
    return table


class HostGraph(NamedTuple):
    """The cupy tier's graph for Leiden / Louvain: igraph's, of the edges copied to the
    host once (:func:`host_graph`)."""

    graph: Any


def host_graph(adjacency: Any) -> HostGraph:
    """The CPU backend's igraph graph of a cupyx CSR adjacency, copied to the host once for
    every run on it."""
    from lcc.backends import get

    return HostGraph(get("cpu").community_graph(adjacency.get()))


def on_host(algorithm: str, graph: HostGraph, *, resolution: float, seed: int) -> Any:
    """The CPU backend's ``algorithm`` (``"leiden"`` / ``"louvain"``: igraph) on a
    :func:`host_graph`; the labels come back on the device."""
    import cupy as cp

    from lcc.backends import get

    cluster = getattr(get("cpu"), algorithm)  # by name: the GPU backend never imports the CPU one
    return cp.asarray(cluster(graph.graph, resolution=resolution, seed=seed))
