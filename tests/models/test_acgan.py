"""AC-GAN: the L_S + L_C / L_C - L_S losses, gradient flow, and class-conditional sampling."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genzoo import latent
from genzoo.core import DataInfo
from genzoo.models.adversarial.acgan import ACGAN, ACGANConfig
from genzoo.registry import MODELS
from tests.models.test_gan import (
    assert_gradient_flow,
    class_accuracy_of_samples,
    digits_subset,
    train_adversarial,
)

INFO = DataInfo((1, 8, 8), 17, 4)


def small(**kw: object) -> ACGAN:
    torch.manual_seed(0)
    return ACGAN(ACGANConfig(latent_dim=8, g_features=8, d_features=8, **kw), INFO)


def test_registered_shapes_and_gradient_flow() -> None:
    assert MODELS.get("acgan") is ACGAN
    model = small()
    z = model.sample_latent(5)
    fake = model.generate(z, torch.tensor([0, 1, 2, 3, 0]))
    assert fake.shape == (5, 1, 8, 8)
    source, classes = model.discriminate(fake)
    assert source.shape == (5,) and classes is not None and classes.shape == (5, 4)
    batch = {"x": torch.rand(6, 1, 8, 8), "label": torch.tensor([0, 1, 2, 3, 0, 1])}
    assert_gradient_flow(model, batch)
    with pytest.raises(ValueError):
        ACGAN(ACGANConfig(), DataInfo((1, 8, 8), 17, 0))  # needs labels


def test_losses_are_source_plus_class_terms() -> None:
    """D minimises -(L_S + L_C), G minimises -(L_C - L_S) (non-saturating source term)."""
    model = small(d_dropout=0.0)
    x = torch.rand(8, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    d = model.training_step({"x": x, "label": y}, 0, "discriminator")
    assert float(d["loss"].detach()) == pytest.approx(float(d["d_loss"] + d["d_class_loss"]), rel=1e-5)
    g = model.training_step({"x": x, "label": y}, 0, "generator")
    assert float(g["loss"].detach()) == pytest.approx(float(g["g_loss"] + g["g_class_loss"]), rel=1e-5)
    # the real half of L_C is the cross-entropy of D's class head on the real batch
    _, real_cls = model.discriminate(model.to_net(x))
    assert real_cls is not None
    lc_real = float(F.cross_entropy(real_cls.detach(), y))
    assert 0 < lc_real < float(d["d_class_loss"])
    # class_weight 0 leaves only the source (GAN) loss
    plain = small(d_dropout=0.0, class_weight=0.0)
    d0 = plain.training_step({"x": x, "label": y}, 0, "discriminator")
    assert float(d0["loss"].detach()) == pytest.approx(float(d0["d_loss"]), rel=1e-6)


def test_fake_labels_are_drawn_uniformly_not_from_the_batch() -> None:
    model = small()
    torch.manual_seed(0)
    labels = model._fake_labels(
        {"x": torch.zeros(4000, 1, 8, 8), "label": torch.zeros(4000, dtype=torch.long)}, 4000
    )
    assert labels is not None
    counts = torch.bincount(labels, minlength=4).float() / 4000
    assert torch.all((counts - 0.25).abs() < 0.03)


def test_conditional_sampling_and_latent_decode() -> None:
    model = small()
    model.eval()
    s = model.sample(
        6, condition=torch.tensor([3, 3, 1, 0, 2, 2]), generator=torch.Generator().manual_seed(0)
    )
    assert s.shape == (6, 1, 8, 8) and float(s.min()) >= 0 and float(s.max()) <= 1
    z = latent.codes_from_indices(model, [0, 1], seed=0)
    again = latent.decode(model, z, torch.tensor([3, 3]))
    assert torch.allclose(again, s[:2], atol=1e-6)
    imgs = latent.interpolate(model, z[0], z[1], steps=4, condition=2)
    assert imgs.shape == (4, 1, 8, 8)


def test_acgan_generates_the_requested_class() -> None:
    """AC-GAN on four classes of the 8x8 digits: a logistic regression fit on real digits assigns most
    samples to the class they were asked for (chance 25%), and D's auxiliary classifier learns the
    real classes."""
    x, y = digits_subset([0, 1, 2, 3])
    torch.manual_seed(0)
    model = ACGAN(ACGANConfig(latent_dim=16, g_features=16, d_features=16, d_dropout=0.0), INFO)
    untrained = class_accuracy_of_samples(model, x, y)
    out = train_adversarial(model, x, y, steps=300, lr=1e-3)
    assert all(math.isfinite(float(v)) for v in out.values())
    trained = class_accuracy_of_samples(model, x, y)
    assert untrained < 0.5
    assert trained > 0.7, f"AC-GAN sample class accuracy {trained:.2f} (chance 0.25)"
    with torch.no_grad():
        aux_acc = float((model.classify(x).argmax(1) == y).float().mean())
    assert aux_acc > 0.7


def test_latent_tools_are_deterministic_for_conditional_models_without_a_label() -> None:
    model = small(init_std=0.3)
    a = latent.interpolation_grid(model, pairs=4, steps=3, seed=0)
    b = latent.interpolation_grid(model, pairs=4, steps=3, seed=0)
    assert a.shape == (12, 1, 8, 8) and torch.equal(a, b)
    # row r walks at class r % 4
    z = latent.sample_latents(model, 8, seed=0)
    row2 = latent.interpolate(model, z[2], z[6], steps=3, condition=2)
    assert torch.allclose(a[6:9], row2, atol=1e-6)
    groups = {"a": [0, 1], "b": [2], "c": [3]}
    x = latent.arithmetic_from_samples(model, groups, "a - b + c", seed=1, variations=2)
    y = latent.arithmetic_from_samples(model, groups, "a - b + c", seed=1, variations=2)
    assert x.shape == (6, 1, 8, 8) and torch.equal(x, y)
