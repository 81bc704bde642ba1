"""The LCC clustering loss (LCC paper, eq. 8)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["LCCLoss"]


class LCCLoss(nn.Module):
    """``L = 1 / (√d · N_corr) · Σ_{i correctible} ‖z_i − z̄_i‖`` (eq. 8).

    Averaged over the correctible samples of the batch; 0 when the batch has
    none. Targets are constants: gradients flow only through ``z``.

    Call as ``loss(z, targets, correctible)`` with ``z`` of shape ``(B, ...)``
    (flattened to ``(B, d)``), ``targets`` ``(B, d)`` and ``correctible`` a
    ``(B,)`` bool mask, e.g. ``targets[batch_indices]``.
    """

    def forward(self, z: torch.Tensor, targets: torch.Tensor, correctible: torch.Tensor):
        z = z.reshape(z.shape[0], -1)
        if targets.shape != z.shape:
            raise ValueError(f"targets have shape {tuple(targets.shape)}, latents {tuple(z.shape)}")
        if correctible.shape != (z.shape[0],) or correctible.dtype != torch.bool:
            raise ValueError(f"correctible must be a bool mask of shape ({z.shape[0]},)")
        if not bool(correctible.any()):
            return z.new_zeros(())
        diff = z[correctible] - targets[correctible].detach().to(z.dtype)
        return torch.linalg.vector_norm(diff, dim=1).mean() / math.sqrt(z.shape[1])
