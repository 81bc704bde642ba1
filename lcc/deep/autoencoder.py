"""Autoencoders for DEC / IDEC / DCN: fully connected (``d-500-500-2000-c``) and convolutional.

Both take and return *flat* ``(batch, features)`` tensors, so the estimators,
the reconstruction loss and the augmentation code treat them alike, and both
expose ``encoder`` (what BRB soft-resets) and ``embedding_layer`` (the last
encoder layer, which BRB leaves alone unless asked).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["ConvAutoencoder", "FeedForwardAutoencoder"]


class FeedForwardAutoencoder(nn.Module):
    """Encoder ``d → hidden… → latent`` and mirror decoder, ReLU between layers.

    ``encoder[-1]`` (or the activation after it) is the embedding layer, which
    BRB's soft reset leaves alone. The code and output layers are linear by
    default (DEC / IDEC / DCN); the SNNL recipe uses ``code_activation=
    nn.Sigmoid()`` and ``output_activation=nn.Sigmoid()`` with ``init="he"``
    (Kaiming-normal weights, zero biases). ``batch_norm=True`` puts a
    ``BatchNorm1d`` between every hidden ``Linear`` and its activation, in the
    encoder and the decoder, never on the code or output layer (the BRB authors'
    ``FullyConnectedBlock``). ``activation`` builds the hidden layers' activation
    (default ``nn.ReLU``; DEC / IDEC / DCN after pretraining pass ``nn.LeakyReLU``,
    ClustPy's ``FeedforwardAutoencoder`` default).
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (500, 500, 2000),
        *,
        code_activation: nn.Module | None = None,
        output_activation: nn.Module | None = None,
        init: str = "default",
        batch_norm: bool = False,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        if init not in ("default", "he"):
            raise ValueError(f"init must be 'default' or 'he', got {init!r}")
        sizes = [in_dim, *hidden, latent_dim]
        self.encoder = _mlp(sizes, code_activation, batch_norm, activation)
        self.decoder = _mlp(sizes[::-1], output_activation, batch_norm, activation)
        if init == "he":
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                    nn.init.zeros_(layer.bias)

    @property
    def embedding_layer(self) -> nn.Linear:
        return [m for m in self.encoder if isinstance(m, nn.Linear)][-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedding, reconstruction)``."""
        z = self.encode(x)
        return z, self.decoder(z)

    def forward_layers(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every hidden representation (encoder and decoder, code included) and the output.

        The SNNL recipe applies its loss to each of these (eq. 5).
        """
        hidden: list[torch.Tensor] = []
        h = x.flatten(1)
        modules = [*self.encoder, *self.decoder]
        for i, module in enumerate(modules):
            h = module(h)
            ends_layer = i + 1 == len(modules) or isinstance(modules[i + 1], nn.Linear)
            if ends_layer and i + 1 < len(modules):
                hidden.append(h)
        return hidden, h


def _mlp(
    sizes: Sequence[int],
    last_activation: nn.Module | None = None,
    batch_norm: bool = False,
    activation: Callable[[], nn.Module] = nn.ReLU,
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.extend([nn.BatchNorm1d(b), activation()] if batch_norm else [activation()])
        elif last_activation is not None:
            layers.append(last_activation)
    return nn.Sequential(*layers)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder for ``(C, H, W)`` images given as flat rows.

    Encoder: one 3×3 convolution (padding 1) per entry of ``channels``, with
    the matching entry of ``strides`` (default 2 everywhere; each layer maps a
    side of ``v`` pixels to ``ceil(v / stride)``), optional batch norm, ReLU;
    then a linear embedding layer to ``latent_dim``. Decoder: the mirror image
    with transposed convolutions whose ``output_padding`` makes the
    reconstruction exactly the input's H × W (8 × 8, 28 × 28, 32 × 32 …).

    The SSC paper's MNIST encoder (Table III) is ``channels=(32, 32, 64),
    strides=(2, 1, 3), batch_norm=True, latent_dim=256``.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int,
        channels: Sequence[int] = (32, 64),
        *,
        strides: Sequence[int] | None = None,
        batch_norm: bool = False,
    ):
        super().__init__()
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(
                f"image_shape must be (C, H, W) with positive sizes, got {image_shape}"
            )
        if not channels:
            raise ValueError("channels must name at least one convolution")
        strides = tuple(strides) if strides is not None else (2,) * len(channels)
        if len(strides) != len(channels) or min(strides) < 1:
            raise ValueError(f"strides must be {len(channels)} positive ints, got {strides}")
        c, h, w = (int(v) for v in image_shape)
        sizes = [(h, w)]
        for s in strides:
            sizes.append(tuple(-(-v // s) for v in sizes[-1]))
        chans = [c, *channels]
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]

        def block(conv: nn.Module, out_channels: int, last: bool) -> list[nn.Module]:
            if last:
                return [conv]
            norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
            return [conv, *norm, nn.ReLU()]

        enc: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
        for (a, b), s in zip(itertools.pairwise(chans), strides, strict=True):
            enc += block(nn.Conv2d(a, b, 3, stride=s, padding=1), b, last=False)
        enc += [nn.Flatten(), nn.Linear(flat, latent_dim)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Linear(latent_dim, flat), nn.ReLU()]
        dec.append(nn.Unflatten(1, (chans[-1], *sizes[-1])))
        steps = list(
            zip(
                itertools.pairwise(chans[::-1]),
                strides[::-1],
                sizes[:0:-1],
                sizes[-2::-1],
                strict=True,
            )
        )
        for i, ((a, b), s, (ih, iw), (th, tw)) in enumerate(steps):
            # ConvTranspose2d(k=3, stride s, padding 1) gives (in − 1)·s + 1 + output_padding
            pad = (th - (ih - 1) * s - 1, tw - (iw - 1) * s - 1)
            up = nn.ConvTranspose2d(a, b, 3, stride=s, padding=1, output_padding=pad)
            dec += block(up, b, last=i == len(steps) - 1)
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
