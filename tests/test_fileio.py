"""Outputs follow the user's umask, like files written with open()."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from genzoo.fileio import append_jsonl, atomic_write_bytes


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_use_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        append_jsonl(tmp_path / "b.jsonl", {"a": 1})
        with open(tmp_path / "c.txt", "w") as f:
            f.write("plain open() for comparison")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes["a.bin"] == modes["c.txt"] == 0o666 & ~mask
    assert modes["b.jsonl"] == 0o666 & ~mask
    assert (tmp_path / "a.bin").read_bytes() == b"x"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
