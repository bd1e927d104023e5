"""Checkpoint files: non-finite weights are refused when saving and when loading, a training state is
checked before it is trusted, and the temporaries a killed writer leaves are cleaned up (only genzoo's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save
from torch import nn

from genzoo.core.errors import CheckpointError
from genzoo.fileio import atomic_write_bytes, clean_stale_temporaries
from genzoo.train import checkpoint as ckpt


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_saving_non_finite_weights_is_refused_naming_the_tensor(tmp_path: Path) -> None:
    net = _net()
    data = ckpt.weights_bytes(net, {})
    (tmp_path / "ok.safetensors").write_bytes(data)
    tensors, _ = ckpt.read_weights(tmp_path / "ok.safetensors")
    assert torch.equal(tensors["2.weight"], net[2].weight.detach())
    with torch.no_grad():
        net[2].weight[1, 3] = float("inf")
        net[0].bias[0] = float("nan")
    with pytest.raises(CheckpointError, match=r"refusing to save non-finite weights: tensor '0.bias' \(4,\) has 1 NaN"):
        ckpt.weights_bytes(net, {})
    with torch.no_grad():
        net[0].bias[0] = 0.0
    with pytest.raises(CheckpointError, match=r"tensor '2.weight' \(2, 4\) has 0 NaN and 1 inf of 8"):
        ckpt.weights_bytes(net, {})


def test_loading_non_finite_weights_is_refused(tmp_path: Path) -> None:
    tensors = {k: v.clone() for k, v in _net().state_dict().items()}
    tensors["1.running_var"][2] = float("nan")
    path = tmp_path / "step-00000007.safetensors"
    path.write_bytes(st_save(tensors, metadata={"format": ckpt.FORMAT}))
    with pytest.raises(CheckpointError, match="step-00000007.safetensors: non-finite weights .*'1.running_var'"):
        ckpt.read_weights(path)
    tensors["1.running_var"][2] = 1.0
    path.write_bytes(st_save(tensors, metadata={"format": ckpt.FORMAT}))
    assert ckpt.read_weights(path)[0]["1.running_var"][2] == 1.0


def _state(net: nn.Module, step: int = 3) -> dict:
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    return {"step": step, "optimizers": {"model": opt.state_dict()}, "rng_cpu": torch.get_rng_state()}


def test_training_state_is_checked_before_it_is_trusted(tmp_path: Path) -> None:
    net = _net()
    path = tmp_path / "state-00000003.pt"
    good = _state(net)
    ckpt.save_state(good, path)
    assert ckpt.load_state(path)["step"] == 3

    def refused(state: object, match: str) -> None:
        torch.save(state, path)
        with pytest.raises(CheckpointError, match=match):
            ckpt.load_state(path)

    refused({}, "state-00000003.pt: training state lacks step, optimizers, rng_cpu")
    refused([1, 2], "not a genzoo training state")
    refused({**good, "optimizers": {}}, "empty optimiser state")
    refused({**good, "optimizers": {"model": {}}}, "optimiser state of group 'model' is empty or malformed")
    refused({**good, "step": 4}, "training state is for step 4, not the step in its name")
    refused({**good, "rng_cpu": torch.zeros(3)}, "no valid RNG state")
    moments = good["optimizers"]["model"]["state"]
    bad = {k: dict(v) for k, v in moments.items()}
    bad[0]["exp_avg_sq"] = torch.full_like(bad[0]["exp_avg_sq"], float("nan"))
    refused({**good, "optimizers": {"model": {**good["optimizers"]["model"], "state": bad}}},
            "non-finite optimiser state in group 'model', parameter 0: tensor 'exp_avg_sq'")
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="corrupt or unsafe training state"):
        ckpt.load_state(path)


def test_clean_stale_temporaries_removes_only_genzoos_own(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "samples").mkdir()
    stale = [
        run / "checkpoints" / ".step-00000005.safetensors.a1b2c3d_.tmp",  # what a kill mid-checkpoint leaves
        run / "checkpoints" / ".state-00000005.pt.zz99yy88.tmp",
        run / ".config.yaml.k3j4h5g6.tmp",
        run / "samples" / ".step-00000005.png.qwertyui.tmp",
    ]
    kept = [
        run / "checkpoints" / "step-00000004.safetensors",
        run / "checkpoints" / "state-00000004.pt",
        run / "checkpoints" / ".step-00000005.safetensors.tmp",  # not the pattern: no random part
        run / "checkpoints" / ".notes.ABCDEFGH.tmp",  # upper case: not tempfile's alphabet
        run / "my.tmp",
        run / "checkpoints" / "sub" / ".x.abcdefgh.tmp",  # below the folders cleaned
        run / "metrics.jsonl",
    ]
    for p in stale + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    (run / ".dir.abcdefgh.tmp").mkdir()  # a directory is never removed
    assert clean_stale_temporaries(run) == sorted(stale, key=lambda p: (p.parent != run, str(p)))
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)
    assert (run / ".dir.abcdefgh.tmp").is_dir()
    assert clean_stale_temporaries(run) == [] and clean_stale_temporaries(tmp_path / "nothing") == []


def test_atomic_write_leaves_what_clean_stale_temporaries_matches(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill between writing the temporary and renaming it (simulated: os.replace never happens, and the
    cleanup in ``finally`` does not run) leaves exactly a file the cleaner recognises."""
    import os

    import genzoo.fileio as fileio

    def killed(src: str, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", killed)
    monkeypatch.setattr(fileio.os, "unlink", lambda p: None)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "checkpoints" / "step-00000009.safetensors", b"weights")
    monkeypatch.undo()
    left = list((tmp_path / "checkpoints").iterdir())
    assert len(left) == 1 and left[0].name.startswith(".step-00000009.safetensors.")
    assert clean_stale_temporaries(tmp_path) == left and not os.listdir(tmp_path / "checkpoints")
