"""nats <-> bits/dim, log-mean-exp and the importance-weighted bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from genzoo.metrics.likelihood import (
    bits_per_dim_to_nats,
    density_nll_to_discrete,
    iw_bound,
    log_prob_to_bits_per_dim,
    logmeanexp,
    mean_and_stderr,
    nats_to_bits_per_dim,
)


def test_uniform_over_256_levels_is_8_bits_per_dim() -> None:
    dims = 3 * 32 * 32
    nll = dims * math.log(256.0)  # -log prod_d (1/256)
    assert nats_to_bits_per_dim(nll, dims) == pytest.approx(8.0, rel=1e-12)
    lp = torch.tensor([-nll], dtype=torch.float64)
    assert log_prob_to_bits_per_dim(lp, dims).item() == pytest.approx(8.0)
    # binary data, uniform: 1 bit/dim
    assert nats_to_bits_per_dim(784 * math.log(2.0), 784) == pytest.approx(1.0)


def test_round_trip_and_types() -> None:
    values = np.array([10.0, 500.5, 3000.0])
    back = bits_per_dim_to_nats(nats_to_bits_per_dim(values, 784), 784)
    np.testing.assert_allclose(back, values, rtol=1e-12)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert isinstance(nats_to_bits_per_dim(t, 10), torch.Tensor)
    assert torch.allclose(bits_per_dim_to_nats(nats_to_bits_per_dim(t, 10), 10), t)
    with pytest.raises(ValueError):
        nats_to_bits_per_dim(1.0, 0)


def test_density_to_discrete_uniform() -> None:
    # uniform density on [0,1]^D has nll 0; discrete bins of 1/256 each get probability 256^-D
    assert density_nll_to_discrete(0.0, 10, 256) == pytest.approx(10 * math.log(256))
    assert nats_to_bits_per_dim(density_nll_to_discrete(0.0, 10, 256), 10) == pytest.approx(8.0)


def test_logmeanexp_matches_scipy_and_is_stable() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5)) * 50 - 1000.0  # exp would underflow
    ref = logsumexp(x, axis=0) - math.log(7)
    np.testing.assert_allclose(logmeanexp(x, dim=0), ref, rtol=1e-12)
    t = logmeanexp(torch.from_numpy(x), dim=0)
    assert torch.isfinite(t).all()
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-12)


def test_iw_bound() -> None:
    rng = np.random.default_rng(1)
    lw = torch.from_numpy(rng.normal(size=(50, 4)) - 300.0)
    b = iw_bound(lw)
    assert b.shape == (4,)
    ref = np.log(np.mean(np.exp(lw.numpy() + 300.0), axis=0)) - 300.0
    np.testing.assert_allclose(b.numpy(), ref, rtol=1e-10)
    # k=1 is the ELBO itself; Jensen: the k-sample bound is >= the mean of single weights
    assert torch.allclose(iw_bound(lw[:1]), lw[0])
    assert (b >= lw.mean(0)).all()
    with pytest.raises(ValueError):
        iw_bound(lw[0])


def test_mean_and_stderr() -> None:
    v = np.array([1.0, 2.0, 3.0, 4.0])
    m, se = mean_and_stderr(v)
    assert m == 2.5
    assert se == pytest.approx(np.std(v, ddof=1) / 2.0)
