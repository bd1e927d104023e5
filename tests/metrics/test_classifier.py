"""Reference classifiers: train on digits in seconds, save/load safely, fail clearly on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genzoo.data import load_dataset
from genzoo.metrics import classifier as C


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits classifier trained once for this module (about 5 s on one core)."""
    out = tmp_path_factory.mktemp("classifiers")
    return C.train_reference_classifier("digits", out_dir=out, epochs=15, seed=0)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(C.CACHE_ENV, str(tmp_path / "cache"))  # never touch ~/.cache in tests


def test_digits_classifier_is_accurate_and_recorded(trained: Path) -> None:
    record = json.loads(trained.with_suffix(".json").read_text())
    assert record["dataset"] == "digits" and record["version"] == C.CLASSIFIER_VERSION
    assert record["test_accuracy"] > 0.90
    assert record["test_size"] == 360 and record["train_size"] == 1257
    # the recorded accuracy is the loaded network's accuracy on the test split
    model = C.load_reference_classifier("digits", cache_dir=trained.parent)
    test = load_dataset("digits", "test")
    assert C.accuracy(model, test.tensor(), test.labels) == pytest.approx(record["test_accuracy"])
    assert model.facts["sha256"] == record["sha256"]
    assert not [p for p in trained.parent.iterdir() if p.name.endswith(".tmp")]  # atomic writes left nothing


def test_features_and_probabilities(trained: Path) -> None:
    model = C.load_reference_classifier("digits", cache_dir=trained.parent)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = load_dataset("digits", "test").tensor()[:17]
    feats = model.features(x)
    assert feats.shape == (17, 128) and (feats >= 0).all()
    # unit root-mean-square scale on the training data (so kernels such as KID's see order-one values)
    train_feats = model.features(load_dataset("digits", "train").tensor())
    assert train_feats.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=1e-3)
    probs = model.probabilities(x)
    assert probs.shape == (17, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(17))
    with pytest.raises(ValueError, match="shape"):
        model.features(torch.rand(3, 1, 28, 28))


def test_weights_are_safetensors_not_pickle(trained: Path) -> None:
    raw = trained.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    assert header["__metadata__"]["format"] == C.FORMAT
    assert not raw.startswith(b"\x80") and not raw.startswith(b"PK")  # neither pickle nor torch zip


def test_missing_classifier_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(C.ClassifierNotFoundError, match="genzoo classifier mnist"):
        C.load_reference_classifier("binarized-mnist", cache_dir=tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other-format"])
def test_corrupt_file_is_a_clear_error(trained: Path, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / trained.name
    raw = trained.read_bytes()
    if damage == "truncate":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x00" * 64)
    else:
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(2)}, str(bad), metadata={"format": "something-else"})
    with pytest.raises(C.ClassifierError, match=str(bad).replace(".", r"\.")):
        C.load_reference_classifier("digits", cache_dir=tmp_path)


def test_one_class_for_every_shape() -> None:
    for shape in [(1, 8, 8), (1, 28, 28), (3, 32, 32)]:
        net = C.ReferenceClassifier(shape, 10, width=8)
        x = torch.rand(2, *shape)
        assert net(x).shape == (2, 10) and net.features(x).shape == (2, 128)


def test_paths_and_aliases(tmp_path: Path) -> None:
    assert C.classifier_path("binarized-mnist", tmp_path) == C.classifier_path("mnist", tmp_path)
    assert C.classifier_path("digits").parent == tmp_path / "cache" / "classifiers"  # $GENZOO_CACHE
    assert C.classifier_path("digits").name == f"digits-v{C.CLASSIFIER_VERSION}.safetensors"


def test_training_says_what_and_how_long_up_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    C.train_reference_classifier("digits", out_dir=tmp_path, epochs=1, seed=0, verbose=True, progress=True)
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert "training on 1,257 images for 1 epochs" in first and "about 1 second on a 2-core CPU" in first
    assert "classifier digits" in captured.err and "20/20" in captured.err  # the bar: 1257 / 64 -> 20 steps
    assert C.training_estimate("mnist") == "about 6 minutes on a 2-core CPU (less on a GPU)"
