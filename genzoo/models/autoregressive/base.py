"""What every autoregressive image model over raster-ordered sub-pixels shares (PixelCNN, PixelRNN).

The joint distribution is the product of the sub-pixel conditionals in raster order, R -> G -> B within a
pixel (van den Oord et al. 2016, Eq. 1-2). A subclass implements :meth:`RasterModel.network`, the whole
image's raw outputs in one pass (masked so that each position sees only earlier sub-pixels), and its fast
samplers; this base class gives the exact likelihood, the maximum-likelihood training step, the guards on
shape and levels, and the reference sampler: one uniform per sub-pixel drawn up front from the generator
and used by inverse CDF (:func:`genzoo.nn.discrete.sample_from_uniforms`), so every sampler that consumes
the same uniforms in the same order draws the same image.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genzoo.core import Batch, DataInfo
from genzoo.core.errors import UsageError
from genzoo.models.base import GenerativeModel
from genzoo.nn.discrete import discrete_log_prob, output_channels, sample_from_uniforms, split_logits


class RasterModel(GenerativeModel):
    """Base of the raster-order autoregressive models; ``C, H, W`` are the image's shape, ``levels`` the
    number of values per sub-pixel, ``out_ch`` the network's raw output channels."""

    #: sampling methods a subclass offers besides ``"naive"`` (the reference)
    fast_methods: tuple[str, ...] = ()

    def __init__(self, config: Any, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 3:
            raise ValueError(f"{type(self).__name__} models images (C, H, W), got shape {data_info.shape}")
        if data_info.levels < 2:
            raise ValueError(f"levels must be >= 2, got {data_info.levels}")
        self.C, self.H, self.W = (int(s) for s in data_info.shape)
        self.levels = int(data_info.levels)
        self.out_ch = output_channels(self.C, self.levels)

    # ----- to implement ----------------------------------------------------------------------------
    def network(self, x: Tensor, condition: dict[str, Any]) -> Tensor:
        """Raw outputs ``(N, out_ch, H, W)`` for images ``x``; position ``(c, i, j)`` sees only earlier
        sub-pixels (and the checked conditions)."""
        raise NotImplementedError

    # ----- likelihood and training -----------------------------------------------------------------
    def logits(self, x: Tensor, condition: Any = None) -> Tensor:
        """Logits of every conditional, in the layout of :func:`genzoo.nn.discrete.discrete_log_prob`."""
        return split_logits(self.network(x, self.check_condition(x.shape[0], condition)), self.C, self.levels)

    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor:
        """Exact ``log p(x | condition)`` (nats, ``(N,)``) of the discrete images (PixelRNN Eq. 1-2)."""
        return discrete_log_prob(self.logits(x, condition), x, self.levels)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        """Mean negative log-likelihood per image (nats); bits/dim logged too."""
        nll = -self.log_prob(batch["x"], self.batch_condition(batch) or None).mean()
        return {"loss": nll, "nll": nll.detach(), "bits_per_dim": nll.detach() / (self.data_info.dims * math.log(2))}

    # ----- sampling --------------------------------------------------------------------------------
    def subpixel_logits(self, out: Tensor, c: int) -> Tensor:
        """Logits of colour ``c`` from the raw output vector ``(N, out_ch)`` of one position."""
        if self.levels == 2:
            return out[:, c]
        return out.reshape(out.shape[0], self.levels, self.C)[:, :, c]

    def draw_uniforms(self, n: int, generator: torch.Generator | None) -> Tensor:
        """The ``(n, C, H, W)`` uniforms every sampler consumes, drawn on the generator's device."""
        gdev = generator.device if generator is not None else self.device
        return torch.rand(n, self.C, self.H, self.W, generator=generator, device=gdev).to(self.device)

    def check_method(self, method: str) -> None:
        methods = (*self.fast_methods, "naive")
        if method not in methods:
            raise UsageError(f"method must be one of {', '.join(map(repr, methods))}, got {method!r}")

    def sample_naive(self, u: Tensor, condition: dict[str, Any], rows: int | None = None) -> Tensor:
        """The reference sampler: the whole network for every sub-pixel, in raster / R->G->B order (the
        first ``rows`` rows only, when given; the rest stay 0)."""
        x = torch.zeros_like(u)
        for i in range(self.H if rows is None else min(rows, self.H)):
            for j in range(self.W):
                for c in range(self.C):
                    out = self.network(x, condition)[:, :, i, j]
                    x[:, c, i, j] = sample_from_uniforms(self.subpixel_logits(out, c), u[:, c, i, j], self.levels)
        return x
