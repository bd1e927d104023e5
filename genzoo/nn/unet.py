"""The U-Net generator of pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", Sec. 3.2.1 and Appendix 6.1.1), after Ronneberger et al. 2015.

Encoder ``C64-C128-C256-C512-C512-C512-C512-C512`` for 256x256 inputs: ``depth`` 4x4 convolutions of
stride 2, widths ``min(base * 2^i, max_channels)``, each Conv-BatchNorm-LeakyReLU(0.2), with no BatchNorm
on the first layer and (as in the authors' released code, where a 1x1 batch-normalised bottleneck is
zeroed at batch size 1) none on the innermost. Decoder: ``depth - 1`` 4x4 transposed convolutions of
stride 2, each ConvTranspose-BatchNorm-ReLU, the first ``dropout_layers`` (3 in the paper: ``CD512``)
followed by dropout 0.5; after every decoder layer the encoder's activation of the same resolution is
concatenated (the skip connections between layer ``i`` and layer ``n - i``), and a last transposed
convolution maps to the output channels, followed by ``tanh``.

Sizes: ``depth`` halvings need sides divisible by ``2^depth``; other sizes are padded (edge replicate) up
to the next multiple and the output cropped back, so 28x28 runs as 32x32. With ``depth`` chosen so the
bottleneck is 1x1 (:func:`unet_depth`), 256x256 gives the paper's 8 levels.

Noise: the paper's generator takes no ``z``; dropout, applied at training *and* test time, is the noise.
:class:`NoiseDropout` is that dropout, drawing its masks from an attached ``torch.Generator`` when
sampling (so a seed fixes the outputs). :func:`batch_statistics` runs BatchNorm on the statistics of the
batch at hand rather than the running averages (the paper's test-time choice), without touching the
running buffers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def unet_depth(height: int, width: int) -> int:
    """Halvings that take the larger side down to 1 (after padding to a power of two): 8 for 256."""
    return max(1, math.ceil(math.log2(max(height, width, 2))))


class NoiseDropout(nn.Module):
    """Dropout (Srivastava et al. 2014) with rate ``p`` as the generator's noise (pix2pix Sec. 3.2).

    Active in training mode and, when ``at_test`` is true, in eval mode too. Masks come from
    ``self.generator`` when one is attached (see :func:`dropout_noise`), else from torch's global RNG.
    """

    def __init__(self, p: float = 0.5, at_test: bool = True) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = float(p)
        self.at_test = at_test
        self.generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not (self.training or self.at_test):
            return x
        g = self.generator
        u = torch.rand(x.shape, generator=g, device=g.device if g is not None else x.device)
        keep = (u.to(x.device) >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)


@contextlib.contextmanager
def dropout_noise(module: nn.Module, generator: torch.Generator | None) -> Iterator[None]:
    """Within the block every :class:`NoiseDropout` of ``module`` draws its masks from ``generator``."""
    drops = [m for m in module.modules() if isinstance(m, NoiseDropout)]
    for m in drops:
        m.generator = generator
    try:
        yield
    finally:
        for m in drops:
            m.generator = None


@contextlib.contextmanager
def batch_statistics(module: nn.Module) -> Iterator[None]:
    """Within the block BatchNorm layers normalise with the current batch's mean and variance (the
    paper's test-time choice) and leave their running averages untouched."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.track_running_stats) for m in norms]
    for m in norms:
        m.training, m.track_running_stats = True, False
    try:
        yield
    finally:
        for m, (training, track) in zip(norms, saved):
            m.training, m.track_running_stats = training, track


class UNet(nn.Module):
    """Encoder-decoder with skips (see the module docstring). Input and output in ``[-1, 1]``."""

    def __init__(
        self, in_channels: int, out_channels: int, depth: int, base: int = 64, max_channels: int = 512,
        dropout: float = 0.5, dropout_layers: int = 3, dropout_at_test: bool = True,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"U-Net depth must be >= 1, got {depth}")
        self.depth = depth
        ch = [min(base * 2**i, max_channels) for i in range(depth)]
        self.channels = ch
        self.down = nn.ModuleList()
        for i in range(depth):
            conv = nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, 2, 1, bias=i in (0, depth - 1))
            norm = nn.Identity() if i in (0, depth - 1) else nn.BatchNorm2d(ch[i])
            self.down.append(nn.Sequential(conv, norm))
        self.up = nn.ModuleList()
        # decoder layer j (j = depth-2 .. 0) produces ch[j] at the resolution of encoder layer j
        for j in range(depth - 2, -1, -1):
            cin = ch[depth - 1] if j == depth - 2 else 2 * ch[j + 1]
            k = depth - 2 - j  # 0 for the innermost decoder layer
            drop = NoiseDropout(dropout, dropout_at_test) if k < dropout_layers and dropout > 0 else nn.Identity()
            self.up.append(nn.Sequential(
                nn.ConvTranspose2d(cin, ch[j], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[j]), drop,
            ))
        self.out = nn.ConvTranspose2d(ch[0] if depth == 1 else 2 * ch[0], out_channels, 4, 2, 1)

    def forward(self, x: Tensor, with_skips: bool = False) -> Tensor | tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """``G(x)``; with ``with_skips`` also the ``(encoder, decoder)`` activation pair joined at each skip."""
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = -h % m, -w % m
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
        enc = []
        e = x
        for i, layer in enumerate(self.down):
            e = layer(e)
            e = F.relu(e) if i == self.depth - 1 else F.leaky_relu(e, 0.2)
            enc.append(e)
        d = enc[-1]
        skips = []
        for layer, j in zip(self.up, range(self.depth - 2, -1, -1)):
            d = F.relu(layer(d))
            skips.append((enc[j], d))
            d = torch.cat([d, enc[j]], dim=1)
        y = torch.tanh(self.out(d))
        if ph or pw:
            y = y[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        return (y, skips) if with_skips else y


def init_pix2pix_(module: nn.Module, std: float = 0.02) -> None:
    """The released code's init: conv weights N(0, std), BatchNorm scales N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
