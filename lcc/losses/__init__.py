"""Training losses built on latent clusters (torch ``nn.Module``s and functions)."""

from lcc.losses.dec import dcn_loss, dec_loss, soft_assignment, target_distribution
from lcc.losses.lcc_loss import LCCLoss
from lcc.losses.snnl import SNNLoss, annealed_temperature

__all__ = [
    "LCCLoss",
    "SNNLoss",
    "annealed_temperature",
    "dcn_loss",
    "dec_loss",
    "soft_assignment",
    "target_distribution",
]
