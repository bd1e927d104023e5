"""PixelCNN (masked convolutions) and Gated PixelCNN, with exact likelihoods and cached samplers.

Both model ``p(x) = prod_i p(x_i | x_<i)`` over the sub-pixels of an image in raster order with the
colours of a pixel in the order R -> G -> B (van den Oord et al. 2016, "Pixel Recurrent Neural
Networks", Eqs. 1-2):

    p(x_i | x_<i) = p(x_{i,R} | x_<i) p(x_{i,G} | x_<i, x_{i,R}) p(x_{i,B} | x_<i, x_{i,R}, x_{i,G}).

Each conditional is a Bernoulli for binary data and a ``levels``-way softmax (256 for 8-bit images,
Sec. 5.3 of the PixelRNN paper) otherwise; see :mod:`genzoo.nn.discrete`. ``log_prob`` is exact:
one network pass gives every conditional at once, because the masks (:mod:`genzoo.nn.masked`) make
the output at a sub-pixel depend on earlier sub-pixels only.

Samplers
--------
``sample(..., method="naive")`` re-runs the whole network on the whole image for every sub-pixel
(``H*W*C`` full passes). The cached samplers use the fact that, by the masks, the activation of any
layer at position ``(r, s)`` depends only on input pixels before ``(r, s)`` in raster order (and, at
``(r, s)`` itself, on earlier colours only), so once a pixel is drawn every activation at that
position is final and can be cached:

* ``method="fast"`` (default): for each sub-pixel only the activations *at the current position* are
  computed, layer by layer, each spatial convolution reading the cached ``(k//2 + 1) x k`` patch of
  its input above and left of the position (kernel rows below the centre are zero and skipped). For
  the gated model the vertical stack is advanced once per row (it only feeds row ``i`` from rows
  ``< i``) and only the horizontal stack is evaluated per position. Cost per sub-pixel: one position
  instead of ``H * W``.
* ``method="row"``: the whole current row is recomputed per sub-pixel from the cached rows above
  (each layer reading its ``k//2 + 1`` last input rows); cost per sub-pixel: ``W`` positions.

All three pre-draw one uniform per sub-pixel from the generator and sample by inverse CDF, so the same
generator state gives the same images (equal up to float rounding of the logits, which could only flip
a draw whose uniform lies within ~1e-6 of a CDF boundary; the tests check ``torch.equal``).
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
from genzoo.nn.masked import MaskedConv2d
from genzoo.registry import register_model


class _AutoregressiveConvModel(RasterModel):
    """The PixelCNN family's fast samplers (likelihood and training: :class:`RasterModel`).

    Subclasses implement :meth:`network` (whole-image output ``(N, out_ch, H, W)``) and the sampler
    caches: :meth:`_init_cache`, :meth:`_start_row` (called before row ``i`` is sampled, when rows
    ``< i`` are final), :meth:`_pixel_output` (``method="fast"``) and :meth:`_row_output`
    (``method="row"``).
    """

    conditional: bool = False
    fast_methods = ("fast", "row")

    # ----- to implement ----------------------------------------------------------------------------
    def _init_cache(self, n: int, y: Tensor | None) -> dict[str, Any]:
        """Zeroed buffers (image and per-layer inputs, padded by ``k // 2`` on the top, left and right) plus
        the masked weights flattened for per-position products. ``cache["img"]`` is the padded image,
        ``cache["pad"]`` its ``(top, left)`` padding."""
        raise NotImplementedError

    def _start_row(self, cache: dict[str, Any], i: int) -> None:
        """Called before row ``i`` is sampled (rows ``< i`` are final)."""

    def _row_output(self, cache: dict[str, Any], i: int) -> Tensor:
        """Output row ``i`` ``(N, out_ch, W)`` computed from the cached rows above and the current row."""
        raise NotImplementedError

    def _pixel_output(self, cache: dict[str, Any], i: int, j: int) -> Tensor:
        """Output ``(N, out_ch)`` at ``(i, j)`` computed from cached activations of earlier positions; also
        stores the activations of ``(i, j)`` (final once the pixel's last colour is drawn)."""
        raise NotImplementedError

    # ----- likelihood ------------------------------------------------------------------------------
    def condition_keys(self) -> tuple[str, ...]:
        return ("label",) if self.conditional else ()

    def log_marginal(self, x: Tensor) -> Tensor:
        """A class-conditional model's exact marginal ``log (1/K) sum_y p(x | y)`` under a uniform class
        prior (``K`` network passes)."""
        k = self.data_info.num_classes
        per_class = [self.log_prob(x, torch.full((x.shape[0],), c, dtype=torch.long)) for c in range(k)]
        return torch.logsumexp(torch.stack(per_class, 0), 0) - math.log(k)

    # ----- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: Any = None,
        generator: torch.Generator | None = None,
        method: str = "fast",
        rows: int | None = None,
    ) -> Tensor:
        """``n`` images in ``[0, 1]``, shape ``(n, C, H, W)``.

        ``condition``: ``{"label": (n,)}`` for a class-conditional model.
        ``method``: ``"fast"`` (per-position activation cache), ``"row"`` (recompute only the current
        row from cached rows above) or ``"naive"`` (whole network per sub-pixel); all three consume the
        generator identically. ``rows``: sample only the first ``rows`` rows (the rest stay 0), e.g. to
        time the naive sampler on part of an image.
        """
        self.check_method(method)
        condition = self.check_condition(n, condition)
        u = self.draw_uniforms(n, generator)
        if method == "naive":
            return self.sample_naive(u, condition, rows)
        x = torch.zeros_like(u)
        cache = self._init_cache(n, condition.get("label"))
        cache["mode"] = method
        top, left = cache["pad"]
        for i in range(self.H if rows is None else min(rows, self.H)):
            self._start_row(cache, i)
            for j in range(self.W):
                for c in range(self.C):
                    if method == "fast":
                        out = self._pixel_output(cache, i, j)
                    else:
                        out = self._row_output(cache, i)[:, :, j]
                    x[:, c, i, j] = sample_from_uniforms(self.subpixel_logits(out, c), u[:, c, i, j], self.levels)
                    cache["img"][:, c, top + i, left + j] = x[:, c, i, j]
        return x


def _flat(weight: Tensor) -> Tensor:
    """A conv kernel ``(out, in, kh, kw)`` as the matrix of a product with a flattened patch."""
    return weight.reshape(weight.shape[0], -1)


def _patch(buf: Tensor, r0: int, r1: int, c0: int, c1: int) -> Tensor:
    return buf[:, :, r0:r1, c0:c1].reshape(buf.shape[0], -1)


# ==================================================================================================
# PixelCNN
# ==================================================================================================


@dataclass
class PixelCNNConfig:
    """PixelCNN hyper-parameters (PixelRNN paper, Sec. 3.4-3.5, Figure 5 and its architecture table).

    ``layers`` residual blocks with ``2 * hidden`` features follow the 7x7 mask-A convolution. The
    defaults are the paper's MNIST network size (7 layers, h = 16; the paper states this size for its
    MNIST experiments and gives no separate PixelCNN size for MNIST). ``output_hidden`` is the width
    of the first of the two 1x1 output layers (our choice: 2h).
    """

    layers: int = ranged(7, AT_LEAST_1)
    hidden: int = ranged(16, AT_LEAST_1)
    first_kernel: int = ranged(7, AT_LEAST_1)
    kernel: int = ranged(3, AT_LEAST_1)
    output_hidden: int = ranged(32, AT_LEAST_1)


class _ResidualBlock(nn.Module):
    """PixelRNN Figure 5 (left): ReLU - 1x1 (2h -> h) - ReLU - 3x3 mask B - ReLU - 1x1 (h -> 2h), + input."""

    def __init__(self, h: int, kernel: int, data_channels: int) -> None:
        super().__init__()
        self.down = MaskedConv2d(2 * h, h, 1, "B", data_channels)
        self.conv = MaskedConv2d(h, h, kernel, "B", data_channels)
        self.up = MaskedConv2d(h, 2 * h, 1, "B", data_channels)

    def forward(self, r: Tensor) -> Tensor:
        t = F.relu(self.down(F.relu(r)))
        return r + self.up(F.relu(self.conv(t)))


@register_model("pixelcnn")
class PixelCNN(_AutoregressiveConvModel):
    """PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 3.4-3.5, Eqs. 1-2).

    7x7 mask-A convolution -> ``layers`` residual blocks of mask-B convolutions (Figure 5) -> ReLU,
    1x1 mask B, ReLU, 1x1 mask B -> Bernoulli (binary) or ``levels``-way softmax per colour channel.
    """

    Config = PixelCNNConfig

    def __init__(self, config: PixelCNNConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        h, c = config.hidden, self.C
        self.first = MaskedConv2d(c, 2 * h, config.first_kernel, "A", c)
        self.blocks = nn.ModuleList(_ResidualBlock(h, config.kernel, c) for _ in range(config.layers))
        self.out1 = MaskedConv2d(2 * h, config.output_hidden, 1, "B", c)
        self.out2 = MaskedConv2d(config.output_hidden, self.out_ch, 1, "B", c)

    def _head(self, r: Tensor) -> Tensor:
        return self.out2(F.relu(self.out1(F.relu(r))))

    def network(self, x: Tensor, condition: dict[str, Any]) -> Tensor:
        r = self.first(x)
        for blk in self.blocks:
            r = blk(r)
        return self._head(r)

    # ----- sampler caches: the padded input of every spatial masked conv ------------------------------
    def _init_cache(self, n: int, y: Tensor | None) -> dict[str, Any]:
        dev, p0, p = self.device, self.config.first_kernel // 2, self.config.kernel // 2
        hid, wid = self.config.hidden, self.W
        lin = [
            (_flat(m.causal_rows() if m.kernel_size[0] > 1 else m.masked_weight()), m.bias)
            for m in [
                self.first,
                *[c for b in self.blocks for c in (b.down, b.conv, b.up)],
                self.out1,
                self.out2,
            ]
        ]
        return {
            "img": torch.zeros(n, self.C, p0 + self.H, wid + 2 * p0, device=dev),
            "pad": (p0, p0),
            "t": [torch.zeros(n, hid, p + self.H, wid + 2 * p, device=dev) for _ in self.blocks],
            "lin": lin,
        }

    def _pixel_output(self, cache: dict[str, Any], i: int, j: int) -> Tensor:
        k0, k = self.config.first_kernel, self.config.kernel
        p = k // 2
        lin = cache["lin"]
        r = F.linear(_patch(cache["img"], i, i + k0 // 2 + 1, j, j + k0), *lin[0])
        for b, tbuf in enumerate(cache["t"]):
            down, conv, up = lin[1 + 3 * b : 4 + 3 * b]
            tbuf[:, :, p + i, p + j] = F.relu(F.linear(F.relu(r), *down))
            r = r + F.linear(F.relu(F.linear(_patch(tbuf, i, i + p + 1, j, j + k), *conv)), *up)
        return F.linear(F.relu(F.linear(F.relu(r), *lin[-2])), *lin[-1])

    def _row_output(self, cache: dict[str, Any], i: int) -> Tensor:
        p0, p = self.config.first_kernel // 2, self.config.kernel // 2
        r = F.conv2d(cache["img"][:, :, i : i + p0 + 1], self.first.causal_rows(), self.first.bias)
        for blk, tbuf in zip(self.blocks, cache["t"], strict=True):
            tbuf[:, :, p + i : p + i + 1, p : p + self.W] = F.relu(blk.down(F.relu(r)))
            r = r + blk.up(F.relu(F.conv2d(tbuf[:, :, i : i + p + 1], blk.conv.causal_rows(), blk.conv.bias)))
        return self._head(r)[:, :, 0]

    def _start_row(self, cache: dict[str, Any], i: int) -> None:
        # row method: the last sub-pixel of row i-1 changed after that row was computed; finalise it
        if i > 0 and cache.get("mode") == "row":
            self._row_output(cache, i - 1)


# ==================================================================================================
# Gated PixelCNN
# ==================================================================================================


@dataclass
class GatedPixelCNNConfig:
    """Gated PixelCNN hyper-parameters ("Conditional Image Generation with PixelCNN Decoders", Sec. 2-3).

    Defaults are the paper's CIFAR-10 / ImageNet model (Sec. 3.1: 20 gated layers, 384 feature maps,
    5x5 filters); ``first_kernel`` is the filter size of the first (mask-A) layer. ``hidden`` must be a
    multiple of the number of colour channels. ``conditional`` adds the class embedding of Eq. 4.
    """

    layers: int = ranged(20, AT_LEAST_1)
    hidden: int = ranged(384, AT_LEAST_1)
    first_kernel: int = ranged(7, AT_LEAST_1)
    kernel: int = ranged(5, AT_LEAST_1)
    output_hidden: int = ranged(1024, AT_LEAST_1)
    conditional: bool = False


def _gate(a: Tensor) -> Tensor:
    """Gated activation ``tanh(a_f) * sigmoid(a_g)`` (Eq. 2) of the two channel halves of ``a``."""
    f, g = a.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class _GatedLayer(nn.Module):
    """One gated layer (paper Figure 2): vertical stack (rows above, full width), horizontal stack (current
    row, left part), vertical -> horizontal 1x1 link through a one-row down shift, residual in the
    horizontal stack (not in the first layer), class embedding added to both pre-activations (Eq. 4)."""

    def __init__(self, c_in: int, p: int, k: int, first: bool, data_channels: int, num_classes: int) -> None:
        super().__init__()
        self.k, self.first, self.p = k, first, p
        self.v_conv = nn.Conv2d(c_in, 2 * p, (k // 2 + 1, k))  # rows [r - k//2, r], columns r +- k//2
        self.v_to_h = nn.Conv2d(2 * p, 2 * p, 1)
        self.h_conv = MaskedConv2d(c_in, 2 * p, (1, k), "A" if first else "B", data_channels)
        self.h_out = MaskedConv2d(p, p, 1, "B", data_channels)
        self.embed = nn.Embedding(num_classes, 4 * p) if num_classes > 0 else None

    def cond(self, y: Tensor | None) -> tuple[Tensor | float, Tensor | float]:
        if self.embed is None or y is None:
            return 0.0, 0.0
        e = self.embed(y)[:, :, None, None]
        return e[:, : 2 * self.p], e[:, 2 * self.p :]

    def forward(self, v: Tensor, h: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        cv, ch = self.cond(y)
        pad = self.k // 2
        v_pre = self.v_conv(F.pad(v, (pad, pad, pad, 0))) + cv
        shifted = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # row i sees vertical rows <= i - 1 only
        h_pre = self.h_conv(h) + self.v_to_h(shifted) + ch
        h_new = self.h_out(_gate(h_pre))
        return _gate(v_pre), h_new if self.first else h + h_new


@register_model("gated-pixelcnn")
class GatedPixelCNN(_AutoregressiveConvModel):
    """Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

    Vertical + horizontal stacks without blind spot (Sec. 2.2, Figure 2), gated activations
    ``y = tanh(W_f * x) ⊙ sigmoid(W_g * x)`` (Eq. 2), optional class conditioning
    ``tanh(W_f * x + V_f^T h) ⊙ sigmoid(W_g * x + V_g^T h)`` (Eq. 4, ``h`` one-hot label, config
    ``conditional``), then ReLU, 1x1, ReLU, 1x1 output layers (mask B) and a Bernoulli / softmax output.
    """

    Config = GatedPixelCNNConfig

    def __init__(self, config: GatedPixelCNNConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        c, p = self.C, config.hidden
        if p % c:
            raise ValueError(f"hidden ({p}) must be a multiple of the number of colour channels ({c})")
        self.conditional = bool(config.conditional)
        k_classes = data_info.num_classes if self.conditional else 0
        if self.conditional and k_classes < 1:
            raise ValueError("conditional=True needs a labelled dataset (data_info.num_classes > 0)")
        self.gated = nn.ModuleList(
            _GatedLayer(
                c if li == 0 else p,
                p,
                config.first_kernel if li == 0 else config.kernel,
                li == 0,
                c,
                k_classes,
            )
            for li in range(config.layers)
        )
        self.out1 = MaskedConv2d(p, config.output_hidden, 1, "B", c)
        self.out2 = MaskedConv2d(config.output_hidden, self.out_ch, 1, "B", c)

    def _head(self, h: Tensor) -> Tensor:
        return self.out2(F.relu(self.out1(F.relu(h))))

    def network(self, x: Tensor, condition: dict[str, Any]) -> Tensor:
        y = condition.get("label")
        v, h = x, x
        for layer in self.gated:
            v, h = layer(v, h, y)
        return self._head(h)

    # ----- sampler caches -------------------------------------------------------------------------------
    # v[l]: padded input of the vertical conv of layer l (v[0] is the image); link[l]: the vertical ->
    # horizontal term of the current row, (N, 2p, W); h[l]: padded input of the horizontal conv of layer
    # l >= 1 for the current row.
    def _init_cache(self, n: int, y: Tensor | None) -> dict[str, Any]:
        dev, wid, hid = self.device, self.W, self.config.hidden
        pads = [layer.k // 2 for layer in self.gated]
        chans = [self.C] + [hid] * (len(self.gated) - 1)
        vbufs = [torch.zeros(n, c, p + self.H, wid + 2 * p, device=dev) for c, p in zip(chans, pads)]
        hbufs = [torch.zeros(n, c, 1, wid + 2 * p, device=dev) for c, p in zip(chans, pads)]
        hbufs[0] = vbufs[0]  # layer 0 reads the image row
        conds = []
        for layer in self.gated:
            cv, ch = layer.cond(y)
            conds.append((cv, ch if isinstance(ch, float) else ch.reshape(n, -1)))
        lin = [
            ((_flat(g.h_conv.masked_weight()), g.h_conv.bias), (_flat(g.h_out.masked_weight()), g.h_out.bias))
            for g in self.gated
        ]
        head = [
            (_flat(self.out1.masked_weight()), self.out1.bias),
            (_flat(self.out2.masked_weight()), self.out2.bias),
        ]
        return {
            "img": vbufs[0],
            "pad": (pads[0], pads[0]),
            "v": vbufs,
            "h": hbufs,
            "cond": conds,
            "link": [None] * len(self.gated),
            "lin": lin,
            "head": head,
        }

    def _start_row(self, cache: dict[str, Any], i: int) -> None:
        """Advance the vertical stacks to row ``i - 1`` (final now) and form the link terms of row ``i``."""
        vbufs, n = cache["v"], cache["img"].shape[0]
        for li, layer in enumerate(self.gated):
            if i == 0:  # nothing above the first row: the shifted vertical input is zero padding
                v_pre = torch.zeros(n, 2 * layer.p, 1, self.W, device=vbufs[0].device)
            else:
                r, pad = i - 1, layer.k // 2
                v_pre = F.conv2d(vbufs[li][:, :, r : r + pad + 1], layer.v_conv.weight, layer.v_conv.bias)
                v_pre = v_pre + cache["cond"][li][0]
                if li + 1 < len(self.gated):
                    nxt = self.gated[li + 1].k // 2
                    vbufs[li + 1][:, :, nxt + r, nxt : nxt + self.W] = _gate(v_pre)[:, :, 0]
            cache["link"][li] = layer.v_to_h(v_pre)[:, :, 0]
        for hbuf in cache["h"][1:]:
            hbuf.zero_()

    def _pixel_output(self, cache: dict[str, Any], i: int, j: int) -> Tensor:
        h: Tensor | None = None
        for li, layer in enumerate(self.gated):
            (wc, bc), (wo, bo) = cache["lin"][li]
            if li == 0:
                patch = _patch(cache["img"], cache["pad"][0] + i, cache["pad"][0] + i + 1, j, j + layer.k)
            else:
                patch = _patch(cache["h"][li], 0, 1, j, j + layer.k)
            h_pre = F.linear(patch, wc, bc) + cache["link"][li][:, :, j] + cache["cond"][li][1]
            h_new = F.linear(_gate(h_pre), wo, bo)
            h = h_new if h is None else h + h_new
            if li + 1 < len(self.gated):
                nxt = self.gated[li + 1].k // 2
                cache["h"][li + 1][:, :, 0, nxt + j] = h
        (w1, b1), (w2, b2) = cache["head"]
        return F.linear(F.relu(F.linear(F.relu(h), w1, b1)), w2, b2)  # type: ignore[arg-type]

    def _row_output(self, cache: dict[str, Any], i: int) -> Tensor:
        top = cache["pad"][0]
        h = cache["img"][:, :, top + i : top + i + 1]
        for li, layer in enumerate(self.gated):
            if li > 0:  # re-pad the current row for this layer's horizontal kernel
                h = F.pad(h, (layer.k // 2, layer.k // 2))
            h_pre = (
                F.conv2d(h, layer.h_conv.masked_weight(), layer.h_conv.bias) + cache["link"][li][:, :, None]
            )
            if not isinstance(cache["cond"][li][1], float):
                h_pre = h_pre + cache["cond"][li][1][:, :, None, None]
            h_new = layer.h_out(_gate(h_pre))
            pad = layer.k // 2
            h = h_new if layer.first else h[:, :, :, pad : pad + self.W] + h_new
        return self._head(h)[:, :, 0]
