"""The fast NADE likelihoods (native CPU kernel and blocked torch) against the reference formulation:
same log-likelihoods and gradients on random inputs, in float64 and float32."""

from __future__ import annotations

import pytest
import torch

from genzoo.core import DataInfo
from genzoo.models.autoregressive.nade import NADE, NADEConfig
from genzoo.nn.discrete import discrete_log_prob
from genzoo.nn.nade_fused import nade_logits, native_library

IMPLS = ["torch", pytest.param("native", marks=pytest.mark.skipif(
    native_library() is None, reason="no C++ compiler to build genzoo/nn/nade_cpu.cpp"))]


def _model(dtype: torch.dtype, shape: tuple[int, int, int] = (1, 5, 7), hidden: int = 37) -> NADE:
    torch.manual_seed(0)
    model = NADE(NADEConfig(hidden=hidden, init_std=0.5), DataInfo(shape, 2)).to(dtype)
    with torch.no_grad():  # non-zero biases, so every parameter's gradient is exercised
        model.c.normal_()
        model.b.normal_()
    return model


def _loglik_and_grads(model: NADE, x: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
    ll = discrete_log_prob(logits, x.flatten(1), 2)
    weights = torch.linspace(0.5, 1.5, len(x), dtype=ll.dtype)  # a loss that weighs examples differently
    grads = torch.autograd.grad((ll * weights).sum(), [model.W, model.c, model.V, model.b])
    return (ll.detach(), *grads)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("block", [1, 4, 16, 64])
def test_fast_path_equals_reference_float64(impl: str, block: int) -> None:
    model = _model(torch.float64)
    x = (torch.rand(9, 1, 5, 7, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    ref = _loglik_and_grads(model, x, model.logits_reference(x))
    fast = _loglik_and_grads(model, x, nade_logits(x, model.W, model.c, model.V, model.b, block, impl))
    for r, f in zip(ref, fast):
        torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("impl", IMPLS)
def test_fast_path_equals_reference_float32_mnist_size(impl: str) -> None:
    """The paper's H = 500 on 28x28 images, with MNIST-like sparsity, to float32 tolerance."""
    model = _model(torch.float32, (1, 28, 28), 500)
    with torch.no_grad():
        model.W.mul_(0.1)
        model.V.mul_(0.1)
    x = (torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(2)) < 0.15).float()
    ref = _loglik_and_grads(model, x, model.logits_reference(x))
    fast = _loglik_and_grads(model, x, nade_logits(x, model.W, model.c, model.V, model.b, 16, impl))
    torch.testing.assert_close(fast[0], ref[0], rtol=1e-5, atol=1e-3)  # log p(x) of ~ -500 nats
    for r, f in zip(ref[1:], fast[1:]):
        torch.testing.assert_close(f, r, rtol=1e-4, atol=1e-4 * float(r.abs().max()))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_hidden_units_stay_finite_and_exact(impl: str, dtype: torch.dtype) -> None:
    """Pre-activations far past exp's range (|a| up to ~300; float32's exp overflows past 88). The native
    kernel once computed 1 / (1 + exp(-a)) under -ffast-math and returned NaN there: a 40-minute
    `genzoo reproduce nade` run died at step 5,598."""
    model = _model(dtype, (1, 4, 5), 12)
    with torch.no_grad():
        model.c.copy_(torch.linspace(-300, 300, 12, dtype=dtype))
        model.W.mul_(40)
    x = (torch.rand(6, 1, 4, 5, generator=torch.Generator().manual_seed(3)) < 0.5).to(dtype)
    ref = _loglik_and_grads(model, x, model.logits_reference(x))
    fast = _loglik_and_grads(model, x, nade_logits(x, model.W, model.c, model.V, model.b, 4, impl))
    for r, f in zip(ref, fast):
        assert bool(torch.isfinite(f).all())
        torch.testing.assert_close(f, r, rtol=1e-5, atol=1e-5 * max(1.0, float(r.abs().max())))


def test_model_uses_the_fast_path_and_it_normalises() -> None:
    """log_prob (fast path) sums to 1 over all 2^D images of a tiny NADE, and equals the reference."""
    model = _model(torch.float64, (1, 2, 5))
    grid = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * 10).view(-1, 1, 2, 5)
    lp = model.log_prob(grid).detach()
    assert abs(float(torch.logsumexp(lp, 0))) < 1e-10
    torch.testing.assert_close(lp, discrete_log_prob(model.logits_reference(grid), grid.flatten(1), 2))


def test_bad_arguments() -> None:
    model = _model(torch.float64)
    x = torch.zeros(2, 35, dtype=torch.float64)
    with pytest.raises(ValueError, match="block must be"):
        nade_logits(x, model.W, model.c, model.V, model.b, 0)
    with pytest.raises(ValueError, match="impl must be"):
        nade_logits(x, model.W, model.c, model.V, model.b, 4, "cuda-magic")


@pytest.mark.parametrize("impl", IMPLS)
def test_input_gradient_equals_reference(impl: str) -> None:
    """dL/dx (used by the autoregressive-order tests) from the fast paths equals the reference's."""
    model = _model(torch.float64)
    x = torch.rand(6, 35, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 35, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (ref,) = torch.autograd.grad((model.logits_reference(x) * w).sum(), x)
    (fast,) = torch.autograd.grad((nade_logits(x, model.W, model.c, model.V, model.b, 4, impl) * w).sum(), x)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
