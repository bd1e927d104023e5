"""GAN-INT-CLS: "Generative Adversarial Text to Image Synthesis" (Reed, Akata, Yan, Logeswaran, Schiele &
Lee, ICML 2016), and the training logic every text-to-image GAN of genzoo shares.

* Text: a caption ``t`` is embedded by ``phi(t)`` (:class:`genzoo.nn.text.TextEmbedding`): the
  char-CNN-RNN trained by the deep symmetric structured joint embedding (Sec. 3 of the paper, from
  Reed et al. CVPR 2016), or the frozen pretrained MiniLM sentence encoder (``text_encoder: minilm``,
  an optional extra). As in the paper the text encoder is trained first and then frozen: the
  ``encoder`` parameter group alone is updated for the first ``encoder_steps`` steps, the GAN after.
* Generator (Sec. 4.1): ``phi(t)`` compressed by a fully connected layer to ``text_dim`` (128) with a
  leaky ReLU, concatenated with ``z ~ N(0, I)`` (100-d), then a DCGAN generator
  (:class:`genzoo.models.adversarial.dcgan.DCGANGenerator`).
* Discriminator (Sec. 4.1): DCGAN strided convolutions with batch norm and leaky ReLU down to a 4 x 4
  map; the compressed text replicated spatially and concatenated depthwise; a 1 x 1 convolution, then
  a convolution over the 4 x 4 map to one logit.
* GAN-CLS, the matching-aware discriminator (Alg. 1): three kinds of pairs, ``s_r = D(x, h)`` (real
  image, right text), ``s_w = D(x, h_hat)`` (real image, wrong text) and ``s_f = D(G(z, h), h)``;
  ``L_D = -log s_r - (log(1 - s_w) + log(1 - s_f)) / 2``. The wrong text of example ``i`` is the
  caption of example ``i + 1`` of the minibatch (a shift by one: every example gets another's text).
* GAN-INT (Sec. 4.3): the generator is also trained on interpolated embeddings
  ``beta h_1 + (1 - beta) h_2`` (``beta = 0.5``) of two captions of the minibatch, which have no real
  image; its loss is the mean of the non-saturating loss ``-log D(G(z, h), h)`` on the batch's captions
  and on the interpolations (a location-conditioned model keeps the first caption's location).
  ``int_beta: 0`` turns it off (GAN-CLS), ``cls: false`` the third pair (GAN-INT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo, TextSpec
from genzoo.core.errors import ConditionError, ConfigError
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.adversarial.dcgan import DCGANGenerator, discriminator_trunk
from genzoo.models.base import GenerativeModel
from genzoo.nn.gan_losses import frozen
from genzoo.nn.init import dcgan_init_
from genzoo.nn.monitors import diversity
from genzoo.nn.pixels import to_signed
from genzoo.nn.text import TextEmbedding
from genzoo.registry import register_model


def text_projection(embed_dim: int, text_dim: int) -> nn.Module:
    """``phi(t)`` -> ``text_dim`` features: fully connected + leaky ReLU 0.2 (Reed et al. 2016a, Sec. 4.1)."""
    return nn.Sequential(nn.Linear(embed_dim, text_dim), nn.LeakyReLU(0.2, True))


def mismatched_index(n: int, device: torch.device | str = "cpu") -> Tensor:
    """The example whose caption is the *wrong* text of example ``i``: ``i + 1`` (mod ``n``), never ``i`` itself."""
    return (torch.arange(n, device=device) + 1) % n


class TextToImageGAN(GenerativeModel):
    """The shared two-player training of GAN-INT-CLS and GAWWN (see the module docstring).

    Subclasses build ``self.generator`` / ``self.discriminator`` and implement :meth:`generate`
    (``z`` + condition tensors -> images in [-1, 1]) and :meth:`discriminate` (images + condition
    tensors -> logits ``(N,)``). The condition tensors are a dict with ``"h"`` (text embeddings) and,
    for location-conditioned models, whatever :meth:`step_locations` returns.
    """

    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, config: Any, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        specs = data_info.condition_specs
        if "text" not in specs or not isinstance(specs["text"], TextSpec):
            have = ", ".join(specs) or "none"
            raise ConditionError(
                f"model {self.name!r} needs captioned data (a 'text' condition); the data offers: {have}"
            )
        if len(data_info.shape) != 3:
            raise ConfigError(f"model {self.name!r} needs (C, H, W) images, got shape {data_info.shape}")
        if not 0.0 <= config.int_beta <= 1.0:
            raise ConfigError(f"int_beta must be in [0, 1], got {config.int_beta}")
        if config.encoder_steps < 0:
            raise ConfigError(f"encoder_steps must be >= 0, got {config.encoder_steps}")
        self.text_spec: TextSpec = specs["text"]  # type: ignore[assignment]
        self.channels, self.size = data_info.shape[0], data_info.shape[1]
        self.latent_dim = int(config.latent_dim)
        self.text_encoder = TextEmbedding(
            config.text_encoder, self.text_spec, self.channels, config.embed_dim, config.encoder_width,
            config.sje_loss,
        )

    # ----- to be implemented by subclasses ---------------------------------------------------------
    def generate(self, z: Tensor, cond: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def discriminate(self, x: Tensor, cond: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def step_locations(self, batch: Batch) -> dict[str, Tensor]:
        """Location tensors of a training batch (none for text-only models)."""
        return {}

    def sample_locations(
        self, values: dict[str, Any], h: Tensor, generator: torch.Generator | None
    ) -> dict[str, Tensor]:
        """Location tensors for sampling, from the given condition values (none for text-only models)."""
        return {}

    def extra_groups(self) -> dict[str, list[nn.Parameter]]:
        return {}

    def extra_loss(self, group: str, batch: Batch, h: Tensor) -> dict[str, Tensor]:
        raise ValueError(f"unknown parameter group {group!r}")

    # ----- text ------------------------------------------------------------------------------------
    def condition_keys(self) -> tuple[str, ...]:
        return ("text",)

    def embed(self, texts: list[str]) -> Tensor:
        """``phi(t)`` of validated captions, without gradient (the encoder is trained by its own group)."""
        with torch.no_grad():
            return self.text_encoder(texts).detach()

    # ----- pixels and noise ------------------------------------------------------------------------
    @staticmethod
    def to_net(x: Tensor) -> Tensor:
        return to_signed(x)

    @staticmethod
    def from_net(x: Tensor) -> Tensor:
        return ((x + 1.0) * 0.5).clamp(0.0, 1.0)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``z ~ N(0, I)`` (the paper's noise prior)."""
        dev = generator.device if generator is not None else self.device
        return torch.randn(n, self.latent_dim, generator=generator, device=dev).to(self.device)

    # ----- sampling --------------------------------------------------------------------------------
    def _condition_tensors(self, n: int, condition: Any, generator: torch.Generator | None) -> dict[str, Tensor]:
        values = self.check_condition(n, condition)
        h = self.embed(values["text"])
        return {"h": h, **self.sample_locations(values, h, generator)}

    @torch.no_grad()
    def sample(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images in [0, 1] for ``{"text": caption(s)}`` (+ the location keys a model takes)."""
        cond = self._condition_tensors(n, condition, generator)
        z = self.sample_latent(n, generator)
        return self.from_net(self.generate(z, cond))

    @torch.no_grad()
    def decode(self, z: Tensor, condition: Any = None) -> Tensor:
        """Latents ``(N, latent_dim)`` and the condition -> images in [0, 1] (latent interpolation)."""
        z = z.to(self.device, torch.float32)
        return self.from_net(self.generate(z, self._condition_tensors(len(z), condition, None)))

    @torch.no_grad()
    def interpolate_text(
        self, first: Any, second: Any, steps: int = 8, generator: torch.Generator | None = None, rows: int = 1
    ) -> Tensor:
        """Images along ``(1 - a) phi(first) + a phi(second)`` for ``a`` in ``[0, 1]`` (``steps`` values),
        one fixed ``z`` per row (the paper's Fig. 5/8): ``(rows * steps, C, H, W)``.

        ``first`` and ``second`` are condition mappings (or captions, for text-only models); the location
        tensors are interpolated too."""
        a = self._condition_tensors(1, first, generator)
        b = self._condition_tensors(1, second, generator)
        alphas = torch.linspace(0, 1, steps, device=self.device)[:, None]
        cond = {k: ((1 - alphas) * a[k].flatten(1) + alphas * b[k].flatten(1)).reshape(steps, *a[k].shape[1:])
                for k in a}
        z = self.sample_latent(rows, generator)
        out = [self.generate(z[r : r + 1].expand(steps, -1), cond) for r in range(rows)]
        return self.from_net(torch.cat(out))

    # ----- training --------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {
            "discriminator": [p for p in self.discriminator.parameters() if p.requires_grad],
            "generator": [p for p in self.generator.parameters() if p.requires_grad],
            **self.extra_groups(),
        }
        if self.text_encoder.trainable:
            groups = {"encoder": list(self.text_encoder.parameters()), **groups}
        return groups

    def update_schedule(self, step: int) -> list[str]:
        """The text encoder alone for the first ``encoder_steps`` steps (then frozen), the GAN after."""
        if self.text_encoder.trainable and step < self.config.encoder_steps:
            return ["encoder"]
        return [g for g in self.parameter_groups() if g != "encoder"]

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        texts = self.batch_condition(batch)["text"]
        x = self.to_net(batch["x"].to(self.device))
        n = len(x)
        if group == "encoder":
            loss = self.text_encoder.joint_loss(x, texts)
            return {"loss": loss, "sje_loss": loss.detach()}
        h = self.embed(texts)
        cond = {"h": h, **self.step_locations(batch)}
        if group == "discriminator":
            with torch.no_grad():
                fake = self.generate(self.sample_latent(n), cond)
            s_r = self.discriminate(x, cond)
            s_f = self.discriminate(fake, cond)
            real_term, fake_term = F.softplus(-s_r).mean(), F.softplus(s_f).mean()
            out: dict[str, Tensor] = {}
            if self.config.cls:
                wrong = {**cond, "h": h[mismatched_index(n, h.device)]}
                s_w = self.discriminate(x, wrong)
                wrong_term = F.softplus(s_w).mean()
                loss = real_term + (wrong_term + fake_term) / 2
                out["d_wrong"] = torch.sigmoid(s_w.detach()).mean()
            else:
                loss = real_term + fake_term
            out.update(loss=loss, d_loss=loss.detach(), d_real=torch.sigmoid(s_r.detach()).mean(),
                       d_fake=torch.sigmoid(s_f.detach()).mean())
            return out
        if group == "generator":
            fake = self.generate(self.sample_latent(n), cond)
            with frozen(self.discriminator):
                g_loss = F.softplus(-self.discriminate(fake, cond)).mean()
                out = {}
                if self.config.int_beta > 0:
                    beta = self.config.int_beta
                    other = torch.randperm(n, device=h.device)
                    mixed = {**cond, "h": beta * h + (1 - beta) * h[other]}  # drawn at the first one's place
                    g_int = F.softplus(-self.discriminate(self.generate(self.sample_latent(n), mixed), mixed)).mean()
                    out["g_int"] = g_int.detach()
                    g_loss = (g_loss + g_int) / 2
            out.update(loss=g_loss, g_loss=g_loss.detach(), diversity=torch.tensor(diversity(fake, x)))
            return out
        return self.extra_loss(group, batch, h)


class TextDiscriminator(nn.Module):
    """Images in [-1, 1] + ``phi(t)`` -> logits (Reed et al. 2016a, Sec. 4.1)."""

    def __init__(self, channels: int, size: int, features: int, embed_dim: int, text_dim: int) -> None:
        super().__init__()
        layers, width_in, base = discriminator_trunk(channels, size, features)
        self.image = nn.Sequential(*layers)
        self.base = base
        self.text = text_projection(embed_dim, text_dim)
        self.joint = nn.Sequential(
            nn.Conv2d(width_in + text_dim, width_in, 1, bias=False), nn.BatchNorm2d(width_in), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width_in, 1, base),
        )

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        f = self.image(x)
        t = self.text(h)[:, :, None, None].expand(-1, -1, self.base, self.base)
        return self.joint(torch.cat([f, t], 1)).flatten()


class TextGenerator(nn.Module):
    """``z`` + ``phi(t)`` -> images in [-1, 1] (Reed et al. 2016a, Sec. 4.1)."""

    def __init__(self, latent_dim: int, channels: int, size: int, features: int, embed_dim: int, text_dim: int) -> None:
        super().__init__()
        self.text = text_projection(embed_dim, text_dim)
        self.net = DCGANGenerator(latent_dim + text_dim, channels, size, features)

    def forward(self, z: Tensor, h: Tensor) -> Tensor:
        return self.net(torch.cat([z, self.text(h)], 1))


@dataclass
class GANINTCLSConfig:
    latent_dim: int = ranged(100, AT_LEAST_1)  # z ~ N(0, I)
    text_encoder: str = "char-cnn-rnn"  # char-cnn-rnn (trained here) | minilm (pretrained, optional extra)
    embed_dim: int = 1024  # phi(t) of the char-CNN-RNN (the paper's 1024)
    encoder_width: int = 256  # char-CNN-RNN convolution channels and GRU units
    sje_loss: str = "hinge"  # joint-embedding loss: hinge (the paper) | softmax (see genzoo.nn.text)
    text_dim: int = 128  # phi(t) compressed for G and D
    g_features: int = ranged(128, AT_LEAST_1)  # G's last hidden stage (doubling towards z; ngf)
    d_features: int = ranged(64, AT_LEAST_1)  # D's first stage
    init_std: float = ranged(0.02, NON_NEGATIVE)
    cls: bool = True  # the matching-aware discriminator (real image, wrong text)
    int_beta: float = 0.5  # GAN-INT interpolation weight (0: off)
    encoder_steps: int = 1000  # steps of text-encoder training before the GAN (the paper pretrains it)


@register_model("gan-int-cls")
class GANINTCLS(TextToImageGAN):
    """GAN-INT-CLS (Reed et al. ICML 2016): text-conditioned DCGAN, matching-aware D, embedding interpolation."""

    Config = GANINTCLSConfig

    def __init__(self, config: GANINTCLSConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        dim = self.text_encoder.dim
        self.generator = TextGenerator(
            config.latent_dim, self.channels, self.size, config.g_features, dim, config.text_dim
        )
        self.discriminator = TextDiscriminator(self.channels, self.size, config.d_features, dim, config.text_dim)
        dcgan_init_(self.generator, config.init_std)
        dcgan_init_(self.discriminator, config.init_std)

    def generate(self, z: Tensor, cond: dict[str, Tensor]) -> Tensor:
        return self.generator(z, cond["h"])

    def discriminate(self, x: Tensor, cond: dict[str, Tensor]) -> Tensor:
        return self.discriminator(x, cond["h"])
