"""Parzen-window log-likelihood estimate (Breuleux, Bengio & Vincent 2009, "Unlearning for better
mixing"; the protocol of Goodfellow et al. 2014, "Generative Adversarial Nets", Sec. 5, and Li et al.
2015, "Generative Moment Matching Networks").

An isotropic Gaussian kernel density is fitted to ``S`` generated samples ``s_i`` (flattened pixels),
and the test log-likelihood is

    log p(x) = logmeanexp_i( -||x - s_i||^2 / (2 sigma^2) ) - (D/2) log(2 pi sigma^2).

The bandwidth ``sigma`` is chosen by grid search on a validation split (the GAN code searches
``logspace(-1, 0, 10)`` on the MNIST validation set with 10,000 samples), and the mean test
log-likelihood is reported with its standard error over test points. Everything is computed in
chunks over test points and over samples (running log-sum-exp), so memory stays
``O(chunk x sample_chunk)``.

Theis et al. 2016 show this estimate is a poor proxy for the likelihood in high dimensions; it is
here to reproduce the papers' tables, and reports the protocol with the number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.core.results import MetricResult
from genzoo.metrics.common import MetricContext, as_matrix, evaluation_images, reference_images
from genzoo.metrics.likelihood import mean_and_stderr
from genzoo.registry import register_metric

__all__ = ["DEFAULT_SIGMAS", "parzen_estimate", "parzen_log_likelihood", "select_bandwidth"]

#: the bandwidth grid of Goodfellow et al.'s parzen_ll.py: numpy.logspace(-1, 0, 10)
DEFAULT_SIGMAS: tuple[float, ...] = tuple(float(s) for s in np.logspace(-1.0, 0.0, 10))


def parzen_log_likelihood(
    x: Any,
    samples: Any,
    sigmas: float | Any,
    chunk: int = 1000,
    sample_chunk: int = 5000,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Per-point Parzen log-likelihood (nats) of ``x (M, ...)`` under a KDE on ``samples (S, ...)``.

    ``sigmas`` a float -> result ``(M,)``; a sequence of ``G`` bandwidths -> ``(G, M)`` (the squared
    distances are computed once and reused for every bandwidth).
    """
    scalar = np.ndim(sigmas) == 0
    sig = torch.as_tensor(np.atleast_1d(np.asarray(sigmas, dtype=np.float64)), dtype=dtype)
    if (sig <= 0).any():
        raise ValueError("bandwidths must be positive")
    xt, st = as_matrix(x, dtype), as_matrix(samples, dtype)
    if xt.shape[1] != st.shape[1]:
        raise ValueError(f"dimension mismatch: {xt.shape[1]} vs {st.shape[1]}")
    d, s = xt.shape[1], len(st)
    inv2s2 = [float(v) for v in 1.0 / (2.0 * sig * sig)]
    s_sq = (st * st).sum(1)
    out = torch.empty(len(sig), len(xt), dtype=dtype)
    for a in range(0, len(xt), chunk):
        xc = xt[a : a + chunk]
        x_sq = (xc * xc).sum(1, keepdim=True)
        acc = torch.full((len(sig), len(xc)), -math.inf, dtype=dtype)
        for b in range(0, s, sample_chunk):
            sc = st[b : b + sample_chunk]
            d2 = (x_sq + s_sq[None, b : b + sample_chunk] - 2.0 * (xc @ sc.T)).clamp_min_(0.0)
            d2.neg_()
            part = torch.stack([torch.logsumexp(d2 * c, dim=1) for c in inv2s2])
            acc = torch.logaddexp(acc, part)
        out[:, a : a + chunk] = acc
    out = out - math.log(s) - 0.5 * d * torch.log(2.0 * math.pi * sig * sig)[:, None]
    return out[0] if scalar else out


def select_bandwidth(
    valid: Any, samples: Any, sigmas: Any = DEFAULT_SIGMAS, **kwargs: Any
) -> tuple[float, list[float]]:
    """The bandwidth of ``sigmas`` with the highest mean validation log-likelihood, and all the means."""
    grid = [float(s) for s in sigmas]
    ll = parzen_log_likelihood(valid, samples, grid, **kwargs).mean(dim=1)
    return grid[int(torch.argmax(ll))], [float(v) for v in ll]


def parzen_estimate(
    test: Any, samples: Any, valid: Any, sigmas: Any = DEFAULT_SIGMAS, **kwargs: Any
) -> dict[str, Any]:
    """Full protocol: ``sigma`` by grid search on ``valid``, then mean test log-likelihood +- s.e."""
    sigma, valid_ll = select_bandwidth(valid, samples, sigmas, **kwargs)
    ll = parzen_log_likelihood(test, samples, sigma, **kwargs)
    mean, se = mean_and_stderr(ll)
    return {"log_likelihood": mean, "stderr": se, "sigma": sigma, "valid_log_likelihood": valid_ll}


@register_metric("parzen", "Parzen-window log-likelihood of test data under samples (Breuleux et al. 2009)")
def parzen_metric(
    ctx: MetricContext,
    n_samples: int = 10000,
    valid_split: str = "valid",
    n_valid: int | None = None,
    test_split: str = "test",
    n_test: int | None = None,
    baseline_split: str = "train",
    sigmas: Any = DEFAULT_SIGMAS,
) -> MetricResult:
    """Parzen log-likelihood (nats) of ``test_split`` under a Gaussian KDE on ``n_samples`` samples.

    Protocol of Goodfellow et al. 2014: bandwidth by grid search on ``valid_split``. The real-data
    baseline fits the KDE to ``n_samples`` images of ``baseline_split`` (default train). The error is
    the standard error over test points.
    """
    images, source = evaluation_images(ctx, n_samples, baseline_split)
    valid = reference_images(ctx, valid_split, n_valid)
    test = reference_images(ctx, test_split, n_test)
    res = parzen_estimate(test, images, valid, sigmas)
    grid = ",".join(f"{float(s):.4g}" for s in sigmas)
    return MetricResult(
        "parzen",
        {"parzen_log_likelihood": res["log_likelihood"]},
        errors={"parzen_log_likelihood": res["stderr"]},
        protocol={
            "data": getattr(ctx, "data_name", None),
            "n_samples": len(images),
            "source": source,
            "valid_split": valid_split,
            "n_valid": len(valid),
            "test_split": test_split,
            "n_test": len(test),
            "sigma_grid": grid,
            "space": "pixels in [0, 1]",
            "seed": int(ctx.seed),
            "error": "standard error over test images",
        },
        details={
            "sigma": res["sigma"],
            "parzen_stderr": res["stderr"],
            "valid_log_likelihood_at_sigma": max(res["valid_log_likelihood"]),
        },
    )
