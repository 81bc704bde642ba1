"""Training losses built on latent clusters (torch modules, ``nn.Module``, and functions)."""

from lcc.losses.cdc import affinity_loss, correlation_loss, pairwise_similarity
from lcc.losses.dec import (
    dcn_loss,
    dec_loss,
    reconstruction_loss,
    soft_assignment,
    target_distribution,
)
from lcc.losses.lcc_loss import LCCLoss
from lcc.losses.snnl import SNNLoss, annealed_temperature

__all__ = [
    "LCCLoss",
    "SNNLoss",
    "affinity_loss",
    "annealed_temperature",
    "correlation_loss",
    "dcn_loss",
    "dec_loss",
    "pairwise_similarity",
    "reconstruction_loss",
    "soft_assignment",
    "target_distribution",
]
