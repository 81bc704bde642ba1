"""Helpers shared by the tests: move test data to and from a backend's device."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from lcc._backend import move
from lcc.data import load_dataset


def on(backend: str, x):
    """Put a numpy array or scipy sparse matrix on ``backend``'s device."""
    return move(x, backend)


def host(x):
    """The numpy array (or scipy matrix) of ``x``, whatever its device."""
    return move(x, "cpu")


def digits_subset(n: int) -> TensorDataset:
    """The first ``n`` training images of the embedded digits set, as a TensorDataset."""
    split = load_dataset("digits")
    x = torch.stack([split.train[i][0] for i in range(n)])
    y = torch.stack([split.train[i][1] for i in range(n)])
    return TensorDataset(x, y)
