"""The Python API checks its numbers and inputs at the boundary, and never loses a computed score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.core.errors import GenzooError, UsageError


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api") / "run"
    genzoo.train("vae", run_dir=out, steps=2, overrides=["train.progress=false", "train.tensorboard=false"])
    return out


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"steps": -3}, "steps must be a positive integer, got -3"),
    ({"epochs": -1}, "epochs must be a positive integer, got -1"),
    ({"steps": 2.5}, "steps must be a positive integer, got 2.5"),
    ({"steps": True}, "steps must be a positive integer, got True"),
    ({"overrides": ["train.batch_size=0"]}, "train.batch_size: 0 is not valid; must be >= 1"),
    ({"resume": True, "run_dir": None}, "resume=True needs the run directory"),
])
def test_train_rejects_bad_counts_before_writing(tmp_path: Path, kwargs: dict, message: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        genzoo.train("vae", **{"run_dir": tmp_path / "r", **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_sample_and_evaluate_check_counts_and_images(run: Path) -> None:
    for n in (0, -5, 1.5):
        with pytest.raises(UsageError, match=f"number of samples n must be a positive integer, got {n}"):
            genzoo.sample(run, n)
    with pytest.raises(UsageError, match="batch_size must be a positive integer, got 0"):
        genzoo.sample(run, 4, batch_size=0)
    with pytest.raises(UsageError, match="batch_size must be a positive integer, got -1"):
        genzoo.evaluate(run, ["nll"], batch_size=-1)
    good = torch.rand(6, 1, 8, 8)
    bad = {
        "shape (6, 3, 8, 8); 'digits' images need (N, 1, 8, 8)": torch.rand(6, 3, 8, 8),
        "samples contain 384 non-finite": torch.full((6, 1, 8, 8), float("nan")),
        "samples range over": good * 3,
        "must be a float tensor": (good * 255).to(torch.uint8),
    }
    for message, images in bad.items():
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
            genzoo.evaluate(None, ["fid"], data="digits", samples=images, write=False)


def test_scores_are_kept_when_writing_them_fails(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """eval.jsonl becomes unwritable after the up-front check (here: a directory appears in its place while
    the metric runs): the score is printed, the other metrics still run, and the error carries the results."""
    seen = []

    def sabotage(name: str, scores: dict) -> None:
        seen.append(name)
        (run / "eval.jsonl").mkdir(exist_ok=True)

    with pytest.raises(GenzooError, match=r"eval.jsonl: could not save the scores of nll .*, elbo .*printed above"):
        genzoo.evaluate(run, ["nll", "elbo"], options={"importance_samples": 2}, on_result=sabotage)
    err = capsys.readouterr().err
    assert seen == ["nll", "elbo"]
    printed = [json.loads(line.split("the score: ", 1)[1]) for line in err.splitlines() if "the score: " in line]
    assert [p["metric"] for p in printed] == ["nll", "elbo"] and all(p["nll_nats"] > 0 for p in printed)
    (run / "eval.jsonl").rmdir()
    with pytest.raises(GenzooError) as caught:
        genzoo.evaluate(run, ["nll"], options={"importance_samples": 2}, on_result=sabotage)
    assert caught.value.results["nll"]["nll_nats"] == printed[0]["nll_nats"]  # type: ignore[attr-defined]
    (run / "eval.jsonl").rmdir()
