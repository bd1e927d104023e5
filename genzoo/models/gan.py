"""Generative adversarial nets (Goodfellow et al. 2014) and conditional GANs (Mirza & Osindero 2014).

This module also holds :class:`AdversarialModel`, the two-player training logic shared by every GAN in
genzoo (``gan``, ``cgan``, ``dcgan``, ``acgan``):

* parameter groups ``"discriminator"`` and ``"generator"``; :meth:`AdversarialModel.update_schedule`
  updates the discriminator at every global step and the generator at every ``k``-th step, which is
  Algorithm 1's "k steps of D per step of G". The engine draws a fresh minibatch for every global
  step, so each of the ``k`` discriminator steps sees its own minibatch of data and of noise.
* discriminator step: minus the value function of Eq. 1 (:func:`genzoo.nn.gan_losses.discriminator_loss`),
  with generated samples detached (built under ``no_grad``), so the generator gets no gradient;
* generator step: the non-saturating loss ``-log D(G(z))`` (default, Sec. 3 of the paper) or the
  minimax loss ``log(1 - D(G(z)))`` (``loss: minimax``); the discriminator's parameters are frozen
  while the graph is built, so they get no gradient;
* stabilisers (both off by default, as in the papers): one-sided label smoothing ``real_label`` (0.9
  is the usual choice, Salimans et al. 2016) and annealed Gaussian instance noise on the
  discriminator's inputs (``instance_noise`` = initial std, ``instance_noise_steps`` = steps to 0);
* logged scalars: ``d_loss``, ``g_loss``, ``d_real`` / ``d_fake`` (mean ``D`` output), ``diversity``
  (fake/real per-pixel std ratio; near 0 is mode collapse) and ``diverged`` (1.0 on a non-finite
  loss, or when ``D``'s loss is < 0.01 nats while ``-log D(G(z))`` > 10 nats; in a generator step,
  when ``-log D(G(z))`` > 10 nats).

Latent interface (see :mod:`genzoo.latent`): every adversarial model has ``latent_dim``,
``sample_latent(n, generator)`` (the noise prior) and ``decode(z, condition=None)`` (images in
``[0, 1]``); ``sample(n, generator=g)`` draws its latents with ``sample_latent`` first, so the codes
behind a seeded sample grid can be recovered exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.models.base import Batch, DataInfo, GenerativeModel
from genzoo.nn.gan_losses import (
    InstanceNoise,
    check_loss_kind,
    collapse_flag,
    discriminator_loss,
    diversity,
    frozen,
    generator_loss,
)
from genzoo.registry import register_model

NOISE_KINDS = ("uniform", "gaussian")


class AdversarialModel(GenerativeModel):
    """Shared two-player logic; subclasses build ``self.generator`` / ``self.discriminator``.

    Subclasses implement :meth:`generate` (latents [+ labels] -> images in the discriminator's input
    space) and :meth:`discriminate` (images [+ labels] -> real/fake logits, and class logits for
    AC-GAN), and set ``conditional`` when the generator takes labels.
    """

    #: whether the generator takes a class label
    conditional: bool = False
    #: ``"01"``: networks work on images in [0, 1] (sigmoid output); ``"pm1"``: in [-1, 1] (tanh)
    pixel_range: str = "01"

    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, config: Any, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {config.noise!r}")
        check_loss_kind(config.loss)
        if config.k < 1:
            raise ValueError(f"k (discriminator steps per generator step) must be >= 1, got {config.k}")
        if not 0.0 < config.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {config.real_label}")
        self.latent_dim = int(config.latent_dim)
        self.instance_noise = InstanceNoise(config.instance_noise, config.instance_noise_steps)

    @property
    def is_conditional(self) -> bool:
        return self.conditional

    # ----- data range ------------------------------------------------------------------------------
    def to_net(self, x: Tensor) -> Tensor:
        """Data in [0, 1] -> the networks' pixel range."""
        return x * 2.0 - 1.0 if self.pixel_range == "pm1" else x

    def from_net(self, x: Tensor) -> Tensor:
        """The networks' pixel range -> [0, 1] (clamped)."""
        if self.pixel_range == "pm1":
            x = (x + 1.0) * 0.5
        return x.clamp(0.0, 1.0)

    # ----- to be implemented by subclasses ---------------------------------------------------------
    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``(real/fake logits (N,), class logits (N, K) or None)`` for images in the net range."""
        raise NotImplementedError

    # ----- latent interface ------------------------------------------------------------------------
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws of the noise prior: U(-1, 1)^d (``noise: uniform``) or N(0, I) (``gaussian``)."""
        dev = generator.device if generator is not None else self.device
        if self.config.noise == "uniform":
            z = torch.rand(n, self.latent_dim, generator=generator, device=dev) * 2.0 - 1.0
        else:
            z = torch.randn(n, self.latent_dim, generator=generator, device=dev)
        return z.to(self.device)

    def decode(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """Latents ``(N, latent_dim)`` (+ labels ``(N,)`` for conditional models) -> images in [0, 1]."""
        z = z.to(self.device, torch.float32)
        labels = self._labels(condition, len(z), None) if self.conditional else None
        return self.from_net(self.generate(z, labels))

    def _labels(self, condition: Tensor | None, n: int, generator: torch.Generator | None) -> Tensor:
        k = self.data_info.num_classes
        if condition is None:
            dev = generator.device if generator is not None else self.device
            return torch.randint(0, k, (n,), generator=generator, device=dev).to(self.device)
        labels = torch.as_tensor(condition, device=self.device).long().reshape(-1)
        if labels.numel() == 1 and n != 1:
            labels = labels.expand(n)
        if len(labels) != n:
            raise ValueError(f"condition has {len(labels)} labels for {n} samples")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= k):
            raise ValueError(f"labels must be in 0..{k - 1}")
        return labels

    # ----- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` images in [0, 1]; conditional models take class labels ``(n,)`` (or one label) as
        ``condition`` and draw uniform labels when it is ``None``."""
        z = self.sample_latent(n, generator)
        labels = self._labels(condition, n, generator) if self.conditional else None
        return self.from_net(self.generate(z, labels))

    # ----- training --------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "discriminator": [p for p in self.discriminator.parameters() if p.requires_grad],
            "generator": [p for p in self.generator.parameters() if p.requires_grad],
        }

    def update_schedule(self, step: int) -> list[str]:
        """Discriminator every step, generator every ``k``-th step (after the ``k``-th D step)."""
        k = self.config.k
        return ["discriminator", "generator"] if (step + 1) % k == 0 else ["discriminator"]

    def _fake_labels(self, batch: Batch, n: int) -> Tensor | None:
        """Labels to condition generated samples on: the batch's own labels (cGAN)."""
        if not self.conditional:
            return None
        if "y" not in batch:
            raise ValueError(f"{self.name} is conditional and needs labels (batch['y'])")
        return batch["y"].to(self.device)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"].to(self.device)
        n = len(x)
        labels = batch.get("y")
        labels = labels.to(self.device) if labels is not None else None
        fake_labels = self._fake_labels(batch, n)
        sigma = self.instance_noise.level(step)

        def noisy(t: Tensor) -> Tensor:
            return t + sigma * torch.randn_like(t) if sigma > 0 else t

        if group == "discriminator":
            with torch.no_grad():
                fake = self.generate(self.sample_latent(n), fake_labels)
            real = self.to_net(x)
            real_logits, real_cls = self.discriminate(noisy(real), labels)
            fake_logits, fake_cls = self.discriminate(noisy(fake), fake_labels)
            d_loss = discriminator_loss(real_logits, fake_logits, self.config.real_label)
            out = self._extra_d_loss(real_cls, fake_cls, labels, fake_labels)
            loss = d_loss + out.pop("aux_loss", torch.zeros((), device=x.device))
            g_est = float(F.softplus(-fake_logits.detach()).mean())
            out.update(
                loss=loss,
                d_loss=d_loss.detach(),
                d_real=torch.sigmoid(real_logits.detach()).mean(),
                d_fake=torch.sigmoid(fake_logits.detach()).mean(),
                diverged=torch.tensor(collapse_flag(float(d_loss.detach()), g_est)),
                instance_noise=torch.tensor(sigma),
            )
            return out
        if group == "generator":
            fake = self.generate(self.sample_latent(n), fake_labels)
            with frozen(self.discriminator):
                fake_logits, fake_cls = self.discriminate(noisy(fake), fake_labels)
            g_loss = generator_loss(fake_logits, self.config.loss)
            out = self._extra_g_loss(fake_cls, fake_labels)
            loss = g_loss + out.pop("aux_loss", torch.zeros((), device=x.device))
            # divergence: -log D(G(z)) > 10 nats (D rejects every sample) whichever loss is optimised
            ns = float(F.softplus(-fake_logits.detach()).mean())
            d_fake = torch.sigmoid(fake_logits.detach()).mean()
            out.update(
                loss=loss,
                g_loss=g_loss.detach(),
                d_fake_g=d_fake,
                diversity=torch.tensor(diversity(fake, self.to_net(x))),
                diverged=torch.tensor(1.0 if not torch.isfinite(g_loss) or ns > 10.0 else 0.0),
            )
            return out
        raise ValueError(f"unknown parameter group {group!r}; groups are discriminator, generator")

    # AC-GAN hooks (class-prediction losses); plain GANs add nothing
    def _extra_d_loss(
        self,
        real_cls: Tensor | None,
        fake_cls: Tensor | None,
        labels: Tensor | None,
        fake_labels: Tensor | None,
    ) -> dict[str, Tensor]:
        return {}

    def _extra_g_loss(self, fake_cls: Tensor | None, fake_labels: Tensor | None) -> dict[str, Tensor]:
        return {}


# ----- building blocks --------------------------------------------------------------------------------
class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): ``max_j (W_j x + b_j)`` over ``pieces`` linear pieces."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(len(x), self.units, self.pieces).amax(-1)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"activation must be relu or sigmoid, got {name!r}")


def init_generator_(module: nn.Module, kind: str) -> None:
    """``kind="default"``: PyTorch's default init (small uniform weights, close to the ``irange 0.05``
    uniform init of the original code); ``"he"``: He-normal weights (fan-in, ReLU gain) and zero
    biases for every linear layer. With the default init the 1200-unit ReLU generator starts almost
    constant in ``z`` (per-pixel spread across ``z`` ~ 5% of the data's); He init spreads the samples
    but saturates the sigmoid output — neither avoided mode collapse in short Adam runs on MNIST
    (benchmarks/results/gans.md)."""
    if kind == "default":
        return
    if kind != "he":
        raise ValueError(f"g_init must be he or default, got {kind!r}")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def _maxout_stack(in_features: int, units: list[int], pieces: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for u in units:
        layers += [Maxout(in_features, u, pieces), nn.Dropout(dropout)]
        in_features = u
    return nn.Sequential(*layers)


# ----- GAN --------------------------------------------------------------------------------------------
@dataclass
class GANConfig:
    latent_dim: int = 100
    noise: str = "uniform"  # uniform U(-1,1) | gaussian N(0,1)
    g_hidden: list[int] = field(default_factory=lambda: [1200, 1200])
    g_activation: str = "relu"  # relu | sigmoid (the paper mixes both)
    g_init: str = "default"  # default (PyTorch's) | he; see init_generator_
    d_units: list[int] = field(default_factory=lambda: [240, 240])
    d_pieces: int = 5
    d_input_dropout: float = 0.2
    d_dropout: float = 0.5
    loss: str = "nonsaturating"  # nonsaturating | minimax
    k: int = 1  # discriminator steps per generator step
    real_label: float = 1.0  # < 1: one-sided label smoothing (0.9 is usual)
    instance_noise: float = 0.0  # initial std of Gaussian noise on D's inputs
    instance_noise_steps: int = 10000  # steps over which it anneals to 0


@register_model("gan")
class GAN(AdversarialModel):
    """Generative adversarial nets (Goodfellow et al., NeurIPS 2014): minimax game of Eq. 1.

    The paper's MNIST networks: an MLP generator (noise -> rectifier/sigmoid hidden layers -> sigmoid
    output pixels; defaults: 100-d uniform noise, two 1200-unit ReLU layers) and a maxout
    discriminator with dropout (two 240-unit, 5-piece maxout layers; dropout 0.2 on the input, 0.5 on
    hidden units; sigmoid output). Algorithm 1: ``k`` discriminator steps per generator step (here via
    :meth:`update_schedule`, a fresh minibatch per step); generator loss non-saturating by default
    (Sec. 3), ``loss: minimax`` for Eq. 1 as written. The max-norm weight constraints of the
    original code are not reproduced (see :func:`init_generator_` and the benchmark notes on mode
    collapse). Images stay in [0, 1] (sigmoid output), no rescaling.
    """

    Config = GANConfig
    conditional = False
    pixel_range = "01"

    def __init__(self, config: GANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        d = data_info.dims
        g_layers: list[nn.Module] = []
        width = config.latent_dim
        for h in config.g_hidden:
            g_layers += [nn.Linear(width, h), _activation(config.g_activation)]
            width = h
        g_layers += [nn.Linear(width, d), nn.Sigmoid()]
        self.generator = nn.Sequential(*g_layers)
        init_generator_(self.generator, config.g_init)
        units = list(config.d_units)
        self.discriminator = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(config.d_input_dropout),
            _maxout_stack(d, units, config.d_pieces, config.d_dropout),
            nn.Linear(units[-1] if units else d, 1),
        )

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z).view(len(z), *self.data_info.shape)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x).squeeze(1), None


# ----- conditional GAN --------------------------------------------------------------------------------
@dataclass
class CGANConfig:
    latent_dim: int = 100
    noise: str = "uniform"
    g_z_hidden: int = 200  # z -> ReLU 200
    g_y_hidden: int = 1000  # y -> ReLU 1000
    g_joint_hidden: int = 1200  # [z, y] -> ReLU 1200 -> sigmoid pixels
    g_dropout: float = 0.5
    g_init: str = "default"  # default | he; see init_generator_
    d_x_units: int = 240  # x -> maxout 240 x 5
    d_y_units: int = 50  # y -> maxout 50 x 5
    d_pieces: int = 5
    d_joint_units: int = 240  # joint maxout 240 x 4 -> sigmoid
    d_joint_pieces: int = 4
    d_dropout: float = 0.5
    loss: str = "nonsaturating"
    k: int = 1
    real_label: float = 1.0
    instance_noise: float = 0.0
    instance_noise_steps: int = 10000


class _CGANGenerator(nn.Module):
    def __init__(self, c: CGANConfig, num_classes: int, out_dims: int) -> None:
        super().__init__()
        self.z_path = nn.Sequential(nn.Linear(c.latent_dim, c.g_z_hidden), nn.ReLU(), nn.Dropout(c.g_dropout))
        self.y_path = nn.Sequential(nn.Linear(num_classes, c.g_y_hidden), nn.ReLU(), nn.Dropout(c.g_dropout))
        self.joint = nn.Sequential(
            nn.Linear(c.g_z_hidden + c.g_y_hidden, c.g_joint_hidden),
            nn.ReLU(),
            nn.Dropout(c.g_dropout),
            nn.Linear(c.g_joint_hidden, out_dims),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor, y1h: Tensor) -> Tensor:
        return self.joint(torch.cat([self.z_path(z), self.y_path(y1h)], 1))


class _CGANDiscriminator(nn.Module):
    def __init__(self, c: CGANConfig, num_classes: int, in_dims: int) -> None:
        super().__init__()
        self.x_path = nn.Sequential(Maxout(in_dims, c.d_x_units, c.d_pieces), nn.Dropout(c.d_dropout))
        self.y_path = nn.Sequential(Maxout(num_classes, c.d_y_units, c.d_pieces), nn.Dropout(c.d_dropout))
        self.joint = nn.Sequential(
            Maxout(c.d_x_units + c.d_y_units, c.d_joint_units, c.d_joint_pieces),
            nn.Dropout(c.d_dropout),
            nn.Linear(c.d_joint_units, 1),
        )

    def forward(self, x: Tensor, y1h: Tensor) -> Tensor:
        return self.joint(torch.cat([self.x_path(x.flatten(1)), self.y_path(y1h)], 1)).squeeze(1)


@register_model("cgan")
class CGAN(AdversarialModel):
    """Conditional GAN (Mirza & Osindero 2014): Eq. 2, the GAN game with ``y`` fed to G and D.

    ``min_G max_D E_x[log D(x|y)] + E_z[log(1 - D(G(z|y)|y))]``. The paper's MNIST setup (Sec. 4.1):
    G maps uniform noise ``z`` (100-d) to a 200-unit ReLU layer and the one-hot label ``y`` to a
    1000-unit ReLU layer, joins them in a 1200-unit ReLU layer, then sigmoid pixels; D maps ``x`` to
    a 240-unit, 5-piece maxout layer and ``y`` to a 50-unit, 5-piece maxout layer, joins them in a
    240-unit, 4-piece maxout layer, then a sigmoid output; dropout 0.5 in both. Generated samples in
    a discriminator step are conditioned on the minibatch's own labels. ``sample(n, condition=labels)``.
    """

    Config = CGANConfig
    conditional = True
    pixel_range = "01"

    def __init__(self, config: CGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if data_info.num_classes < 2:
            raise ValueError("cgan needs a labelled dataset (data_info.num_classes >= 2)")
        self.generator = _CGANGenerator(config, data_info.num_classes, data_info.dims)
        init_generator_(self.generator, config.g_init)
        self.discriminator = _CGANDiscriminator(config, data_info.num_classes, data_info.dims)

    def _one_hot(self, labels: Tensor | None) -> Tensor:
        assert labels is not None
        return F.one_hot(labels.long(), self.data_info.num_classes).float()

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z, self._one_hot(labels)).view(len(z), *self.data_info.shape)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x, self._one_hot(labels)), None
