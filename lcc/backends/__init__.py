"""The only modules that call k-NN, graph, k-Means and SVD libraries.

:mod:`lcc.backends.cpu` wraps faiss, igraph, scikit-learn and scipy;
:mod:`lcc.backends.gpu` wraps cuVS, cuGraph, cuML and cupyx, and runs its cupy tier
(:mod:`lcc.backends.cupy_tier`) for each primitive whose RAPIDS library is absent. Both implement
:class:`EngineBackend`, the contract the engine relies on; they are leaves
that import nothing from the engine. :func:`get` finds a backend's module
through the registry in :mod:`lcc._backend` (``BACKENDS``): adding a backend
is one module and one ``register_backend`` line.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol, runtime_checkable

__all__ = ["EngineBackend", "get"]


@runtime_checkable
class EngineBackend(Protocol):
    """The functions a backend module provides; arrays are the backend's own kind.

    k-NN results are squared L2 distances and int64 ids with the query itself
    included; ``leiden`` / ``louvain`` run on the backend's ``community_graph`` of a
    CSR adjacency, built once for every seed and resolution; community labels are
    ``(n,)`` integers (any ids); k-Means gives ``(labels, centers)``; SVD ``(U, S, Vt)``
    with ``S`` in any order.
    """

    def knn_search(
        self, z: Any, k: int, *, exact: bool, method: str | None, chunk_size: int,
        progress: bool, nprobe: int | None = None,
    ) -> tuple[Any, Any]: ...  # fmt: skip

    def knn_query(
        self, base: Any, queries: Any, k: int, *, chunk_size: int, progress: bool = False
    ) -> tuple[Any, Any]: ...

    def knn_query_minkowski(
        self, base: Any, queries: Any, k: int, *, p: float, chunk_size: int
    ) -> tuple[Any, Any]: ...

    def community_graph(self, adjacency: Any) -> Any: ...

    def leiden(self, graph: Any, *, resolution: float, seed: int) -> Any: ...

    def louvain(self, graph: Any, *, resolution: float, seed: int) -> Any: ...

    def kmeans(
        self, z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float
    ) -> tuple[Any, Any]: ...

    def minibatch_kmeans(
        self, z: Any, n_clusters: int, *, seed: int, batch_size: int, max_iter: int, n_init: int
    ) -> tuple[Any, Any]: ...

    def truncated_svd(self, matrix: Any, k: int, *, seed: int) -> tuple[Any, Any, Any]: ...

    def nmi(self, y_true: Any, y_pred: Any) -> float: ...

    def ari(self, y_true: Any, y_pred: Any) -> float: ...

    def silhouette(self, z: Any, labels: Any) -> float: ...

    def calinski_harabasz(self, z: Any, labels: Any) -> float: ...

    def davies_bouldin(self, z: Any, labels: Any) -> float: ...


def get(backend: str) -> ModuleType:
    """The module of a registered backend (``"cpu"``, ``"gpu"``, …), imported on first use."""
    from lcc._backend import backend_spec
    from lcc._registry import load

    return load(backend_spec(backend).module)
