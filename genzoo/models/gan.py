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

    def _before_step(self, x: Tensor) -> None:
        """Hook run at the start of every training step (data-dependent init, weight constraints)."""

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"].to(self.device)
        self._before_step(x)
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
                diverged=torch.tensor(1.0 if not torch.isfinite(g_loss) or ns > 10.0 else 0.0),
            )
            # a logged statistic, not a loss: measured on every 10th step only (the engine averages each
            # key over the steps that report it, so the logged mean has the same expectation)
            if step % 10 == 0:
                out["diversity"] = torch.tensor(diversity(fake, self.to_net(x)))
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


INIT_KINDS = ("default", "he", "uniform")
OUT_BIAS_KINDS = ("zero", "marginals")


def init_linear_(module: nn.Module, kind: str, irange: float = 0.05, what: str = "g_init") -> None:
    """Initialise every ``nn.Linear`` in ``module`` (``what`` names the config field in errors).

    ``"default"``: PyTorch's init (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` weights and biases);
    ``"he"``: He-normal weights (fan-in, ReLU gain), zero biases; ``"uniform"``: weights
    ``U(-irange, irange)`` and zero biases, the ``irange`` init of pylearn2 used by the released code
    of Goodfellow et al. 2014 (``irange`` 0.05 in the generator, 0.005 in the maxout discriminator).
    For the 1200-unit ReLU generator: with the default init it starts almost constant in ``z``
    (per-pixel spread across ``z`` ~ 5% of the data's); He init spreads the samples but saturates the
    sigmoid output (benchmarks/results/gans.md).
    """
    if kind not in INIT_KINDS:
        raise ValueError(f"{what} must be one of {INIT_KINDS}, got {kind!r}")
    if kind == "uniform" and not irange > 0:
        raise ValueError(f"the irange of {what}=uniform must be > 0, got {irange}")
    if kind == "default":
        return
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if kind == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)


def max_norm_(module: nn.Module, bound: float) -> None:
    """Max-norm weight constraint as a projection (Srebro & Shraibman 2005; Hinton et al. 2012;
    pylearn2's ``max_col_norm``, used with maxout + dropout by Goodfellow et al. 2013): the weight
    vector of every unit (a row of an ``nn.Linear`` weight; a column of pylearn2's ``W``) whose L2 norm
    exceeds ``bound`` is rescaled to norm ``bound``. Biases are left alone. In place, no gradient."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                norms = m.weight.norm(dim=1, keepdim=True)
                m.weight.mul_(norms.clamp(min=bound).reciprocal().mul_(bound))


class _MLPGAN(AdversarialModel):
    """Options shared by the MLP GANs of Goodfellow et al. 2014 and Mirza & Osindero 2014.

    * ``g_init`` / ``g_irange`` and ``d_init`` / ``d_irange``: see :func:`init_linear_`;
    * ``g_out_bias: marginals``: the generator's sigmoid output bias starts at the logit of the data's
      mean pixel values (pylearn2's ``init_sigmoid_bias_from_marginals`` in the released code), so the
      first samples look like the mean digit instead of uniform grey. The data is not known when the
      model is built, so the bias is set from the first training minibatch (smoothed:
      ``(sum + 1) / (n + 2)`` per pixel) in the first training step; a flag buffer records that this
      happened, so resuming from a checkpoint does not redo it;
    * ``d_max_norm > 0``: max-norm projection of the discriminator's weights (:func:`max_norm_`)
      at the start of every training step, i.e. after every optimiser update before the weights are
      used again, and when the model is switched to eval mode (so a trained model satisfies it);
    * ``noise_scale``: the prior is ``U(-s, s)`` / ``N(0, s^2)``; the released code's uniform noise is
      ``U(-sqrt 3, sqrt 3)`` (unit variance);
    * ``data_margin = m``: real images are shown to D as ``m + (1 - 2m) x``, and the generator's
      sigmoid output ``y`` is read back as ``(y - m) / (1 - 2m)`` clamped to [0, 1]. Not in the papers:
      without it D can always separate MNIST's exact-zero background from any sigmoid output, G's
      output logits run off to -inf (saturated, no gradient) and G collapses (benchmarks/results/gans.md).
    """

    def _init_mlp_options(self, config: MLPGANOptions) -> None:
        if not float(config.noise_scale) > 0:
            raise ValueError(f"noise_scale must be > 0, got {config.noise_scale}")
        if not 0.0 <= config.data_margin < 0.5:
            raise ValueError(f"data_margin must be in [0, 0.5), got {config.data_margin}")
        if config.g_out_bias not in OUT_BIAS_KINDS:
            raise ValueError(f"g_out_bias must be one of {OUT_BIAS_KINDS}, got {config.g_out_bias!r}")
        if config.d_max_norm < 0:
            raise ValueError(f"d_max_norm must be >= 0 (0 = off), got {config.d_max_norm}")
        init_linear_(self.discriminator, config.d_init, config.d_irange, "d_init")
        if config.g_out_bias == "marginals":
            self.register_buffer("out_bias_pending", torch.ones((), dtype=torch.uint8))
        if config.d_max_norm > 0:
            max_norm_(self.discriminator, config.d_max_norm)

    def _output_layer(self) -> nn.Linear:
        raise NotImplementedError

    def to_net(self, x: Tensor) -> Tensor:
        m = float(self.config.data_margin)
        return x * (1.0 - 2.0 * m) + m if m else x

    def from_net(self, x: Tensor) -> Tensor:
        m = float(self.config.data_margin)
        return ((x - m) / (1.0 - 2.0 * m) if m else x).clamp(0.0, 1.0)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        scale = float(self.config.noise_scale)
        z = super().sample_latent(n, generator)
        return z * scale if scale != 1.0 else z

    def _before_step(self, x: Tensor) -> None:
        if self.config.g_out_bias == "marginals" and int(self.out_bias_pending):
            with torch.no_grad():
                p = self.to_net((x.flatten(1).sum(0) + 1.0) / (len(x) + 2.0))
                self._output_layer().bias.copy_(torch.log(p) - torch.log1p(-p))
                self.out_bias_pending.zero_()
        if self.config.d_max_norm > 0:
            max_norm_(self.discriminator, self.config.d_max_norm)

    def train(self, mode: bool = True) -> _MLPGAN:
        if not mode and self.config.d_max_norm > 0:
            max_norm_(self.discriminator, self.config.d_max_norm)
        return super().train(mode)


@dataclass
class MLPGANOptions:
    """Config fields shared by :class:`GANConfig` and :class:`CGANConfig`; see :class:`_MLPGAN`."""

    g_init: str = "default"  # default (PyTorch's) | he | uniform; see init_linear_
    g_irange: float = 0.05  # weights U(-g_irange, g_irange) when g_init = uniform
    g_out_bias: str = "zero"  # zero | marginals (logit of the data's mean pixels); see _MLPGAN
    d_init: str = "default"  # default | he | uniform
    d_irange: float = 0.005  # weights U(-d_irange, d_irange) when d_init = uniform
    d_max_norm: float = 0.0  # > 0: max-norm projection of D's weight rows after every update
    noise_scale: float = 1.0  # z ~ U(-s, s) or N(0, s^2); sqrt(3) = unit-variance uniform
    data_margin: float = 0.0  # m > 0: D sees real pixels in [m, 1 - m], reachable by G's sigmoid;
    #                           samples are mapped back by (y - m) / (1 - 2m), clamped to [0, 1]


def _maxout_stack(in_features: int, units: list[int], pieces: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for u in units:
        layers += [Maxout(in_features, u, pieces), nn.Dropout(dropout)]
        in_features = u
    return nn.Sequential(*layers)


# ----- GAN --------------------------------------------------------------------------------------------
@dataclass
class GANConfig(MLPGANOptions):
    latent_dim: int = 100
    noise: str = "uniform"  # uniform U(-1,1) | gaussian N(0,1)
    g_hidden: list[int] = field(default_factory=lambda: [1200, 1200])
    g_activation: str = "relu"  # relu | sigmoid (the paper mixes both)
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
class GAN(_MLPGAN):
    """Generative adversarial nets (Goodfellow et al., NeurIPS 2014): minimax game of Eq. 1.

    The paper's MNIST networks: an MLP generator (noise -> rectifier/sigmoid hidden layers -> sigmoid
    output pixels; defaults: 100-d uniform noise, two 1200-unit ReLU layers) and a maxout
    discriminator with dropout (two 240-unit, 5-piece maxout layers; dropout 0.2 on the input, 0.5 on
    hidden units; sigmoid output). Algorithm 1: ``k`` discriminator steps per generator step (here via
    :meth:`update_schedule`, a fresh minibatch per step); generator loss non-saturating by default
    (Sec. 3), ``loss: minimax`` for Eq. 1 as written. Images are in [0, 1] (sigmoid output).

    Options of the released code (config ``gan-mnist`` uses them; the dataclass defaults keep the
    earlier behaviour): ``g_init / d_init: uniform`` (pylearn2's ``irange`` init), ``g_out_bias:
    marginals``, ``noise_scale: sqrt(3)`` (its unit-variance uniform noise), ``d_max_norm``
    (pylearn2's ``max_col_norm``; used in the TFD/CIFAR configs, not MNIST's); see :class:`_MLPGAN`.
    ``data_margin`` (not in the paper) shows D real pixels in ``[m, 1 - m]``: MNIST is mostly exact
    zeros, which a sigmoid reaches only at logit -inf, and chasing them saturates G's output and
    collapses it (benchmarks/results/gans.md).
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
        init_linear_(self.generator, config.g_init, config.g_irange, "g_init")
        units = list(config.d_units)
        self.discriminator = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(config.d_input_dropout),
            _maxout_stack(d, units, config.d_pieces, config.d_dropout),
            nn.Linear(units[-1] if units else d, 1),
        )
        self._init_mlp_options(config)

    def _output_layer(self) -> nn.Linear:
        return self.generator[-2]

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z).view(len(z), *self.data_info.shape)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x).squeeze(1), None


# ----- conditional GAN --------------------------------------------------------------------------------
@dataclass
class CGANConfig(MLPGANOptions):
    latent_dim: int = 100
    noise: str = "uniform"
    g_z_hidden: int = 200  # z -> ReLU 200
    g_y_hidden: int = 1000  # y -> ReLU 1000
    g_joint_hidden: int = 1200  # [z, y] -> ReLU 1200 -> sigmoid pixels
    g_dropout: float = 0.5
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
class CGAN(_MLPGAN):
    """Conditional GAN (Mirza & Osindero 2014): Eq. 2, the GAN game with ``y`` fed to G and D.

    ``min_G max_D E_x[log D(x|y)] + E_z[log(1 - D(G(z|y)|y))]``. The paper's MNIST setup (Sec. 4.1):
    G maps uniform noise ``z`` (100-d) to a 200-unit ReLU layer and the one-hot label ``y`` to a
    1000-unit ReLU layer, joins them in a 1200-unit ReLU layer, then sigmoid pixels; D maps ``x`` to
    a 240-unit, 5-piece maxout layer and ``y`` to a 50-unit, 5-piece maxout layer, joins them in a
    240-unit, 4-piece maxout layer, then a sigmoid output; dropout 0.5 in both. Generated samples in
    a discriminator step are conditioned on the minibatch's own labels. ``sample(n, condition=labels)``.
    The options of :class:`_MLPGAN` apply; keep G's label path at the scale of its noise path (PyTorch's
    default init does; the released GAN code's ``irange 0.05`` makes the label 24x weaker at init and G
    then ignores it, see ``cgan-mnist.yaml``).
    """

    Config = CGANConfig
    conditional = True
    pixel_range = "01"

    def __init__(self, config: CGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if data_info.num_classes < 2:
            raise ValueError("cgan needs a labelled dataset (data_info.num_classes >= 2)")
        self.generator = _CGANGenerator(config, data_info.num_classes, data_info.dims)
        init_linear_(self.generator, config.g_init, config.g_irange, "g_init")
        self.discriminator = _CGANDiscriminator(config, data_info.num_classes, data_info.dims)
        self._init_mlp_options(config)

    def _output_layer(self) -> nn.Linear:
        return self.generator.joint[-2]

    def _one_hot(self, labels: Tensor | None) -> Tensor:
        assert labels is not None
        return F.one_hot(labels.long(), self.data_info.num_classes).float()

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z, self._one_hot(labels)).view(len(z), *self.data_info.shape)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x, self._one_hot(labels)), None
