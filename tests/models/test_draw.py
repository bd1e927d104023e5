"""DRAW (Gregor et al. 2015) and its Gaussian filterbank attention."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from genzoo.core import CanvasSequence, ConfigError, DataInfo, LikelihoodBound
from genzoo.models.latent.draw import DRAW, DRAWConfig
from genzoo.nn.attention import AttentionParams, filterbank, filterbanks, read_glimpse, write_patch


def _reference_glimpse(img: np.ndarray, gx: float, gy: float, delta: float, sigma2: float, gamma: float, n: int):
    """Eq. 19-27 written out with loops: filter i = 1..N, image coordinates 1..A and 1..B."""
    b_size, a_size = img.shape
    fx = np.zeros((n, a_size))
    fy = np.zeros((n, b_size))
    for i in range(1, n + 1):
        mu_x = gx + (i - n / 2 - 0.5) * delta
        mu_y = gy + (i - n / 2 - 0.5) * delta
        for a in range(1, a_size + 1):
            fx[i - 1, a - 1] = math.exp(-((a - mu_x) ** 2) / (2 * sigma2))
        for b in range(1, b_size + 1):
            fy[i - 1, b - 1] = math.exp(-((b - mu_y) ** 2) / (2 * sigma2))
    fx /= fx.sum(1, keepdims=True)
    fy /= fy.sum(1, keepdims=True)
    out = np.zeros((n, n))
    for j in range(n):
        for i in range(n):
            out[j, i] = gamma * sum(fy[j, b] * img[b, a] * fx[i, a] for b in range(b_size) for a in range(a_size))
    return out, fx, fy


def test_filterbank_reads_the_expected_glimpse() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((7, 9))  # B = 7 rows, A = 9 columns
    gx, gy, delta, sigma2, gamma, n = 4.3, 3.1, 1.7, 0.8, 1.3, 3
    expected, fx_ref, fy_ref = _reference_glimpse(img, gx, gy, delta, sigma2, gamma, n)
    p = AttentionParams(*(torch.tensor([v], dtype=torch.float64) for v in (gx, gy, delta, sigma2, gamma)))
    fx, fy = filterbanks(p, n, height=7, width=9)
    np.testing.assert_allclose(fx[0].numpy(), fx_ref, rtol=1e-10)
    np.testing.assert_allclose(fy[0].numpy(), fy_ref, rtol=1e-10)
    np.testing.assert_allclose(fx.sum(-1).numpy(), 1.0, rtol=1e-12)  # each filter row normalised
    x = torch.from_numpy(img)[None, None]
    got = read_glimpse(x, fx, fy, p.gamma)[0, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # the middle filter of an odd grid sits exactly on the grid centre
    i = torch.arange(1, 10, dtype=torch.float64)
    mid = filterbank(torch.tensor([5.0], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64),
                     torch.tensor([0.5], dtype=torch.float64), 3, 9)[0, 1]
    assert float((mid * i).sum()) == pytest.approx(5.0, abs=1e-9)


def test_full_image_unit_stride_filterbank_reproduces_the_image() -> None:
    torch.manual_seed(0)
    img = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    one = torch.ones(2, dtype=torch.float64)
    # g~ = 0 (centre (A+1)/2), delta = 1, N = A = B, a narrow filter: F is the identity
    p = AttentionParams(gx=3.5 * one, gy=3.5 * one, delta=one, sigma2=0.01 * one, gamma=one)
    fx, fy = filterbanks(p, 6, 6, 6)
    np.testing.assert_allclose(fx[0].numpy(), np.eye(6), atol=1e-10)
    np.testing.assert_allclose(read_glimpse(img, fx, fy, p.gamma).numpy(), img.numpy(), atol=1e-10)
    np.testing.assert_allclose(write_patch(img, fx, fy, p.gamma).numpy(), img.numpy(), atol=1e-10)
    # the head's parameterisation (Eq. 22-24) gives that grid from g~ = 0, delta~ = 1
    from genzoo.nn.attention import FilterbankHead

    head = FilterbankHead(4, 6, 6, 6)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.tensor([0.0, 0.0, math.log(0.01), 0.0, 0.0]))
    q = head(torch.zeros(1, 4))
    assert float(q.gx.detach()) == pytest.approx(3.5) and float(q.delta.detach()) == pytest.approx(1.0)


def _tiny(attention: bool, **kw) -> DRAW:
    cfg = DRAWConfig(steps=2, enc_size=6, dec_size=6, latent_dim=1, attention=attention, read_n=2, write_n=2, **kw)
    torch.manual_seed(1)
    model = DRAW(cfg, DataInfo((1, 2, 2), 2)).double()
    with torch.no_grad():  # a peaked but not degenerate model
        for p in model.parameters():
            p.mul_(2.0)
    return model


@pytest.mark.parametrize("attention", [True, False])
def test_bound_never_above_brute_force_log_likelihood(attention: bool) -> None:
    """2x2 binary images: log p(x) by 50k prior draws of z_{1:T} (exact in expectation), compared with the
    ELBO and the importance-weighted bound."""
    model = _tiny(attention)
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64).view(16, 1, 2, 2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        m = 50_000
        canvas, _ = model._generate(m, g)
        log_px_z = torch.stack([model.log_likelihood(x.expand(m, 1, 2, 2), canvas) for x in images])  # (16, m)
        brute = torch.logsumexp(log_px_z, 1) - math.log(m)
        assert float(torch.logsumexp(brute, 0)) == pytest.approx(0.0, abs=2e-3)  # sums to one over all images
        torch.manual_seed(0)
        reps = images.repeat(150, 1, 1, 1)  # 150 independent bounds of each image: E[L_k] <= log p(x)
        elbo_all = model.log_prob_bound(reps, 1).view(150, 16)
        iw_all = model.log_prob_bound(reps, 20, chunk=20).view(150, 16)
        many = model.log_prob_bound(images, 20_000, chunk=10_000)  # L_k -> log p(x) as k grows
    for bounds in (elbo_all, iw_all):  # the mean of the draws, allowing three standard errors of MC noise
        slack = 3 * bounds.std(0) / math.sqrt(len(bounds)) + 2e-3
        assert bool((bounds.mean(0) <= brute + slack).all()), (bounds.mean(0) - brute - slack).max()
    assert bool((iw_all.mean(0) >= elbo_all.mean(0)).all())  # more samples, a tighter bound
    torch.testing.assert_close(many, brute, atol=0.03, rtol=0)


def test_canvas_after_t_steps_is_the_sample() -> None:
    model = _tiny(True).float()
    assert isinstance(model, CanvasSequence) and isinstance(model, LikelihoodBound)
    frames = model.canvas_sequence(5, generator=torch.Generator().manual_seed(3))
    x = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert frames.shape == (5, 2, 1, 2, 2)
    torch.testing.assert_close(frames[:, -1], x, rtol=0, atol=0)
    assert not torch.equal(frames[:, 0], frames[:, 1])  # the canvas changes over the steps


def test_discretised_output_on_8bit_data_is_a_distribution() -> None:
    cfg = DRAWConfig(steps=2, enc_size=5, dec_size=5, latent_dim=1, attention=True, read_n=1, write_n=2)
    torch.manual_seed(0)
    model = DRAW(cfg, DataInfo((1, 2, 2), 3)).double()
    assert model.output == "discretized-gaussian"
    images = torch.tensor(list(itertools.product([0.0, 0.5, 1.0], repeat=4)), dtype=torch.float64).view(81, 1, 2, 2)
    with torch.no_grad():
        canvas, _ = model._generate(1, torch.Generator().manual_seed(0))
        lp = model.log_likelihood(images, canvas.expand(81, -1, -1, -1))
    assert float(torch.logsumexp(lp, 0)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("field,value", [("read_n", 9), ("write_n", 12)])
def test_attention_grid_larger_than_image_is_a_clear_error(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"model.{field}={value}.*8x8"):
        DRAW(DRAWConfig(**{field: value}), DataInfo((1, 8, 8), 17))


def test_draw_trains_and_cli_writes_canvas_strips(tmp_path) -> None:
    from PIL import Image

    from genzoo.cli import main

    run = tmp_path / "run"
    assert main(["train", "draw", "--config", "draw-digits", "--steps", "6", "--run-dir", str(run),
                 "--no-progress", "--set", "model.steps=4", "--set", "train.eval_batches=1"]) == 0
    out = tmp_path / "steps"
    assert main(["steps", str(run), "-n", "3", "-o", str(out)]) == 0
    strips = sorted(out.glob("sample-*.png"))
    assert len(strips) == 3
    gif = Image.open(out / "canvas.gif")
    assert gif.n_frames == 4


def test_named_configs() -> None:
    from genzoo.config import model_config, resolve
    from genzoo.registry import MODELS
    from genzoo.train.loop import build_model

    paper = build_model(resolve(config="draw-binarized-mnist"), DataInfo((1, 28, 28), 2))
    c = paper.config
    assert (c.steps, c.enc_size, c.dec_size, c.latent_dim, c.read_n, c.write_n, c.attention) == (
        64, 256, 256, 100, 2, 5, True)
    assert paper.output == "bernoulli"
    assert dataclasses.replace(c, output="auto", sample_mean=True) == DRAWConfig()  # the defaults are the paper's
    no_attention = build_model(resolve(config="draw-noattn-binarized-mnist"), DataInfo((1, 28, 28), 2))
    assert no_attention.config.attention is False
    build_model(resolve(config="draw-small-binarized-mnist"), DataInfo((1, 28, 28), 2))
    build_model(resolve(config="draw-digits"), DataInfo((1, 8, 8), 17))
    for name in ("ppgn-mnist", "dgn-am-mnist", "ppgn-cifar10", "ppgn-digits", "dgn-am-digits"):
        cfg = resolve(config=name)
        model_config(MODELS.get(cfg.model["name"]), cfg.model)  # every field known and typed


def test_cli_rejects_a_grid_larger_than_the_image_and_writes_nothing(tmp_path, capsys) -> None:
    from genzoo.cli import main

    run = tmp_path / "run"
    assert main(["train", "draw", "--set", "model.write_n=9", "--run-dir", str(run), "--device", "cpu"]) == 2
    assert "model.write_n=9" in capsys.readouterr().err and not run.exists()
