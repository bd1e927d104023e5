"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 4).

From class probabilities ``p(y|x)`` of a classifier on generated images,

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

computed, as in the paper's code, separately on ``splits`` equal parts of the samples (``p(y)`` the
mean over the part); the mean and standard deviation (``ddof=0``, as in that code) over the parts are
reported. It lies in
``[1, K]`` for ``K`` classes: 1 when every image gets the same prediction, ``K`` when predictions are
confident and the classes balanced. Uses ``0 log 0 = 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import xlogy

from genzoo.metrics.fid import DEFAULT_EXTRACTOR, evaluation_images, resolve_extractor_name, to_numpy
from genzoo.registry import register_metric

__all__ = ["inception_score"]


def inception_score(probs: Any, splits: int = 10) -> tuple[float, float]:
    """IS mean and std over ``splits`` parts of ``probs (N, K)`` (rows are distributions)."""
    p = to_numpy(probs)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("rows of probs must be probability distributions")
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be in [1, N={len(p)}], got {splits}")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, py)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    arr = np.asarray(scores)
    return float(arr.mean()), float(arr.std())


@register_metric("inception-score", "Inception Score exp(E KL(p(y|x) || p(y))) (Salimans et al. 2016)")
def inception_score_metric(
    ctx: Any,
    n_samples: int = 10000,
    splits: int = 10,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
) -> dict[str, float | int | str]:
    """Inception Score of ``n_samples`` samples over ``splits`` parts (Salimans et al. 2016)."""
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    extractor = resolve_extractor_name(ctx, extractor, images)
    probs = ctx.class_probs(images, extractor)
    # the splits must not follow the data's order: a label-sorted real split would be scored per class
    probs = probs[np.random.RandomState(int(ctx.seed)).permutation(len(probs))]
    mean, std = inception_score(probs, splits=min(splits, len(images)))
    return {
        "inception_score": mean,
        "inception_score_std": std,
        "n_samples": len(images),
        "source": source,
        "splits": min(splits, len(images)),
        "extractor": extractor,
        "num_classes": int(probs.shape[1]),
    }
