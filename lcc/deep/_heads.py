"""The cluster layers of DEC / IDEC and DCN as ``nn.Module`` s (BRB paper, appendix B.1).

A head holds the centroids μ and states the method's clustering term; the
training loop in :mod:`lcc.deep.centroid` is the same for every head.

* :class:`StudentTHead` (DEC, IDEC): μ is a parameter learned by SGD; soft
  assignments Q (eq. 3), target P (eq. 4), ``KL(P ‖ Q)`` (eq. 5).
* :class:`KMeansHead` (DCN): μ is a buffer moved by the count-based update
  (eq. 7) after each step; hard assignments, ``½ ‖z − μ_s‖²`` (eq. 6).

Each step trains towards ``step_assignments(z, idx)``; ``after_step(encode, xb,
idx)`` runs after the optimizer's step, ``after_epoch(codes_of, new_batches)`` after the
epoch's steps; ``replace_centers`` is BRB's reclustering.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lcc.losses.dec import dcn_loss, dec_loss, soft_assignment, target_distribution

__all__ = ["KMeansHead", "StudentTHead", "dcn_center_update"]


def dcn_center_update(
    centers: torch.Tensor, counts: torch.Tensor, z: torch.Tensor, assignments: torch.Tensor
) -> None:
    """DCN's count-based centroid update (eq. 7) for a batch, in place, without a per-sample loop.

    ``μ_k ← μ_k − (z − μ_k) / c_k`` applied sample by sample equals, for a batch
    with ``m_k`` samples of sum ``S_k`` in cluster ``k``,
    ``μ_k ← (c_k μ_k + S_k) / (c_k + m_k)``.
    """
    m, sums = _cluster_sums(centers, z, assignments)
    new_counts = counts + m
    seen = m > 0
    centers[seen] = (counts[seen, None] * centers[seen] + sums[seen]) / new_counts[seen, None]
    counts.copy_(new_counts)


def _cluster_sums(
    centers: torch.Tensor, z: torch.Tensor, assignments: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m_k, S_k)``: how many codes of ``z`` each centre has and their sum, in the
    centres' dtype."""
    m = torch.bincount(assignments, minlength=len(centers)).to(centers.dtype)
    sums = torch.zeros_like(centers).index_add_(0, assignments, z.to(centers.dtype))
    return m, sums


class StudentTHead(nn.Module):
    """DEC's cluster layer: learnable centres, Student-t Q, sharpened target P."""

    uses_targets = True

    def __init__(self, centers: torch.Tensor):
        super().__init__()
        self.centers = nn.Parameter(centers.clone())

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """The most probable cluster under Q (eq. 3)."""
        return soft_assignment(z, self.centers.detach()).argmax(dim=1)

    def step_assignments(self, z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The batch's clusters: the most probable under Q of its current codes."""
        return self.assign(z)

    @torch.no_grad()
    def replace_centers(self, centers: torch.Tensor, codes: Callable[[], torch.Tensor]) -> None:
        self.centers.copy_(centers.to(self.centers))

    @torch.no_grad()
    def targets(self, z: torch.Tensor) -> torch.Tensor:
        """P (eq. 4) of the codes ``z``."""
        return target_distribution(soft_assignment(z, self.centers))

    def loss(
        self, z: torch.Tensor, assignments: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """``KL(P ‖ Q)`` (eq. 5) against the target rows of the batch."""
        return dec_loss(soft_assignment(z, self.centers), targets)

    def after_step(self, encode: Callable, xb: torch.Tensor, idx: torch.Tensor) -> None:
        """Nothing: SGD moves the centres."""

    def after_epoch(self, codes_of: Callable, new_batches: Callable) -> None:
        """Nothing: SGD moves the centres."""


class KMeansHead(nn.Module):
    """DCN's cluster layer: centres and counts as buffers, hard assignments.

    With ``assignments`` (the initial k-Means labels of every sample) the head
    keeps each sample's assignment ``s_i`` as the DCN paper's Algorithm 1 (and
    the DCN authors' and ClustPy's code) do: a step trains towards the ``s_i``
    found after the sample's previous step (eq. 6), then reassigns the batch and
    moves the centres (eq. 7). Without, a step trains towards the nearest centre
    of the current codes, as the BRB authors' ``dcn_module.py`` does.

    ``update="step"``: eq. 7 after every step (the DCN paper). ``update="epoch"``: the
    BRB authors' code, once per epoch over fresh batches of eval-mode codes, each batch
    moving a centre ``1/101`` of the way to the mean of its codes there (their
    ``update_centroids`` passes ``False`` as ``center_lr``, which freezes the count at
    100: ``dcn_module.py`` lines 72-137, 294, 590-604 at 07bd90b).
    """

    AUTHORS_RATE = 1 / 101

    uses_targets = False

    def __init__(
        self, centers: torch.Tensor, assignments: torch.Tensor | None = None, update: str = "step"
    ):
        super().__init__()
        self.update = update
        self.register_buffer("centers", centers.clone())
        self.register_buffer("counts", torch.ones(len(centers), device=centers.device))
        self.assignments: torch.Tensor | None
        self.register_buffer("assignments", None if assignments is None else assignments.clone())

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """The nearest centre."""
        return torch.cdist(z, self.centers).argmin(dim=1)

    def step_assignments(self, z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The batch's ``s_i``: kept from its previous step, or the current nearest centres."""
        return self.assign(z) if self.assignments is None else self.assignments[idx]

    def targets(self, z: torch.Tensor) -> None:
        return None

    def loss(
        self, z: torch.Tensor, assignments: torch.Tensor, targets: torch.Tensor | None
    ) -> torch.Tensor:
        """``½ ‖z_i − μ_{s_i}‖²`` (eq. 6)."""
        return dcn_loss(z, self.centers, assignments)

    @torch.no_grad()
    def after_step(self, encode: Callable, xb: torch.Tensor, idx: torch.Tensor) -> None:
        """The batch's new assignments (eq. 6, kept as its ``s_i``), then eq. 7 with them."""
        if self.update != "step":
            return
        z = encode(xb)
        assignments = self.assign(z)
        dcn_center_update(self.centers, self.counts, z, assignments)
        if self.assignments is not None:
            self.assignments[idx] = assignments

    @torch.no_grad()
    def after_epoch(self, codes_of: Callable, new_batches: Callable) -> None:
        """``update="epoch"``: each of ``new_batches()``' batches pulls, with its eval-mode
        codes ``codes_of(idx)``, the centres it is nearest to ``1/101`` of the way to its
        mean (the batches are drawn only here, so the step update's shuffles are unchanged)."""
        if self.update != "epoch":
            return
        for idx in new_batches():
            z = codes_of(idx)
            assignments = self.assign(z)
            if self.assignments is not None:
                self.assignments[idx.to(self.assignments.device)] = assignments
            m, sums = _cluster_sums(self.centers, z, assignments)
            seen = m > 0
            means = sums[seen] / m[seen, None]
            self.centers[seen] += self.AUTHORS_RATE * (means - self.centers[seen])

    @torch.no_grad()
    def replace_centers(self, centers: torch.Tensor, codes: Callable[[], torch.Tensor]) -> None:
        """New centres (BRB's reclustering); kept ``s_i`` are redrawn against them from
        ``codes()``, every sample's code (the old ones name clusters that are gone)."""
        self.centers.copy_(centers.to(self.centers))
        if self.assignments is not None:
            self.assignments.copy_(self.assign(codes()))
