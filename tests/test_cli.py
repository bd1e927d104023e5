"""The CLI as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo.cli import main


def test_main_job_on_digits_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", "vae", "--epochs", "2", "--run-dir", str(run), "--no-progress"]) == 0
    assert "trained vae" in capsys.readouterr().out
    assert (run / "config.yaml").is_file() and (run / "samples.png").is_file()
    assert Image.open(run / "samples.png").size[0] > 64
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "valid"}
    assert any(p.suffix == ".safetensors" for p in (run / "checkpoints").iterdir())

    grid = tmp_path / "grid.png"
    assert main(["sample", str(run), "-n", "16", "-o", str(grid), "--npz", str(tmp_path / "s.npz")]) == 0
    assert Image.open(grid).mode == "L"
    with np.load(tmp_path / "s.npz") as npz:
        assert npz["images"].shape == (16, 1, 8, 8)

    assert main(["eval", str(run), "--metric", "nll", "--importance-samples", "20"]) == 0
    out, err = capsys.readouterr()
    assert "nll:" in out and "bits_per_dim" in out and "log-likelihood" in err  # the pass's progress bar
    assert main(["eval", str(run), "--metric", "nll", "--importance-samples", "20", "--no-progress"]) == 0
    quiet_out, quiet_err = capsys.readouterr()
    assert quiet_out == out.splitlines(keepends=True)[-1] and "log-likelihood" not in quiet_err
    record = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    assert record["metric"] == "nll" and record["protocol"]["importance_samples"] == 20
    assert 0 < record["bits_per_dim"] < np.log2(17)  # better than uniform over 17 levels

    assert main(["sample", str(run), "--reconstruct", "-n", "8", "-o", str(tmp_path / "rec.png")]) == 0


def test_manifold_needs_two_latent_dims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "m"
    main(["train", "vae", "--steps", "2", "--set", "model.latent_dim=2", "--run-dir", str(run), "--no-progress"])
    assert main(["sample", str(run), "--manifold", "6", "-o", str(tmp_path / "m.png")]) == 0
    # a 6x6 grid of 8x8 images with 2-px padding, upscaled 8x so digits are visible
    assert Image.open(tmp_path / "m.png").size == (8 * (6 * 10 + 2), 8 * (6 * 10 + 2))
    other = tmp_path / "o"
    main(["train", "vae", "--steps", "1", "--run-dir", str(other), "--no-progress"])
    capsys.readouterr()
    assert main(["sample", str(other), "--manifold", "6"]) == 2
    assert "needs latent_dim=2, this model has 50" in capsys.readouterr().err


def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "nosuchmodel", "--run-dir", str(tmp_path / "x")]) == 2
    assert "unknown model 'nosuchmodel'" in capsys.readouterr().err
    assert main(["train", "vae", "--data", "mnist", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "y")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["sample", str(tmp_path)]) == 2
    assert "not a genzoo run directory" in capsys.readouterr().err
    # an OSError genzoo raises itself (no errno) is said once, not followed by itself in parentheses
    from genzoo.cli import describe_error
    from genzoo.metrics.classifier import ClassifierNotFoundError

    assert describe_error(ClassifierNotFoundError("no reference classifier yet")) == (
        "no reference classifier yet", 1, True)
    assert describe_error(FileNotFoundError(2, "x", "/a/b"))[0] == "/a/b: no such file or directory"


def test_list_and_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "genzoo", "list"], capture_output=True, text=True, check=True).stdout
    for name in ("vae", "independent", "digits", "binarized-mnist", "nll"):
        assert f"  {name} " in out


def test_interpolate_and_arithmetic_from_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "v"
    main(["train", "vae", "--steps", "2", "--run-dir", str(run), "--no-progress"])
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out in (a, b):
        assert main(["interpolate", str(run), "--pairs", "2", "--steps", "5", "--seed", "3", "-o", str(out)]) == 0
    assert a.read_bytes() == b.read_bytes()  # deterministic per seed
    c = tmp_path / "c.png"
    assert main(["interpolate", str(run), "--pairs", "2", "--steps", "5", "--seed", "4", "-o", str(c)]) == 0
    assert c.read_bytes() != a.read_bytes()
    arith = tmp_path / "arith.png"
    args = ["arithmetic", str(run), "--expr", "a - b + c", "--group", "a=0,1", "--group", "b=2",
            "--group", "c=3,4", "--variations", "2", "-o", str(arith)]
    assert main(args) == 0
    # 3 group means + result + 2 variations, 8x8 digits upscaled 8x with 2-px padding, in one row
    assert Image.open(arith).size == (8 * (6 * 10 + 2), 8 * (1 * 10 + 2))


def test_metric_options_are_routed_and_checked(tmp_path: Path) -> None:
    import genzoo

    run = tmp_path / "r"
    main(["train", "vae", "--steps", "2", "--run-dir", str(run), "--no-progress"])
    out = genzoo.evaluate(run, ["nll", "elbo"], options={"importance_samples": 3, "elbo.split": "valid"}, write=False)
    assert out["nll"]["protocol"]["importance_samples"] == 3 and out["nll"]["protocol"]["split"] == "test"
    assert out["elbo"]["protocol"]["split"] == "valid"
    with pytest.raises(ValueError, match="no requested metric .* takes the option 'bogus'"):
        genzoo.evaluate(run, ["nll"], options={"bogus": 1})
    with pytest.raises(ValueError, match="for metric 'fid', which is not being computed"):
        genzoo.evaluate(run, ["nll"], options={"fid.extractor": "pixels"})
    # on the command line a dashed metric name keeps its dashes; the option's become underscores
    args = ["eval", str(run), "--metric", "density-coverage", "--option", "density-coverage.n-samples=40",
            "--option", "density-coverage.n-reference=40", "--option", "density-coverage.extractor=pixels"]
    assert main(args) == 0
    last = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    assert last["metric"] == "density-coverage" and last["protocol"]["n_samples"] == 40
