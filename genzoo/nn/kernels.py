"""Kernels and the maximum mean discrepancy: differentiable torch, shared by models and metrics.

A generative model (GMMN, :mod:`genzoo.models.gmmn`) trains on the MMD and a metric (KID,
:mod:`genzoo.metrics.kid`; :mod:`genzoo.metrics.mmd` re-exports these names) reports it, so the
kernels live here, below both.

MMD (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR 13): for samples ``X = {x_i}_{i=1..n} ~ P``,
``Y = {y_j}_{j=1..m} ~ Q`` and a kernel ``k``,

    MMD²_b = 1/n² sum_{i,i'} k(x_i, x_i') + 1/m² sum_{j,j'} k(y_j, y_j') - 2/(nm) sum_{i,j} k(x_i, y_j)
                                                                                       (Eq. 5, biased)
    MMD²_u = the same with the diagonal terms i = i', j = j' removed and 1/(n(n-1)), 1/(m(m-1))
                                                                                       (Eq. 3, unbiased)

Gaussian kernel: two conventions for the number ``s`` that sets its width
---------------------------------------------------------------------------
* ``scale="variance"``: ``k(x, y) = exp(-||x - y||² / (2 s))`` — ``s`` is a *variance*. Li, Swersky
  & Zemel 2015 (Sec. 4) list the MNIST widths ``2, 5, 10, 20, 40, 80``; the authors' released code
  (yujiali/gmmn, ``core/generative.py``) fixes what they mean: ``GaussianKernelMmdLoss`` and
  ``SqrtGaussianKernelMmdLoss``, the loss of their MNIST and TFD runs, document
  ``k(x, y) = exp(-|x - y|^2 / (2 sigma))`` and compute ``exp(prod_mat / sigma)`` with
  ``prod_mat = -||x - y||² / 2``. The widths are therefore variances (standard deviations 1.4 to
  8.9), which span MNIST's pairwise distances (median squared distance ~100).
* ``scale="std"``: ``k(x, y) = exp(-||x - y||² / (2 s²))`` — ``s`` is a standard deviation, the usual
  RBF convention (Gretton et al. 2012). With the GMMN numbers this makes the widest kernels nearly
  constant on MNIST (``exp(-100 / (2·80²)) = 0.99``), which is the defect genzoo's GMMN had before
  it followed the paper.

The Gram-matrix functions accept inputs of any shape ``(N, ...)`` (flattened to ``(N, d)``) and numpy
arrays (turned into float64 tensors).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "KERNEL_SCALES", "KernelScale", "gaussian_kernel", "mmd2", "polynomial_kernel", "squared_distances",
]

#: how the width numbers of :func:`gaussian_kernel` are read (see the module docstring)
KernelScale = Literal["variance", "std"]
KERNEL_SCALES: tuple[str, ...] = get_args(KernelScale)

Kernel = Callable[[Tensor, Tensor], Tensor]


def check_kernel_scale(value: str, where: str = "kernel_scale") -> None:
    """A one-line ``ValueError`` naming ``where`` unless ``value`` is a known convention."""
    if value not in KERNEL_SCALES:
        raise ValueError(f"{where} must be one of {', '.join(KERNEL_SCALES)}; got {value!r}")


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
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    sigmas: float | Sequence[float] = (1.0,),
    scale: KernelScale = "std",
    compiled: bool = False,
) -> Tensor:
    """Gram matrix of a sum of Gaussian kernels, one per width in ``sigmas``, shape ``(n, m)``.

    ``scale="std"``: ``sum_s exp(-||x - y||² / (2 s²))``; ``scale="variance"``:
    ``sum_s exp(-||x - y||² / (2 s))``, GMMN's convention (Li et al. 2015, Sec. 4, as the authors'
    code computes it; see the module docstring). The default is the textbook RBF (``"std"``);
    :class:`genzoo.models.gmmn.GMMN` passes its config's ``kernel_scale``. ``compiled=True`` sums the
    kernels in one ``torch.compile``-fused pass (same values to float rounding; a few seconds of compiling
    on first use per shape).
    """
    if isinstance(sigmas, (int, float)):
        sigmas = [float(sigmas)]
    if len(sigmas) == 0:
        raise ValueError("gaussian_kernel needs at least one bandwidth")
    check_kernel_scale(scale, "scale")
    for s in sigmas:
        if s <= 0:
            raise ValueError(f"bandwidths must be positive, got {s}")
    # exp(-d² / (2 v)) = exp(d² * c) with c = -1 / (2 v), v = s (variance) or s² (std)
    coefs = tuple(-0.5 / (float(s) if scale == "variance" else float(s) ** 2) for s in sigmas)
    d2 = squared_distances(x, y)
    return (_fused_kernel_sum if compiled else _kernel_sum)(d2, coefs)


def _kernel_sum(d2: Tensor, coefs: tuple[float, ...]) -> Tensor:
    """``sum_c exp(c d2)``: the Gram matrix of a sum of Gaussian kernels from squared distances."""
    k = torch.exp(d2 * coefs[0])
    for c in coefs[1:]:
        k = k + torch.exp(d2 * c)
    return k


_compiled: Callable[..., Tensor] | None = None  # torch.compile of _kernel_sum, made on first use
_compile_failed = False


def _fused_kernel_sum(d2: Tensor, coefs: tuple[float, ...]) -> Tensor:
    """:func:`_kernel_sum` through ``torch.compile``: one fused loop over the matrix for the forward and one
    for the backward, in place of several passes per width (the elementwise passes had taken half of a GMMN
    step; steps 1.3-1.4x faster on one CPU core side by side: ``benchmarks/speed.py gmmn``). Falls back to
    eager code, with one warning, where compiling fails (no C++ compiler)."""
    global _compiled, _compile_failed
    if _compile_failed:
        return _kernel_sum(d2, coefs)
    if _compiled is None:
        _compiled = torch.compile(_kernel_sum, dynamic=False)
    try:
        return _compiled(d2, coefs)
    except Exception as e:  # noqa: BLE001 - any backend failure: the eager result is the same
        warnings.warn(f"torch.compile of the Gaussian kernel failed ({type(e).__name__}); using eager code",
                      RuntimeWarning, stacklevel=3)
        _compile_failed = True
        return _kernel_sum(d2, coefs)


def polynomial_kernel(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> Tensor:
    """Gram matrix of ``(gamma <x, y> + coef0)^degree``; ``gamma`` defaults to ``1/d``, shape ``(n, m)``.

    With the defaults this is KID's kernel (Bińkowski et al. 2018, "Demystifying MMD GANs", Sec. 3).
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

    ``kernel(a, b)`` returns the Gram matrix; default: :func:`gaussian_kernel` with width 1
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
