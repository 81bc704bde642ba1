"""Helpers shared by the tests: move test data to and from a backend's device."""

from __future__ import annotations

from lcc._backend import move


def on(backend: str, x):
    """Put a numpy array or scipy sparse matrix on ``backend``'s device."""
    return move(x, backend)


def host(x):
    """The numpy array (or scipy matrix) of ``x``, whatever its device."""
    return move(x, "cpu")
