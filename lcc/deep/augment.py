"""Per-sample random affine augmentation of image batches, vectorised on the device."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

__all__ = ["BRB_AUTHORS", "random_affine", "random_affine_rows"]

BRB_AUTHORS = {"degrees": 16.0, "translate": 0.1, "scale": (1.0, 1.0), "shear": 8.0}
BRB_AUTHORS |= {"mode": "nearest", "whole_pixels": True}
"""The BRB authors' augmentation: torchvision's ``RandomAffine(degrees=(-16, 16),
translate=(0.1, 0.1), shear=(-8, 8))`` with its default nearest-neighbour sampling
(``src/datasets/augmentation_dataloader.py`` of their release)."""


def random_affine(
    images: torch.Tensor,
    *,
    degrees: float = 15.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    shear: float = 0.0,
    mode: str = "bilinear",
    whole_pixels: bool = False,
    fill: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate, shear, shift and scale every image of a ``(B, C, H, W)`` batch by its own draw.

    One ``affine_grid`` / ``grid_sample`` call for the whole batch (``mode``: bilinear or
    nearest), so it runs where the batch is, GPU included. ``translate`` is a fraction of
    the image size; ``shear`` (degrees) shears along x, as torchvision's ``RandomAffine``
    with one shear range. Pixels moved in from outside take the value ``fill``: pass
    the background (for z-scored images, the z-score of black, not 0). ``whole_pixels``
    rounds each shift to whole pixels, as torchvision's ``RandomAffine``. Every draw is
    symmetric, so sampling the inverse map (what ``affine_grid`` takes) draws the same
    transformations as torchvision, up to where the shift is applied.
    """
    b = images.shape[0]
    opts = {"device": images.device, "dtype": images.dtype}

    def uniform(low: float, high: float) -> torch.Tensor:
        draw = torch.rand(b, generator=generator, device=generator.device if generator else None)
        return (low + (high - low) * draw).to(**opts)

    angle = uniform(-degrees, degrees) * math.pi / 180
    factor = uniform(*scale)
    shift_x, shift_y = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    if whole_pixels:  # normalised coordinates span 2 over the width / height
        width, height = images.shape[-1], images.shape[-2]
        shift_x = torch.round(shift_x * width / 2) * 2 / width
        shift_y = torch.round(shift_y * height / 2) * 2 / height
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    tan = torch.tan(uniform(-shear, shear) * math.pi / 180) if shear else torch.zeros_like(cos)
    # the shear [[1, −tan], [0, 1]] times the rotation, over the scale
    theta = torch.stack(
        [
            torch.stack([cos - tan * sin, -sin - tan * cos, shift_x], 1),
            torch.stack([sin, cos, shift_y], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images - fill, grid, mode=mode, align_corners=False, padding_mode="zeros")
    return moved + fill


def random_affine_rows(
    rows: torch.Tensor, image_shape: Sequence[int] | None, *, fill: float = 0.0, **options
) -> torch.Tensor:
    """:func:`random_affine` (with ``options``) on flat ``(B, C·H·W)`` rows of
    ``image_shape`` images, as rows."""
    shape = tuple(image_shape or ())
    if not shape or math.prod(shape) != rows.shape[1]:
        raise ValueError(
            f"augment=True needs image_shape=(C, H, W) with C·H·W = {rows.shape[1]}, "
            f"got {image_shape}"
        )
    return random_affine(rows.view(-1, *shape), fill=fill, **options).flatten(1)
