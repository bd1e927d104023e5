"""Layers of the video models: multiplicative units and residual multiplicative blocks (Video Pixel
Networks), a convolutional LSTM, and the 3D (de)convolution stacks of VGAN.

Multiplicative unit (Kalchbrenner et al. 2016, "Video Pixel Networks", Sec. 4.2, Eqs. 6-7)::

    g1 = sigma(W1 * h), g2 = sigma(W2 * h), g3 = sigma(W3 * h), u = tanh(W4 * h)
    MU(h) = g1 . tanh(g2 . h + g3 . u)

Residual multiplicative block (Sec. 4.3): a 1x1 convolution from ``2c`` to ``c`` channels, two MUs, a
1x1 convolution back to ``2c`` channels, plus the block's input. The encoder's blocks use dilated
3x3 convolutions (resolution preserving); the decoder's use masked convolutions
(:mod:`genzoo.nn.masked`, mask ``"B"``), so a block's output at a pixel sees only earlier pixels and, at
the pixel itself, the same or earlier colour groups (``c`` must be a multiple of the colour channels so
the four gate chunks keep the interleaved grouping).

Convolutional LSTM (Shi et al. 2015, Eq. 3, without peepholes, as the VPN uses it): the four gates are
one convolution of ``[x_t, h_{t-1}]``; ``c_t = f . c_{t-1} + i . tanh(g)``, ``h_t = o . tanh(c_t)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genzoo.nn.masked import MaskedConv2d


class MultiplicativeUnit(nn.Module):
    """One MU (VPN Eq. 7) on ``c`` channels; the four 3x3 convolutions are one convolution to ``4c``.

    ``masked=True``: a mask-B :class:`MaskedConv2d` (decoder); else a dilated ordinary convolution.
    """

    def __init__(self, c: int, dilation: int = 1, masked: bool = False, data_channels: int = 1) -> None:
        super().__init__()
        self.c = c
        if masked:
            self.conv: nn.Conv2d = MaskedConv2d(c, 4 * c, 3, "B", data_channels)
        else:
            self.conv = nn.Conv2d(c, 4 * c, 3, padding=dilation, dilation=dilation)

    def forward(self, h: Tensor) -> Tensor:
        g1, g2, g3, u = self.conv(h).split(self.c, dim=1)
        return torch.sigmoid(g1) * torch.tanh(torch.sigmoid(g2) * h + torch.sigmoid(g3) * torch.tanh(u))


class ResidualMultiplicativeBlock(nn.Module):
    """RMB (VPN Sec. 4.3, Fig. 3): ``h + W_out(MU(MU(W_in h)))`` with 1x1 ``W_in: 2c -> c``,
    ``W_out: c -> 2c``; masked (1x1 mask-B, keeping colour groups) in the decoder."""

    def __init__(self, c: int, dilation: int = 1, masked: bool = False, data_channels: int = 1) -> None:
        super().__init__()
        if masked and c % data_channels:
            raise ValueError(f"decoder channels {c} must be a multiple of the {data_channels} colour channels")

        def one_by_one(i: int, o: int) -> nn.Conv2d:
            return MaskedConv2d(i, o, 1, "B", data_channels) if masked else nn.Conv2d(i, o, 1)

        self.inp = one_by_one(2 * c, c)
        self.mu1 = MultiplicativeUnit(c, dilation, masked, data_channels)
        self.mu2 = MultiplicativeUnit(c, dilation, masked, data_channels)
        self.out = one_by_one(c, 2 * c)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.out(self.mu2(self.mu1(self.inp(h))))

    #: rows (and columns) of the input a masked block's output at a pixel can reach (two 3x3 MUs)
    reach = 2


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al. 2015, without peepholes): ``(x, (h, c)) -> (h', c')``."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def initial(self, n: int, h: int, w: int, like: Tensor) -> tuple[Tensor, Tensor]:
        z = like.new_zeros(n, self.hidden, h, w)
        return z, z

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def time_upsampling(frames: int, layers: int) -> tuple[int, int]:
    """``(t0, k)``: a VGAN stack of ``layers`` up-sampling layers starts from ``t0`` frames and doubles time
    in its first ``k`` layers, making ``t0 * 2**k >= frames`` frames (the extra ones are cropped): the
    most doublings that waste at most a quarter of the frames (32 frames: ``t0 = 2, k = 4`` as in
    Vondrick et al.; 20 frames: ``5, 2``)."""
    best = (frames, 0)
    for k in range(1, layers + 1):
        if 2**k > frames:
            break
        t0 = -(-frames // 2**k)
        if t0 * 2**k <= 1.25 * frames:
            best = (t0, k)
    return best


class UpVideo(nn.Sequential):
    """VGAN's foreground stream body (Vondrick et al. 2016, Fig. 1): ``(N, ch[0], t0, 4, 4)`` ->
    ``(N, ch[-1], t0 * 2**k, 4 * 2**L, ...)`` by ``L`` 3D transposed convolutions (kernel 4, stride 2
    in space; stride 2 in time for the first ``k`` layers, else kernel 3 stride 1), batch norm + ReLU
    between them."""

    def __init__(self, channels: list[int], time_doublings: int) -> None:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(channels[:-1], channels[1:])):
            kt, st = (4, 2) if i < time_doublings else (3, 1)
            layers.append(nn.ConvTranspose3d(a, b, (kt, 4, 4), (st, 2, 2), (1, 1, 1)))
            if i < len(channels) - 2:
                layers += [nn.BatchNorm3d(b), nn.ReLU(inplace=True)]
        super().__init__(*layers)
