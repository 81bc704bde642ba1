"""Estimator parameters declared as data and checked once at ``fit`` (scikit-learn's way).

Each estimator lists ``_parameter_constraints = {"name": Rule, ...}``;
:func:`check_parameters` checks every listed attribute and raises an error
naming the parameter and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Bool", "Choice", "Int", "Ints", "Real", "check_parameters"]


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int:
    """An integer ``≥ minimum`` (None allowed when ``optional``)."""

    minimum: int = 1
    optional: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < self.minimum:
            raise ValueError(f"{name} must be at least {self.minimum}, got {value}")


@dataclass(frozen=True)
class Ints:
    """A sequence of positive integers (layer widths)."""

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(f"{name} must be a sequence of ints, got {value!r}")
        for item in value:
            Int().check(name, item)


@dataclass(frozen=True)
class Real:
    """A finite number in ``[low, high)`` (``positive``: ``> 0``)."""

    low: float = 0.0
    high: float = math.inf
    positive: bool = False

    def check(self, name: str, value: Any) -> None:
        ok = _is_real(value) and math.isfinite(value) and self.low <= value < self.high
        if ok and not (self.positive and value <= 0):
            return
        if self.positive:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if self.high < math.inf:
            raise ValueError(f"{name} must be in [{self.low:g}, {self.high:g}), got {value!r}")
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def check(self, name: str, value: Any) -> None:
        if value not in self.options:
            raise ValueError(f"{name}={value!r} is not supported; choose one of {self.options}")


@dataclass(frozen=True)
class Bool:
    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{name} must be a bool, got {value!r}")


def check_parameters(estimator: Any, constraints: dict[str, Any]) -> None:
    """Check every parameter of ``estimator`` listed in ``constraints``."""
    for name, rule in constraints.items():
        rule.check(name, getattr(estimator, name))
