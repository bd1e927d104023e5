"""Image grids as PNG (Pillow only; torchvision is not needed)."""

from __future__ import annotations

import math
import os
from io import BytesIO

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def make_grid(images: Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images in [0, 1] into one uint8 ``(H', W', C)`` array (C is 1 or 3)."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    if c not in (1, 3):
        raise ValueError(f"images need 1 or 3 channels, got {c}")
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = torch.full((c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        r, q = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top : top + h, left : left + w] = x[i]
    return (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def grid_image(images: Tensor, nrow: int | None = None, scale: int = 1) -> Image.Image:
    arr = make_grid(images, nrow)
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def default_scale(images: Tensor) -> int:
    """Upscale small images so a grid of 8x8 digits is visible (about 64 px per image)."""
    return max(1, 64 // max(images.shape[-2:]))


def save_grid(images: Tensor, path: str | os.PathLike[str], nrow: int | None = None, scale: int | None = None) -> None:
    """Write a grid of ``(N, C, H, W)`` images in [0, 1] as a PNG (atomically)."""
    from genzoo.fileio import atomic_write_bytes

    img = grid_image(images, nrow, default_scale(images) if scale is None else scale)
    buf = BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def sheet_images(images: Tensor, conditions: list[Tensor] | None = None, max_frames: int = 10) -> tuple[Tensor, int]:
    """The one way a sample sheet lays samples out: ``(images, columns per sample)``.

    Images ``(N, C, H, W)`` are one tile each; videos ``(N, T, C, H, W)`` one row of (at most
    ``max_frames``, evenly spaced) frames each. ``conditions`` (pictures ``(N, 3, h, w)`` from
    :func:`genzoo.core.render_conditions`) go in front of each sample, so a sheet shows what every
    sample was asked for.
    """
    x = images.detach().float().cpu()
    if x.dim() == 5:
        t = x.shape[1]
        idx = torch.linspace(0, t - 1, min(t, max_frames)).round().long()
        tiles = [x[:, i] for i in idx.tolist()]
    elif x.dim() == 4:
        tiles = [x]
    else:
        raise ValueError(f"expected images (N, C, H, W) or videos (N, T, C, H, W), got {tuple(x.shape)}")
    if conditions:  # samples enlarged (nearest) to the pictures' size, so a caption stays readable
        size = conditions[0].shape[-2:]
        tiles = [torch.nn.functional.interpolate(c.float(), size=size, mode="nearest") for c in conditions] + [
            torch.nn.functional.interpolate(t, size=size, mode="nearest") for t in tiles
        ]
    if any(t.shape[1] != tiles[-1].shape[1] for t in tiles):
        tiles = [t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for t in tiles]
    per = len(tiles)
    return torch.stack(tiles, 1).flatten(0, 1), per


def save_sheet(
    images: Tensor, path: str | os.PathLike[str], nrow: int | None = None, conditions: list[Tensor] | None = None,
) -> None:
    """A PNG sample sheet of images or videos (see :func:`sheet_images`); ``nrow`` counts samples per row
    (default: a square of images, one video per row)."""
    tiles, per = sheet_images(images, conditions)
    if per > 1:
        samples_per_row = (nrow or max(1, math.ceil(math.sqrt(len(images))))) if images.dim() == 4 else 1
        nrow = per * samples_per_row
    save_grid(tiles, path, nrow=nrow)
