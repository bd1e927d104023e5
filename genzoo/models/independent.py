"""Independent sub-pixels: p(x) = prod_d Categorical(x_d; softmax(theta_d)) — the trivial baseline.

Every sub-pixel has its own categorical over the dataset's levels (Bernoulli for binary data), fitted
by maximum likelihood. It is the reference point any model of pixel dependencies must beat, and, being
deterministic and exact, the engine's tests use it to check multi-process and resume semantics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import NON_NEGATIVE, ranged
from genzoo.models.base import GenerativeModel
from genzoo.registry import register_model


@dataclass
class IndependentConfig:
    init_scale: float = ranged(0.0, NON_NEGATIVE)  # std of the initial logits (0: uniform start)


@register_model("independent")
class IndependentPixels(GenerativeModel):
    """Baseline: every sub-pixel an independent categorical over the data's levels (exact likelihood)."""

    Config = IndependentConfig

    def __init__(self, config: IndependentConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        self.logits = nn.Parameter(torch.randn(data_info.levels, *data_info.shape) * config.init_scale)

    def _codes(self, x: Tensor) -> Tensor:
        return (x * (self.data_info.levels - 1)).round().long()

    def log_prob(self, x: Tensor, condition: object = None) -> Tensor:
        self.check_condition(x.shape[0], condition)
        logp = torch.log_softmax(self.logits, dim=0)  # (L, *shape)
        codes = self._codes(x).unsqueeze(1)  # (N, 1, *shape)
        picked = logp.unsqueeze(0).expand(len(x), *logp.shape).gather(1, codes).squeeze(1)
        return picked.flatten(1).sum(-1)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        nll = -self.log_prob(batch["x"]).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.data_info.dims * math.log(2))}

    def sample(self, n: int, condition: object = None, generator: torch.Generator | None = None) -> Tensor:
        self.check_condition(n, condition)
        probs = torch.softmax(self.logits, dim=0).movedim(0, -1).reshape(-1, self.data_info.levels)
        codes = torch.multinomial(probs, n, replacement=True, generator=generator).T  # (n, D)
        return codes.reshape(n, *self.data_info.shape).float() / (self.data_info.levels - 1)
