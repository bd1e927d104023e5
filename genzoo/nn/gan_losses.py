"""Adversarial losses and the usual GAN stabilisers, shared by every GAN in genzoo.

All losses take discriminator *logits* ``l`` (``D(x) = sigmoid(l)``) and are computed with
``softplus`` so they stay finite where ``D`` saturates: ``-log D = softplus(-l)`` and
``-log(1 - D) = softplus(l)``.

Value function of Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014), Eq. 1::

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

* :func:`discriminator_loss` is ``-V`` (binary cross-entropy, real -> 1, fake -> 0), with optional
  one-sided label smoothing (Salimans et al. 2016, Sec. 3.4: the real target becomes e.g. 0.9, the
  fake target stays 0).
* :func:`generator_loss` with ``kind="minimax"`` is the generator's side of Eq. 1,
  ``E_z[log(1 - D(G(z)))]`` (minimised); with ``kind="nonsaturating"`` it is ``-E_z[log D(G(z))]``,
  the variant the paper recommends in practice (Sec. 3: "rather than training G to minimize
  log(1 - D(G(z))) we can train G to maximize log D(G(z))"), which has strong gradients early on.
* :class:`InstanceNoise` adds Gaussian noise to everything the discriminator sees, with a standard
  deviation annealed linearly to zero (Sønderby et al. 2017, "Amortised MAP inference for image
  super-resolution", Sec. 3.2; Arjovsky & Bottou 2017), so the real and fake distributions overlap
  early in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GENERATOR_LOSSES = ("nonsaturating", "minimax")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    """``-E[log D(x)] - E[log(1 - D(G(z)))]`` (minus Eq. 1 of Goodfellow et al. 2014).

    ``real_label < 1`` is one-sided label smoothing: the real term becomes the cross-entropy
    against the target ``real_label``; fake targets stay exactly 0 (smoothing them too would let
    fake samples keep a non-zero optimal ``D`` and is what the "one-sided" avoids).
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.softplus(fake_logits).mean()  # -log(1 - sigmoid(l))
    return real + fake


def generator_loss(fake_logits: Tensor, kind: str = "nonsaturating") -> Tensor:
    """Generator loss on ``D``'s logits for generated samples.

    ``"minimax"``: ``E[log(1 - D(G(z)))]`` (Eq. 1, minimised by G; saturates when D wins).
    ``"nonsaturating"``: ``-E[log D(G(z))]`` (same fixed point, strong early gradients; Sec. 3).
    """
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()  # -log sigmoid(l)
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")


def check_loss_kind(kind: str) -> str:
    if kind not in GENERATOR_LOSSES:
        raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")
    return kind


class InstanceNoise:
    """Gaussian instance noise on discriminator inputs, annealed linearly from ``sigma`` to 0.

    ``sigma`` is in the discriminator's input units (``[-1, 1]`` images for DCGAN/AC-GAN, ``[0, 1]``
    for the MLP GANs); the noise is off once ``step >= anneal_steps`` (and always when
    ``sigma == 0``). The same noise level is applied to real and fake inputs.
    """

    def __init__(self, sigma: float = 0.0, anneal_steps: int = 10000) -> None:
        if sigma < 0:
            raise ValueError(f"instance noise sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)
        self.anneal_steps = max(int(anneal_steps), 1)

    def level(self, step: int) -> float:
        if self.sigma == 0.0:
            return 0.0
        return self.sigma * max(0.0, 1.0 - step / self.anneal_steps)

    def __call__(self, x: Tensor, step: int) -> Tensor:
        s = self.level(step)
        return x if s == 0.0 else x + s * torch.randn_like(x)


class frozen:
    """Context manager: ``requires_grad=False`` on a module's parameters while the graph is built.

    Used in a generator step so the discriminator's weights get no gradient at all (the graph built
    inside the block does not track them), then restores the previous flags.
    """

    def __init__(self, module: nn.Module) -> None:
        self.params = list(module.parameters())
        self.flags: list[bool] = []

    def __enter__(self) -> None:
        self.flags = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for p, f in zip(self.params, self.flags):
            p.requires_grad_(f)
