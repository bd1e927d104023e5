"""The loop's reliability: exact resume of the logs, the truth on Ctrl-C, wall-time checkpoints, one writer per
run, the best checkpoint and the run's record of its data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import genzoo
from genzoo.core.errors import UsageError
from genzoo.train import checkpoint as ckpt
from genzoo.train.callbacks import TIMING_FIELDS
from genzoo.train.lock import RunLock, RunLocked
from tests.train.test_engine import _Interrupt

BASE = {"train.batch_size": 32, "train.progress": False, "train.log_every": 3, "train.checkpoint_every": 4,
        "train.eval_every": 5, "train.sample_every": 100, "train.eval_batches": 1, "train.tensorboard": False,
        "model.hidden": [16], "model.latent_dim": 3}


def _records(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return ckpt.read_weights(ckpt.latest_weights(run_dir))[0]


def test_metrics_log_after_kills_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    genzoo.train("vae", "digits", run_dir=whole, steps=14, overrides=BASE)
    cut = tmp_path / "cut"
    for kill in (2, 7, 10):  # before any checkpoint, mid-window after one, and again
        with pytest.raises(KeyboardInterrupt):
            genzoo.train("vae", "digits", run_dir=cut, steps=14, overrides=BASE, hooks=[_Interrupt(kill)])
    genzoo.train("vae", "digits", run_dir=cut, steps=14, overrides=BASE)
    assert _records(cut) == _records(whole)
    assert {r["split"] for r in _records(whole)} == {"train", "valid"}
    a, b = _final_weights(whole), _final_weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_interrupt_says_which_checkpoint_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=14, overrides=BASE, hooks=[_Interrupt(2)])
    assert "no checkpoint was written yet, so the 2 steps done are lost" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=14, overrides=BASE, hooks=[_Interrupt(6)])
    assert "the checkpoint at step 4 is kept (2 steps after it are lost)" in capsys.readouterr().err


def test_checkpoints_by_wall_time_as_well_as_by_steps(tmp_path: Path) -> None:
    overrides = {**BASE, "train.checkpoint_every": 1000, "train.checkpoint_minutes": 1e-9}
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=14, overrides=overrides, hooks=[_Interrupt(5)])
    assert ckpt.list_checkpoints(tmp_path / "r") == [4, 5]  # every step by time, the last two kept


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_second_writer_fails_cleanly_and_changes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "r"
    genzoo.train("vae", "digits", run_dir=run, steps=3, overrides=BASE)
    with RunLock(run):  # another process training this run directory
        before = _tree(run)
        with pytest.raises(RunLocked, match=r"is being trained by process \d+"):
            genzoo.train(run_dir=run, resume=True, steps=6)
        assert _tree(run) == before
        assert isinstance(genzoo.load(run), torch.nn.Module)  # readers keep working
    # the lock file a finished (or killed) writer leaves behind does not block the next run
    assert (run / ".lock").exists()
    assert genzoo.train(run_dir=run, resume=True, steps=6).step == 6


def test_keep_best_keeps_the_weights_of_the_best_validation_step(tmp_path: Path) -> None:
    overrides = {**BASE, "train.eval_every": 2, "train.keep_best": True, "train.lr": 0.05}
    genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=12, overrides=overrides)
    valid = [r for r in _records(tmp_path / "r") if r["split"] == "valid"]
    best = min(valid, key=lambda r: r["nll_nats"])
    _, meta = ckpt.read_weights(ckpt.best_path(tmp_path / "r"))
    assert int(meta["step"]) == best["step"]
    assert float(meta["valid_nll_nats"]) == pytest.approx(best["nll_nats"])
    model = genzoo.load(tmp_path / "r", checkpoint="best")
    assert model.training is False


def test_a_run_remembers_its_data(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "r"
    genzoo.train("vae", "binarized-mnist", run_dir=run, steps=2, data_dir=data_dir, overrides=BASE)
    saved = yaml.safe_load((run / "config.yaml").read_text())["provenance"]
    assert Path(saved["data_dir"]) == data_dir.resolve() and len(saved["train_fingerprint"]) == 16
    monkeypatch.chdir(tmp_path)  # no ./data here, no --data-dir: the run's record is used
    monkeypatch.delenv("GENZOO_DATA_DIR", raising=False)
    scores = genzoo.evaluate(run, ["nll"], options={"importance_samples": 2, "subset": 20}, write=False)
    assert scores["nll"]["nll_nats"] > 0
    assert genzoo.train(run_dir=run, resume=True, steps=3, overrides={"train.progress": False}).step == 3
    doc = yaml.safe_load((run / "config.yaml").read_text())
    doc["provenance"]["train_fingerprint"] = "0123456789abcdef"
    (run / "config.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(UsageError, match="fingerprint 0123456789abcdef"):
        genzoo.train(run_dir=run, resume=True, steps=4)
