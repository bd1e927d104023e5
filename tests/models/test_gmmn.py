"""GMMN and GMMN+AE: MMD training on the 8x8 digits, seeded sampling, the two-stage schedule."""

from __future__ import annotations

import functools

import pytest
import torch
from sklearn.datasets import load_digits

from genzoo.core import DataInfo
from genzoo.metrics.mmd import gaussian_kernel, mmd2
from genzoo.models.moment_matching.gmmn import GMMN, GMMNAE, GMMNAEConfig, GMMNConfig, mmd_loss

INFO = DataInfo((1, 8, 8), 17, 10)
SIGMAS = [1.0, 2.0, 4.0, 8.0]  # the 64-dim digits are closer together than 784-dim MNIST


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16.0
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:1400]], x[perm[1400:]]  # train, held-out (397)


def _train(model, x: torch.Tensor, steps: int, batch: int, lr: float = 1e-3) -> None:
    """What the engine does: per group, zero grads, training_step, backward, step that group."""
    opts = {n: torch.optim.Adam(ps, lr=lr) for n, ps in model.parameter_groups().items()}
    g = torch.Generator().manual_seed(1)
    model.train()
    for step in range(steps):
        b = {"x": x[torch.randint(0, len(x), (batch,), generator=g)]}
        for name in model.update_schedule(step):
            model.zero_grad(set_to_none=True)
            out = model.training_step(b, step, name)
            assert torch.isfinite(out["loss"])
            out["loss"].backward()
            opts[name].step()


def _heldout_mmd(model, held: torch.Tensor) -> float:
    samples = model.sample(len(held), generator=torch.Generator().manual_seed(7))
    kernel = functools.partial(gaussian_kernel, sigmas=SIGMAS)
    return float(mmd2(samples.flatten(1).double(), held.flatten(1).double(), kernel, unbiased=True))


def test_gmmn_sample_shape_range_and_seed() -> None:
    torch.manual_seed(0)
    model = GMMN(GMMNConfig(), DataInfo((1, 28, 28), 256))
    # the paper's MNIST net: 10 -> 64 -> 256 -> 256 -> 1024 -> 784
    sizes = [m.out_features for m in model.generator if isinstance(m, torch.nn.Linear)]
    assert sizes == [64, 256, 256, 1024, 784] and model.generator[0].in_features == 10
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3))
    c = model.sample(6, generator=torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert list(model.parameter_groups()) == ["generator"]


def test_mmd_loss_variants() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(50, 4, generator=g), torch.rand(50, 4, generator=g) + 0.5
    obj, m2 = mmd_loss(a, b, [1.0], "sqrt")
    assert torch.allclose(obj, m2.sqrt(), atol=1e-5)
    obj2, _ = mmd_loss(a, b, [1.0], "mmd2")
    assert torch.allclose(obj2, m2)
    with pytest.raises(ValueError):
        mmd_loss(a, b, [1.0], "l2")
    with pytest.raises(ValueError):
        GMMN(GMMNConfig(loss="l2"), INFO)


def test_gmmn_training_reduces_heldout_mmd_on_digits() -> None:
    torch.manual_seed(0)
    train, held = _digits()
    model = GMMN(GMMNConfig(hidden=[32, 128], sigmas=SIGMAS), INFO)
    before = _heldout_mmd(model, held)
    _train(model, train, steps=300, batch=200, lr=2e-3)
    after = _heldout_mmd(model, held)
    assert after < 0.3 * before, (before, after)
    # and the trained model is closer to the data than a shuffled-pixel "model" of the same marginals
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    shuffled = held.flatten(1)[:, perm]
    kernel = functools.partial(gaussian_kernel, sigmas=SIGMAS)
    base = float(mmd2(shuffled.double(), held.flatten(1).double(), kernel, unbiased=True))
    assert after < base, (after, base)


def test_gmmn_ae_schedule_shapes_and_stages() -> None:
    torch.manual_seed(0)
    train, held = _digits()
    cfg = GMMNAEConfig(ae_hidden=64, code_dim=8, ae_steps=150, hidden=[32, 64], sigmas=[0.5, 1.0, 2.0])
    model = GMMNAE(cfg, INFO)
    assert set(model.parameter_groups()) == {"autoencoder", "generator"}
    assert model.update_schedule(0) == ["autoencoder"] and model.update_schedule(149) == ["autoencoder"]
    assert model.update_schedule(150) == ["generator"]
    s = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 8, 8) and s.min() >= 0 and s.max() <= 1
    assert torch.equal(s, model.sample(5, generator=torch.Generator().manual_seed(0)))
    codes = model.encode(held)
    assert codes.shape == (len(held), 8) and codes.min() >= 0 and codes.max() <= 1

    err0 = float(((model.reconstruct(held) - held) ** 2).mean())
    _train(model, train, steps=150, batch=100, lr=3e-3)  # stage 1 only
    err1 = float(((model.reconstruct(held) - held) ** 2).mean())
    assert err1 < 0.6 * err0, (err0, err1)

    # stage 2: the GMMN step leaves the (frozen) auto-encoder untouched
    ae_before = [p.detach().clone() for p in model.parameter_groups()["autoencoder"]]
    model.zero_grad(set_to_none=True)
    out = model.training_step({"x": train[:100]}, 150, "generator")
    out["loss"].backward()
    assert all(p.grad is None for p in model.parameter_groups()["autoencoder"])
    assert all(p.grad is not None for p in model.parameter_groups()["generator"])
    code_mmd0 = _code_mmd(model, held)
    _train_from(model, train, start=150, steps=200)
    for p, q in zip(model.parameter_groups()["autoencoder"], ae_before, strict=True):
        assert torch.equal(p, q)
    assert _code_mmd(model, held) < 0.5 * code_mmd0
    assert model.sample(4).shape == (4, 1, 8, 8)


def _code_mmd(model: GMMNAE, held: torch.Tensor) -> float:
    model.eval()
    gen = model.sample_codes(len(held), generator=torch.Generator().manual_seed(5))
    kernel = functools.partial(gaussian_kernel, sigmas=list(model.config.sigmas))
    return float(mmd2(gen.double(), model.encode(held).detach().double(), kernel, unbiased=True))


def _train_from(model: GMMNAE, x: torch.Tensor, start: int, steps: int) -> None:
    opts = {n: torch.optim.Adam(ps, lr=3e-3) for n, ps in model.parameter_groups().items()}
    g = torch.Generator().manual_seed(2)
    model.train()
    for step in range(start, start + steps):
        b = {"x": x[torch.randint(0, len(x), (200,), generator=g)]}
        for name in model.update_schedule(step):
            model.zero_grad(set_to_none=True)
            model.training_step(b, step, name)["loss"].backward()
            opts[name].step()


@pytest.mark.parametrize("name,cls", [("gmmn-mnist", GMMN), ("gmmn-ae-mnist", GMMNAE)])
def test_named_configs_build(name: str, cls: type) -> None:
    from genzoo.config import model_config, resolve

    cfg = resolve(config=name)
    assert cfg.model["name"] == cls.name and cfg.train.batch_size == 1000
    model = cls(model_config(cls, cfg.model), DataInfo((1, 28, 28), 256))
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 28, 28)
    if cls is GMMNAE:
        # the two stages: the auto-encoder first, the GMMN after ae_steps
        assert model.update_schedule(0) == ["autoencoder"]
        assert model.update_schedule(model.config.ae_steps) == ["generator"]
        assert cfg.train.steps > model.config.ae_steps


def test_compiled_kernel_sum_equals_the_eager_one_in_value_and_gradient() -> None:
    """``compile_kernel``: the torch.compile-fused kernel sum gives the eager MMD loss and its gradient
    (float rounding apart), for both width conventions."""
    torch.manual_seed(0)
    data = torch.rand(40, 64).round()
    for scale in ("variance", "std"):
        grads, values = [], []
        start = torch.rand(40, 64)
        for compiled in (False, True):
            x = start.clone().requires_grad_()
            loss, m2 = mmd_loss(x, data, [2.0, 5.0, 10.0], "sqrt", False, scale, compiled=compiled)
            loss.backward()
            grads.append(x.grad)
            values.append(loss.detach().item())
        assert values[1] == pytest.approx(values[0], rel=1e-5)
        assert torch.allclose(grads[1], grads[0], rtol=1e-4, atol=1e-7)


def test_compiled_kernel_falls_back_to_eager_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from genzoo.nn import kernels

    def broken(fn, **kw):
        def fail(*a, **k):
            raise RuntimeError("no compiler")
        return fail

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_compile_failed", False)
    monkeypatch.setattr(torch, "compile", broken)
    x, y = torch.rand(5, 3), torch.rand(6, 3)
    with pytest.warns(RuntimeWarning, match="torch.compile of the Gaussian kernel failed"):
        k = kernels.gaussian_kernel(x, y, [1.0, 2.0], compiled=True)
    assert torch.allclose(k, kernels.gaussian_kernel(x, y, [1.0, 2.0]))
    kernels.gaussian_kernel(x, y, [1.0], compiled=True)  # eager from then on, without a second warning


def test_gmmn_with_the_compiled_kernel_resumes_bit_for_bit(tmp_path) -> None:
    """A run interrupted and resumed (the kernel compiled again) ends with the uninterrupted run's weights."""
    import genzoo
    from tests.train.test_engine import _Interrupt, _weights

    over = {"train.batch_size": 64, "train.progress": False, "train.checkpoint_every": 2,
            "model.compile_kernel": True, "model.sigmas": SIGMAS, "model.hidden": [16, 32]}
    genzoo.train("gmmn", "digits", run_dir=tmp_path / "whole", steps=6, overrides=over)
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("gmmn", "digits", run_dir=tmp_path / "cut", steps=6, overrides=over, hooks=[_Interrupt(3)])
    genzoo.train("gmmn", "digits", run_dir=tmp_path / "cut", steps=6, overrides=over)
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("make", [
    lambda: GMMN(GMMNConfig(hidden=[16], sigmas=SIGMAS), INFO),
    lambda: GMMNAE(GMMNAEConfig(ae_hidden=32, code_dim=6, ae_steps=0, hidden=[16], sigmas=[0.5, 2.0]), INFO),
])
def test_matching_space_is_what_training_and_sampling_use(make) -> None:
    """benchmarks/mmd_floor.py measures MMD² through ``generate_features`` / ``matched_features`` /
    ``matching_loss``: the training step's logged MMD² must be exactly that (same noise), computed directly
    from the kernel formula, and samples must be the decoded (or reshaped) generated features."""
    torch.manual_seed(0)
    model = make()
    x, _ = _digits()
    x = x[:40]
    torch.manual_seed(3)
    logged = model.training_step({"x": x}, 0, "generator")  # both models call their MMD group "generator"
    torch.manual_seed(3)
    y = model.generate_features(40)
    data = model.matched_features(x)
    loss, m2 = model.matching_loss(y, data)
    assert torch.equal(m2.detach(), next(v for k, v in logged.items() if k.startswith("mmd2")))
    assert torch.equal(loss.detach(), logged["loss"].detach())

    sig = list(model.config.sigmas)  # variance reading: exp(-d² / (2 sigma))
    k = lambda a, b: sum(torch.exp(-torch.cdist(a, b).pow(2) / (2 * s)) for s in sig)  # noqa: E731
    yd, dd = y.detach().double(), data.detach().double()
    direct = k(dd, dd).mean() - 2 * k(dd, yd).mean() + k(yd, yd).mean()
    assert torch.allclose(m2.double(), direct, rtol=1e-4, atol=1e-6)

    model.eval()
    s = model.sample(5, generator=torch.Generator().manual_seed(9))
    f = model.generate_features(5, torch.Generator().manual_seed(9)).detach()
    expect = model.decode(f) if isinstance(model, GMMNAE) else f.view(5, *INFO.shape)
    assert torch.equal(s, expect)
