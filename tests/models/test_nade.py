"""NADE: autoregressive structure, exact normalisation, fast == naive sampler, training."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.core import DataInfo
from genzoo.models.autoregressive.nade import NADE, NADEConfig
from genzoo.registry import MODELS


def all_binary(shape: tuple[int, ...]) -> torch.Tensor:
    d = math.prod(shape)
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d))).reshape(-1, *shape)


def test_rejects_non_binary_data() -> None:
    with pytest.raises(ValueError, match="levels"):
        NADE(NADEConfig(hidden=4), DataInfo((1, 4, 4), 256))


def test_registered_with_paper_default() -> None:
    assert MODELS.get("nade") is NADE
    assert NADEConfig().hidden == 500


def test_logit_d_depends_only_on_earlier_pixels() -> None:
    torch.manual_seed(0)
    model = NADE(NADEConfig(hidden=7, init_std=0.5), DataInfo((1, 3, 3), 2)).double()
    x = torch.rand(4, 9, dtype=torch.float64, requires_grad=True)
    logits = model.logits(x)
    for d in range(9):
        (g,) = torch.autograd.grad(logits[:, d].sum(), x, retain_graph=True)
        g = g.abs().sum(0)
        assert g[d:].max() == 0.0
        if d > 0:
            assert (g[:d] > 0).all()


def test_log_prob_matches_explicit_product_of_conditionals() -> None:
    torch.manual_seed(1)
    model = NADE(NADEConfig(hidden=5, init_std=0.5), DataInfo((1, 2, 3), 2))
    x = torch.bernoulli(torch.full((3, 1, 2, 3), 0.5))
    flat = x.reshape(3, -1)
    manual = torch.zeros(3)
    for d in range(6):  # Eqs. 2-3, recomputed from scratch for every d
        h = torch.sigmoid(model.c + flat[:, :d] @ model.W[:, :d].t())
        p1 = torch.sigmoid(model.b[d] + h @ model.V[d])
        manual += torch.where(flat[:, d] == 1, p1, 1 - p1).log()
    torch.testing.assert_close(model.log_prob(x), manual, rtol=1e-5, atol=1e-5)


def test_normalised_on_3x3_binary() -> None:
    torch.manual_seed(0)
    model = NADE(NADEConfig(hidden=16, init_std=1.0), DataInfo((1, 3, 3), 2))
    with torch.no_grad():
        lp = model.log_prob(all_binary((1, 3, 3)))
    assert abs(torch.logsumexp(lp, 0).exp().item() - 1.0) < 1e-4
    assert lp.std() > 0.1  # not the uniform distribution


def test_fast_sampler_equals_naive_and_follows_model() -> None:
    torch.manual_seed(2)
    model = NADE(NADEConfig(hidden=12, init_std=1.5), DataInfo((1, 2, 2), 2))
    fast = model.sample(4000, generator=torch.Generator().manual_seed(7))
    naive = model.sample(4000, generator=torch.Generator().manual_seed(7), method="naive")
    assert torch.equal(fast, naive)
    assert fast.shape == (4000, 1, 2, 2)
    idx = (fast.reshape(-1, 4) * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(idx, minlength=16).float() / 4000
    with torch.no_grad():
        p = model.log_prob(all_binary((1, 2, 2))).exp()
    assert (freq - p).abs().max() < 0.03
    assert not torch.equal(fast[:100], model.sample(100, generator=torch.Generator().manual_seed(8)))
    with pytest.raises(ValueError):
        model.sample(2, method="other")


def test_fast_equals_naive_on_mnist_sized_model() -> None:
    torch.manual_seed(0)
    model = NADE(NADEConfig(hidden=30, init_std=0.3), DataInfo((1, 28, 28), 2))
    a = model.sample(8, generator=torch.Generator().manual_seed(0))
    b = model.sample(8, generator=torch.Generator().manual_seed(0), method="naive")
    assert torch.equal(a, b)


def test_training_lowers_test_nll_on_binarized_mnist(data_dir) -> None:
    from genzoo.data import load_dataset

    # train on 3,200 validation images (the 10k-image splits load much faster than train), test on 300
    train = load_dataset("binarized-mnist", "valid", data_dir=data_dir).subset(slice(0, 3200)).tensor()
    test = load_dataset("binarized-mnist", "test", data_dir=data_dir).subset(slice(0, 300)).tensor()
    torch.manual_seed(0)
    model = NADE(NADEConfig(hidden=20), DataInfo((1, 28, 28), 2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)

    def test_nll() -> float:
        with torch.no_grad():
            return -model.log_prob(test).mean().item()

    before = test_nll()
    for step in range(120):
        start = (step * 32) % len(train)
        out = model.training_step({"x": train[start : start + 32]}, step, "model")
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = test_nll()
    assert before > 500 and after < 250, (before, after)  # init: ~784 ln 2 = 543 nats
    assert abs(out["bits_per_dim"].item() - out["nll"].item() / (784 * math.log(2))) < 1e-6
