"""Classifiers: a small CNN for the embedded data and torchvision models by name."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["SmallCNN", "build_model"]


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


def build_model(
    name: str, *, n_classes: int, in_channels: int = 1, weights: Any = None, **kwargs: Any
) -> nn.Module:
    """``"small_cnn"`` or any torchvision classification model by name.

    ``weights`` is passed through to torchvision (e.g. ``"IMAGENET1K_V1"`` for
    users who have the file in their torch hub cache); nothing is downloaded
    otherwise. With ``weights`` the classifier keeps its 1000 outputs unless
    ``n_classes`` differs, in which case its last linear layer is replaced.
    """
    if name == "small_cnn":
        return SmallCNN(in_channels=in_channels, n_classes=n_classes, **kwargs)
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        raise ValueError(f"unknown model {name!r}; choose 'small_cnn' or one of {available}")
    if weights is None:
        return torchvision.models.get_model(name, num_classes=n_classes, **kwargs)
    model = torchvision.models.get_model(name, weights=weights, **kwargs)
    _replace_head(model, n_classes)
    return model


def _replace_head(model: nn.Module, n_classes: int) -> None:
    """Swap the last ``nn.Linear`` for one with ``n_classes`` outputs."""
    last_name, last = None, None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name, last = name, module
    if last is None or last.out_features == n_classes:
        return
    parent = model.get_submodule(last_name.rpartition(".")[0]) if "." in last_name else model
    setattr(parent, last_name.rpartition(".")[2], nn.Linear(last.in_features, n_classes))
