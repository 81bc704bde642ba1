"""k-NN algorithms: one small module each, registered by (backend, name).

Every algorithm is ``search(z, k, *, chunk_size, progress, nprobe=None) -> (sq_dist, ids)``:
the ``k`` nearest rows of ``z`` for every row, the row itself included,
squared L2 distances and int64 ids, arrays of the backend's kind, and optionally a
third element, a short text saying how the search ran (the certified search says
whether it fell back). A backend's
``knn_search`` picks one with :func:`algorithm`; a new algorithm is a module
and a :func:`register_algorithm` line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "ALGORITHMS",
    "DEFAULT_METHODS",
    "algorithm",
    "approximate_methods",
    "default_method",
    "register_algorithm",
]

ALGORITHMS: dict[tuple[str, str], str] = {
    ("cpu", "exact"): "lcc.backends.knn.cpu_exact",
    ("cpu", "certified"): "lcc.backends.knn.cpu_certified",  # what exact=True runs where it pays
    ("cpu", "ivf"): "lcc.backends.knn.cpu_ivf",
    ("cpu", "hnsw"): "lcc.backends.knn.cpu_hnsw",
    ("gpu", "exact"): "lcc.backends.knn.gpu_brute_force",
    ("gpu", "ivf"): "lcc.backends.knn.gpu_ivf",
    ("gpu", "cagra"): "lcc.backends.knn.gpu_cagra",
    ("gpu", "tiles"): "lcc.backends.knn.gpu_tiles",  # the cupy tier's exact search (no cuVS)
}

# the approximate index of exact=False when method= is not given
DEFAULT_METHODS: dict[str, str] = {"cpu": "ivf", "gpu": "cagra"}


def register_algorithm(backend: str, name: str, module: str) -> None:
    """Make ``module.search`` the k-NN algorithm ``name`` of ``backend``."""
    ALGORITHMS[(backend, name)] = module


def algorithm(backend: str, name: str) -> Callable[..., Any]:
    """The ``search`` function of a registered algorithm (its module imported on first use)."""
    try:
        module = ALGORITHMS[(backend, name)]
    except KeyError:
        names = sorted(n for b, n in ALGORITHMS if b == backend)
        raise ValueError(
            f"k-NN method {name!r} is not available on {backend}; choose {names}"
        ) from None
    from lcc._registry import load

    return load(module).search


def approximate_methods(backend: str) -> tuple[str, ...]:
    """The names ``method=`` accepts on ``backend`` (every registered algorithm but exact)."""
    exact = ("exact", "tiles", "certified")
    return tuple(sorted(n for b, n in ALGORITHMS if b == backend and n not in exact))


def default_method(backend: str) -> str | None:
    """The approximate index ``exact=False`` uses on ``backend`` when ``method=`` is not given."""
    methods = approximate_methods(backend)
    return DEFAULT_METHODS.get(backend, methods[0] if methods else None)
