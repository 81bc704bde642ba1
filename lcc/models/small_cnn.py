"""A small CNN for the embedded data sets (digits, the MNIST subset) and CIFAR-sized images."""

from __future__ import annotations

from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Two conv blocks and a two-layer head; ``fc1`` is the natural latent layer.

    Works for any square greyscale or colour input of side ≥ 8 (8×8 digits,
    28×28 MNIST, 32×32 CIFAR) thanks to adaptive pooling.
    """

    def __init__(
        self, in_channels: int = 1, n_classes: int = 10, width: int = 32, latent: int = 64
    ):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 16, latent), nn.ReLU())
        self.fc2 = nn.Linear(latent, n_classes)

    def forward(self, x):
        return self.fc2(self.fc1(self.features(x)))
