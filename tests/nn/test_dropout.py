"""genzoo.nn.dropout: the bit-unpacking mask at p = 0.5 is Bernoulli(0.5) per element, independent,
scaled by 2; other rates and eval mode behave as torch's dropout; seeded runs repeat."""

from __future__ import annotations

import pytest
import torch

from genzoo.nn.dropout import Dropout, half_dropout_mask


def test_half_mask_distribution() -> None:
    torch.manual_seed(0)
    n = 800_000
    m = half_dropout_mask((n,), torch.device("cpu"), torch.float32)
    assert set(m.unique().tolist()) == {0.0, 2.0}
    keep = m / 2
    sd = 0.5 / n**0.5
    assert abs(float(keep.mean()) - 0.5) < 5 * sd
    # every bit position of the source bytes is a fair coin, and neighbours are independent
    by_bit = keep.view(-1, 8).mean(0)
    assert torch.all((by_bit - 0.5).abs() < 5 * 0.5 / (n / 8) ** 0.5)
    pair = float((keep[1:] * keep[:-1]).mean())
    assert abs(pair - 0.25) < 5 * (0.25 * 0.75 / n) ** 0.5
    assert abs(float((keep.view(-1, 8)[:, 0] * keep.view(-1, 8)[:, 7]).mean()) - 0.25) < 0.01


def test_module_modes_and_repeatability() -> None:
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    d = Dropout(0.5)
    d.eval()
    assert d(x) is x
    d.train()
    torch.manual_seed(3)
    a = d(x)
    torch.manual_seed(3)
    b = d(x)
    assert torch.equal(a, b)
    kept = a != 0
    torch.testing.assert_close(a[kept], 2 * x[kept])
    (g,) = torch.autograd.grad(a.sum(), x)
    torch.testing.assert_close(g, 2.0 * kept.float())
    torch.manual_seed(3)
    other = Dropout(0.2)(x)  # not the fast path: torch's dropout
    torch.manual_seed(3)
    torch.testing.assert_close(other, torch.nn.functional.dropout(x, 0.2, True))
    with pytest.raises(ValueError, match="dropout rate"):
        Dropout(1.0)
