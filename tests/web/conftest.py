"""Fixtures for the web app tests: tiny studies built from stored arrays and the bundled digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml


def write_study_config(folder: Path, **fields: Any) -> Path:
    """A study config over digits with one model from an .npz of (deterministic) random 8x8 images."""
    folder.mkdir(parents=True, exist_ok=True)
    npz = folder / "fake.npz"
    if not npz.exists():
        rng = np.random.default_rng(0)
        np.savez(npz, images=rng.random((80, 1, 8, 8)).astype(np.float32))
    doc: dict[str, Any] = {
        "name": "t",
        "design": "single",
        "data": {"name": "digits", "split": "test"},
        "models": [{"name": "arr", "samples": "fake.npz"}],
        "trials": 8,
        "practice": 2,
        "attention_checks": 2,
        "presentation_ms": 500,
        "pool": 20,
        "seed": 0,
    }
    doc.update(fields)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def make_study(tmp_path: Path) -> Any:
    from genzoo.web.study import create_study

    def make(name: str = "t", **fields: Any) -> Path:
        cfg = write_study_config(tmp_path / f"cfg-{name}", name=name, **fields)
        return create_study(cfg, tmp_path / "studies" / name)

    return make


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A DCGAN (latent, unconditional) and a cGAN (conditional) on digits, trained for 2 steps."""
    from genzoo.api import train

    root = tmp_path_factory.mktemp("runs")
    out = {}
    for model in ("dcgan", "cgan"):
        run = train(model, "digits", run_dir=root / model, steps=2, overrides=["train.progress=false",
                                                                              "train.tensorboard=false"])
        out[model] = run.run_dir
    return out
