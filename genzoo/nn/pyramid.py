"""Gaussian / Laplacian image pyramids (Burt & Adelson 1983), as used by LAPGAN.

Following Denton, Chintala, Szlam & Fergus 2015 ("Deep Generative Image Models using a Laplacian
Pyramid of Adversarial Networks", Sec. 3.1), with a downsampling operator ``d`` (image of size
``j x j`` -> ``j/2 x j/2``) and an upsampling operator ``u`` (the reverse), the Gaussian pyramid of an
image ``I`` is ``G(I) = [I_0, I_1, ..., I_K]`` with ``I_0 = I`` and ``I_{k+1} = d(I_k)``, and the
Laplacian pyramid is

    h_k = I_k - u(I_{k+1})      for k = 0..K-1,        h_K = I_K                 (Denton Eq. 3)

Reconstruction runs coarse to fine:

    I_K = h_K,        I_k = u(I_{k+1}) + h_k                                    (Denton Eq. 4)

Because each band is defined as the residual against the *same* ``u(I_{k+1})`` that reconstruction
adds back, reconstruction is exact for any choice of ``d`` and ``u`` (up to float rounding). Here
``d`` is 2x2 average pooling and ``u`` bilinear upsampling by 2 (``align_corners=False``): both are
fixed, linear and cheap. Index 0 is the finest level, the last entry the coarsest low-pass image.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["build_gaussian_pyramid", "build_laplacian_pyramid", "downsample", "reconstruct", "upsample"]


def downsample(x: Tensor) -> Tensor:
    """``d``: halve the spatial size of ``(N, C, H, W)`` by 2x2 averaging (H, W must be even)."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"cannot halve spatial size {tuple(x.shape[-2:])}: it must be even")
    return F.avg_pool2d(x, 2)


def upsample(x: Tensor) -> Tensor:
    """``u``: double the spatial size of ``(N, C, H, W)`` by bilinear interpolation."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def build_gaussian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """``[I_0, ..., I_{levels-1}]``: the image and ``levels - 1`` successive downsamplings."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    if x.dim() != 4:
        raise ValueError(f"expected (N, C, H, W), got shape {tuple(x.shape)}")
    out = [x]
    for _ in range(levels - 1):
        out.append(downsample(out[-1]))
    return out


def build_laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """``[h_0, ..., h_{levels-1}]`` (Denton et al. 2015, Eq. 3): band-pass residuals, finest first,
    and the coarsest low-pass image ``h_{levels-1} = I_{levels-1}`` last.

    ``H`` and ``W`` must be divisible by ``2**(levels-1)`` (28 -> 14 -> 7, 32 -> 16 -> 8).
    """
    gauss = build_gaussian_pyramid(x, levels)
    bands = [gauss[k] - upsample(gauss[k + 1]) for k in range(levels - 1)]
    bands.append(gauss[-1])
    return bands


def reconstruct(pyramid: list[Tensor]) -> Tensor:
    """Invert :func:`build_laplacian_pyramid` (Denton et al. 2015, Eq. 4): ``I_k = u(I_{k+1}) + h_k``."""
    if not pyramid:
        raise ValueError("empty pyramid")
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = upsample(image) + band
    return image
