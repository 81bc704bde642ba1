"""Deep clustering estimators: DEC, IDEC, DCN (+ BRB's BRBCallback), SNNL, CDC and SSC."""

from lcc.deep._base import each_epoch
from lcc.deep.autoencoder import ConvAutoencoder, FeedForwardAutoencoder
from lcc.deep.brb import BRBCallback, soft_reset
from lcc.deep.cdc import CDC
from lcc.deep.centroid import DCN, DEC, IDEC, dcn_center_update
from lcc.deep.snapshot import SnapshotSpectralClustering
from lcc.deep.snnl import SNNLAutoencoder

__all__ = [
    "CDC",
    "DCN",
    "DEC",
    "IDEC",
    "BRBCallback",
    "ConvAutoencoder",
    "FeedForwardAutoencoder",
    "SNNLAutoencoder",
    "SnapshotSpectralClustering",
    "dcn_center_update",
    "each_epoch",
    "soft_reset",
]
