"""Spectral kernels: the sign convention that makes singular vectors deterministic."""

from __future__ import annotations

from typing import Any

from lcc._dispatch import Placement

__all__ = ["flip_signs"]


def flip_signs(on: Placement, u: Any, vt: Any) -> tuple[Any, Any]:
    """Make the largest-|·| entry of every column of U positive (and flip Vt alike), so that
    both backends return the same vectors."""
    xp = on.xp
    biggest = xp.argmax(xp.abs(u), axis=0)
    signs = xp.sign(u[biggest, xp.arange(u.shape[1])])
    signs = xp.where(signs == 0, 1, signs)
    return u * signs[None, :], vt * signs[:, None]
