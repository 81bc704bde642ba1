"""Deep clustering estimators: DEC, IDEC, DCN and the BRB callback."""

from lcc.deep.autoencoder import ConvAutoencoder, FeedForwardAutoencoder
from lcc.deep.brb import BRB, soft_reset
from lcc.deep.centroid import DCN, DEC, IDEC, dcn_center_update

__all__ = [
    "BRB",
    "DCN",
    "DEC",
    "IDEC",
    "ConvAutoencoder",
    "FeedForwardAutoencoder",
    "dcn_center_update",
    "soft_reset",
]
