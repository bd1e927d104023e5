"""Dropout (Srivastava et al. 2014) with a cheap mask for the common rate 0.5.

``torch.nn.functional.dropout`` draws one Bernoulli variate per element from the CPU generator,
which costs about as much as a convolution layer of AC-GAN's discriminator (measured: ~30 ms for a
64 x 128 x 14 x 14 activation on one core). At ``p = 0.5`` every bit of a uniform random byte is an
independent fair coin, so :class:`Dropout` draws one random byte per 8 elements and unpacks its bits:
the mask has exactly the same distribution (independent Bernoulli(0.5) per element, kept units scaled
by 2) at about a fifth of the cost. Other rates use ``torch.nn.functional.dropout``. Randomness comes
from torch's global generator, as for ``nn.Dropout``, so the engine's seeding makes runs repeatable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_SHIFTS = torch.arange(8, dtype=torch.uint8)


def half_dropout_mask(shape: torch.Size | tuple[int, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    """A ``{0, 2}`` mask of ``shape``: independent fair coins from the bits of random bytes, times 2."""
    n = 1
    for s in shape:
        n *= s
    raw = torch.randint(0, 256, ((n + 7) // 8, 1), dtype=torch.uint8, device=device)
    bits = (raw >> _SHIFTS.to(device)).bitwise_and_(1).view(-1)[:n]
    return bits.view(shape).to(dtype).mul_(2.0)


class Dropout(nn.Module):
    """``nn.Dropout`` with the bit-unpacking mask at ``p = 0.5`` (same distribution, cheaper)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 0.5:
            return x * half_dropout_mask(x.shape, x.device, x.dtype)
        return F.dropout(x, self.p, True)

    def extra_repr(self) -> str:
        return f"p={self.p}"
