"""The engine's one dispatcher: where a call runs is decided once, at the public function.

Every public engine function (:func:`lcc.knn`, :func:`lcc.leiden`, …) validates
its input, then calls :func:`place` once. The :class:`Placement` it gets says
where the call computes and carries everything the code below needs:

* ``impl``, the backend object (``lcc.backends.cpu``, ``lcc.backends.gpu`` or a
  registered one; each implements :class:`lcc.backends.EngineBackend`), the only
  code that calls faiss / igraph / scikit-learn / cuVS / cuGraph / cuML;
* ``xp`` and ``sparse``, the array and sparse-matrix modules the glue is written on;
* :meth:`Placement.to` / :meth:`Placement.back`, which move data in and out, so that
  the caller gets back the kind of array it gave.

The engine's kernels (:mod:`lcc.kernels`) receive the placement and never ask
where they run. Dask input (latents sharded by samples) is placed on the
``"dask"`` backend: the public function hands it to :mod:`lcc.sharded`, which runs
the same kernels block by block, each block placed with :func:`here`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from lcc import backends
from lcc._backend import (
    array_module,
    backend_of,
    is_dask_array,
    move,
    resolve,
    sparse_module,
)
from lcc.backends import knn

__all__ = ["DASK", "Placement", "here", "is_sharded", "place"]

DASK = "dask"


@dataclass(frozen=True)
class Placement:
    """Where one engine call computes (``name``) and where its input came from (``given``)."""

    given: str
    name: str

    @property
    def sharded(self) -> bool:
        """True for Dask input: the call runs on the cluster (:mod:`lcc.sharded`)."""
        return self.name == DASK

    @property
    def origin(self) -> Placement:
        """The placement of the input where it is (to check it before moving it)."""
        return Placement(self.given, self.given)

    @property
    def impl(self) -> Any:
        """The backend object: the module implementing :class:`lcc.backends.EngineBackend`."""
        return backends.get(self.name)

    @property
    def xp(self) -> ModuleType:
        """numpy or cupy: the array module of the compute backend."""
        return array_module(self.name)

    @property
    def sparse(self) -> ModuleType:
        """scipy.sparse or cupyx.scipy.sparse."""
        return sparse_module(self.name)

    @property
    def knn_methods(self) -> tuple[str, ...]:
        """The approximate k-NN indexes registered for this backend (``method=``)."""
        return knn.approximate_methods(self.name)

    @property
    def default_knn_method(self) -> str | None:
        """The approximate k-NN index ``exact=False`` uses when ``method=`` is not given."""
        return knn.default_method(self.name)

    def to(self, *arrays: Any) -> Any:
        """The arrays on the compute backend's device (one array, or a tuple for several)."""
        moved = tuple(None if a is None else move(a, self.name) for a in arrays)
        return moved[0] if len(moved) == 1 else moved

    def back(self, *arrays: Any) -> Any:
        """The results as the kind of array the caller gave (one, or a tuple for several)."""
        moved = tuple(None if a is None else move(a, self.given) for a in arrays)
        return moved[0] if len(moved) == 1 else moved


def place(*arrays: Any, backend: str | None = None) -> Placement:
    """The placement of a call on ``arrays``: Dask if any is a Dask array, else the first
    array's backend unless ``backend=`` (or ``$LCC_BACKEND``) forces one
    (:func:`lcc._backend.resolve`: forcing the GPU where none can run is an error)."""
    if is_sharded(*arrays):
        return Placement(DASK, DASK)
    return Placement(*resolve(arrays[0], backend))


def is_sharded(*arrays: Any) -> bool:
    """True when any of ``arrays`` is a Dask array (latents sharded by samples)."""
    return any(is_dask_array(a) for a in arrays)


def here(x: Any) -> Placement:
    """The placement of a computation where ``x`` already is (a Dask block, a kernel's input)."""
    name = backend_of(x)
    return Placement(name, name)
