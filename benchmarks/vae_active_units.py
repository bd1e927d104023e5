"""Active units of a VAE's stochastic layers after short fresh runs (Burda et al. 2016, Sec. 5.2).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/vae_active_units.py --data-dir ../shared/data \
        --config vae2-binarized-mnist --epochs 1 3 8 [--set model.kl_warmup_steps=9000] [--run RUN_DIR ...]

Each ``--epochs`` value is a fresh run of the config (seed 0) trained that long; ``--run`` scores finished
runs instead. A unit counts as active when the variance over test images of its posterior mean exceeds
0.01 (``VAE.active_units``, 2,000 test images, 10 draws of the layers below for the upper layers). Prints
one line per run and appends it to ``benchmarks/results/vae_active_units.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

import genzoo
from benchmarks.common import command_line, hardware
from genzoo.data import load_dataset

RESULTS = Path(__file__).parent / "results" / "vae_active_units.jsonl"


def count(run_dir: Path, images: torch.Tensor) -> list[int]:
    model = genzoo.load(run_dir)
    model.eval()
    return model.active_units(images, samples=10, generator=torch.Generator().manual_seed(0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="vae2-binarized-mnist")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--epochs", type=int, nargs="*", default=[])
    p.add_argument("--run", nargs="*", default=[], help="finished run directories to score instead")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (YAML value)")
    p.add_argument("--test-images", type=int, default=2000)
    a = p.parse_args()
    overrides: dict[str, Any] = {"train.progress": False, "train.tensorboard": False, "train.sample_every": 0}
    for item in a.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    images = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(Path(r), None) for r in a.run] + [(Path(tmp) / f"{e}ep", e) for e in a.epochs]
        for run_dir, epochs in jobs:
            if epochs is not None:
                genzoo.train(config=a.config, data_dir=a.data_dir, run_dir=run_dir, epochs=epochs,
                             overrides=overrides, seed=0)
            if images is None:
                cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
                images = load_dataset(cfg["data"]["name"], "test", a.data_dir).tensor()[: a.test_images]
            row = {"run": str(run_dir) if epochs is None else None, "config": a.config if epochs else None,
                   "epochs": epochs,
                   "overrides": {k: v for k, v in overrides.items() if not k.startswith("train.")} if epochs else {},
                   "active_units": count(run_dir, images), "test_images": len(images)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    with RESULTS.open("a") as f:
        for row in rows:
            f.write(json.dumps({**row, "hardware": hardware(), "command": command_line()}) + "\n")


if __name__ == "__main__":
    main()
