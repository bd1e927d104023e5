"""Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML, Eq. 4-5).

Like improved precision/recall (:mod:`genzoo.metrics.prd`) the real manifold is a union of balls
``B(X_i, NND_k(X_i))`` around the ``N`` real features, ``NND_k`` the distance to the ``k``-th nearest other
real point; unlike it, only the *real* balls are used, and each sample counts how many of them hold it:

    density  = 1/(k M) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]                     (Eq. 4)
    coverage = 1/N     sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]                  (Eq. 5)

for ``M`` samples ``Y_j``. Density is about 1 when the samples are distributed like the data, can exceed 1
when they crowd into dense regions, and is not fooled by real outliers (a sample in one huge ball counts
once, not as "on the manifold"); coverage is the fraction of real neighbourhoods that hold a sample,
robust to outliers among the samples. Membership is ``d(Y_j, X_i) < NND_k(X_i)`` (strict, as in the
authors' ``prdc`` code); the paper's default is ``k = 5`` with equal ``N = M``.
"""

from __future__ import annotations

from typing import Any

import torch

from genzoo.core.results import MetricResult
from genzoo.metrics.common import (
    DEFAULT_EXTRACTOR,
    MetricContext,
    as_matrix,
    collapse_notes,
    feature_pair,
    spread_ratio,
)
from genzoo.metrics.prd import knn_radii, squared_distances
from genzoo.registry import register_metric

__all__ = ["density_coverage"]


def density_coverage(
    real: Any, fake: Any, k: int = 5, chunk: int = 2048, dtype: torch.dtype = torch.float32
) -> tuple[float, float]:
    """(density, coverage) of ``fake (M, D)`` w.r.t. ``real (N, D)`` features, Eq. 4-5 of Naeem et al."""
    r, f = as_matrix(real, dtype), as_matrix(fake, dtype)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dims differ: {r.shape[1]} vs {f.shape[1]}")
    if len(f) < 1:
        raise ValueError("no generated features")
    radii = knn_radii(r, k, chunk)  # squared NND_k of each real point
    inside_count = torch.zeros((), dtype=torch.float64)
    covered = torch.zeros(len(r), dtype=torch.bool)
    for start in range(0, len(r), chunk):
        d = squared_distances(r[start : start + chunk], f)  # (chunk, M)
        inside = d < radii[start : start + chunk, None]
        inside_count += inside.sum(dtype=torch.float64)
        covered[start : start + chunk] = inside.any(dim=1)
    density = float(inside_count / (k * len(f)))
    coverage = float(covered.double().mean())
    return density, coverage


@register_metric("density-coverage", "Density and coverage of samples on real k-NN balls (Naeem et al. 2020)")
def density_coverage_metric(
    ctx: MetricContext,
    n_samples: int = 10000,
    reference_split: str = "train",
    n_reference: int | None = 10000,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
    k: int = 5,
) -> MetricResult:
    """Density and coverage of ``n_samples`` samples against ``n_reference`` real features (Naeem et al.
    2020; ``k = 5`` and 10k of each as in the paper), with the collapse check in ``details``."""
    pair = feature_pair(ctx, n_samples, reference_split, n_reference, baseline_split, extractor)
    density, coverage = density_coverage(pair.reference, pair.generated, k=k)
    ratio = spread_ratio(pair.reference, pair.generated)
    return MetricResult(
        "density-coverage",
        {"density": density, "coverage": coverage},
        protocol={**pair.protocol, "k": k},
        details={"spread_ratio": ratio},
        notes=collapse_notes(ratio),
    )
