"""MMD² estimators against a double-loop reference and their statistical behaviour."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from genzoo.metrics.mmd import gaussian_kernel, mmd2, polynomial_kernel, squared_distances


def _k_gauss(a: np.ndarray, b: np.ndarray, sigmas: list[float]) -> float:
    d2 = float(((a - b) ** 2).sum())
    return sum(math.exp(-d2 / (2 * s * s)) for s in sigmas)


def _k_poly(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    return (gamma * float((a * b).sum()) + coef0) ** degree


def _mmd2_loop(x: np.ndarray, y: np.ndarray, k, unbiased: bool) -> float:
    n, m = len(x), len(y)
    sxx = syy = sxy = 0.0
    for i in range(n):
        for j in range(n):
            if unbiased and i == j:
                continue
            sxx += k(x[i], x[j])
    for i in range(m):
        for j in range(m):
            if unbiased and i == j:
                continue
            syy += k(y[i], y[j])
    for i in range(n):
        for j in range(m):
            sxy += k(x[i], y[j])
    if unbiased:
        return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    return sxx / n**2 + syy / m**2 - 2 * sxy / (n * m)


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("kind", ["gauss", "poly"])
def test_matches_double_loop(unbiased: bool, kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 2, 3))  # flattened to d = 6
    y = rng.normal(loc=0.5, size=(5, 2, 3))
    xf, yf = x.reshape(7, -1), y.reshape(5, -1)
    if kind == "gauss":
        sigmas = [0.5, 1.0, 3.0]
        kernel = functools.partial(gaussian_kernel, sigmas=sigmas)
        ref = _mmd2_loop(xf, yf, lambda a, b: _k_gauss(a, b, sigmas), unbiased)
    else:
        kernel = functools.partial(polynomial_kernel, degree=3, gamma=None, coef0=1.0)
        ref = _mmd2_loop(xf, yf, lambda a, b: _k_poly(a, b, 3, 1 / 6, 1.0), unbiased)
    got = mmd2(torch.from_numpy(x), torch.from_numpy(y), kernel, unbiased=unbiased)
    assert got.dim() == 0
    assert abs(float(got) - ref) < 1e-6
    # numpy input gives the same number
    assert abs(float(mmd2(x, y, kernel, unbiased=unbiased)) - ref) < 1e-6


def test_kernel_gram_entries() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    g = gaussian_kernel(x, y, sigmas=[2.0, 5.0]).numpy()
    p = polynomial_kernel(x, y, degree=2, gamma=0.7, coef0=0.3).numpy()
    assert g.shape == p.shape == (4, 6)
    for i in range(4):
        for j in range(6):
            assert abs(g[i, j] - _k_gauss(x[i], y[j], [2.0, 5.0])) < 1e-9
            assert abs(p[i, j] - _k_poly(x[i], y[j], 2, 0.7, 0.3)) < 1e-9
    d2 = squared_distances(x, x).numpy()
    assert np.all(d2 >= 0) and np.allclose(np.diag(d2), 0.0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gauss", "poly"])
def test_unbiased_is_zero_in_expectation_for_equal_distributions(kind: str) -> None:
    g = torch.Generator().manual_seed(0)
    kernel = (
        functools.partial(gaussian_kernel, sigmas=[1.0, 2.0]) if kind == "gauss" else polynomial_kernel
    )
    draws_u, draws_b = [], []
    for _ in range(300):
        x = torch.randn(20, 3, generator=g, dtype=torch.float64)
        y = torch.randn(20, 3, generator=g, dtype=torch.float64)
        draws_u.append(float(mmd2(x, y, kernel, unbiased=True)))
        draws_b.append(float(mmd2(x, y, kernel, unbiased=False)))
    u = np.array(draws_u)
    se = u.std(ddof=1) / math.sqrt(len(u))
    assert abs(u.mean()) < 4 * se, (u.mean(), se)
    # some single draws are negative (it is unbiased, not non-negative) ...
    assert (u < 0).any()
    # ... while the biased estimator is >= 0 and clearly biased upwards at this sample size
    b = np.array(draws_b)
    assert (b >= -1e-12).all()
    assert b.mean() > 10 * b.std(ddof=1) / math.sqrt(len(b))


@pytest.mark.parametrize("kind", ["gauss", "poly"])
def test_positive_for_different_distributions(kind: str) -> None:
    g = torch.Generator().manual_seed(1)
    kernel = (
        functools.partial(gaussian_kernel, sigmas=[1.0, 2.0]) if kind == "gauss" else polynomial_kernel
    )
    same, diff = [], []
    for _ in range(20):
        x = torch.randn(100, 3, generator=g, dtype=torch.float64)
        y = torch.randn(100, 3, generator=g, dtype=torch.float64)
        z = torch.randn(100, 3, generator=g, dtype=torch.float64) * 1.5 + 1.0
        same.append(float(mmd2(x, y, kernel)))
        diff.append(float(mmd2(x, z, kernel)))
    assert min(diff) > 0
    assert np.mean(diff) > 10 * max(abs(np.mean(same)), np.std(same))


def test_differentiable_and_pulls_samples_together() -> None:
    g = torch.Generator().manual_seed(2)
    target = torch.randn(64, 2, generator=g) + 3.0
    x = torch.randn(64, 2, generator=g).requires_grad_(True)
    kernel = functools.partial(gaussian_kernel, sigmas=[1.0, 4.0])
    opt = torch.optim.SGD([x], lr=100.0)
    first = float(mmd2(x.detach(), target, kernel))
    for _ in range(100):
        opt.zero_grad()
        loss = mmd2(x, target, kernel)
        loss.backward()
        assert torch.isfinite(x.grad).all()
        opt.step()
    assert float(mmd2(x.detach(), target, kernel)) < 0.1 * first


def test_rejects_bad_inputs() -> None:
    x = torch.randn(1, 3)
    with pytest.raises(ValueError):
        mmd2(x, torch.randn(5, 3))
    with pytest.raises(ValueError):
        gaussian_kernel(torch.randn(2, 3), torch.randn(2, 3), sigmas=[])
    with pytest.raises(ValueError):
        polynomial_kernel(torch.randn(2, 3), torch.randn(2, 4))
