"""`genzoo translate`: user image files through a trained pix2pix run; bad inputs are one error naming the
file, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli import main
from genzoo.core import UsageError
from genzoo.translate import translate_files
from tests.models.test_pix2pix import write_pairs


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("translate")
    write_pairs(root / "pairs", 16)
    overrides = {
        "data.path": str(root / "pairs"), "model.g_features": 4, "model.d_features": 4, "model.max_features": 8,
        "model.patch": 16, "train.batch_size": 8, "train.progress": False, "train.tensorboard": False,
        "train.num_samples": 4,
    }
    return genzoo.train("pix2pix", "paired-folder", run_dir=root / "run", steps=2, overrides=overrides).run_dir


def grey(path: Path, size: int = 16, seed: int = 0) -> Path:
    a = (np.random.RandomState(seed).rand(size, size) * 255).astype(np.uint8)
    Image.fromarray(a, "L").save(path)
    return path


def test_translate_writes_one_png_per_input(run_dir: Path, tmp_path: Path) -> None:
    inputs = [grey(tmp_path / f"in{i}.png", seed=i) for i in range(3)]
    out = tmp_path / "out"
    written = translate_files(run_dir, inputs, out, seed=1)
    assert written == [out / f"in{i}.png" for i in range(3)]
    arrays = [np.asarray(Image.open(p)) for p in written]
    assert all(a.shape == (16, 16) for a in arrays)
    # the same as translating the sources through the model with the same seed and batch
    model = genzoo.load(run_dir)
    src = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32) / 255.0)[None] for p in inputs])
    expect = model.sample(3, {"source": src}, torch.Generator().manual_seed(1))
    assert np.array_equal(np.stack(arrays), (expect[:, 0] * 255).round().to(torch.uint8).numpy())
    single = translate_files(run_dir, inputs[:1], tmp_path / "one.png", side_by_side=True)
    assert single == [tmp_path / "one.png"] and Image.open(single[0]).size == (32, 16)


@pytest.mark.parametrize("bad, why", [
    ("size", "is 20x20 with 1 channel"), ("rgb", "with 3 channel"), ("alpha", "mode RGBA"), ("junk", "not a readable"),
])
def test_bad_inputs_name_the_file_and_write_nothing(run_dir: Path, tmp_path: Path, bad: str, why: str) -> None:
    good = grey(tmp_path / "good.png")
    wrong = tmp_path / f"wrong-{bad}.png"
    if bad == "size":
        grey(wrong, size=20)
    elif bad == "rgb":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8), "RGB").save(wrong)
    elif bad == "alpha":
        Image.fromarray(np.zeros((16, 16, 4), np.uint8), "RGBA").save(wrong)
    else:
        wrong.write_bytes(b"not an image")
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=f"wrong-{bad}.png.*{why}"):
        translate_files(run_dir, [good, wrong], out)
    assert not out.exists()


def test_cli_translate(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, big = grey(tmp_path / "a.png"), grey(tmp_path / "big.png", size=32)
    out = tmp_path / "cli-out"
    assert main(["translate", str(run_dir), str(good), str(big), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "big.png" in err and "16x16" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["translate", str(run_dir), str(good), "-o", str(out), "--seed", "4"]) == 0
    assert (out / "a.png").is_file() and str(out / "a.png") in capsys.readouterr().out
    # two inputs that would overwrite each other, and a model that is not a translator
    (tmp_path / "sub").mkdir()
    twin = grey(tmp_path / "sub" / "a.png")
    with pytest.raises(UsageError, match="both be written"):
        translate_files(run_dir, [good, twin], tmp_path / "twins")
    assert not (tmp_path / "twins").exists()


def test_a_model_that_is_not_a_translator_is_refused(tmp_path: Path) -> None:
    from genzoo.core import DataInfo
    from genzoo.models.adversarial.dcgan import DCGAN, DCGANConfig

    dcgan = DCGAN(DCGANConfig(latent_dim=4, g_features=4, d_features=4), DataInfo((1, 8, 8), 256))
    with pytest.raises(UsageError, match="does not translate images"):
        translate_files(dcgan, [grey(tmp_path / "x.png", size=8)], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_translation_metric_equals_a_direct_computation(run_dir: Path) -> None:
    from genzoo.metrics.msssim import ms_ssim

    scores = genzoo.evaluate(run_dir, ["translation"], options={"n_samples": 8}, write=False)["translation"]
    outputs = genzoo.sample(run_dir, 8, seed=0)  # the default conditions: the test sources in order
    test = genzoo.data.load_dataset("paired-folder", "test", **{"path": str(run_dir.parent / "pairs")})
    targets = test.tensor()
    assert scores["n"] == 8
    assert scores["l1"] == pytest.approx(float((outputs - targets).abs().mean()), rel=1e-6)
    assert scores["ssim"] == pytest.approx(float(ms_ssim(outputs, targets, weights=(1.0,)).mean()), rel=1e-6)
    assert "accuracy" not in scores  # paired folders carry no labels
