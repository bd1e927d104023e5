"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 4).

From class probabilities ``p(y|x)`` of a classifier on generated images,

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

computed, as in the paper's code, separately on ``splits`` parts of the samples (``p(y)`` the
mean over the part); the mean and standard deviation (``ddof=0``, as in that code) over the parts are
reported. It lies in ``[1, K]`` for ``K`` classes: 1 when every image gets the same prediction, ``K`` when
predictions are confident and the classes balanced. Uses ``0 log 0 = 0``.

Conventions (recorded in the protocol):

- part ``i`` of ``N`` rows is rows ``[i*N//s, (i+1)*N//s)``, as in the original code (OpenAI's
  ``inception_score.py``) and torch-fidelity; ``np.array_split`` would give other parts when ``s`` does
  not divide ``N``.
- the evaluator shuffles the rows first (a label-sorted real split would otherwise be scored per class)
  with ``np.random.RandomState(shuffle_seed).permutation(N)``, torch-fidelity's shuffle;
  ``shuffle_seed`` defaults to the evaluation seed, and ``shuffle_seed=2020`` is torch-fidelity's default,
  so its split of the same probabilities is reproduced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import xlogy

from genzoo.core.results import MetricResult
from genzoo.metrics.common import (
    DEFAULT_EXTRACTOR,
    MetricContext,
    evaluation_images,
    resolve_extractor_name,
    to_numpy,
)
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
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, py)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    arr = np.asarray(scores)
    return float(arr.mean()), float(arr.std())


@register_metric("inception-score", "Inception Score exp(E KL(p(y|x) || p(y))) (Salimans et al. 2016)")
def inception_score_metric(
    ctx: MetricContext,
    n_samples: int = 10000,
    splits: int = 10,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
    shuffle: bool = True,
    shuffle_seed: int | None = None,
) -> MetricResult:
    """Inception Score of ``n_samples`` samples over ``splits`` parts (Salimans et al. 2016); the error is
    the standard deviation over the parts (``ddof=0``)."""
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    extractor = resolve_extractor_name(ctx, extractor, images)
    probs = ctx.class_probs(images, extractor)
    seed = int(ctx.seed) if shuffle_seed is None else int(shuffle_seed)
    if shuffle:  # the splits must not follow the data's order: a label-sorted split would be scored per class
        probs = probs[np.random.RandomState(seed).permutation(len(probs))]
    used = min(splits, len(images))
    mean, std = inception_score(probs, splits=used)
    return MetricResult(
        "inception-score",
        {"inception_score": mean},
        errors={"inception_score": std},
        protocol={
            "data": getattr(ctx, "data_name", None),
            "n_samples": len(images),
            "source": source,
            "splits": used,
            "split_rows": "[i*N//s, (i+1)*N//s)",
            "shuffle": "numpy RandomState(shuffle_seed).permutation" if shuffle else "none",
            "shuffle_seed": seed if shuffle else None,
            "extractor": extractor,
            "num_classes": int(probs.shape[1]),
            "seed": int(ctx.seed),
            "error": f"std over {used} splits, ddof=0",
        },
        details={"inception_score_std": std},
        notes=[] if used == splits else [f"splits capped at {used} (asked {splits}): fewer images than splits"],
    )
