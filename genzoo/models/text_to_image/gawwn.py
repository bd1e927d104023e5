"""GAWWN: "Learning What and Where to Draw" (Reed, Akata, Mohan, Tenka, Schiele & Lee, NIPS 2016).

A text-to-image GAN conditioned on *where* as well as *what*: a bounding box of the main object and,
where the data has them, keypoints (here: the ink centroids of the digits of a ``captioned-mnist``
scene). Training shares :class:`~genzoo.models.text_to_image.gan_int_cls.TextToImageGAN`'s
matching-aware loss, text encoder and GAN-INT term.

Generator (Sec. 3.1, Fig. 3): the text ``phi(t)`` is compressed to ``text_dim`` features and
*replicated spatially into the box* by a spatial transformer: a constant ``M x M`` map of the text
features is resampled (``affine_grid`` + bilinear ``grid_sample``, zero outside) with the affine map
that sends the box to the whole map, so the features fill the box and are zero elsewhere. The local
pathway convolves this map (with the keypoint heat maps, one Gaussian channel per keypoint, when
``keypoints: true``) at ``M x M`` (``M = size / 4``); the global pathway maps ``[z, text, box,
keypoint coordinates]`` to a ``4 x 4`` map and upsamples it to ``M x M``; both are concatenated and
upsampled (transposed convolutions) to the image.

Discriminator (Sec. 3.1): the image is convolved down to ``M x M``; the local pathway concatenates
the box-placed text (and keypoint maps), convolves, keeps only the features inside the box (the
spatial-transformer mask) and convolves down to ``4 x 4``; the global pathway convolves the image
features down to ``4 x 4`` and concatenates the replicated text and location; one convolution over
the merged ``4 x 4`` maps gives the logit.

Where the location comes from (``location``):

* ``given`` (default): the model takes the conditions ``text`` and ``box`` (and ``keypoints`` when
  ``keypoints: true``); a user places the digit: ``--text ... --condition box=[[x0,y0,x1,y1]]``.
* ``generated``: the model takes ``text`` only; the *location model* draws the box and keypoints from
  the caption. The paper generates keypoints with a conditional GAN (Sec. 3.2); documented
  simplification: here a small MLP on ``phi(t)`` gives a diagonal Gaussian over the box (centre, log
  width, log height) and keypoint coordinates and Bernoulli visibilities, fitted by maximum likelihood
  (parameter group ``location``, trained in both modes).

Training is identical in both modes (the data's boxes and keypoints are used), so one run can be
sampled either way: ``location`` only decides which conditions :meth:`sample` asks for (train with
``--set model.location=generated`` for ``genzoo sample RUN --text ...`` alone, or set
``model.config.location = "generated"`` on a loaded model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.errors import ConditionError, ConfigError
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.text_to_image.gan_int_cls import TextToImageGAN, text_projection
from genzoo.nn.init import dcgan_init_
from genzoo.registry import register_model

LOCATIONS = ("given", "generated")


def box_theta(boxes: Tensor) -> Tensor:
    """Affine maps ``(N, 2, 3)`` for ``affine_grid`` that send each box ``(x0, y0, x1, y1)`` (fractions)
    onto the whole source map: output point ``u`` samples the source at ``(u - centre) / half-size``."""
    b = boxes * 2.0 - 1.0
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    hw, hh = ((b[:, 2] - b[:, 0]) / 2).clamp(min=1e-3), ((b[:, 3] - b[:, 1]) / 2).clamp(min=1e-3)
    zero = torch.zeros_like(cx)
    return torch.stack([torch.stack([1 / hw, zero, -cx / hw], -1), torch.stack([zero, 1 / hh, -cy / hh], -1)], 1)


def place_in_box(features: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Replicate ``features (N, C)`` spatially and move them into ``boxes (N, 4)`` on a ``size`` map by a
    spatial transformer (zero outside the box): ``(N, C, size, size)`` (Reed et al. 2016b, Sec. 3.1)."""
    n, c = features.shape
    source = features[:, :, None, None].expand(n, c, size, size)
    grid = F.affine_grid(box_theta(boxes), [n, c, size, size], align_corners=False)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def keypoint_maps(points: Tensor, size: int, sigma: float = 1.0) -> Tensor:
    """``(N, K, 3)`` keypoints (x, y, visible) -> ``(N, K, size, size)`` Gaussian heat maps (``sigma`` cells)."""
    coords = (torch.arange(size, device=points.device, dtype=points.dtype) + 0.5) / size
    dx = coords[None, None, None, :] - points[..., 0, None, None]
    dy = coords[None, None, :, None] - points[..., 1, None, None]
    heat = torch.exp(-(dx**2 + dy**2) * size**2 / (2 * sigma**2))
    return heat * points[..., 2, None, None]


class LocationModel(nn.Module):
    """``phi(t)`` -> a distribution over a box and ``K`` keypoints (the documented simplification of the
    paper's conditional keypoint GAN, see the module docstring)."""

    def __init__(self, embed_dim: int, points: int, hidden: int) -> None:
        super().__init__()
        self.points = points
        self.net = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.ReLU(True), nn.Linear(hidden, hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * (4 + 2 * points) + points),
        )

    def _params(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.net(h)
        d = 4 + 2 * self.points
        return out[:, :d], out[:, d : 2 * d].clamp(-7, 2), out[:, 2 * d :]

    @staticmethod
    def _target(box: Tensor, keypoints: Tensor) -> Tensor:
        b = box[:, 0]
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        w, h = (b[:, 2] - b[:, 0]).clamp(min=1e-3), (b[:, 3] - b[:, 1]).clamp(min=1e-3)
        return torch.cat([torch.stack([cx, cy, w.log(), h.log()], 1), keypoints[..., :2].flatten(1)], 1)

    def nll(self, h: Tensor, box: Tensor, keypoints: Tensor) -> Tensor:
        """Mean negative log-likelihood (nats) of the data's box and keypoints given ``phi(t)``."""
        mean, log_std, vis_logits = self._params(h)
        target = self._target(box, keypoints)
        gauss = 0.5 * ((target - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)
        weight = torch.cat([torch.ones_like(gauss[:, :4]), keypoints[..., 2].repeat_interleave(2, 1)], 1)
        vis = F.binary_cross_entropy_with_logits(vis_logits, keypoints[..., 2], reduction="none").sum(1)
        return (gauss * weight).sum(1).mean() + vis.mean()

    def sample(self, h: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """A box ``(N, 1, 4)`` inside the canvas and keypoints ``(N, K, 3)`` for each ``phi(t)``."""
        mean, log_std, vis_logits = self._params(h)
        dev = generator.device if generator is not None else h.device
        eps = torch.randn(mean.shape, generator=generator, device=dev).to(h.device)
        u = torch.rand(vis_logits.shape, generator=generator, device=dev).to(h.device)
        draw = mean + log_std.exp() * eps
        w, hh = draw[:, 2].exp().clamp(0.05, 1.0), draw[:, 3].exp().clamp(0.05, 1.0)
        cx = draw[:, 0].clamp(w / 2, 1 - w / 2)
        cy = draw[:, 1].clamp(hh / 2, 1 - hh / 2)
        box = torch.stack([cx - w / 2, cy - hh / 2, cx + w / 2, cy + hh / 2], 1).clamp(0, 1)[:, None]
        xy = draw[:, 4:].reshape(len(h), self.points, 2).clamp(0, 1)
        vis = (u < torch.sigmoid(vis_logits)).float()
        vis[:, 0] = 1.0  # the first digit is always there (its box is the box)
        xy[:, 0] = torch.stack([cx, cy], 1)
        return box, torch.cat([xy, vis[..., None]], -1)


class GAWWNGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, features: int, embed_dim: int,
                 text_dim: int, points: int) -> None:
        super().__init__()
        self.map_size, self.points = size // 4, points
        self.text = text_projection(embed_dim, text_dim)
        up = int(math.log2(self.map_size // 4))
        width = features * 2 ** (up + 1)
        glob: list[nn.Module] = [nn.ConvTranspose2d(latent_dim + text_dim + 4 + 3 * points, width, 4, 1, 0, bias=False),
                                 nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(up):
            glob += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                     nn.ReLU(True)]
            width //= 2
        self.glob = nn.Sequential(*glob)
        local = features * 2
        self.local = nn.Sequential(
            nn.Conv2d(text_dim + points, local, 3, 1, 1, bias=False), nn.BatchNorm2d(local), nn.ReLU(True),
            nn.Conv2d(local, local, 3, 1, 1, bias=False), nn.BatchNorm2d(local), nn.ReLU(True),
        )
        self.out = nn.Sequential(
            nn.ConvTranspose2d(width + local, features * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(features * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(features * 2, channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: Tensor, h: Tensor, box: Tensor, keypoints: Tensor) -> Tensor:
        t = self.text(h)
        loc = torch.cat([box.flatten(1), keypoints.flatten(1)], 1)
        g = self.glob(torch.cat([z, t, loc], 1)[:, :, None, None])
        local_in = torch.cat([place_in_box(t, box[:, 0], self.map_size), keypoint_maps(keypoints, self.map_size)], 1)
        return self.out(torch.cat([g, self.local(local_in)], 1))


class GAWWNDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, features: int, embed_dim: int, text_dim: int, points: int) -> None:
        super().__init__()
        self.map_size = size // 4
        self.text = text_projection(embed_dim, text_dim)
        f2 = features * 2
        self.image = nn.Sequential(
            nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(features, f2, 4, 2, 1, bias=False), nn.BatchNorm2d(f2), nn.LeakyReLU(0.2, True),
        )
        down = int(math.log2(self.map_size // 4))

        def to_base(width: int) -> tuple[nn.Sequential, int]:
            layers: list[nn.Module] = []
            for _ in range(down):
                layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                           nn.LeakyReLU(0.2, True)]
                width *= 2
            return nn.Sequential(*layers), width

        self.local_in = nn.Sequential(
            nn.Conv2d(f2 + text_dim + points, f2, 3, 1, 1, bias=False), nn.BatchNorm2d(f2), nn.LeakyReLU(0.2, True),
        )
        self.local_down, lw = to_base(f2)
        self.global_down, gw = to_base(f2)
        self.global_joint = nn.Sequential(
            nn.Conv2d(gw + text_dim + 4 + 3 * points, gw, 1, bias=False), nn.BatchNorm2d(gw), nn.LeakyReLU(0.2, True),
        )
        self.head = nn.Conv2d(lw + gw, 1, 4)

    def forward(self, x: Tensor, h: Tensor, box: Tensor, keypoints: Tensor) -> Tensor:
        t = self.text(h)
        f = self.image(x)
        m = self.map_size
        placed = place_in_box(t, box[:, 0], m)
        mask = place_in_box(torch.ones_like(t[:, :1]), box[:, 0], m)
        local = self.local_in(torch.cat([f, placed, keypoint_maps(keypoints, m)], 1)) * mask
        local = self.local_down(local)
        g = self.global_down(f)
        loc = torch.cat([t, box.flatten(1), keypoints.flatten(1)], 1)[:, :, None, None].expand(-1, -1, 4, 4)
        g = self.global_joint(torch.cat([g, loc], 1))
        return self.head(torch.cat([local, g], 1)).flatten()


@dataclass
class GAWWNConfig:
    latent_dim: int = ranged(100, AT_LEAST_1)
    text_encoder: str = "char-cnn-rnn"  # char-cnn-rnn (trained here) | minilm (pretrained, optional extra)
    embed_dim: int = 1024
    encoder_width: int = 256  # char-CNN-RNN convolution channels and GRU units
    sje_loss: str = "hinge"  # joint-embedding loss: hinge (the paper) | softmax (see genzoo.nn.text)
    text_dim: int = 128
    g_features: int = ranged(64, AT_LEAST_1)
    d_features: int = ranged(64, AT_LEAST_1)
    init_std: float = ranged(0.02, NON_NEGATIVE)
    cls: bool = True  # matching-aware discriminator
    int_beta: float = 0.5  # GAN-INT term in the generator loss (0: off)
    encoder_steps: int = 1000
    keypoints: bool = True  # condition on the data's keypoints too
    location: str = "given"  # given: text + box (+ keypoints) | generated: text only, the location model draws them
    location_hidden: int = 256


@register_model("gawwn")
class GAWWN(TextToImageGAN):
    """GAWWN (Reed et al. NIPS 2016): text + box (+ keypoints) conditional GAN, text placed into the box."""

    Config = GAWWNConfig

    def __init__(self, config: GAWWNConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.location not in LOCATIONS:
            raise ConfigError(f"location must be one of {', '.join(LOCATIONS)}, got {config.location!r}")
        specs = data_info.condition_specs
        if "box" not in specs:
            have = ", ".join(specs) or "none"
            raise ConditionError(f"model 'gawwn' needs data with a 'box' condition; the data offers: {have}")
        if config.keypoints and "keypoints" not in specs:
            raise ConditionError("model 'gawwn' with keypoints: true needs data with a 'keypoints' condition "
                                 "(or set model.keypoints=false)")
        m = self.size // 4
        if self.size != data_info.shape[2] or m < 4 or m & (m - 1):
            raise ConfigError(f"gawwn needs square images of 16, 32, 64, 128, ... pixels, got {data_info.shape[1:]}")
        self.points = specs["keypoints"].points if config.keypoints else 0  # type: ignore[attr-defined]
        dim = self.text_encoder.dim
        args = (self.channels, self.size)
        self.generator = GAWWNGenerator(config.latent_dim, *args, config.g_features, dim, config.text_dim, self.points)
        self.discriminator = GAWWNDiscriminator(*args, config.d_features, dim, config.text_dim, self.points)
        self.locator = LocationModel(dim, max(self.points, 1), config.location_hidden)
        dcgan_init_(self.generator, config.init_std)
        dcgan_init_(self.discriminator, config.init_std)

    def condition_keys(self) -> tuple[str, ...]:
        if self.config.location == "generated":
            return ("text",)
        return ("text", "box", "keypoints") if self.config.keypoints else ("text", "box")

    def generate(self, z: Tensor, cond: dict[str, Tensor]) -> Tensor:
        return self.generator(z, cond["h"], cond["box"], cond["keypoints"])

    def discriminate(self, x: Tensor, cond: dict[str, Tensor]) -> Tensor:
        return self.discriminator(x, cond["h"], cond["box"], cond["keypoints"])

    def _keypoints(self, kp: Tensor | None, n: int) -> Tensor:
        return kp if self.points else torch.zeros(n, 0, 3, device=self.device)

    def step_locations(self, batch: Batch) -> dict[str, Tensor]:
        specs = self.data_info.condition_specs
        n = len(batch["x"])
        box = specs["box"].validate(batch["box"], n).to(self.device)
        kp = specs["keypoints"].validate(batch["keypoints"], n).to(self.device) if self.points else None
        return {"box": box, "keypoints": self._keypoints(kp, n)}

    def sample_locations(
        self, values: dict[str, Any], h: Tensor, generator: torch.Generator | None
    ) -> dict[str, Tensor]:
        if self.config.location == "generated":
            box, kp = self.locator.sample(h, generator)
            return {"box": box, "keypoints": self._keypoints(kp, len(h))}
        return {"box": values["box"], "keypoints": self._keypoints(values.get("keypoints"), len(h))}

    @torch.no_grad()
    def propose_locations(self, texts: list[str], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Boxes and keypoints drawn by the location model for captions (``{"box", "keypoints"}``)."""
        h = self.embed(self.data_info.condition_specs["text"].validate(texts, len(texts)))
        box, kp = self.locator.sample(h, generator)
        return {"box": box, "keypoints": kp[:, : self.points] if self.points else kp}

    def extra_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"location": list(self.locator.parameters())}

    def extra_loss(self, group: str, batch: Batch, h: Tensor) -> dict[str, Tensor]:
        if group != "location":
            raise ValueError(f"unknown parameter group {group!r}")
        n = len(batch["x"])
        specs = self.data_info.condition_specs
        box = specs["box"].validate(batch["box"], n).to(self.device)
        kp = specs["keypoints"].validate(batch["keypoints"], n).to(self.device) if self.points else \
            torch.zeros(n, 1, 3, device=self.device)
        if not self.points:
            kp[:, 0] = torch.stack([(box[:, 0, 0] + box[:, 0, 2]) / 2, (box[:, 0, 1] + box[:, 0, 3]) / 2,
                                    torch.ones(n, device=self.device)], 1)
        loss = self.locator.nll(h, box, kp)
        return {"loss": loss, "location_nll": loss.detach()}
