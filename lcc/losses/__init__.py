"""Training losses built on latent clusters (torch ``nn.Module``s)."""

from lcc.losses.lcc_loss import LCCLoss

__all__ = ["LCCLoss"]
