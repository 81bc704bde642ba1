"""Input checks at the public boundary, and parameters declared as data.

Every public function validates its arguments here, once, so that bad input
fails with a ``ValueError`` / ``TypeError`` that names the argument and the
problem instead of crashing deep inside faiss, igraph or cuML.

Parameters are checked by rules declared as data (scikit-learn's
``_parameter_constraints``): :class:`Int`, :class:`Real`, :class:`Choice`, …
each ``check(name, value)`` and raise :class:`InvalidParameterError`, one line
naming the parameter. The same rules check the engine's arguments
(:func:`check_positive_int`, :func:`check_choice`, :func:`check_k`), the LCC
step's (:data:`lcc.correction.STEP_PARAMETERS`), the callbacks', the
estimators' (:func:`check_parameters`) and the pipelines' configs, so a bad
value gets the same message everywhere. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from lcc._backend import array_module, backend_of, is_dask_array, is_gpu_array

__all__ = [
    "Auto",
    "Bool",
    "Choice",
    "Int",
    "Ints",
    "InvalidParameterError",
    "OneOrMany",
    "Parameter",
    "Real",
    "Rule",
    "check_choice",
    "check_k",
    "check_labels",
    "check_latents",
    "check_parameters",
    "check_positive_int",
    "check_same_kind",
    "check_values",
]


# ------------------------------------------------------------------ rules as data
class InvalidParameterError(ValueError, TypeError):
    """A parameter outside what is allowed (caught as ValueError or TypeError), in one line.

    The message is ``parameter + problem`` (``"k" + " must be at least 1, got 0"``), so a
    caller can name the parameter as its user wrote it (a config's dotted key): :meth:`renamed`.
    """

    def __init__(self, parameter: str, problem: str):
        super().__init__(f"{parameter}{problem}")
        self.parameter, self.problem = parameter, problem

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.parameter, self.problem)

    def renamed(self, parameter: str) -> InvalidParameterError:
        """The same problem named ``parameter`` (``lcc.k must be at least 1, got 0``)."""
        return InvalidParameterError(parameter, self.problem)


class Rule(Protocol):
    """What a parameter's values must be: ``check`` raises :class:`InvalidParameterError`."""

    def check(self, name: str, value: Any) -> None: ...


class Parameter(NamedTuple):
    """A parameter declared as data: its type (for signatures and config schemas), its
    default and the rule its values must pass."""

    annotation: Any
    default: Any
    rule: Rule


def _shown(value: Any) -> str:
    """``repr(value)`` when short and on one line (messages stay one line), else its type."""
    text = repr(value)
    return text if len(text) <= 80 and "\n" not in text else type(value).__name__


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
            raise InvalidParameterError(name, f" must be an integer, got {_shown(value)}")
        if value < self.minimum:
            raise InvalidParameterError(name, f" must be at least {self.minimum}, got {value}")


@dataclass(frozen=True)
class Ints:
    """A sequence of positive integers (layer widths, an image shape); None when ``optional``."""

    optional: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise InvalidParameterError(name, f" must be a sequence of ints, got {_shown(value)}")
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
        got = _shown(value)
        if self.positive:
            raise InvalidParameterError(name, f" must be a positive finite number, got {got}")
        if self.high < math.inf:
            interval = f"[{self.low:g}, {self.high:g})"
            raise InvalidParameterError(name, f" must be in {interval}, got {got}")
        raise InvalidParameterError(name, f" must be a non-negative finite number, got {got}")


@dataclass(frozen=True)
class Choice:
    """One of ``options``."""

    options: Sequence[Any]

    def check(self, name: str, value: Any) -> None:
        if value not in self.options:
            raise InvalidParameterError(
                name, f"={_shown(value)} is not supported; choose one of {self.options}"
            )


@dataclass(frozen=True)
class Bool:
    """True or False."""

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, bool | np.bool_):
            raise InvalidParameterError(name, f" must be a bool, got {_shown(value)}")


@dataclass(frozen=True)
class OneOrMany:
    """What ``rule`` allows, or a non-empty sequence of such values (a sweep)."""

    rule: Rule

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
            self.rule.check(name, value)
            return
        if len(value) == 0:
            raise InvalidParameterError(name, " is an empty sequence; give one value or more")
        for item in value:
            try:
                self.rule.check(name, item)
            except InvalidParameterError as err:
                raise InvalidParameterError(name, f" values{err.problem}") from None


@dataclass(frozen=True)
class Auto:
    """``"auto"`` (resolved by its user later) or what ``rule`` allows."""

    rule: Rule

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str) and value == "auto":
            return
        try:
            self.rule.check(name, value)
        except InvalidParameterError as err:
            raise InvalidParameterError(name, f"{err.problem} (or 'auto')") from None


def check_values(values: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Every value in ``values`` that has a rule in ``rules`` against it, in the rules' order;
    the first that fails raises :class:`InvalidParameterError`."""
    for name, rule in rules.items():
        if name in values:
            rule.check(name, values[name])


def check_parameters(estimator: Any) -> None:
    """Check an object's attributes declared in ``_parameter_constraints`` along its class
    hierarchy (the deep clustering estimators, at ``fit``)."""
    constraints: dict[str, Rule] = {}
    for cls in reversed(type(estimator).__mro__):
        constraints |= vars(cls).get("_parameter_constraints", {})
    check_values({name: getattr(estimator, name) for name in constraints}, constraints)


# ------------------------------------------------------------------ arrays and engine arguments
def _xp(x: Any):
    return array_module(backend_of(x))


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")


def _check_kind(x: Any, name: str) -> None:
    if isinstance(x, np.ndarray) or (is_gpu_array(x) and _is_array(x)):
        return
    if type(x).__module__.startswith("torch"):
        raise TypeError(
            f"{name} is a torch tensor; convert it with lcc.to_backend({name}) "
            "(zero-copy through DLPack) first"
        )
    raise TypeError(f"{name} must be a numpy or cupy array, got {type(x).__name__}")


def check_latents(z: Any, name: str = "z", *, min_samples: int = 2) -> Any:
    """Validate an ``(N, d)`` matrix of latent vectors and return it as floating point.

    numpy, cupy or Dask arrays (for Dask the finiteness check is one pass on
    the cluster). Integer input is converted to float32; float16 is promoted
    to float32 (the k-NN libraries do not take it). Raises ``ValueError`` for
    NaN/inf values, a wrong number of dimensions, or fewer than
    ``min_samples`` rows.
    """
    sharded = is_dask_array(z)
    if not sharded:
        _check_kind(z, name)
    if z.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_samples, n_features) array, got {z.ndim}-D with "
            f"shape {tuple(z.shape)}; reshape 1-D data with {name}.reshape(-1, 1)"
        )
    n, d = z.shape
    if n != n or d != d:  # NaN: a Dask array of unknown chunk sizes
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes()")
    if n < min_samples:
        raise ValueError(f"{name} has {n} sample(s); at least {min_samples} are needed")
    if d == 0:
        raise ValueError(f"{name} has 0 features")
    if z.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {z.dtype}")
    if z.dtype.kind != "f" or z.dtype.itemsize < 4:
        z = z.astype("float32")
    if sharded:
        import dask.array as da

        from lcc._waiting import fetch

        if not bool(fetch(da.isfinite(z).all())):
            raise ValueError(f"{name} contains NaN or infinite values")
        return z
    xp = _xp(z)
    if not bool(xp.all(xp.isfinite(z))):
        bad = int(xp.sum(~xp.all(xp.isfinite(z), axis=1)))
        raise ValueError(f"{name} contains NaN or infinite values in {bad} row(s)")
    return z


def check_k(k: Any, n: int, name: str = "k") -> int:
    """``k`` neighbours among ``n`` samples, self excluded: 1 ≤ k ≤ n − 1."""
    k = check_positive_int(k, name)
    if k >= n:
        raise ValueError(
            f"{name}={k} must be smaller than the number of samples ({n}): a sample is "
            "never its own neighbour"
        )
    return k


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """An integer ``≥ minimum`` (the :class:`Int` rule), as a Python int."""
    Int(minimum).check(name, value)
    return int(value)


def check_labels(labels: Any, name: str, n_samples: int | None = None) -> Any:
    """Validate a 1-D integer label vector (numpy or cupy) of length ``n_samples``."""
    _check_kind(labels, name)
    xp = _xp(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if n_samples is not None and labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {labels.shape[0]} entries but there are {n_samples} samples; "
            "per-sample arrays must be indexed by dataset index and have the same length"
        )
    if labels.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if labels.dtype.kind == "f":
        if not bool(xp.all(xp.round(labels) == labels)):
            raise ValueError(f"{name} must hold integer labels, got non-integer floats")
        labels = labels.astype(xp.int64)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if bool(xp.any(labels < 0)):
        raise ValueError(f"{name} must be non-negative integers")
    return labels


def check_same_kind(**arrays: Any) -> None:
    """All arrays on the same device (all numpy or all cupy)."""
    kinds = {name: is_gpu_array(a) for name, a in arrays.items()}
    if len(set(kinds.values())) > 1:
        desc = ", ".join(f"{n} is {'cupy' if g else 'numpy'}" for n, g in kinds.items())
        raise TypeError(f"arrays must all be numpy or all be cupy: {desc}")


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices`` (the :class:`Choice` rule); returned as given."""
    Choice(choices).check(name, value)
    return value
