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
* :func:`gaussian_kernel`: a sum of Gaussian (RBF) kernels over several widths,
  ``k(x, y) = sum_s exp(-||x - y||² / (2 s²))`` (``scale="std"``, the default) or
  ``sum_s exp(-||x - y||² / (2 s))`` (``scale="variance"``: GMMN's convention, Li, Swersky & Zemel
  2015 and their released code; see :mod:`genzoo.nn.kernels`).
* :func:`polynomial_kernel`: ``k(x, y) = (gamma <x, y> + coef0)^degree`` with ``gamma = 1/d`` by
  default — the cubic kernel of KID (Bińkowski et al. 2018, "Demystifying MMD GANs", Sec. 3 / Eq. 5).

The implementations live in :mod:`genzoo.nn.kernels` (models train on them too); this module
re-exports them for the metrics. Inputs of any shape ``(N, ...)`` are flattened to ``(N, d)``;
numpy arrays are accepted and turned into float64 tensors.
"""

from __future__ import annotations

from genzoo.nn.kernels import Kernel, gaussian_kernel, mmd2, polynomial_kernel, squared_distances

__all__ = ["Kernel", "gaussian_kernel", "mmd2", "polynomial_kernel", "squared_distances"]
