"""Per-sample random affine augmentation of image batches, vectorised on the device."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

__all__ = ["random_affine", "random_affine_rows"]


def random_affine(
    images: torch.Tensor,
    *,
    degrees: float = 15.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    fill: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate, shift and scale every image of a ``(B, C, H, W)`` batch by its own draw.

    One ``affine_grid`` / ``grid_sample`` call for the whole batch (bilinear),
    so it runs where the batch is, GPU included. ``translate`` is a fraction of
    the image size. Pixels moved in from outside take the value ``fill``: pass
    the background (for z-scored images, the z-score of black, not 0).
    """
    b = images.shape[0]
    opts = {"device": images.device, "dtype": images.dtype}

    def uniform(low: float, high: float) -> torch.Tensor:
        draw = torch.rand(b, generator=generator, device=generator.device if generator else None)
        return (low + (high - low) * draw).to(**opts)

    angle = uniform(-degrees, degrees) * math.pi / 180
    factor = uniform(*scale)
    shift_x, shift_y = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images - fill, grid, align_corners=False, padding_mode="zeros")
    return moved + fill


def random_affine_rows(
    rows: torch.Tensor, image_shape: Sequence[int] | None, *, fill: float = 0.0
) -> torch.Tensor:
    """:func:`random_affine` on flat ``(B, C·H·W)`` rows of ``image_shape`` images, as rows."""
    shape = tuple(image_shape or ())
    if not shape or math.prod(shape) != rows.shape[1]:
        raise ValueError(
            f"augment=True needs image_shape=(C, H, W) with C·H·W = {rows.shape[1]}, "
            f"got {image_shape}"
        )
    return random_affine(rows.view(-1, *shape), fill=fill).flatten(1)
