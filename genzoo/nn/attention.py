"""Gaussian filterbank attention of DRAW (Gregor et al. 2015, "DRAW: A Recurrent Neural Network For Image
Generation", Sec. 3.2, Eq. 19-26).

An ``N x N`` grid of isotropic 2-D Gaussian filters is laid over a ``B x A`` image (height ``B``, width
``A``). The grid is described by its centre ``(g_X, g_Y)``, its stride ``delta``, the filters' variance
``sigma^2`` and a scalar intensity ``gamma``; all five come from the decoder state through one linear
layer (Eq. 21):

    (g~_X, g~_Y, log sigma^2, log delta~, log gamma) = W(h_dec)
    g_X = (A + 1)/2 (g~_X + 1),  g_Y = (B + 1)/2 (g~_Y + 1)                         (Eq. 22, 23)
    delta = (max(A, B) - 1)/(N - 1) delta~                                         (Eq. 24)

and filter ``i`` (``i = 1..N``, as in the paper) is centred at (Eq. 19, 20)

    mu_X^i = g_X + (i - N/2 - 0.5) delta,   mu_Y^j = g_Y + (j - N/2 - 0.5) delta.

Image coordinates run over ``a = 1..A`` and ``b = 1..B``, so ``g~ = 0`` puts the grid centre exactly on
the image centre ``(A + 1)/2`` and ``g~ = -+1`` on the borders. The filterbank matrices are (Eq. 25, 26)

    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X,   F_Y[j, b] likewise,

with ``Z_X``, ``Z_Y`` normalising every row to sum to one. A glimpse of an image ``x`` (``B x A``) is
``gamma F_Y x F_X^T`` (``N x N``, Eq. 27); writing an ``N x N`` patch ``w`` gives ``1/gamma F_Y^T w F_X``
(``B x A``, Eq. 29). With ``N = A = B``, ``delta = 1``, the centre in the middle and a small ``sigma``, the
filterbank is the identity and a glimpse is the image itself. Several channels share one filterbank.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class AttentionParams:
    """One grid per example: centre ``gx``, ``gy``, stride ``delta``, variance ``sigma2``, intensity ``gamma``,
    each of shape ``(n,)`` in image coordinates (``1..A``, ``1..B``)."""

    gx: Tensor
    gy: Tensor
    delta: Tensor
    sigma2: Tensor
    gamma: Tensor


def filterbank(centre: Tensor, delta: Tensor, sigma2: Tensor, n: int, size: int) -> Tensor:
    """The row-normalised filterbank ``F[i, a]`` (Eq. 19/20 and 25/26) along one axis.

    ``centre``, ``delta``, ``sigma2`` are ``(batch,)``; returns ``(batch, n, size)``. The filter index
    ``i`` runs over ``1..n`` and the image coordinate ``a`` over ``1..size``.
    """
    i = torch.arange(1, n + 1, device=centre.device, dtype=centre.dtype)
    mu = centre[:, None] + (i - n / 2 - 0.5) * delta[:, None]  # (batch, n)
    a = torch.arange(1, size + 1, device=centre.device, dtype=centre.dtype)
    f = torch.exp(-(a[None, None, :] - mu[:, :, None]).pow(2) / (2 * sigma2[:, None, None]))
    # Z: each row sums to one (a row wholly off the image, underflowed to zero, stays zero)
    return f / f.sum(-1, keepdim=True).clamp_min(torch.finfo(f.dtype).tiny)


def filterbanks(params: AttentionParams, n: int, height: int, width: int) -> tuple[Tensor, Tensor]:
    """``(F_X, F_Y)``: ``(batch, n, width)`` and ``(batch, n, height)``."""
    fx = filterbank(params.gx, params.delta, params.sigma2, n, width)
    fy = filterbank(params.gy, params.delta, params.sigma2, n, height)
    return fx, fy


def read_glimpse(x: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """``gamma F_Y x F_X^T`` for each channel: ``x`` ``(batch, C, B, A)`` -> ``(batch, C, N, N)`` (Eq. 27)."""
    glimpse = torch.einsum("bjh,bchw,biw->bcji", fy, x, fx)
    return gamma[:, None, None, None] * glimpse


def write_patch(w: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """``1/gamma F_Y^T w F_X`` for each channel: ``w`` ``(batch, C, N, N)`` -> ``(batch, C, B, A)`` (Eq. 29)."""
    image = torch.einsum("bjh,bcji,biw->bchw", fy, w, fx)
    return image / gamma[:, None, None, None]


class FilterbankHead(nn.Module):
    """The linear map from the decoder state to one grid's five parameters (Eq. 21-24)."""

    def __init__(self, hidden: int, n: int, height: int, width: int) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"the attention grid needs N >= 1, got {n}")
        self.n, self.height, self.width = n, height, width
        self.linear = nn.Linear(hidden, 5)

    def forward(self, h: Tensor) -> AttentionParams:
        gx_t, gy_t, log_sigma2, log_delta_t, log_gamma = self.linear(h).unbind(-1)
        a, b = self.width, self.height
        stride_scale = (max(a, b) - 1) / (self.n - 1) if self.n > 1 else 1.0
        return AttentionParams(
            gx=(a + 1) / 2 * (gx_t + 1),
            gy=(b + 1) / 2 * (gy_t + 1),
            delta=stride_scale * torch.exp(log_delta_t),
            sigma2=torch.exp(log_sigma2),
            gamma=torch.exp(log_gamma),
        )
