"""The video models through the CLI: train on Moving MNIST, resume exactly, write GIFs; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genzoo.cli import main
from genzoo.video_io import read_gif

TINY_DATA = ["--set", "data.size=8", "--set", "data.digit_size=4", "--set", "data.frames=3",
             "--set", "data.context_frames=1", "--set", "data.test_size=8", "--set", "data.valid_size=4",
             "--set", "data.train_size=16", "--set", "data.speed=1.0"]
TINY_VPN = ["--set", "model.channels=2", "--set", "model.encoder_blocks=1", "--set", "model.lstm_channels=2",
            "--set", "model.decoder_blocks=1", "--set", "train.batch_size=4", "--set", "train.num_samples=2",
            "--set", "train.tensorboard=false", "--set", "train.checkpoint_every=2", "--set", "train.eval_batches=1"]


def _losses(run: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x]


def test_vpn_trains_resumes_exactly_and_writes_a_gif(tmp_path, data_dir, capsys):
    args = ["train", "--config", "vpn-moving-mnist-8bit-small", "--data-dir", str(data_dir), "--no-progress",
            *TINY_DATA, *TINY_VPN, "--set", "train.log_every=1"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main([*args, "--steps", "4", "--run-dir", str(full)]) == 0
    assert main([*args, "--steps", "2", "--run-dir", str(part)]) == 0
    assert main(["train", "--resume", str(part), "--steps", "4", "--no-progress", "--data-dir", str(data_dir)]) == 0
    assert _losses(full) == _losses(part)
    gif = tmp_path / "v.gif"
    assert main(["video", str(full), "-n", "2", "-o", str(gif), "--data-dir", str(data_dir), "--device", "cpu"]) == 0
    frames = read_gif(gif)
    assert frames.shape[0] == 3  # 1 context + 2 predicted frames
    assert (tmp_path / "v.png").is_file()


def test_video_command_errors_are_one_line(tmp_path, data_dir, capsys):
    assert main(["video", "--real", "moving-mnist", "--set", "context_frames=30", "--data-dir", str(data_dir),
                 "-o", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err
    assert "context_frames=30" in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()
    assert main(["video", "-n", "2"]) == 2
    assert "run directory or --real" in capsys.readouterr().err


@pytest.mark.parametrize("size", [12])
def test_vgan_refuses_a_frame_size_it_cannot_build(tmp_path, data_dir, capsys, size):
    assert main(["train", "--config", "vgan-moving-mnist-small", "--data-dir", str(data_dir), "--steps", "1",
                 "--set", f"data.size={size}", "--set", "data.digit_size=4", "--run-dir", str(tmp_path / "r"),
                 "--no-progress"]) == 2
    assert "4 * 2**L" in capsys.readouterr().err


@pytest.mark.parametrize("config", ["vpn-moving-mnist-small", "vpn-moving-mnist-8bit-small"])
def test_frame_nll_metric_matches_the_models_own_frame_scores(tmp_path, data_dir, config):
    """``frame-nll`` is the mean over test videos of each predicted frame's score and floor; for the 8-bit
    VPN, times the number of predicted frames, it is the ``nll`` metric's nats per video."""
    import torch

    from genzoo import api
    from genzoo.config import load_run_config
    from genzoo.data import load_dataset
    from genzoo.models.video.vpn import grey_target_entropy

    run = tmp_path / "run"
    assert main(["train", "--config", config, "--data-dir", str(data_dir), "--no-progress", *TINY_DATA, *TINY_VPN,
                 "--steps", "2", "--run-dir", str(run)]) == 0
    res = api.evaluate(run, ["frame-nll"], data_dir=data_dir, options={"batch_size": 3}, write=False)["frame-nll"]
    model = api.load(run, "cpu")
    cfg = load_run_config(run)
    data = load_dataset(cfg.data["name"], "test", data_dir, **{k: v for k, v in cfg.data.items() if k != "name"})
    b = data.batch(torch.arange(len(data)))
    with torch.no_grad():
        direct = model.frame_nll(b["x"], {"context": b["context"]}).double()
    assert res["nats_per_frame"] == pytest.approx(float(direct.mean(1).mean()), rel=1e-6)
    assert res.protocol["videos"] == len(data) == 8 and res.protocol["predicted_frames"] == 2
    if config.endswith("8bit-small"):
        assert res["floor_nats_per_frame"] == 0.0
        nll = api.evaluate(run, ["nll"], data_dir=data_dir, write=False)["nll"]
        assert res["nats_per_frame"] * 2 == pytest.approx(nll["nll_nats"], rel=1e-6)
    else:
        assert res["floor_nats_per_frame"] == pytest.approx(float(grey_target_entropy(b["x"]).mean()))
        assert res["nats_per_frame"] > res["floor_nats_per_frame"]


def test_grey_vpn_logs_a_validation_score_per_frame(tmp_path, data_dir):
    """vpn-grey has no likelihood; its validation records carry the paper's nats per frame instead."""
    run = tmp_path / "run"
    assert main(["train", "--config", "vpn-moving-mnist-small", "--data-dir", str(data_dir), "--no-progress",
                 *TINY_DATA, *TINY_VPN, "--steps", "2", "--set", "train.eval_every=1", "--run-dir", str(run)]) == 0
    valid = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"valid"' in x]
    assert [r["step"] for r in valid] == [1, 2]
    assert all(r["nats_per_frame"] > 0 for r in valid)
