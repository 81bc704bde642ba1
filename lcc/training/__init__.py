"""Training loops and callbacks that act on a model's latent clusters."""

from lcc.training.callback import LCCCallback
from lcc.training.capture import IndexedDataset, LatentCapture
from lcc.training.trainer import evaluate, train

__all__ = ["IndexedDataset", "LCCCallback", "LatentCapture", "evaluate", "train"]
