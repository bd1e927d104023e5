"""PixelRNN: Row LSTM and Diagonal BiLSTM (van den Oord, Kalchbrenner & Kavukcuoglu, ICML 2016).

Both models factorise an image in raster order, and inside a pixel in the order R -> G -> B (Eqs. 1-2),

    p(x) = prod_i p(x_i | x_<i),
    p(x_i | x_<i) = p(x_iR | x_<i) p(x_iG | x_<i, x_iR) p(x_iB | x_<i, x_iR, x_iG),

with a Bernoulli per sub-pixel for binary data and a ``levels``-way softmax for 8-bit data (Sec. 2.2,
the 256-way softmax). The network (Table 1 of the paper):

1. a 7x7 mask-A convolution from the image to a residual stream of ``2h`` features;
2. ``layers`` two-dimensional LSTM layers, each with a residual connection (Sec. 3.4, Figure 4): the
   layer reads the ``2h``-feature stream, runs an LSTM with ``h`` hidden units, and a 1x1 mask-B
   convolution maps its output back to ``2h`` features that are added to the stream;
3. ReLU, 1x1 mask-B convolution, ReLU, 1x1 mask-B convolution to the logits (2 output layers).

Every LSTM layer computes Eq. (3) of the paper,

    [o, f, i, g] = [sigma, sigma, sigma, tanh](K^ss (*) h_{prev} + K^is (*) x),
    c = f * c_{prev} + i * g,   h = o * tanh(c),

and the two models differ in the shape of K^is and K^ss and in the direction of the recurrence:

* **Row LSTM** (Sec. 3.1) processes the image one row at a time, top to bottom. K^is is a ``1 x k``
  mask-B convolution along the row (``k = 3``: the pixel to the left and the pixel itself), computed for
  the whole map at once; K^ss is an unmasked 1D convolution of width ``k`` over the hidden state of the
  row above, so the state of pixel ``(i, j)`` sees a triangle of pixels above it.
* **Diagonal BiLSTM** (Sec. 3.2) skews the map (row ``i`` shifted right by ``i``) so that each column of
  the skewed map is an anti-diagonal of the image, and runs the recurrence over the columns. K^is is a
  1x1 mask-B convolution; K^ss is an unmasked 2x1 convolution over the previous column, i.e. the state
  of ``(i, j)`` reads the states of its left neighbour ``(i, j - 1)`` and its upper neighbour
  ``(i - 1, j)``. A second direction does the same on the horizontally mirrored map (right-to-left);
  its output map is shifted down by one row before it is added to the left-to-right one, so pixel
  ``(i, j)`` sees, through the second direction, only rows ``< i`` (all of them to its right). Both
  directions together give every pixel the whole context ``x_<i`` with one exception that follows
  from the paper's construction (and which the tests pin down): the last colour of the last pixel of
  row ``i - 1`` is in no feature of row ``i - 1`` (mask A hides a sub-pixel from its own position),
  so the right-to-left pass over row ``i - 1`` cannot carry it left; pixel ``(i, j)`` sees it only
  through the 7x7 input convolution, i.e. for ``j >= W - 4``.

Colour masking (Sec. 3.4): every feature map is split into ``C`` channel groups with the interleaved
convention of :mod:`genzoo.nn.masked` (channel ``k`` in group ``k % C``). The four gate blocks of K^is
each carry the grouping of the ``h`` hidden units (so ``h`` need not be a multiple of ``C``) and use
mask B, and the gate nonlinearities and cell updates are element-wise, so group ``c`` of a pixel's
features depends on that pixel's colours ``< c`` only. K^ss needs no mask: it reads states of earlier
pixels only.

Samplers (:meth:`PixelRNN.sample`): ``method="naive"`` recomputes the whole network for every
sub-pixel (the reference, ``H W C`` full passes); ``method="fast"`` caches everything for the rows
already completed and for the completed pixels of the current row, and computes only the current pixel:

* Row LSTM: the state-to-state part of row ``i`` is computed once per row from the cached states of
  row ``i - 1``; per sub-pixel, each layer's input-to-state part reads the cached layer inputs of the
  ``k // 2`` pixels to the left, so one LSTM step at one position per layer suffices.
* Diagonal BiLSTM: the left-to-right state of ``(i, j)`` is one LSTM step from the cached states of
  ``(i, j - 1)`` and ``(i - 1, j)``; the right-to-left direction makes row ``i + 1`` depend on the whole
  of row ``i``, so once row ``i`` is complete one right-to-left pass over it (all layers batched)
  computes the states that row ``i + 1`` reads, shifted down.

Both samplers draw one uniform per sub-pixel up front and sample by inverse CDF, so the same generator
gives the same images (up to float rounding differences between the two evaluation orders, which would
only matter for a uniform within ~1e-7 of a decision boundary).

Defaults are the paper's binarized-MNIST setting for the Diagonal BiLSTM (Table 4: 7 layers,
``h = 16``); the paper does not restate the Row LSTM's MNIST size, we use the same. The width of the
two output layers (``output_hidden = 32 = 2h``) is our choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import DataInfo
from genzoo.core.ranges import AT_LEAST_1, ranged
from genzoo.models.autoregressive.base import RasterModel
from genzoo.nn.discrete import sample_from_uniforms
from genzoo.nn.masked import MaskedConv2d, raster_mask
from genzoo.registry import register_model


@dataclass
class RowLSTMConfig:
    """Row LSTM hyper-parameters (van den Oord et al. 2016, Sec. 3.1 and Table 1)."""

    layers: int = ranged(7, AT_LEAST_1)  #: LSTM layers (each with a residual connection)
    hidden: int = ranged(16, AT_LEAST_1)  #: ``h``, LSTM hidden units; the residual stream has ``2h`` features
    kernel: int = ranged(3, AT_LEAST_1)  #: ``k`` of the 1 x k input-to-state and state-to-state convolutions (paper: 3)
    input_kernel: int = ranged(7, AT_LEAST_1)  #: size of the first, mask-A convolution (paper: 7)
    output_hidden: int = ranged(32, AT_LEAST_1)  #: features of the first 1x1 output layer (our choice)


@dataclass
class DiagonalBiLSTMConfig:
    """Diagonal BiLSTM hyper-parameters (van den Oord et al. 2016, Sec. 3.2, Tables 1 and 4)."""

    layers: int = ranged(7, AT_LEAST_1)  #: LSTM layers (paper on binarized MNIST: 7, with h = 16)
    hidden: int = ranged(16, AT_LEAST_1)  #: ``h``, LSTM units per direction (residual stream: ``2h``)
    input_kernel: int = ranged(7, AT_LEAST_1)  #: size of the first, mask-A convolution (paper: 7)
    output_hidden: int = ranged(32, AT_LEAST_1)  #: features of the first 1x1 output layer (our choice)


def _lstm_cell(gates: Tensor, c: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Eq. (3): gates ``[o, f, i, g]`` stacked along ``dim`` (4 blocks of h) -> ``(h, c)``."""
    hid = c.shape[dim]
    sig, g = gates.split([3 * hid, hid], dim)
    o, f, i = torch.sigmoid(sig).chunk(3, dim)
    c = torch.addcmul(f * c, i, torch.tanh(g))
    return o * torch.tanh(c), c


def _gate_mask(hidden: int, in_channels: int, kernel: tuple[int, int], data_channels: int) -> Tensor:
    """Mask-B kernel mask of the input-to-state convolution: 4 gate blocks, each grouped like ``h``."""
    return raster_mask(hidden, in_channels, kernel, "B", data_channels).repeat(4, 1, 1, 1)


def _uniform_(t: Tensor, fan_in: int) -> Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        return t.uniform_(-bound, bound)


def _forget_bias(hidden: int, *lead: int) -> Tensor:
    b = torch.zeros(*lead, 4 * hidden)
    b[..., hidden : 2 * hidden] = 1.0  # forget gate starts open
    return b


class PixelRNN(RasterModel):
    """Shared parts of the two PixelRNNs (van den Oord et al. 2016): input/output layers and the fast
    sampler's output head (likelihood, training and the reference sampler: :class:`RasterModel`).
    Subclasses implement the LSTM layers."""

    fast_methods = ("fast",)

    def __init__(self, config: RowLSTMConfig | DiagonalBiLSTMConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.input_kernel % 2 != 1 or config.input_kernel < 1:
            raise ValueError(f"input_kernel must be odd, got {config.input_kernel}")
        h, C = config.hidden, self.C
        self.input_conv = MaskedConv2d(C, 2 * h, config.input_kernel, "A", C)
        self.out1 = MaskedConv2d(2 * h, config.output_hidden, 1, "B", C)
        self.out2 = MaskedConv2d(config.output_hidden, self.out_ch, 1, "B", C)

    # ----- network -----------------------------------------------------------------------------------
    def _input(self, x: Tensor) -> Tensor:
        """Network input: pixel values mapped from [0, 1] to [-1, 1]."""
        return 2.0 * x - 1.0

    def _stream(self, xin: Tensor) -> Tensor:
        """Residual stream ``(N, 2h, H, W)`` after all LSTM layers."""
        raise NotImplementedError

    def _head(self, s: Tensor) -> Tensor:
        return self.out2(F.relu(self.out1(F.relu(s))))

    def network(self, x: Tensor, condition: dict[str, Any]) -> Tensor:
        return self._head(self._stream(self._input(x)))

    # ----- sampling ----------------------------------------------------------------------------------
    def _head_vec(self, s: Tensor) -> Tensor:
        """The output layers at single positions: ``s`` ``(..., 2h)`` -> raw outputs ``(..., out)``."""
        w1 = self.out1.masked_weight()[:, :, 0, 0]
        w2 = self.out2.masked_weight()[:, :, 0, 0]
        return F.linear(F.relu(F.linear(F.relu(s), w1, self.out1.bias)), w2, self.out2.bias)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: object = None,
        generator: torch.Generator | None = None,
        method: str = "fast",
    ) -> Tensor:
        """``n`` images ``(n, C, H, W)`` in [0, 1], one sub-pixel at a time in raster / R->G->B order.

        ``method="fast"`` caches the states of completed rows (see the module docstring);
        ``method="naive"`` recomputes the whole network for every sub-pixel. One uniform per sub-pixel
        is drawn from ``generator`` up front and used by inverse CDF, so both give identical images.
        """
        self.check_method(method)
        condition = self.check_condition(n, condition)
        was_training = self.training
        self.eval()
        try:
            u = self.draw_uniforms(n, generator)
            if method == "naive":
                return self.sample_naive(u, condition)
            return self._sample_fast(u)
        finally:
            self.train(was_training)

    def _sample_fast(self, u: Tensor) -> Tensor:
        raise NotImplementedError


@register_model("row-lstm")
class RowLSTM(PixelRNN):
    """Row LSTM PixelRNN (van den Oord et al. 2016, Sec. 3.1, Eq. 3): row-by-row LSTM, 1 x k kernels."""

    Config = RowLSTMConfig

    def __init__(self, config: RowLSTMConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {config.kernel}")
        h, k, C, L = config.hidden, config.kernel, self.C, config.layers
        # input-to-state K^is: (4h, 2h, 1, k) mask B along the row; state-to-state K^ss: (4h, h, k), no mask
        self.is_weight = nn.ParameterList(
            [nn.Parameter(_uniform_(torch.empty(4 * h, 2 * h, 1, k), 2 * h * k)) for _ in range(L)]
        )
        self.is_bias = nn.ParameterList([nn.Parameter(_forget_bias(h)) for _ in range(L)])
        self.ss_weight = nn.ParameterList(
            [nn.Parameter(_uniform_(torch.empty(4 * h, h, k), h * k)) for _ in range(L)]
        )
        self.res = nn.ModuleList([MaskedConv2d(h, 2 * h, 1, "B", C) for _ in range(L)])
        self.register_buffer("is_mask", _gate_mask(h, 2 * h, (1, k), C), persistent=False)

    def _is_w(self, layer: int) -> Tensor:
        return self.is_weight[layer] * self.is_mask

    def _stream(self, xin: Tensor) -> Tensor:
        s = self.input_conv(xin)
        n, _, H, W = s.shape
        h, p = self.config.hidden, self.config.kernel // 2
        k = self.config.kernel
        for layer in range(self.config.layers):
            # K^is for the whole map at once, then one row at a time: (H, n, W, 4h)
            gis = F.conv2d(s, self._is_w(layer), self.is_bias[layer], padding=(0, p))
            gis = gis.permute(2, 0, 3, 1).contiguous()
            w_ss = self.ss_weight[layer].reshape(4 * h, h * k).t()  # K^ss as a (h k, 4h) matrix
            hrow = s.new_zeros(n, W, h)
            crow = s.new_zeros(n * W, h)
            rows = []
            for g_row in gis.unbind(0):
                # the k neighbours (j - p .. j + p) of every column of the row above, as (n W, h k)
                taps = F.pad(hrow, (0, 0, p, p)).unfold(1, k, 1).reshape(n * W, h * k)
                hflat, crow = _lstm_cell(torch.addmm(g_row.view(n * W, 4 * h), taps, w_ss), crow, dim=1)
                hrow = hflat.view(n, W, h)
                rows.append(hrow)
            s = s + self.res[layer](torch.stack(rows).permute(1, 3, 0, 2))  # (n, h, H, W)
        return s

    def _sample_fast(self, u: Tensor) -> Tensor:
        n, C, H, W = u.shape
        h, p, L = self.config.hidden, self.config.kernel // 2, self.config.layers
        q = self.config.input_kernel // 2
        x = torch.zeros_like(u)
        xin = torch.zeros(n, C, H + q, W + 2 * q, device=u.device)  # q zero rows on top, q columns each side
        xin[:, :, q:, q : q + W] = self._input(x)
        w_in = self.input_conv.causal_rows().reshape(self.input_conv.out_channels, -1)
        # K^is taps on columns j - p .. j (mask B zeroes the ones right of j), as (4h, (p + 1) 2h)
        is_w = [self._is_w(layer)[:, :, 0, : p + 1].permute(0, 2, 1).reshape(4 * h, -1) for layer in range(L)]
        res_w = [m.masked_weight()[:, :, 0, 0] for m in self.res]
        h_up = [u.new_zeros(n, h, W) for _ in range(L)]  # states of row i - 1
        c_up = [u.new_zeros(n, W, h) for _ in range(L)]
        for i in range(H):
            # state-to-state part of row i, fixed once rows < i are done: (n, W, 4h)
            ss = [
                F.conv1d(h_up[layer], self.ss_weight[layer], padding=p).transpose(1, 2) for layer in range(L)
            ]
            stream = u.new_zeros(
                L, n, W + p, 2 * h
            )  # input of every layer on row i, p zero columns on the left
            h_row, c_row = u.new_zeros(L, n, W, h), u.new_zeros(L, n, W, h)
            for j in range(W):
                for c in range(C):
                    patch = xin[:, :, i : i + q + 1, j : j + 2 * q + 1].reshape(n, -1)
                    s = F.linear(patch, w_in, self.input_conv.bias)
                    for layer in range(L):
                        stream[layer, :, p + j] = s  # columns < j of row i are final; j is the current one
                        window = stream[layer, :, j : j + p + 1].reshape(n, -1)
                        gates = torch.addmm(ss[layer][:, j], window, is_w[layer].t()) + self.is_bias[layer]
                        hh, cc = _lstm_cell(gates, c_up[layer][:, j], dim=1)
                        h_row[layer, :, j] = hh
                        c_row[layer, :, j] = cc
                        s = s + F.linear(hh, res_w[layer], self.res[layer].bias)
                    logit = self.subpixel_logits(self._head_vec(s), c)
                    v = sample_from_uniforms(logit, u[:, c, i, j], self.levels)
                    x[:, c, i, j] = v
                    xin[:, c, q + i, q + j] = self._input(v)
            # (the values stored at (i, j) by the pass for its last colour are final: mask A hides it)
            h_up = [h_row[layer].transpose(1, 2) for layer in range(L)]
            c_up = [c_row[layer] for layer in range(L)]
        return x


@register_model("diagonal-bilstm")
class DiagonalBiLSTM(PixelRNN):
    """Diagonal BiLSTM PixelRNN (van den Oord et al. 2016, Sec. 3.2, Eq. 3): skewed map, two directions."""

    Config = DiagonalBiLSTMConfig

    def __init__(self, config: DiagonalBiLSTMConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        h, C, L = config.hidden, self.C, config.layers
        # per layer, direction d = 0 (left-to-right), 1 (right-to-left):
        #   K^is (2, 4h, 2h) 1x1 mask B; K^ss split into the left (2, 4h, h) and upper (2, 4h, h) neighbours
        self.is_weight = nn.ParameterList(
            [nn.Parameter(_uniform_(torch.empty(2, 4 * h, 2 * h), 2 * h)) for _ in range(L)]
        )
        self.is_bias = nn.ParameterList([nn.Parameter(_forget_bias(h, 2)) for _ in range(L)])
        self.ss_left = nn.ParameterList(
            [nn.Parameter(_uniform_(torch.empty(2, 4 * h, h), 2 * h)) for _ in range(L)]
        )
        self.ss_up = nn.ParameterList(
            [nn.Parameter(_uniform_(torch.empty(2, 4 * h, h), 2 * h)) for _ in range(L)]
        )
        self.res = nn.ModuleList([MaskedConv2d(h, 2 * h, 1, "B", C) for _ in range(L)])
        self.register_buffer("is_mask", _gate_mask(h, 2 * h, (1, 1), C)[:, :, 0, 0], persistent=False)

    def _is_w(self, layer: int) -> Tensor:
        return self.is_weight[layer] * self.is_mask

    @staticmethod
    def _skew(t: Tensor, fill: float = 0.0) -> Tensor:
        """``(..., H, W)`` -> ``(..., H, W + H - 1)``: row ``i`` moved right by ``i``, ``fill`` elsewhere."""
        *lead, H, W = t.shape
        flat = F.pad(t, (0, H), value=fill).reshape(*lead, H * (W + H))[..., : H * (W + H - 1)]
        return flat.reshape(*lead, H, W + H - 1)

    @staticmethod
    def _unskew(t: Tensor, W: int) -> Tensor:
        """Inverse of :meth:`_skew`: ``(..., H, W + H - 1)`` -> ``(..., H, W)``."""
        *lead, H, Ws = t.shape
        flat = F.pad(t.reshape(*lead, H * Ws), (0, H))
        return flat.reshape(*lead, H, Ws + 1)[..., :W]

    def _stream(self, xin: Tensor) -> Tensor:
        s = self.input_conv(xin)
        n, _, H, W = s.shape
        h, Ws = self.config.hidden, W + H - 1
        rows = torch.arange(H, device=s.device)
        d = torch.arange(Ws, device=s.device)[:, None] - rows[None, :]  # image column of skewed (col, row)
        outside = ((d < 0) | (d >= W))[None, :, None, :, None]  # (1, Ws, 1, H, 1)
        for layer in range(self.config.layers):
            # skew the layer's input, for both directions (right-to-left mirrored): (2, Ws n H, 2h)
            scol = self._skew(torch.stack([s, s.flip(-1)])).permute(0, 4, 1, 3, 2)
            scol = scol.reshape(2, Ws * n * H, 2 * h)
            # K^is for every column at once, plus the gate biases; outside the image the pre-activations
            # are -1e4, so every gate there is exactly 0 and so are c and h: the zero boundary
            # conditions h(i, -1) = c(i, -1) = 0
            bias = torch.where(outside, -1e4, self.is_bias[layer][:, None, None, None])  # (2, Ws, 1, H, 4h)
            gcol = torch.bmm(scol, self._is_w(layer).transpose(1, 2)).view(2, Ws, n, H, 4 * h) + bias
            gcol = gcol.view(2, Ws, n * H, 4 * h)
            # K^ss: the left neighbour (same row, previous column) and the upper one: (2, 2h, 4h)
            w_ss = torch.cat([self.ss_left[layer], self.ss_up[layer]], dim=2).transpose(1, 2)
            hcol = s.new_zeros(2, n, H, h)
            ccol = s.new_zeros(2, n * H, h)
            outs = []
            for g_col in gcol.unbind(1):
                up = F.pad(hcol, (0, 0, 1, 0))[:, :, :H]  # state of the upper neighbour (row i - 1)
                inp = torch.cat([hcol, up], dim=3).view(2, n * H, 2 * h)
                hflat, ccol = _lstm_cell(torch.baddbmm(g_col, inp, w_ss), ccol, dim=2)
                hcol = hflat.view(2, n, H, h)
                outs.append(hcol)
            hs = self._unskew(torch.stack(outs, dim=4).transpose(2, 3), W)  # (2, n, h, H, W)
            left = hs[0]
            right = F.pad(hs[1].flip(-1), (0, 0, 1, 0))[:, :, :H]  # mirror back, shift down one row
            s = s + self.res[layer](left + right)
        return s

    def _sample_fast(self, u: Tensor) -> Tensor:
        n, C, H, W = u.shape
        h, L = self.config.hidden, self.config.layers
        q = self.config.input_kernel // 2
        x = torch.zeros_like(u)
        xin = torch.zeros(
            n, C, H + q, W + 2 * q, device=u.device
        )  # q zero rows on top, q zero columns each side
        xin[:, :, q:, q : q + W] = self._input(x)
        w_in = self.input_conv.causal_rows().reshape(self.input_conv.out_channels, -1)
        is_w = [self._is_w(layer) for layer in range(L)]  # (2, 4h, 2h)
        res_w = [m.masked_weight()[:, :, 0, 0] for m in self.res]
        # right-to-left weights of all layers, for the end-of-row pass batched over layers
        r_is = torch.stack([w[1] for w in is_w]).transpose(1, 2)  # (L, 2h, 4h)
        r_up = torch.stack([self.ss_up[layer][1] for layer in range(L)]).transpose(1, 2)  # (L, h, 4h)
        r_left = torch.stack([self.ss_left[layer][1] for layer in range(L)]).transpose(1, 2)  # (L, h, 4h)
        r_bias = torch.stack([self.is_bias[layer][1] for layer in range(L)])[
            :, None, None, :
        ]  # (L, 1, 1, 4h)
        # hidden states of row i - 1 (L, n, W, h); the cell state is carried along the row, not down
        l_h_up, r_h_up = u.new_zeros(L, n, W, h), u.new_zeros(L, n, W, h)
        for i in range(H):
            # left-to-right: the upper neighbour's contribution for the whole row, once per row
            l_pre = [
                F.linear(l_h_up[layer], self.ss_up[layer][0], self.is_bias[layer][0]) for layer in range(L)
            ]
            l_h_row, l_c_row = u.new_zeros(L, n, W, h), u.new_zeros(L, n, W, h)
            stream_row = u.new_zeros(L, n, W, 2 * h)  # input of every layer on row i
            for j in range(W):
                for c in range(C):
                    patch = xin[:, :, i : i + q + 1, j : j + 2 * q + 1].reshape(n, -1)
                    s = F.linear(patch, w_in, self.input_conv.bias)
                    for layer in range(L):
                        stream_row[layer, :, j] = s
                        left_h = l_h_row[layer, :, j - 1] if j > 0 else u.new_zeros(n, h)
                        left_c = l_c_row[layer, :, j - 1] if j > 0 else u.new_zeros(n, h)
                        gates = (
                            F.linear(s, is_w[layer][0])
                            + l_pre[layer][:, j]
                            + F.linear(left_h, self.ss_left[layer][0])
                        )
                        hh, cc = _lstm_cell(gates, left_c, dim=1)
                        l_h_row[layer, :, j] = hh
                        l_c_row[layer, :, j] = cc
                        # the right-to-left output of row i - 1, shifted down by one row
                        s = s + F.linear(hh + r_h_up[layer, :, j], res_w[layer], self.res[layer].bias)
                    logit = self.subpixel_logits(self._head_vec(s), c)
                    v = sample_from_uniforms(logit, u[:, c, i, j], self.levels)
                    x[:, c, i, j] = v
                    xin[:, c, q + i, q + j] = self._input(v)
            # (the values stored at (i, j) by the pass for its last colour are final: mask A hides it)
            # row i complete: right-to-left pass over it, all layers at once
            r_pre = torch.matmul(stream_row, r_is[:, None]) + torch.matmul(r_h_up, r_up[:, None]) + r_bias
            r_h_row = u.new_zeros(L, n, W, h)
            hr, cr = u.new_zeros(L, n, h), u.new_zeros(L, n, h)
            for j in range(W - 1, -1, -1):
                gates = r_pre[:, :, j] + torch.bmm(hr, r_left)
                hr, cr = _lstm_cell(gates, cr, dim=2)
                r_h_row[:, :, j] = hr
            l_h_up, r_h_up = l_h_row, r_h_row
        return x
