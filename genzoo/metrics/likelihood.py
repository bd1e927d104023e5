"""Likelihood bookkeeping: nats <-> bits/dim, log-mean-exp, importance-weighted bounds.

Units
-----
Every genzoo likelihood is the log-probability of the *discrete* image (``levels`` values per
dimension, see :class:`genzoo.models.base.GenerativeModel`). For an image with ``D`` dimensions and
negative log-likelihood ``nll`` in nats,

    bits/dim = nll / (D ln 2)                                                  (1)

(the convention of Theis et al. 2016, "A note on the evaluation of generative models", Sec. 3.1, and
of PixelRNN, van den Oord et al. 2016). A model that is uniform over 256 levels has
``nll = D ln 256`` and so exactly 8 bits/dim.

A *density* ``p`` on images scaled to ``[0, 1]`` (uniformly dequantized data, bins of width
``1/levels``) relates to the discrete probability of the bin through

    -log P(bin) <= -E_u[log p(x + u)] + D ln(levels)                           (2)

(Theis et al. 2016, Eq. 9 with bin volume ``levels**-D``); :func:`density_nll_to_discrete` adds
that term, so dequantized flows report the same unit as discrete models.

Importance weighting
--------------------
For a latent-variable model with ``k`` importance weights ``log w_i = log p(x, z_i) - log q(z_i|x)``,
``z_i ~ q(z|x)``, the bound of Burda et al. 2016 ("Importance Weighted Autoencoders", Eq. 8) is

    L_k(x) = log (1/k) sum_i w_i = logmeanexp_i(log w_i)  <=  log p(x),        (3)

``L_1`` being the ELBO; :func:`iw_bound` computes it stably via log-sum-exp.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
from scipy.special import logsumexp as _np_logsumexp
from torch import Tensor

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray, float)

LN2 = math.log(2.0)

__all__ = [
    "bits_per_dim_to_nats",
    "density_nll_to_discrete",
    "iw_bound",
    "log_prob_to_bits_per_dim",
    "logmeanexp",
    "mean_and_stderr",
    "nats_to_bits_per_dim",
]


def _check_dims(dims: int) -> None:
    if dims <= 0:
        raise ValueError(f"dims must be positive, got {dims}")


def nats_to_bits_per_dim(nll_nats: ArrayT, dims: int) -> ArrayT:
    """Negative log-likelihood in nats (per image) -> bits per dimension, Eq. (1): ``nll / (D ln 2)``."""
    _check_dims(dims)
    if isinstance(nll_nats, (Tensor, np.ndarray)):
        return nll_nats / (dims * LN2)
    return float(nll_nats) / (dims * LN2)  # type: ignore[return-value]


def bits_per_dim_to_nats(bpd: ArrayT, dims: int) -> ArrayT:
    """Inverse of :func:`nats_to_bits_per_dim`: ``bpd * D ln 2`` nats per image."""
    _check_dims(dims)
    if isinstance(bpd, (Tensor, np.ndarray)):
        return bpd * (dims * LN2)
    return float(bpd) * (dims * LN2)  # type: ignore[return-value]


def log_prob_to_bits_per_dim(log_prob: ArrayT, dims: int) -> ArrayT:
    """``log_prob(x)`` (nats, as returned by models) -> bits/dim ``-log_prob / (D ln 2)``."""
    return nats_to_bits_per_dim(-log_prob, dims)  # type: ignore[operator]


def density_nll_to_discrete(nll_density: ArrayT, dims: int, levels: int) -> ArrayT:
    """Dequantized density NLL on ``[0, 1]``-scaled data -> discrete NLL bound in nats, Eq. (2).

    Adds ``D ln(levels)``: the log-volume of one bin of width ``1/levels`` per dimension.
    """
    _check_dims(dims)
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    shift = dims * math.log(levels)
    if isinstance(nll_density, (Tensor, np.ndarray)):
        return nll_density + shift
    return float(nll_density) + shift  # type: ignore[return-value]


def logmeanexp(x: ArrayT, dim: int = 0) -> ArrayT:
    """``log mean_i exp(x_i)`` along ``dim``, stable for large magnitudes (via log-sum-exp).

    Tensors stay tensors (autograd works); arrays give arrays, computed in float64.
    """
    if isinstance(x, Tensor):
        n = x.shape[dim]
        if n == 0:
            raise ValueError("logmeanexp of an empty dimension")
        return torch.logsumexp(x, dim=dim) - math.log(n)
    arr = np.asarray(x, dtype=np.float64)
    n = arr.shape[dim]
    if n == 0:
        raise ValueError("logmeanexp of an empty dimension")
    return _np_logsumexp(arr, axis=dim) - math.log(n)  # type: ignore[return-value]


def iw_bound(log_weights: ArrayT) -> ArrayT:
    """Importance-weighted bound, Eq. (3): ``log_weights`` of shape ``(k, N)`` -> ``(N,)`` nats.

    ``log_weights[i, n] = log p(x_n, z_i) - log q(z_i | x_n)``; with ``k = 1`` this is the ELBO.
    """
    if log_weights.ndim != 2:  # type: ignore[union-attr]
        raise ValueError(f"log_weights must have shape (k, N), got {tuple(log_weights.shape)}")  # type: ignore[union-attr]
    return logmeanexp(log_weights, dim=0)


def mean_and_stderr(values: Tensor | np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean (``std(ddof=1) / sqrt(n)``; 0 for one value)."""
    arr = values.detach().double().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values, float)
    arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError("mean_and_stderr of no values")
    if arr.size == 1:
        return float(arr[0]), 0.0
    return float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size))
