"""LAPGAN: a Laplacian pyramid of conditional GANs (Denton, Chintala, Szlam & Fergus 2015).

"Deep Generative Image Models using a Laplacian Pyramid of Adversarial Networks", NIPS 2015.

Representation (Sec. 3.1, Eq. 3-4; :mod:`genzoo.nn.pyramid`): an image ``I = I_0`` has the Gaussian
pyramid ``I_{k+1} = d(I_k)`` and the Laplacian bands ``h_k = I_k - u(I_{k+1})`` (``k < K``),
``h_K = I_K``.

Generation (Sec. 3.2, Eq. 5), coarse to fine::

    Ĩ_K = G_K(z_K)                                        (an ordinary GAN at the coarsest scale)
    Ĩ_k = u(Ĩ_{k+1}) + G_k(z_k, u(Ĩ_{k+1}))               (k = K-1 .. 0)

Training (Sec. 3.2, Eq. 6 and the CGAN objective Eq. 2): every level is a separate conditional GAN
trained on the pyramids of *real* images: the condition is the real low-pass ``l_k = u(I_{k+1})``,
the real sample the real band ``h_k``, the fake one ``h̃_k = G_k(z_k, l_k)``; ``D_k`` sees the band
together with ``l_k`` (``d_input="add"``: ``h + l`` as in the paper, "the low-pass image is
explicitly added to h_k or h̃_k before the first convolution layer"; ``"concat"`` stacks them as
channels). The levels share nothing, so each is trained independently and in parallel.

genzoo mapping: parameter groups ``"d0", "g0", "d1", "g1", ...`` (index 0 = finest level, index
``levels-1`` = the coarsest GAN); :meth:`update_schedule` updates every level's discriminator and
generator at each step, each with its own loss (the engine logs them per group: ``d0/loss``,
``g0/loss``, ...; discriminator steps also report ``d_real`` / ``d_fake``, the mean ``D`` outputs). The
discriminator loss is the binary cross-entropy of Eq. 2; the generator minimises the non-saturating
``-log D(G(z, l), l)`` (Goodfellow et al. 2014, Sec. 3), the usual practice. A level's generator
step reuses the fake bands drawn in the same step's discriminator step (``G_k`` is unchanged in
between), which saves one generator forward pass per level.

Architecture (Sec. 4 and the authors' released CIFAR code): the coarsest pair are MLPs (noise of
``noise_dim`` uniform[-1,1] values; ``coarse_g_hidden`` / ``coarse_d_hidden`` ReLU units, dropout in
``D``); a band generator takes the upsampled condition plus one uniform[-1,1] noise plane as an extra
channel and applies 7x7, 7x7, 5x5 convolutions (``g_kernels``; ``g_channels`` feature maps, ReLU,
linear output);
a band discriminator applies 5x5 and strided 5x5 convolutions (``d_channels``), dropout and a
linear logit. Images are mapped to ``[-1, 1]`` inside; :meth:`sample` returns ``[0, 1]``.

Works for any ``H, W`` divisible by ``2**(pyramid_levels-1)``: MNIST 28 -> 14 -> 7, CIFAR-10 32 -> 16 -> 8.
LAPGAN has no tractable likelihood (the paper reports a Parzen estimate), so it defines neither
``log_prob`` nor ``log_prob_bound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import AT_LEAST_1, PROBABILITY, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.pixels import from_signed, to_signed
from genzoo.nn.pyramid import build_gaussian_pyramid, upsample
from genzoo.registry import register_model


@dataclass
class LAPGANConfig:
    pyramid_levels: int = ranged(3, AT_LEAST_1)  # pyramid levels K+1 (32 -> 16 -> 8 for CIFAR-10)
    noise_dim: int = ranged(100, AT_LEAST_1)  # noise of the coarsest generator
    coarse_g_hidden: int = ranged(1200, AT_LEAST_1)
    coarse_d_hidden: int = ranged(600, AT_LEAST_1)
    g_channels: int = ranged(128, AT_LEAST_1)
    g_kernels: list[int] = ranged([7, 7, 5], AT_LEAST_1)  # band generator conv sizes (odd)
    d_channels: int = ranged(128, AT_LEAST_1)
    dropout: float = ranged(0.5, PROBABILITY)  # in the discriminators
    d_input: Literal["add", "concat"] = "add"  # "add": D_k sees h + l (paper); "concat": [h, l] as channels


class _CoarseGenerator(nn.Module):
    def __init__(self, noise_dim: int, hidden: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, c * h * w), nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.shape)


class _CoarseDiscriminator(nn.Module):
    def __init__(self, dims: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(dims, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


class _BandGenerator(nn.Module):
    """``G_k(z, l)``: the band ``h̃`` from the upsampled coarse image ``l`` and a noise plane."""

    def __init__(self, channels: int, hidden: int, kernels: list[int]) -> None:
        super().__init__()
        k1, k2, k3 = kernels
        self.net = nn.Sequential(
            nn.Conv2d(channels + 1, hidden, k1, padding=k1 // 2), nn.ReLU(),
            nn.Conv2d(hidden, hidden, k2, padding=k2 // 2), nn.ReLU(),
            nn.Conv2d(hidden, channels, k3, padding=k3 // 2),
        )

    def forward(self, noise: Tensor, cond: Tensor) -> Tensor:
        return self.net(torch.cat([cond, noise], dim=1))


class _BandDiscriminator(nn.Module):
    """``D_k(h, l)``: logit that the band ``h`` is real given the condition ``l``."""

    def __init__(self, channels: int, size: tuple[int, int], hidden: int, dropout: float, mode: str) -> None:
        super().__init__()
        self.mode = mode
        in_ch = channels if mode == "add" else 2 * channels
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, hidden, 5, padding=2), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 5, stride=2, padding=2), nn.ReLU(),
            nn.Flatten(), nn.Dropout(dropout),
        )
        h, w = (size[0] + 1) // 2, (size[1] + 1) // 2
        self.out = nn.Linear(hidden * h * w, 1)

    def forward(self, band: Tensor, cond: Tensor) -> Tensor:
        x = band + cond if self.mode == "add" else torch.cat([band, cond], dim=1)
        return self.out(self.features(x)).squeeze(1)


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform[-1, 1] noise; drawn on the generator's device when one is given, then moved."""
    src = generator.device if generator is not None else device
    return (torch.rand(shape, generator=generator, device=src) * 2 - 1).to(device)


@register_model("lapgan")
class LAPGAN(GenerativeModel):
    """LAPGAN (Denton et al. 2015): a Laplacian pyramid of conditional GANs, Eq. 2 and 5."""

    Config = LAPGANConfig

    def __init__(self, config: LAPGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 3:
            raise ValueError(f"LAPGAN needs (C, H, W) images, got shape {data_info.shape}")
        if config.pyramid_levels < 1:
            raise ValueError("pyramid_levels must be >= 1")
        if len(config.g_kernels) != 3 or any(k % 2 == 0 or k < 1 for k in config.g_kernels):
            raise ValueError(f"g_kernels must be three odd sizes, got {config.g_kernels}")
        if config.d_input not in ("add", "concat"):
            raise ValueError(f"d_input must be 'add' or 'concat', got {config.d_input!r}")
        c, h, w = data_info.shape
        f = 2 ** (config.pyramid_levels - 1)
        if h % f or w % f:
            raise ValueError(f"image size {h}x{w} is not divisible by 2**(pyramid_levels-1) = {f}")
        self.coarse_shape = (c, h // f, w // f)
        self._pending: dict[int, tuple[tuple[int, int, int], Tensor]] = {}  # level -> fake of its D step
        self.generators = nn.ModuleList()
        self.discriminators = nn.ModuleList()
        for k in range(config.pyramid_levels - 1):
            size = (h // 2**k, w // 2**k)
            self.generators.append(_BandGenerator(c, config.g_channels, list(config.g_kernels)))
            self.discriminators.append(
                _BandDiscriminator(c, size, config.d_channels, config.dropout, config.d_input)
            )
        cc, ch, cw = self.coarse_shape
        self.generators.append(_CoarseGenerator(config.noise_dim, config.coarse_g_hidden, self.coarse_shape))
        self.discriminators.append(_CoarseDiscriminator(cc * ch * cw, config.coarse_d_hidden, config.dropout))

    # ----- training -----------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups: dict[str, list[nn.Parameter]] = {}
        for k in range(self.config.pyramid_levels):
            groups[f"d{k}"] = list(self.discriminators[k].parameters())
            groups[f"g{k}"] = list(self.generators[k].parameters())
        return groups

    def update_schedule(self, step: int) -> list[str]:
        """Every level, discriminator then generator, at every step (levels are independent)."""
        return [name for k in range(self.config.pyramid_levels) for name in (f"d{k}", f"g{k}")]

    def _level_data(self, x: Tensor, k: int) -> tuple[Tensor, Tensor | None]:
        """The real band ``h_k`` and condition ``l_k = u(I_{k+1})`` (``None`` at the coarsest level)."""
        gauss = build_gaussian_pyramid(to_signed(x), self.config.pyramid_levels)
        if k == self.config.pyramid_levels - 1:
            return gauss[k], None
        cond = upsample(gauss[k + 1])
        return gauss[k] - cond, cond

    def _fake(self, k: int, cond: Tensor | None, n: int, generator: torch.Generator | None = None) -> Tensor:
        if cond is None:
            return self.generators[k](_uniform((n, self.config.noise_dim), generator, self.device))
        noise = _uniform((n, 1, *cond.shape[2:]), generator, self.device)
        return self.generators[k](noise, cond)

    def _disc(self, k: int, sample: Tensor, cond: Tensor | None) -> Tensor:
        if cond is None:
            return self.discriminators[k](sample)
        return self.discriminators[k](sample, cond)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        role, k = group[0], int(group[1:])
        if role not in "dg" or not 0 <= k < self.config.pyramid_levels:
            raise KeyError(f"unknown parameter group {group!r}")
        real, cond = self._level_data(batch["x"], k)
        n = real.shape[0]
        key = (step, batch["x"].data_ptr(), n)
        cached = self._pending.pop(k, None) if role == "g" else None
        if cached is not None and cached[0] == key:
            # the fake band drawn for this level's D step; G has not changed since (only D was
            # stepped), so its graph is still valid and G need not run forward a second time
            fake = cached[1]
        else:
            fake = self._fake(k, cond, n)
        if role == "d":
            if torch.is_grad_enabled():
                self._pending[k] = (key, fake)
            logit_real = self._disc(k, real, cond)
            logit_fake = self._disc(k, fake.detach(), cond)
            loss = F.binary_cross_entropy_with_logits(
                logit_real, torch.ones_like(logit_real)
            ) + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
            return {
                "loss": loss,
                "d_real": torch.sigmoid(logit_real).mean().detach(),  # mean D(h, l) on real bands
                "d_fake": torch.sigmoid(logit_fake).mean().detach(),
            }
        logit_fake = self._disc(k, fake, cond)
        loss = F.binary_cross_entropy_with_logits(logit_fake, torch.ones_like(logit_fake))
        return {"loss": loss}

    # ----- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, n: int, condition: object = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Eq. 5: generate the coarsest image, then add generated bands coarse to fine."""
        self.check_condition(n, condition)
        top = self.config.pyramid_levels - 1
        image = self._fake(top, None, n, generator)
        for k in range(top - 1, -1, -1):
            cond = upsample(image)
            image = cond + self._fake(k, cond, n, generator)
        return from_signed(image).contiguous()
