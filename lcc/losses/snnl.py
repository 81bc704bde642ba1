"""Soft nearest neighbour loss (Frosst et al. 2019; Agarap & Azcarraga 2020, eq. 2–4).

For a batch ``z`` with labels ``y`` at temperature ``T``::

    ℓ_sn = −1/b Σ_i log( Σ_{j≠i, y_j=y_i} e^{−d_ij/T} / Σ_{k≠i} e^{−d_ik/T} )   (eq. 2)

computed here as a difference of two masked log-sum-exps, so it is exact at
any temperature: no bare ``ε`` (the authors' code adds 1e-5 inside the
logarithm and the ratio, which biases the loss and saturates its gradient),
no overflow at ``T = 1e-4``, no NaN.

Rows whose class has no other member in the batch have an empty numerator:
eq. (2) is +∞ there and carries no information about the representation, so
those rows are left out of the mean (and the loss is 0 when no row is left).

``y=None`` is the paper's unsupervised variant: "the same probabilistic
sampling of a neighbouring point j to i, but we do not constrain them to come
from the same class". The numerator then equals the denominator and eq. (2) is
identically 0 — which is what the paper's Table III shows (SNNL-2/4/6/8 score
like the plain autoencoder). It is kept, faithfully, so the eight
configurations of Table I can be run; pass pseudo-labels as ``y`` for an
unsupervised loss that does something.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SNNLoss", "annealed_temperature"]


def annealed_temperature(epoch: int, eta: float = 1.0, gamma: float = 0.55) -> float:
    """The annealing schedule ``T = 1 / (η + epoch)^γ`` (eq. 3), epochs counted from 0."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if eta + epoch <= 0:
        raise ValueError(f"eta + epoch must be > 0, got eta={eta}")
    return 1.0 / (eta + epoch) ** gamma


class SNNLoss(nn.Module):
    """Soft nearest neighbour loss over one or several layers, ``loss(z, y, temperature)``.

    Parameters
    ----------
    distance:
        ``"cosine"`` (``1 − cos``, what the SNNL paper uses) or ``"euclidean"``
        (squared Euclidean, as in eq. 2).
    combine:
        For a list of layer representations: ``"sum"`` over layers (eq. 5) or
        ``"min"``, the lowest layer loss (the paper's "argmin", eq. 4).
    temperature:
        Default temperature when the call does not pass one.
    """

    def __init__(
        self, distance: str = "cosine", combine: str = "sum", temperature: float = 100.0
    ) -> None:
        super().__init__()
        if distance not in ("cosine", "euclidean"):
            raise ValueError(f"distance must be 'cosine' or 'euclidean', got {distance!r}")
        if combine not in ("sum", "min"):
            raise ValueError(f"combine must be 'sum' or 'min', got {combine!r}")
        self.distance = distance
        self.combine = combine
        self.temperature = _check_temperature(temperature)

    def forward(
        self,
        z: torch.Tensor | Sequence[torch.Tensor],
        y: torch.Tensor | None = None,
        temperature: float | None = None,
    ) -> torch.Tensor:
        """The loss of ``z`` (a ``(b, …)`` tensor or a list of them, one per layer)."""
        t = self.temperature if temperature is None else _check_temperature(temperature)
        layers = [z] if torch.is_tensor(z) else list(z)
        if not layers:
            raise ValueError("z must be a tensor or a non-empty list of tensors")
        b = layers[0].shape[0]
        for layer in layers:
            if not torch.is_tensor(layer) or layer.ndim < 2 or layer.shape[0] != b:
                raise ValueError("every layer in z must be a (batch, …) tensor of the same batch")
        if y is not None:
            if not torch.is_tensor(y) or y.shape != (b,):
                raise ValueError(f"y must be a tensor of shape ({b},) or None")
            if y.is_floating_point():
                raise TypeError("y must hold integer class labels")
        losses = torch.stack([self._layer_loss(layer.flatten(1), y, t) for layer in layers])
        return losses.sum() if self.combine == "sum" else losses.min()

    def _layer_loss(self, z: torch.Tensor, y: torch.Tensor | None, t: float) -> torch.Tensor:
        b = z.shape[0]
        if self.distance == "cosine":
            u = F.normalize(z, dim=1)
            d = 1.0 - u @ u.T
        else:
            sq = z.pow(2).sum(1)
            d = (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
        logits = -d / t
        others = ~torch.eye(b, dtype=torch.bool, device=z.device)
        same = others if y is None else others & (y[:, None] == y[None, :])
        valid = same.any(dim=1)
        if not bool(valid.any()):
            return z.sum() * 0.0  # no row has a neighbour to pick: nothing to learn
        neg_inf = torch.finfo(logits.dtype).min
        log_num = torch.logsumexp(logits.masked_fill(~same, neg_inf), dim=1)
        log_den = torch.logsumexp(logits.masked_fill(~others, neg_inf), dim=1)
        return (log_den - log_num)[valid].mean()

    def extra_repr(self) -> str:
        return f"distance={self.distance!r}, combine={self.combine!r}, T={self.temperature}"


def _check_temperature(t: float) -> float:
    t = float(t)
    if not t > 0 or t != t or t == float("inf"):
        raise ValueError(f"temperature must be a positive finite number, got {t}")
    return t
