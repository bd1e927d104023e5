"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", Sec. 4 / App. D).

KID is the squared maximum mean discrepancy between two feature sets with the cubic polynomial kernel

    k(x, y) = (x^T y / d + 1)^3                                                   (d = feature dim)

estimated with the unbiased U-statistic of Gretton et al. 2012 (Lemma 6, Eq. 3):

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
              - 2/(mn) sum_{i,j} k(x_i, y_j).

As in the paper, the estimate is averaged over ``n_subsets`` random subsets of ``subset_size``
points from each set (drawn without replacement within a subset); the mean and the standard
deviation over subsets are reported. Being unbiased, it can be slightly negative when the
distributions agree. The kernel and the estimator are :mod:`genzoo.metrics.mmd`'s
(:func:`~genzoo.metrics.mmd.polynomial_kernel`, :func:`~genzoo.metrics.mmd.mmd2` with ``unbiased=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.metrics.fid import (
    DEFAULT_EXTRACTOR,
    evaluation_images,
    reference_features,
    resolve_extractor_name,
)
from genzoo.metrics.mmd import mmd2, polynomial_kernel
from genzoo.registry import register_metric

__all__ = ["kid"]


def _as_tensor(x: Any, dtype: torch.dtype) -> Tensor:
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device="cpu", dtype=dtype)


def kid(
    features1: Any,
    features2: Any,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[float, float]:
    """KID between feature sets ``(N1, D)`` and ``(N2, D)``: mean and std of MMD^2_u over subsets.

    ``subset_size`` is capped at the smaller set's size (the paper and torch-fidelity use 1000).
    """
    x, y = _as_tensor(features1, dtype), _as_tensor(features2, dtype)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {tuple(x.shape)} and {tuple(y.shape)}")
    m = min(subset_size, len(x), len(y))
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(n_subsets):
        xs = x[torch.randperm(len(x), generator=g)[:m]]
        ys = y[torch.randperm(len(y), generator=g)[:m]]
        values.append(float(mmd2(xs, ys, kernel=polynomial_kernel, unbiased=True)))
    arr = np.asarray(values)
    return float(arr.mean()), float(arr.std(ddof=1) if len(arr) > 1 else 0.0)


@register_metric("kid", "Kernel Inception Distance, unbiased cubic-kernel MMD^2 (Bińkowski et al. 2018)")
def kid_metric(
    ctx: Any,
    n_samples: int = 10000,
    reference_split: str = "train",
    n_reference: int | None = None,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
    n_subsets: int = 100,
    subset_size: int = 1000,
) -> dict[str, float | int | str]:
    """KID of ``n_samples`` samples against ``reference_split`` features (Bińkowski et al. 2018)."""
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    extractor = resolve_extractor_name(ctx, extractor, images)
    f_gen = ctx.features(images, extractor)
    f_ref = reference_features(ctx, reference_split, extractor, n_reference)
    mean, std = kid(f_ref, f_gen, n_subsets=n_subsets, subset_size=subset_size, seed=int(ctx.seed))
    return {
        "kid": mean,
        "kid_std": std,
        "n_samples": len(images),
        "source": source,
        "reference_split": reference_split,
        "n_reference": len(f_ref),
        "extractor": extractor,
        "feature_dim": int(f_gen.shape[1]),
        "n_subsets": n_subsets,
        "subset_size": min(subset_size, len(images), len(f_ref)),
        "kernel": "(x.y/d + 1)^3",
    }
