"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium", Eq. 6).

With Gaussians fitted to two feature sets, ``N(mu1, S1)`` and ``N(mu2, S2)``,

    FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})                 (Eq. 6)

the squared 2-Wasserstein distance between the Gaussians (Dowson & Landau 1982).

Matrix square root: ``tr((S1 S2)^{1/2})`` is the sum of the square roots of the eigenvalues of
``S1 S2``, which are those of the symmetric PSD matrix ``S1^{1/2} S2 S1^{1/2}``. The default
``method="eigh"`` computes it that way with symmetric eigendecompositions (negative round-off
eigenvalues clipped to 0), so it stays finite and real when a covariance is singular (fewer samples
than feature dimensions). ``method="sqrtm"`` is the reference implementation's route
(``scipy.linalg.sqrtm(S1 @ S2)``, retried with ``eps * I`` added to both covariances when the result
is not finite, imaginary parts dropped).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from genzoo.core.results import MetricResult
from genzoo.metrics.common import (
    DEFAULT_EXTRACTOR,
    MetricContext,
    collapse_notes,
    feature_pair,
    spread_ratio,
    to_numpy,
)
from genzoo.registry import register_metric

__all__ = [
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "trace_sqrt_product",
]


# ----- pure functions -----------------------------------------------------------------------------
def feature_statistics(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, ``ddof=1``) of ``features (N, D)``, float64."""
    f = torch.from_numpy(to_numpy(features))
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N >= 2, D), got shape {tuple(f.shape)}")
    mu = f.mean(dim=0)
    centred = f - mu
    return mu.numpy(), (centred.T @ centred / (len(f) - 1)).numpy()


def _sym(a: Tensor) -> Tensor:
    return (a + a.T) / 2.0


def _sqrt_psd(a: Tensor) -> Tensor:
    w, v = torch.linalg.eigh(_sym(a))
    return (v * w.clamp_min(0.0).sqrt()) @ v.T


def trace_sqrt_product(s1: Any, s2: Any, method: str = "eigh", eps: float = 1e-6) -> float:
    """``tr((S1 S2)^{1/2})`` for PSD ``S1, S2`` (see the module docstring for the two methods)."""
    a, b = to_numpy(s1), to_numpy(s2)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"covariances must be square and equal-shaped, got {a.shape} and {b.shape}")
    if method == "eigh":  # torch.linalg: float64, and it honours torch.set_num_threads
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        r = _sqrt_psd(ta)
        ev = torch.linalg.eigvalsh(_sym(r @ tb @ r))
        return float(ev.clamp_min(0.0).sqrt().sum())
    if method == "sqrtm":
        covmean = scipy.linalg.sqrtm(a @ b)
        if not np.isfinite(covmean).all():
            offset = np.eye(a.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((a + offset) @ (b + offset))
        return float(np.real(np.trace(covmean)))
    raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")


def frechet_distance(mu1: Any, s1: Any, mu2: Any, s2: Any, method: str = "eigh") -> float:
    """Fréchet distance between ``N(mu1, s1)`` and ``N(mu2, s2)``, Eq. 6 of Heusel et al. 2017.

    Clipped at 0 (it is a squared distance; round-off can make it -1e-12 for equal inputs).
    """
    m1, m2 = to_numpy(mu1).reshape(-1), to_numpy(mu2).reshape(-1)
    a, b = to_numpy(s1), to_numpy(s2)
    if m1.shape != m2.shape or a.shape != (m1.size, m1.size) or b.shape != a.shape:
        raise ValueError("mean/covariance shapes do not match")
    diff = m1 - m2
    value = diff @ diff + np.trace(a) + np.trace(b) - 2.0 * trace_sqrt_product(a, b, method=method)
    return float(max(value, 0.0))


def fid_from_features(features1: Any, features2: Any, method: str = "eigh") -> float:
    """FID between two feature sets ``(N1, D)`` and ``(N2, D)``."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2), method=method)


# ----- evaluator ---------------------------------------------------------------------------------
@register_metric("fid", "Fréchet distance between feature Gaussians (Heusel et al. 2017), lower is better")
def fid_metric(
    ctx: MetricContext,
    n_samples: int = 10000,
    reference_split: str = "train",
    n_reference: int | None = None,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
    method: str = "eigh",
) -> MetricResult:
    """FID of ``n_samples`` samples against the features of ``reference_split`` (Heusel et al. 2017).

    FID is biased upwards at small sample counts (it estimates a covariance), so it is only comparable
    between results with the same ``n_samples`` and reference; the protocol records both. The collapse
    check (:func:`genzoo.metrics.common.spread_ratio`) is stored in ``details["spread_ratio"]``.
    """
    pair = feature_pair(ctx, n_samples, reference_split, n_reference, baseline_split, extractor)
    ratio = spread_ratio(pair.reference, pair.generated)
    return MetricResult(
        "fid",
        {"fid": fid_from_features(pair.reference, pair.generated, method=method)},
        protocol={**pair.protocol, "sqrt_method": method},
        details={"spread_ratio": ratio},
        notes=collapse_notes(ratio),
    )
