"""The fully connected autoencoder of DEC / IDEC / DCN (``d-500-500-2000-c`` by default)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["FeedForwardAutoencoder"]


class FeedForwardAutoencoder(nn.Module):
    """Encoder ``d → hidden… → latent`` (ReLU between layers, linear embedding) and mirror decoder.

    ``encoder[-1]`` is the embedding layer, which BRB's soft reset leaves alone.
    """

    def __init__(self, in_dim: int, latent_dim: int, hidden: Sequence[int] = (500, 500, 2000)):
        super().__init__()
        sizes = [in_dim, *hidden, latent_dim]
        self.encoder = _mlp(sizes)
        self.decoder = _mlp(sizes[::-1])

    @property
    def embedding_layer(self) -> nn.Linear:
        return self.encoder[-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedding, reconstruction)``."""
        z = self.encode(x)
        return z, self.decoder(z)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
