"""The estimators' parameter rules that need torch (the others are in :mod:`lcc._validation`).

Each estimator class lists ``_parameter_constraints = {"name": Rule, ...}``
for the parameters it adds, with the rules of :mod:`lcc._validation`
(:class:`~lcc._validation.Int`, :class:`~lcc._validation.Real`, …) and these;
:func:`lcc._validation.check_parameters` checks every parameter declared
along the class hierarchy at ``fit`` and raises
:class:`lcc._validation.InvalidParameterError` (a ``ValueError`` and a
``TypeError``, as scikit-learn's) naming the parameter and what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lcc._validation import InvalidParameterError

__all__ = ["Callbacks", "Device"]


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
                name,
                f" must be None or a torch device such as 'cpu', 'cuda' or 'cuda:1', got {value!r}",
            ) from None


@dataclass(frozen=True)
class Callbacks:
    """None or a sequence of objects with ``on_epoch_end(epoch, estimator)``."""

    def check(self, name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise InvalidParameterError(
                name, f" must be None or a list of callbacks, got {value!r}"
            )
        for item in value:
            if not callable(getattr(item, "on_epoch_end", None)):
                raise InvalidParameterError(
                    name, f" holds {item!r}, which has no on_epoch_end(epoch, estimator) method"
                )
