"""Maximum mean discrepancy: kernels and the biased / unbiased MMD² estimators.

Shared by the moment-matching networks (GMMN, :mod:`genzoo.models.moment_matching.gmmn`) and the kernel inception
distance (KID). All functions are plain differentiable torch, so the same code is a training loss and
a metric.

Definitions (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR 13):
for samples ``X = {x_i}_{i=1..n} ~ P``, ``Y = {y_j}_{j=1..m} ~ Q`` and a kernel ``k``,

    MMD²_b = 1/n²      sum_{i,i'}       k(x_i, x_i') + 1/m² sum_{j,j'} k(y_j, y_j')
             - 2/(nm)  sum_{i,j}        k(x_i, y_j)                                     (Eq. 5, biased)

    MMD²_u = 1/(n(n-1)) sum_{i != i'}   k(x_i, x_i') + 1/(m(m-1)) sum_{j != j'} k(y_j, y_j')
             - 2/(nm)   sum_{i,j}       k(x_i, y_j)                                      (Eq. 3, unbiased)

The unbiased estimator is the U-statistic (diagonal terms removed); its expectation is exactly
MMD²(P, Q), so it is zero in expectation when ``P = Q`` and can be negative on a single draw.

Kernels
-------
* :func:`gaussian_kernel`: a sum of Gaussian (RBF) kernels over several bandwidths,
  ``k(x, y) = sum_s exp(-||x - y||² / (2 s²))`` — the multi-bandwidth kernel of GMMN
  (Li, Swersky & Zemel 2015, Sec. 3.1 / Eq. 4 and Sec. 4: "a mixture of Gaussian kernels with
  several bandwidths"; Dziugaite, Roy & Ghahramani 2015, Sec. 2).
* :func:`polynomial_kernel`: ``k(x, y) = (gamma <x, y> + coef0)^degree`` with ``gamma = 1/d`` by
  default — the cubic kernel of KID (Bińkowski et al. 2018, "Demystifying MMD GANs", Sec. 3 / Eq. 5).

Inputs of any shape ``(N, ...)`` are flattened to ``(N, d)``; numpy arrays are accepted and turned
into float64 tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["gaussian_kernel", "mmd2", "polynomial_kernel", "squared_distances"]

Kernel = Callable[[Tensor, Tensor], Tensor]


def _as_matrix(x: Tensor | np.ndarray) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.asarray(x, dtype=np.float64))
    if x.dim() == 0:
        raise ValueError("expected a batch of vectors, got a scalar")
    if x.dim() == 1:
        x = x.unsqueeze(1)
    return x.reshape(x.shape[0], -1)


def squared_distances(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> Tensor:
    """Pairwise squared Euclidean distances ``||x_i - y_j||²``, shape ``(n, m)``.

    Computed as ``|x|² + |y|² - 2 x·y`` (clamped at 0), which, unlike ``torch.cdist``, has a finite
    gradient where two points coincide.
    """
    x, y = _as_matrix(x), _as_matrix(y)
    xx = (x * x).sum(1, keepdim=True)
    yy = (y * y).sum(1, keepdim=True)
    return (xx + yy.T - 2.0 * (x @ y.T)).clamp_min(0.0)


def gaussian_kernel(
    x: Tensor | np.ndarray, y: Tensor | np.ndarray, sigmas: float | Sequence[float] = (1.0,)
) -> Tensor:
    """Gram matrix of ``sum_s exp(-||x - y||² / (2 s²))`` over the bandwidths ``sigmas``, shape ``(n, m)``.

    GMMN's kernel (Li et al. 2015, Eq. 4, summed over bandwidths as in their Sec. 4).
    """
    if isinstance(sigmas, (int, float)):
        sigmas = [float(sigmas)]
    if len(sigmas) == 0:
        raise ValueError("gaussian_kernel needs at least one bandwidth")
    d2 = squared_distances(x, y)
    k = torch.zeros_like(d2)
    for s in sigmas:
        if s <= 0:
            raise ValueError(f"bandwidths must be positive, got {s}")
        k = k + torch.exp(-d2 / (2.0 * float(s) ** 2))
    return k


def polynomial_kernel(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> Tensor:
    """Gram matrix of ``(gamma <x, y> + coef0)^degree``; ``gamma`` defaults to ``1/d``, shape ``(n, m)``.

    With the defaults this is KID's kernel (Bińkowski et al. 2018, Sec. 3).
    """
    x, y = _as_matrix(x), _as_matrix(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"dimension mismatch: {x.shape[1]} vs {y.shape[1]}")
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return (g * (x @ y.T) + coef0) ** degree


def mmd2(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    kernel: Kernel | None = None,
    unbiased: bool = True,
) -> Tensor:
    """Squared MMD between the samples ``x`` ``(n, ...)`` and ``y`` ``(m, ...)`` (0-dim tensor).

    ``kernel(a, b)`` returns the Gram matrix; default: :func:`gaussian_kernel` with bandwidth 1
    (use ``functools.partial`` or a lambda for other settings). ``unbiased=True`` is the
    U-statistic of Gretton et al. 2012, Eq. 3 (needs ``n, m >= 2``); ``False`` the biased V-statistic
    of their Eq. 5, which is always ``>= 0``. Differentiable in both inputs.
    """
    if kernel is None:
        kernel = gaussian_kernel
    x, y = _as_matrix(x), _as_matrix(y)
    if y.dtype != x.dtype:
        dtype = torch.promote_types(x.dtype, y.dtype)
        x, y = x.to(dtype), y.to(dtype)
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    if unbiased:
        if n < 2 or m < 2:
            raise ValueError("the unbiased MMD² needs at least 2 samples on each side")
        term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        term_x = kxx.mean()
        term_y = kyy.mean()
    return term_x + term_y - 2.0 * kxy.mean()
