"""Multi-scale structural similarity (Wang, Simoncelli & Bovik 2003, "Multi-scale structural similarity
for image quality assessment", Eq. 7), used as a sample-diversity measure by Odena et al. 2017
("Conditional Image Synthesis with Auxiliary Classifier GANs", Sec. 4.2): the mean MS-SSIM over random
pairs of samples (optionally within a class); higher means less diverse.

For images ``x, y`` at scales ``j = 1..M`` (scale ``j+1`` = 2x2 average pooling of scale ``j``),
with local Gaussian-weighted means ``mu``, variances ``s^2`` and covariance ``s_xy``,

    l(x, y)  = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)                      (Eq. 1)
    cs(x, y) = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2)                              (Eq. 2-3 combined)
    MS-SSIM  = [mean l_M cs_M]^{w_M} * prod_{j<M} [mean cs_j]^{w_j}              (Eq. 7)

with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, ``L`` the data range (1 for [0, 1] images), the
standard weights ``w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)`` and an 11-tap Gaussian window with
sigma 1.5 applied without padding ("valid"), as in the authors' MATLAB code. Colour images are scored
per channel and the channel scores averaged. Negative per-scale means are clamped to 0 before the
fractional powers (as TensorFlow's ``ssim_multiscale`` does), so the result lies in ``[0, 1]``.

Weights: genzoo always divides the weights used by their sum. For 5 scales the standard weights sum to
1.0001, so this changes a 5-scale score by a factor ``x^(1/1.0001 - 1)``, under 1e-4 relative for any
score in [0.4, 1]; the reference implementations (the authors' MATLAB code, TensorFlow's
``ssim_multiscale``, pytorch-msssim) use the five weights as published, unnormalised. For fewer scales
(below) the renormalisation is what keeps the score a weighted geometric mean in [0, 1].

Small images (a genzoo extension; the paper's 5 scales need sides >= 176): the number of scales is the
largest ``M <= 5`` for which the coarsest scale still holds a full window (``min side // 2^(M-1) >=
window``), and the first ``M`` weights are renormalised to sum to 1. Images smaller than the window
use the largest odd window that fits, with sigma scaled by ``window / 11``. So 28x28 and 32x32 use 2
scales with the 11/1.5 window, and 8x8 uses 1 scale (plain SSIM) with a 7-tap window of sigma 0.95.
:func:`ms_ssim_settings` returns the choice so reports can state it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core.results import MetricResult
from genzoo.metrics.common import (
    DEFAULT_EXTRACTOR,
    MetricContext,
    evaluation_images,
    resolve_extractor_name,
    subset_index,
)
from genzoo.registry import register_metric

__all__ = ["MS_SSIM_WEIGHTS", "mean_pairwise_ms_ssim", "ms_ssim", "ms_ssim_settings"]

MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_settings(
    height: int, width: int, window: int = 11, sigma: float = 1.5, max_scales: int = len(MS_SSIM_WEIGHTS)
) -> tuple[int, int, float]:
    """``(scales, window, sigma)`` used for images of this size (see the module docstring)."""
    side = min(height, width)
    if side < 2:
        raise ValueError(f"images must be at least 2x2, got {height}x{width}")
    if side < window:
        new = side if side % 2 == 1 else side - 1
        sigma, window = sigma * new / window, new
    scales = 1
    while scales < max_scales and side // 2**scales >= window:
        scales += 1
    return scales, window, sigma


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype) -> Tensor:
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2.0
    g = torch.exp(-(r * r) / (2.0 * sigma * sigma))
    return g / g.sum()


def _valid_filter_matrix(n: int, g: Tensor) -> Tensor:
    """``(n - len(g) + 1, n)`` matrix applying the 1-D filter ``g`` without padding."""
    k = len(g)
    m = torch.zeros(n - k + 1, n, dtype=g.dtype)
    for i in range(n - k + 1):
        m[i, i : i + k] = g
    return m


def _filter(x: Tensor, g: Tensor) -> Tensor:
    """Separable 'valid' Gaussian filter of every ``(H, W)`` plane of ``(..., H, W)``, as two
    matrix products ``Gh @ x @ Gw^T`` (faster on the CPU than a float64 convolution)."""
    gh = _valid_filter_matrix(x.shape[-2], g)
    gw = _valid_filter_matrix(x.shape[-1], g)
    return gh @ x @ gw.T


def _ssim_cs(x: Tensor, y: Tensor, g: Tensor, c1: float, c2: float) -> tuple[Tensor, Tensor]:
    """Mean SSIM map and mean contrast-structure map per image and channel, ``(N, C)`` each."""
    mu_x, mu_y, exx, eyy, exy = _filter(torch.stack([x, y, x * x, y * y, x * y]), g)
    sxx = exx - mu_x * mu_x
    syy = eyy - mu_y * mu_y
    sxy = exy - mu_x * mu_y
    cs = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (lum * cs).mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def ms_ssim(
    x: Any,
    y: Any,
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """MS-SSIM (Eq. 7) of each pair ``x[i], y[i]``; images ``(N, C, H, W)`` (or ``(N, H, W)``) -> ``(N,)``."""
    xt = torch.as_tensor(x).detach().to(torch.float64)
    yt = torch.as_tensor(y).detach().to(torch.float64)
    if xt.ndim == 3:
        xt, yt = xt.unsqueeze(1), yt.unsqueeze(1)
    if xt.shape != yt.shape or xt.ndim != 4:
        raise ValueError(f"x and y must both be (N, C, H, W), got {tuple(xt.shape)} and {tuple(yt.shape)}")
    scales, win, sig = ms_ssim_settings(xt.shape[2], xt.shape[3], window, sigma, len(weights))
    w = torch.tensor(weights[:scales], dtype=torch.float64)
    w = w / w.sum()
    g = _gaussian_window(win, sig, torch.float64)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    score = torch.ones(xt.shape[:2], dtype=torch.float64)
    for j in range(scales):
        ssim, cs = _ssim_cs(xt, yt, g, c1, c2)
        term = ssim if j == scales - 1 else cs
        score = score * term.clamp_min(0.0) ** w[j]
        if j < scales - 1:
            xt, yt = F.avg_pool2d(xt, 2), F.avg_pool2d(yt, 2)
    return score.mean(dim=1)


def _random_pairs(n: int, n_pairs: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    i = torch.randint(0, n, (n_pairs,), generator=g)
    j = (i + torch.randint(1, n, (n_pairs,), generator=g)) % n  # j != i, uniform over the others
    return i, j


def mean_pairwise_ms_ssim(
    images: Any,
    n_pairs: int = 1000,
    seed: int = 0,
    labels: Any = None,
    batch_size: int = 500,
    **kwargs: Any,
) -> dict[str, Any]:
    """Mean MS-SSIM over ``n_pairs`` random pairs of distinct images (Odena et al. 2017).

    Returns ``{"mean", "stderr", "n_pairs"}``; with ``labels``, pairs are drawn within each class
    (``n_pairs`` per class with >= 2 images) and ``"per_class"`` maps class -> mean, ``"mean"`` being
    the mean over classes.
    """
    x = torch.as_tensor(images).detach()
    g = torch.Generator().manual_seed(seed)

    def score(idx_i: Tensor, idx_j: Tensor) -> Tensor:
        parts = [
            ms_ssim(x[idx_i[a : a + batch_size]], x[idx_j[a : a + batch_size]], **kwargs)
            for a in range(0, len(idx_i), batch_size)
        ]
        return torch.cat(parts)

    if labels is None:
        if len(x) < 2:
            raise ValueError("need at least 2 images")
        v = score(*_random_pairs(len(x), n_pairs, g))
        return {"mean": float(v.mean()), "stderr": float(v.std() / math.sqrt(len(v))), "n_pairs": len(v)}
    lab = torch.as_tensor(np.asarray(labels)).reshape(-1)
    per_class: dict[int, float] = {}
    for c in torch.unique(lab).tolist():
        members = torch.nonzero(lab == c).reshape(-1)
        if len(members) < 2:
            continue
        i, j = _random_pairs(len(members), n_pairs, g)
        per_class[int(c)] = float(score(members[i], members[j]).mean())
    if not per_class:
        raise ValueError("no class has 2 or more images")
    vals = np.asarray(list(per_class.values()))
    se = float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else 0.0
    return {"mean": float(vals.mean()), "stderr": se, "n_pairs": n_pairs, "per_class": per_class}


@register_metric("ms-ssim", "Mean MS-SSIM of random sample pairs, a diversity measure (Wang et al. 2003)")
def ms_ssim_metric(
    ctx: MetricContext,
    n_samples: int = 2000,
    n_pairs: int = 1000,
    per_class: bool = False,
    baseline_split: str = "test",
    extractor: str = DEFAULT_EXTRACTOR,
) -> MetricResult:
    """Mean MS-SSIM over random pairs of samples (lower = more diverse; Odena et al. 2017); the error is
    the standard error over pairs (over classes with ``per_class``).

    With ``per_class``, generated images are grouped by the classifier's predicted class (real
    baseline images by their true labels) and pairs are drawn within each class.
    """
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    scales, win, sig = ms_ssim_settings(images.shape[-2], images.shape[-1])
    protocol: dict[str, object] = {
        "data": getattr(ctx, "data_name", None),
        "n_samples": len(images),
        "source": source,
        "scales": scales,
        "window": win,
        "window_sigma": round(sig, 4),
        "weights": "first scales of (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), renormalised to sum 1",
        "per_class": bool(per_class),
        "seed": int(ctx.seed),
    }
    labels = None
    if per_class:
        data = ctx.dataset(baseline_split) if source != "samples" else None
        if data is not None and data.labels is not None:
            idx = subset_index(len(data), n_samples, int(ctx.seed))  # the subset evaluation_images took
            labels = data.labels if idx is None else data.labels[idx]
            protocol["class_source"] = "dataset labels"
        else:
            extractor = resolve_extractor_name(ctx, extractor, images)
            labels = ctx.class_probs(images, extractor).argmax(dim=1)
            protocol["class_source"] = f"argmax of {extractor} classifier"
    res = mean_pairwise_ms_ssim(images, n_pairs=n_pairs, seed=int(ctx.seed), labels=labels)
    protocol["n_pairs"] = res["n_pairs"]
    protocol["error"] = "standard error over classes" if per_class else "standard error over pairs"
    details: dict[str, object] = {"ms_ssim_stderr": res["stderr"]}
    for c, v in res.get("per_class", {}).items():
        details[f"ms_ssim_class_{c}"] = v
    return MetricResult(
        "ms-ssim", {"ms_ssim": res["mean"]}, errors={"ms_ssim": res["stderr"]}, protocol=protocol, details=details
    )


# features are needed only to group samples by predicted class
ms_ssim_metric.extractor_needed = lambda options: bool(options.get("per_class", False))  # type: ignore[attr-defined]
