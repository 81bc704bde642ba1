"""Estimator parameters declared as data and checked once at ``fit`` (scikit-learn's way).

Each estimator class lists ``_parameter_constraints = {"name": Rule, ...}``
for the parameters it adds; :func:`check_parameters` checks every parameter
declared along the class hierarchy and raises :class:`InvalidParameterError`
(a ``ValueError`` and a ``TypeError``, as scikit-learn's) naming the parameter
and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "Auto",
    "Bool",
    "Callbacks",
    "Choice",
    "Device",
    "Int",
    "Ints",
    "InvalidParameterError",
    "Real",
    "check_parameters",
]


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter outside what is allowed (caught as ValueError or TypeError)."""


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
            raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
        if value < self.minimum:
            raise InvalidParameterError(f"{name} must be at least {self.minimum}, got {value}")


@dataclass(frozen=True)
class Ints:
    """A sequence of positive integers (layer widths, an image shape); None when ``optional``."""

    optional: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise InvalidParameterError(f"{name} must be a sequence of ints, got {value!r}")
        for item in value:
            Int().check(name, item)


@dataclass(frozen=True)
class Real:
    """A finite number in ``[low, high)`` (``positive``: ``> 0``); None when ``optional``."""

    low: float = 0.0
    high: float = math.inf
    positive: bool = False
    optional: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.optional:
            return
        ok = _is_real(value) and math.isfinite(value) and self.low <= value < self.high
        if ok and not (self.positive and value <= 0):
            return
        if self.positive:
            raise InvalidParameterError(f"{name} must be a positive finite number, got {value!r}")
        if self.high < math.inf:
            raise InvalidParameterError(
                f"{name} must be in [{self.low:g}, {self.high:g}), got {value!r}"
            )
        raise InvalidParameterError(f"{name} must be a non-negative finite number, got {value!r}")


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def check(self, name: str, value: Any) -> None:
        if value not in self.options:
            raise InvalidParameterError(
                f"{name}={value!r} is not supported; choose one of {self.options}"
            )


@dataclass(frozen=True)
class Bool:
    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, bool | np.bool_):
            raise InvalidParameterError(f"{name} must be a bool, got {value!r}")


@dataclass(frozen=True)
class Device:
    """None (the input's device, else CUDA when available) or a torch device string."""

    def check(self, name: str, value: Any) -> None:
        if value is None:
            return
        try:
            torch.device(value)
        except (RuntimeError, TypeError):
            raise InvalidParameterError(
                f"{name} must be None or a torch device such as 'cpu', 'cuda' or 'cuda:1', "
                f"got {value!r}"
            ) from None


@dataclass(frozen=True)
class Callbacks:
    """None or a sequence of objects with ``on_epoch_end(epoch, estimator)``."""

    def check(self, name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise InvalidParameterError(
                f"{name} must be None or a list of callbacks, got {value!r}"
            )
        for item in value:
            if not callable(getattr(item, "on_epoch_end", None)):
                raise InvalidParameterError(
                    f"{name} holds {item!r}, which has no on_epoch_end(epoch, estimator) method"
                )


@dataclass(frozen=True)
class Auto:
    """``"auto"`` (resolved by the estimator at ``fit``) or what ``rule`` allows."""

    rule: Any

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str) and value == "auto":
            return
        try:
            self.rule.check(name, value)
        except InvalidParameterError as err:
            raise InvalidParameterError(f"{err} (or 'auto')") from None


def check_parameters(estimator: Any) -> None:
    """Check the parameters declared in ``_parameter_constraints`` along the class hierarchy."""
    constraints: dict[str, Any] = {}
    for cls in reversed(type(estimator).__mro__):
        constraints |= vars(cls).get("_parameter_constraints", {})
    for name, rule in constraints.items():
        rule.check(name, getattr(estimator, name))
