"""DGN-AM (Nguyen et al. 2016b) and PPGN-h (Nguyen et al. 2016a) on the 8x8 digits, with tiny classifiers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import genzoo
from genzoo.core import Batch, CanvasSequence, ConditionError, ConfigError, DataInfo, PluggableCondition
from genzoo.data import load_dataset
from genzoo.metrics.classifier import ReferenceClassifier, _weights_bytes


def _train_classifier(path: Path, seed: int) -> ReferenceClassifier:
    """A small digits classifier (a few hundred Adam steps), saved as a reference-classifier file."""
    torch.manual_seed(seed)
    data = load_dataset("digits", "train")
    x, y = data.tensor(), data.labels
    net = ReferenceClassifier((1, 8, 8), 10, width=8, feature_dim=32, dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(150):
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        net.feature_scale.fill_(float(net._hidden(x).pow(2).mean().sqrt()))
    path.write_bytes(_weights_bytes(net, {"seed": seed}))
    return net


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("guided")
    paths = {"c0": root / "c0.safetensors", "c1": root / "c1.safetensors"}
    _train_classifier(paths["c0"], 0)
    _train_classifier(paths["c1"], 1)
    common = {"model.feature_net": str(paths["c0"]), "model.g_hidden": [128], "model.d_hidden": [64],
              "model.chain_steps": 40, "train.progress": False, "train.tensorboard": False,
              "train.sample_every": 10_000, "train.eval_batches": 1}
    for name in ("ppgn", "dgn-am"):
        extra = {"model.dae_hidden": [128]} if name == "ppgn" else {}
        run = genzoo.train(name, "digits", run_dir=root / name, steps=150, device="cpu",
                           overrides={**common, **extra, "train.batch_size": 32, "train.lr": 2e-3})
        paths[name] = run.run_dir
    return paths


def _class_prob(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.softmax(net(x), 1).gather(1, labels[:, None]).squeeze(1)


@pytest.mark.parametrize("name", ["ppgn", "dgn-am"])
def test_chain_raises_the_class_probability(setup: dict[str, Path], name: str) -> None:
    model = genzoo.load(setup[name], "cpu")
    assert isinstance(model, CanvasSequence) and isinstance(model, PluggableCondition)
    labels = torch.arange(10).repeat(3)
    frames = model.canvas_sequence(30, {"label": labels}, torch.Generator().manual_seed(0))
    net = model.condition_network()
    before, after = _class_prob(net, frames[:, 0], labels), _class_prob(net, frames[:, -1], labels)
    assert float(after.mean()) > float(before.mean()) + 0.3, (before.mean(), after.mean())
    assert float(after.mean()) > 0.6


def test_swapping_the_condition_network(setup: dict[str, Path]) -> None:
    model = genzoo.load(setup["ppgn"], "cpu")
    labels = torch.arange(10).repeat(3)
    first = model.sample(30, {"label": labels}, torch.Generator().manual_seed(0))
    other, _ = (genzoo.metrics.classifier.read_classifier_file(setup["c1"]))
    model.use_condition_network(str(setup["c1"]))
    assert model.condition_network() is not model.feature_network()
    frames = model.canvas_sequence(30, {"label": labels}, torch.Generator().manual_seed(0))
    assert not torch.equal(frames[:, -1], first)  # the chain followed the new network's gradient
    before, after = _class_prob(other, frames[:, 0], labels), _class_prob(other, frames[:, -1], labels)
    assert float(after.mean()) > float(before.mean()) + 0.3
    # any module with num_classes works, e.g. a classifier of only 3 classes: then class 3 is unknown
    three = ReferenceClassifier((1, 8, 8), 3, width=4, feature_dim=8)
    model.use_condition_network(three)
    assert model.sample(2, {"label": 2}, torch.Generator().manual_seed(0)).shape == (2, 1, 8, 8)
    with pytest.raises(ConditionError, match="class 3 does not exist; classes are 0..2"):
        model.sample(2, {"label": 3})


def test_same_seed_same_chain_and_sample_is_the_last_frame(setup: dict[str, Path]) -> None:
    model = genzoo.load(setup["ppgn"], "cpu")
    a = model.canvas_sequence(4, {"label": 7}, torch.Generator().manual_seed(5))
    b = model.canvas_sequence(4, {"label": 7}, torch.Generator().manual_seed(5))
    c = model.canvas_sequence(4, {"label": 7}, torch.Generator().manual_seed(6))
    x = model.sample(4, {"label": 7}, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, -1], x)
    assert a.shape == (4, model.config.frames + 1, 1, 8, 8)


def test_dgn_am_step_is_the_normalised_decayed_clipped_ascent(setup: dict[str, Path]) -> None:
    model = genzoo.load(setup["dgn-am"], "cpu")
    model.configure_sampler(chain_steps=1, lr=0.7, decay=0.1)
    labels = torch.tensor([3, 8])
    h0 = model.initial_code(2, torch.Generator().manual_seed(1))
    h = h0.clone().requires_grad_(True)
    logit = model.condition_network()(model.generator(h)).gather(1, labels[:, None]).sum()
    (g,) = torch.autograd.grad(logit, h)
    expected = (h0 + 0.7 * g / g.abs().mean(1, keepdim=True)) * 0.9
    expected = torch.minimum(torch.maximum(expected, model.code_min), model.code_max)
    got = model.sample(2, {"label": labels}, torch.Generator().manual_seed(1))
    torch.testing.assert_close(got, model.generator(expected).detach())
    assert bool((model.code_max > 0).any()) and bool((model.code_min == 0).all())  # ReLU codes' range



def test_ppgn_step_is_the_langevin_update_of_the_paper(setup: dict[str, Path]) -> None:
    """h1 = clip(h0 + eps1 (R(h0) - h0) + eps2 d log p(c | G(h0)) / dh0 + eps3 N(0, I)), the noise drawn from
    the sampling generator after the initial code (Nguyen et al. 2016a, Eq. 11 with PPGN-h's prior)."""
    model = genzoo.load(setup["ppgn"], "cpu")
    model.configure_sampler(chain_steps=1, eps1=0.3, eps2=0.8, eps3=0.05)
    labels = torch.tensor([1, 6, 9])
    gen = torch.Generator().manual_seed(4)
    h0 = model.initial_code(3, gen)
    noise = torch.randn(h0.shape, generator=gen)
    h = h0.clone().requires_grad_(True)
    logits = model.condition_network()(model.generator(h))
    (g,) = torch.autograd.grad(torch.log_softmax(logits, 1).gather(1, labels[:, None]).sum(), h)
    with torch.no_grad():
        expected = h0 + 0.3 * (model.dae(h0) - h0) + 0.8 * g + 0.05 * noise
        expected = torch.minimum(torch.maximum(expected, model.code_min), model.code_max)
        got = model.sample(3, {"label": labels}, torch.Generator().manual_seed(4))
        torch.testing.assert_close(got, model.generator(expected))

def test_training_needs_no_labels(setup: dict[str, Path]) -> None:
    model = genzoo.load(setup["ppgn"], "cpu").train()
    x = load_dataset("digits", "train").tensor()[:8]
    for group in model.update_schedule(0):
        out = model.training_step(Batch({"x": x}), 0, group)
        assert torch.isfinite(out["loss"])


def test_condition_network_of_another_shape_is_a_clear_error(setup: dict[str, Path], tmp_path: Path) -> None:
    model = genzoo.load(setup["ppgn"], "cpu")
    with pytest.raises(ConditionError, match=r"takes \(1, 28, 28\) images, but the generator makes \(1, 8, 8\)"):
        model.use_condition_network(ReferenceClassifier((1, 28, 28), 10, width=4, feature_dim=8))
    bad = tmp_path / "mnist-like.safetensors"
    bad.write_bytes(_weights_bytes(ReferenceClassifier((3, 32, 32), 10, width=4, feature_dim=8), {}))
    with pytest.raises(ConditionError, match="mnist-like.safetensors"):
        model.use_condition_network(str(bad))
    with pytest.raises(ConfigError, match="no sampler option 'eps9'"):
        model.configure_sampler(eps9=1.0)


def test_feature_net_auto_without_a_classifier_for_the_shape() -> None:
    from genzoo.models.guided.ppgn import PPGN, PPGNConfig

    with pytest.raises(ConfigError, match="feature_net=auto"):
        PPGN(PPGNConfig(), DataInfo((1, 5, 5), 2))


def test_cli_sample_and_synthesize(setup: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    from genzoo.cli import main

    for name in ("ppgn", "dgn-am"):
        out = tmp_path / f"{name}.png"
        assert main(["sample", str(setup[name]), "--class", "7", "-n", "4", "-o", str(out), "--device", "cpu"]) == 0
        assert out.is_file()
    out = tmp_path / "syn.png"
    args = ["synthesize", str(setup["ppgn"]), "--class", "2", "-n", "3", "--chain-steps", "10", "--frames", "5",
            "--eps1", "0.2", "--eps3", "0.01", "--condition-net", str(setup["c1"]), "-o", str(out), "--device", "cpu"]
    assert main(args) == 0
    assert Image.open(tmp_path / "syn" / "canvas.gif").n_frames == 6
    assert len(list((tmp_path / "syn").glob("sample-*.png"))) == 3
    # bad input: one line, exit 2, nothing written
    bad = tmp_path / "bad.png"
    assert main(["synthesize", str(setup["ppgn"]), "--class", "10", "-o", str(bad), "--device", "cpu"]) == 2
    assert main(["synthesize", str(setup["dgn-am"]), "--eps1", "0.1", "-o", str(bad), "--device", "cpu"]) == 2
    assert not bad.exists() and not (tmp_path / "bad").exists()


def test_a_different_feature_network_than_trained_with_is_refused(setup: dict[str, Path]) -> None:
    import dataclasses

    trained = genzoo.load(setup["ppgn"], "cpu")
    cfg = dataclasses.replace(trained.config, feature_net=str(setup["c1"]))
    other = type(trained)(cfg, trained.data_info)
    other.load_state_dict(trained.state_dict())
    with pytest.raises(ConfigError, match="not the classifier this generator was trained to invert"):
        other.sample(2, {"label": 1})
