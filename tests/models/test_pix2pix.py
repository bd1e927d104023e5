"""pix2pix: U-Net skips, the PatchGAN's receptive field measured by gradients, the objective's ablation
switches, the paper's test-time noise and statistics, and a tiny run through genzoo.api."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import genzoo
from genzoo.core import ConditionError, ConfigError, DataInfo, ImageSpec
from genzoo.models.translation.pix2pix import Pix2Pix, Pix2PixConfig
from genzoo.nn.patchgan import PatchGAN, patch_layers, patch_receptive_field
from genzoo.nn.unet import NoiseDropout, UNet, batch_statistics, unet_depth


def info(src: tuple[int, int, int] = (1, 16, 16), tgt: tuple[int, int, int] = (3, 16, 16)) -> DataInfo:
    return DataInfo(tgt, 256, conditions=(ImageSpec(key="source", shape=src),))


def tiny(objective: str = "l1+cgan", **kw: object) -> Pix2Pix:
    torch.manual_seed(0)
    cfg = Pix2PixConfig(objective=objective, g_features=4, d_features=4, max_features=16, patch=16, **kw)
    return Pix2Pix(cfg, info())


@pytest.mark.parametrize("size", [(8, 8), (16, 16), (28, 28), (32, 32), (13, 20), (64, 48)])
def test_unet_skip_shapes(size: tuple[int, int]) -> None:
    depth = unet_depth(*size)
    assert 2 ** depth >= max(size) > 2 ** (depth - 1)
    net = UNet(3, 2, depth, base=4, max_channels=16)
    x = torch.randn(2, 3, *size)
    y, skips = net(x, with_skips=True)
    assert y.shape == (2, 2, *size)
    assert len(skips) == depth - 1
    padded = [-(-s // 2**depth) * 2**depth for s in size]
    for k, (enc, dec) in enumerate(skips):  # innermost first; each joins equal shapes
        level = depth - 1 - k  # resolution of encoder layer level - 1
        assert enc.shape == dec.shape == (2, min(4 * 2 ** (level - 1), 16), padded[0] >> level, padded[1] >> level)
    assert unet_depth(256, 256) == 8  # the paper's 8-level U-Net for 256x256


def test_unet_skips_carry_the_input_past_the_bottleneck() -> None:
    """With the skips an output pixel sees the input pixel below it through a short path: zeroing the
    bottleneck's contribution (all decoder inputs) leaves the output still depending on the input."""
    net = UNet(1, 1, 3, base=4, dropout=0.0).double().eval()
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    for layer in net.up:  # cut the decoder path from the bottleneck: only the skips remain
        for m in layer.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.zeros_(m.weight)
    net(x)[0, 0, 3, 3].backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("patch", [1, 16, 34, 70])
def test_patchgan_receptive_field_is_the_stated_size(patch: int) -> None:
    d = PatchGAN(4, patch, base=4, max_channels=16).double().eval()
    size = 2 * patch + 20
    x = torch.randn(1, 4, size, size, dtype=torch.float64, requires_grad=True)
    out = d(x)
    assert tuple(out.shape[-2:]) == d.output_size(size, size)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    touched = x.grad.abs().sum((0, 1)) > 0
    rows, cols = touched.any(1).nonzero().flatten(), touched.any(0).nonzero().flatten()
    assert int(rows.max() - rows.min() + 1) == patch and int(cols.max() - cols.min() + 1) == patch


def test_patch_sizes_and_layer_counts() -> None:
    assert patch_layers(70) == 3 and patch_layers(16) == 1 and patch_layers(286) == 5 and patch_layers(1) == 0
    assert [patch_receptive_field(n) for n in (1, 2, 3, 5)] == [16, 34, 70, 286]
    with pytest.raises(ValueError, match="valid sizes: 1, 16, 34, 70"):
        patch_layers(64)
    with pytest.raises(ConfigError, match="model.patch"):
        Pix2Pix(Pix2PixConfig(patch=50), info())
    with pytest.raises(ConfigError, match="leaves no output"):
        Pix2Pix(Pix2PixConfig(patch=142, g_features=4, d_features=4, max_features=8), info())
    with pytest.raises(ConfigError, match="objective"):
        Pix2Pix(Pix2PixConfig(objective="l2"), info())


def test_objectives_follow_table_1() -> None:
    l1 = tiny("l1")
    assert list(l1.parameter_groups()) == ["generator"] and l1.update_schedule(0) == ["generator"]
    assert not hasattr(l1, "discriminator")
    cgan, gan = tiny("cgan"), tiny("gan")
    assert cgan.update_schedule(0) == ["discriminator", "generator"]
    assert cgan.discriminator.net[0].in_channels == 1 + 3 and gan.discriminator.net[0].in_channels == 3
    # the conditional D judges (input, output) pairs: another source changes its verdict on one image
    image, s1, s2 = torch.rand(2, 3, 16, 16), torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    cgan.eval(), gan.eval()
    assert not torch.allclose(cgan.discriminate(s1, image), cgan.discriminate(s2, image))
    assert torch.equal(gan.discriminate(s1, image), gan.discriminate(s2, image))
    batch = {"x": torch.rand(4, 3, 16, 16), "source": torch.rand(4, 1, 16, 16)}
    out = tiny("cgan").training_step(batch, 0, "generator")
    assert torch.allclose(out["loss"], out["g_gan"])  # no L1 term in cGAN alone
    full = tiny("l1+cgan").training_step(batch, 0, "generator")
    assert torch.allclose(full["loss"], full["g_gan"] + 100.0 * 2.0 * full["l1"], rtol=1e-5)
    assert "g_gan" not in tiny("l1").training_step(batch, 0, "generator")


def test_discriminator_step_gives_the_generator_no_gradient() -> None:
    model = tiny()
    batch = {"x": torch.rand(4, 3, 16, 16), "source": torch.rand(4, 1, 16, 16)}
    model.training_step(batch, 0, "discriminator")["loss"].backward()
    assert all(p.grad is None for p in model.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())


def test_dropout_is_the_noise_and_batch_statistics_are_used_at_test_time() -> None:
    model = tiny().eval()
    src = torch.rand(6, 1, 16, 16)

    def draw(seed: int, m: Pix2Pix = model) -> torch.Tensor:
        return m.sample(6, {"source": src}, torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    quiet = tiny(test_dropout=False).eval()
    assert torch.equal(draw(1, quiet), draw(2, quiet))  # no dropout at test: the seed does nothing
    # test-batch statistics: an output depends on the other images of its batch, running stats untouched
    bn = next(m for m in model.generator.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    alone = quiet.sample(1, {"source": src[:1]})
    assert not torch.allclose(alone, quiet.sample(6, {"source": src})[:1])
    draw(3)
    assert torch.equal(bn.running_mean, before)
    running = tiny(test_dropout=False, test_batch_stats=False).eval()
    assert torch.allclose(running.sample(1, {"source": src[:1]}), running.sample(6, {"source": src})[:1], atol=1e-6)
    x = torch.randn(8, 3, 4, 4)
    bn_only = nn.BatchNorm2d(3).eval()
    with batch_statistics(bn_only):
        y = bn_only(x)
    assert torch.allclose(y, nn.functional.batch_norm(x, None, None, training=True), atol=1e-6)
    assert not bn_only.training and bn_only.track_running_stats and int(bn_only.num_batches_tracked) == 0
    drop = NoiseDropout(0.5).eval()
    kept = drop(torch.ones(10000))
    assert set(kept.unique().tolist()) == {0.0, 2.0} and abs(float(kept.mean()) - 1.0) < 0.05
    assert torch.equal(NoiseDropout(0.5, at_test=False).eval()(torch.ones(5)), torch.ones(5))


def test_condition_policy() -> None:
    model = tiny().eval()
    assert model.condition_keys() == ("source",)
    with pytest.raises(ConditionError, match="needs condition 'source'"):
        model.sample(2)
    with pytest.raises(ConditionError, match=r"shape \(1, 16, 16\)"):
        model.sample(2, {"source": torch.rand(2, 1, 8, 8)})


# ----- through the API -------------------------------------------------------------------------------
def write_pairs(root: Path, n: int, size: int = 16) -> None:
    """A|B pairs: A a random blob image, B its negative (a deterministic, learnable map)."""
    rng = np.random.RandomState(0)
    for split, count in (("train", n), ("val", 4), ("test", 8)):
        (root / split).mkdir(parents=True)
        for i in range(count):
            a = (rng.rand(size, size) > 0.5).astype(np.uint8) * 255
            Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / split / f"{i}.png")


def test_tiny_pix2pix_trains_and_samples_from_the_test_split(tmp_path: Path) -> None:
    write_pairs(tmp_path / "pairs", 32)
    overrides = {
        "data.path": str(tmp_path / "pairs"), "model.g_features": 8, "model.d_features": 8, "model.max_features": 16,
        "model.patch": 16, "model.objective": "l1+cgan", "train.batch_size": 8, "train.lr": 2e-3,
        "train.progress": False, "train.tensorboard": False, "train.num_samples": 8, "train.log_every": 5,
    }
    run = genzoo.train("pix2pix", "paired-folder", run_dir=tmp_path / "run", steps=30, overrides=overrides)
    records = [r for r in (run.run_dir / "metrics.jsonl").read_text().splitlines() if '"split": "train"' in r]
    import json

    l1 = [json.loads(r)["generator/l1"] for r in records]
    assert l1[-1] < l1[0]  # the L1 term is being minimised
    assert (run.run_dir / "samples.png").is_file()
    # default conditions: the test split's sources in order; same seed, same outputs
    x = genzoo.sample(run.run_dir, 8, seed=3)
    assert x.shape == (8, 1, 16, 16) and torch.equal(x, genzoo.sample(run.run_dir, 8, seed=3))
    test = genzoo.data.load_dataset("paired-folder", "test", path=str(tmp_path / "pairs"))
    given = genzoo.sample(run.run_dir, 8, seed=3, condition={"source": test.condition_values()["source"]})
    assert torch.equal(x, given)
