"""Autoencoders for DEC / IDEC / DCN: fully connected (``d-500-500-2000-c``) and convolutional.

Both take and return *flat* ``(batch, features)`` tensors, so the estimators,
the reconstruction loss and the augmentation code treat them alike, and both
expose ``encoder`` (what BRB soft-resets) and ``embedding_layer`` (the last
encoder layer, which BRB leaves alone unless asked).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConvAutoencoder", "FeedForwardAutoencoder"]


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


class ConvAutoencoder(nn.Module):
    """Small convolutional autoencoder for ``(C, H, W)`` images given as flat rows.

    Encoder: one 3×3 stride-2 convolution + ReLU per entry of ``channels``
    (each halves H and W, rounding up), then a linear embedding layer to
    ``latent_dim``. Decoder: the mirror image with transposed convolutions,
    whose ``output_padding`` is chosen so the reconstruction has exactly the
    input's H × W (8 × 8, 28 × 28, 32 × 32 all round-trip).
    """

    def __init__(
        self, image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (32, 64)
    ):
        super().__init__()
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(
                f"image_shape must be (C, H, W) with positive sizes, got {image_shape}"
            )
        if not channels:
            raise ValueError("channels must name at least one convolution")
        c, h, w = (int(v) for v in image_shape)
        sizes = [(h, w)]
        for _ in channels:
            sizes.append(tuple((v + 1) // 2 for v in sizes[-1]))
        chans = [c, *channels]
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]

        enc: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
        for a, b in itertools.pairwise(chans):
            enc += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
        enc += [nn.Flatten(), nn.Linear(flat, latent_dim)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Linear(latent_dim, flat), nn.ReLU()]
        dec.append(nn.Unflatten(1, (chans[-1], *sizes[-1])))
        steps = list(zip(itertools.pairwise(chans[::-1]), sizes[:0:-1], sizes[-2::-1], strict=True))
        for i, ((a, b), (ih, iw), (th, tw)) in enumerate(steps):
            # ConvTranspose2d(k=3, s=2, p=1) gives 2·in − 1 + output_padding
            pad = (th - (2 * ih - 1), tw - (2 * iw - 1))
            dec.append(nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=pad))
            if i < len(steps) - 1:
                dec.append(nn.ReLU())
        dec.append(nn.Flatten())
        self.decoder = nn.Sequential(*dec)

    @property
    def embedding_layer(self) -> nn.Linear:
        return self.encoder[-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedding, flat reconstruction)``."""
        z = self.encode(x)
        return z, self.decoder(z)
