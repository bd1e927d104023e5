"""Masked convolutions for autoregressive image models (PixelRNN / PixelCNN).

A :class:`MaskedConv2d` is an ordinary ``Conv2d`` whose kernel is multiplied by a fixed 0/1 mask so
that the output at pixel ``(i, j)`` only sees inputs that come *earlier* in the generation order:

* pixels are generated in raster order (row by row, left to right), so the kernel keeps every row
  above the centre, the columns left of the centre in the centre row, and nothing right of or below
  the centre;
* inside one pixel the colour channels are generated in the order R -> G -> B (van den Oord et al.
  2016, "Pixel Recurrent Neural Networks", Sec. 3.4 and Figure 2). The feature maps of every layer
  are split into ``data_channels`` *groups*; at the centre pixel a mask of type ``"A"`` connects
  output group ``c`` to input groups ``< c`` only (first layer: it must not see the sub-pixel it
  predicts) and a mask of type ``"B"`` to input groups ``<= c`` (every later layer).

Channel-group convention
------------------------
Channel ``k`` of a tensor with any number of channels belongs to group ``k % data_channels``
(:func:`channel_groups`), i.e. groups are *interleaved*: for RGB data channels 0, 3, 6, ... are "R"
features, 1, 4, 7, ... "G" and 2, 5, 8, ... "B". The input image itself (``C == data_channels``
channels) therefore has channel ``c`` in group ``c``, and an output layer with
``levels * data_channels`` channels reshaped to ``(N, levels, data_channels, H, W)`` (see
:func:`genzoo.nn.discrete.split_logits`) has the logits of colour ``c`` in group ``c``. When
feature maps are split into chunks (e.g. the two halves of a gated activation), keep the chunk size
a multiple of ``data_channels`` so that each chunk keeps the same grouping.

With ``data_channels == 1`` the channel part of the mask is trivial and a 1x1 mask-B convolution is
an ordinary 1x1 convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def channel_groups(channels: int, data_channels: int) -> Tensor:
    """Group (``0..data_channels-1``) of each of ``channels`` feature channels: ``k % data_channels``."""
    if data_channels < 1:
        raise ValueError(f"data_channels must be >= 1, got {data_channels}")
    return torch.arange(channels) % data_channels


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def raster_mask(
    out_channels: int,
    in_channels: int,
    kernel_size: int | tuple[int, int],
    mask_type: str,
    data_channels: int = 1,
) -> Tensor:
    """The ``(out, in, kh, kw)`` 0/1 mask of a raster-order + channel-order masked convolution.

    The kernel centre is ``(kh // 2, kw // 2)``; see the module docstring for the rules.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = _pair(kernel_size)
    ci, cj = kh // 2, kw // 2
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    mask[:, :, :ci, :] = 1.0  # every row above the centre
    mask[:, :, ci, :cj] = 1.0  # the centre row, left of the centre
    g_out = channel_groups(out_channels, data_channels)[:, None]
    g_in = channel_groups(in_channels, data_channels)[None, :]
    allowed = g_in < g_out if mask_type == "A" else g_in <= g_out
    mask[:, :, ci, cj] = allowed.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """Conv2d with a raster-order and R->G->B channel-order kernel mask.

    PixelRNN/PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 3.4):
    ``mask_type="A"`` for the first layer (the centre pixel's own sub-pixel and later colours are
    hidden), ``"B"`` for every later layer (the centre pixel's features of the same and earlier
    colour groups are visible). ``data_channels`` is the number of colour channels of the data
    (1 for grey/binary, 3 for RGB); channel ``k`` of both the input and the output belongs to group
    ``k % data_channels``. ``padding`` defaults to ``"same"`` padding ``(kh // 2, kw // 2)`` for odd
    kernels, so the output has the input's size.

    :meth:`causal_rows` returns the kernel restricted to the rows that the mask keeps (the centre row
    and above); :meth:`forward_last_row` uses it to compute only the last row of the output from the
    ``kh // 2 + 1`` last input rows, which is what a fast row-cached sampler needs.
    """

    mask: Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        mask_type: str,
        data_channels: int = 1,
        padding: int | tuple[int, int] | None = None,
        bias: bool = True,
    ) -> None:
        kh, kw = _pair(kernel_size)
        if padding is None:
            padding = (kh // 2, kw // 2)
        super().__init__(in_channels, out_channels, (kh, kw), padding=padding, bias=bias)
        self.mask_type = mask_type
        self.data_channels = data_channels
        self.register_buffer(
            "mask",
            raster_mask(out_channels, in_channels, (kh, kw), mask_type, data_channels),
            persistent=False,
        )

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)

    def causal_rows(self) -> Tensor:
        """Masked kernel rows ``0..kh//2`` (the rows below the centre are all zero)."""
        return self.masked_weight()[:, :, : self.kernel_size[0] // 2 + 1, :]

    def forward_last_row(self, rows: Tensor) -> Tensor:
        """Output row for the last of ``rows``: ``rows`` is ``(N, C, kh//2 + 1, W)``, already zero-padded
        at the top where the image has no rows. Returns ``(N, out, 1, W)``, equal (up to float
        rounding) to the corresponding row of :meth:`forward` on the whole image."""
        kw = self.kernel_size[1]
        pw = self.padding[1] if isinstance(self.padding, tuple) else kw // 2
        return F.conv2d(rows, self.causal_rows(), self.bias, padding=(0, int(pw)))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type}, data_channels={self.data_channels}"
