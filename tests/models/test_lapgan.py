"""Laplacian pyramid and LAPGAN: exact reconstruction, shapes, per-level groups, seeded sampling."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from genzoo.core import DataInfo
from genzoo.models.adversarial.lapgan import LAPGAN, LAPGANConfig
from genzoo.nn.pyramid import (
    build_gaussian_pyramid,
    build_laplacian_pyramid,
    downsample,
    reconstruct,
    upsample,
)

TINY = dict(noise_dim=8, coarse_g_hidden=32, coarse_d_hidden=32, g_channels=8, d_channels=8)


@pytest.mark.parametrize("shape,levels", [((2, 1, 28, 28), 3), ((2, 3, 32, 32), 3), ((1, 3, 32, 32), 4)])
def test_laplacian_pyramid_reconstructs_exactly(shape: tuple[int, ...], levels: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    pyr = build_laplacian_pyramid(x, levels)
    assert len(pyr) == levels
    for k, band in enumerate(pyr):
        assert band.shape == (shape[0], shape[1], shape[2] // 2**k, shape[3] // 2**k)
    torch.testing.assert_close(reconstruct(pyr), x, atol=1e-6, rtol=0)
    # bands are real residuals: a finer band is not all zero for a random image ...
    assert pyr[0].abs().max() > 0.1
    # ... and the coarsest entry is the low-pass image, i.e. repeated 2x2 averages
    torch.testing.assert_close(pyr[-1], build_gaussian_pyramid(x, levels)[-1])
    expect = x
    for _ in range(levels - 1):
        n, c, h, w = expect.shape
        expect = expect.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))
    torch.testing.assert_close(pyr[-1], expect, atol=1e-6, rtol=0)


def test_pyramid_of_constant_image_has_zero_bands() -> None:
    x = torch.full((1, 1, 16, 16), 0.3)
    pyr = build_laplacian_pyramid(x, 3)
    for band in pyr[:-1]:
        assert band.abs().max() < 1e-6
    assert torch.allclose(pyr[-1], torch.full((1, 1, 4, 4), 0.3))


def test_pyramid_operators_and_errors() -> None:
    x = torch.rand(1, 2, 6, 6)
    assert downsample(x).shape == (1, 2, 3, 3)
    assert upsample(x).shape == (1, 2, 12, 12)
    with pytest.raises(ValueError):
        downsample(torch.rand(1, 1, 7, 7))
    with pytest.raises(ValueError):
        build_laplacian_pyramid(x, 0)
    with pytest.raises(ValueError):
        reconstruct([])


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_lapgan_sample_final_resolution_and_seeded(shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = LAPGAN(LAPGANConfig(pyramid_levels=3, **TINY), DataInfo(shape, 256))
    a = model.sample(5, generator=torch.Generator().manual_seed(1))
    b = model.sample(5, generator=torch.Generator().manual_seed(1))
    c = model.sample(5, generator=torch.Generator().manual_seed(2))
    assert a.shape == (5, *shape)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # every level's noise matters: the finest band generator changes the result
    with torch.no_grad():
        for p in model.generators[0].parameters():
            p.add_(0.1)
    d = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a, d)


def test_lapgan_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        LAPGAN(LAPGANConfig(pyramid_levels=4, **TINY), DataInfo((1, 28, 28), 256))  # 28 / 8 is not whole
    with pytest.raises(ValueError):
        LAPGAN(LAPGANConfig(pyramid_levels=2, d_input="mul", **TINY), DataInfo((1, 28, 28), 256))


def test_groups_are_per_level_and_losses_touch_only_their_player() -> None:
    torch.manual_seed(0)
    model = LAPGAN(LAPGANConfig(pyramid_levels=3, **TINY), DataInfo((1, 28, 28), 256))
    groups = model.parameter_groups()
    assert set(groups) == {"d0", "g0", "d1", "g1", "d2", "g2"}
    assert sorted(model.update_schedule(0)) == sorted(groups)
    # the groups partition the parameters
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    batch = {"x": torch.rand(4, 1, 28, 28)}
    for name in model.update_schedule(0):
        model.zero_grad(set_to_none=True)
        out = model.training_step(batch, 0, name)
        assert torch.isfinite(out["loss"])
        if name.startswith("d"):
            assert 0 <= float(out["d_real"]) <= 1 and 0 <= float(out["d_fake"]) <= 1
        out["loss"].backward()
        touched = {
            g for g, ps in groups.items() if any(p.grad is not None and p.grad.abs().sum() > 0 for p in ps)
        }
        assert name in touched
        if name.startswith("d"):
            assert touched == {name}  # fakes are detached for the discriminator
        else:
            assert touched <= {name, "d" + name[1:]}  # only this level's pair


def test_lapgan_training_runs_on_digits_and_discriminators_learn() -> None:
    torch.manual_seed(0)
    x = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16.0
    model = LAPGAN(LAPGANConfig(pyramid_levels=2, dropout=0.0, **TINY), DataInfo((1, 8, 8), 17))
    groups = model.parameter_groups()
    opts = {n: torch.optim.Adam(ps, lr=2e-3, betas=(0.5, 0.999)) for n, ps in groups.items()}
    g = torch.Generator().manual_seed(0)

    def run(steps: int, only: str | None = None) -> dict[str, float]:
        last: dict[str, float] = {}
        for step in range(steps):
            batch = {"x": x[torch.randint(0, len(x), (64,), generator=g)]}
            for name in model.update_schedule(step):
                if only is not None and name not in only.split(","):
                    continue
                model.zero_grad(set_to_none=True)
                out = model.training_step(batch, step, name)
                out["loss"].backward()
                opts[name].step()
                assert torch.isfinite(out["loss"])
                last[name] = float(out["loss"].detach())
        return last

    # with the generators frozen at init, each discriminator learns to tell real from generated:
    # its loss falls well below the chance value 2 ln 2 = 1.386
    last = run(40, only="d0,d1")
    assert last["d0"] < 1.0 and last["d1"] < 1.0, last
    # the full schedule (every level's D and G each step) runs and sampling gives 8x8 images
    run(20)
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 8, 8)


@pytest.mark.parametrize("name,shape", [("lapgan-mnist", (1, 28, 28)), ("lapgan-cifar10", (3, 32, 32))])
def test_named_configs_build(name: str, shape: tuple[int, int, int]) -> None:
    from genzoo.config import model_config, read_config_file, resolve

    doc = read_config_file(name)
    assert doc["model"]["name"] == "lapgan"
    cfg = resolve(config=name)
    model = LAPGAN(model_config(LAPGAN, cfg.model), DataInfo(shape, 256))
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, *shape)
    assert set(model.parameter_groups()) == {f"{r}{k}" for r in "dg" for k in range(model.config.pyramid_levels)}


def test_generator_kernels_are_validated() -> None:
    with pytest.raises(ValueError):
        LAPGAN(LAPGANConfig(pyramid_levels=2, g_kernels=[4, 5, 3], **TINY), DataInfo((1, 8, 8), 17))
    model = LAPGAN(LAPGANConfig(pyramid_levels=2, g_kernels=[3, 3, 1], **TINY), DataInfo((1, 8, 8), 17))
    assert model.sample(2).shape == (2, 1, 8, 8)


def test_generator_step_reuses_the_fake_of_the_discriminator_step() -> None:
    torch.manual_seed(0)
    model = LAPGAN(LAPGANConfig(pyramid_levels=2, **TINY), DataInfo((1, 8, 8), 17))
    calls = []
    model.generators[0].register_forward_hook(lambda *a: calls.append(1))
    batch = {"x": torch.rand(4, 1, 8, 8)}
    model.training_step(batch, 3, "d0")["loss"].backward()
    model.zero_grad(set_to_none=True)
    out = model.training_step(batch, 3, "g0")
    assert len(calls) == 1  # one generator forward for the pair
    out["loss"].backward()
    assert all(p.grad is not None for p in model.generators[0].parameters())
    # another step (or another batch) draws fresh fakes
    model.training_step(batch, 4, "g0")
    model.training_step({"x": torch.rand(4, 1, 8, 8)}, 3, "g0")
    assert len(calls) == 3
