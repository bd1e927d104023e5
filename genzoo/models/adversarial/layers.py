"""Layers and initialisers of the MLP GANs (Goodfellow et al. 2014; Mirza & Osindero 2014): maxout units,
pylearn2-style initialisation and the max-norm constraint."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): ``max_j (W_j x + b_j)`` over ``pieces`` linear pieces."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(len(x), self.units, self.pieces).amax(-1)


def activation(name: str) -> nn.Module:
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


