"""Training losses built on latent clusters (torch ``nn.Module``s)."""

from lcc.losses.dec import dcn_loss, dec_loss, soft_assignment, target_distribution
from lcc.losses.lcc_loss import LCCLoss

__all__ = ["LCCLoss", "dcn_loss", "dec_loss", "soft_assignment", "target_distribution"]
