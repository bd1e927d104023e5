"""Plug & Play Generative Networks, PPGN-h (Nguyen et al. 2016a, "Plug & Play Generative Networks:
Conditional Iterative Generation of Images in Latent Space", Sec. 2 and 3.2).

The generator G is the feature inverter of :mod:`genzoo.models.guided.base`. A denoising autoencoder R
models the prior over codes p(h) (PPGN-h, Sec. 3.2): trained to reconstruct real codes from
``h + N(0, dae_noise^2)``, its residual ``R(h) - h`` estimates ``sigma^2 d log p(h) / dh`` (Alain &
Bengio 2014). Sampling is the approximate Metropolis-adjusted Langevin chain of the PPGN-h update:

    h_{t+1} = h_t + eps1 (R(h_t) - h_t) + eps2 d log p(y = c | G(h_t)) / dh_t + N(0, eps3^2)

(the three terms: stay near real codes, move towards class ``c`` under the condition network C, and
noise), with the code clipped to the range seen on real data after each step, as DGN-AM does. With
``eps1 = eps3 = 0`` it is DGN-AM's ascent on the log-probability instead of the logit. The paper's
ImageNet settings (eps1 = 1e-5, eps2 = 1, eps3 = 1e-17 with fc6 codes of magnitude ~10-100) do not
transfer to genzoo's normalised 128-d codes; the defaults here were chosen on the 8x8 digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, ConfigError
from genzoo.models.guided.base import GuidedConfig, GuidedGenerator, _mlp
from genzoo.registry import register_model


@dataclass
class PPGNConfig(GuidedConfig):
    dae_hidden: list[int] = field(default_factory=lambda: [256, 256])  # the DAE on h
    dae_noise: float = 0.3  # std of the Gaussian corruption of h in the DAE's training
    eps1: float = 0.1  # weight of the prior term R(h) - h
    eps2: float = 1.0  # weight of the condition gradient d log p(y|G(h)) / dh
    eps3: float = 0.15  # std of the noise added each step


@register_model("ppgn")
class PPGN(GuidedGenerator):
    """PPGN-h (Nguyen et al. 2016a): a DAE prior on h + a pluggable condition network, sampled by Langevin steps."""

    Config = PPGNConfig
    SAMPLER_FIELDS = (*GuidedGenerator.SAMPLER_FIELDS, "eps1", "eps2", "eps3")

    def __init__(self, config: PPGNConfig, data_info) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, data_info)
        self.dae = _mlp([self.code_dim, *config.dae_hidden, self.code_dim])

    def _validate_sampler(self, cfg: GuidedConfig) -> None:
        super()._validate_sampler(cfg)
        eps = (cfg.eps1, cfg.eps2, cfg.eps3)  # type: ignore[attr-defined]
        if min(eps) < 0:
            raise ConfigError(f"model.eps1, eps2 and eps3 must be >= 0, got {eps}")

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {**super().parameter_groups(), "prior": list(self.dae.parameters())}

    def update_schedule(self, step: int) -> list[str]:
        return ["discriminator", "generator", "prior"]

    def extra_training_step(self, batch: Batch, h: Tensor, group: str) -> dict[str, Tensor]:
        if group != "prior":
            raise KeyError(group)
        noisy = h + self.config.dae_noise * torch.randn_like(h)
        loss = F.mse_loss(self.dae(noisy), h)
        return {"loss": loss}

    def chain_step(self, h: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """The PPGN-h update of the module docstring, clipped to the real codes' range."""
        cfg = self.config
        g, _ = self.condition_gradient(h, labels, "log_prob")
        with torch.no_grad():
            prior = self.dae(h) - h
            noise = torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
            return self.clip(h + cfg.eps1 * prior + cfg.eps2 * g + cfg.eps3 * noise)
