"""DGN-AM: activation maximisation through a deep generator network (Nguyen et al. 2016b, "Synthesizing
the preferred inputs for neurons in neural networks via deep generator networks", Sec. 2.3).

The generator G inverts a classifier's features (:mod:`genzoo.models.guided.base`, after Dosovitskiy &
Brox 2016). To make an image of class ``c``, the code ``h`` is optimised to maximise the *pre-softmax*
activation of unit ``c`` of the condition network C:

    h* = argmax_h  C_c(G(h)) - lambda ||h||^2

by gradient ascent with the step normalised by the gradient's mean magnitude (as in the authors' code,
so the step size is comparable across units and networks), an L2 decay of the code, and the code
clipped after every step to the per-unit range seen on real data:

    g = d C_c(G(h)) / dh;   h <- h + lr g / mean|g|;   h <- (1 - decay) h;   h <- clip(h, [min, max])

Nothing in the update is random: different images of one class come only from different starting
codes (drawn from a Gaussian fitted to the real codes), which is why DGN-AM's samples of a class tend
to look alike (the diversity PPGN adds, Nguyen et al. 2016a, Sec. 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genzoo.core import ConfigError
from genzoo.models.guided.base import GuidedConfig, GuidedGenerator
from genzoo.registry import register_model


@dataclass
class DGNAMConfig(GuidedConfig):
    lr: float = 0.5  # step size of the normalised ascent step
    decay: float = 0.01  # L2 decay: h <- (1 - decay) h after each step


@register_model("dgn-am")
class DGNAM(GuidedGenerator):
    """DGN-AM (Nguyen et al. 2016b): activation maximisation of a class unit in a feature-inverting generator's code."""

    Config = DGNAMConfig
    SAMPLER_FIELDS = (*GuidedGenerator.SAMPLER_FIELDS, "lr", "decay")

    def _validate_sampler(self, cfg: GuidedConfig) -> None:
        super()._validate_sampler(cfg)
        if cfg.lr <= 0 or not 0 <= cfg.decay < 1:  # type: ignore[attr-defined]
            raise ConfigError(f"model.lr must be > 0 and model.decay in [0, 1), got {cfg.lr}, {cfg.decay}")  # type: ignore[attr-defined]

    def chain_step(self, h: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """Normalised ascent on the class logit with L2 decay, clipped to the real codes' range."""
        cfg = self.config
        g, _ = self.condition_gradient(h, labels, "logit")
        step = cfg.lr * g / g.abs().mean(1, keepdim=True).clamp_min(1e-12)
        return self.clip((h + step) * (1 - cfg.decay)).detach()
