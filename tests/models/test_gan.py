"""GAN and cGAN: loss formulas, the two-player gradient flow, the k-step schedule, conditioning."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.core import DataInfo
from genzoo.models.adversarial.mlp_gan import CGAN, GAN, CGANConfig, GANConfig
from genzoo.models.base import GenerativeModel
from genzoo.nn.gan_losses import InstanceNoise, discriminator_loss, frozen, generator_loss
from genzoo.nn.monitors import collapse_flag
from genzoo.registry import MODELS

MNIST_INFO = DataInfo((1, 28, 28), 256, 10)


# ----- helpers shared with test_dcgan / test_acgan ------------------------------------------------------
def simulate_group_step(model: GenerativeModel, batch: dict, step: int, group: str) -> dict:
    """What the engine does for one group: zero all grads, training_step, backward."""
    model.zero_grad(set_to_none=True)
    out = model.training_step(batch, step, group)
    out["loss"].backward()
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.items()}


def assert_gradient_flow(model: GenerativeModel, batch: dict) -> None:
    """A D step gives gradients to D only, a G step to G only (so neither step moves the other)."""
    groups = model.parameter_groups()
    assert set(groups) == {"discriminator", "generator"}
    d_ids = {id(p) for p in groups["discriminator"]}
    g_ids = {id(p) for p in groups["generator"]}
    assert d_ids and g_ids and not d_ids & g_ids
    assert d_ids | g_ids == {id(p) for p in model.parameters()}
    for group, other in (("discriminator", "generator"), ("generator", "discriminator")):
        simulate_group_step(model, batch, 0, group)
        got = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in groups[group]]
        assert sum(got) >= len(got) // 2, f"{group} step left most {group} params without gradient"
        assert all(p.grad is None for p in groups[other]), f"{group} step gave {other} params a gradient"
        assert all(p.requires_grad for p in model.parameters())  # frozen() restored the flags


def train_adversarial(
    model: GenerativeModel,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict:
    """A minimal stand-in for the engine: Adam(beta1=0.5) per group, a fresh minibatch per step."""
    torch.manual_seed(seed)
    opts = {g: torch.optim.Adam(ps, lr=lr, betas=(0.5, 0.999)) for g, ps in model.parameter_groups().items()}
    gen = torch.Generator().manual_seed(seed)
    model.train()
    out: dict = {}
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        batch = {"x": x[idx], "label": y[idx]}
        for group in model.update_schedule(step):
            out = simulate_group_step(model, batch, step, group)
            opts[group].step()
    return out


def digits_subset(classes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 digits of the given classes, as [0, 1] images and labels renumbered 0..len(classes)-1."""
    from sklearn.datasets import load_digits

    d = load_digits()
    mask = np.isin(d.target, classes)
    x = torch.tensor(d.images[mask] / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(np.searchsorted(classes, d.target[mask]), dtype=torch.long)
    return x, y


def class_accuracy_of_samples(
    model: GenerativeModel, x: torch.Tensor, y: torch.Tensor, n: int = 400
) -> float:
    """Fraction of class-conditional samples that a logistic regression fit on real data assigns to
    the requested class."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(x.flatten(1).numpy(), y.numpy())
    k = int(y.max()) + 1
    labels = torch.arange(n) % k
    model.eval()
    s = model.sample(n, condition=labels, generator=torch.Generator().manual_seed(1))
    return float((clf.predict(s.flatten(1).numpy()) == labels.numpy()).mean())


# ----- losses ------------------------------------------------------------------------------------------
def test_loss_values_match_their_formulas() -> None:
    real = torch.tensor([2.0, -1.0, 0.5, 4.0])
    fake = torch.tensor([-3.0, 0.2, 1.5, -0.5])
    dr, df = torch.sigmoid(real), torch.sigmoid(fake)
    # Eq. 1: D maximises E log D(x) + E log(1 - D(G(z)))
    expected_d = -(torch.log(dr).mean() + torch.log(1 - df).mean())
    assert torch.allclose(discriminator_loss(real, fake), expected_d, atol=1e-6)
    # one-sided smoothing: real target 0.9, fake target stays 0
    smoothed = -(0.9 * torch.log(dr) + 0.1 * torch.log(1 - dr)).mean() - torch.log(1 - df).mean()
    assert torch.allclose(discriminator_loss(real, fake, real_label=0.9), smoothed, atol=1e-6)
    # G: minimax minimises E log(1 - D(G(z))); non-saturating minimises -E log D(G(z))
    assert torch.allclose(generator_loss(fake, "minimax"), torch.log(1 - df).mean(), atol=1e-6)
    assert torch.allclose(generator_loss(fake, "nonsaturating"), -torch.log(df).mean(), atol=1e-6)
    with pytest.raises(ValueError):
        generator_loss(fake, "wasserstein")


def test_losses_stay_finite_when_d_saturates_and_nonsaturating_has_the_stronger_gradient() -> None:
    fake = torch.tensor([-40.0, 40.0])
    for kind in ("minimax", "nonsaturating"):
        assert torch.isfinite(generator_loss(fake, kind))
    assert torch.isfinite(discriminator_loss(torch.tensor([-40.0]), torch.tensor([40.0])))
    # when D confidently rejects a sample (D(G(z)) ~ 0.007) the minimax gradient vanishes (Sec. 3)
    grads = {}
    for kind in ("minimax", "nonsaturating"):
        logit = torch.tensor([-5.0], requires_grad=True)
        generator_loss(logit, kind).backward()
        grads[kind] = float(logit.grad[0])
    assert grads["minimax"] == pytest.approx(-torch.sigmoid(torch.tensor(-5.0)).item(), rel=1e-5)
    assert grads["nonsaturating"] == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-5.0))).item(), rel=1e-5)
    assert abs(grads["nonsaturating"]) > 100 * abs(grads["minimax"])


def test_instance_noise_anneals_linearly_to_zero() -> None:
    noise = InstanceNoise(0.5, anneal_steps=100)
    assert noise.level(0) == pytest.approx(0.5)
    assert noise.level(50) == pytest.approx(0.25)
    assert noise.level(100) == 0.0 and noise.level(1000) == 0.0
    x = torch.zeros(1000)
    assert float(noise(x, 0).std()) == pytest.approx(0.5, rel=0.1)
    assert torch.equal(noise(x, 200), x)
    assert InstanceNoise(0.0).level(0) == 0.0


def test_collapse_flag() -> None:
    assert collapse_flag(0.7, 1.0) == 0.0
    assert collapse_flag(1e-5, 30.0) == 1.0  # D wins outright
    assert collapse_flag(1e-5, 2.0) == 0.0
    assert collapse_flag(float("nan"), 1.0) == 1.0
    assert collapse_flag(0.5, float("inf")) == 1.0


def test_frozen_blocks_gradients_and_restores_flags() -> None:
    lin = torch.nn.Linear(3, 1)
    x = torch.randn(4, 3, requires_grad=True)
    with frozen(lin):
        y = lin(x).sum()
    y.backward()
    assert lin.weight.grad is None and x.grad is not None
    assert lin.weight.requires_grad


# ----- models ------------------------------------------------------------------------------------------
def test_registered() -> None:
    assert MODELS.get("gan") is GAN and MODELS.get("cgan") is CGAN


@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_paper_architecture_shapes(cls: type) -> None:
    model = cls(cls.Config(), MNIST_INFO)
    z = model.sample_latent(5)
    assert z.shape == (5, 100) and float(z.min()) >= -1 and float(z.max()) <= 1  # uniform noise
    labels = torch.arange(5) if model.conditional else None
    img = model.generate(z, labels)
    assert img.shape == (5, 1, 28, 28)
    logits, cls_logits = model.discriminate(img, labels)
    assert logits.shape == (5,) and cls_logits is None
    if cls is GAN:  # 784 -> maxout 240x5 -> maxout 240x5 -> 1; 100 -> 1200 -> 1200 -> 784
        linears = [m for m in model.generator.modules() if isinstance(m, torch.nn.Linear)]
        assert [lin.out_features for lin in linears] == [1200, 1200, 784]
        assert model.discriminator[2][0].linear.out_features == 240 * 5


@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_gradient_flow_between_players(cls: type) -> None:
    torch.manual_seed(0)
    cfg = cls.Config(latent_dim=8)
    model = cls(cfg, DataInfo((1, 8, 8), 17, 3))
    batch = {"x": torch.rand(6, 1, 8, 8), "label": torch.tensor([0, 1, 2, 0, 1, 2])}
    assert_gradient_flow(model, batch)


def test_generator_step_leaves_discriminator_unchanged_through_an_optimiser_step() -> None:
    torch.manual_seed(0)
    model = GAN(GANConfig(latent_dim=8, g_hidden=[32], d_units=[16]), DataInfo((1, 8, 8), 17))
    opts = {g: torch.optim.Adam(ps, lr=0.1) for g, ps in model.parameter_groups().items()}
    batch = {"x": torch.rand(8, 1, 8, 8)}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    simulate_group_step(model, batch, 0, "generator")
    opts["generator"].step()
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p)
        assert changed == n.startswith("generator"), n


def test_logged_scalars() -> None:
    model = GAN(GANConfig(latent_dim=8, g_hidden=[16], d_units=[16]), DataInfo((1, 8, 8), 17))
    batch = {"x": torch.rand(4, 1, 8, 8)}
    d = model.training_step(batch, 0, "discriminator")
    g = model.training_step(batch, 0, "generator")
    assert {"loss", "d_loss", "d_real", "d_fake", "diverged"} <= set(d)
    assert {"loss", "g_loss", "diversity", "diverged"} <= set(g)
    assert float(d["diverged"]) == 0.0 and float(g["diverged"]) == 0.0
    assert 0 < float(d["d_real"]) < 1
    with pytest.raises(ValueError):
        model.training_step(batch, 0, "model")


def test_k_discriminator_steps_per_generator_step() -> None:
    model = GAN(GANConfig(latent_dim=4, g_hidden=[8], d_units=[8], d_steps=3), DataInfo((1, 8, 8), 17))
    schedule = [model.update_schedule(s) for s in range(6)]
    assert sum(s.count("discriminator") for s in schedule) == 6
    assert [("generator" in s) for s in schedule] == [False, False, True, False, False, True]
    assert all(s[0] == "discriminator" for s in schedule)
    with pytest.raises(ValueError):
        GAN(GANConfig(d_steps=0), MNIST_INFO)


def test_sampling_is_deterministic_per_seed_and_in_range() -> None:
    model = CGAN(
        CGANConfig(latent_dim=8, g_y_hidden=16, g_z_hidden=16, g_joint_hidden=32), DataInfo((1, 8, 8), 17, 3)
    )
    model.eval()
    a = model.sample(5, condition=torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(3))
    b = model.sample(5, condition=torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(3))
    c = model.sample(5, condition=torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(4))
    assert a.shape == (5, 1, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert model.sample(4, condition=torch.tensor(2)).shape == (4, 1, 8, 8)
    with pytest.raises(ValueError):
        model.sample(2, condition=torch.tensor([0, 3]))
    with pytest.raises(ValueError):
        model.training_step({"x": torch.rand(2, 1, 8, 8)}, 0, "discriminator")  # cGAN needs labels


def test_cgan_generates_the_requested_class() -> None:
    """cGAN on two classes of the 8x8 digits (0 and 1): a classifier trained on real data recognises
    the requested class in most samples (chance is 50%); the untrained model is near chance."""
    x, y = digits_subset([0, 1])
    cfg = CGANConfig(
        latent_dim=16,
        g_z_hidden=32,
        g_y_hidden=32,
        g_joint_hidden=128,
        g_dropout=0.0,
        d_x_units=64,
        d_y_units=16,
        d_joint_units=64,
        d_dropout=0.2,
    )
    torch.manual_seed(0)
    model = CGAN(cfg, DataInfo((1, 8, 8), 17, 2))
    untrained = class_accuracy_of_samples(model, x, y)
    out = train_adversarial(model, x, y, steps=500, lr=2e-3)
    assert all(math.isfinite(float(v)) for v in out.values())
    trained = class_accuracy_of_samples(model, x, y)
    assert untrained < 0.75
    assert trained > 0.85, f"cGAN sample class accuracy {trained:.2f} (chance 0.5)"


def test_stabilisers_change_the_discriminator_loss() -> None:
    info = DataInfo((1, 8, 8), 17)
    base = dict(latent_dim=4, g_hidden=[8], d_units=[8], d_input_dropout=0.0, d_dropout=0.0)
    batch = {"x": torch.rand(16, 1, 8, 8)}
    torch.manual_seed(0)
    plain = GAN(GANConfig(**base), info)
    smooth = GAN(GANConfig(**base, real_label=0.9), info)
    smooth.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    a = plain.training_step(batch, 0, "discriminator")
    torch.manual_seed(1)
    b = smooth.training_step(batch, 0, "discriminator")
    assert float(a["d_real"]) == pytest.approx(float(b["d_real"]))
    # BCE(l, 0.9) - BCE(l, 1) = 0.1 * l per real example; the fake term is unchanged
    real_logits = plain.discriminate(batch["x"])[0].detach()
    diff = float(b["d_loss"]) - float(a["d_loss"])
    assert diff == pytest.approx(0.1 * float(real_logits.mean()), abs=1e-5)
    noisy = GAN(GANConfig(**base, instance_noise=0.3, instance_noise_steps=10), info)
    assert float(noisy.training_step(batch, 0, "discriminator")["instance_noise"]) == pytest.approx(0.3)
    assert float(noisy.training_step(batch, 20, "discriminator")["instance_noise"]) == 0.0
    with pytest.raises(ValueError):
        GAN(GANConfig(real_label=0.0), info)


@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_generator_init_keeps_the_noise_variation(cls: type) -> None:
    """``g_init="he"`` spreads the initial samples across z far more than PyTorch's default init, under
    which the 1200-unit generator starts almost constant in z; unknown inits are rejected."""
    spreads = {}
    for init in ("he", "default"):
        torch.manual_seed(0)
        model = cls(cls.Config(g_init=init), MNIST_INFO)
        model.eval()
        s = model.sample(200, condition=torch.tensor(3) if model.conditional else None)
        spreads[init] = float(s.flatten(1).std(0).mean())
    assert spreads["he"] > 0.04 and spreads["he"] > 5 * spreads["default"]
    with pytest.raises(ValueError):
        cls(cls.Config(g_init="xavier"), MNIST_INFO)


def test_generator_step_flags_a_discriminator_that_rejects_everything() -> None:
    model = GAN(GANConfig(latent_dim=4, g_hidden=[8], d_units=[8]), DataInfo((1, 8, 8), 17))
    batch = {"x": torch.rand(4, 1, 8, 8)}
    assert float(model.training_step(batch, 0, "generator")["diverged"]) == 0.0
    with torch.no_grad():
        model.discriminator[-1].bias.fill_(-50.0)  # D(anything) ~ e^-50
    out = model.training_step(batch, 0, "generator")
    assert float(out["diverged"]) == 1.0 and torch.isfinite(out["loss"])


# ----- options of the released code / the collapse fix -------------------------------------------------
@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_max_norm_projection_bounds_every_discriminator_unit_after_a_step(cls: type) -> None:
    """``d_max_norm``: after an optimiser step that blows the weights up, the next training step (and
    switching to eval) projects every unit's weight vector back to norm <= the bound; units already
    inside the bound are left unchanged; negative bounds are rejected."""
    torch.manual_seed(0)
    info = DataInfo((1, 8, 8), 17, 3)
    model = cls(cls.Config(latent_dim=8, d_max_norm=0.5), info)
    linears = [m for m in model.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert all(float(m.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-6 for m in linears)  # at build
    opt = torch.optim.SGD(model.parameter_groups()["discriminator"], lr=100.0)
    batch = {"x": torch.rand(6, 1, 8, 8), "label": torch.tensor([0, 1, 2, 0, 1, 2])}
    simulate_group_step(model, batch, 0, "discriminator")
    opt.step()
    assert max(float(m.weight.detach().norm(dim=1).max()) for m in linears) > 0.5  # the step broke the bound
    with torch.no_grad():
        linears[0].weight[0].mul_(1e-3)  # one unit well inside the bound
    small = linears[0].weight[0].clone()
    model.training_step(batch, 1, "generator")
    for m in linears:
        assert float(m.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-5
    assert torch.equal(linears[0].weight[0], small)
    simulate_group_step(model, batch, 1, "discriminator")
    opt.step()
    model.eval()
    assert all(float(m.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-5 for m in linears)
    with pytest.raises(ValueError, match="d_max_norm"):
        cls(cls.Config(d_max_norm=-1.0), MNIST_INFO)


def test_data_margin_maps_real_data_into_the_sigmoid_range_and_samples_back() -> None:
    model = GAN(GANConfig(latent_dim=4, g_hidden=[8], d_units=[8], data_margin=0.1), DataInfo((1, 8, 8), 17))
    x = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(model.to_net(x), torch.tensor([0.1, 0.5, 0.9]))
    assert torch.allclose(model.from_net(model.to_net(x)), x)
    assert torch.equal(model.from_net(torch.tensor([0.05, 0.95])), torch.tensor([0.0, 1.0]))  # clamped
    seen = {}
    hook = model.discriminator.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0].detach()))
    model.training_step({"x": torch.zeros(4, 1, 8, 8)}, 0, "discriminator")  # real images come first
    hook.remove()
    assert torch.allclose(seen["x"], torch.full_like(seen["x"], 0.1))
    s = model.sample(16)
    assert float(s.min()) >= 0.0 and float(s.max()) <= 1.0
    no_margin = GAN(GANConfig(latent_dim=4, g_hidden=[8], d_units=[8]), DataInfo((1, 8, 8), 17))
    assert torch.equal(no_margin.to_net(x), x)
    with pytest.raises(ValueError, match="data_margin"):
        GAN(GANConfig(data_margin=0.5), MNIST_INFO)


@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_output_bias_from_marginals_is_the_training_sets_and_training_steps_leave_it(cls: type) -> None:
    """``g_out_bias: marginals`` (pylearn2's init_sigmoid_bias_from_marginals): logit of the mean pixels,
    clipped to [1e-7, 1 - 1e-7] and mapped through the data margin; the training step itself sets nothing."""
    torch.manual_seed(0)
    info = DataInfo((1, 8, 8), 17, 3)
    cfg = cls.Config(latent_dim=8, g_out_bias="marginals", data_margin=0.05)
    model = cls(cfg, info)
    mean = torch.rand(1, 8, 8)
    mean[0, 0] = 0.0  # a blank top row, as in MNIST: the clip keeps the logit finite
    model.init_from_data(mean)
    p = 0.05 + 0.9 * mean.flatten().clamp(1e-7, 1 - 1e-7)
    bias = model._output_layer().bias.detach().clone()
    assert torch.allclose(bias, torch.log(p / (1 - p)), atol=1e-5)
    x = (torch.rand(10, 1, 8, 8) > 0.7).float()
    model.training_step({"x": x, "label": torch.arange(10) % 3}, 0, "discriminator")
    assert torch.equal(model._output_layer().bias, bias)
    no_margin = cls(cls.Config(latent_dim=8, g_out_bias="marginals"), info)
    no_margin.init_from_data(mean)
    assert float(no_margin._output_layer().bias.detach().min()) == pytest.approx(math.log(1e-7), abs=1e-3)
    zero = cls(cls.Config(latent_dim=8), info)
    before = zero._output_layer().bias.detach().clone()
    zero.init_from_data(mean)  # g_out_bias: zero ignores the data
    assert torch.equal(zero._output_layer().bias, before)
    with pytest.raises(ValueError, match="g_out_bias"):
        cls(cls.Config(g_out_bias="mean"), MNIST_INFO)


@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_checkpoints_with_the_retired_bias_flag_still_load(cls: type) -> None:
    """Checkpoints from before init_from_data carry an ``out_bias_pending`` buffer; they load strictly."""
    torch.manual_seed(0)
    info = DataInfo((1, 8, 8), 17, 3)
    cfg = cls.Config(latent_dim=8, g_out_bias="marginals")
    old = cls(cfg, info)
    state = dict(old.state_dict())
    state["out_bias_pending"] = torch.zeros((), dtype=torch.uint8)
    fresh = cls(cfg, info)
    fresh.load_state_dict(state, strict=True)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), old.state_dict().values()))
    with pytest.raises(RuntimeError, match="unexpected_key"):
        fresh.load_state_dict({**state, "unexpected_key": torch.zeros(())}, strict=True)


@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_uniform_init_and_noise_scale(cls: type) -> None:
    torch.manual_seed(0)
    model = cls(cls.Config(g_init="uniform", g_irange=0.05, d_init="uniform", d_irange=0.005,
                           noise_scale=3**0.5), MNIST_INFO)
    for net, r in ((model.generator, 0.05), (model.discriminator, 0.005)):
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                w = m.weight.detach().abs().max()
                assert r >= float(w) > 0.9 * r
                assert float(m.bias.detach().abs().max()) == 0.0
    z = model.sample_latent(4000)
    assert float(z.abs().max()) <= 3**0.5 and float(z.abs().max()) > 1.5
    assert float(z.var()) == pytest.approx(1.0, rel=0.05)  # the released code's unit-variance noise
    with pytest.raises(ValueError, match="d_init"):
        cls(cls.Config(d_init="xavier"), MNIST_INFO)
    with pytest.raises(ValueError, match="irange"):
        cls(cls.Config(g_init="uniform", g_irange=0.0), MNIST_INFO)
    with pytest.raises(ValueError, match="noise_scale"):
        cls(cls.Config(noise_scale=0.0), MNIST_INFO)


@pytest.mark.parametrize("name", ["gan-mnist", "cgan-mnist"])
def test_named_configs_build_with_the_paper_optimiser(name: str) -> None:
    from genzoo.config import resolve
    from genzoo.train.loop import build_model
    from genzoo.train.optim import build_optimizer

    cfg = resolve(config=name)
    model = build_model(cfg, MNIST_INFO)
    opts = {g: build_optimizer(ps, cfg.train, g) for g, ps in model.parameter_groups().items()}
    assert all(isinstance(o, torch.optim.SGD) for o in opts.values())
    assert opts["discriminator"].param_groups[0]["lr"] == pytest.approx(0.05)
    assert opts["generator"].param_groups[0]["lr"] == pytest.approx(0.1)
    assert opts["generator"].param_groups[0]["momentum"] == pytest.approx(0.5)
    assert model.config.data_margin == pytest.approx(0.02) and model.config.g_out_bias == "marginals"


def test_cgan_mnist_generator_hears_the_label_as_loudly_as_the_noise_at_init() -> None:
    """The ``cgan-mnist`` collapse: with the released code's ``irange 0.05`` the one-hot label's part of
    G's joint pre-activation varied ~24x less across samples than the noise's part, G started
    label-blind and collapsed. The named config must keep the two within a small factor."""
    from genzoo.config import resolve
    from genzoo.train.loop import build_model

    def label_to_noise_ratio(model: CGAN) -> float:
        g = model.generator
        with torch.no_grad():
            z = model.sample_latent(2000)
            y = torch.nn.functional.one_hot(torch.arange(2000) % 10, 10).float()
            hz, hy = g.z_path(z), g.y_path(y)
            w = g.joint[0].weight
            from_z = hz @ w[:, : hz.shape[1]].t()
            from_y = hy @ w[:, hz.shape[1] :].t()
        return float(from_y.var(0).mean() / from_z.var(0).mean())

    torch.manual_seed(0)
    cfg = resolve(config="cgan-mnist")
    named = build_model(cfg, MNIST_INFO).eval()
    assert label_to_noise_ratio(named) > 0.25
    torch.manual_seed(0)
    code_init = CGAN(CGANConfig(g_init="uniform", g_irange=0.05, noise_scale=3**0.5, g_dropout=0.0), MNIST_INFO)
    assert label_to_noise_ratio(code_init.eval()) < 0.1  # the failure this guards against


def test_cgan_input_dropout_drops_pixels_only_in_training() -> None:
    """``d_input_dropout`` acts on D's pixel input (with p = 1 a training-mode D cannot see the image), is off
    in eval mode, and adds no parameters (old checkpoints keep their keys)."""
    torch.manual_seed(0)
    info = DataInfo((1, 8, 8), 17, 3)
    model = CGAN(CGAN.Config(latent_dim=8, d_input_dropout=1.0, d_dropout=0.0), info)
    x1, x2, y = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    model.train()
    torch.testing.assert_close(model.discriminate(x1, y)[0], model.discriminate(x2, y)[0])
    model.eval()
    assert not torch.allclose(model.discriminate(x1, y)[0], model.discriminate(x2, y)[0])
    assert model.state_dict().keys() == CGAN(CGAN.Config(latent_dim=8), info).state_dict().keys()


# ----- update: simultaneous (the released MNIST code's AdversaryCost2 under plain SGD) -------------------
@pytest.mark.parametrize("cls", [GAN, CGAN])
def test_simultaneous_update_takes_both_gradients_from_one_pass_at_the_same_parameters(cls: type) -> None:
    """Both players' gradients equal a direct computation from one batch of samples and one D pass (the same
    dropout masks), at the parameters the step started from: the D update made between the engine's two
    group calls does not reach the generator's gradient."""
    info = DataInfo((1, 8, 8), 17, 3)
    torch.manual_seed(0)
    model = cls(cls.Config(latent_dim=8, update="simultaneous", d_input_dropout=0.2, data_margin=0.05), info)
    reference = copy.deepcopy(model)
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    batch = {"x": x, "label": y}
    d_opt = torch.optim.SGD(model.parameter_groups()["discriminator"], lr=0.5)

    torch.manual_seed(1)
    d_out = simulate_group_step(model, batch, 0, "discriminator")
    d_grads = [p.grad.clone() for p in model.parameter_groups()["discriminator"]]
    d_opt.step()  # as the engine does before the generator's group
    g_out = simulate_group_step(model, batch, 0, "generator")
    g_grads = [p.grad.clone() for p in model.parameter_groups()["generator"]]
    assert all(p.grad is None for p in model.parameter_groups()["discriminator"])

    torch.manual_seed(1)  # the same draws in the same order: noise, G's dropout, D's masks on real then fake
    labels = y if reference.conditional else None
    fake = reference.generate(reference.sample_latent(12), labels)
    real_logits, _ = reference.discriminate(reference.to_net(x), labels)
    fake_logits, _ = reference.discriminate(fake, labels)
    d_loss = discriminator_loss(real_logits, fake_logits, 1.0)
    g_loss = generator_loss(fake_logits, "nonsaturating")
    groups = reference.parameter_groups()
    want_d = torch.autograd.grad(d_loss, groups["discriminator"], retain_graph=True)
    want_g = torch.autograd.grad(g_loss, groups["generator"])
    for got, want in zip(d_grads, want_d):
        torch.testing.assert_close(got, want)
    for got, want in zip(g_grads, want_g):
        torch.testing.assert_close(got, want)
    assert float(d_out["d_loss"]) == pytest.approx(float(d_loss.detach()), rel=1e-6)
    assert float(g_out["loss"]) == pytest.approx(float(g_loss.detach()), rel=1e-6)
    assert float(g_out["g_loss"]) == pytest.approx(float(g_loss.detach()), rel=1e-6)

    alternating = copy.deepcopy(reference)
    alternating.config.update = "alternating"
    torch.manual_seed(1)
    simulate_group_step(alternating, batch, 0, "discriminator")
    simulate_group_step(alternating, batch, 0, "generator")
    alt_g = [p.grad for p in alternating.parameter_groups()["generator"]]
    assert not all(torch.allclose(a, b) for a, b in zip(alt_g, want_g))  # fresh noise: a different gradient


def test_simultaneous_update_checks_its_settings_and_order() -> None:
    with pytest.raises(ValueError, match="d_steps"):
        GAN(GANConfig(update="simultaneous", d_steps=2), MNIST_INFO)
    with pytest.raises(ValueError, match="update"):
        GAN(GANConfig(update="together"), MNIST_INFO)  # type: ignore[arg-type]
    model = GAN(GANConfig(latent_dim=4, g_hidden=[8], d_units=[8], update="simultaneous"), DataInfo((1, 8, 8), 17))
    with pytest.raises(RuntimeError, match="must follow a discriminator step"):
        model.training_step({"x": torch.rand(4, 1, 8, 8)}, 0, "generator")


def test_simultaneous_gan_run_resumes_bit_for_bit(tmp_path: Path) -> None:
    """Through the engine (SGD with momentum per group): a run interrupted and resumed ends with the same
    weights as one that was not; the kept generator gradient never outlives its step."""
    import genzoo
    from genzoo.train import checkpoint as ckpt

    class Interrupt:
        def __call__(self, trainer: object, step: int) -> None:
            if step == 5:
                raise KeyboardInterrupt

    overrides = {"train.batch_size": 16, "train.progress": False, "train.log_every": 2, "train.checkpoint_every": 3,
                 "train.sample_every": 100, "train.optimizer": "sgd", "train.lr": 0.05, "train.momentum": 0.5,
                 "model.update": "simultaneous", "model.latent_dim": 8, "model.g_hidden": [16], "model.d_units": [8]}
    genzoo.train("gan", "digits", run_dir=tmp_path / "whole", steps=9, overrides=overrides)
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("gan", "digits", run_dir=tmp_path / "cut", steps=9, overrides=overrides, hooks=[Interrupt()])
    genzoo.train("gan", "digits", run_dir=tmp_path / "cut", steps=9, overrides=overrides)
    a, b = (ckpt.read_weights(ckpt.checkpoint_paths(tmp_path / r, 9)[0])[0] for r in ("whole", "cut"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
