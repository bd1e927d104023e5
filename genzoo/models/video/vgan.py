"""VGAN: "Generating Videos with Scene Dynamics" (Vondrick, Pirsiavash & Torralba 2016).

Two-stream generator (Sec. 3.1, Fig. 1, Eq. 2)::

    G(z) = m(z) . f(z) + (1 - m(z)) . b(z)

* **foreground stream**: ``z`` -> a linear layer to ``(8w, t0, 4, 4)`` -> 3D transposed convolutions
  (kernel 4, stride 2, batch norm + ReLU; :class:`genzoo.nn.video.UpVideo`) -> a video ``f`` (tanh, ``C``
  channels) and a spatio-temporal mask ``m`` (sigmoid, 1 channel, so ``m`` is in [0, 1]) from the same
  last layer;
* **background stream**: ``z`` -> the same widths with 2D transposed convolutions -> one static image
  ``b`` (tanh), replicated over time;
* the mask's L1 penalty ``lambda ||m||_1`` (``mask_l1``, ``lambda = 0.1``, Sec. 3.1) in the generator's
  loss, which pushes the model to explain what does not move with the background. Like the authors'
  released code (``nn.L1Penalty(0.1, true)``: size-averaged over every element of the batch's masks),
  genzoo takes the mean over all mask values, so the weight does not scale with the frame size.

Discriminator (Sec. 3.2): 3D convolutions (kernel 4 in space, stride 2; kernel 3 stride 2 in time
while more than one frame is left), batch norm on every layer but the first, leaky ReLU (0.2), a linear layer
to one logit. Losses: the GAN value function (Goodfellow et al. 2014) with the non-saturating
generator loss, Adam 2e-4, beta1 0.5 (Sec. 4), :mod:`genzoo.nn.gan_losses`.

Future generation (Sec. 4.3): with ``conditional=True`` the model takes the ``context`` condition and
a 2D convolutional encoder of the first context frame (strided convolutions, batch norm, leaky ReLU
down to 4x4, then a linear map; the layer count is genzoo's, mirroring the generator) produces the
code that drives both streams; genzoo concatenates it with ``noise_dim`` noise dimensions (0 gives
the paper's deterministic generator) and shows the discriminator the first frame in front of the
video, so it can judge whether the future fits it (our choice; the paper's discriminator sees the
generated video only, as we read it).

Frames: ``T`` generated frames start from ``t0`` and double over the first ``k`` layers
(:func:`genzoo.nn.video.time_upsampling`; 32 frames: 2 -> 32 as in the paper); extra frames are
cropped. Frame size: ``4 * 2**L`` (``L`` up-sampling layers, 4 for 64x64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.errors import ConfigError, UsageError
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.gan_losses import discriminator_loss, frozen, generator_loss
from genzoo.nn.monitors import collapse_flag, diversity
from genzoo.nn.pixels import from_signed, to_signed
from genzoo.nn.video import UpVideo, time_upsampling
from genzoo.registry import register_model


@dataclass
class VGANConfig:
    """Defaults: Vondrick et al. 2016 (64x64 frames; widths 512-256-128-64, ``z`` of 100 dims, mask L1
    weight 0.1). ``width`` is the last hidden layer's width (widths double towards the code)."""

    latent_dim: int = ranged(100, AT_LEAST_1)
    width: int = 64
    mask_l1: float = 0.1
    conditional: bool = False
    noise_dim: int = ranged(0, NON_NEGATIVE)  # conditional: noise dimensions beside the encoder's code (paper: 0)
    loss: str = "nonsaturating"


def _init(module: nn.Module) -> None:
    """Radford et al. 2016's initialisation, as VGAN uses: weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class _Generator(nn.Module):
    def __init__(self, code: int, channels: int, widths: list[int], t0: int, k: int) -> None:
        super().__init__()
        self.t0, self.w0 = t0, widths[0]
        self.fg_in = nn.Sequential(nn.Linear(code, widths[0] * t0 * 16), nn.BatchNorm1d(widths[0] * t0 * 16), nn.ReLU())
        self.fg = UpVideo([*widths, channels + 1], k)
        self.bg_in = nn.Sequential(nn.Linear(code, widths[0] * 16), nn.BatchNorm1d(widths[0] * 16), nn.ReLU())
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip([*widths], [*widths[1:], channels])):
            layers.append(nn.ConvTranspose2d(a, b, 4, 2, 1))
            if i < len(widths) - 1:
                layers += [nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.bg = nn.Sequential(*layers)


class _Discriminator(nn.Module):
    def __init__(self, channels: int, widths: list[int], frames: int, size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        t = frames
        for i, (a, b) in enumerate(zip([channels, *widths[:-1]], widths)):
            st = 2 if t > 1 else 1
            layers.append(nn.Conv3d(a, b, (3, 4, 4), (st, 2, 2), (1, 1, 1)))
            t = (t - 1) // st + 1
            if i > 0:
                layers.append(nn.BatchNorm3d(b))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(widths[-1] * t * (size // 2 ** len(widths)) ** 2, 1)

    def forward(self, v: Tensor) -> Tensor:
        return self.out(self.body(v).flatten(1)).squeeze(1)


def _encoder(channels: int, widths: list[int], code: int, size: int) -> nn.Sequential:
    """The future-generation encoder of the first frame: strided 2D convolutions to 4x4, then a linear map."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip([channels, *widths[:-1]], widths)):
        layers.append(nn.Conv2d(a, b, 4, 2, 1))
        if i > 0:
            layers.append(nn.BatchNorm2d(b))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    layers += [nn.Flatten(), nn.Linear(widths[-1] * (size // 2 ** len(widths)) ** 2, code)]
    return nn.Sequential(*layers)


@register_model("vgan")
class VGAN(GenerativeModel):
    """VGAN (Vondrick et al. 2016): two-stream video generator m.f + (1-m).b and a 3D-conv discriminator."""

    Config = VGANConfig

    def __init__(self, config: VGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 4:
            raise ConfigError(f"vgan models videos (T, C, H, W); the data has shape {tuple(data_info.shape)}")
        self.T, self.C, self.H, self.W = data_info.shape
        layers = int(round(math.log2(max(self.H, 1) / 4)))
        if self.H != self.W or layers < 1 or self.H != 4 * 2**layers:
            raise ConfigError(
                f"vgan frames must be square with side 4 * 2**L (8, 16, 32, 64, ...), got {self.H}x{self.W}"
            )
        if config.width < 1 or config.latent_dim < 1 or config.noise_dim < 0 or config.mask_l1 < 0:
            raise ConfigError("vgan width and latent_dim must be positive, noise_dim and mask_l1 non-negative")
        gen_widths = [config.width * 2 ** (layers - 1 - i) for i in range(layers)]  # e.g. 512, 256, 128, 64
        self.t0, self.k = time_upsampling(self.T, layers)
        code = config.latent_dim + (config.noise_dim if config.conditional else 0)
        self.generator = _Generator(code, self.C, gen_widths, self.t0, self.k)
        if config.conditional:
            self.encoder: nn.Module | None = _encoder(self.C, gen_widths[::-1], config.latent_dim, self.H)
        else:
            self.encoder = None
        d_frames = self.T + (1 if config.conditional else 0)
        self.discriminator = _Discriminator(self.C, gen_widths[::-1], d_frames, self.H)
        _init(self)
        self.latent_dim = config.noise_dim if config.conditional else config.latent_dim

    # ----- conditions ------------------------------------------------------------------------------
    def condition_keys(self) -> tuple[str, ...]:
        return ("context",) if self.config.conditional else ()

    def _first_frame(self, n: int, condition: Any) -> Tensor | None:
        ctx = self.check_condition(n, condition).get("context")
        if ctx is None:
            return None
        if ctx.shape[1] < 1:
            raise UsageError("vgan future generation needs at least one context frame")
        return to_signed(ctx[:, 0])

    # ----- the two streams ---------------------------------------------------------------------------
    def streams(self, z: Tensor, first: Tensor | None = None) -> dict[str, Tensor]:
        """``{"video", "foreground", "mask", "background"}`` in ``(N, T, C, H, W)`` layout (mask: 1 channel,
        background: ``(N, C, H, W)``), the video ``m . f + (1 - m) . b`` in [-1, 1] (Eq. 2)."""
        if first is not None:
            assert self.encoder is not None
            code = torch.cat([self.encoder(first), z], 1)
        else:
            code = z
        g, n = self.generator, len(code)
        h = g.fg_in(code).view(n, g.w0, g.t0, 4, 4)
        out = g.fg(h)[:, :, : self.T]  # (N, C+1, T, H, W)
        f = torch.tanh(out[:, : self.C]).transpose(1, 2)
        m = torch.sigmoid(out[:, self.C :]).transpose(1, 2)
        b = torch.tanh(g.bg(g.bg_in(code).view(n, g.w0, 4, 4)))
        video = m * f + (1 - m) * b.unsqueeze(1)
        return {"video": video, "foreground": f, "mask": m, "background": b}

    def discriminate(self, video: Tensor, first: Tensor | None = None) -> Tensor:
        """Real/fake logits ``(N,)`` of videos in [-1, 1] (after the first frame, when conditional)."""
        if first is not None:
            video = torch.cat([first.unsqueeze(1), video], 1)
        return self.discriminator(video.transpose(1, 2))

    # ----- latent interface and sampling ---------------------------------------------------------------
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws of ``N(0, I)`` (``latent_dim`` dims; ``noise_dim`` when conditional)."""
        dev = generator.device if generator is not None else self.device
        return torch.randn(n, self.latent_dim, generator=generator, device=dev).to(self.device)

    def decode(self, z: Tensor, condition: Any = None) -> Tensor:
        """Latents -> videos ``(N, T, C, H, W)`` in [0, 1]."""
        z = z.to(self.device, torch.float32)
        first = self._first_frame(len(z), condition)
        return from_signed(self.streams(z, first)["video"])

    @torch.no_grad()
    def sample(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` in [0, 1]; with ``conditional`` the future after ``context``."""
        first = self._first_frame(n, condition)
        return from_signed(self.streams(self.sample_latent(n, generator), first)["video"])

    @torch.no_grad()
    def sample_streams(
        self, n: int, condition: Any = None, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Like :meth:`sample`, with the foreground, mask and background as well, all in [0, 1]."""
        first = self._first_frame(n, condition)
        s = self.streams(self.sample_latent(n, generator), first)
        return {k: v if k == "mask" else from_signed(v) for k, v in s.items()}

    # ----- training ------------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        gen = list(self.generator.parameters()) + (list(self.encoder.parameters()) if self.encoder else [])
        return {"discriminator": list(self.discriminator.parameters()), "generator": gen}

    def update_schedule(self, step: int) -> list[str]:
        return ["discriminator", "generator"]

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"]
        if x.dim() != 5 or tuple(x.shape[1:]) != (self.T, self.C, self.H, self.W):
            raise UsageError(f"vgan was built for videos {(self.T, self.C, self.H, self.W)}, got {tuple(x.shape)}")
        n = len(x)
        first = self._first_frame(n, self.batch_condition(batch) or None)
        real = to_signed(x)
        if group == "discriminator":
            with torch.no_grad():
                fake = self.streams(self.sample_latent(n), first)["video"]
            real_logits = self.discriminate(real, first)
            fake_logits = self.discriminate(fake, first)
            d_loss = discriminator_loss(real_logits, fake_logits)
            g_est = float(F.softplus(-fake_logits.detach()).mean())
            return {
                "loss": d_loss, "d_loss": d_loss.detach(),
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
                "diverged": torch.tensor(collapse_flag(float(d_loss.detach()), g_est)),
            }
        if group == "generator":
            s = self.streams(self.sample_latent(n), first)
            with frozen(self.discriminator):
                fake_logits = self.discriminate(s["video"], first)
            g_loss = generator_loss(fake_logits, self.config.loss)
            mask_l1 = s["mask"].abs().mean()
            return {
                "loss": g_loss + self.config.mask_l1 * mask_l1, "g_loss": g_loss.detach(),
                "mask_mean": mask_l1.detach(),
                "diversity": torch.tensor(diversity(s["video"], real)),
            }
        raise ValueError(f"unknown parameter group {group!r}; groups are discriminator, generator")
