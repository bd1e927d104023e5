"""Output heads and exact likelihoods of discrete pixels (Bernoulli / ``levels``-way softmax).

Pixel values ``x`` in ``[0, 1]`` lie on the grid ``k / (levels - 1)``; :func:`to_codes` turns them into
the integer codes ``k = round(x * (levels - 1))``.

* ``levels == 2`` (binary data): ``logits`` has the shape of ``x`` and
  ``p(x = 1) = sigmoid(logits)`` (Bernoulli; NADE, Larochelle & Murray 2011, Eq. 2).
* ``levels > 2`` (e.g. 8-bit data): ``logits`` has shape ``(N, levels, C, H, W)``, a categorical
  distribution over the ``levels`` values of every sub-pixel (the 256-way softmax of PixelRNN,
  van den Oord et al. 2016, Sec. 5.3). :func:`split_logits` reshapes a network output with
  ``levels * C`` channels into that shape so that the logits of colour ``c`` sit in channels
  ``l * C + c``, i.e. in channel group ``c`` of :mod:`genzoo.nn.masked`.

Sampling is done by inverse CDF from uniforms (:func:`sample_from_uniforms`), so a sampler that
pre-draws the uniforms of every sub-pixel consumes exactly the same randomness whatever order it
evaluates the network in; this is what lets a fast cached sampler reproduce a naive one bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def to_codes(x: Tensor, levels: int) -> Tensor:
    """Integer codes ``round(x * (levels - 1))`` (int64) of values ``x`` in ``[0, 1]``."""
    return torch.round(x * (levels - 1)).long().clamp_(0, levels - 1)


def output_channels(data_channels: int, levels: int) -> int:
    """Channels a network must output for :func:`split_logits`: ``C`` (binary) or ``levels * C``."""
    return data_channels if levels == 2 else levels * data_channels


def split_logits(out: Tensor, data_channels: int, levels: int) -> Tensor:
    """Network output ``(N, output_channels, H, W)`` -> logits in the layout of :func:`discrete_log_prob`."""
    if levels == 2:
        return out
    n, _, h, w = out.shape
    return out.reshape(n, levels, data_channels, h, w)


def discrete_log_prob(logits: Tensor, x: Tensor, levels: int) -> Tensor:
    """Log-probability in nats of each image: ``sum_i log p(x_i)``, shape ``(N,)``.

    ``levels == 2``: Bernoulli with ``logits`` shaped like ``x``; ``levels > 2``: categorical with
    ``logits`` of shape ``(N, levels, *x.shape[1:])``.
    """
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    if levels == 2:
        if logits.shape != x.shape:
            raise ValueError(
                f"Bernoulli logits must have the shape of x {tuple(x.shape)}, got {tuple(logits.shape)}"
            )
        target = to_codes(x, 2).to(logits.dtype)
        lp = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        if logits.shape[0] != x.shape[0] or logits.shape[1] != levels or logits.shape[2:] != x.shape[1:]:
            raise ValueError(
                f"categorical logits must have shape (N, {levels}, *x.shape[1:]) = "
                f"{(x.shape[0], levels, *x.shape[1:])}, got {tuple(logits.shape)}"
            )
        codes = to_codes(x, levels).unsqueeze(1)
        lp = torch.gather(F.log_softmax(logits, dim=1), 1, codes).squeeze(1)
    return lp.reshape(lp.shape[0], -1).sum(dim=1)


def sample_from_uniforms(logits: Tensor, u: Tensor, levels: int) -> Tensor:
    """Inverse-CDF sample, values in ``[0, 1]``; ``u`` uniforms in ``[0, 1)`` with the shape of the sample.

    ``levels == 2``: ``x = 1[u < sigmoid(logits)]``. ``levels > 2``: the smallest code ``k`` whose
    cumulative probability exceeds ``u`` (``logits`` of shape ``(N, levels, ...)``).
    """
    if levels == 2:
        return (u < torch.sigmoid(logits)).to(logits.dtype)
    cdf = torch.cumsum(torch.softmax(logits, dim=1), dim=1)
    k = (cdf < u.unsqueeze(1)).sum(dim=1).clamp_(max=levels - 1)
    return k.to(logits.dtype) / (levels - 1)


def discrete_sample(logits: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Sample ``x`` in ``[0, 1]`` from the distribution of :func:`discrete_log_prob` (all randomness from
    ``generator``)."""
    shape = logits.shape if levels == 2 else logits.shape[:1] + logits.shape[2:]
    u = torch.rand(shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return sample_from_uniforms(logits, u, levels)
