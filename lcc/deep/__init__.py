"""Deep clustering estimators: DEC, IDEC, DCN (+ the BRB callback) and the SNNL autoencoder."""

from lcc.deep.autoencoder import ConvAutoencoder, FeedForwardAutoencoder
from lcc.deep.brb import BRB, soft_reset
from lcc.deep.centroid import DCN, DEC, IDEC, dcn_center_update
from lcc.deep.snnl import SNNLAutoencoder

__all__ = [
    "BRB",
    "DCN",
    "DEC",
    "IDEC",
    "ConvAutoencoder",
    "FeedForwardAutoencoder",
    "SNNLAutoencoder",
    "dcn_center_update",
    "soft_reset",
]
