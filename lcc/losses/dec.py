"""DEC / IDEC / DCN clustering terms (BRB paper, appendix B.1, eq. 3–7) and their ``L_rec``."""

from __future__ import annotations

import torch

__all__ = [
    "dcn_loss",
    "dec_loss",
    "reconstruction_loss",
    "soft_assignment",
    "target_distribution",
]


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Student-t similarity of embeddings to centres (eq. 3), rows sum to 1.

    ``q_ij ∝ (1 + ‖z_i − μ_j‖² / α)^(−(α + 1) / 2)``.
    """
    d2 = torch.cdist(z, centers).pow(2)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's auxiliary target (eq. 4): ``p_ij ∝ q_ij² / f_j`` with ``f_j = Σ_i q_ij``.

    Computed over the whole data set (not a batch), as the DEC paper does.
    """
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return (weight / weight.sum(dim=1, keepdim=True)).detach()


def dec_loss(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``KL(P ‖ Q)`` averaged over the samples of the batch (eq. 5)."""
    p = p.detach()
    return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(1).mean()


def dcn_loss(z: torch.Tensor, centers: torch.Tensor, assignments: torch.Tensor) -> torch.Tensor:
    """DCN's k-Means term (eq. 6): ``½ ‖z_i − μ_{s_i}‖²`` averaged over the batch."""
    return 0.5 * (z - centers[assignments].detach()).pow(2).sum(1).mean()


def reconstruction_loss(
    recon: torch.Tensor, x: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Squared reconstruction error ``‖x − x̂‖²`` of a batch: ``"mean"`` averages it over
    the batch and the features (the IDEC authors' Keras ``'mse'``), ``"sum"`` sums it over
    each sample's features and averages over the batch (the DCN paper's
    ``ℓ(x, y) = ‖x − y‖²``, its authors' code, ClustPy's ``mean_squared_error``)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    mse = torch.nn.functional.mse_loss(recon, x)
    return mse * x[0].numel() if reduction == "sum" else mse
