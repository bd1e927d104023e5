"""pix2pix: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial Networks"
(CVPR 2017, arXiv:1611.07004).

A generator ``G`` maps a source image ``x`` (the ``source`` condition: edges, a label map, a grey image)
to a target ``y``; a discriminator ``D`` judges (input, output) pairs patch by patch. The objective
(Eq. 4) is

    G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G),        lambda = 100
    L_cGAN = E_{x,y}[log D(x, y)] + E_{x,z}[log(1 - D(x, G(x, z)))]          (Eq. 1)
    L_L1   = E_{x,y,z}[ ||y - G(x, z)||_1 ]                                    (Eq. 3)

with the unconditional ``L_GAN`` of Eq. 2 (``D`` sees ``y`` alone) as the paper's ablation. ``objective``
picks a row of Table 1: ``l1``, ``gan``, ``cgan``, ``l1+gan`` or ``l1+cgan`` (the paper's model).

* ``G``: the U-Net of :mod:`genzoo.nn.unet` (skips, ``depth`` halvings; 0 = down to a 1x1 bottleneck,
  8 levels for 256x256 as in the paper), tanh output in ``[-1, 1]``; ``z`` is dropout (0.5 in the first
  three decoder layers), applied at training and test time (Sec. 3.2: "we provide noise only in the form
  of dropout ... at both training and test time").
* ``D``: the PatchGAN of :mod:`genzoo.nn.patchgan` with receptive field ``patch`` (70 by default, the
  paper's choice for 256x256 inputs; for the 28x28 and 32x32 tasks the configs take 16, about the same
  fraction of the image). The layer count follows from ``patch`` (70 -> 3 stride-2 layers).
* Optimisation (Sec. 3.3): one ``D`` step then one ``G`` step per minibatch, ``D``'s objective divided by
  2, ``G`` trained to maximise ``log D(x, G(x, z))`` (the non-saturating loss), Adam lr 2e-4,
  betas (0.5, 0.999); weights N(0, 0.02). The L1 term is taken on the ``[-1, 1]`` images, as the
  released code does (so lambda = 100 weighs the same as there).
* Test time: dropout stays on and BatchNorm uses the statistics of the batch being translated
  (``test_dropout``, ``test_batch_stats``; both true as in the paper). Outputs therefore depend on the
  other images of the batch (as in the paper's code); a seed fixes the dropout masks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo, ImageSpec
from genzoo.core.errors import ConfigError
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, PROBABILITY, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.gan_losses import frozen
from genzoo.nn.patchgan import PatchGAN, patch_layers
from genzoo.nn.pixels import to_signed
from genzoo.nn.unet import UNet, batch_statistics, dropout_noise, init_pix2pix_, unet_depth
from genzoo.registry import register_model

OBJECTIVES = ("l1", "gan", "cgan", "l1+gan", "l1+cgan")


@dataclass
class Pix2PixConfig:
    """pix2pix settings; defaults are the paper's (256x256 facades / edges2shoes models)."""

    objective: str = "l1+cgan"  # Table 1 row: l1 | gan | cgan | l1+gan | l1+cgan
    l1_weight: float = 100.0  # lambda of Eq. 4
    depth: int = 0  # U-Net halvings; 0 = down to a 1x1 bottleneck (8 for 256x256)
    g_features: int = ranged(64, AT_LEAST_1)  # U-Net width of the first layer (C64)
    d_features: int = ranged(64, AT_LEAST_1)  # PatchGAN width of the first layer (C64)
    max_features: int = 512  # width cap (C512) of both nets
    dropout: float = ranged(0.5, PROBABILITY)  # the noise z: dropout rate in the first decoder layers
    dropout_layers: int = 3  # decoder layers with dropout (CD512 x 3)
    patch: int = 70  # PatchGAN receptive field in pixels: 1, 16, 34, 70, 142, 286, ...
    test_dropout: bool = True  # keep dropout on when sampling (Sec. 3.2)
    test_batch_stats: bool = True  # BatchNorm with the test batch's statistics (Sec. 3.3)
    init_std: float = ranged(0.02, NON_NEGATIVE)


@register_model("pix2pix")
class Pix2Pix(GenerativeModel):
    """pix2pix (Isola et al. 2017): U-Net + PatchGAN, cGAN + lambda L1 (Eq. 4); takes condition ``source``."""

    Config = Pix2PixConfig

    def __init__(self, config: Pix2PixConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.objective not in OBJECTIVES:
            raise ConfigError(f"model.objective must be one of {', '.join(OBJECTIVES)}, got {config.objective!r}")
        if config.l1_weight < 0:
            raise ConfigError(f"model.l1_weight must be >= 0, got {config.l1_weight}")
        try:
            patch_layers(int(config.patch))
        except ValueError as e:
            raise ConfigError(f"model.patch: {e}") from None
        spec = self.condition_specs()["source"]
        if not isinstance(spec, ImageSpec) or len(spec.shape) != 3:
            raise ConfigError(f"pix2pix needs an image 'source' condition (C, H, W), the data offers {spec}")
        if len(data_info.shape) != 3:
            raise ConfigError(f"pix2pix translates images (C, H, W), the data has shape {data_info.shape}")
        c_src, h, w = spec.shape
        c_out = data_info.shape[0]
        if tuple(data_info.shape[1:]) != (h, w):
            raise ConfigError(f"source {spec.shape} and target {data_info.shape} differ in size")
        depth = int(config.depth) or unet_depth(h, w)
        self.generator = UNet(
            c_src, c_out, depth, config.g_features, config.max_features, config.dropout, config.dropout_layers,
            dropout_at_test=config.test_dropout,
        )
        self.uses_gan = config.objective != "l1"
        self.uses_l1 = config.objective.startswith("l1")
        self.conditional_d = config.objective.endswith("cgan")
        if self.uses_gan:
            d_in = c_out + (c_src if self.conditional_d else 0)
            self.discriminator = PatchGAN(d_in, int(config.patch), config.d_features, config.max_features)
            oh, ow = self.discriminator.output_size(h, w)
            if oh < 1 or ow < 1:
                raise ConfigError(
                    f"model.patch={config.patch} leaves no output on {h}x{w} images; take a smaller patch"
                )
        init_pix2pix_(self, config.init_std)

    def condition_keys(self) -> tuple[str, ...]:
        return ("source",)

    # ----- networks ----------------------------------------------------------------------------------
    @staticmethod
    def to_net(x: Tensor) -> Tensor:
        return to_signed(x)

    @staticmethod
    def from_net(x: Tensor) -> Tensor:
        return ((x + 1.0) * 0.5).clamp(0.0, 1.0)

    def discriminate(self, source: Tensor, image: Tensor) -> Tensor:
        """Patch logits of ``D`` on ``(source, image)`` (``image`` alone for the unconditional ``gan``)."""
        return self.discriminator(torch.cat([source, image], 1) if self.conditional_d else image)

    def translate(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``G(x)`` for sources in [0, 1], in [0, 1], with the paper's test-time noise and statistics."""
        g = self.generator
        stats = batch_statistics(g) if self.config.test_batch_stats else contextlib.nullcontext()
        with dropout_noise(g, generator), stats:
            return self.from_net(g(self.to_net(source.to(self.device, torch.float32))))

    # ----- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` translations of ``condition["source"]`` (images ``(n, C, H, W)`` in [0, 1])."""
        source = self.check_condition(n, condition)["source"]
        return self.translate(source, generator)

    # ----- training ----------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {}
        if self.uses_gan:
            groups["discriminator"] = [p for p in self.discriminator.parameters() if p.requires_grad]
        groups["generator"] = [p for p in self.generator.parameters() if p.requires_grad]
        return groups

    def update_schedule(self, step: int) -> list[str]:
        """One ``D`` step then one ``G`` step per minibatch (Sec. 3.3); ``G`` alone for ``l1``."""
        return ["discriminator", "generator"] if self.uses_gan else ["generator"]

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        source = self.to_net(self.batch_condition(batch)["source"])
        real = self.to_net(batch["x"].to(self.device))
        if group == "discriminator":
            with torch.no_grad():
                fake = self.generator(source)
            real_logits = self.discriminate(source, real)
            fake_logits = self.discriminate(source, fake)
            d_real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            d_fake = F.softplus(fake_logits).mean()  # -log(1 - D)
            loss = 0.5 * (d_real + d_fake)  # "we divide the objective by 2 while optimizing D"
            return {
                "loss": loss, "d_loss": loss.detach(),
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
            }
        if group == "generator":
            fake = self.generator(source)
            l1 = (fake - real).abs().mean()
            loss = self.config.l1_weight * l1 if self.uses_l1 else torch.zeros((), device=fake.device)
            out: dict[str, Tensor] = {"l1": l1.detach() / 2.0}  # logged on the [0, 1] scale
            if self.uses_gan:
                with frozen(self.discriminator):
                    logits = self.discriminate(source, fake)
                g_gan = F.softplus(-logits).mean()  # -log D(x, G(x, z)): the non-saturating loss
                loss = loss + g_gan
                out["g_gan"] = g_gan.detach()
            out["loss"] = loss
            return out
        raise ValueError(f"unknown parameter group {group!r}; groups are {', '.join(self.parameter_groups())}")
