"""The two-player training logic shared by every GAN in genzoo (``gan``, ``cgan``, ``dcgan``, ``acgan``):
:class:`AdversarialModel` (Goodfellow et al. 2014, Algorithm 1; Mirza & Osindero 2014 for labels).


* parameter groups ``"discriminator"`` and ``"generator"``; :meth:`AdversarialModel.update_schedule`
  updates the discriminator at every global step and the generator at every ``d_steps``-th step, which is
  Algorithm 1's "k steps of D per step of G". The engine draws a fresh minibatch for every global
  step, so each of the ``k`` discriminator steps sees its own minibatch of data and of noise.
* discriminator step: minus the value function of Eq. 1 (:func:`genzoo.nn.gan_losses.discriminator_loss`),
  with generated samples detached (built under ``no_grad``), so the generator gets no gradient;
* generator step: the non-saturating loss ``-log D(G(z))`` (default, Sec. 3 of the paper) or the
  minimax loss ``log(1 - D(G(z)))`` (``loss: minimax``); the discriminator's parameters are frozen
  while the graph is built, so they get no gradient;
* ``update: simultaneous`` (``d_steps`` 1 only) is the released MNIST code's update instead
  (goodfeli/adversarial: ``AdversaryCost2`` under pylearn2's plain SGD): one batch of samples and one
  discriminator forward pass, dropout masks included, give both objectives, and both players' gradients
  are taken at the same parameters. The discriminator step computes the generator's gradient too and
  keeps it; the generator step that follows in the same global step applies it, so the discriminator's
  update in between does not reach it. Algorithm 1 as printed (``alternating``, the default) gives
  the generator a fresh batch of noise and the just-updated discriminator.
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

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.gan_losses import InstanceNoise, check_loss_kind, discriminator_loss, frozen, generator_loss
from genzoo.nn.monitors import collapse_flag, diversity
from genzoo.nn.pixels import to_signed

NOISE_KINDS = ("uniform", "gaussian")
UPDATE_KINDS = ("alternating", "simultaneous")


@dataclass
class AdversarialConfig:
    """Config fields every GAN shares, declared once (subclass configs add their networks' fields)."""

    latent_dim: int = ranged(100, AT_LEAST_1)
    noise: Literal["uniform", "gaussian"] = "uniform"  # z ~ U(-1, 1)^d (the papers) or N(0, I)
    loss: Literal["nonsaturating", "minimax"] = "nonsaturating"  # G's loss: -log D(G(z)) or log(1 - D(G(z)))
    d_steps: int = ranged(1, AT_LEAST_1)  # discriminator steps per generator step (Algorithm 1's k)
    # alternating: G's step sees fresh noise and the updated D (Algorithm 1); simultaneous: both gradients
    # from one forward pass at the same parameters (the released MNIST code), d_steps 1 only
    update: Literal["alternating", "simultaneous"] = "alternating"
    real_label: float = 1.0  # < 1: one-sided label smoothing of the real target (0.9 is usual)
    instance_noise: float = ranged(0.0, NON_NEGATIVE)  # initial std of Gaussian noise on D's inputs (its pixel range)
    instance_noise_steps: int = ranged(10000, NON_NEGATIVE)  # steps over which it anneals linearly to 0


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
        if config.d_steps < 1:
            raise ValueError(f"d_steps (discriminator steps per generator step) must be >= 1, got {config.d_steps}")
        if not 0.0 < config.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {config.real_label}")
        if config.update not in UPDATE_KINDS:
            raise ValueError(f"update must be one of {UPDATE_KINDS}, got {config.update!r}")
        if config.update == "simultaneous" and config.d_steps != 1:
            raise ValueError(
                f"update: simultaneous takes one discriminator step per generator step, not d_steps {config.d_steps}"
            )
        self.latent_dim = int(config.latent_dim)
        self.instance_noise = InstanceNoise(config.instance_noise, config.instance_noise_steps)
        # update: simultaneous: the generator's gradients and logged scalars, from this step's D pass
        self._pending_generator_step: tuple[list[Tensor], dict[str, Tensor]] | None = None

    def condition_keys(self) -> tuple[str, ...]:
        return ("label",) if self.conditional else ()

    # ----- data range ------------------------------------------------------------------------------
    def to_net(self, x: Tensor) -> Tensor:
        """Data in [0, 1] -> the networks' pixel range."""
        return to_signed(x) if self.pixel_range == "pm1" else x

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

    def decode(self, z: Tensor, condition: Any = None) -> Tensor:
        """Latents ``(N, latent_dim)`` (+ ``{"label": (N,)}`` for conditional models) -> images in [0, 1]."""
        z = z.to(self.device, torch.float32)
        labels = self.check_condition(len(z), condition).get("label")
        return self.from_net(self.generate(z, labels))

    # ----- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images in [0, 1]; conditional models take ``{"label": (n,) or one label}``."""
        labels = self.check_condition(n, condition).get("label")
        z = self.sample_latent(n, generator)
        return self.from_net(self.generate(z, labels))

    # ----- training --------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "discriminator": [p for p in self.discriminator.parameters() if p.requires_grad],
            "generator": [p for p in self.generator.parameters() if p.requires_grad],
        }

    def update_schedule(self, step: int) -> list[str]:
        """Discriminator every step, generator every ``k``-th step (after the ``k``-th D step)."""
        k = self.config.d_steps
        return ["discriminator", "generator"] if (step + 1) % k == 0 else ["discriminator"]

    def _fake_labels(self, batch: Batch, n: int) -> Tensor | None:
        """Labels to condition generated samples on: the batch's own labels (cGAN)."""
        if not self.conditional:
            return None
        return self.batch_condition(batch)["label"]

    def _before_step(self, x: Tensor) -> None:
        """Hook run at the start of every training step (data-dependent init, weight constraints)."""

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"].to(self.device)
        self._before_step(x)
        n = len(x)
        labels = batch.get("label")
        labels = labels.to(self.device) if labels is not None else None
        fake_labels = self._fake_labels(batch, n)
        sigma = self.instance_noise.level(step)
        simultaneous = self.config.update == "simultaneous"

        def noisy(t: Tensor) -> Tensor:
            return t + sigma * torch.randn_like(t) if sigma > 0 else t

        if group == "discriminator":
            self._pending_generator_step = None
            with torch.set_grad_enabled(simultaneous):
                fake = self.generate(self.sample_latent(n), fake_labels)
            # D's loss sees the samples as constants; in a simultaneous step their gradient is taken separately
            fake_in = fake.detach().requires_grad_(simultaneous)
            real = self.to_net(x)
            real_logits, real_cls = self.discriminate(noisy(real), labels)
            fake_logits, fake_cls = self.discriminate(noisy(fake_in), fake_labels)
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
            if simultaneous:
                g_out = self._generator_objective(fake_logits, fake_cls, fake_labels, fake, x, step)
                (d_fake_in,) = torch.autograd.grad(g_out["loss"], fake_in, retain_graph=True)
                params = self.parameter_groups()["generator"]
                grads = torch.autograd.grad(fake, params, d_fake_in, allow_unused=True)
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
                self._pending_generator_step = (grads, {k: v.detach() for k, v in g_out.items()})
            return out
        if group == "generator":
            if simultaneous:
                return self._apply_pending_generator_step()
            fake = self.generate(self.sample_latent(n), fake_labels)
            with frozen(self.discriminator):
                fake_logits, fake_cls = self.discriminate(noisy(fake), fake_labels)
            return self._generator_objective(fake_logits, fake_cls, fake_labels, fake, x, step)
        raise ValueError(f"unknown parameter group {group!r}; groups are discriminator, generator")

    def _generator_objective(
        self, fake_logits: Tensor, fake_cls: Tensor | None, fake_labels: Tensor | None, fake: Tensor, x: Tensor,
        step: int,
    ) -> dict[str, Tensor]:
        """The generator's loss on D's logits for its samples (``loss``) and its logged scalars."""
        g_loss = generator_loss(fake_logits, self.config.loss)
        out = self._extra_g_loss(fake_cls, fake_labels)
        loss = g_loss + out.pop("aux_loss", torch.zeros((), device=x.device))
        # divergence: -log D(G(z)) > 10 nats (D rejects every sample) whichever loss is optimised
        ns = float(F.softplus(-fake_logits.detach()).mean())
        out.update(
            loss=loss,
            g_loss=g_loss.detach(),
            d_fake_g=torch.sigmoid(fake_logits.detach()).mean(),
            diverged=torch.tensor(1.0 if not torch.isfinite(g_loss) or ns > 10.0 else 0.0),
        )
        # a logged statistic, not a loss: measured on every 10th step only (the engine averages each
        # key over the steps that report it, so the logged mean has the same expectation)
        if step % 10 == 0:
            out["diversity"] = torch.tensor(diversity(fake.detach(), self.to_net(x)))
        return out

    def _apply_pending_generator_step(self) -> dict[str, Tensor]:
        """``update: simultaneous``: a loss whose value is the generator's loss from this step's
        discriminator pass and whose gradient is the gradient kept from it."""
        if self._pending_generator_step is None:
            raise RuntimeError("update: simultaneous: the generator step must follow a discriminator step")
        grads, out = self._pending_generator_step
        self._pending_generator_step = None
        params = self.parameter_groups()["generator"]
        linear = sum((p * g).sum() for p, g in zip(params, grads))
        out["loss"] = out["loss"].detach() + linear - linear.detach()
        return out

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
