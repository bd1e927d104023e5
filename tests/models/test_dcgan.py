"""DCGAN architecture guidelines and image sizes; latent interpolation and vector arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genzoo import latent
from genzoo.core import DataInfo
from genzoo.models.adversarial.dcgan import DCGAN, DCGANConfig, sampling_stages
from genzoo.registry import MODELS
from tests.models.test_gan import assert_gradient_flow


def small(shape: tuple[int, int, int] = (1, 28, 28), **kw: object) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(DCGANConfig(latent_dim=10, g_features=8, d_features=8, **kw), DataInfo(shape, 256, 10))


@pytest.mark.parametrize("size, base, stages", [(28, 7, 2), (32, 4, 3), (64, 4, 4), (8, 4, 1), (16, 4, 2)])
def test_sampling_stages(size: int, base: int, stages: int) -> None:
    assert sampling_stages(size, size) == (base, stages)
    assert base * 2**stages == size


def test_sampling_stages_rejects_impossible_sizes() -> None:
    for h, w in [(7, 7), (5, 5), (28, 32)]:
        with pytest.raises(ValueError):
            sampling_stages(h, w)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 8, 8)])
def test_generator_and_discriminator_shapes_match(shape: tuple[int, int, int]) -> None:
    model = small(shape)
    z = model.sample_latent(3)
    fake = model.generate(z)
    assert fake.shape == (3, *shape)
    assert float(fake.detach().abs().max()) <= 1.0  # tanh output
    logits, cls = model.discriminate(fake)
    assert logits.shape == (3,) and cls is None
    _, stages = sampling_stages(shape[1], shape[2])
    # one project layer + one transposed conv per stage; one strided conv per stage + the output conv
    g_convs = [m for m in model.generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_convs = [m for m in model.discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert len(g_convs) == stages + 1 and len(d_convs) == stages + 1
    assert all(c.stride == (2, 2) for c in g_convs[1:]) and all(c.stride == (2, 2) for c in d_convs[:-1])
    out = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, *shape) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_architecture_guidelines() -> None:
    model = small((3, 64, 64))
    # no fully connected hidden layers, no pooling
    for m in model.modules():
        assert not isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d))
    g = list(model.generator.net)
    d = list(model.discriminator.net)
    # G: BN + ReLU after every layer but the last, Tanh output without BN
    assert isinstance(g[-1], nn.Tanh) and isinstance(g[-2], nn.ConvTranspose2d)
    assert (
        sum(isinstance(m, nn.BatchNorm2d) for m in g) == sum(isinstance(m, nn.ConvTranspose2d) for m in g) - 1
    )
    assert not any(isinstance(m, (nn.LeakyReLU, nn.Sigmoid)) for m in g)
    # D: input conv followed directly by LeakyReLU(0.2) (no BN), BN on the other hidden convs
    assert isinstance(d[0], nn.Conv2d) and isinstance(d[1], nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in d if isinstance(m, nn.LeakyReLU))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d) == sum(isinstance(m, nn.Conv2d) for m in d) - 2
    assert not any(isinstance(m, nn.ReLU) for m in d)
    # N(0, 0.02) initialisation
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.detach().flatten() for m in convs])
    assert float(weights.std()) == pytest.approx(0.02, rel=0.05)
    assert abs(float(weights.mean())) < 1e-3


def test_registered_and_gradient_flow() -> None:
    assert MODELS.get("dcgan") is DCGAN
    model = small((1, 8, 8))
    assert_gradient_flow(model, {"x": torch.rand(6, 1, 8, 8)})


def test_pixel_range_round_trip() -> None:
    model = small()
    x = torch.rand(2, 1, 28, 28)
    assert float(model.to_net(x).min()) >= -1.0
    assert torch.allclose(model.from_net(model.to_net(x)), x, atol=1e-6)


# ----- latent interface --------------------------------------------------------------------------------
def test_latent_interface_and_sample_codes_agree() -> None:
    model = small()
    model.eval()
    assert latent.has_latent(model) and model.latent_dim == 10
    grid = model.sample(6, generator=torch.Generator().manual_seed(5))
    codes = latent.codes_from_indices(model, [4, 1], seed=5)
    assert torch.allclose(latent.decode(model, codes), grid[[4, 1]], atol=1e-6)
    assert not latent.has_latent(nn.Linear(2, 2))
    with pytest.raises(TypeError):
        latent.interpolation_grid(nn.Linear(2, 2))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["slerp", "linear"])
def test_interpolation_shape_endpoints_and_determinism(mode: str) -> None:
    model = small(init_std=0.3)  # an untrained DCGAN with N(0, 0.02) weights is nearly constant
    model.train()  # interpolate must switch to eval mode (batch norm) and back
    z = latent.sample_latents(model, 2, seed=0)
    imgs = latent.interpolate(model, z[0], z[1], steps=5, mode=mode)
    assert imgs.shape == (5, 1, 28, 28) and model.training
    ends = latent.decode(model, z)
    assert torch.allclose(imgs[0], ends[0], atol=1e-5) and torch.allclose(imgs[-1], ends[1], atol=1e-5)
    assert not torch.allclose(imgs[2], ends[0], atol=1e-3)
    a = latent.interpolation_grid(model, pairs=3, steps=4, seed=7, mode=mode)
    b = latent.interpolation_grid(model, pairs=3, steps=4, seed=7, mode=mode)
    c = latent.interpolation_grid(model, pairs=3, steps=4, seed=8, mode=mode)
    assert a.shape == (12, 1, 28, 28) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError):
        latent.interpolate(model, z[0], z[1], steps=5, mode="cubic")


def test_slerp_keeps_the_norm_of_equal_norm_codes() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    b = b * a.norm() / b.norm()
    t = torch.linspace(0, 1, 7)
    s = latent.slerp(a, b, t)
    assert torch.allclose(s.norm(dim=-1), a.norm().expand(7), rtol=1e-4)
    lin = latent.lerp(a, b, t)
    assert float(lin[3].norm()) < 0.9 * float(a.norm())  # the straight line cuts through the ball
    assert torch.allclose(s[0], a, atol=1e-5) and torch.allclose(s[-1], b, atol=1e-5)


def test_vector_arithmetic() -> None:
    model = small(init_std=0.3)
    groups = {name: latent.sample_latents(model, 3, seed=i) for i, name in enumerate("abc")}
    z = latent.combine(groups, "a - b + c")
    assert torch.allclose(z, groups["a"].mean(0) - groups["b"].mean(0) + groups["c"].mean(0))
    assert torch.allclose(
        latent.combine(groups, "0.5*a + 2 b"), 0.5 * groups["a"].mean(0) + 2 * groups["b"].mean(0)
    )
    out = latent.vector_arithmetic(model, groups, "a - b + c", variations=4, seed=1)
    again = latent.vector_arithmetic(model, groups, "a - b + c", variations=4, seed=1)
    other = latent.vector_arithmetic(model, groups, "a - b + c", variations=4, seed=2)
    assert out.shape == (5, 1, 28, 28) and torch.equal(out, again)
    assert torch.equal(out[0], other[0]) and not torch.equal(out[1:], other[1:])
    assert torch.allclose(out[0], latent.decode(model, z[None])[0], atol=1e-6)
    with pytest.raises(KeyError):
        latent.combine(groups, "a + d")
    with pytest.raises(ValueError):
        latent.parse_expression("a b")
    picked = latent.arithmetic_from_samples(
        model, {"a": [0, 2], "b": [1], "c": [3, 4]}, "a - b + c", seed=3, variations=2
    )
    assert picked.shape == (3 + 1 + 2, 1, 28, 28)
