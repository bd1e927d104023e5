"""KID: unbiased (zero-mean for equal distributions), positive for different ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo.metrics.kid import kid
from genzoo.metrics.mmd import mmd2, polynomial_kernel


def direct_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_single_subset_matches_direct_sum() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) + 0.3
    # subset_size = N: every subset is a permutation of the whole set, so every value is the same
    mean, std = kid(x, y, n_subsets=3, subset_size=12)
    assert mean == pytest.approx(direct_mmd2_unbiased(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_unbiased_for_equal_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    values = []
    for _ in range(200):
        x = torch.randn(30, 8, generator=g, dtype=torch.float64)
        y = torch.randn(30, 8, generator=g, dtype=torch.float64)
        values.append(float(mmd2(x, y, kernel=polynomial_kernel, unbiased=True)))
    v = np.asarray(values)
    se = v.std(ddof=1) / math.sqrt(len(v))
    assert abs(v.mean()) < 4 * se
    assert (v < 0).any()  # an unbiased estimate goes negative on some draws
    # the biased estimate is positive on average: its mean is several standard errors above 0
    b = np.asarray([
        float(mmd2(torch.randn(30, 8, generator=g), torch.randn(30, 8, generator=g), unbiased=False,
                   kernel=polynomial_kernel))
        for _ in range(50)
    ])
    assert b.mean() > 4 * b.std(ddof=1) / math.sqrt(len(b))


def test_kid_near_zero_same_and_positive_different() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    c = rng.normal(size=(600, 16)) * 1.5 + 0.5
    same_mean, same_std = kid(a, b, n_subsets=20, subset_size=200)
    diff_mean, diff_std = kid(a, c, n_subsets=20, subset_size=200)
    assert abs(same_mean) < 4 * same_std / math.sqrt(20) + 1e-3
    assert diff_mean > 10 * diff_std / math.sqrt(20)
    assert diff_mean > 20 * abs(same_mean)


def test_torch_fidelity_draw_matches_its_procedure() -> None:
    """draw="torch-fidelity", ddof=0: RandomState(seed).choice of input1 then input2 per subset, np.std."""
    rng = np.random.default_rng(5)
    gen, ref = rng.normal(size=(40, 6)), rng.normal(size=(50, 6)) + 0.2
    n_subsets, size, seed = 4, 15, 2020
    state = np.random.RandomState(seed)
    values = []
    for _ in range(n_subsets):
        a = gen[state.choice(len(gen), size, replace=False)]
        b = ref[state.choice(len(ref), size, replace=False)]
        values.append(direct_mmd2_unbiased(a, b))
    mean, std = kid(gen, ref, n_subsets=n_subsets, subset_size=size, seed=seed, ddof=0, draw="torch-fidelity")
    assert mean == pytest.approx(np.mean(values), rel=1e-9)
    assert std == pytest.approx(np.std(values), rel=1e-8)
    _, std1 = kid(gen, ref, n_subsets=n_subsets, subset_size=size, seed=seed, ddof=1, draw="torch-fidelity")
    assert std1 == pytest.approx(np.std(values, ddof=1), rel=1e-8)
    with pytest.raises(ValueError, match="draw must be one of"):
        kid(gen, ref, draw="bogus")
