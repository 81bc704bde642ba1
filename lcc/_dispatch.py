"""Type-keyed dispatch from the engine's public functions to the layers that extend them.

An engine function called on a Dask array (latents sharded by samples) is
served by the implementation registered under its name by :mod:`lcc.sharded`,
which sits above the engine and imports it; the engine asks this registry and
never imports that layer. Importing :mod:`lcc` registers the implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lcc._backend import is_dask_array

__all__ = ["register_sharded", "sharded"]

_SHARDED: dict[str, Callable[..., Any]] = {}


def register_sharded(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``fn`` serves the engine function ``name`` for Dask input."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _SHARDED[name] = fn
        return fn

    return register


def sharded(name: str, *arrays: Any) -> Callable[..., Any] | None:
    """The implementation of ``name`` for these arrays when any is a Dask array, else None."""
    if not any(is_dask_array(a) for a in arrays):
        return None
    try:
        return _SHARDED[name]
    except KeyError:
        raise RuntimeError(
            f"no sharded implementation of {name} is registered; import lcc.sharded"
        ) from None
