"""Video Pixel Network (Kalchbrenner, van den Oord, Simonyan, Danihelka, Vinyals, Graves &
Kavukcuoglu 2016, "Video Pixel Networks"), with an exact likelihood and a cached sampler.

The model (Sec. 3, Eq. 2) factorises a video over frames, rows, columns and colours::

    p(x) = prod_t prod_i prod_j p(x_{t,i,j,R} | x_<t, x_{t,<(i,j)}) p(x_{t,i,j,G} | ..., x_{t,i,j,R})
                                p(x_{t,i,j,B} | ..., x_{t,i,j,R}, x_{t,i,j,G})

* **Resolution-preserving encoders** (Sec. 4.1): every earlier frame goes through a 3x3 convolution
  and ``encoder_blocks`` residual multiplicative blocks with dilations ``dilations`` (cycled), never
  down-sampled (:class:`genzoo.nn.video.ResidualMultiplicativeBlock`).
* **Convolutional LSTM** over time (Sec. 4.1): its state after frames ``< t`` is the context of frame
  ``t``. The LSTM's input at step ``t`` is the encoding of frame ``t - 1`` (a constant start frame, grey
  0.5, at ``t = 0``), so frame ``t``'s context never sees frame ``t``.
* **PixelCNN decoder** (Sec. 4.1): a mask-A convolution of frame ``t``'s pixels, plus a 1x1 projection
  of the LSTM state, then ``decoder_blocks`` masked RMBs (mask B, :mod:`genzoo.nn.masked`, colours
  R -> G -> B as in PixelCNN) and a masked 1x1 output layer: Bernoulli logits for binary data, a
  ``levels``-way softmax per sub-pixel otherwise (the paper's 256-way softmax, Sec. 5.3).

With ``conditional=True`` the model takes the ``context`` condition (:class:`genzoo.core.FramesSpec`,
e.g. Moving MNIST's first 10 frames) and models the frames after it, ``p(x | context)``: the LSTM first
runs over the context frames. ``log_prob`` is exact (one pass gives every conditional, Eq. 2).

The paper's Moving MNIST protocol (Sec. 5.1)
--------------------------------------------
The paper trains on grey-level Moving MNIST frames with a **sigmoid output and the Bernoulli
cross-entropy against the grey-level targets** ``-sum_p [x_p log q_p + (1 - x_p) log(1 - q_p)]``, and
reports it in nats per predicted frame (64x64 pixels, 10 frames predicted from 10): VPN 87.6; the
lower bound 86.3 is the cross-entropy of the targets with themselves (their binary entropy
``sum_p H(x_p)``), reached only by predicting every grey value exactly. That number is not a likelihood
of 8-bit data, so it is a model of its own, ``vpn-grey`` (:class:`GreyTargetVPN`: the same network,
trained and scored with :meth:`GreyTargetVPN.cross_entropy`, no ``log_prob``, samples binary pixels).
``vpn`` (:class:`VideoPixelNetwork`) is the exact-likelihood model: Bernoulli outputs on binary frames,
the ``levels``-way softmax on 8-bit frames, so ``log_prob`` is exact and bits/dim follows.

Samplers
--------
``method="naive"`` re-runs the whole network (encoders, LSTM, decoder over every frame) for every
sub-pixel. ``method="fast"`` caches what earlier pixels fixed: the LSTM advances once per frame (its
state depends on earlier frames only) and its 1x1 projection is computed once per frame; for each
sub-pixel the decoder runs only on the window of rows ``i - R .. i`` and columns ``j - R .. j + R`` of the
current frame, ``R`` = the decoder's reach (``first_kernel // 2 + 2 * decoder_blocks``): by the masks the
output at ``(i, j)`` depends on no input outside that window, and the zero padding at the window's
artificial edges reaches at most ``R`` pixels inwards. Both pre-draw one uniform per sub-pixel and
sample by inverse CDF (:func:`genzoo.nn.discrete.sample_from_uniforms`), so one seed draws the same
videos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.errors import ConfigError, UsageError
from genzoo.core.ranges import AT_LEAST_1, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.discrete import discrete_log_prob, output_channels, sample_from_uniforms
from genzoo.nn.masked import MaskedConv2d
from genzoo.nn.pixels import to_signed
from genzoo.nn.video import ConvLSTMCell, ResidualMultiplicativeBlock
from genzoo.registry import register_model


@dataclass
class VPNConfig:
    """Defaults: the paper's Moving MNIST network as we read Sec. 5.1 (not re-checked offline against the
    text): 8 encoder RMBs with dilations 1, 2, 4, 8 (twice), a ConvLSTM of 256 channels, 12 decoder RMBs;
    blocks carry ``2 * channels`` = 256 feature maps; ``first_kernel`` (the decoder's mask-A layer) is
    genzoo's choice. ``conditional``: take the ``context`` condition and model the frames after it."""

    channels: int = 128
    encoder_blocks: int = 8
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    lstm_channels: int = 256
    decoder_blocks: int = 12
    first_kernel: int = ranged(3, AT_LEAST_1)
    conditional: bool = True


class _VideoPixelNetworkBase(GenerativeModel):
    """The network and samplers shared by ``vpn`` and ``vpn-grey``; subclasses define the output and score."""

    Config = VPNConfig
    #: Bernoulli outputs (a sigmoid per sub-pixel) rather than a ``levels``-way softmax
    bernoulli: bool = True

    def __init__(self, config: VPNConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 4:
            raise ConfigError(f"{self.name} models videos (T, C, H, W); the data has shape {tuple(data_info.shape)}")
        self.T, self.C, self.H, self.W = data_info.shape
        self.levels = data_info.levels
        self.out_ch = self.C if self.bernoulli else output_channels(self.C, self.levels)
        c = config.channels
        if c < 1 or c % self.C:
            raise ConfigError(f"vpn channels={c} must be a positive multiple of the {self.C} colour channels")
        if config.first_kernel < 1 or config.first_kernel % 2 == 0:
            raise ConfigError(f"vpn first_kernel={config.first_kernel} must be odd")
        dil = list(config.dilations) or [1]
        self.enc_in = nn.Conv2d(self.C, 2 * c, 3, padding=1)
        self.encoder = nn.Sequential(
            *[ResidualMultiplicativeBlock(c, dil[i % len(dil)]) for i in range(config.encoder_blocks)]
        )
        self.lstm = ConvLSTMCell(2 * c, config.lstm_channels)
        self.dec_in = MaskedConv2d(self.C, 2 * c, config.first_kernel, "A", self.C)
        self.dec_cond = nn.Conv2d(config.lstm_channels, 2 * c, 1)
        self.decoder = nn.Sequential(
            *[ResidualMultiplicativeBlock(c, 1, True, self.C) for _ in range(config.decoder_blocks)]
        )
        self.head = MaskedConv2d(2 * c, self.out_ch, 1, "B", self.C)
        #: how far (rows up, columns either way) the decoder's output at a pixel reaches into its input
        self.reach = config.first_kernel // 2 + ResidualMultiplicativeBlock.reach * config.decoder_blocks

    # ----- conditions and checks ---------------------------------------------------------------------
    def condition_keys(self) -> tuple[str, ...]:
        return ("context",) if self.config.conditional else ()

    def check_video(self, x: Any, what: str = "x") -> Tensor:
        """``x`` as a float video batch of the model's shape; a :class:`UsageError` naming the problem."""
        if not isinstance(x, Tensor):
            x = torch.as_tensor(x)
        if x.dim() != 5:
            raise UsageError(
                f"{what} must be a video batch (N, T, C, H, W) = (N, {self.T}, {self.C}, {self.H}, {self.W}), "
                f"got shape {tuple(x.shape)} ({x.dim()} axes)"
            )
        if tuple(x.shape[1:]) != (self.T, self.C, self.H, self.W):
            raise UsageError(
                f"{what}: this vpn was built for {self.T} frames of {self.C}x{self.H}x{self.W}, "
                f"got {x.shape[1]} frames of {'x'.join(map(str, x.shape[2:]))}"
            )
        return x.float()

    def _context(self, n: int, condition: Any) -> Tensor:
        """The context frames ``(n, k, C, H, W)`` (``k = 0`` for an unconditional model)."""
        ctx = self.check_condition(n, condition).get("context")
        if ctx is None:
            return torch.zeros(n, 0, self.C, self.H, self.W, device=self.device)
        return ctx

    # ----- the network ---------------------------------------------------------------------------------
    def _encode(self, frames: Tensor) -> Tensor:
        """Encoder features of frames ``(N, t, C, H, W)`` -> ``(N, t, 2c, H, W)``."""
        n, t = frames.shape[:2]
        e = self.encoder(self.enc_in(to_signed(frames.flatten(0, 1))))
        return e.view(n, t, *e.shape[1:])

    def _start(self, n: int) -> Tensor:
        return torch.full((n, 1, self.C, self.H, self.W), 0.5, device=self.device)

    def _lstm_outputs(self, given: Tensor, steps: int) -> Tensor:
        """LSTM outputs ``h_0..h_{steps-1}`` ``(N, steps, lstm, H, W)``; the input of step ``t`` is the
        encoding of frame ``t - 1`` of ``given`` (the start frame at ``t = 0``)."""
        n = given.shape[0]
        inputs = self._encode(torch.cat([self._start(n), given[:, : steps - 1]], 1))
        state = self.lstm.initial(n, self.H, self.W, inputs)
        outs = []
        for t in range(steps):
            state = self.lstm(inputs[:, t], state)
            outs.append(state[0])
        return torch.stack(outs, 1)

    def _decode(self, frames: Tensor, cond: Tensor) -> Tensor:
        """Decoder output ``(M, out_ch, h, w)`` for frames ``(M, C, h, w)`` and projected LSTM state
        ``(M, 2c, h, w)`` (whole frames or windows of them)."""
        return self.head(F.relu(self.decoder(self.dec_in(to_signed(frames)) + cond)))

    def network(self, x: Tensor, context: Tensor) -> Tensor:
        """Decoder outputs ``(N, T, out_ch, H, W)`` of every sub-pixel of ``x`` given ``context`` (Eq. 2)."""
        k = context.shape[1]
        h = self._lstm_outputs(torch.cat([context, x], 1), k + x.shape[1])[:, k:]
        n, t = x.shape[:2]
        cond = self.dec_cond(h.flatten(0, 1))
        return self._decode(x.flatten(0, 1), cond).view(n, t, self.out_ch, self.H, self.W)

    def _logits(self, out: Tensor) -> Tensor:
        """Per-frame logits in :func:`genzoo.nn.discrete.discrete_log_prob`'s layout, frames folded into N."""
        m = out.flatten(0, 1)
        if self.bernoulli:
            return m
        return m.view(m.shape[0], self.levels, self.C, self.H, self.W)

    # ----- sampling ------------------------------------------------------------------------------------
    def _pick(self, out: Tensor, c: int) -> Tensor:
        """Logits of colour ``c`` from an output vector ``(N, out_ch)``."""
        if self.bernoulli:
            return out[:, c]
        return out.view(out.shape[0], self.levels, self.C)[:, :, c]

    def _window_output(self, frame: Tensor, cond: Tensor, i: int, j: int) -> Tensor:
        """Decoder output ``(N, out_ch)`` at ``(i, j)`` computed on the window that can reach it."""
        r, w = self.reach, frame.shape[-1]
        r0, c0, c1 = max(0, i - r), max(0, j - r), min(w, j + r + 1)
        out = self._decode(frame[:, :, r0 : i + 1, c0:c1], cond[:, :, r0 : i + 1, c0:c1])
        return out[:, :, i - r0, j - c0]

    @torch.no_grad()
    def sample(
        self, n: int, condition: Any = None, generator: torch.Generator | None = None, method: str = "fast",
    ) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` in [0, 1] (the frames after the context when conditional).

        ``method``: ``"fast"`` (LSTM once per frame, decoder on the reachable window per sub-pixel) or
        ``"naive"`` (the whole network per sub-pixel); both consume the generator identically.
        """
        if method not in ("fast", "naive"):
            raise UsageError(f"vpn sampling method must be 'fast' or 'naive', got {method!r}")
        context = self._context(n, condition)
        dev = self.device
        gdev = generator.device if generator is not None else dev
        u = torch.rand(n, self.T, self.C, self.H, self.W, generator=generator, device=gdev).to(dev)
        x = torch.zeros(n, self.T, self.C, self.H, self.W, device=dev)
        levels = 2 if self.bernoulli else self.levels  # vpn-grey draws binary pixels
        if method == "fast":
            prev = torch.cat([self._start(n), context], 1)
            inputs = self._encode(prev)
            state = self.lstm.initial(n, self.H, self.W, inputs)
            for s in range(inputs.shape[1]):
                state = self.lstm(inputs[:, s], state)
        for t in range(self.T):
            if method == "fast":
                if t > 0:
                    state = self.lstm(self._encode(x[:, t - 1 : t])[:, 0], state)
                cond = self.dec_cond(state[0])
            for i in range(self.H):
                for j in range(self.W):
                    for c in range(self.C):
                        if method == "fast":
                            out = self._window_output(x[:, t], cond, i, j)
                        else:
                            out = self.network(x, context)[:, t, :, i, j]
                        x[:, t, c, i, j] = sample_from_uniforms(self._pick(out, c), u[:, t, c, i, j], levels)
        return x


@register_model("vpn")
class VideoPixelNetwork(_VideoPixelNetworkBase):
    """Video Pixel Network (Kalchbrenner et al. 2016): encoders + ConvLSTM + PixelCNN decoder, exact likelihood."""

    def __init__(self, config: VPNConfig, data_info: DataInfo) -> None:
        self.bernoulli = data_info.levels == 2
        super().__init__(config, data_info)

    def log_prob_frames(self, x: Tensor, condition: Any = None) -> Tensor:
        """Exact ``log p(x_t | x_<t, context)`` of every frame, nats ``(N, T)`` (Eq. 2)."""
        x = self.check_video(x)
        out = self.network(x, self._context(x.shape[0], condition))
        lp = discrete_log_prob(self._logits(out), x.flatten(0, 1), self.levels)
        return lp.view(x.shape[0], self.T)

    frame_score = "exact negative log-likelihood of the discrete frames"

    def frame_nll(self, x: Tensor, condition: Any = None) -> Tensor:
        """``-log p(x_t | x_<t, context)`` of every frame, nats ``(N, T)`` (the ``frame-nll`` metric)."""
        return -self.log_prob_frames(x, condition)

    def frame_nll_floor(self, x: Tensor) -> Tensor:
        """An exact NLL of discrete frames is at least 0."""
        return torch.zeros(x.shape[0], x.shape[1], dtype=torch.float64)

    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor:
        """Exact ``log p(x)`` (``log p(x | context)`` when conditional), nats per video ``(N,)`` (Eq. 2)."""
        return self.log_prob_frames(x, condition).sum(1)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        """Mean negative log-likelihood per video; nats per frame and bits/dim logged."""
        per_frame = -self.log_prob_frames(batch["x"], self.batch_condition(batch) or None)
        nll = per_frame.sum(1).mean()
        bpd = nll.detach() / (self.data_info.dims * math.log(2))
        return {"loss": nll, "nats_per_frame": per_frame.detach().mean(), "bits_per_dim": bpd}


@register_model("vpn-grey")
class GreyTargetVPN(_VideoPixelNetworkBase):
    """Video Pixel Network scored as in the paper's Moving MNIST experiment: sigmoid outputs, cross-entropy
    against grey-level targets (nats per frame; not a likelihood of the 8-bit frames, so no ``log_prob``)."""

    bernoulli = True

    def cross_entropy(self, x: Tensor, condition: Any = None) -> Tensor:
        """The paper's Moving MNIST score (Sec. 5.1): the Bernoulli cross-entropy of the sigmoid outputs
        against the grey-level targets ``x``, summed over each frame's pixels, nats ``(N, T)``. On binary
        frames it equals ``-log p(x_t | x_<t)``."""
        x = self.check_video(x)
        out = self.network(x, self._context(x.shape[0], condition))
        ce = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        return ce.flatten(2).sum(2)

    frame_score = "Bernoulli cross-entropy against grey-level targets (the paper's Moving MNIST score)"

    def frame_nll(self, x: Tensor, condition: Any = None) -> Tensor:
        """:meth:`cross_entropy`, nats ``(N, T)`` (the ``frame-nll`` metric)."""
        return self.cross_entropy(x, condition)

    def frame_nll_floor(self, x: Tensor) -> Tensor:
        """:func:`grey_target_entropy` of ``x``: the cross-entropy's least value (the paper's 86.3)."""
        return grey_target_entropy(x)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        """Mean grey-target cross-entropy per video; nats per frame logged."""
        per_frame = self.cross_entropy(batch["x"], self.batch_condition(batch) or None)
        return {"loss": per_frame.sum(1).mean(), "nats_per_frame": per_frame.detach().mean()}


def grey_target_entropy(x: Tensor) -> Tensor:
    """The lower bound of :meth:`VideoPixelNetwork.cross_entropy`: the binary entropy of grey targets
    ``x`` ``(N, T, C, H, W)`` in [0, 1], summed over each frame, nats ``(N, T)`` (the paper's 86.3 on
    its Moving MNIST test set)."""
    x = x.double()
    h = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x))
    return h.flatten(2).sum(2)
