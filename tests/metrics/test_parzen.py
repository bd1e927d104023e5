"""Parzen-window estimate against a direct scipy reference, and bandwidth selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from genzoo.metrics.parzen import DEFAULT_SIGMAS, parzen_estimate, parzen_log_likelihood, select_bandwidth


def reference(x: np.ndarray, s: np.ndarray, sigma: float) -> np.ndarray:
    x, s = x.reshape(len(x), -1), s.reshape(len(s), -1)
    d = x.shape[1]
    sq = ((x[:, None, :] - s[None, :, :]) ** 2).sum(-1)
    norm = math.log(len(s)) + d / 2 * math.log(2 * math.pi * sigma**2)
    return logsumexp(-sq / (2 * sigma**2), axis=1) - norm


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    samples = rng.uniform(size=(57, 1, 3, 4))
    valid = rng.uniform(size=(23, 1, 3, 4))
    test = rng.uniform(size=(31, 1, 3, 4))
    return samples, valid, test


@pytest.mark.parametrize("sigma", [0.05, 0.2, 1.0])
def test_matches_direct_reference(data: tuple[np.ndarray, np.ndarray, np.ndarray], sigma: float) -> None:
    samples, _, test = data
    # chunks that do not divide the sizes exercise the running log-sum-exp
    got = parzen_log_likelihood(test, samples, sigma, chunk=7, sample_chunk=10)
    assert got.shape == (31,)
    np.testing.assert_allclose(got.numpy(), reference(test, samples, sigma), rtol=1e-10)


def test_grid_evaluates_each_bandwidth(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    samples, _, test = data
    grid = [0.1, 0.3, 0.9]
    got = parzen_log_likelihood(test, samples, grid, chunk=5, sample_chunk=8)
    assert got.shape == (3, 31)
    for row, s in zip(got, grid, strict=True):
        np.testing.assert_allclose(row.numpy(), reference(test, samples, s), rtol=1e-10)


def test_bandwidth_matches_brute_force(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    samples, valid, test = data
    grid = list(DEFAULT_SIGMAS)
    brute = grid[int(np.argmax([reference(valid, samples, s).mean() for s in grid]))]
    sigma, lls = select_bandwidth(valid, samples, grid)
    assert sigma == brute
    assert len(lls) == len(grid)
    # interior optimum for this data (not the edge of the grid)
    assert grid[0] < sigma < grid[-1]
    res = parzen_estimate(test, samples, valid, grid)
    ref = reference(test, samples, brute)
    assert res["sigma"] == brute
    assert res["log_likelihood"] == pytest.approx(ref.mean(), rel=1e-10)
    assert res["stderr"] == pytest.approx(ref.std(ddof=1) / math.sqrt(len(ref)), rel=1e-8)


def test_better_model_scores_higher() -> None:
    g = torch.Generator().manual_seed(1)
    test = torch.randn(200, 5, generator=g)
    good = torch.randn(500, 5, generator=g)
    bad = torch.randn(500, 5, generator=g) * 3 + 2
    assert parzen_log_likelihood(test, good, 0.5).mean() > parzen_log_likelihood(test, bad, 0.5).mean()


def test_far_away_points_stay_finite() -> None:
    x = torch.zeros(2, 100, dtype=torch.float64)
    s = torch.full((3, 100), 50.0, dtype=torch.float64)  # exp(-huge) underflows without log-sum-exp
    out = parzen_log_likelihood(x, s, 0.1)
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out.numpy(), reference(x.numpy(), s.numpy(), 0.1), rtol=1e-10)
