"""PixelCNN / gated PixelCNN: masks, autoregressive property, normalisation, samplers, training."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from genzoo.core import DataInfo
from genzoo.models.autoregressive.pixelcnn import GatedPixelCNN, GatedPixelCNNConfig, PixelCNN, PixelCNNConfig
from genzoo.nn.discrete import discrete_log_prob, discrete_sample, sample_from_uniforms
from genzoo.nn.masked import MaskedConv2d, raster_mask
from genzoo.registry import MODELS

BINARY = DataInfo((1, 5, 5), 2)
RGB = DataInfo((3, 4, 4), 256, 10)
BINARY_LABELLED = DataInfo((1, 5, 5), 2, 10)  # binary images with class labels (e.g. dynamic-mnist)


def tiny_pixelcnn(info: DataInfo, layers: int = 2, kernel: int = 3) -> PixelCNN:
    return PixelCNN(
        PixelCNNConfig(layers=layers, hidden=6, first_kernel=kernel, kernel=3, output_hidden=24), info
    )


def tiny_gated(info: DataInfo, layers: int = 3, conditional: bool = False) -> GatedPixelCNN:
    cfg = GatedPixelCNNConfig(
        layers=layers, hidden=6, first_kernel=3, kernel=3, output_hidden=24, conditional=conditional
    )
    return GatedPixelCNN(cfg, info)


def dependency_matrix(
    model: PixelCNN | GatedPixelCNN, info: DataInfo, y: torch.Tensor | None = None
) -> np.ndarray:
    """dep[o, k] = sum over 8 random inputs of |d out(o) / d x(k)|, sub-pixels in generation order
    (raster, then colour). Several inputs so that a unit that happens to be dead (ReLU) at one input
    does not hide a connection."""
    c, h, w = info.shape
    torch.manual_seed(1)
    x = torch.rand(8, c, h, w, dtype=torch.float64, requires_grad=True)
    model = model.double()
    out = model.network(x, {} if y is None else {"label": y.expand(8)})
    if info.levels > 2:
        out = out.reshape(8, info.levels, c, h, w).sum(1)  # all logits of a sub-pixel
    order = [(ci, i, j) for i in range(h) for j in range(w) for ci in range(c)]
    dep = np.zeros((len(order), len(order)))
    for o, (ci, i, j) in enumerate(order):
        (g,) = torch.autograd.grad(out[:, ci, i, j].sum(), x, retain_graph=True)
        g = g.abs().sum(0)
        dep[o] = [g[cc, ii, jj].item() for (cc, ii, jj) in order]
    return dep


# ----- masks ---------------------------------------------------------------------------------------
def test_mask_raster_and_channel_order() -> None:
    m = raster_mask(6, 3, 5, "A", data_channels=3)
    assert m[:, :, :2].eq(1).all() and m[:, :, 3:].eq(0).all()  # rows above all, below none
    assert m[:, :, 2, :2].eq(1).all() and m[:, :, 2, 3:].eq(0).all()
    centre = m[:, :, 2, 2]
    # output group o % 3 sees input group < it (A); output 0 (R) sees nothing at the centre
    expected_a = torch.tensor([[float(ci < co % 3) for ci in range(3)] for co in range(6)])
    assert torch.equal(centre, expected_a)
    b = raster_mask(6, 3, 5, "B", data_channels=3)[:, :, 2, 2]
    assert torch.equal(b, torch.tensor([[float(ci <= co % 3) for ci in range(3)] for co in range(6)]))
    with pytest.raises(ValueError):
        raster_mask(2, 2, 3, "C")


def test_masked_conv_last_row_matches_full() -> None:
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 6, 5, "B", data_channels=3)
    x = torch.randn(2, 3, 6, 7)
    full = conv(x)
    padded = torch.nn.functional.pad(x, (0, 0, 2, 0))
    for i in range(6):
        row = conv.forward_last_row(padded[:, :, i : i + 3])
        torch.testing.assert_close(row[:, :, 0], full[:, :, i])


# ----- autoregressive property -----------------------------------------------------------------------
@pytest.mark.parametrize("info", [BINARY_LABELLED, RGB], ids=["binary", "rgb256"])
@pytest.mark.parametrize("kind", ["pixelcnn", "gated", "gated-cond"])
def test_no_dependence_on_current_or_future_subpixels(kind: str, info: DataInfo) -> None:
    y = None
    if kind == "pixelcnn":
        model = tiny_pixelcnn(info)
    else:
        model = tiny_gated(info, conditional=kind == "gated-cond")
        y = torch.tensor([3]) if kind == "gated-cond" else None
    dep = dependency_matrix(model, info, y)
    future = np.triu(np.ones_like(dep, dtype=bool))  # k >= o: itself and everything later
    assert dep[future].max() == 0.0
    assert dep[~future].max() > 0.0
    if info.shape[0] == 3:  # G depends on R of the same pixel, B on R and G
        assert dep[1, 0] > 0 and dep[2, 0] > 0 and dep[2, 1] > 0


def test_gated_has_no_blind_spot_pixelcnn_has() -> None:
    info = DataInfo((1, 5, 5), 2)
    dep = dependency_matrix(tiny_gated(info, layers=4), info)
    past = np.tril(np.ones_like(dep, dtype=bool), k=-1)
    assert (dep[past] > 0).all(), "gated PixelCNN must see every earlier pixel"
    # a masked 3x3 PixelCNN is blind to the upper-right region (PixelCNN decoders paper, Figure 1)
    dep_p = dependency_matrix(tiny_pixelcnn(info, layers=3, kernel=3), info)
    assert (dep_p[past] == 0).any()


# ----- normalisation -------------------------------------------------------------------------------
def all_images(shape: tuple[int, ...], levels: int) -> torch.Tensor:
    d = int(np.prod(shape))
    codes = torch.tensor(list(itertools.product(range(levels), repeat=d)), dtype=torch.float32)
    return (codes / (levels - 1)).reshape(-1, *shape)


@pytest.mark.parametrize("kind", ["pixelcnn", "gated"])
def test_normalised_on_3x3_binary(kind: str) -> None:
    info = DataInfo((1, 3, 3), 2)
    torch.manual_seed(0)
    model = tiny_pixelcnn(info) if kind == "pixelcnn" else tiny_gated(info)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(all_images(info.shape, 2)), 0).exp()
    assert abs(total.item() - 1.0) < 1e-4


@pytest.mark.parametrize("kind", ["pixelcnn", "gated", "gated-cond"])
def test_normalised_over_colour_channels(kind: str) -> None:
    info = DataInfo((3, 1, 2), 3, 4)  # 3^6 = 729 images; checks the R->G->B factorisation
    torch.manual_seed(0)
    if kind == "pixelcnn":
        model = tiny_pixelcnn(info)
    else:
        model = tiny_gated(info, conditional=kind == "gated-cond")
    xs = all_images(info.shape, 3)
    with torch.no_grad():
        marginal = model.log_marginal(xs) if kind == "gated-cond" else model.log_prob(xs)
        assert abs(torch.logsumexp(marginal, 0).exp().item() - 1.0) < 1e-4
        if kind == "gated-cond":  # each p(x | y) is normalised too
            y = torch.full((len(xs),), 2, dtype=torch.long)
            assert abs(torch.logsumexp(model.log_prob(xs, y), 0).exp().item() - 1.0) < 1e-4


# ----- sampling ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("info", [BINARY_LABELLED, DataInfo((3, 4, 4), 5, 10)], ids=["binary", "rgb5"])
@pytest.mark.parametrize("kind", ["pixelcnn", "gated", "gated-cond"])
def test_fast_sampler_equals_naive(kind: str, info: DataInfo) -> None:
    torch.manual_seed(0)
    if kind == "pixelcnn":
        model = tiny_pixelcnn(info)
    else:
        model = tiny_gated(info, conditional=kind == "gated-cond")
    cond = torch.tensor([1, 7, 7, 2, 0, 9]) if kind == "gated-cond" else None
    fast = model.sample(6, condition=cond, generator=torch.Generator().manual_seed(5))
    naive = model.sample(6, condition=cond, generator=torch.Generator().manual_seed(5), method="naive")
    row = model.sample(6, condition=cond, generator=torch.Generator().manual_seed(5), method="row")
    assert torch.equal(fast, naive)
    assert torch.equal(row, naive)
    part = model.sample(6, condition=cond, generator=torch.Generator().manual_seed(5), rows=2)
    assert torch.equal(part[:, :, :2], fast[:, :, :2]) and part[:, :, 2:].eq(0).all()
    assert fast.shape == (6, *info.shape)
    levels = info.levels
    assert torch.equal(fast, torch.round(fast * (levels - 1)) / (levels - 1))
    other = model.sample(6, condition=cond, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(fast, other)


def test_samples_follow_the_model() -> None:
    """Empirical frequencies of 2x2 binary samples match exp(log_prob) (a wrong sampler fails this)."""
    info = DataInfo((1, 2, 2), 2)
    torch.manual_seed(3)
    model = tiny_gated(info)
    with torch.no_grad():
        for layer in model.gated:  # sharpen the distribution so that it is far from uniform
            layer.h_out.weight.mul_(4)
    xs = all_images(info.shape, 2)
    with torch.no_grad():
        p = model.log_prob(xs).exp()
    s = model.sample(4000, generator=torch.Generator().manual_seed(0))
    idx = (s.reshape(-1, 4) * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(idx, minlength=16).float() / 4000
    assert (freq - p).abs().max() < 0.03


def test_conditional_sampling_uses_labels_and_errors() -> None:
    info = DataInfo((1, 4, 4), 2, 10)
    model = tiny_gated(info, conditional=True)
    a = model.sample(
        4, condition=torch.zeros(4, dtype=torch.long), generator=torch.Generator().manual_seed(0)
    )
    b = model.sample(4, condition=torch.full((4,), 9), generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, b)
    with pytest.raises(ValueError):
        model.sample(3, condition=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError):
        tiny_gated(DataInfo((1, 4, 4), 2, 0), conditional=True)
    with pytest.raises(ValueError):
        tiny_pixelcnn(info).sample(2, condition=torch.zeros(2, dtype=torch.long))


def test_discrete_helpers() -> None:
    logits = torch.randn(4, 5, 2, 3, 3)
    g = torch.Generator().manual_seed(0)
    x = discrete_sample(logits, 5, g)
    assert x.shape == (4, 2, 3, 3)
    # log prob of a categorical equals log_softmax picked by hand
    codes = torch.round(x * 4).long()
    manual = torch.log_softmax(logits, 1).gather(1, codes.unsqueeze(1)).sum((1, 2, 3, 4))
    torch.testing.assert_close(discrete_log_prob(logits, x, 5), manual)
    # inverse CDF: u just below / above the first cumulative probability
    lg = torch.tensor([[0.0, 0.0]]).reshape(1, 2, 1)
    assert sample_from_uniforms(lg, torch.tensor([[0.49]]), 3).item() == 0.0
    assert sample_from_uniforms(lg, torch.tensor([[0.51]]), 3).item() == 0.5
    with pytest.raises(ValueError):
        discrete_log_prob(torch.zeros(2, 3), torch.zeros(2, 4), 2)


def test_registered() -> None:
    assert MODELS.get("pixelcnn") is PixelCNN
    assert MODELS.get("gated-pixelcnn") is GatedPixelCNN


# ----- training ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_subset() -> tuple[torch.Tensor, torch.Tensor]:
    """3,200 training images (taken from the valid split, which loads much faster than train) and 300
    test images of the fixed binarized MNIST, loaded once for the module."""
    from genzoo.data import load_dataset
    from tests.conftest import shared_data_dir

    data_dir = shared_data_dir()
    if data_dir is None:
        pytest.skip("staged data (../shared/data or $GENZOO_SHARED_DATA) not available")
    train = load_dataset("binarized-mnist", "valid", data_dir=data_dir).subset(slice(0, 3200)).tensor()
    test = load_dataset("binarized-mnist", "test", data_dir=data_dir).subset(slice(0, 300)).tensor()
    return train, test


@pytest.mark.parametrize("kind", ["pixelcnn", "gated"])
def test_training_lowers_test_nll_on_binarized_mnist(mnist_subset, kind: str) -> None:
    train, test = mnist_subset
    info = DataInfo((1, 28, 28), 2)
    torch.manual_seed(0)
    if kind == "pixelcnn":
        model = PixelCNN(PixelCNNConfig(layers=1, hidden=8, output_hidden=16), info)
    else:
        cfg = GatedPixelCNNConfig(layers=2, hidden=8, first_kernel=5, kernel=3, output_hidden=16)
        model = GatedPixelCNN(cfg, info)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def test_nll() -> float:
        with torch.no_grad():
            return -model.log_prob(test).mean().item()

    before = test_nll()
    for step in range(100):
        start = (step * 32) % len(train)
        out = model.training_step({"x": train[start : start + 32]}, step, "model")
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = test_nll()
    assert before > 400 and after < 200, (before, after)  # random init ~ 784 ln 2 = 543 nats
    assert abs(out["bits_per_dim"].item() - out["nll"].item() / (784 * math.log(2))) < 1e-6


@pytest.mark.parametrize("info", [BINARY_LABELLED, DataInfo((3, 5, 4), 7, 10)], ids=["binary", "rgb7"])
@pytest.mark.parametrize("kind", ["pixelcnn", "gated", "gated-cond"])
def test_cached_outputs_equal_network_outputs(kind: str, info: DataInfo) -> None:
    """The per-position and per-row caches reproduce the whole-image logits (given a complete image)."""
    torch.manual_seed(0)
    if kind == "pixelcnn":
        model = PixelCNN(PixelCNNConfig(layers=2, hidden=6, first_kernel=5, kernel=3, output_hidden=12), info)
    else:
        cfg = GatedPixelCNNConfig(
            layers=3, hidden=6, first_kernel=5, kernel=3, output_hidden=12, conditional=kind == "gated-cond"
        )
        model = GatedPixelCNN(cfg, info)
    y = torch.tensor([4, 1]) if kind == "gated-cond" else None
    x = torch.randint(0, info.levels, (2, *info.shape)).float() / (info.levels - 1)
    with torch.no_grad():
        full = model.network(x, {} if y is None else {"label": y})
        for mode in ("fast", "row"):
            cache = model._init_cache(2, y)
            cache["mode"] = mode
            top, left = cache["pad"]
            cache["img"][:, :, top:, left : left + info.shape[2]] = x
            for i in range(info.shape[1]):
                model._start_row(cache, i)
                if mode == "row":
                    torch.testing.assert_close(
                        model._row_output(cache, i), full[:, :, i], atol=1e-5, rtol=1e-5
                    )
                    continue
                for j in range(info.shape[2]):
                    out = model._pixel_output(cache, i, j)
                    torch.testing.assert_close(out, full[:, :, i, j], atol=1e-5, rtol=1e-5)
