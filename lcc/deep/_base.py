"""The base every deep clustering estimator stands on.

What DEC / IDEC / DCN, CDC, the SNNL autoencoder and SSC share lives here once:

* parameters declared as data (``_parameter_constraints``, checked once at ``fit``
  by :func:`lcc._validation.check_parameters`), then the input (``X`` as a
  float32 tensor on the training device, ``y`` as class labels) and
  ``n_clusters ≤ n_samples``;
* seeding (``random_state``: torch's generator, and ``self._rng`` for the batch order);
* shuffled mini-batches;
* the epoch log: ``history_`` records, ``verbose`` printing, :func:`each_epoch` (every
  record also handed to a function while a block runs: a pipeline's live TensorBoard
  events, without touching the estimator's parameters), and the
  ``callbacks`` (``on_epoch_end(epoch, estimator) -> bool``, True to say the
  callback reset something, as :class:`lcc.deep.BRBCallback` does; an optional
  ``on_fit_start(estimator, n_samples)`` checks the callback against the
  estimator and its data before the first epoch);
* for estimators with an encoder ``model_``: batched ``transform`` and the
  nearest-centre ``predict``.

The per-method parts stay in their own modules (ClustPy's split): the
estimator's ``fit`` calls a training function of its method, which trains an
``nn.Module``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from lcc._validation import Bool, Int, check_parameters
from lcc.deep._codes import encode_in_batches
from lcc.deep._input import check_input, check_labels
from lcc.deep._params import Callbacks, Device

__all__ = ["DeepClusterer", "EncoderClusterer", "each_epoch"]

_EPOCH_HOOK: ContextVar[Callable[[dict[str, Any]], None] | None] = ContextVar(
    "lcc_epoch_hook", default=None
)


@contextlib.contextmanager
def each_epoch(hook: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """While the block runs, every epoch record an estimator logs (a ``history_`` row) is
    also handed to ``hook``, as the epoch ends.

    >>> with each_epoch(lambda row: print(row["epoch"], row["loss"])):
    ...     DEC(10).fit(x)
    """
    token = _EPOCH_HOOK.set(hook)
    try:
        yield
    finally:
        _EPOCH_HOOK.reset(token)


class DeepClusterer:
    """Validation, seeding, batches and the epoch log of a deep clustering estimator.

    A mixin, listed first: ``class SSC(DeepClusterer, ClusterMixin, BaseEstimator)``
    keeps scikit-learn's mixin order (and so its estimator tags) and this
    ``fit_predict``, which passes ``y`` on (``ClusterMixin``'s drops it).
    """

    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "n_clusters": Int(1),
        "batch_size": Int(1),
        "random_state": Int(0, optional=True),
        "device": Device(),
        "callbacks": Callbacks(),
        "verbose": Bool(),
    }

    def fit_predict(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y, **fit_params).labels_``."""
        return self.fit(X, y, **fit_params).labels_

    def _start_fit(
        self,
        X: Any,
        y: Any = None,
        *,
        reset: bool = True,
        resume: Any = None,
        on_checkpoint: Any = None,
    ) -> tuple[torch.Tensor, np.ndarray | None]:
        """Check the parameters and the data, seed torch and ``self._rng``.

        Returns ``X`` as a float32 ``(n, features)`` tensor on the training
        device and ``y`` as a numpy array (or None). ``reset=False`` keeps
        ``n_features_in_`` (a warm start checks ``X`` against it). ``resume``
        and ``on_checkpoint``: see :mod:`lcc.deep._checkpointing`.
        """
        self._resume, self._on_checkpoint = resume, on_checkpoint
        check_parameters(self)
        x = check_input(self, X, reset)
        self._check_counts(len(x))
        for callback in getattr(self, "callbacks", None) or ():
            if callable(start := getattr(callback, "on_fit_start", None)):
                start(self, len(x))
        labels = None if y is None else check_labels(y, len(x))
        self._seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(self._seed)
        self._rng = np.random.default_rng(self._seed)
        return x, labels

    def _check_counts(self, n: int) -> None:
        """The counts among the parameters against the ``n`` training samples, before
        anything trains (an estimator with more counts extends it)."""
        if self.n_clusters > n:
            raise ValueError(f"n_clusters={self.n_clusters} exceeds the number of samples ({n})")

    def _batches(self, n: int, *, even: bool = False) -> list[torch.Tensor]:
        """A fresh random permutation of ``range(n)`` in batches of ``batch_size`` (the last
        one shorter), or with ``even=True`` in ``⌈n / batch_size⌉`` batches of near-equal
        size (the split of the SNNL and SSC authors' code)."""
        order = self._rng.permutation(n)
        if even:
            n_batches = max(1, -(-n // self.batch_size))
            return [torch.as_tensor(part) for part in np.array_split(order, n_batches)]
        return list(torch.as_tensor(order).split(self.batch_size))

    def _log(self, record: dict[str, Any]) -> None:
        """Append ``record`` to ``history_`` (and print it when ``verbose``)."""
        self.history_.append(record)
        if (hook := _EPOCH_HOOK.get()) is not None:
            hook(record)
        if self.verbose:
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()})

    def _end_epoch(self, record: dict[str, Any]) -> bool:
        """Run every callback on the epoch just finished, log ``record`` with ``reset``.

        Returns True when a callback reset something (all callbacks run, whatever
        the first ones answer).
        """
        callbacks: Sequence[Any] = getattr(self, "callbacks", None) or ()
        record["reset"] = any([cb.on_epoch_end(record["epoch"], self) for cb in callbacks])
        self._log(record)
        return record["reset"]


class EncoderClusterer(DeepClusterer, ClusterMixin, TransformerMixin, BaseEstimator):
    """A :class:`DeepClusterer` with an encoder ``model_`` and centres ``cluster_centers_``.

    ``transform`` gives the codes of ``model_.encode``; ``predict`` the nearest
    centre, which is also the most probable cluster under the Student-t
    assignment Q of DEC / IDEC / CDC (the kernel decreases with distance).
    """

    def transform(self, X: Any) -> np.ndarray:
        """Codes ``(n, latent dim)`` of the rows of ``X``, as numpy."""
        check_is_fitted(self, "cluster_centers_")
        return self.transform_tensor(check_input(self, X)).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row of ``X``: its code's nearest centre."""
        check_is_fitted(self, "cluster_centers_")
        return self._assign(self.transform_tensor(check_input(self, X))).cpu().numpy()

    @torch.no_grad()
    def transform_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of an already validated tensor, in chunks, without gradients."""
        return encode_in_batches(self.model_.encode, self.model_, x)

    def _assign(self, z: torch.Tensor) -> torch.Tensor:
        centers = torch.as_tensor(self.cluster_centers_, device=z.device, dtype=z.dtype)
        return torch.cdist(z, centers).argmin(dim=1)
