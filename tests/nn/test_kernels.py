"""genzoo.nn.kernels: the Gaussian kernel under both width conventions against a direct formula,
and GMMN's loss using the convention its config names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo.core import DataInfo
from genzoo.models.moment_matching.gmmn import GMMN, GMMNConfig, mmd_loss
from genzoo.nn.kernels import gaussian_kernel, mmd2


def _direct(x: np.ndarray, y: np.ndarray, widths: list[float], scale: str) -> np.ndarray:
    """Entry by entry: sum_s exp(-|x_i - y_j|^2 / (2 v_s)), v_s = s (variance) or s^2 (std)."""
    out = np.zeros((len(x), len(y)))
    for i in range(len(x)):
        for j in range(len(y)):
            d2 = float(((x[i] - y[j]) ** 2).sum())
            out[i, j] = sum(math.exp(-d2 / (2 * (s if scale == "variance" else s * s))) for s in widths)
    return out


@pytest.mark.parametrize("scale", ["variance", "std"])
def test_gaussian_kernel_matches_direct_formula(scale: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 7)) * 3, rng.normal(size=(4, 7)) * 3
    widths = [2.0, 5.0, 10.0, 20.0, 40.0, 80.0]
    got = gaussian_kernel(x, y, sigmas=widths, scale=scale).numpy()
    np.testing.assert_allclose(got, _direct(x, y, widths, scale), rtol=1e-10, atol=1e-12)


def test_conventions_differ_and_agree_at_width_one() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(3, 4))
    var = gaussian_kernel(x, y, sigmas=[4.0], scale="variance")
    std = gaussian_kernel(x, y, sigmas=[2.0], scale="std")  # variance 4 == std 2
    torch.testing.assert_close(var, std)
    assert not torch.allclose(gaussian_kernel(x, y, [4.0], "variance"), gaussian_kernel(x, y, [4.0], "std"))
    torch.testing.assert_close(gaussian_kernel(x, y, [1.0], "variance"), gaussian_kernel(x, y, [1.0], "std"))


def test_unknown_scale_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="scale must be one of variance, std"):
        gaussian_kernel(np.zeros((2, 2)), np.zeros((2, 2)), [1.0], scale="sigma")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model.kernel_scale"):
        GMMN(GMMNConfig(kernel_scale="bandwidth"), DataInfo((1, 8, 8), 17))  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", ["variance", "std"])
def test_gmmn_loss_uses_its_convention(scale: str) -> None:
    """mmd_loss == sqrt of the biased MMD² with the direct-formula Gram matrices."""
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(9, 16, generator=g, dtype=torch.float64), torch.rand(7, 16, generator=g, dtype=torch.float64)
    widths = [2.0, 5.0]
    obj, m2 = mmd_loss(a, b, widths, "sqrt", unbiased=False, kernel_scale=scale)
    an, bn = a.numpy(), b.numpy()
    ref = (_direct(an, an, widths, scale).mean() + _direct(bn, bn, widths, scale).mean()
           - 2 * _direct(an, bn, widths, scale).mean())
    assert abs(float(m2) - ref) < 1e-10
    assert abs(float(obj) - math.sqrt(ref + 1e-12)) < 1e-10
    # the paper's default reads the widths as variances
    assert GMMNConfig().kernel_scale == "variance"
    kern = lambda p, q: gaussian_kernel(p, q, widths, scale)  # noqa: E731
    assert abs(float(mmd2(a, b, kern, unbiased=False)) - ref) < 1e-10
