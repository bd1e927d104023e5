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

Conventions (recorded in the protocol):

- ``draw="randperm"`` (default): each subset is the first ``subset_size`` of a ``torch.randperm`` of each
  set, from one ``torch.Generator`` seeded with the evaluation seed (reference subset first).
- ``draw="torch-fidelity"``: torch-fidelity's draw, ``np.random.RandomState(seed)`` and per subset
  ``rng.choice(N, subset_size, replace=False)`` of the generated features, then of the reference
  features; its default seed is 2020. With ``ddof=0`` (torch-fidelity's ``np.std``) this reproduces
  torch-fidelity's ``kernel_inception_distance_mean`` / ``_std`` on the same features (up to float32 vs
  float64 rounding: genzoo computes in float64).
- ``ddof``: the standard deviation over subsets uses ``ddof=1`` by default (the unbiased sample variance
  of the subset estimates); torch-fidelity uses ``ddof=0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.core.errors import UsageError
from genzoo.core.results import MetricResult
from genzoo.metrics.common import DEFAULT_EXTRACTOR, MetricContext, feature_pair
from genzoo.metrics.mmd import mmd2, polynomial_kernel
from genzoo.registry import register_metric

__all__ = ["kid"]


#: torch-fidelity's default ``rng_seed``
TORCH_FIDELITY_SEED = 2020
DRAWS = ("randperm", "torch-fidelity")


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
    ddof: int = 1,
    draw: str = "randperm",
) -> tuple[float, float]:
    """KID between feature sets ``(N1, D)`` and ``(N2, D)``: mean and std of MMD^2_u over subsets.

    ``subset_size`` is capped at the smaller set's size (the paper and torch-fidelity use 1000).
    ``draw`` and ``ddof`` are explained in the module docstring; for torch-fidelity's number pass the
    generated features first, ``draw="torch-fidelity"``, ``ddof=0`` and ``seed=2020``.
    """
    if draw not in DRAWS:
        raise UsageError(f"KID draw must be one of {', '.join(DRAWS)}, got {draw!r}")
    x, y = _as_tensor(features1, dtype), _as_tensor(features2, dtype)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {tuple(x.shape)} and {tuple(y.shape)}")
    m = min(subset_size, len(x), len(y))
    g = torch.Generator().manual_seed(seed)
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(n_subsets):
        if draw == "randperm":
            ix, iy = torch.randperm(len(x), generator=g)[:m], torch.randperm(len(y), generator=g)[:m]
        else:
            ix = torch.from_numpy(rng.choice(len(x), m, replace=False))
            iy = torch.from_numpy(rng.choice(len(y), m, replace=False))
        values.append(float(mmd2(x[ix], y[iy], kernel=polynomial_kernel, unbiased=True)))
    arr = np.asarray(values)
    return float(arr.mean()), float(arr.std(ddof=ddof) if len(arr) > ddof else 0.0)


@register_metric("kid", "Kernel Inception Distance, unbiased cubic-kernel MMD^2 (Bińkowski et al. 2018)")
def kid_metric(
    ctx: MetricContext,
    n_samples: int = 10000,
    reference_split: str = "train",
    n_reference: int | None = None,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
    n_subsets: int = 100,
    subset_size: int = 1000,
    draw: str = "randperm",
    draw_seed: int | None = None,
    ddof: int = 1,
) -> MetricResult:
    """KID of ``n_samples`` samples against ``reference_split`` features (Bińkowski et al. 2018).

    The error is the standard deviation of the subset estimates (``ddof``). ``draw_seed`` defaults to the
    evaluation seed (``draw="randperm"``) or torch-fidelity's 2020 (``draw="torch-fidelity"``).
    """
    pair = feature_pair(ctx, n_samples, reference_split, n_reference, baseline_split, extractor)
    seed = draw_seed if draw_seed is not None else (int(ctx.seed) if draw == "randperm" else TORCH_FIDELITY_SEED)
    if draw == "randperm":
        first, second = pair.reference, pair.generated
    else:  # torch-fidelity draws input1 (the generated images) first
        first, second = pair.generated, pair.reference
    mean, std = kid(first, second, n_subsets=n_subsets, subset_size=subset_size, seed=seed, ddof=ddof, draw=draw)
    used = min(subset_size, len(pair.generated), len(pair.reference))
    notes = [] if used == subset_size else [f"subset_size capped at {used} (asked {subset_size})"]
    return MetricResult(
        "kid",
        {"kid": mean},
        errors={"kid": std},
        protocol={
            **pair.protocol,
            "n_subsets": n_subsets,
            "subset_size": used,
            "kernel": "(x.y/d + 1)^3",
            "draw": draw,
            "draw_seed": seed,
            "error": f"std over {n_subsets} subsets, ddof={ddof}",
        },
        details={"kid_std": std},
        notes=notes,
    )
