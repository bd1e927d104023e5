"""PixelRNN (Row LSTM, Diagonal BiLSTM): causality, normalisation, fast == naive sampler, learning."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import torch

from genzoo.core import DataInfo
from genzoo.models.autoregressive.pixelrnn import DiagonalBiLSTM, PixelRNN, RowLSTM
from genzoo.registry import MODELS

MODELS_UNDER_TEST = [RowLSTM, DiagonalBiLSTM]


def tiny(cls: type[PixelRNN], info: DataInfo, seed: int = 0, **kw: int) -> PixelRNN:
    torch.manual_seed(seed)
    cfg = {"layers": 2, "hidden": 5, "input_kernel": 3, "output_hidden": 8}
    cfg.update(kw)
    return cls(cls.Config(**cfg), info)


def raster_index(c: int, i: int, j: int, shape: tuple[int, int, int]) -> int:
    C, _, W = shape
    return (i * W + j) * C + c


def jacobian(fn, x: torch.Tensor) -> torch.Tensor:
    """``d fn(x)[k] / d x[m]`` for a per-sub-pixel output, shape ``(D, D)`` in raster/colour order."""
    C, H, W = x.shape[1:]

    def flat(t: torch.Tensor) -> torch.Tensor:  # (C, H, W) -> raster order (H, W, C) flattened
        return t.permute(1, 2, 0).reshape(-1)

    out = flat(fn(x)[0])
    rows = []
    for k in range(out.numel()):
        (g,) = torch.autograd.grad(out[k], x, retain_graph=True)
        rows.append(flat(g[0]))
    return torch.stack(rows)


def logits_per_subpixel(model: PixelRNN):
    def fn(x: torch.Tensor) -> torch.Tensor:
        lg = model.logits(x)
        return lg if model.levels == 2 else lg.sum(dim=1)  # sum the levels of each sub-pixel

    return fn


def stream_per_group(model: PixelRNN):
    """Sum of the residual-stream features of each channel group: group c of pixel p -> entry (c, p)."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        s = model._stream(model._input(x))
        n, ch, H, W = s.shape
        groups = torch.arange(ch) % model.C
        return torch.stack([s[:, groups == c].sum(dim=1) for c in range(model.C)], dim=1)

    return fn


@pytest.mark.parametrize("cls", MODELS_UNDER_TEST)
@pytest.mark.parametrize("info", [DataInfo((1, 5, 6), 2), DataInfo((3, 4, 5), 256)], ids=["binary", "rgb256"])
def test_autoregressive_by_gradients(cls: type[PixelRNN], info: DataInfo) -> None:
    """Sub-pixel k's logits have zero gradient w.r.t. every input sub-pixel m >= k (raster, then R->G->B)."""
    model = tiny(cls, info).double()
    torch.manual_seed(1)
    x = torch.rand(1, *info.shape, dtype=torch.float64, requires_grad=True)
    jac = jacobian(logits_per_subpixel(model), x)
    D = info.dims
    future = torch.triu(torch.ones(D, D, dtype=torch.bool))  # m >= k
    assert jac[future].abs().max().item() == 0.0
    assert jac.abs().sum() > 0
    # the features of colour group c do look at the past: the previous sub-pixel in the same row (the
    # earlier colours of the same pixel, or the left neighbour) and the same colour of the pixel above
    feats = jacobian(stream_per_group(model), x)
    assert feats[future].abs().max().item() == 0.0
    C, H, W = info.shape
    for i, j, c in itertools.product(range(H), range(W), range(C)):
        k = raster_index(c, i, j, info.shape)
        if j > 0 or c > 0:
            assert feats[k, k - 1] != 0, (i, j, c)
        if i > 0:
            assert feats[k, raster_index(c, i - 1, j, info.shape)] != 0, (i, j, c)


@pytest.mark.parametrize("layers", [1, 2])
def test_diagonal_bilstm_context(layers: int) -> None:
    """Diagonal BiLSTM (Sec. 3.2): group c of pixel (i, j) depends on every earlier sub-pixel, including the
    far upper right that only the shifted right-to-left direction reaches with a 3x3 input conv — except
    one: the last colour of the last pixel of row i - 1, which no feature of row i - 1 contains (mask A), so
    the right-to-left pass over row i - 1 cannot carry it; only the input conv reaches it (j >= W - 1 - q)."""
    info = DataInfo((3, 4, 6), 256)
    C, H, W = info.shape
    q = 1  # input_kernel 3
    model = tiny(DiagonalBiLSTM, info, layers=layers).double()
    x = torch.rand(1, *info.shape, dtype=torch.float64, requires_grad=True)
    jac = jacobian(stream_per_group(model), x)
    D = info.dims
    expected = torch.tril(torch.ones(D, D, dtype=torch.bool), diagonal=-1)  # m < k
    for i, j, c in itertools.product(range(1, H), range(W - 1 - q), range(C)):
        expected[raster_index(c, i, j, info.shape), raster_index(C - 1, i - 1, W - 1, info.shape)] = False
    assert torch.equal(jac != 0, expected)


def test_row_lstm_context_is_triangular() -> None:
    """Row LSTM (Sec. 3.1): with a 3x3 input conv and one layer, pixel (3, 0) cannot see (0, 5), which a
    Diagonal BiLSTM of the same size does see — the Row LSTM's context is a triangle above the pixel."""
    info = DataInfo((1, 4, 6), 2)
    for cls, sees in ((RowLSTM, False), (DiagonalBiLSTM, True)):
        model = tiny(cls, info, layers=1).double()
        x = torch.rand(1, *info.shape, dtype=torch.float64, requires_grad=True)
        jac = jacobian(stream_per_group(model), x)
        k, m = raster_index(0, 3, 0, info.shape), raster_index(0, 0, 5, info.shape)
        assert bool(jac[k, m] != 0) == sees, cls.__name__


def all_images(info: DataInfo) -> torch.Tensor:
    codes = torch.tensor(list(itertools.product(range(info.levels), repeat=info.dims)), dtype=torch.float32)
    return (codes / (info.levels - 1)).reshape(-1, *info.shape)


@pytest.mark.parametrize("cls", MODELS_UNDER_TEST)
@pytest.mark.parametrize(
    "info",
    [DataInfo((1, 3, 3), 2), DataInfo((1, 2, 4), 2), DataInfo((3, 1, 2), 3)],
    ids=["3x3", "2x4", "rgb1x2"],
)
def test_normalised(cls: type[PixelRNN], info: DataInfo) -> None:
    """sum over every possible image of exp(log_prob) == 1."""
    model = tiny(cls, info, seed=2)
    with torch.no_grad():
        total = model.log_prob(all_images(info)).exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("cls", MODELS_UNDER_TEST)
@pytest.mark.parametrize(
    "info",
    [DataInfo((1, 5, 7), 2), DataInfo((3, 4, 3), 256), DataInfo((2, 3, 4), 5)],
    ids=["bin", "rgb256", "2ch5"],
)
def test_fast_sampler_equals_naive(cls: type[PixelRNN], info: DataInfo) -> None:
    model = tiny(cls, info, seed=3, input_kernel=5)
    fast = model.sample(6, generator=torch.Generator().manual_seed(7))
    naive = model.sample(6, generator=torch.Generator().manual_seed(7), method="naive")
    assert torch.equal(fast, naive)
    assert fast.shape == (6, *info.shape)
    codes = fast * (info.levels - 1)
    assert torch.equal(codes, codes.round())  # on the data grid
    assert fast.min() >= 0 and fast.max() <= 1
    again = model.sample(6, generator=torch.Generator().manual_seed(7))
    other = model.sample(6, generator=torch.Generator().manual_seed(8))
    assert torch.equal(fast, again) and not torch.equal(fast, other)


@pytest.mark.parametrize("cls", MODELS_UNDER_TEST)
def test_samples_follow_the_model(cls: type[PixelRNN]) -> None:
    """Empirical frequencies of samples from a 1x2 binary model match exp(log_prob) of the 4 images."""
    info = DataInfo((1, 1, 2), 2)
    model = tiny(cls, info, seed=4)
    with torch.no_grad():
        for p in model.out2.parameters():  # make the distribution far from uniform
            p.mul_(8.0)
        probs = model.log_prob(all_images(info)).exp()
    x = model.sample(4000, generator=torch.Generator().manual_seed(0))
    idx = (x[:, 0, 0, 0] * 2 + x[:, 0, 0, 1]).long()
    freq = torch.bincount(idx, minlength=4).float() / len(idx)
    assert torch.allclose(freq, probs, atol=0.03)


@pytest.mark.parametrize("name,cls", [("row-lstm", RowLSTM), ("diagonal-bilstm", DiagonalBiLSTM)])
def test_registered_and_rebuilds(name: str, cls: type[PixelRNN]) -> None:
    assert MODELS.get(name) is cls
    info = DataInfo((1, 4, 4), 2)
    model = tiny(cls, info)
    again = type(model)(model.config, model.data_info)
    again.load_state_dict(model.state_dict())
    x = torch.bernoulli(torch.full((3, *info.shape), 0.5))
    assert torch.equal(model.log_prob(x), again.log_prob(x))
    out = model.training_step({"x": x}, 0, "model")
    assert out["loss"].requires_grad
    assert out["bits_per_dim"].item() == pytest.approx(
        out["nll"].item() / (16 * 0.6931471805599453), rel=1e-6
    )
    with pytest.raises(ValueError):
        model.sample(2, method="slow")
    with pytest.raises(ValueError):
        model.sample(2, condition=torch.zeros(2))


def _binarized_mnist(data_dir: Path, split: str, n: int) -> torch.Tensor:
    from genzoo.data import load_dataset

    x = load_dataset("binarized-mnist", split, data_dir=data_dir).tensor()
    return x[:: len(x) // n][:n]  # spread out: the test split is sorted by label


@pytest.mark.parametrize("cls,steps", [(RowLSTM, 200), (DiagonalBiLSTM, 100)])
def test_training_lowers_test_nll(cls: type[PixelRNN], steps: int, data_dir: Path) -> None:
    train = _binarized_mnist(data_dir, "train", 4000)
    test = _binarized_mnist(data_dir, "test", 300)
    info = DataInfo((1, 28, 28), 2)
    model = tiny(cls, info, layers=1, hidden=8, output_hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = -model.log_prob(test).mean().item()
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for step in range(steps):
        batch = train[torch.randint(len(train), (16,), generator=g)]
        loss = model.training_step({"x": batch}, step, "model")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = -model.log_prob(test).mean().item()
    secs = time.perf_counter() - t0
    print(f"{cls.__name__}: test NLL {before:.1f} -> {after:.1f} nats in {steps} steps, {secs:.1f}s")
    assert before > 400  # ~545 nats at initialisation (p = 1/2 everywhere)
    assert after < 200  # a few hundred steps of a tiny model reach ~130-170
