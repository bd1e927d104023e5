"""Data-parallel training with torchrun: 2 CPU processes (gloo) take the single-process step."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genzoo.train import checkpoint as ckpt

SCRIPT = Path(__file__).with_name("ddp_run.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _final_logits(run_dir: Path) -> torch.Tensor:
    step = ckpt.list_checkpoints(run_dir)[-1]
    return ckpt.read_weights(ckpt.checkpoint_paths(run_dir, step)[0])[0]["logits"]


def test_two_process_run_matches_single_process(tmp_path: Path) -> None:
    env_cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    subprocess.run([*env_cmd, str(SCRIPT), str(tmp_path / "ddp")], check=True, timeout=300)
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "single")], check=True, timeout=300)
    ddp, single = _final_logits(tmp_path / "ddp"), _final_logits(tmp_path / "single")
    assert not torch.equal(ddp, torch.zeros_like(ddp))  # it trained
    # same global batches, gradients averaged over the two halves = the full-batch gradient
    torch.testing.assert_close(ddp, single, rtol=1e-5, atol=1e-6)
    assert ckpt.list_checkpoints(tmp_path / "ddp") == [6]  # only rank 0 writes
    # the logged loss is the global batch's (averaged over the processes), not rank 0's half
    ddp_log, single_log = (_train_records(tmp_path / name) for name in ("ddp", "single"))
    assert [r["step"] for r in ddp_log] == [r["step"] for r in single_log] == [6]
    assert ddp_log[0]["loss"] == pytest.approx(single_log[0]["loss"], rel=1e-6)


def _train_records(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == "train"]


@pytest.mark.parametrize("code, expected", [(0, 1), (3, 3)])
def test_a_failed_shutdown_is_said_and_never_exits_as_success(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, expected: int
) -> None:
    """The other rank is gone: the barrier raises. The worker says so in one line and a would-be success
    exits 1 (the group is not torn down half-way, and no traceback is printed)."""
    from genzoo.train import distributed

    def barrier() -> None:
        raise RuntimeError("Connection closed by peer")

    exits: list[int] = []
    destroyed: list[bool] = []
    monkeypatch.setattr(distributed.dist, "is_available", lambda: True)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "barrier", barrier)
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: destroyed.append(True))
    monkeypatch.setattr(distributed.os, "_exit", exits.append)
    monkeypatch.setenv("RANK", "1")
    distributed.exit_process(code)
    err = capsys.readouterr().err.strip()
    assert exits == [expected] and not destroyed
    assert err == ("genzoo: rank 1: the process group did not shut down cleanly "
                   "(RuntimeError: Connection closed by peer)")
