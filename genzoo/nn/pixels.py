"""The two pixel ranges genzoo's networks use: data in [0, 1] and tanh-range [-1, 1] (DCGAN, pix2pix,
LAPGAN, the text-to-image and video models), and the maps between them."""

from __future__ import annotations

from torch import Tensor


def to_signed(x: Tensor) -> Tensor:
    """Pixels in [0, 1] -> [-1, 1]: ``2x - 1``."""
    return x * 2 - 1


def from_signed(y: Tensor) -> Tensor:
    """Network outputs in (about) [-1, 1] -> pixels in [0, 1]: ``(y + 1) / 2``, clamped to [0, 1]."""
    return ((y + 1) / 2).clamp(0, 1)
