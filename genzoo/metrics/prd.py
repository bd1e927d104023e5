"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
Assessing Generative Models", Eq. 1-2).

Each set's manifold is approximated by balls around its points, the radius of a point being the
distance to its ``k``-th nearest neighbour within the same set (``k = 3`` in the paper; the point itself
is not counted). With ``f(x, S) = 1`` when ``||x - s|| <= r_k(s)`` for some ``s`` in ``S``,

    precision = mean_{fake g} f(g, Real),      recall = mean_{real x} f(x, Fake).   (Eq. 1, 2)

So precision measures how many samples fall on the real manifold and recall how much of the real
manifold the samples cover; ``precision_recall(a, b) == precision_recall(b, a)[::-1]``. Distances are
computed in chunks (``||a||^2 + ||b||^2 - 2 a.b``), never holding the full ``N x M`` matrix.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genzoo.core.results import MetricResult
from genzoo.metrics.common import (
    DEFAULT_EXTRACTOR,
    MetricContext,
    as_matrix,
    collapse_notes,
    feature_pair,
    spread_ratio,
)
from genzoo.registry import register_metric

__all__ = ["knn_radii", "manifold_coverage", "precision_recall", "squared_distances"]


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise squared Euclidean distances ``(len(a), len(b))``, clamped at 0."""
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d.clamp_min_(0.0)


def knn_radii(x: Tensor, k: int = 3, chunk: int = 2048) -> Tensor:
    """Squared distance of each row of ``x`` to its ``k``-th nearest other row, ``(N,)``."""
    if not 1 <= k < len(x):
        raise ValueError(f"k must be in [1, N-1] (N={len(x)}), got {k}")
    out = torch.empty(len(x), dtype=x.dtype)
    for start in range(0, len(x), chunk):
        d = squared_distances(x[start : start + chunk], x)
        # k + 1 smallest include the point itself (distance 0)
        out[start : start + chunk] = d.topk(k + 1, dim=1, largest=False).values[:, -1]
    return out


def manifold_coverage(
    queries: Tensor, support: Tensor, radii: Tensor, chunk: int = 2048
) -> Tensor:
    """Boolean ``(len(queries),)``: does each query lie in some ball ``||q - s||^2 <= radii[s]``."""
    inside = torch.zeros(len(queries), dtype=torch.bool)
    for qs in range(0, len(queries), chunk):
        q = queries[qs : qs + chunk]
        hit = torch.zeros(len(q), dtype=torch.bool)
        for ss in range(0, len(support), chunk):
            d = squared_distances(q, support[ss : ss + chunk])
            hit |= (d <= radii[ss : ss + chunk][None, :]).any(dim=1)
        inside[qs : qs + chunk] = hit
    return inside


def precision_recall(
    real: Any, fake: Any, k: int = 3, chunk: int = 2048, dtype: torch.dtype = torch.float32
) -> tuple[float, float]:
    """Improved (precision, recall) of ``fake`` w.r.t. ``real`` features, Eq. 1-2 of Kynkäänniemi et al."""
    r, f = as_matrix(real, dtype), as_matrix(fake, dtype)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dims differ: {r.shape[1]} vs {f.shape[1]}")
    r_radii, f_radii = knn_radii(r, k, chunk), knn_radii(f, k, chunk)
    precision = manifold_coverage(f, r, r_radii, chunk).double().mean()
    recall = manifold_coverage(r, f, f_radii, chunk).double().mean()
    return float(precision), float(recall)


@register_metric("precision-recall", "Improved precision/recall with k-NN balls (Kynkäänniemi et al. 2019)")
def precision_recall_metric(
    ctx: MetricContext,
    n_samples: int = 10000,
    reference_split: str = "train",
    n_reference: int | None = 10000,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
    k: int = 3,
) -> MetricResult:
    """Improved precision and recall of samples vs ``reference_split`` (Kynkäänniemi et al. 2019).

    The paper uses equal numbers of real and generated images (50k for FFHQ); the defaults use 10k.
    k-NN precision is inflated by outliers among the real features (one far real point makes a huge ball:
    noise samples can score precision 1.0); read it beside ``density-coverage`` (Naeem et al. 2020) and
    the collapse check (``details["spread_ratio"]``).
    """
    pair = feature_pair(ctx, n_samples, reference_split, n_reference, baseline_split, extractor)
    precision, recall = precision_recall(pair.reference, pair.generated, k=k)
    ratio = spread_ratio(pair.reference, pair.generated)
    return MetricResult(
        "precision-recall",
        {"precision": precision, "recall": recall},
        protocol={**pair.protocol, "k": k},
        details={"spread_ratio": ratio},
        notes=collapse_notes(ratio),
    )
